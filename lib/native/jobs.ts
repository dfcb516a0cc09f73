/**
 * Runs native jobs one at a time per process. LibTorch uses all intra-op threads for one job; several jobs
 * at once on the libuv pool oversubscribe the cores (measured 10-37x slower on 2 cores), so jobs queue here.
 * Each job keeps the caller's stack and gets a stable error code.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
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

/** Queues `job` behind every earlier native job; rejects with ERR_ABORTED if `signal` fires first. */
export function runNativeJob<T>(job: (cancel: NativeCancelToken) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const stack = new Error();
  const run = async (): Promise<T> => {
    if (signal?.aborted) throw new InseqError(ErrorCode.ABORTED, "The operation was aborted");
    const token = new (native().CancelToken)();
    const onAbort = () => token.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await job(token);
    } catch (err) {
      throw toInseqError(err, stack);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  };
  const result = tail.then(run, run);
  tail = result.catch(() => undefined);
  return result;
}
