/**
 * Aggregation functions (Inseq's `list_aggregation_functions()`): each reduces one fibre of scores (the values
 * along the reduced axis) to a single number. Used by the `scores` aggregator on the last axis.
 *
 * Values are accumulated in float64 and stored back as float32; NaN propagates like in torch (except `absmax`,
 * which picks its argmax with NaN treated as 0, as Inseq does).
 */
import { invalidOption } from "../core/errors.js";

/** Options a function may read (unknown keys are ignored by functions that do not use them). */
export interface AggregationFunctionOptions {
  /** Order of the vector norm for `vnorm` (Inseq's `vnorm_ord`, default 2; `Infinity` gives max |x|). */
  vnormOrd?: number;
}

export interface AggregationFunction {
  readonly id: string;
  /** Reduces one fibre. `values` is a fresh array the function may modify. */
  reduce(values: Float32Array, options: AggregationFunctionOptions): number;
  /** Inseq's `takes_single_tensor`: source and target tensors are reduced separately (true for all built-ins). */
  readonly takesSingleTensor: boolean;
  /** Inseq's `takes_sequence_scores`: the function also needs `sequenceScores` (none built in). */
  readonly takesSequenceScores: boolean;
}

function define<I extends string>(id: I, reduce: AggregationFunction["reduce"]): AggregationFunction & { readonly id: I } {
  return Object.freeze({ id, reduce, takesSingleTensor: true, takesSequenceScores: false });
}

const builtIns = [
  define("mean", (v) => {
    if (v.length === 0) return NaN;
    let s = 0;
    for (const x of v) s += x;
    return s / v.length;
  }),
  define("max", (v) => {
    if (v.length === 0) return NaN;
    let m = -Infinity;
    for (const x of v) {
      if (Number.isNaN(x)) return NaN;
      if (x > m) m = x;
    }
    return m;
  }),
  define("min", (v) => {
    if (v.length === 0) return NaN;
    let m = Infinity;
    for (const x of v) {
      if (Number.isNaN(x)) return NaN;
      if (x < m) m = x;
    }
    return m;
  }),
  define("sum", (v) => {
    let s = 0;
    for (const x of v) s += x;
    return s;
  }),
  define("prod", (v) => {
    let p = 1;
    for (const x of v) p *= x;
    return p;
  }),
  define("absmax", (v) => {
    if (v.length === 0) return NaN;
    let best = 0;
    let bestAbs = -1;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      const a = Number.isNaN(x) ? 0 : Math.abs(x);
      if (a > bestAbs) {
        bestAbs = a;
        best = i;
      }
    }
    return v[best]!;
  }),
  define("vnorm", (v, options) => {
    const ord = options.vnormOrd ?? 2;
    let hasNaN = false;
    for (const x of v) if (Number.isNaN(x)) hasNaN = true;
    if (hasNaN) return NaN;
    if (ord === Infinity) {
      let m = 0;
      for (const x of v) m = Math.max(m, Math.abs(x));
      return m;
    }
    if (ord === -Infinity) {
      let m = Infinity;
      for (const x of v) m = Math.min(m, Math.abs(x));
      return v.length === 0 ? 0 : m;
    }
    if (ord === 0) {
      let n = 0;
      for (const x of v) if (x !== 0) n++;
      return n;
    }
    if (ord === 2) {
      // Scaled to avoid overflow/underflow of the squares.
      let scale = 0;
      for (const x of v) scale = Math.max(scale, Math.abs(x));
      if (scale === 0 || !Number.isFinite(scale)) return scale;
      let s = 0;
      for (const x of v) {
        const y = x / scale;
        s += y * y;
      }
      return scale * Math.sqrt(s);
    }
    let s = 0;
    for (const x of v) s += Math.abs(x) ** ord;
    return s ** (1 / ord);
  }),
] as const;

/** Ids of the built-in aggregation functions, from the table above. */
export type BuiltinAggregationFunctionId = (typeof builtIns)[number]["id"];

const registry = new Map<string, AggregationFunction>(builtIns.map((f) => [f.id, f]));

/** Ids of the built-in and registered aggregation functions. */
export function listAggregationFunctions(): string[] {
  return [...registry.keys()];
}

/** Looks up an aggregation function by id; throws ERR_INVALID_OPTION listing the valid ids. */
export function getAggregationFunction(id: string): AggregationFunction {
  const fn = registry.get(id);
  if (!fn) throw invalidOption("aggregate function", `one of ${[...registry.keys()].join(", ")}`, id);
  return fn;
}

/** Adds a custom aggregation function (`overwrite` needed to replace an existing id). */
export function registerAggregationFunction(
  id: string,
  reduce: AggregationFunction["reduce"],
  options: { overwrite?: boolean } = {},
): void {
  if (typeof id !== "string" || id.length === 0) throw invalidOption("id", "a non-empty string", id);
  if (registry.has(id) && !options.overwrite) {
    throw invalidOption("id", "an id that is not registered yet (pass overwrite: true to replace it)", id);
  }
  registry.set(id, define(id, reduce));
}
