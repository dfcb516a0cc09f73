/**
 * The tensor codecs of Inseq attribution files: every tensor is a base64 string of a safetensors file holding one
 * tensor named `"attribution"` (F32 or F16 when saving; F32, F16, BF16, F64, F8 and integer dtypes when loading),
 * and older files hold json-tricks `__ndarray__` objects or nested lists. Half precision and the float8 formats
 * are converted by hand (round to nearest even, NaN kept). The document around them is `inseq-json.ts`.
 */
import { gunzipSync } from "node:zlib";
import { invalidOption, type InseqError } from "../core/errors.js";
import { numel } from "./tensor.js";

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

/** All 65536 half-precision values, for fast decoding (computed once). */
export function float16Table(): Float32Array {
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
 * The first bytes of a safetensors file holding `count` values of shape `shape` as one tensor named `name`:
 * u64 LE header length, then the compact JSON header padded with spaces to a multiple of 8 bytes.
 */
export function safetensorsHeader(shape: readonly number[], count: number, precision: ScoresPrecision = "float32", name = "attribution"): Buffer {
  const nbytes = count * (precision === "float16" ? 2 : 4);
  const headerObj = {
    [name]: { dtype: precision === "float16" ? "F16" : "F32", shape: [...shape], data_offsets: [0, nbytes] },
  };
  let header = JSON.stringify(headerObj);
  const headerBytes = Buffer.byteLength(header, "utf8");
  header += " ".repeat((8 - (headerBytes % 8)) % 8);
  const hlen = Buffer.byteLength(header, "utf8");
  const out = Buffer.alloc(8 + hlen);
  out.writeUInt32LE(hlen % 0x100000000, 0);
  out.writeUInt32LE(Math.floor(hlen / 0x100000000), 4);
  out.write(header, 8, "utf8");
  return out;
}

/** Little-endian bytes of `data` in `precision` (float16: round to nearest even, NaN kept). */
export function tensorDataBytes(data: Float32Array, precision: ScoresPrecision = "float32"): Buffer {
  const out = Buffer.alloc(data.length * (precision === "float16" ? 2 : 4));
  if (precision === "float16") {
    for (let i = 0; i < data.length; i++) out.writeUInt16LE(float32ToFloat16Bits(data[i]!), 2 * i);
  } else if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } else {
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, 4 * i);
  }
  return out;
}

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
  return Buffer.concat([safetensorsHeader(shape, data.length, precision, name), tensorDataBytes(data, precision)]);
}

/** Values per chunk of `tensorValueChunks` (256 KiB of float32). */
export const TENSOR_CHUNK_VALUES = 65536;

/**
 * `encodeTensorValue` piece by piece: the base64 text of the one-tensor safetensors file in ASCII chunks whose
 * concatenation is exactly `encodeTensorValue(t, precision)`. Holds at most `chunkValues` values (as bytes and
 * as base64) at a time, whatever the size of the tensor.
 */
export function* tensorValueChunks(
  t: { shape: readonly number[]; data: Float32Array },
  precision: ScoresPrecision,
  chunkValues = TENSOR_CHUNK_VALUES,
): Generator<Buffer> {
  let carry: Buffer = safetensorsHeader(t.shape, t.data.length, precision);
  for (let start = 0; start < t.data.length; start += chunkValues) {
    const bytes = Buffer.concat([carry, tensorDataBytes(t.data.subarray(start, start + chunkValues), precision)]);
    const whole = bytes.length - (bytes.length % 3); // base64 of 3-byte groups concatenates
    yield Buffer.from(bytes.subarray(0, whole).toString("base64"), "latin1");
    carry = bytes.subarray(whole);
  }
  if (carry.length > 0) yield Buffer.from(carry.toString("base64"), "latin1");
}

export interface DecodedSafetensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Float32Array;
}

/** A file whose content does not decode: `Expected <what> for <where in the file> but received <value>`. */
export function badFile(where: string, expected: string, value: unknown): InseqError {
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

