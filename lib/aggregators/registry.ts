/**
 * The aggregator registry (Inseq's `list_aggregators()`): ids `scores`, `spans`, `subwords`, `split`, `pair`,
 * `slices`, each a `SequenceAggregator` (see `types.ts`). Aggregation-function ids (`mean`, `vnorm`, ...) are
 * accepted wherever an aggregator id is, as shorthand for `scores` with that function (see `pipeline.ts`).
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import type { SequenceOutput } from "../results/types.js";
import { listAggregationFunctions } from "./functions.js";
import { pairAggregator } from "./pair.js";
import { slicesAggregator } from "./slices.js";
import { spansAggregator } from "./spans.js";
import { splitAggregator } from "./split.js";
import { aggregateSequenceScores } from "./scores.js";
import { subwordsAggregator } from "./subwords.js";
import type { AggregatorOptions, SequenceAggregator } from "./types.js";

/** Re-exported so that the registry lists both kinds of ids (the CLI's `inseq list` reads them from here). */
export { listAggregationFunctions };

export const SCORES_OPTIONS = ["normalize", "rescale", "selectIdx", "vnormOrd"] as const;

/**
 * `scores` (Inseq's `SequenceAttributionAggregator`): reduces the last axis of the attributions and sequence
 * scores with the aggregation function (default `vnorm` for granular outputs, `mean` otherwise), then normalises
 * (see `FeatureAttributionSequenceOutput.aggregateScores`). Step scores are kept.
 */
export const scoresAggregator: SequenceAggregator = Object.freeze({
  id: "scores",
  family: "scores",
  options: SCORES_OPTIONS,
  takesAggregateFn: true,
  requires2D: true,
  aggregate(seq: SequenceOutput, fn: string | null, options: AggregatorOptions) {
    return aggregateSequenceScores(seq, fn ?? defaultScoresFunction(seq), {
      normalize: options.normalize,
      rescale: options.rescale,
      selectIdx: options.selectIdx,
      vnormOrd: options.vnormOrd,
    });
  },
});

/** The `scores` function when none is given (Inseq's per-class `_dict_aggregate_fn`): `vnorm` for granular outputs. */
export function defaultScoresFunction(seq: SequenceOutput): string {
  return seq.kind === "granular" ? "vnorm" : "mean";
}

/** The aggregators by id (each object's `id` equals its key; a test checks it). */
const AGGREGATORS = {
  scores: scoresAggregator, spans: spansAggregator, subwords: subwordsAggregator, split: splitAggregator, pair: pairAggregator,
  slices: slicesAggregator,
} as const;

/** Ids of the aggregators, from the table above. */
export type AggregatorId = keyof typeof AGGREGATORS;

const registry = new Map<string, SequenceAggregator>(Object.entries(AGGREGATORS));

/** Ids of the available aggregators (Inseq's `list_aggregators()`). */
export function listAggregators(): string[] {
  return [...registry.keys()];
}

/** Whether `id` names an aggregator. */
export function isAggregatorId(id: string): boolean {
  return registry.has(id);
}

/** Looks an aggregator up; unknown ids throw ERR_INVALID_OPTION listing aggregators and aggregation functions. */
export function getAggregator(id: string): SequenceAggregator {
  const a = registry.get(id);
  if (!a) throw unknownAggregator(id);
  return a;
}

export function unknownAggregator(id: unknown): InseqError {
  return new InseqError(
    ErrorCode.INVALID_OPTION,
    `Expected an aggregator id (${listAggregators().join(", ")}) or an aggregation function id for scores ` +
      `(${listAggregationFunctions().join(", ")}) but received ${typeof id === "string" ? JSON.stringify(id) : String(id)}`,
  );
}
