/**
 * Runs native jobs one at a time per process. LibTorch uses all intra-op threads for one job; several jobs
 * at once on the libuv pool oversubscribe the cores (measured 10-37x slower on 2 cores), so jobs queue here.
 * Each job keeps the caller's stack and gets a stable error code.
 */
import { abortError, ErrorCode, InseqError } from "../core/errors.js";
import type { NativeCancelToken } from "./binding-types.js";
import { native } from "./load.js";

let tail: Promise<unknown> = Promise.resolve();

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** Converts a native rejection into an InseqError carrying `stack`'s call site. */
export function toInseqError(err: unknown, stack: Error): InseqError {
  if (err instanceof InseqError) return err;
  const e = err as { code?: string; message?: string };
  const code = (e?.code && KNOWN_CODES.has(e.code) ? e.code : ErrorCode.NATIVE) as ErrorCode;
  const wrapped = new InseqError(code, e?.message ?? String(err), { cause: err });
  wrapped.stack = `${wrapped.name} [${code}]: ${wrapped.message}\n${stack.stack?.split("\n").slice(1).join("\n") ?? ""}`;
  return wrapped;
}

/**
 * Queues `job` behind every earlier native job; rejects with an AbortError (code ERR_ABORTED, cause
 * `signal.reason`) if `signal` fires first or while the job runs.
 */
export function runNativeJob<T>(job: (cancel: NativeCancelToken) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const stack = new Error();
  const run = async (): Promise<T> => {
    if (signal?.aborted) throw abortError(signal);
    const token = new (native().CancelToken)();
    const onAbort = () => token.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await job(token);
    } catch (err) {
      const wrapped = toInseqError(err, stack);
      if (wrapped.code !== ErrorCode.ABORTED) throw wrapped;
      const aborted = abortError(signal, wrapped.message);  // AbortError, cause = signal.reason
      aborted.stack = wrapped.stack?.replace(/^InseqError/, "AbortError");
      throw aborted;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  };
  const result = tail.then(run, run);
  tail = result.catch(() => undefined);
  return result;
}
