/**
 * The tensor codecs of Inseq attribution files: every tensor is a base64 string of a safetensors file holding one
 * tensor named `"attribution"` (F32 or F16 when saving; F32, F16, BF16, F64, F8 and integer dtypes when loading),
 * and older files hold json-tricks `__ndarray__` objects or nested lists. This module writes them (Node `Buffer`);
 * reading is the portable `tensor-decode.ts` (re-exported here), the float formats `float-formats.ts`. The document
 * around them is `inseq-json.ts`.
 */
import { gunzipSync } from "node:zlib";
import { float32ToFloat16Bits } from "./float-formats.js";
import { decodeTensorValue as decodePortable } from "./tensor-decode.js";

export { float16BitsToNumber, float16Table, float32ToFloat16Bits } from "./float-formats.js";
export { badFile, decodeSafetensors, type DecodedSafetensor } from "./tensor-decode.js";

/** Decodes any tensor encoding Inseq files use (gzip-compressed `__ndarray__` payloads included). */
export function decodeTensorValue(value: unknown, where: string): { shape: number[]; data: Float32Array } | null {
  return decodePortable(value, where, gunzipSync);
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

// ---------------------------------------------------------------------------------------------------------------
// Tensor values inside the JSON
// ---------------------------------------------------------------------------------------------------------------

/** A tensor as Python Inseq stores it: base64 of a one-tensor safetensors file. */
export function encodeTensorValue(t: { shape: readonly number[]; data: Float32Array }, precision: ScoresPrecision): string {
  return encodeSafetensors(t.shape, t.data, precision).toString("base64");
}
