/**
 * The lifecycle both model kinds share. A call holds the native model from its first moment (before its
 * inputs are tokenized) until it settles; dispose() refuses new calls at once, waits for the calls in flight,
 * then frees the native weights once.
 * @internal
 */
import { ErrorCode, InseqError } from "../core/errors.js";

export class NativeLifecycle<N extends { dispose(): void }> {
  #native: N | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  #disposing: Promise<void> | undefined;

  constructor(native: N) {
    this.#native = native;
  }

  /** True from the moment dispose() is called. */
  get disposed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Runs `call` with the native model, which stays alive until the returned promise settles (dispose() waits).
   * Rejects with ERR_DISPOSED once dispose() has been called.
   */
  run<T>(call: (native: N) => Promise<T>): Promise<T> {
    const native = this.#native;
    if (!native) return Promise.reject(new InseqError(ErrorCode.DISPOSED, "The model has been disposed"));
    const p = (async () => call(native))();
    this.#inFlight.add(p);
    const done = () => {
      this.#inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Refuses new calls, waits for the calls in flight (whatever their outcome), then frees the native model. */
  dispose(): Promise<void> {
    if (!this.#disposing) {
      const native = this.#native;
      this.#native = undefined;
      this.#disposing = Promise.allSettled([...this.#inFlight]).then(() => native?.dispose());
    }
    return this.#disposing;
  }
}
