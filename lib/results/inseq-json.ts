/**
 * Python Inseq's attribution file format (`FeatureAttributionOutput.save` / `.load`, Inseq 0.7):
 *
 * ```json
 * {"__instance_type__": ["inseq.data.attribution", "FeatureAttributionOutput"],
 *  "attributes": {"info": {...}, "sequence_attributions": [
 *     {"__instance_type__": ["inseq.data.attribution", "GranularFeatureAttributionSequenceOutput"],
 *      "attributes": {"attr_pos_end": 7, "attr_pos_start": 2, "sequence_scores": {}, "source": [TokenWithId...],
 *                     "source_attributions": "<base64 safetensors>" | null, "step_scores": {"probability": "<b64>"},
 *                     "target": [...], "target_attributions": "<b64>" | null}}],
 *  "step_attributions": null}}
 * ```
 *
 * Every tensor is a base64 string of a safetensors file holding one tensor named `"attribution"` (F32 or F16).
 * The JSON text is written like Python's `json.dumps(sort_keys=True, indent=4, allow_nan=True)` (ASCII only,
 * bare `NaN`/`Infinity` literals). Loading also accepts json-tricks `__ndarray__` encodings from older files.
 */
import { gunzipSync } from "node:zlib";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { createTensor, numel, type ScoreTensor } from "./tensor.js";
import type { SequenceOutputKind, TokenWithId } from "./attribution.js";

// ---------------------------------------------------------------------------------------------------------------
// Python class names
// ---------------------------------------------------------------------------------------------------------------

export const ATTRIBUTION_MODULE = "inseq.data.attribution";
export const TOKEN_MODULE = "inseq.utils.typing";

/** Python class of each sequence-output kind (module `inseq.data.attribution`). */
export const PYTHON_SEQUENCE_CLASSES: Readonly<Record<SequenceOutputKind, string>> = Object.freeze({
  granular: "GranularFeatureAttributionSequenceOutput",
  coarse: "CoarseFeatureAttributionSequenceOutput",
  multidimensional: "MultiDimensionalFeatureAttributionSequenceOutput",
  base: "FeatureAttributionSequenceOutput",
});

function kindFromClassName(name: string): SequenceOutputKind {
  for (const [kind, cls] of Object.entries(PYTHON_SEQUENCE_CLASSES)) if (cls === name) return kind as SequenceOutputKind;
  return "base";
}

/** Names given to the axes after `[attributed, generated]` when a file does not say (it never does). */
export function defaultExtraDimNames(kind: SequenceOutputKind, count: number): string[] {
  if (count <= 0) return [];
  if (kind === "granular" && count === 1) return ["hidden"];
  if (kind === "multidimensional" && count === 2) return ["layer", "head"];
  if (kind === "multidimensional" && count === 1) return ["layer"];
  return Array.from({ length: count }, (_, i) => `dim${i + 2}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Half precision and friends (hand-written: round to nearest even, NaN kept)
// ---------------------------------------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of a number (first rounded to float32), round-to-nearest-even, NaN preserved as quiet NaN. */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++; // a carry into the exponent is correct (up to inf)
  return sign | r;
}

/** Value of IEEE binary16 bits. */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | undefined;

/** All 65536 half-precision values, for fast decoding. */
function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16BitsToNumber(h);
  }
  return f16Table;
}

function bfloat16BitsToNumber(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0]!;
}

/** float8_e4m3fn (no infinities; 0x7f/0xff are NaN). */
function float8e4m3fnToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * (mant / 8) * 2 ** -6;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** float8_e5m2 (IEEE-like). */
function float8e5m2ToNumber(b: number): number {
  return float16BitsToNumber(b << 8);
}

// ---------------------------------------------------------------------------------------------------------------
// Safetensors (one tensor)
// ---------------------------------------------------------------------------------------------------------------

export type ScoresPrecision = "float32" | "float16";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A safetensors file holding `data` as one tensor named `name` (default `"attribution"`), laid out exactly like
 * `safetensors.torch.save`: u64 LE header length, compact JSON header padded with spaces to a multiple of 8
 * bytes, then little-endian data.
 */
export function encodeSafetensors(
  shape: readonly number[],
  data: Float32Array,
  precision: ScoresPrecision = "float32",
  name = "attribution",
): Buffer {
  const itemSize = precision === "float16" ? 2 : 4;
  const nbytes = data.length * itemSize;
  const headerObj = {
    [name]: { dtype: precision === "float16" ? "F16" : "F32", shape: [...shape], data_offsets: [0, nbytes] },
  };
  let header = JSON.stringify(headerObj);
  const headerBytes = Buffer.byteLength(header, "utf8");
  header += " ".repeat((8 - (headerBytes % 8)) % 8);
  const hlen = Buffer.byteLength(header, "utf8");
  const out = Buffer.alloc(8 + hlen + nbytes);
  out.writeUInt32LE(hlen % 0x100000000, 0);
  out.writeUInt32LE(Math.floor(hlen / 0x100000000), 4);
  out.write(header, 8, "utf8");
  const start = 8 + hlen;
  if (precision === "float16") {
    const half = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) half[i] = float32ToFloat16Bits(data[i]!);
    if (LITTLE_ENDIAN) out.set(new Uint8Array(half.buffer), start);
    else for (let i = 0; i < half.length; i++) out.writeUInt16LE(half[i]!, start + 2 * i);
  } else if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start);
  } else {
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, start + 4 * i);
  }
  return out;
}

export interface DecodedSafetensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Float32Array;
}

function badFile(where: string, expected: string, value: unknown): InseqError {
  return invalidOption(where, expected, value);
}

/** Reads the tensor named `name` (or the only tensor) of a safetensors file, converted to float32. */
export function decodeSafetensors(bytes: Uint8Array, name = "attribution", where = "tensor"): DecodedSafetensor {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw badFile(where, "a safetensors blob (at least 8 bytes)", `${buf.length} bytes`);
  const hlen = buf.readUInt32LE(0) + buf.readUInt32LE(4) * 0x100000000;
  if (8 + hlen > buf.length) throw badFile(where, "a safetensors blob with a complete header", `${buf.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.toString("utf8", 8, 8 + hlen)) as Record<string, unknown>;
  } catch {
    throw badFile(where, "a safetensors blob with a JSON header", "an unreadable header");
  }
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const key = names.includes(name) ? name : names.length === 1 ? names[0]! : undefined;
  if (key === undefined) throw badFile(where, `a safetensors blob holding a tensor named "${name}"`, names.join(", "));
  const entry = header[key] as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const dtype = String(entry.dtype);
  const shape = entry.shape as number[];
  const offsets = entry.data_offsets as [number, number];
  if (!Array.isArray(shape) || !Array.isArray(offsets)) throw badFile(where, "a safetensors tensor entry", entry);
  const dataStart = 8 + hlen + offsets[0];
  const dataEnd = 8 + hlen + offsets[1];
  if (dataEnd > buf.length || dataStart > dataEnd) throw badFile(where, "safetensors data inside the blob", offsets);
  const n = numel(shape);
  const raw = buf.subarray(dataStart, dataEnd);
  const out = new Float32Array(n);
  const need = (size: number) => {
    if (raw.length !== n * size) throw badFile(where, `${n * size} bytes of ${dtype} data`, raw.length);
  };
  switch (dtype) {
    case "F32":
      need(4);
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(raw);
      else for (let i = 0; i < n; i++) out[i] = raw.readFloatLE(4 * i);
      break;
    case "F16": {
      need(2);
      const table = float16Table();
      for (let i = 0; i < n; i++) out[i] = table[raw[2 * i]! | (raw[2 * i + 1]! << 8)]!;
      break;
    }
    case "BF16":
      need(2);
      for (let i = 0; i < n; i++) out[i] = bfloat16BitsToNumber(raw.readUInt16LE(2 * i));
      break;
    case "F64":
      need(8);
      for (let i = 0; i < n; i++) out[i] = raw.readDoubleLE(8 * i);
      break;
    case "F8_E4M3":
      need(1);
      for (let i = 0; i < n; i++) out[i] = float8e4m3fnToNumber(raw[i]!);
      break;
    case "F8_E5M2":
      need(1);
      for (let i = 0; i < n; i++) out[i] = float8e5m2ToNumber(raw[i]!);
      break;
    case "I64":
      need(8);
      for (let i = 0; i < n; i++) out[i] = Number(raw.readBigInt64LE(8 * i));
      break;
    case "I32":
      need(4);
      for (let i = 0; i < n; i++) out[i] = raw.readInt32LE(4 * i);
      break;
    case "U8":
    case "BOOL":
      need(1);
      for (let i = 0; i < n; i++) out[i] = raw[i]!;
      break;
    default:
      throw badFile(where, "a safetensors tensor of dtype F32, F16, BF16, F64 or F8", dtype);
  }
  return { name: key, dtype, shape: [...shape], data: out };
}

// ---------------------------------------------------------------------------------------------------------------
// Python-compatible JSON text
// ---------------------------------------------------------------------------------------------------------------

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function pyString(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`; // fast path (base64 blobs, most tokens)
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += s[i];
  }
  return out + '"';
}

function pyNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Infinity";
  if (n === -Infinity) return "-Infinity";
  return JSON.stringify(n);
}

/**
 * `json.dumps(value, sort_keys=True, indent=4, allow_nan=True)` as Python writes it: ASCII-only (`\uXXXX`
 * escapes), `", "`/`": "` separators with indent, bare NaN/Infinity. `undefined` and functions are skipped in
 * objects (null in arrays), typed arrays become lists, objects with `toJSON()` are converted first.
 */
export function stringifyPythonJson(value: unknown, indent = 4): string {
  const seen = new Set<object>();
  const write = (v: unknown, level: number): string | undefined => {
    if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") {
      v = (v as { toJSON(): unknown }).toJSON();
    }
    if (v === null) return "null";
    switch (typeof v) {
      case "string":
        return pyString(v);
      case "number":
        return pyNumber(v);
      case "boolean":
        return v ? "true" : "false";
      case "bigint":
        return v.toString();
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
    }
    const obj = v as object;
    if (seen.has(obj)) throw new InseqError(ErrorCode.INVALID_OPTION, "Cannot serialise a circular structure to JSON");
    seen.add(obj);
    const pad = " ".repeat(indent * (level + 1));
    const closePad = " ".repeat(indent * level);
    let out: string;
    if (Array.isArray(obj) || ArrayBuffer.isView(obj)) {
      const items = Array.isArray(obj) ? obj : Array.from(obj as unknown as ArrayLike<number>);
      if (items.length === 0) out = "[]";
      else out = "[\n" + items.map((x) => pad + (write(x, level + 1) ?? "null")).join(",\n") + "\n" + closePad + "]";
    } else {
      const entries: string[] = [];
      const record = obj as Record<string, unknown>;
      for (const key of Object.keys(record).sort()) {
        const s = write(record[key], level + 1);
        if (s !== undefined) entries.push(pad + pyString(key) + ": " + s);
      }
      out = entries.length === 0 ? "{}" : "{\n" + entries.join(",\n") + "\n" + closePad + "}";
    }
    seen.delete(obj);
    return out;
  };
  return write(value, 0) ?? "null";
}

/** Decoded value of the placeholder strings `parsePythonJson` substitutes for non-finite literals. */
const NONFINITE_PREFIX = "\u0000inseq-nonfinite:";
/** The same placeholder as JSON source text (the NUL must be escaped inside a JSON string). */
const NONFINITE_JSON = "\\u0000inseq-nonfinite:";

/**
 * `JSON.parse` that also accepts Python's bare `NaN`, `Infinity` and `-Infinity` literals (outside strings).
 */
export function parsePythonJson(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text.includes("NaN") && !text.includes("Infinity")) return JSON.parse(text);
  const parts: string[] = [];
  let last = 0;
  let i = 0;
  let replaced = false;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: find the closing quote not escaped by an odd run of backslashes.
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          j = n;
          break;
        }
        let bs = 0;
        for (let k = q - 1; k > i && text.charCodeAt(k) === 0x5c; k--) bs++;
        j = q + 1;
        if (bs % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x4e /* N */ && text.startsWith("NaN", i)) {
      parts.push(text.slice(last, i), `"${NONFINITE_JSON}NaN"`);
      i += 3;
      last = i;
      replaced = true;
    } else if (c === 0x49 /* I */ && text.startsWith("Infinity", i)) {
      const neg = i > 0 && text.charCodeAt(i - 1) === 0x2d;
      parts.push(text.slice(last, neg ? i - 1 : i), `"${NONFINITE_JSON}${neg ? "-" : ""}Infinity"`);
      i += 8;
      last = i;
      replaced = true;
    } else {
      i++;
    }
  }
  if (!replaced) return JSON.parse(text);
  parts.push(text.slice(last));
  return JSON.parse(parts.join(""), (_key, v: unknown) => {
    if (typeof v === "string" && v.startsWith(NONFINITE_PREFIX)) {
      const lit = v.slice(NONFINITE_PREFIX.length);
      return lit === "NaN" ? NaN : lit === "Infinity" ? Infinity : -Infinity;
    }
    return v;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor values inside the JSON
// ---------------------------------------------------------------------------------------------------------------

/** A tensor as Python Inseq stores it: base64 of a one-tensor safetensors file. */
export function encodeTensorValue(t: { shape: readonly number[]; data: Float32Array }, precision: ScoresPrecision): string {
  return encodeSafetensors(t.shape, t.data, precision).toString("base64");
}

function flattenNested(value: unknown, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(value)) {
    if (shape.length <= depth) shape.push(value.length);
    for (const v of value) flattenNested(v, shape, out, depth + 1);
  } else {
    out.push(value === null ? NaN : typeof value === "boolean" ? Number(value) : Number(value));
  }
}

const NUMPY_DTYPES: Record<string, { size: number; read: (b: Buffer, off: number) => number }> = {
  float32: { size: 4, read: (b, o) => b.readFloatLE(o) },
  float64: { size: 8, read: (b, o) => b.readDoubleLE(o) },
  float16: { size: 2, read: (b, o) => float16BitsToNumber(b.readUInt16LE(o)) },
  int8: { size: 1, read: (b, o) => b.readInt8(o) },
  uint8: { size: 1, read: (b, o) => b.readUInt8(o) },
  bool: { size: 1, read: (b, o) => b.readUInt8(o) },
  int16: { size: 2, read: (b, o) => b.readInt16LE(o) },
  uint16: { size: 2, read: (b, o) => b.readUInt16LE(o) },
  int32: { size: 4, read: (b, o) => b.readInt32LE(o) },
  uint32: { size: 4, read: (b, o) => b.readUInt32LE(o) },
  int64: { size: 8, read: (b, o) => Number(b.readBigInt64LE(o)) },
  uint64: { size: 8, read: (b, o) => Number(b.readBigUInt64LE(o)) },
};

/** Fortran-ordered flat data to C order. */
function fortranToC(data: Float32Array, shape: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    let stride = 1;
    for (let d = 0; d < nd; d++) {
      f += idx[d]! * stride;
      stride *= shape[d]!;
    }
    out[c] = data[f]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

function decodeNdarray(obj: Record<string, unknown>, where: string): { shape: number[]; data: Float32Array } {
  const payload = obj.__ndarray__;
  const dtypeName = String(obj.dtype ?? "float32");
  const shape = Array.isArray(obj.shape) ? (obj.shape as number[]).map(Number) : undefined;
  if (typeof payload === "string") {
    let bytes: Buffer;
    if (payload.startsWith("b64.gz:")) bytes = gunzipSync(Buffer.from(payload.slice(7), "base64"));
    else if (payload.startsWith("b64:")) bytes = Buffer.from(payload.slice(4), "base64");
    else throw badFile(where, 'a numpy array payload starting with "b64:" or "b64.gz:"', payload);
    const dt = NUMPY_DTYPES[dtypeName.replace(/^[<|=]/, "").replace(/^f4$/, "float32")];
    if (!dt) throw badFile(where, "a numeric numpy dtype", dtypeName);
    const n = bytes.length / dt.size;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = dt.read(bytes, i * dt.size);
    const s = shape ?? [n];
    if (numel(s) !== n) throw badFile(where, `${numel(s)} values for shape [${s.join(", ")}]`, n);
    return { shape: s, data: obj.Corder === false ? fortranToC(data, s) : data };
  }
  if (Array.isArray(payload) || typeof payload === "number") {
    const inferred: number[] = [];
    const flat: number[] = [];
    flattenNested(payload, inferred, flat, 0);
    const s = shape ?? inferred;
    if (numel(s) !== flat.length) throw badFile(where, `${numel(s)} values for shape [${s.join(", ")}]`, flat.length);
    return { shape: s, data: Float32Array.from(flat) };
  }
  throw badFile(where, "a numpy array payload", payload);
}

/** Decodes any tensor encoding Inseq files use: base64 safetensors, `__ndarray__` objects, or nested lists. */
export function decodeTensorValue(value: unknown, where: string): { shape: number[]; data: Float32Array } | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") {
    const d = decodeSafetensors(Buffer.from(value, "base64"), "attribution", where);
    return { shape: d.shape, data: d.data };
  }
  if (Array.isArray(value)) {
    const shape: number[] = [];
    const flat: number[] = [];
    flattenNested(value, shape, flat, 0);
    return { shape, data: Float32Array.from(flat) };
  }
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if ("__ndarray__" in obj) return decodeNdarray(obj, where);
    // A torch tensor or numpy array wrapped as an instance (very old files)
    if ("attributes" in obj) return decodeTensorValue(obj.attributes, where);
  }
  throw badFile(where, "a tensor (base64 safetensors string, __ndarray__ object or list)", value);
}

// ---------------------------------------------------------------------------------------------------------------
// Document encode / decode
// ---------------------------------------------------------------------------------------------------------------

/** The `info` fields that hold keyword arguments: Python Inseq passes them back as `**kwargs`, so snake_case. */
export const INFO_KWARGS_FIELDS = ["attribution_args", "attributed_fn_args", "step_scores_args", "generation_args"] as const;

/** Our camelCase option name as Inseq's keyword (`nSteps` → `n_steps`); snake_case names are unchanged. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, (_, a: string, b: string) => `${a}_${b.toLowerCase()}`);
}

/**
 * `info` with the keys of its keyword-argument fields in snake_case (`{nSteps: 10}` → `{n_steps: 10}`). Saving
 * writes this form and loading returns it, whichever form the file holds (files written before 0.1 used ours).
 */
export function inseqInfo(info: Record<string, unknown>): Record<string, unknown> {
  const out = { ...info };
  for (const field of INFO_KWARGS_FIELDS) {
    const args = info[field];
    if (args === null || typeof args !== "object" || Array.isArray(args)) continue;
    out[field] = Object.fromEntries(Object.entries(args).map(([k, v]) => [snakeCase(k), v]));
  }
  return out;
}

/** The fields of one sequence output, as the file stores them (implemented by `FeatureAttributionSequenceOutput`). */
export interface SequenceOutputData {
  kind: SequenceOutputKind;
  source: TokenWithId[];
  target: TokenWithId[];
  sourceAttributions: ScoreTensor | null;
  targetAttributions: ScoreTensor | null;
  stepScores: Record<string, Float32Array>;
  sequenceScores: Record<string, ScoreTensor>;
  attrPosStart: number;
  attrPosEnd: number;
  extraDimNames: string[];
}

export interface OutputData {
  sequenceAttributions: SequenceOutputData[];
  info: Record<string, unknown>;
}

export interface EncodeOptions {
  scoresPrecision?: ScoresPrecision;
}

function instance(module: string, name: string, attributes: Record<string, unknown>): Record<string, unknown> {
  return { __instance_type__: [module, name], attributes };
}

function sortedRecord<T>(rec: Record<string, T>, map: (v: T) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(rec).sort()) out[k] = map(rec[k]!);
  return out;
}

function encodeToken(t: TokenWithId): Record<string, unknown> {
  return instance(TOKEN_MODULE, "TokenWithId", { id: t.id, token: t.token });
}

/** Builds the JSON-ready document object (keys already in sorted order; tensors as base64 safetensors). */
export function encodeOutputDocument(data: OutputData, options: EncodeOptions = {}): Record<string, unknown> {
  const precision = options.scoresPrecision ?? "float32";
  if (precision !== "float32" && precision !== "float16") {
    throw invalidOption("scoresPrecision", '"float32" or "float16"', precision);
  }
  const enc = (t: { shape: readonly number[]; data: Float32Array }) => encodeTensorValue(t, precision);
  const sequences = data.sequenceAttributions.map((seq) =>
    instance(ATTRIBUTION_MODULE, PYTHON_SEQUENCE_CLASSES[seq.kind] ?? PYTHON_SEQUENCE_CLASSES.base, {
      attr_pos_end: seq.attrPosEnd,
      attr_pos_start: seq.attrPosStart,
      sequence_scores: sortedRecord(seq.sequenceScores, enc),
      source: seq.source.map(encodeToken),
      source_attributions: seq.sourceAttributions ? enc(seq.sourceAttributions) : null,
      step_scores: sortedRecord(seq.stepScores, (v) => enc({ shape: [v.length], data: v })),
      target: seq.target.map(encodeToken),
      target_attributions: seq.targetAttributions ? enc(seq.targetAttributions) : null,
    }),
  );
  return instance(ATTRIBUTION_MODULE, "FeatureAttributionOutput", {
    info: inseqInfo(data.info),
    sequence_attributions: sequences,
    step_attributions: null,
  });
}

/** The document as Python Inseq writes it (sorted keys, indent 4, bare NaN). */
export function serializeOutputDocument(data: OutputData, options: EncodeOptions = {}): string {
  return stringifyPythonJson(encodeOutputDocument(data, options));
}

function unwrap(value: unknown, where: string): { className: string | null; attrs: Record<string, unknown> } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw badFile(where, "an object", value);
  }
  const obj = value as Record<string, unknown>;
  const type = obj.__instance_type__;
  if (Array.isArray(type)) {
    const attrs = obj.attributes;
    if (attrs === null || typeof attrs !== "object") throw badFile(`${where}.attributes`, "an object", attrs);
    return { className: String(type[1]), attrs: attrs as Record<string, unknown> };
  }
  return { className: null, attrs: obj };
}

function decodeToken(value: unknown, where: string): TokenWithId {
  if (typeof value === "string") return { token: value, id: -1 };
  const { attrs } = unwrap(value, where);
  if (typeof attrs.token !== "string") throw badFile(`${where}.token`, "a string", attrs.token);
  const id = typeof attrs.id === "number" ? attrs.id : Number(attrs.id ?? -1);
  return { token: attrs.token, id: Number.isFinite(id) ? id : -1 };
}

function tensorFromValue(value: unknown, where: string, dims: (ndim: number) => string[]): ScoreTensor | null {
  const t = decodeTensorValue(value, where);
  if (!t) return null;
  return createTensor(dims(t.shape.length), t.shape, t.data);
}

function decodeSequence(value: unknown, where: string): SequenceOutputData {
  const { className, attrs } = unwrap(value, where);
  const kind = className ? kindFromClassName(className) : "base";
  if (!Array.isArray(attrs.source) || !Array.isArray(attrs.target)) {
    throw badFile(where, "a sequence attribution with source and target token lists", attrs);
  }
  const source = attrs.source.map((t, i) => decodeToken(t, `${where}.source[${i}]`));
  const target = attrs.target.map((t, i) => decodeToken(t, `${where}.target[${i}]`));
  let extra: string[] | undefined;
  const extraNames = (ndim: number) => {
    const names = extra && extra.length === ndim - 2 ? extra : defaultExtraDimNames(kind, ndim - 2);
    extra ??= names;
    return names;
  };
  const attrDims = (first: string) => (ndim: number) => ndim >= 2 ? [first, "generated", ...extraNames(ndim)] : [first].slice(0, ndim);
  const sourceAttributions = tensorFromValue(attrs.source_attributions, `${where}.source_attributions`, attrDims("source"));
  const targetAttributions = tensorFromValue(attrs.target_attributions, `${where}.target_attributions`, attrDims("target"));
  const stepScores: Record<string, Float32Array> = {};
  if (attrs.step_scores && typeof attrs.step_scores === "object") {
    for (const [name, v] of Object.entries(attrs.step_scores as Record<string, unknown>)) {
      const t = decodeTensorValue(v, `${where}.step_scores.${name}`);
      if (t) stepScores[name] = t.data;
    }
  }
  const sequenceScores: Record<string, ScoreTensor> = {};
  if (attrs.sequence_scores && typeof attrs.sequence_scores === "object") {
    for (const [name, v] of Object.entries(attrs.sequence_scores as Record<string, unknown>)) {
      // encoder_* scores are (source, source, ...), decoder_* (target, target, ...), others cross (source, generated).
      const pair = name.startsWith("encoder")
        ? ["source", "source"]
        : name.startsWith("decoder")
          ? ["target", "target"]
          : ["source", "generated"];
      const t = tensorFromValue(v, `${where}.sequence_scores.${name}`, (ndim) =>
        ndim >= 2 ? [...pair, ...extraNames(ndim)] : pair.slice(0, ndim),
      );
      if (t) sequenceScores[name] = t;
    }
  }
  const attrPosStart = typeof attrs.attr_pos_start === "number" ? attrs.attr_pos_start : 0;
  let attrPosEnd = typeof attrs.attr_pos_end === "number" ? attrs.attr_pos_end : target.length;
  if (attrPosEnd > target.length) attrPosEnd = target.length;
  const ref = sourceAttributions ?? targetAttributions;
  const extraDimNames = ref ? ref.dims.slice(2) : [];
  return {
    kind,
    source,
    target,
    sourceAttributions,
    targetAttributions,
    stepScores,
    sequenceScores,
    attrPosStart,
    attrPosEnd,
    extraDimNames,
  };
}

/**
 * Reads a parsed Inseq document (the `__instance_type__` envelope, or the bare attributes written with
 * `use_primitives=True`). Step attributions, if present, are ignored.
 */
export function decodeOutputDocument(doc: unknown, where = "document"): OutputData {
  const { className, attrs } = unwrap(doc, where);
  if (className !== null && className !== "FeatureAttributionOutput") {
    throw badFile(where, "an Inseq FeatureAttributionOutput document", className);
  }
  const seqs = attrs.sequence_attributions;
  if (!Array.isArray(seqs)) {
    throw badFile(`${where}.sequence_attributions`, "a list of sequence attributions", seqs);
  }
  const info = attrs.info && typeof attrs.info === "object" && !Array.isArray(attrs.info) ? (attrs.info as Record<string, unknown>) : {};
  return {
    sequenceAttributions: seqs.map((s, i) => decodeSequence(s, `${where}.sequence_attributions[${i}]`)),
    info: inseqInfo(info),
  };
}

/** Parses Inseq JSON text (NaN literals allowed) into output data. */
export function parseOutputDocument(text: string, where = "document"): OutputData {
  let doc: unknown;
  try {
    doc = parsePythonJson(text);
  } catch (err) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      `Expected Inseq attribution JSON for ${where} but the text could not be parsed: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return decodeOutputDocument(doc, where);
}
