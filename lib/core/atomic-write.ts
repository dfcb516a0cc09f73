/**
 * Atomic file writes: the content goes to `<file>.tmp-<pid>` next to `file`, is flushed to the disk (fsync), and
 * is renamed over `file`; the directory is then flushed too where the platform allows it. Readers see the old file
 * or the new one, never half of one, and a killed or failed write leaves no temporary file behind.
 *
 * A failure of the file system (ENOSPC, EIO, EACCES, ...) becomes ERR_DISK_FULL or ERR_IO naming `file`
 * (`fileWriteError`); other errors, and InseqErrors thrown by a `replaceFileAtomic` writer, pass unchanged.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";

import { fileWriteError, isFileSystemError } from "./write-errors.js";

export interface AtomicWriteOptions {
  /** How to continue after a failure, ending the error message (default "try again"). */
  hint?: string;
}

const DEFAULT_HINT = "try again";

/** The temporary sibling a write goes to before it is renamed over `file`. */
export function atomicTempPath(file: string): string {
  return `${file}.tmp-${process.pid}`;
}

function failure(err: unknown, file: string, options: AtomicWriteOptions): unknown {
  return isFileSystemError(err) ? fileWriteError(err, file, options.hint ?? DEFAULT_HINT) : err;
}

/** fsync of the directory holding `file`, so the rename itself survives a crash (not possible everywhere). */
async function syncDirectory(file: string): Promise<void> {
  try {
    const dir = await open(path.dirname(path.resolve(file)), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* Windows and some file systems cannot open or fsync a directory */
  }
}

function syncDirectorySync(file: string): void {
  try {
    const fd = openSync(path.dirname(path.resolve(file)), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* Windows and some file systems cannot open or fsync a directory */
  }
}

/** Runs `body(tmp)`, which must leave the content flushed and renamed over `file`; cleans up on failure. */
async function atomically(file: string, options: AtomicWriteOptions, body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = atomicTempPath(file);
  try {
    await body(tmp);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw failure(err, file, options);
  }
  await syncDirectory(file);
}

/**
 * Lets `write(tmp)` create the temporary file in any way (a stream, a record writer, another library's save),
 * then flushes it and renames it over `file`. On failure the temporary file is removed and the error thrown.
 */
export async function replaceFileAtomic(
  file: string,
  write: (tmp: string) => void | Promise<void>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await atomically(file, options, async (tmp) => {
    await write(tmp);
    const handle = await open(tmp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  });
}

/** Writes `data` to `file` atomically (see the module comment). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await atomically(file, options, async (tmp) => {
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  });
}

/** Synchronous `writeFileAtomic`. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  replaceFileAtomicSync(file, (fd) => writeFileSync(fd, data), options);
}

/**
 * Synchronous `replaceFileAtomic`: `write(fd)` writes the content to the open temporary file (in as many
 * pieces as it likes), which is then flushed and renamed over `file`; on failure it is removed.
 */
export function replaceFileAtomicSync(file: string, write: (fd: number) => void, options: AtomicWriteOptions = {}): void {
  const tmp = atomicTempPath(file);
  try {
    const fd = openSync(tmp, "w");
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* the error that matters is the write's */
    }
    throw failure(err, file, options);
  }
  syncDirectorySync(file);
}
