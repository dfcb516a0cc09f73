/**
 * Errors thrown by inseq. Every error has a stable `code`; messages about options follow one form:
 * `Expected <what> for <option> but received <value>`.
 */

/** Stable error codes, shared by the TS layer and the native addon. */
export const ErrorCode = {
  INVALID_OPTION: "ERR_INVALID_OPTION",
  UNKNOWN_OPTION: "ERR_UNKNOWN_OPTION",
  NOT_FOUND: "ERR_NOT_FOUND",
  BAD_MODEL: "ERR_BAD_MODEL",
  BAD_CHECKPOINT: "ERR_BAD_CHECKPOINT",
  UNSUPPORTED_MODEL: "ERR_UNSUPPORTED_MODEL",
  BAD_TOKENIZER: "ERR_BAD_TOKENIZER",
  NETWORK: "ERR_NETWORK",
  /** A downloaded or unpacked file whose checksum or size differs from the one expected (pin, index, archive). */
  INTEGRITY: "ERR_INTEGRITY",
  /** A dataset file whose content cannot be read (malformed JSONL line, CSV row, Parquet file). */
  BAD_DATASET: "ERR_BAD_DATASET",
  /** The disk (or quota) filled up while writing an output (ENOSPC / EDQUOT). */
  DISK_FULL: "ERR_DISK_FULL",
  /** Any other failure writing an output file (EIO, EROFS, ...). */
  IO: "ERR_IO",
  /** Code fetched from the hub (a TorchScript bundle) that loadModel would run without `trustRemoteCode: true`. */
  UNTRUSTED_CODE: "ERR_UNTRUSTED_CODE",
  OFFLINE: "ERR_OFFLINE",
  DEVICE: "ERR_DEVICE",
  DISPOSED: "ERR_DISPOSED",
  ABORTED: "ERR_ABORTED",
  TORCH: "ERR_TORCH",
  OUT_OF_MEMORY: "ERR_OUT_OF_MEMORY",
  NATIVE: "ERR_NATIVE",
  ADDON_LOAD: "ERR_ADDON_LOAD",
  /** `inseq serve`: the model's queue is full (HTTP 429 with Retry-After). */
  QUEUE_FULL: "ERR_QUEUE_FULL",
  /** `inseq serve`: a missing or wrong bearer token (HTTP 401). */
  UNAUTHORIZED: "ERR_UNAUTHORIZED",
  /** `inseq serve`: a model id or directory the operator did not allow (HTTP 403). */
  FORBIDDEN: "ERR_FORBIDDEN",
  /** A request over one of the server's per-request limits: input tokens, maxNewTokens, method arguments (HTTP 413). */
  LIMIT: "ERR_LIMIT",
  /** A request or job that ran past its time limit (HTTP 504 from `inseq serve`). */
  TIMEOUT: "ERR_TIMEOUT",
  /** The job queue (BullMQ on Redis) failed: Redis unreachable, a job that exhausted its retries. */
  QUEUE: "ERR_QUEUE",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class InseqError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InseqError";
    this.code = code;
  }
}

/**
 * The rejection of a call cancelled through its AbortSignal: code ERR_ABORTED, `name` "AbortError" (as
 * fetch and other AbortSignal APIs reject) and `cause` the signal's reason.
 */
export function abortError(signal: AbortSignal | undefined, message = "The operation was aborted"): InseqError {
  const err = new InseqError(ErrorCode.ABORTED, message, { cause: signal?.reason });
  err.name = "AbortError";
  return err;
}

/** Short, single-line rendering of a received value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  return `value of type ${typeof value}`;
}

/** `Expected <expected> for <name> but received <value>` as an InseqError with code ERR_INVALID_OPTION. */
export function invalidOption(name: string, expected: string, value: unknown): InseqError {
  return new InseqError(ErrorCode.INVALID_OPTION, `Expected ${expected} for ${name} but received ${describeValue(value)}`);
}

/** `Unknown option "<key>" for <where>; valid options are: ...` as an InseqError with code ERR_UNKNOWN_OPTION. */
export function unknownOption(key: string, where: string, valid: readonly string[]): InseqError {
  return new InseqError(ErrorCode.UNKNOWN_OPTION, `Unknown option ${JSON.stringify(key)} for ${where}; valid options are: ${valid.join(", ")}`);
}

/** Rejects option names that are not in `valid`, listing the valid ones (Inseq only warns). */
export function checkKnownOptions(where: string, options: object | undefined, valid: readonly string[]): void {
  if (options == null) return;
  for (const key of Object.keys(options)) {
    if (!valid.includes(key)) throw unknownOption(key, where, valid);
  }
}
