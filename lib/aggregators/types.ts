/**
 * Types shared by the aggregators (Inseq's `inseq.data.aggregator`): the aggregator contract, span inputs and the
 * options `aggregate()` accepts. Aggregators work on the `SequenceOutput` data type (results/types.ts), never on
 * the result classes, which delegate to them.
 */
import type { SequenceOutput } from "../results/types.js";
import type { AggregationFunctionOptions } from "./functions.js";
import type { SelectIdx } from "./scores.js";

/** `[start, end)` token positions (end exclusive), as a tuple or as `{ start, end }`. */
export type Span = readonly [number, number] | { readonly start: number; readonly end: number };

/** One span or a list of non-overlapping spans in ascending order (Inseq's `IndexSpan`). */
export type SpanInput = Span | readonly Span[];

/** How `split` groups tokens around the tokens matched by `splitPattern`. */
export type SplitMode = "single" | "start" | "end";

/** Options read by the built-in aggregators (each reads its own; see `listAggregatorOptions`). */
export interface AggregatorOptions extends AggregationFunctionOptions {
  // scores
  /** `scores`: L1-normalise each generated-token column over source + target rows (default unless `rescale`). */
  normalize?: boolean;
  /** `scores`: divide by the global max |value| instead (range [-1, 1]). */
  rescale?: boolean;
  /** `scores`: indices of the last axis to keep before reducing (a single index skips the reduction). */
  selectIdx?: SelectIdx;
  // spans / slices
  /** `spans`, `slices`: spans of `source` (encoder-decoder outputs only). */
  sourceSpans?: SpanInput | null;
  /** `spans`, `slices`: spans of the full `target` (prompt/prefix included), not of the generated columns. */
  targetSpans?: SpanInput | null;
  // subwords
  /** `subwords`: word-boundary markers (default "▁"; `["Ġ", "Ċ"]` for GPT-2 byte-level BPE). */
  specialChars?: string | readonly string[];
  /** `subwords`: the marker starts continuation pieces (WordPiece `##`) instead of words. Default false. */
  isSuffixSymbol?: boolean;
  /** `subwords`: use the tokens' `wordId` when every token has one (default true). */
  useWordIds?: boolean;
  /** `subwords`, `split`: merge the source tokens (default true; ignored for decoder-only outputs). */
  aggregateSource?: boolean;
  /** `subwords`, `split`: merge the target tokens (default true). */
  aggregateTarget?: boolean;
  // split
  /** `split`: regular expression matched on the concatenated token strings (markers included). */
  splitPattern?: string | RegExp;
  /** `split`: "single" (default): matched tokens form their own group; "start": a match opens a group; "end": a match closes one. */
  splitMode?: SplitMode;
  // pair
  /** `pair`: the other output (same shapes); the result is `pairedAttr - this`. */
  pairedAttr?: SequenceOutput;
}

/** An aggregator (Inseq's `Aggregator` subclasses), registered under `id`. */
export interface SequenceAggregator {
  readonly id: string;
  /** Inseq's `aggregator_family`, which picks per-field default functions: "scores", "spans" or "pair". */
  readonly family: "scores" | "spans" | "pair";
  /** Option names this aggregator reads. */
  readonly options: readonly string[];
  /** Whether it takes an aggregation function (`aggregateFn`). */
  readonly takesAggregateFn: boolean;
  /**
   * Inseq's `end_aggregation_hook` of the `scores` aggregator: a pipeline that contains it must end with 2-D
   * attributions (skipped with `doPostAggregationChecks: false`).
   */
  readonly requires2D: boolean;
  /** Returns a new output; `fn` is the aggregation function id (null: the per-field defaults). */
  aggregate(seq: SequenceOutput, fn: string | null, options: AggregatorOptions): SequenceOutput;
}
