/**
 * The error codes of failed file writes, shared by atomic writes (saved results, HTML pages, merged outputs),
 * dataset outputs and hub downloads.
 */
import { ErrorCode, InseqError } from "./errors.js";

/** True for an error thrown by a file system call (it has `syscall`), as opposed to a network or program error. */
export function isFileSystemError(err: unknown): err is NodeJS.ErrnoException {
  return typeof (err as NodeJS.ErrnoException | null)?.syscall === "string";
}

/**
 * The InseqError for a failed write of `file`: ERR_DISK_FULL for a full disk or quota (ENOSPC, EDQUOT),
 * ERR_IO for anything else; `hint` says how to continue (e.g. "rerun with --resume ...").
 */
export function fileWriteError(err: unknown, file: string, hint: string): InseqError {
  if (err instanceof InseqError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT") {
    const what = e.code === "ENOSPC" ? "No space left on the device" : "Disk quota exceeded";
    return new InseqError(ErrorCode.DISK_FULL, `${what} (${e.code}) writing ${file}: free some space, then ${hint}`, { cause: err });
  }
  // Node's messages already start with the code ("EIO: i/o error, write"): name it once.
  const message = String(e?.message ?? err);
  const why = e?.code && !message.startsWith(`${e.code}:`) ? `${e.code}: ${message}` : message;
  return new InseqError(ErrorCode.IO, `Cannot write ${file} (${why}); ${hint}`, { cause: err });
}
