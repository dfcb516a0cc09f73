/**
 * The `attribute-dataset` output: JSON Lines, one record per example,
 * `{"index", "input_text", "generated_text", "attribution"}` (`attribution` is the
 * `FeatureAttributionOutput.toJSON()` document of that example alone). `.gz` outputs hold one gzip member per
 * record (concatenated members are one valid gzip stream). Each record is written with one write call, so a run
 * killed at any moment leaves complete records, possibly followed by one partial record that `--resume`
 * truncates away.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { crc32, gzipSync, inflateRawSync } from "node:zlib";

import { ErrorCode, InseqError } from "../core/errors.js";
import { fileWriteError } from "../core/write-errors.js";
import { checkResumeConfig, recordConfig, type RunConfig } from "./run-config.js";

export interface DatasetRecord {
  index: number;
  input_text: string;
  generated_text: string;
  /** The run's configuration (lib/dataset/run-config.ts); absent in records written before it was stored. */
  config?: RunConfig;
  attribution: Record<string, unknown>;
}

export { fileWriteError };

/** The default `hint` of RecordWriter errors (attribute-dataset outputs). */
export const RESUME_HINT = "rerun the same command with --resume to continue where it stopped";

/** The Inseq `info` of a record's attribution document (`{__instance_type__, attributes: {info, ...}}`). */
export function recordInfo(record: DatasetRecord): Record<string, unknown> {
  const doc = record.attribution as { attributes?: { info?: unknown }; info?: unknown };
  const info = doc.attributes?.info ?? doc.info;
  return info !== null && typeof info === "object" && !Array.isArray(info) ? (info as Record<string, unknown>) : {};
}

export function isGzipPath(file: string): boolean {
  return /\.gz$/i.test(file);
}

export interface ScanResult {
  /** File size in bytes. */
  size: number;
  /** Bytes up to the end of the last complete record (== size for a clean file). */
  validBytes: number;
  gzip: boolean;
  records: number;
}

function badRecord(file: string, where: string, why: string): InseqError {
  return new InseqError(ErrorCode.BAD_DATASET, `${where} of ${file} is not a valid attribute-dataset record: ${why}`);
}

function parseRecord(file: string, text: string, where: string): DatasetRecord {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (err) {
    throw badRecord(file, where, (err as Error).message);
  }
  const rec = r as DatasetRecord;
  if (rec === null || typeof rec !== "object" || Array.isArray(rec)) throw badRecord(file, where, "not a JSON object");
  if (!Number.isSafeInteger(rec.index) || rec.index < 0) throw badRecord(file, where, 'no non-negative integer "index"');
  if (rec.attribution === null || typeof rec.attribution !== "object") throw badRecord(file, where, 'no "attribution" object');
  return rec;
}

const CHUNK = 4 << 20;

/**
 * Reads the complete records of an output file (plain or gzip, detected from the content), calling `onRecord`
 * with each record and its JSON text. A trailing partial record (an interrupted write) is not an error: it is
 * left out and `validBytes` marks where it starts. Anything else that is not a record throws ERR_BAD_DATASET.
 */
export function scanRecords(file: string, onRecord?: (record: DatasetRecord, text: string) => void): ScanResult {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new InseqError(ErrorCode.NOT_FOUND, `File not found: ${file}`, { cause: err });
    throw new InseqError(ErrorCode.BAD_DATASET, `Cannot read ${file}: ${e.message}`, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    let buf = Buffer.alloc(0);
    let base = 0; // file offset of buf[0]
    let readPos = 0;
    const more = (): boolean => {
      if (readPos >= size) return false;
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - readPos));
      const n = readSync(fd, chunk, 0, chunk.length, readPos);
      if (n <= 0) return false;
      readPos += n;
      buf = buf.length === 0 ? chunk.subarray(0, n) : Buffer.concat([buf, chunk.subarray(0, n)]);
      return true;
    };
    more();
    const gzip = buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
    let records = 0;
    let validBytes = 0;
    const emit = (text: string, where: string) => {
      if (text.trim() === "") return;
      const rec = parseRecord(file, text, where);
      records++;
      onRecord?.(rec, text);
    };
    if (!gzip) {
      let line = 0;
      for (;;) {
        let start = 0;
        for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
          line++;
          emit(buf.toString("utf8", start, nl), `line ${line}`);
          start = nl + 1;
          validBytes = base + start;
        }
        buf = buf.subarray(start);
        base += start;
        if (!more()) break;
      }
      // A last line without "\n" is an interrupted write; blank space is harmless.
      if (buf.toString("utf8").trim() === "") validBytes = size;
      return { size, validBytes, gzip, records };
    }
    let member = 0;
    for (;;) {
      if (buf.length === 0 && !more()) break;
      member++;
      const where = `gzip member ${member} (byte ${base})`;
      // Header (RFC 1952).
      let hdr = -1;
      for (;;) {
        hdr = gzipHeaderLength(buf);
        if (hdr === -2) throw badRecord(file, where, "not a gzip member");
        if (hdr >= 0 || !more()) break;
      }
      if (hdr < 0) break; // partial header at the end
      let inflated: { buffer: Buffer; engine: { bytesWritten: number } } | null = null;
      for (;;) {
        try {
          inflated = inflateRawSync(buf.subarray(hdr), { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
          if (buf.length >= hdr + inflated.engine.bytesWritten + 8) break;
          inflated = null;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "Z_BUF_ERROR") throw badRecord(file, where, (err as Error).message);
          inflated = null;
        }
        if (!more()) break;
      }
      if (!inflated) break; // partial member at the end
      const end = hdr + inflated.engine.bytesWritten;
      const crc = buf.readUInt32LE(end);
      const isize = buf.readUInt32LE(end + 4);
      if (crc !== crc32(inflated.buffer) || isize !== (inflated.buffer.length >>> 0)) throw badRecord(file, where, "CRC or length mismatch");
      const lines = inflated.buffer.toString("utf8").split("\n");
      lines.forEach((l, k) => emit(l, lines.length > 1 ? `${where} line ${k + 1}` : where));
      buf = buf.subarray(end + 8);
      base += end + 8;
      validBytes = base;
    }
    return { size, validBytes, gzip, records };
  } finally {
    closeSync(fd);
  }
}

/** Gzip header length at the start of `b`; -1 when more bytes are needed, -2 when it is not a gzip header. */
function gzipHeaderLength(b: Buffer): number {
  if (b.length < 10) return b.length >= 1 && b[0] !== 0x1f ? -2 : -1;
  if (b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) return -2;
  const flags = b[3]!;
  let p = 10;
  if (flags & 4) {
    if (b.length < p + 2) return -1;
    p += 2 + b.readUInt16LE(p);
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const z = b.indexOf(0, p);
      if (z < 0) return -1;
      p = z + 1;
    }
  }
  if (flags & 2) p += 2;
  return b.length >= p ? p : -1;
}

/** What an output file holds before a run. */
export interface OutputPlan {
  path: string;
  gzip: boolean;
  /** "create": new file; "overwrite": replace; "append": resume after `validBytes`. */
  mode: "create" | "overwrite" | "append";
  validBytes: number;
  /** Trailing bytes of an interrupted record that opening will truncate. */
  droppedBytes: number;
  /** Row indices already in the file. */
  done: Set<number>;
  /** The `info` of the first record. */
  firstInfo: Record<string, unknown> | null;
  /** The run configuration of the first record (to check that a resumed run uses the same settings). */
  firstConfig: RunConfig | null;
}

/**
 * What to do with `file` before a run. With `resume` and `config` (this run's configuration, run-config.ts),
 * records of another configuration are refused with ERR_INVALID_OPTION listing the fields that differ.
 */
export function planOutput(file: string, opts: { resume?: boolean; overwrite?: boolean; config?: RunConfig } = {}): OutputPlan {
  if (opts.resume && opts.overwrite) {
    throw new InseqError(ErrorCode.INVALID_OPTION, "Expected at most one of --resume and --overwrite but received both");
  }
  const gzip = isGzipPath(file);
  const empty: OutputPlan = { path: file, gzip, mode: "create", validBytes: 0, droppedBytes: 0, done: new Set(), firstInfo: null, firstConfig: null };
  if (!existsSync(file)) return empty;
  if (opts.overwrite) return { ...empty, mode: "overwrite" };
  if (!opts.resume) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected an output path that does not exist (or --resume to continue it, --overwrite to replace it) for --output but received ${JSON.stringify(file)}: the file already exists`,
    );
  }
  const done = new Set<number>();
  let firstInfo: Record<string, unknown> | null = null;
  let firstConfig: RunConfig | null = null;
  const scan = scanRecords(file, (rec) => {
    done.add(rec.index);
    firstInfo ??= recordInfo(rec);
    firstConfig ??= recordConfig(rec);
  });
  if (scan.size > 0 && scan.gzip !== gzip) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected a ${gzip ? "gzip" : "plain JSONL"} file (from its name) for --output but ${file} is ${scan.gzip ? "gzip-compressed" : "not compressed"}`,
    );
  }
  if (firstConfig && opts.config) checkResumeConfig(file, firstConfig, opts.config);
  return { path: file, gzip, mode: "append", validBytes: scan.validBytes, droppedBytes: scan.size - scan.validBytes, done, firstInfo, firstConfig };
}

export interface RecordWriterOptions {
  /** How to continue after a failed write, in ERR_DISK_FULL / ERR_IO messages. Default RESUME_HINT. */
  hint?: string;
  /** The write call (tests inject failures). Default fs.writeSync. */
  writeSync?: (fd: number, buffer: Buffer, offset: number, length: number) => number;
}

/** Appends records, one write call each (one gzip member each for `.gz`). */
export class RecordWriter {
  readonly path: string;
  readonly gzip: boolean;
  #fd: number | null;
  readonly #hint: string;
  readonly #writeSync: NonNullable<RecordWriterOptions["writeSync"]>;
  bytesWritten = 0;

  constructor(plan: OutputPlan, opts: RecordWriterOptions = {}) {
    this.path = plan.path;
    this.gzip = plan.gzip;
    this.#hint = opts.hint ?? RESUME_HINT;
    this.#writeSync = opts.writeSync ?? writeSync;
    try {
      if (plan.mode === "append") {
        this.#fd = openSync(plan.path, "r+");
        ftruncateSync(this.#fd, plan.validBytes); // drop an interrupted trailing record
        closeSync(this.#fd);
        this.#fd = openSync(plan.path, "a");
      } else {
        this.#fd = openSync(plan.path, plan.mode === "create" ? "wx" : "w");
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EEXIST") {
        throw new InseqError(ErrorCode.INVALID_OPTION, `Expected an output path that does not exist for --output but received ${JSON.stringify(plan.path)}: the file already exists`);
      }
      if (e.code === "ENOSPC" || e.code === "EDQUOT" || e.code === "EIO") throw fileWriteError(err, plan.path, this.#hint);
      throw new InseqError(ErrorCode.INVALID_OPTION, `Cannot write --output ${plan.path}: ${e.message}`, { cause: err });
    }
  }

  /** Serializes one record (JSON text, or a gzip member) as the bytes `write` appends. */
  static encode(record: DatasetRecord, gzip: boolean): Buffer {
    const line = Buffer.from(JSON.stringify(record) + "\n", "utf8");
    return gzip ? gzipSync(line, { level: 5 }) : line;
  }

  write(record: DatasetRecord): void {
    this.writeEncoded(RecordWriter.encode(record, this.gzip));
  }

  /**
   * Appends `bytes`. A failed write throws ERR_DISK_FULL (ENOSPC, EDQUOT) or ERR_IO with the writer's hint; the
   * bytes of a record it cut short are what `--resume` drops.
   */
  writeEncoded(bytes: Buffer): void {
    if (this.#fd === null) throw new InseqError(ErrorCode.DISPOSED, `Output ${this.path} is closed`);
    let off = 0;
    try {
      while (off < bytes.length) off += this.#writeSync(this.#fd, bytes, off, bytes.length - off);
    } catch (err) {
      throw fileWriteError(err, this.path, this.#hint);
    }
    this.bytesWritten += bytes.length;
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = null;
    if (fd === null) return;
    try {
      closeSync(fd); // a network file system may report a full disk only here
    } catch (err) {
      throw fileWriteError(err, this.path, this.#hint);
    }
  }
}
