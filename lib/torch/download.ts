/**
 * Resumable, verified download of one file: bytes go to `<dest>.part` (continued with an HTTP Range request on the
 * next run), and only a file with the expected size and sha256 is renamed to `<dest>`.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";

import { ErrorCode, InseqError } from "../core/errors.js";
import { httpFetch } from "../core/http.js";

/** Bytes of one file written so far (a resumed or reused file starts at what is already on disk). */
export interface DownloadProgress {
  file: string;
  done: number;
  total: number;
}

export interface DownloadOptions {
  /** The URL, or a function that finds it (called only when bytes are needed). */
  url: string | (() => Promise<string>);
  /** Final path; the partial download is `<dest>.part`. */
  dest: string;
  size: number;
  sha256: string;
  signal?: AbortSignal;
  /** Read for the proxy variables. Default process.env. */
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadResult {
  path: string;
  /** The file was already complete; no request was made. */
  reused: boolean;
  /** The download continued a `.part` left by an earlier run. */
  resumed: boolean;
}

/** sha256 (hex) of a file on disk. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function sizeOf(file: string): Promise<number | null> {
  return stat(file).then((s) => s.size, () => null);
}

function aborted(dest: string, cause?: unknown): InseqError {
  return new InseqError(ErrorCode.ABORTED, `Download of ${path.basename(dest)} aborted (kept ${dest}.part to resume)`, { cause });
}

function networkError(url: string, what: string, cause?: unknown): InseqError {
  const reason = cause instanceof Error ? `: ${(cause.cause as Error | undefined)?.message ?? cause.message}` : "";
  return new InseqError(ErrorCode.NETWORK, `Download of ${url} failed: ${what}${reason}`, { cause });
}

/** `bytes <start>-<end>/<total>` -> start. */
function rangeStart(header: string | null): number | null {
  const m = /^bytes\s+(\d+)-\d+\/(\d+|\*)$/i.exec(header?.trim() ?? "");
  return m ? Number(m[1]) : null;
}

/** Sends the request, resuming from `offset` when > 0; returns the response and where its body starts. */
async function request(url: string, offset: number, options: DownloadOptions): Promise<{ res: Response; start: number }> {
  const headers: Record<string, string> = { "Accept-Encoding": "identity" };
  if (offset > 0) headers.Range = `bytes=${offset}-`;
  let res: Response;
  try {
    res = await httpFetch(url, { headers, signal: options.signal }, options.env);
  } catch (err) {
    if (options.signal?.aborted) throw aborted(options.dest, err);
    throw networkError(url, "no response", err);
  }
  if (res.status === 206 && offset > 0 && rangeStart(res.headers.get("content-range")) === offset) return { res, start: offset };
  if (res.status === 200) return { res, start: 0 };
  await res.body?.cancel().catch(() => {});
  // A range the server cannot serve from where we are: start over.
  if (offset > 0 && (res.status === 206 || res.status === 416)) return request(url, 0, options);
  throw networkError(url, `HTTP ${res.status} ${res.statusText}`.trimEnd());
}

/** Appends (or writes from 0) the response body to `part`; returns the sha256 of the bytes when written from 0. */
async function writeBody(res: Response, part: string, start: number, url: string, options: DownloadOptions): Promise<string | null> {
  const fh = await open(part, start > 0 ? "a" : "w");
  const hash = start === 0 ? createHash("sha256") : null;
  let done = start;
  try {
    if (!res.body) throw networkError(url, "empty response");
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      await fh.write(chunk);
      hash?.update(chunk);
      done += chunk.byteLength;
      options.onProgress?.({ file: path.basename(options.dest), done, total: options.size });
    }
  } catch (err) {
    if (options.signal?.aborted) throw aborted(options.dest, err);
    if (err instanceof InseqError) throw err;
    throw networkError(url, `connection lost after ${done} of ${options.size} bytes (kept ${part} to resume)`, err);
  } finally {
    await fh.close();
  }
  return hash?.digest("hex") ?? null;
}

/** Checks `file`'s size and sha256; a wrong file is deleted and reported as ERR_INTEGRITY. */
async function verify(file: string, options: DownloadOptions, url: string, sha256?: string | null): Promise<void> {
  const size = await sizeOf(file);
  if (size !== null && size < options.size) {
    throw networkError(url, `the download ended after ${size} of ${options.size} bytes (kept ${file} to resume)`);
  }
  const actual = size === options.size ? (sha256 ?? (await sha256File(file))) : null;
  if (actual === options.sha256.toLowerCase()) return;
  await rm(file, { force: true });
  const got = actual ? `sha256 ${actual}` : `${size} bytes instead of ${options.size}`;
  throw new InseqError(
    ErrorCode.INTEGRITY,
    `${path.basename(options.dest)} downloaded from ${url} has ${got}, expected sha256 ${options.sha256}; the file was deleted`,
  );
}

/**
 * Downloads `options.url` to `options.dest` unless a verified file is already there. A `.part` left by an
 * interrupted run is continued with `Range: bytes=<size>-` (or restarted when the server answers 200).
 * Network failures (ERR_NETWORK) and aborts (ERR_ABORTED) keep the `.part`; a wrong size or sha256 deletes it
 * (ERR_INTEGRITY).
 */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const { dest, size, sha256 } = options;
  const file = path.basename(dest);
  const report = (done: number) => options.onProgress?.({ file, done, total: size });
  if (options.signal?.aborted) throw aborted(dest);
  if ((await sizeOf(dest)) === size && (await sha256File(dest)) === sha256.toLowerCase()) {
    report(size);
    return { path: dest, reused: true, resumed: false };
  }
  await rm(dest, { force: true });
  await mkdir(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  let offset = (await sizeOf(part)) ?? 0;
  if (offset > size) {
    await rm(part, { force: true });
    offset = 0;
  }
  const url = typeof options.url === "string" ? options.url : await options.url();
  let streamed: string | null = null;
  let start = offset;
  // A complete .part (the previous run stopped before verifying) needs no request.
  if (offset < size || size === 0) {
    const answer = await request(url, offset, options);
    start = answer.start;
    report(start);
    streamed = await writeBody(answer.res, part, start, url, options);
  }
  await verify(part, options, url, streamed);
  await rename(part, dest);
  return { path: dest, reused: false, resumed: start > 0 };
}
