/**
 * One model's bounded queue: at most `concurrency` jobs run, at most `size` wait; one more is refused with
 * ERR_QUEUE_FULL and a Retry-After estimate. Each job has an AbortSignal: aborted while waiting, it leaves the
 * queue (ERR_ABORTED); while running, the signal goes into the native job.
 */
import { abortError } from "../core/errors.js";
import { queueFullError } from "./errors.js";

export interface JobHooks {
  /**
   * Called when the job is accepted (0 = it runs now, n = its place in the waiting line, 1 = next), and again
   * with its new place each time the line moves while it waits.
   */
  onQueued?: (position: number) => void;
  onStarted?: () => void;
}

interface Waiting {
  start: () => void;
  reject: (err: unknown) => void;
  hooks: JobHooks;
}

export class JobQueue {
  readonly #waiting: Waiting[] = [];
  #running = 0;
  /** Mean job duration (ms), for Retry-After. */
  #meanMs = 1000;
  constructor(readonly model: string, readonly size: number, readonly concurrency: number) {}

  get running(): number {
    return this.#running;
  }

  get depth(): number {
    return this.#waiting.length;
  }

  /** Seconds until a place is likely free: the work ahead spread over the runners, at least 1. */
  retryAfterS(): number {
    return Math.max(1, Math.ceil(((this.#waiting.length + this.#running) * this.#meanMs) / this.concurrency / 1000));
  }

  /** Runs `job` when a runner is free; rejects at once when the queue is full. */
  run<T>(job: () => Promise<T>, signal: AbortSignal, hooks: JobHooks = {}): Promise<T> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    const execute = async (): Promise<T> => {
      this.#running++;
      const t0 = performance.now();
      try {
        hooks.onStarted?.();
        return await job();
      } finally {
        this.#meanMs = 0.8 * this.#meanMs + 0.2 * (performance.now() - t0);
        this.#running--;
        this.#next();
      }
    };
    if (this.#running < this.concurrency && this.#waiting.length === 0) {
      hooks.onQueued?.(0);
      return execute();
    }
    if (this.#waiting.length >= this.size) return Promise.reject(queueFullError(this.model, this.size, this.retryAfterS()));
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = {
        start: () => {
          signal.removeEventListener("abort", onAbort);
          execute().then(resolve, reject);
        },
        reject,
        hooks,
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(abortError(signal));
        this.#moved(i);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(entry);
      hooks.onQueued?.(this.#waiting.length);
    });
  }

  #next(): void {
    let moved = false;
    while (this.#running < this.concurrency && this.#waiting.length > 0) {
      this.#waiting.shift()!.start();
      moved = true;
    }
    if (moved) this.#moved(0);
  }

  /** Tells the jobs waiting from index `from` on their new places (the line moved up in front of them). */
  #moved(from: number): void {
    if (from < 0) return;
    for (let i = from; i < this.#waiting.length; i++) this.#waiting[i]!.hooks.onQueued?.(i + 1);
  }
}
