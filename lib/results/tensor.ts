/**
 * A minimal dense float32 tensor for attribution scores: row-major (C order) data with named dims.
 * Only what the result objects, aggregation and (de)serialisation need; no broadcasting.
 */
import { InseqError, ErrorCode, invalidOption } from "../core/errors.js";

export interface ScoreTensor {
  /** One name per axis, e.g. `["source", "generated", "hidden"]`. */
  dims: string[];
  /** Axis lengths; `data.length` equals their product. */
  shape: number[];
  /** Row-major (C order) values; NaN marks "no score" (e.g. non-causal target positions). */
  data: Float32Array;
}

/** Number of elements of a shape (1 for a scalar shape `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i]!;
  }
  return strides;
}

/** Builds a tensor, checking shape/dims/data agree. `data` defaults to zeros; number arrays are copied. */
export function createTensor(
  dims: readonly string[],
  shape: readonly number[],
  data?: Float32Array | ArrayLike<number>,
): ScoreTensor {
  if (dims.length !== shape.length) {
    throw invalidOption("dims", `${shape.length} dimension names (one per axis of shape [${shape.join(", ")}])`, [...dims]);
  }
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw invalidOption("shape", "non-negative integer axis lengths", s);
  }
  const n = numel(shape);
  let values: Float32Array;
  if (data === undefined) values = new Float32Array(n);
  else if (data instanceof Float32Array) values = data;
  else values = Float32Array.from(data as ArrayLike<number>);
  if (values.length !== n) {
    throw invalidOption("data", `${n} values for shape [${shape.join(", ")}]`, values.length);
  }
  return { dims: [...dims], shape: [...shape], data: values };
}

/** A tensor of the given shape filled with `value`. */
export function fullTensor(dims: readonly string[], shape: readonly number[], value: number): ScoreTensor {
  const t = createTensor(dims, shape);
  t.data.fill(value);
  return t;
}

/** Deep copy. */
export function cloneTensor(t: ScoreTensor): ScoreTensor {
  return { dims: [...t.dims], shape: [...t.shape], data: new Float32Array(t.data) };
}

/** Flat offset of a full index. */
export function offsetOf(t: ScoreTensor, index: readonly number[]): number {
  if (index.length !== t.shape.length) {
    throw invalidOption("index", `${t.shape.length} indices`, [...index]);
  }
  let off = 0;
  let stride = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    const k = index[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= t.shape[i]!) {
      throw invalidOption(`index[${i}]`, `an integer in [0, ${t.shape[i]})`, k);
    }
    off += k * stride;
    stride *= t.shape[i]!;
  }
  return off;
}

export function getValue(t: ScoreTensor, ...index: number[]): number {
  return t.data[offsetOf(t, index)]!;
}

export function setValue(t: ScoreTensor, index: readonly number[], value: number): void {
  t.data[offsetOf(t, index)] = value;
}

/** Copy of `t[..., start:end, ...]` along `dim` (end exclusive, clamped like Python slices for non-negative bounds). */
export function sliceDim(t: ScoreTensor, dim: number, start: number, end?: number): ScoreTensor {
  if (!Number.isInteger(dim) || dim < 0 || dim >= t.shape.length) {
    throw invalidOption("dim", `an axis in [0, ${t.shape.length})`, dim);
  }
  const len = t.shape[dim]!;
  const norm = (v: number) => (v < 0 ? Math.max(0, len + v) : Math.min(len, v));
  const s = norm(start);
  const e = Math.max(s, norm(end ?? len));
  const outer = numel(t.shape.slice(0, dim));
  const inner = numel(t.shape.slice(dim + 1));
  const count = e - s;
  const out = new Float32Array(outer * count * inner);
  for (let o = 0; o < outer; o++) {
    const src = (o * len + s) * inner;
    out.set(t.data.subarray(src, src + count * inner), o * count * inner);
  }
  const shape = [...t.shape];
  shape[dim] = count;
  return { dims: [...t.dims], shape, data: out };
}

/** `t[start:end]` (attributed tokens). */
export function sliceDim0(t: ScoreTensor, start: number, end?: number): ScoreTensor {
  return sliceDim(t, 0, start, end);
}

/** `t[:, start:end]` (generated steps). */
export function sliceDim1(t: ScoreTensor, start: number, end?: number): ScoreTensor {
  return sliceDim(t, 1, start, end);
}

/** Picks one index along `dim`, dropping that axis. */
export function selectIndex(t: ScoreTensor, dim: number, index: number): ScoreTensor {
  const len = t.shape[dim]!;
  const k = index < 0 ? len + index : index;
  if (!Number.isInteger(k) || k < 0 || k >= len) throw invalidOption("index", `an integer in [${-len}, ${len})`, index);
  const sliced = sliceDim(t, dim, k, k + 1);
  sliced.shape.splice(dim, 1);
  sliced.dims.splice(dim, 1);
  return sliced;
}

/** Picks several indices (in the given order) along `dim`, keeping the axis. */
export function gatherDim(t: ScoreTensor, dim: number, indices: readonly number[]): ScoreTensor {
  const len = t.shape[dim]!;
  const parts = indices.map((index) => {
    const k = index < 0 ? len + index : index;
    if (!Number.isInteger(k) || k < 0 || k >= len) throw invalidOption("index", `an integer in [${-len}, ${len})`, index);
    return sliceDim(t, dim, k, k + 1);
  });
  if (parts.length === 0) return sliceDim(t, dim, 0, 0);
  return concatDim(parts, dim);
}

/** Concatenates tensors along `dim`; all other axes must match. */
export function concatDim(tensors: readonly ScoreTensor[], dim: number): ScoreTensor {
  if (tensors.length === 0) throw invalidOption("tensors", "at least one tensor", 0);
  const first = tensors[0]!;
  for (const t of tensors) {
    if (t.shape.length !== first.shape.length || t.shape.some((s, i) => i !== dim && s !== first.shape[i])) {
      throw new InseqError(
        ErrorCode.INVALID_OPTION,
        `Cannot concatenate tensors of shapes [${first.shape.join(", ")}] and [${t.shape.join(", ")}] along axis ${dim}`,
      );
    }
  }
  const outer = numel(first.shape.slice(0, dim));
  const inner = numel(first.shape.slice(dim + 1));
  const total = tensors.reduce((a, t) => a + t.shape[dim]!, 0);
  const out = new Float32Array(outer * total * inner);
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of tensors) {
      const chunk = t.shape[dim]! * inner;
      out.set(t.data.subarray(o * chunk, (o + 1) * chunk), pos);
      pos += chunk;
    }
  }
  const shape = [...first.shape];
  shape[dim] = total;
  return { dims: [...first.dims], shape, data: out };
}

/** Copy with NaN replaced by 0 (and, like `torch.nan_to_num`, ±Infinity by the float32 extremes). */
export function nanToZero(t: ScoreTensor): ScoreTensor {
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = t.data[i]!;
    out[i] = Number.isNaN(v) ? 0 : v === Infinity ? 3.4028234663852886e38 : v === -Infinity ? -3.4028234663852886e38 : v;
  }
  return { dims: [...t.dims], shape: [...t.shape], data: out };
}

/** Element-wise map into a new tensor. */
export function mapTensor(t: ScoreTensor, fn: (v: number, i: number) => number): ScoreTensor {
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = fn(t.data[i]!, i);
  return { dims: [...t.dims], shape: [...t.shape], data: out };
}

/**
 * Reduces the last axis with `fn`, which receives the values of one fibre (a fresh array it may keep).
 * A tensor of shape `[a, b, k]` becomes `[a, b]`.
 */
export function reduceLastDim(t: ScoreTensor, fn: (values: Float32Array) => number): ScoreTensor {
  if (t.shape.length === 0) throw invalidOption("tensor", "a tensor with at least one axis", "a scalar");
  const k = t.shape[t.shape.length - 1]!;
  const outer = numel(t.shape.slice(0, -1));
  const out = new Float32Array(outer);
  for (let o = 0; o < outer; o++) out[o] = fn(t.data.slice(o * k, (o + 1) * k));
  return { dims: t.dims.slice(0, -1), shape: t.shape.slice(0, -1), data: out };
}

/** Copy with a new shape and dim names (same element count, same row-major order). */
export function reshape(t: ScoreTensor, dims: readonly string[], shape: readonly number[]): ScoreTensor {
  return createTensor(dims, shape, new Float32Array(t.data));
}

/** Largest finite |value| (NaN ignored); 0 for an empty tensor. */
export function maxAbs(t: ScoreTensor): number {
  let m = 0;
  for (const v of t.data) if (!Number.isNaN(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

/** Min and max with NaN treated as 0 (Inseq's `minimum`/`maximum` also clamp to include 0). */
export function minMaxNanAsZero(t: ScoreTensor): { min: number; max: number } {
  let min = 0;
  let max = 0;
  for (const v of t.data) {
    const x = Number.isNaN(v) ? 0 : v;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min, max };
}

/** Shapes equal and values within `atol` (NaN equals NaN), like `torch.allclose(equal_nan=True)`. */
export function tensorsClose(a: ScoreTensor, b: ScoreTensor, atol = 1e-5, rtol = 0): boolean {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i])) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i]!;
    const y = b.data[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y))) return false;
      continue;
    }
    if (x === y) continue;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return false;
  }
  return true;
}

/** Nested plain arrays (for debugging and `toJSON`-style dumps). */
export function toNestedArray(t: ScoreTensor): unknown {
  const build = (dim: number, offset: number): unknown => {
    if (dim === t.shape.length) return t.data[offset];
    const stride = numel(t.shape.slice(dim + 1));
    const out: unknown[] = [];
    for (let i = 0; i < t.shape[dim]!; i++) out.push(build(dim + 1, offset + i * stride));
    return out;
  };
  return build(0, 0);
}
