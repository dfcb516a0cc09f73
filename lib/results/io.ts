/**
 * Saving and loading attribution outputs in Python Inseq's file format (`inseq-json.ts`): one plan of the files
 * to write and one decoding of the bytes read, with thin synchronous and asynchronous ends. Files are streamed
 * chunk by chunk (`document-chunks.ts`) and written atomically (`core/atomic-write.ts`: temporary file, fsync,
 * rename); write failures are ERR_DISK_FULL / ERR_IO naming the file.
 */
import { createWriteStream, existsSync, readFileSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip, gunzip, gunzipSync, gzip, gzipSync } from "node:zlib";

import { replaceFileAtomic, replaceFileAtomicSync } from "../core/atomic-write.js";
import { checkKnownOptions, ErrorCode, InseqError, describeValue, invalidOption } from "../core/errors.js";
import { outputDocumentChunks } from "./document-chunks.js";
import type { ScoresPrecision } from "./inseq-codecs.js";
import { parseOutputDocument, serializeOutputDocument } from "./inseq-json.js";
import { cloneInfo } from "./info.js";
import type { OutputData } from "./types.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface SaveOptions {
  /** Gzip the JSON (level 5, as Inseq). Default false. */
  compress?: boolean;
  /** Precision of the stored tensors (loaded back as float32). Default "float32". */
  scoresPrecision?: ScoresPrecision;
  /** One file per sequence: `{stem}_{i}.json[.gz]` where `stem` is the path up to its first ".json". Default false. */
  splitSequences?: boolean;
  /** Replace existing files. Default false (ERR_INVALID_OPTION naming the path). */
  overwrite?: boolean;
}

export interface LoadOptions {
  /** true: the file must be gzip; false: never gunzip; default: detected from the gzip magic bytes. */
  decompress?: boolean;
}

const SAVE_OPTIONS = ["compress", "scoresPrecision", "splitSequences", "overwrite"];
/** How to continue after a failed write (ends the ERR_DISK_FULL / ERR_IO message). */
const SAVE_HINT = "save again";
/** Gzip level of compressed files (Inseq's). */
const GZIP_LEVEL = 5;

function checkSaveOptions(options: SaveOptions): Required<SaveOptions> {
  if (options === null || typeof options !== "object") throw invalidOption("save options", "an object", options);
  checkKnownOptions("save", options, SAVE_OPTIONS);
  for (const key of ["compress", "splitSequences", "overwrite"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") throw invalidOption(key, "a boolean", options[key]);
  }
  const scoresPrecision = options.scoresPrecision ?? "float32";
  if (scoresPrecision !== "float32" && scoresPrecision !== "float16") {
    throw invalidOption("scoresPrecision", '"float32" or "float16"', scoresPrecision);
  }
  return {
    compress: options.compress ?? false,
    scoresPrecision,
    splitSequences: options.splitSequences ?? false,
    overwrite: options.overwrite ?? false,
  };
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== "string" || path.length === 0) throw invalidOption("path", "a non-empty file path", path);
}

function alreadyExists(path: string): InseqError {
  return new InseqError(
    ErrorCode.INVALID_OPTION,
    `Expected a path that does not exist (or overwrite: true) for save but received ${describeValue(path)}: the file already exists`,
  );
}

interface SavePlan {
  /** The files to write, in order, each with the output data it holds (encoded chunk by chunk while writing). */
  files: Array<{ path: string; data: OutputData }>;
  compress: boolean;
  scoresPrecision: ScoresPrecision;
}

/** The files `save` writes (throws before anything is written: bad options, existing files without overwrite). */
function planSave(data: OutputData, path: string, options: SaveOptions): SavePlan {
  checkPath(path);
  const opts = checkSaveOptions(options);
  const files: SavePlan["files"] = [];
  if (opts.splitSequences) {
    const stem = path.split(".json")[0]!;
    data.sequenceAttributions.forEach((seq, i) => {
      const info = cloneInfo(data.info);
      for (const key of ["input_texts", "generated_texts"]) {
        const v = info[key];
        if (Array.isArray(v)) info[key] = v.slice(i, i + 1);
      }
      files.push({ path: `${stem}_${i}.json${opts.compress ? ".gz" : ""}`, data: { sequenceAttributions: [seq], info } });
    });
  } else {
    files.push({ path, data });
  }
  if (!opts.overwrite) {
    const checks = opts.splitSequences ? [path, ...files.map((f) => f.path)] : files.map((f) => f.path);
    for (const p of checks) if (existsSync(p)) throw alreadyExists(p);
  }
  return { files, compress: opts.compress, scoresPrecision: opts.scoresPrecision };
}

/**
 * The bytes of one whole-output file: the document's JSON text, gzipped when `compress`. Builds the whole text;
 * `saveOutput` streams instead.
 */
export async function encodeOutputFile(data: OutputData, options: Pick<SaveOptions, "compress" | "scoresPrecision"> = {}): Promise<string | Buffer> {
  const opts = checkSaveOptions(options);
  const text = serializeOutputDocument(data, opts);
  return opts.compress ? await gzipAsync(Buffer.from(text, "utf8"), { level: GZIP_LEVEL }) : text;
}

/**
 * Writes `data` in Python Inseq's format; resolves to the written paths. Each file is streamed to its temporary
 * sibling chunk by chunk (`outputDocumentChunks`; gzip as a stream) and renamed into place: the JSON text is
 * never held whole, so saving a 4,000 × 4,000 map needs memory for one chunk, not for the document.
 */
export async function saveOutput(data: OutputData, path: string, options: SaveOptions = {}): Promise<string[]> {
  const plan = planSave(data, path, options);
  for (const f of plan.files) {
    await replaceFileAtomic(
      f.path,
      async (tmp) => {
        const chunks = Readable.from(outputDocumentChunks(f.data, plan), { objectMode: false });
        if (plan.compress) await pipeline(chunks, createGzip({ level: GZIP_LEVEL }), createWriteStream(tmp));
        else await pipeline(chunks, createWriteStream(tmp));
      },
      { hint: SAVE_HINT },
    );
  }
  return plan.files.map((f) => f.path);
}

/**
 * Synchronous `saveOutput`: plain files are written chunk by chunk like `saveOutput`; gzip files are compressed in
 * one call (Node has no synchronous gzip stream), so they hold the document's bytes once (a Buffer, not a string).
 */
export function saveOutputSync(data: OutputData, path: string, options: SaveOptions = {}): string[] {
  const plan = planSave(data, path, options);
  for (const f of plan.files) {
    replaceFileAtomicSync(
      f.path,
      (fd) => {
        if (plan.compress) writeSync(fd, gzipSync(Buffer.concat([...outputDocumentChunks(f.data, plan)]), { level: GZIP_LEVEL }));
        else for (const chunk of outputDocumentChunks(f.data, plan)) writeAll(fd, chunk);
      },
      { hint: SAVE_HINT },
    );
  }
  return plan.files.map((f) => f.path);
}

/** `writeSync` until every byte of `chunk` is written. */
function writeAll(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function needsGunzip(path: string, bytes: Buffer, options: LoadOptions): boolean {
  const gz = isGzip(bytes);
  if (options.decompress === true && !gz) {
    throw invalidOption("decompress", "a gzip-compressed file when decompress is true", path);
  }
  return options.decompress === false ? false : gz;
}

function readFailure(path: string, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException).code === "ENOENT") {
    return new InseqError(ErrorCode.NOT_FOUND, `Attribution file not found: ${path}`, { cause: err });
  }
  return err;
}

function decodeFile(path: string, bytes: Buffer, gunzipped: Buffer | null): OutputData {
  return parseOutputDocument((gunzipped ?? bytes).toString("utf8"), path);
}

/** Reads a file written by `save` or by Python Inseq (plain or gzip JSON; tensors back as float32). */
export async function loadOutput(path: string, options: LoadOptions = {}): Promise<OutputData> {
  checkPath(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readFailure(path, err);
  }
  return decodeFile(path, bytes, needsGunzip(path, bytes, options) ? await gunzipAsync(bytes) : null);
}

/** Synchronous `loadOutput`. */
export function loadOutputSync(path: string, options: LoadOptions = {}): OutputData {
  checkPath(path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw readFailure(path, err);
  }
  return decodeFile(path, bytes, needsGunzip(path, bytes, options) ? gunzipSync(bytes) : null);
}
