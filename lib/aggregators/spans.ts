/**
 * The `spans` aggregator (Inseq's `ContiguousSpanAggregator`) and the span machinery that `subwords`, `split` and
 * `slices` build on.
 *
 * `sourceSpans` / `targetSpans` are `[start, end)` positions of `source` / the full `target` (prompt or decoder
 * prefix included). Merging a span:
 * - tokens: one token whose string is the concatenation of the span's strings, id -1;
 * - attributions: the span's rows (attributed tokens) are reduced into one row; for target spans, the span's
 *   generated columns too (spans relativised to `attrPosStart`; spans inside the prefix touch rows only; a span
 *   straddling the generation start merges its generated part of the columns). Columns first, then rows, like
 *   Inseq. Any extra axes (e.g. hidden size) are kept;
 * - step scores: each one with its own span function (`probability` → prod, `entropy` → sum, ...; see
 *   `stepScoreSpanFunction`), unless an explicit `aggregateFn` is given, which then applies to every field as in
 *   Inseq;
 * - `attrPosStart` / `attrPosEnd` follow the merged positions (a straddling span becomes the first generated token).
 *
 * Decoder-only outputs (no source attributions, `source` = `target[:attrPosStart]`): the source always stays
 * `target[:attrPosStart]` of the merged target (Inseq aggregates it separately, which can disagree with the new
 * `attrPosStart`), so `sourceSpans` is rejected there.
 */
import { ErrorCode, InseqError, describeValue, invalidOption } from "../core/errors.js";
import type { SequenceOutput, TokenWithId } from "../results/types.js";
import { numel, type ScoreTensor } from "../results/tensor.js";
import { resolveStepFunction } from "../attribution/registry.js";
import { getAggregationFunction, type AggregationFunction, type AggregationFunctionOptions } from "./functions.js";
import type { AggregatorOptions, SequenceAggregator, Span, SpanInput } from "./types.js";

/** A validated `[start, end)` span. */
export type SpanTuple = [number, number];

/**
 * Inseq's `DEFAULT_ATTRIBUTION_AGGREGATE_DICT["step_scores"]["spans"]`, plus `deltas` (added by granular outputs)
 * and `logprob` (our alias for `probability` with `logprob: true`: log-probabilities add up where probabilities
 * multiply). Other ids use the span function they were registered with (`registerStepFunction`), else `absmax`.
 */
export const STEP_SCORE_SPAN_FUNCTIONS: Readonly<Record<string, string>> = Object.freeze({
  probability: "prod",
  entropy: "sum",
  crossentropy: "sum",
  perplexity: "prod",
  contrast_prob_diff: "prod",
  contrast_prob: "prod",
  pcxmi: "sum",
  kl_divergence: "sum",
  mc_dropout_prob_avg: "prod",
  deltas: "absmax",
  logprob: "sum",
});

/** Default span aggregation of the attributions and sequence scores (Inseq's `spans` family default). */
export const DEFAULT_SPAN_FUNCTION = "absmax";

/** The aggregation function id used to merge the step score `name` over a span. */
export function stepScoreSpanFunction(name: string): string {
  const known = STEP_SCORE_SPAN_FUNCTIONS[name];
  if (known) return known;
  try {
    return resolveStepFunction(name).def.spanAggregate;
  } catch {
    return DEFAULT_SPAN_FUNCTION;
  }
}

function spanPair(span: unknown): [unknown, unknown] | null {
  if (Array.isArray(span) && span.length === 2) return [span[0], span[1]];
  if (span !== null && typeof span === "object" && !Array.isArray(span) && "start" in span && "end" in span) {
    return [(span as { start: unknown }).start, (span as { end: unknown }).end];
  }
  return null;
}

/**
 * Normalises and validates spans (Inseq's `format_spans` + `validate_spans`): a single `[start, end]` or
 * `{ start, end }`, or a list of them; non-overlapping, ascending, `0 <= start`, `end <= length` and at least
 * `minLength` tokens each (2 for merging, as Inseq; 1 for slicing). `null` / `undefined` / `[]` give no spans.
 */
export function normalizeSpans(input: SpanInput | null | undefined, length: number, name: string, minLength = 2): SpanTuple[] {
  if (input === undefined || input === null) return [];
  const raw = input as unknown;
  let list: unknown[];
  if (Array.isArray(raw) && raw.length === 0) return [];
  if (Array.isArray(raw) && typeof raw[0] === "number") list = [raw];
  else if (Array.isArray(raw)) list = raw;
  else list = [raw];
  const expected = `[start, end) spans (a [start, end] pair, { start, end }, or a list of them) with integer bounds, ` +
    `0 <= start, end <= ${length}, at least ${minLength} token${minLength === 1 ? "" : "s"} each, non-overlapping and ascending`;
  const out: SpanTuple[] = [];
  let prevEnd = 0;
  for (const span of list) {
    const pair = spanPair(span);
    if (!pair) throw invalidOption(name, expected, span);
    const [s, e] = pair;
    if (typeof s !== "number" || typeof e !== "number" || !Number.isInteger(s) || !Number.isInteger(e)) {
      throw invalidOption(name, expected, span);
    }
    if (s < 0 || e > length || e - s < minLength || s < prevEnd) {
      throw new InseqError(
        ErrorCode.INVALID_OPTION,
        `Expected ${expected} for ${name} but received [${s}, ${e}]${out.length ? ` after [${out.at(-1)!.join(", ")}]` : ""}`,
      );
    }
    out.push([s, e]);
    prevEnd = e;
  }
  return out;
}

/** Keeps the parts of `spans` inside `[0, length)`, dropping empty ones. */
export function clipSpans(spans: readonly SpanTuple[], length: number): SpanTuple[] {
  const out: SpanTuple[] = [];
  for (const [s, e] of spans) {
    const cs = Math.max(0, s);
    const ce = Math.min(length, e);
    if (ce > cs) out.push([cs, ce]);
  }
  return out;
}

/**
 * Target spans as generated-column spans (Inseq's `_relativize_target_spans`): spans inside the prefix are dropped,
 * the others shifted by `-start` (a straddling span keeps its generated part), clipped to `nSteps` columns.
 */
export function relativizeTargetSpans(spans: readonly SpanTuple[], start: number, nSteps: number): SpanTuple[] {
  const rel: SpanTuple[] = [];
  for (const [s, e] of spans) if (e > start) rel.push([s > start ? s - start : 0, e - start]);
  return clipSpans(rel, nSteps);
}

/**
 * Reduces each span of axis `dim` to one entry with `fn` (Inseq's `aggregate_contiguous`): entries outside the
 * spans are copied. `spans` must be validated, ascending and inside the axis.
 */
export function aggregateContiguous(
  t: ScoreTensor,
  dim: number,
  spans: readonly SpanTuple[],
  fn: AggregationFunction,
  fnOptions: AggregationFunctionOptions = {},
): ScoreTensor {
  if (spans.length === 0) return t;
  if (dim < 0 || dim >= t.shape.length) throw invalidOption("dim", `an axis in [0, ${t.shape.length})`, dim);
  const len = t.shape[dim]!;
  const outer = numel(t.shape.slice(0, dim));
  const inner = numel(t.shape.slice(dim + 1));
  // Output positions: [srcStart, srcEnd) ranges of the input axis, one per output entry.
  const groups: SpanTuple[] = [];
  let pos = 0;
  for (const [s, e] of spans) {
    for (; pos < s; pos++) groups.push([pos, pos + 1]);
    groups.push([s, e]);
    pos = e;
  }
  for (; pos < len; pos++) groups.push([pos, pos + 1]);
  const outLen = groups.length;
  const out = new Float32Array(outer * outLen * inner);
  for (let o = 0; o < outer; o++) {
    const inBase = o * len * inner;
    const outBase = o * outLen * inner;
    groups.forEach(([s, e], g) => {
      const dst = outBase + g * inner;
      if (e - s === 1) {
        out.set(t.data.subarray(inBase + s * inner, inBase + (s + 1) * inner), dst);
        return;
      }
      const fibre = new Float32Array(e - s);
      for (let j = 0; j < inner; j++) {
        for (let k = s; k < e; k++) fibre[k - s] = t.data[inBase + k * inner + j]!;
        out[dst + j] = fn.reduce(fibre.slice(), fnOptions);
      }
    });
  }
  const shape = [...t.shape];
  shape[dim] = outLen;
  return { dims: [...t.dims], shape, data: out };
}

/** Aggregates `values` (one per generated step) over column spans. */
export function aggregateVector(
  values: Float32Array,
  spans: readonly SpanTuple[],
  fn: AggregationFunction,
  fnOptions: AggregationFunctionOptions = {},
): Float32Array {
  if (spans.length === 0) return values;
  return aggregateContiguous({ dims: ["generated"], shape: [values.length], data: values }, 0, spans, fn, fnOptions).data;
}

/** Merges each span of tokens into one (Inseq's `aggregate_token_sequence`): concatenated strings, id -1. */
export function mergeTokens(tokens: readonly TokenWithId[], spans: readonly SpanTuple[]): TokenWithId[] {
  if (spans.length === 0) return [...tokens];
  const out: TokenWithId[] = [];
  let pos = 0;
  for (const [s, e] of spans) {
    for (; pos < s; pos++) out.push(tokens[pos]!);
    const parts = tokens.slice(s, e);
    const merged: TokenWithId = { token: parts.map((t) => t.token).join(""), id: -1 };
    if (parts.every((t) => t.wordId !== undefined)) merged.wordId = parts.find((t) => t.wordId !== null)?.wordId ?? null;
    out.push(merged);
    pos = e;
  }
  for (; pos < tokens.length; pos++) out.push(tokens[pos]!);
  return out;
}

/**
 * True for decoder-only outputs: no source attributions and `source` equal to `target[:attrPosStart]` (the layout
 * `attribute()` and Inseq produce for decoder-only models).
 */
export function isDecoderOnly(seq: SequenceOutput): boolean {
  if (seq.sourceAttributions !== null || seq.source.length !== seq.attrPosStart) return false;
  return seq.source.every((t, i) => {
    const u = seq.target[i];
    return u !== undefined && u.token === t.token && u.id === t.id;
  });
}

/** Resolves an aggregation function id, with the error listing the valid ids. */
export function aggregationFunction(id: string): AggregationFunction {
  return getAggregationFunction(id);
}

/** New positions after merging target spans (Inseq's `aggregate_attr_pos_start` / `_end`). */
export function mergedPositions(
  targetSpans: readonly SpanTuple[],
  attrPosStart: number,
  attrPosEnd: number,
): { start: number; end: number; genSpans: SpanTuple[] } {
  const nSteps = attrPosEnd - attrPosStart;
  const genSpans = relativizeTargetSpans(targetSpans, attrPosStart, nSteps);
  let start = attrPosStart;
  for (const [s, e] of targetSpans) {
    if (e <= attrPosStart) start -= e - s - 1;
    else if (s < attrPosStart) start -= attrPosStart - s; // straddles the generation start: becomes the first generated token
  }
  let mergedGen = 0;
  for (const [s, e] of genSpans) mergedGen += e - s - 1;
  return { start, end: start + nSteps - mergedGen, genSpans };
}

/**
 * Merges the given (validated) spans of `seq` into single tokens. `fnId` null: per-field defaults (`absmax` for
 * attributions and sequence scores, `stepScoreSpanFunction` for step scores); otherwise that function everywhere.
 */
export function mergeSpans(
  seq: SequenceOutput,
  sourceSpans: readonly SpanTuple[],
  targetSpans: readonly SpanTuple[],
  fnId: string | null,
  fnOptions: AggregationFunctionOptions = {},
): SequenceOutput {
  if (sourceSpans.length === 0 && targetSpans.length === 0) return seq;
  const decoderOnly = isDecoderOnly(seq);
  if (decoderOnly && sourceSpans.length > 0) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      "Expected no sourceSpans for a decoder-only output (its source is target[:attrPosStart]; give targetSpans instead) " +
        `but received ${describeValue(sourceSpans)}`,
    );
  }
  const explicit = fnId === null ? null : getAggregationFunction(fnId);
  const attrFn = explicit ?? getAggregationFunction(DEFAULT_SPAN_FUNCTION);
  const opts: AggregationFunctionOptions = { vnormOrd: fnOptions.vnormOrd };
  const { start, end, genSpans } = mergedPositions(targetSpans, seq.attrPosStart, seq.attrPosEnd);

  const twoAxes = (t: ScoreTensor, rowSpans: readonly SpanTuple[], colSpans: readonly SpanTuple[], fn: AggregationFunction) => {
    let out = t;
    if (t.shape.length > 1) out = aggregateContiguous(out, 1, clipSpans(colSpans, t.shape[1]!), fn, opts);
    if (t.shape.length > 0) out = aggregateContiguous(out, 0, clipSpans(rowSpans, t.shape[0]!), fn, opts);
    return out;
  };

  const target = mergeTokens(seq.target, targetSpans);
  const source = decoderOnly ? target.slice(0, start) : mergeTokens(seq.source, sourceSpans);
  const sourceAttributions = seq.sourceAttributions ? twoAxes(seq.sourceAttributions, sourceSpans, genSpans, attrFn) : null;
  const targetAttributions = seq.targetAttributions ? twoAxes(seq.targetAttributions, targetSpans, genSpans, attrFn) : null;
  const stepScores: Record<string, Float32Array> = {};
  for (const [name, values] of Object.entries(seq.stepScores)) {
    const fn = explicit ?? getAggregationFunction(stepScoreSpanFunction(name));
    stepScores[name] = aggregateVector(values, clipSpans(genSpans, values.length), fn, opts);
  }
  const sequenceScores: Record<string, ScoreTensor> = {};
  for (const [name, t] of Object.entries(seq.sequenceScores)) {
    // encoder_* are (source, source, ...), decoder_* (target, target, ...), the others shaped like source attributions.
    if (name.startsWith("decoder")) sequenceScores[name] = twoAxes(t, targetSpans, targetSpans, attrFn);
    else if (name.startsWith("encoder")) sequenceScores[name] = twoAxes(t, sourceSpans, sourceSpans, attrFn);
    else sequenceScores[name] = twoAxes(t, sourceSpans, genSpans, attrFn);
  }
  return seq.with({
    source,
    target,
    sourceAttributions,
    targetAttributions,
    stepScores,
    sequenceScores,
    attrPosStart: start,
    attrPosEnd: end,
  });
}

export const SPANS_OPTIONS = ["sourceSpans", "targetSpans", "vnormOrd"] as const;

/** `spans`: merges the given source / target spans (Inseq's `ContiguousSpanAggregator`, default fn `absmax`). */
export const spansAggregator: SequenceAggregator = Object.freeze({
  id: "spans",
  family: "spans",
  options: SPANS_OPTIONS,
  takesAggregateFn: true,
  requires2D: false,
  aggregate(seq: SequenceOutput, fn: string | null, options: AggregatorOptions) {
    const sourceSpans = normalizeSpans(options.sourceSpans, seq.source.length, "sourceSpans");
    const targetSpans = normalizeSpans(options.targetSpans, seq.target.length, "targetSpans");
    return mergeSpans(seq, sourceSpans, targetSpans, fn, options);
  },
});

/** Re-exported for the aggregators that accept the same span input type. */
export type { Span, SpanInput };
