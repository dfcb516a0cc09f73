/**
 * Reading the tensors of Inseq attribution files: base64 safetensors (one tensor named `"attribution"`; F32, F16,
 * BF16, F64, F8 and integer dtypes), json-tricks `__ndarray__` objects and nested lists, all to float32. Portable:
 * no Node built-ins (bytes through DataView, base64 through `Buffer` when present, else `atob`), so the browser
 * viewer decodes files with this same code. Gzip-compressed `__ndarray__` payloads (`b64.gz:`, very old files)
 * need a synchronous `gunzip`, which the Node side passes in (`inseq-json.ts`). Writing is `inseq-codecs.ts`.
 */
import { invalidOption, type InseqError } from "../core/errors.js";
import { bfloat16BitsToNumber, float16BitsToNumber, float16Table, float8e4m3fnToNumber, float8e5m2ToNumber } from "./float-formats.js";
import { numel } from "./tensor.js";

export interface DecodedSafetensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Float32Array;
}

/** Synchronous gunzip of a `b64.gz:` payload (Node passes `zlib.gunzipSync`; the browser has none). */
export type Gunzip = (bytes: Uint8Array) => Uint8Array;

/** A file whose content does not decode: `Expected <what> for <where in the file> but received <value>`. */
export function badFile(where: string, expected: string, value: unknown): InseqError {
  return invalidOption(where, expected, value);
}

type Base64Decoder = { from(text: string, encoding: "base64"): Uint8Array };

/** Bytes of a base64 string: Node's `Buffer` when there is one (fast), else `atob`. */
export function base64Bytes(text: string): Uint8Array {
  const buffer = (globalThis as { Buffer?: Base64Decoder }).Buffer;
  if (buffer) return buffer.from(text, "base64");
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Reads the tensor named `name` (or the only tensor) of a safetensors file, converted to float32. */
export function decodeSafetensors(bytes: Uint8Array, name = "attribution", where = "tensor"): DecodedSafetensor {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) throw badFile(where, "a safetensors blob (at least 8 bytes)", `${bytes.length} bytes`);
  const hlen = view.getUint32(0, true) + view.getUint32(4, true) * 0x100000000;
  if (8 + hlen > bytes.length) throw badFile(where, "a safetensors blob with a complete header", `${bytes.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen))) as Record<string, unknown>;
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
  if (dataEnd > bytes.length || dataStart > dataEnd) throw badFile(where, "safetensors data inside the blob", offsets);
  const n = numel(shape);
  const raw = bytes.subarray(dataStart, dataEnd);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  const need = (size: number) => {
    if (raw.length !== n * size) throw badFile(where, `${n * size} bytes of ${dtype} data`, raw.length);
  };
  switch (dtype) {
    case "F32":
      need(4);
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(raw);
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case "F16": {
      need(2);
      const table = float16Table();
      for (let i = 0; i < n; i++) out[i] = table[raw[2 * i]! | (raw[2 * i + 1]! << 8)]!;
      break;
    }
    case "BF16":
      need(2);
      for (let i = 0; i < n; i++) out[i] = bfloat16BitsToNumber(dv.getUint16(2 * i, true));
      break;
    case "F64":
      need(8);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
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
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      break;
    case "I32":
      need(4);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
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

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function flattenNested(value: unknown, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(value)) {
    if (shape.length <= depth) shape.push(value.length);
    for (const v of value) flattenNested(v, shape, out, depth + 1);
  } else {
    out.push(value === null ? NaN : typeof value === "boolean" ? Number(value) : Number(value));
  }
}

const NUMPY_DTYPES: Record<string, { size: number; read: (b: DataView, off: number) => number }> = {
  float32: { size: 4, read: (b, o) => b.getFloat32(o, true) },
  float64: { size: 8, read: (b, o) => b.getFloat64(o, true) },
  float16: { size: 2, read: (b, o) => float16BitsToNumber(b.getUint16(o, true)) },
  int8: { size: 1, read: (b, o) => b.getInt8(o) },
  uint8: { size: 1, read: (b, o) => b.getUint8(o) },
  bool: { size: 1, read: (b, o) => b.getUint8(o) },
  int16: { size: 2, read: (b, o) => b.getInt16(o, true) },
  uint16: { size: 2, read: (b, o) => b.getUint16(o, true) },
  int32: { size: 4, read: (b, o) => b.getInt32(o, true) },
  uint32: { size: 4, read: (b, o) => b.getUint32(o, true) },
  int64: { size: 8, read: (b, o) => Number(b.getBigInt64(o, true)) },
  uint64: { size: 8, read: (b, o) => Number(b.getBigUint64(o, true)) },
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

function decodeNdarray(obj: Record<string, unknown>, where: string, gunzip?: Gunzip): { shape: number[]; data: Float32Array } {
  const payload = obj.__ndarray__;
  const dtypeName = String(obj.dtype ?? "float32");
  const shape = Array.isArray(obj.shape) ? (obj.shape as number[]).map(Number) : undefined;
  if (typeof payload === "string") {
    let bytes: Uint8Array;
    if (payload.startsWith("b64.gz:")) {
      if (!gunzip) throw badFile(where, "a numpy array payload this reader can inflate (open gzip-compressed arrays with the CLI)", "b64.gz:…");
      bytes = gunzip(base64Bytes(payload.slice(7)));
    } else if (payload.startsWith("b64:")) bytes = base64Bytes(payload.slice(4));
    else throw badFile(where, 'a numpy array payload starting with "b64:" or "b64.gz:"', payload);
    const dt = NUMPY_DTYPES[dtypeName.replace(/^[<|=]/, "").replace(/^f4$/, "float32")];
    if (!dt) throw badFile(where, "a numeric numpy dtype", dtypeName);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = bytes.length / dt.size;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = dt.read(view, i * dt.size);
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
export function decodeTensorValue(value: unknown, where: string, gunzip?: Gunzip): { shape: number[]; data: Float32Array } | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") {
    const d = decodeSafetensors(base64Bytes(value), "attribution", where);
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
    if ("__ndarray__" in obj) return decodeNdarray(obj, where, gunzip);
    // A torch tensor or numpy array wrapped as an instance (very old files)
    if ("attributes" in obj) return decodeTensorValue(obj.attributes, where, gunzip);
  }
  throw badFile(where, "a tensor (base64 safetensors string, __ndarray__ object or list)", value);
}
