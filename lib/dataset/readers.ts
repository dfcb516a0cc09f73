/**
 * Dataset readers. A dataset is one split of rows with named columns, read from a local JSONL / JSON / CSV / TSV
 * / text / Parquet file (a single split called "train", as `datasets.load_dataset` names local files) or from the
 * Parquet conversion of a Hugging Face Hub dataset (see hub-dataset.ts). Gzip-compressed local files are
 * decompressed transparently.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";

import { ErrorCode, InseqError } from "../core/errors.js";
import { isHubId, type HubOptions } from "../hub/hub.js";
import { parseDelimited } from "./csv.js";
import { resolveDatasetParquetFiles } from "./hub-dataset.js";

export type DatasetFormat = "jsonl" | "json" | "csv" | "tsv" | "text" | "parquet";
export const DATASET_FORMATS: readonly DatasetFormat[] = ["jsonl", "json", "csv", "tsv", "text", "parquet"];

/** One row of a split: its values, or why it could not be read. */
export type RowResult = { values: Record<string, unknown>; line?: number } | { error: string; line?: number };

/** One split of a dataset. Row indices are 0-based positions in the split. */
export interface DatasetSplit {
  /** The file path or hub id. */
  source: string;
  format: DatasetFormat;
  split: string;
  columns: string[];
  numRows: number;
  /** Rows [start, end) with only `fields` kept. */
  read(start: number, end: number, fields: readonly string[]): Promise<RowResult[]>;
}

export interface OpenDatasetOptions {
  /** Split name ("train" for local files). */
  split?: string;
  /** Default: from the file extension (`.txt` holding tabs reads as TSV, else as one "text" column). */
  format?: DatasetFormat;
  /** CSV/TSV field delimiter (one character; default "," for csv, tab for tsv). */
  delimiter?: string;
  /** CSV/TSV: the first row names the columns (default true). */
  header?: boolean;
  /** CSV/TSV column names (replace the header's; without a header the default is "0", "1", ...). */
  columnNames?: string[];
  /** Hub datasets: config (subset) name, default "default". */
  config?: string;
  /** Hub options (revision defaults to "refs/convert/parquet", the Hub's Parquet conversion branch). */
  hub?: HubOptions;
}

const EXTENSIONS: Record<string, DatasetFormat> = {
  ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
  ".txt": "text", ".parquet": "parquet", ".pq": "parquet",
};

function formatFromPath(file: string): DatasetFormat | undefined {
  const base = file.toLowerCase().replace(/\.(gz|gzip)$/, "");
  return EXTENSIONS[path.extname(base)];
}

function looksLikeFile(source: string): boolean {
  return formatFromPath(source) !== undefined || source.startsWith(".") || source.startsWith("/") || source.includes(path.sep + path.sep);
}

function badDataset(message: string): InseqError {
  return new InseqError(ErrorCode.BAD_DATASET, message);
}

async function readBytes(file: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    const s = await stat(file);
    if (s.isDirectory()) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a data file for --dataset but received the directory ${JSON.stringify(file)}`);
    }
    bytes = await readFile(file);
  } catch (err) {
    if (err instanceof InseqError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new InseqError(ErrorCode.NOT_FOUND, `Dataset file not found: ${file}`, { cause: err });
    throw badDataset(`Cannot read dataset file ${file}: ${e.message}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw badDataset(`Cannot decompress dataset file ${file}: ${(err as Error).message}`);
    }
  }
  return bytes;
}

function decodeUtf8(file: string, bytes: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw badDataset(`Dataset file ${file} is not valid UTF-8 text`);
  }
}

/** An in-memory split. */
function memorySplit(source: string, format: DatasetFormat, split: string, columns: string[], rows: RowResult[]): DatasetSplit {
  return {
    source, format, split, columns, numRows: rows.length,
    async read(start, end, fields) {
      return rows.slice(start, end).map((r) => {
        if ("error" in r) return r;
        const values: Record<string, unknown> = {};
        for (const f of fields) values[f] = r.values[f] ?? null;
        return { values, line: r.line };
      });
    },
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** JSON Lines: one object per non-blank line (each non-blank line is a row, readable or not). */
function readJsonl(file: string, text: string, split: string): DatasetSplit {
  const rows: RowResult[] = [];
  const columns = new Set<string>();
  let line = 0;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (pos < text.length) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    line++;
    const raw = text.slice(pos, nl).replace(/\r$/, "");
    pos = nl + 1;
    if (raw.trim() === "") continue;
    try {
      const v = JSON.parse(raw);
      if (!isPlainObject(v)) {
        rows.push({ error: `line ${line} is not a JSON object`, line });
        continue;
      }
      for (const k of Object.keys(v)) columns.add(k);
      rows.push({ values: v, line });
    } catch (err) {
      rows.push({ error: `line ${line} is not valid JSON (${(err as Error).message})`, line });
    }
  }
  return memorySplit(file, "jsonl", split, [...columns], rows);
}

/** `.json`: a JSON array of objects, or JSON Lines. */
function readJson(file: string, text: string, split: string): DatasetSplit {
  const trimmed = text.replace(/^\ufeff/, "").trimStart();
  if (!trimmed.startsWith("[")) return { ...readJsonl(file, text, split), format: "json" };
  let data: unknown;
  try {
    data = JSON.parse(trimmed);
  } catch (err) {
    throw badDataset(`Dataset file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const columns = new Set<string>();
  const rows: RowResult[] = (data as unknown[]).map((v, i) => {
    if (!isPlainObject(v)) return { error: `element ${i} of the JSON array is not an object` };
    for (const k of Object.keys(v)) columns.add(k);
    return { values: v };
  });
  return memorySplit(file, "json", split, [...columns], rows);
}

/** pandas-style names: empty -> "Unnamed: i", duplicates -> "name.1", "name.2". */
function dedupeNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n0, i) => {
    let n = n0 === "" ? `Unnamed: ${i}` : n0;
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    if (k > 0) {
      n = `${n}.${k}`;
      seen.set(n, 1);
    }
    return n;
  });
}

function readDelimited(file: string, text: string, split: string, format: "csv" | "tsv", opts: OpenDatasetOptions): DatasetSplit {
  const delimiter = opts.delimiter ?? (format === "tsv" ? "\t" : ",");
  const header = opts.header ?? true;
  let columns: string[] | undefined = opts.columnNames ? [...opts.columnNames] : undefined;
  if (columns && new Set(columns).size !== columns.length) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected distinct names for --column-names but received ${JSON.stringify(columns.join(","))}`);
  }
  const rows: RowResult[] = [];
  let first = true;
  for (const rec of parseDelimited(text, delimiter)) {
    if (first && header) {
      first = false;
      if (rec.error) throw badDataset(`Cannot read the header of ${file}: ${rec.error}`);
      const names = dedupeNames(rec.fields);
      if (columns && columns.length !== names.length) {
        throw new InseqError(
          ErrorCode.INVALID_OPTION,
          `Expected ${names.length} names (the header of ${file} has ${names.length} columns) for --column-names but received ${columns.length}`,
        );
      }
      columns ??= names;
      continue;
    }
    if (first) {
      first = false;
      columns ??= rec.fields.map((_, i) => String(i));
    }
    if (rec.error) {
      rows.push({ error: rec.error, line: rec.line });
    } else if (rec.fields.length !== columns!.length) {
      rows.push({ error: `line ${rec.line} has ${rec.fields.length} fields but the dataset has ${columns!.length} columns`, line: rec.line });
    } else {
      const values: Record<string, unknown> = {};
      columns!.forEach((c, k) => (values[c] = rec.fields[k]));
      rows.push({ values, line: rec.line });
    }
  }
  return memorySplit(file, format, split, columns ?? [], rows);
}

function readText(file: string, text: string, split: string): DatasetSplit {
  const lines = text.replace(/^\ufeff/, "").split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return memorySplit(file, "text", split, ["text"], lines.map((t, i) => ({ values: { text: t }, line: i + 1 })));
}

function parquetValue(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  return v;
}

/** Parquet files read as one split (files concatenated in order), with only the requested columns decoded. */
async function readParquet(source: string, files: string[], split: string): Promise<DatasetSplit> {
  const parts: Array<{ file: string; buffer: ArrayBuffer; rows: number; offset: number }> = [];
  let columns: string[] | undefined;
  let offset = 0;
  for (const file of files) {
    const bytes = await readBytes(file);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    let meta;
    try {
      meta = parquetMetadata(buffer);
    } catch (err) {
      throw badDataset(`Cannot read Parquet file ${file}: ${(err as Error).message}`);
    }
    const names = parquetSchema(meta).children.map((c) => c.element.name);
    columns ??= names;
    if (names.join("\u0000") !== columns.join("\u0000")) {
      throw badDataset(`Parquet file ${file} has columns ${names.join(", ")} but ${files[0]} has ${columns.join(", ")}`);
    }
    const rows = Number(meta.num_rows);
    parts.push({ file, buffer, rows, offset });
    offset += rows;
  }
  return {
    source, format: "parquet", split, columns: columns ?? [], numRows: offset,
    async read(start, end, fields) {
      const out: RowResult[] = [];
      for (const p of parts) {
        const s = Math.max(start, p.offset) - p.offset;
        const e = Math.min(end, p.offset + p.rows) - p.offset;
        if (e <= s) continue;
        let objects: Record<string, unknown>[];
        try {
          objects = await parquetReadObjects({ file: p.buffer, columns: [...fields], rowStart: s, rowEnd: e });
        } catch (err) {
          throw badDataset(`Cannot read Parquet file ${p.file}: ${(err as Error).message}`);
        }
        for (const o of objects) {
          const values: Record<string, unknown> = {};
          for (const f of fields) values[f] = parquetValue(o[f]);
          out.push({ values });
        }
      }
      return out;
    },
  };
}

/** Opens one split of a local data file or of a Hub dataset (by id, when no such local file exists). */
export async function openDataset(source: string, opts: OpenDatasetOptions = {}): Promise<DatasetSplit> {
  if (typeof source !== "string" || source.length === 0) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a file path or a Hugging Face dataset id for --dataset but received ${JSON.stringify(source)}`);
  }
  const split = opts.split ?? "train";
  let isLocal = true;
  try {
    await stat(source);
  } catch {
    isLocal = false;
  }
  if (!isLocal) {
    if (!isHubId(source) || looksLikeFile(source)) throw new InseqError(ErrorCode.NOT_FOUND, `Dataset file not found: ${source}`);
    const files = await resolveDatasetParquetFiles(source, { ...opts.hub, config: opts.config ?? "default", split });
    return readParquet(source, files, split);
  }
  if (split !== "train") {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected the split "train" (a local file is a single split) for --dataset-split but received ${JSON.stringify(split)}`,
    );
  }
  const format = opts.format ?? formatFromPath(source) ?? "jsonl";
  if (format === "parquet") return readParquet(source, [source], split);
  const text = decodeUtf8(source, await readBytes(source));
  switch (format) {
    case "jsonl":
      return readJsonl(source, text, split);
    case "json":
      return readJson(source, text, split);
    case "csv":
    case "tsv":
      return readDelimited(source, text, split, format, opts);
    case "text": {
      // A .txt file with tabs on its first line (e.g. WinoMT) or an explicit delimiter is delimited text.
      const nl = text.indexOf("\n");
      const firstLine = nl < 0 ? text : text.slice(0, nl);
      if (opts.format === undefined && (opts.delimiter !== undefined || firstLine.includes("\t"))) {
        const delimiter = opts.delimiter ?? "\t";
        const ds = readDelimited(source, text, split, delimiter === "\t" ? "tsv" : "csv", { ...opts, delimiter });
        return ds;
      }
      return readText(source, text, split);
    }
    default:
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected one of ${DATASET_FORMATS.join(", ")} for --dataset-format but received ${JSON.stringify(format)}`);
  }
}
