/**
 * Rewriting one float tensor of a safetensors file in place, chunk by chunk (1 M values at a time, never the whole
 * tensor): its moments, and its replacement by seeded normals of those moments (randomize.ts). F32, F64, F16 and
 * BF16 (rounded to nearest even); big-endian hosts take the per-value path.
 */
import type { FileHandle } from "node:fs/promises";

import { abortError } from "../core/errors.js";
import { float16BitsToNumber, float16Table, float32ToFloat16Bits } from "../results/inseq-codecs.js";
import { FLOAT_DTYPE_BYTES, type CheckpointTensor } from "./checkpoint-tensors.js";
import { SeededNormal } from "./seeded-normal.js";


const CHUNK_ELEMENTS = 1 << 20;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if (Number.isNaN(value)) return (x >>> 16) | 0x0040;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The values of a chunk of little-endian `dtype` data as numbers (into `out`, at least `count` long). */
function decodeChunk(chunk: Buffer, count: number, dtype: string, out: Float64Array): void {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < count; i++) {
      out[i] = dtype === "F32" ? chunk.readFloatLE(4 * i) : dtype === "F64" ? chunk.readDoubleLE(8 * i)
        : dtype === "F16" ? float16BitsToNumber(chunk.readUInt16LE(2 * i)) : (u32[0] = chunk.readUInt16LE(2 * i) << 16, f32[0]!);
    }
    return;
  }
  // `chunk` starts its own ArrayBuffer (Buffer.alloc), so the views are aligned.
  if (dtype === "F32") out.set(new Float32Array(chunk.buffer, chunk.byteOffset, count));
  else if (dtype === "F64") out.set(new Float64Array(chunk.buffer, chunk.byteOffset, count));
  else {
    const h = new Uint16Array(chunk.buffer, chunk.byteOffset, count);
    if (dtype === "F16") {
      const table = float16Table();
      for (let i = 0; i < count; i++) out[i] = table[h[i]!]!;
    } else {
      for (let i = 0; i < count; i++) { u32[0] = h[i]! << 16; out[i] = f32[0]!; }
    }
  }
}

/** Writes `count` numbers into a chunk as little-endian `dtype` (F16 / BF16 rounded to nearest even). */
function encodeChunk(values: Float64Array, count: number, dtype: string, chunk: Buffer): void {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < count; i++) {
      const v = values[i]!;
      if (dtype === "F32") chunk.writeFloatLE(v, 4 * i);
      else if (dtype === "F64") chunk.writeDoubleLE(v, 8 * i);
      else chunk.writeUInt16LE(dtype === "F16" ? float32ToFloat16Bits(v) : bfloat16Bits(v), 2 * i);
    }
    return;
  }
  if (dtype === "F32") new Float32Array(chunk.buffer, chunk.byteOffset, count).set(values.subarray(0, count));
  else if (dtype === "F64") new Float64Array(chunk.buffer, chunk.byteOffset, count).set(values.subarray(0, count));
  else {
    const h = new Uint16Array(chunk.buffer, chunk.byteOffset, count);
    if (dtype === "F16") for (let i = 0; i < count; i++) h[i] = float32ToFloat16Bits(values[i]!);
    else for (let i = 0; i < count; i++) h[i] = bfloat16Bits(values[i]!);
  }
}

/** Visits the values of a tensor chunk by chunk: `visit(values, chunk, count, firstIndex)` (values decoded). */
async function forEachChunk(
  fh: FileHandle, t: CheckpointTensor,
  visit: (values: Float64Array, chunk: Buffer, count: number, first: number) => void | Promise<void>,
  decode = true,
): Promise<void> {
  const size = FLOAT_DTYPE_BYTES[t.dtype]!;
  const n = (t.end - t.begin) / size;
  const buf = Buffer.alloc(Math.min(n, CHUNK_ELEMENTS) * size);
  const values = new Float64Array(Math.min(n, CHUNK_ELEMENTS));
  for (let first = 0; first < n; first += CHUNK_ELEMENTS) {
    const count = Math.min(CHUNK_ELEMENTS, n - first);
    const chunk = buf.subarray(0, count * size);
    if (decode) {
      await fh.read(chunk, 0, chunk.length, t.begin + first * size);
      decodeChunk(chunk, count, t.dtype, values);
    }
    await visit(values, chunk, count, first);
  }
}

/** Mean and population standard deviation of a tensor's finite values (two passes, in float64). */
export async function tensorMoments(fh: FileHandle, t: CheckpointTensor): Promise<{ mean: number; std: number }> {
  let sum = 0, n = 0;
  await forEachChunk(fh, t, (values, _chunk, count) => {
    for (let i = 0; i < count; i++) {
      const v = values[i]!;
      if (Number.isFinite(v)) { sum += v; n++; }
    }
  });
  const mean = n > 0 ? sum / n : 0;
  let ss = 0;
  await forEachChunk(fh, t, (values, _chunk, count) => {
    for (let i = 0; i < count; i++) {
      const v = values[i]!;
      if (Number.isFinite(v)) ss += (v - mean) * (v - mean);
    }
  });
  return { mean, std: n > 0 ? Math.sqrt(ss / n) : 0 };
}

/** Overwrites one tensor of an open (copied) weight file with seeded normals of its own mean and std. */
export async function randomizeTensor(fh: FileHandle, t: CheckpointTensor, seed: number, signal?: AbortSignal): Promise<void> {
  const { mean, std } = await tensorMoments(fh, t);
  const rng = new SeededNormal(seed, t.name);
  const size = FLOAT_DTYPE_BYTES[t.dtype]!;
  await forEachChunk(fh, t, async (values, chunk, count, first) => {
    if (signal?.aborted) throw abortError(signal);
    for (let i = 0; i < count; i++) values[i] = mean + std * rng.normal();
    encodeChunk(values, count, t.dtype, chunk);
    await fh.write(chunk, 0, chunk.length, t.begin + first * size);
  }, false);
}
