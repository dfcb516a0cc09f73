/**
 * The `scores` aggregator (Inseq's `SequenceAttributionAggregator`): reduces the LAST axis of the source/target
 * attributions and of every sequence-scores tensor with an aggregation function, then (by default) L1-normalises
 * each generated-token column over the source + target rows together.
 *
 * Pure functions over tensors, and `aggregateSequenceScores` over a sequence output (what
 * `FeatureAttributionSequenceOutput.aggregateScores()` runs).
 */
import { InseqError, ErrorCode, invalidOption } from "../core/errors.js";
import { numel, reduceLastDim, selectIndex, gatherDim, type ScoreTensor } from "../results/tensor.js";
import type { SequenceOutput } from "../results/types.js";
import { getAggregationFunction, type AggregationFunction, type AggregationFunctionOptions, type BuiltinAggregationFunctionId } from "./functions.js";

/** Built-in aggregation function ids (functions.ts's table). */
export type AggregationFunctionId = BuiltinAggregationFunctionId;

/**
 * Indices of the last axis to keep before reducing (Inseq's `select_idx`):
 * a number picks one index and skips the reduction; `{ start, end }` is a span (end exclusive);
 * an array lists individual indices. Negative indices count from the end.
 */
export type SelectIdx = number | readonly number[] | { start: number; end: number };

export interface ScoresAggregationOptions extends AggregationFunctionOptions {
  /** L1-normalise each generated-token column over source + target rows (default: true unless `rescale`). */
  normalize?: boolean;
  /** Divide by the global max |value| instead of normalising (range [-1, 1]). Exclusive with `normalize`. */
  rescale?: boolean;
  selectIdx?: SelectIdx;
}

/** Inseq's `F.normalize` epsilon. */
export const NORMALIZE_EPS = 1e-12;

export interface ScoresFields {
  sourceAttributions: ScoreTensor | null;
  targetAttributions: ScoreTensor | null;
  sequenceScores: Record<string, ScoreTensor>;
}

function resolveIndices(len: number, select: SelectIdx | undefined): number[] | number {
  if (select === undefined) return Array.from({ length: len }, (_, i) => i);
  const norm = (i: number, max: number) => {
    if (!Number.isInteger(i) || i < -len || i >= max) {
      throw invalidOption("selectIdx", `indices in [${-len}, ${max})`, i);
    }
    return i < 0 ? len + i : i;
  };
  if (typeof select === "number") return norm(select, len);
  if (Array.isArray(select)) {
    const arr = select as readonly number[];
    if (arr.length === 0) throw invalidOption("selectIdx", "a non-empty list of indices", arr);
    const out = arr.map((i) => norm(i, len));
    if (new Set(out).size !== out.length) throw invalidOption("selectIdx", "a list without duplicate indices", arr);
    return out;
  }
  const span = select as { start: number; end: number };
  if (typeof span.start !== "number" || typeof span.end !== "number") {
    throw invalidOption("selectIdx", "a number, an array of numbers or { start, end }", select);
  }
  const start = norm(span.start, len + 1);
  const end = norm(span.end, len + 1);
  if (start >= end) throw invalidOption("selectIdx", "a span with start < end", `${span.start}..${span.end}`);
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/** Filters (and, unless one index was selected, reduces) the last axis of one tensor. */
export function reduceLast(
  t: ScoreTensor,
  fn: AggregationFunction,
  options: AggregationFunctionOptions & { selectIdx?: SelectIdx } = {},
): ScoreTensor {
  const last = t.shape.length - 1;
  if (last < 0) throw invalidOption("tensor", "a tensor with at least one axis", "a scalar");
  const idx = resolveIndices(t.shape[last]!, options.selectIdx);
  if (typeof idx === "number") return selectIndex(t, last, idx);
  const filtered = options.selectIdx === undefined ? t : gatherDim(t, last, idx);
  return reduceLastDim(filtered, (v) => fn.reduce(v, options));
}

function checkJointShapes(tensors: ScoreTensor[]): void {
  const ref = tensors[0]!;
  for (const t of tensors) {
    if (t.shape.length !== ref.shape.length || t.shape.some((s, i) => i > 0 && s !== ref.shape[i])) {
      throw new InseqError(
        ErrorCode.INVALID_OPTION,
        `Source and target attributions must agree on all axes but the first to be normalised together; ` +
          `got [${ref.shape.join(", ")}] and [${t.shape.join(", ")}]`,
      );
    }
  }
}

/**
 * L1 normalisation along axis 0 over the given tensors stacked on axis 0 (Inseq's `normalize`): NaN counted as 0,
 * each column divided by max(sum |x|, 1e-12), NaN kept where it was. Returns new tensors.
 */
export function normalizeJoint(tensors: ScoreTensor[]): ScoreTensor[] {
  if (tensors.length === 0) return [];
  checkJointShapes(tensors);
  const inner = numel(tensors[0]!.shape.slice(1));
  const sums = new Float64Array(inner);
  for (const t of tensors) {
    const rows = t.shape[0]!;
    for (let r = 0; r < rows; r++) {
      const base = r * inner;
      for (let j = 0; j < inner; j++) {
        const v = t.data[base + j]!;
        if (!Number.isNaN(v)) sums[j] += Math.abs(v);
      }
    }
  }
  return tensors.map((t) => {
    const out = new Float32Array(t.data.length);
    const rows = t.shape[0]!;
    for (let r = 0; r < rows; r++) {
      const base = r * inner;
      for (let j = 0; j < inner; j++) {
        const v = t.data[base + j]!;
        out[base + j] = Number.isNaN(v) ? NaN : v / Math.max(sums[j]!, NORMALIZE_EPS);
      }
    }
    return { dims: [...t.dims], shape: [...t.shape], data: out };
  });
}

/** Divides all tensors by their joint max |value| (NaN ignored and kept). A zero maximum leaves the values as is. */
export function rescaleJoint(tensors: ScoreTensor[]): ScoreTensor[] {
  let m = 0;
  for (const t of tensors) for (const v of t.data) if (!Number.isNaN(v) && Math.abs(v) > m) m = Math.abs(v);
  return tensors.map((t) => {
    const out = new Float32Array(t.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = t.data[i]!;
      out[i] = Number.isNaN(v) || m === 0 ? v : v / m;
    }
    return { dims: [...t.dims], shape: [...t.shape], data: out };
  });
}

/** Normalises (default) or rescales source/target jointly, following the `normalize`/`rescale` options. */
export function postProcessScores(
  source: ScoreTensor | null,
  target: ScoreTensor | null,
  options: { normalize?: boolean; rescale?: boolean },
): { source: ScoreTensor | null; target: ScoreTensor | null } {
  if (options.normalize && options.rescale) {
    throw invalidOption("normalize/rescale", "at most one of normalize and rescale set to true", "both true");
  }
  const normalize = options.normalize ?? !options.rescale;
  const present = [source, target].filter((t): t is ScoreTensor => t !== null);
  if (present.length === 0 || (!normalize && !options.rescale)) return { source, target };
  const processed = normalize ? normalizeJoint(present) : rescaleJoint(present);
  let k = 0;
  return { source: source ? processed[k++]! : null, target: target ? processed[k++]! : null };
}

/**
 * Applies the `scores` aggregator with function `fnId` to the attribution fields: reduces the last axis of
 * source/target attributions (which must have at least one axis beyond [attributed, generated]) and of every
 * sequence-scores tensor, then normalises/rescales source + target together.
 */
export function aggregateScoresFields(
  fields: ScoresFields,
  fnId: AggregationFunctionId | (string & {}),
  options: ScoresAggregationOptions = {},
): ScoresFields {
  const fn = getAggregationFunction(fnId);
  if (options.normalize && options.rescale) {
    throw invalidOption("normalize/rescale", "at most one of normalize and rescale set to true", "both true");
  }
  for (const [name, t] of [
    ["sourceAttributions", fields.sourceAttributions],
    ["targetAttributions", fields.targetAttributions],
  ] as const) {
    if (t && t.shape.length < 3) {
      throw invalidOption(
        name,
        "attributions with an axis beyond [attributed, generated] to aggregate",
        `a tensor of shape [${t.shape.join(", ")}]`,
      );
    }
  }
  const fnOptions = { vnormOrd: options.vnormOrd, selectIdx: options.selectIdx };
  const src = fields.sourceAttributions ? reduceLast(fields.sourceAttributions, fn, fnOptions) : null;
  const tgt = fields.targetAttributions ? reduceLast(fields.targetAttributions, fn, fnOptions) : null;
  const post = postProcessScores(src, tgt, options);
  let sequenceScores: Record<string, ScoreTensor> = fields.sequenceScores;
  if (!fn.takesSequenceScores) {
    sequenceScores = {};
    for (const [name, t] of Object.entries(fields.sequenceScores)) {
      sequenceScores[name] = t.shape.length > 0 ? reduceLast(t, fn, fnOptions) : t;
    }
  }
  return { sourceAttributions: post.source, targetAttributions: post.target, sequenceScores };
}

/**
 * Inseq's `scores` aggregator on a sequence output: reduces the last axis of the attributions (and of every
 * sequence-scores tensor) with `fn`, then L1-normalises each generated-token column over source + target rows
 * (`normalize`, default) or divides by the global max |value| (`rescale`). Step scores are kept. Returns a new
 * output of the same kind (and class), with one extra axis fewer.
 */
export function aggregateSequenceScores(
  seq: SequenceOutput,
  fn: AggregationFunctionId | (string & {}),
  options: ScoresAggregationOptions = {},
): SequenceOutput {
  const out = aggregateScoresFields(
    { sourceAttributions: seq.sourceAttributions, targetAttributions: seq.targetAttributions, sequenceScores: seq.sequenceScores },
    fn,
    options,
  );
  return seq.with({ ...out, extraDimNames: seq.extraDimNames.slice(0, -1) }, { validate: false });
}
