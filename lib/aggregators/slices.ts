/**
 * The `slices` aggregator (Inseq's `SliceAggregator`): keeps only the given spans of tokens (concatenated in
 * order), with their attribution rows; generated columns and step scores are kept as they are.
 *
 * - `targetSpans` are positions of the full target. The generated tokens (`target[attrPosStart:attrPosEnd]`) are
 *   always kept: the first span reaching into them is extended to `attrPosEnd` (and starts no later than
 *   `attrPosStart`), later ones are dropped, and `[attrPosStart, attrPosEnd)` is appended when no span reaches them.
 *   `attrPosStart` becomes the number of kept prefix tokens and `attrPosEnd` that plus the generated steps (Inseq
 *   leaves `attrPosEnd` unchanged, which breaks the output's shapes once prefix tokens are dropped).
 * - Decoder-only outputs: the source is the kept prefix (`sourceSpans` is rejected: give `targetSpans`).
 * - Encoder-decoder outputs: `sourceSpans` slices the source and its attribution rows; with no `sourceSpans` the
 *   source is kept whole, and with no `targetSpans` the target is kept whole (Inseq then drops the decoder prefix).
 * - Sequence scores: `encoder_*` (source × source) and `decoder_*` (target × target) keep the kept rows and columns;
 *   others (shaped like source attributions) the kept source rows.
 * Spans may be a single token long here (merging needs 2).
 */
import { ErrorCode, InseqError, describeValue } from "../core/errors.js";
import type { SequenceOutput } from "../results/types.js";
import { gatherDim, type ScoreTensor } from "../results/tensor.js";
import { isDecoderOnly, normalizeSpans, type SpanTuple } from "./spans.js";
import type { AggregatorOptions, SequenceAggregator } from "./types.js";

function indicesOf(spans: readonly SpanTuple[], limit = Infinity): number[] {
  const out: number[] = [];
  for (const [s, e] of spans) for (let i = s; i < Math.min(e, limit); i++) out.push(i);
  return out;
}

/** Inseq's span rewrite: prefix spans kept, the generated part always included once. */
export function sliceTargetSpans(spans: readonly SpanTuple[], attrPosStart: number, attrPosEnd: number): SpanTuple[] {
  const out: SpanTuple[] = [];
  let genAdded = false;
  for (const [s, e] of spans) {
    if (e <= attrPosStart) out.push([s, e]);
    else if (!genAdded) {
      out.push([Math.min(s, attrPosStart), attrPosEnd]);
      genAdded = true;
    }
  }
  if (!genAdded) out.push([attrPosStart, attrPosEnd]);
  return out;
}

function gatherAxes(t: ScoreTensor, axes: Array<number[] | null>): ScoreTensor {
  let out = t;
  axes.forEach((idx, dim) => {
    if (idx && dim < out.shape.length) out = gatherDim(out, dim, idx);
  });
  return out;
}

export function sliceOutput(
  seq: SequenceOutput,
  sourceSpansInput: AggregatorOptions["sourceSpans"],
  targetSpansInput: AggregatorOptions["targetSpans"],
): SequenceOutput {
  const decoderOnly = isDecoderOnly(seq);
  const sourceSpans = normalizeSpans(sourceSpansInput, seq.source.length, "sourceSpans", 1);
  const userTargetSpans = normalizeSpans(targetSpansInput, seq.target.length, "targetSpans", 1);
  if (decoderOnly && sourceSpans.length > 0) {
    throw new InseqError(
      ErrorCode.INVALID_OPTION,
      "Expected no sourceSpans for a decoder-only output (its source is target[:attrPosStart]; give targetSpans instead) " +
        `but received ${describeValue(sourceSpansInput)}`,
    );
  }
  const start = seq.attrPosStart;
  let target = seq.target;
  let targetAttributions = seq.targetAttributions;
  let attrPosStart = start;
  let targetIdx: number[] | null = null;
  if (userTargetSpans.length > 0) {
    const spans = sliceTargetSpans(userTargetSpans, start, seq.attrPosEnd);
    targetIdx = indicesOf(spans, seq.target.length);
    target = targetIdx.map((i) => seq.target[i]!);
    attrPosStart = spans.reduce((n, [s, e]) => n + Math.max(0, Math.min(e, start) - s), 0);
    if (targetAttributions) targetAttributions = gatherDim(targetAttributions, 0, indicesOf(spans, targetAttributions.shape[0]));
  }
  const sourceIdx = sourceSpans.length > 0 ? indicesOf(sourceSpans) : null;
  const source = decoderOnly ? target.slice(0, attrPosStart) : sourceIdx ? sourceIdx.map((i) => seq.source[i]!) : seq.source;
  const sourceAttributions = seq.sourceAttributions && sourceIdx ? gatherDim(seq.sourceAttributions, 0, sourceIdx) : seq.sourceAttributions;
  const sequenceScores: Record<string, ScoreTensor> = {};
  for (const [name, t] of Object.entries(seq.sequenceScores)) {
    if (name.startsWith("decoder")) sequenceScores[name] = gatherAxes(t, [targetIdx, targetIdx]);
    else if (name.startsWith("encoder")) sequenceScores[name] = gatherAxes(t, [sourceIdx, sourceIdx]);
    else sequenceScores[name] = gatherAxes(t, [sourceIdx]);
  }
  return seq.with({
    source,
    target,
    sourceAttributions,
    targetAttributions,
    sequenceScores,
    attrPosStart,
    attrPosEnd: attrPosStart + seq.nSteps,
    extraDimNames: seq.extraDimNames,
  });
}

export const SLICES_OPTIONS = ["sourceSpans", "targetSpans"] as const;

/** `slices`: keeps only the given spans (Inseq's `SliceAggregator`; no aggregation function). */
export const slicesAggregator: SequenceAggregator = Object.freeze({
  id: "slices",
  family: "spans",
  options: SLICES_OPTIONS,
  takesAggregateFn: false,
  requires2D: false,
  aggregate(seq: SequenceOutput, _fn: string | null, options: AggregatorOptions) {
    return sliceOutput(seq, options.sourceSpans, options.targetSpans);
  },
});
