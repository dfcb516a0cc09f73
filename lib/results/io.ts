/**
 * Saving and loading attribution outputs in Python Inseq's file format (`inseq-json.ts`): one plan of the files
 * to write and one decoding of the bytes read, with thin synchronous and asynchronous ends. Files are written
 * atomically (`core/atomic-write.ts`); write failures are ERR_DISK_FULL / ERR_IO naming the file.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip, gunzipSync, gzip, gzipSync } from "node:zlib";

import { writeFileAtomic, writeFileAtomicSync } from "../core/atomic-write.js";
import { ErrorCode, InseqError, describeValue, invalidOption } from "../core/errors.js";
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
  for (const key of Object.keys(options)) {
    if (!SAVE_OPTIONS.includes(key)) {
      throw new InseqError(
        ErrorCode.UNKNOWN_OPTION,
        `Unknown option ${JSON.stringify(key)} for save; valid options are: ${SAVE_OPTIONS.join(", ")}`,
      );
    }
  }
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
  /** The files to write, in order, with their JSON text (gzipped on the way out when `compress`). */
  files: Array<{ path: string; text: string }>;
  compress: boolean;
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
      files.push({ path: `${stem}_${i}.json${opts.compress ? ".gz" : ""}`, text: serializeOutputDocument({ sequenceAttributions: [seq], info }, opts) });
    });
  } else {
    files.push({ path, text: serializeOutputDocument(data, opts) });
  }
  if (!opts.overwrite) {
    const checks = opts.splitSequences ? [path, ...files.map((f) => f.path)] : files.map((f) => f.path);
    for (const p of checks) if (existsSync(p)) throw alreadyExists(p);
  }
  return { files, compress: opts.compress };
}

/** The bytes of one whole-output file: the document's JSON text, gzipped when `compress`. */
export async function encodeOutputFile(data: OutputData, options: Pick<SaveOptions, "compress" | "scoresPrecision"> = {}): Promise<string | Buffer> {
  const opts = checkSaveOptions(options);
  const text = serializeOutputDocument(data, opts);
  return opts.compress ? await gzipAsync(Buffer.from(text, "utf8"), { level: GZIP_LEVEL }) : text;
}

/** Writes `data` in Python Inseq's format; resolves to the written paths. */
export async function saveOutput(data: OutputData, path: string, options: SaveOptions = {}): Promise<string[]> {
  const plan = planSave(data, path, options);
  for (const f of plan.files) {
    const body = plan.compress ? await gzipAsync(Buffer.from(f.text, "utf8"), { level: GZIP_LEVEL }) : f.text;
    await writeFileAtomic(f.path, body, { hint: SAVE_HINT });
  }
  return plan.files.map((f) => f.path);
}

/** Synchronous `saveOutput`. */
export function saveOutputSync(data: OutputData, path: string, options: SaveOptions = {}): string[] {
  const plan = planSave(data, path, options);
  for (const f of plan.files) {
    const body = plan.compress ? gzipSync(Buffer.from(f.text, "utf8"), { level: GZIP_LEVEL }) : f.text;
    writeFileAtomicSync(f.path, body, { hint: SAVE_HINT });
  }
  return plan.files.map((f) => f.path);
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
