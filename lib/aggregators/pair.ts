/**
 * The `pair` aggregator (Inseq's `PairAggregator`): the element-wise difference `pairedAttr - this` of two outputs
 * with the same shapes (e.g. an input and its minimal-pair edit), for the source/target attributions, every step
 * score and every sequence score. Token labels read `"a → b"` (this → paired, id -1) where the strings differ.
 * Positions, kind and axis names come from `this`.
 *
 * Inseq's `x - y` (`__sub__`) is this aggregator with `x` as `this` and so computes `y - x`;
 * `FeatureAttributionSequenceOutput.diff` computes what its name says instead (see there).
 */
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import type { SequenceOutput, TokenWithId } from "../results/types.js";
import type { ScoreTensor } from "../results/tensor.js";
import type { AggregatorOptions, SequenceAggregator } from "./types.js";

/** Inseq's `aggregate_token_pair`: same strings keep the token, different ones become `"a → b"` with id -1. */
export function pairTokens(tokens: readonly TokenWithId[], other: readonly TokenWithId[]): TokenWithId[] {
  return tokens.map((t, i) => {
    const o = other[i]!;
    return t.token === o.token ? t : { ...t, token: `${t.token} → ${o.token}`, id: -1 };
  });
}

function mismatch(what: string, a: unknown, b: unknown): InseqError {
  return new InseqError(
    ErrorCode.INVALID_OPTION,
    `Expected pairedAttr to match this output: ${what} differ (${String(a)} vs ${String(b)})`,
  );
}

function shapeOf(t: ScoreTensor): string {
  return `[${t.shape.join(", ")}]`;
}

function diffTensor(self: ScoreTensor, paired: ScoreTensor): ScoreTensor {
  const out = new Float32Array(self.data.length);
  for (let i = 0; i < out.length; i++) out[i] = paired.data[i]! - self.data[i]!;
  return { dims: [...self.dims], shape: [...self.shape], data: out };
}

function isSequenceOutput(x: unknown): x is SequenceOutput {
  const s = x as SequenceOutput;
  return s !== null && typeof s === "object" && Array.isArray(s.source) && Array.isArray(s.target) && typeof s.with === "function";
}

/** Inseq's `validate_pair`: token counts, tensor shapes, and every step/sequence score of `self` in `paired`. */
export function validatePair(self: SequenceOutput, paired: unknown): asserts paired is SequenceOutput {
  if (!isSequenceOutput(paired)) throw invalidOption("pairedAttr", "a FeatureAttributionSequenceOutput", paired);
  if (self.source.length !== paired.source.length) throw mismatch("source lengths", self.source.length, paired.source.length);
  if (self.target.length !== paired.target.length) throw mismatch("target lengths", self.target.length, paired.target.length);
  for (const key of ["sourceAttributions", "targetAttributions"] as const) {
    const a = self[key];
    const b = paired[key];
    if (!a) continue;
    if (!b) throw mismatch(key, shapeOf(a), "none");
    if (shapeOf(a) !== shapeOf(b)) throw mismatch(`${key} shapes`, shapeOf(a), shapeOf(b));
  }
  for (const [name, v] of Object.entries(self.stepScores)) {
    const w = paired.stepScores[name];
    if (!w) throw mismatch(`step scores (${name})`, "present", "missing");
    if (w.length !== v.length) throw mismatch(`step score ${name} lengths`, v.length, w.length);
  }
  for (const [name, t] of Object.entries(self.sequenceScores)) {
    const u = paired.sequenceScores[name];
    if (!u) throw mismatch(`sequence scores (${name})`, "present", "missing");
    if (shapeOf(t) !== shapeOf(u)) throw mismatch(`sequence score ${name} shapes`, shapeOf(t), shapeOf(u));
  }
}

/** `paired - self` field by field, with `"a → b"` token labels. */
export function pairDiff(self: SequenceOutput, paired: SequenceOutput): SequenceOutput {
  validatePair(self, paired);
  const stepScores: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(self.stepScores)) {
    const w = paired.stepScores[name]!;
    stepScores[name] = Float32Array.from(v, (x, i) => w[i]! - x);
  }
  const sequenceScores: Record<string, ScoreTensor> = {};
  for (const [name, t] of Object.entries(self.sequenceScores)) sequenceScores[name] = diffTensor(t, paired.sequenceScores[name]!);
  return self.with({
    source: pairTokens(self.source, paired.source),
    target: pairTokens(self.target, paired.target),
    sourceAttributions: self.sourceAttributions ? diffTensor(self.sourceAttributions, paired.sourceAttributions!) : null,
    targetAttributions: self.targetAttributions ? diffTensor(self.targetAttributions, paired.targetAttributions!) : null,
    stepScores,
    sequenceScores,
    extraDimNames: self.extraDimNames,
  });
}

export const PAIR_OPTIONS = ["pairedAttr"] as const;

/** `pair`: `pairedAttr - this` (Inseq's `PairAggregator`, default fn `y - x`; no aggregation function). */
export const pairAggregator: SequenceAggregator = Object.freeze({
  id: "pair",
  family: "pair",
  options: PAIR_OPTIONS,
  takesAggregateFn: false,
  requires2D: false,
  aggregate(seq: SequenceOutput, _fn: string | null, options: AggregatorOptions) {
    if (options.pairedAttr === undefined) throw invalidOption("pairedAttr", "the FeatureAttributionSequenceOutput to pair with", undefined);
    return pairDiff(seq, options.pairedAttr);
  },
});
