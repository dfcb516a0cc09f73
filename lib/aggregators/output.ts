/**
 * Aggregation of whole results: what `FeatureAttributionSequenceOutput.aggregate()` and
 * `FeatureAttributionOutput.aggregate()` run (the default aggregation itself is `defaultAggregate` in
 * pipeline.ts). Outputs are built through `seq.with()`, so the result of a `FeatureAttributionSequenceOutput` is
 * one too.
 */
import { invalidOption } from "../core/errors.js";
import type { SequenceOutput } from "../results/types.js";
import { aggregateSequence, defaultAggregate, type AggregateOptions, type AggregatorInput } from "./pipeline.js";

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
