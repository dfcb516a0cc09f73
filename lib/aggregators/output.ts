/**
 * Aggregation of whole results: what `FeatureAttributionSequenceOutput.aggregate()` / `.defaultAggregate()` and
 * `FeatureAttributionOutput.aggregate()` run. Outputs are built through `seq.with()`, so the result of a
 * `FeatureAttributionSequenceOutput` is one too.
 */
import { invalidOption } from "../core/errors.js";
import type { ScoreTensor } from "../results/tensor.js";
import type { SequenceOutput } from "../results/types.js";
import { aggregateSequence, type AggregateOptions, type AggregatorInput } from "./pipeline.js";
import { aggregateSequenceScores, normalizeJoint } from "./scores.js";

/**
 * Inseq's default aggregation for the output's kind, down to 2-D `[attributed, generated]` attributions:
 * granular → `vnorm` (L2 over the last axis) + normalisation; multidimensional (e.g. attention `[layer, head]`)
 * and base → `mean` + normalisation per extra axis, last first (heads, then layers); coarse → unchanged.
 * Already 2-D outputs are returned as is.
 */
export function defaultAggregate(seq: SequenceOutput): SequenceOutput {
  let out = seq;
  if (seq.kind === "coarse") return seq;
  if (seq.kind === "granular" && seq.numExtraDims === 0) {
    // hidden dimension already reduced (L2) on the device: what is left of the default is the L1 normalisation
    const present = [seq.sourceAttributions, seq.targetAttributions].filter((t): t is ScoreTensor => t !== null);
    const normalized = normalizeJoint(present);
    let k = 0;
    return seq.with({
      sourceAttributions: seq.sourceAttributions ? normalized[k++]! : null,
      targetAttributions: seq.targetAttributions ? normalized[k++]! : null,
    });
  }
  const fn = seq.kind === "granular" ? "vnorm" : "mean";
  while (out.numExtraDims > 0) out = aggregateSequenceScores(out, fn);
  return out;
}

/** `aggregate()` of one sequence output: the default aggregation without arguments, else the pipeline. */
export function aggregateSequenceOutput(seq: SequenceOutput, aggregator?: AggregatorInput, options?: AggregateOptions): SequenceOutput {
  if (aggregator === undefined && options === undefined) return defaultAggregate(seq);
  return aggregateSequence(seq, aggregator, options);
}

/** Options of a whole output's `aggregate()`: `pairedAttr` may be a sequence output or (see below) a list of them. */
export type SequencesAggregateOptions = Omit<AggregateOptions, "pairedAttr"> & { pairedAttr?: unknown };

/**
 * `aggregate()` of every sequence of an output. `pairedSequences`, when given (the sequences of an output passed
 * as `pairedAttr`), pairs the sequences one to one and must have as many; otherwise `options.pairedAttr` goes to
 * every sequence as is.
 */
export function aggregateSequences(
  sequences: readonly SequenceOutput[],
  aggregator: AggregatorInput | undefined,
  options: SequencesAggregateOptions | undefined,
  pairedSequences: readonly SequenceOutput[] | null = null,
): SequenceOutput[] {
  if (pairedSequences && pairedSequences.length !== sequences.length) {
    throw invalidOption("pairedAttr", `an output with ${sequences.length} sequences (one per sequence of this output)`, `${pairedSequences.length} sequences`);
  }
  return sequences.map((s, i) => {
    if (aggregator === undefined && options === undefined) return defaultAggregate(s);
    const opts = (pairedSequences ? { ...options, pairedAttr: pairedSequences[i]! } : options) as AggregateOptions | undefined;
    return aggregateSequence(s, aggregator, opts ?? {});
  });
}
