/**
 * The data types of attribution results, on the ground floor of lib/: the result classes (`attribution.ts`), the
 * file format (`inseq-json.ts`), the aggregators and the renderers all read these, and this module imports none of
 * them.
 *
 * Tensor layout (row-major, float32, NaN = no score):
 * - `sourceAttributions`: `[source, generated, ...extra]` (encoder-decoder only)
 * - `targetAttributions`: `[target, generated, ...extra]`, NaN where a target row is not in the prefix of a step
 * - `stepScores[name]`: `[generated]`
 * where `generated` indexes `target[attrPosStart:attrPosEnd]`.
 */
import type { ScoreTensor } from "./tensor.js";

/** A token and its vocabulary id (-1 for synthetic tokens such as merged spans). */
export interface TokenWithId {
  token: string;
  id: number;
  /**
   * Optional index of the word the token belongs to (the tokenizer's pre-tokenizer word id; null for special
   * tokens). When every token of a list has one, the `subwords` aggregator merges by word id instead of by
   * markers. Not saved (Inseq's `TokenWithId` has no such field) and ignored by `equals`.
   */
  wordId?: number | null;
}

/**
 * Which Python class the output maps to, and so its default aggregation:
 * - `granular` (`GranularFeatureAttributionSequenceOutput`): one score per hidden unit; L2 norm then normalise
 * - `coarse` (`CoarseFeatureAttributionSequenceOutput`): already one score per token; no aggregation
 * - `multidimensional` (`MultiDimensionalFeatureAttributionSequenceOutput`): e.g. `[layer, head]` for attention;
 *   mean + normalise per extra axis, last axis first
 * - `base` (`FeatureAttributionSequenceOutput`): mean + normalise per extra axis
 */
export type SequenceOutputKind = "granular" | "coarse" | "multidimensional" | "base";

/** Every sequence-output kind (the Python class of each is in `inseq-json.ts`). */
export const SEQUENCE_OUTPUT_KINDS: readonly SequenceOutputKind[] = ["granular", "coarse", "multidimensional", "base"];

/** Names given to the axes after `[attributed, generated]` when neither the caller nor a file says. */
export function defaultExtraDimNames(kind: SequenceOutputKind, count: number): string[] {
  if (count <= 0) return [];
  if (kind === "granular" && count === 1) return ["hidden"];
  if (kind === "multidimensional" && count === 2) return ["layer", "head"];
  if (kind === "multidimensional" && count === 1) return ["layer"];
  return Array.from({ length: count }, (_, i) => `dim${i + 2}`);
}

/** The fields of one sequence output, as the file stores them (implemented by `FeatureAttributionSequenceOutput`). */
export interface SequenceOutputData {
  kind: SequenceOutputKind;
  source: TokenWithId[];
  target: TokenWithId[];
  /** [source, generated, ...extra] */
  sourceAttributions: ScoreTensor | null;
  /** [target, generated, ...extra] */
  targetAttributions: ScoreTensor | null;
  /** name -> [generated] */
  stepScores: Record<string, Float32Array>;
  sequenceScores: Record<string, ScoreTensor>;
  attrPosStart: number;
  attrPosEnd: number;
  /** Names of the axes after `[attributed, generated]`. */
  extraDimNames: string[];
}

/** The fields of a whole output (implemented by `FeatureAttributionOutput`). */
export interface OutputData {
  sequenceAttributions: SequenceOutputData[];
  info: Record<string, unknown>;
}

export interface SequenceOutputInit {
  source: TokenWithId[];
  target: TokenWithId[];
  sourceAttributions?: ScoreTensor | null;
  targetAttributions?: ScoreTensor | null;
  stepScores?: Record<string, Float32Array>;
  sequenceScores?: Record<string, ScoreTensor>;
  attrPosStart?: number;
  /** Defaults to (and is clamped at) `target.length`. */
  attrPosEnd?: number;
  kind?: SequenceOutputKind;
  /** Names of the axes after `[attributed, generated]`; defaults to the tensors' own dim names. */
  extraDimNames?: string[];
}

export interface SequenceOutputConstructorOptions {
  /** Check tensor shapes against token counts and positions (Inseq's `is_compatible`); default true. */
  validate?: boolean;
}

/**
 * A sequence output as the aggregators and renderers see it: the data plus the derived counts and `with()`, which
 * builds a new output of the same class (so an aggregation of a `FeatureAttributionSequenceOutput` is one too).
 */
export interface SequenceOutput extends SequenceOutputData {
  /** Number of attributed generation steps (`attrPosEnd - attrPosStart`). */
  readonly nSteps: number;
  /** The generated tokens the columns correspond to: `target[attrPosStart:attrPosEnd]`. */
  readonly generatedTokens: TokenWithId[];
  /** Number of axes after `[attributed, generated]`. */
  readonly numExtraDims: number;
  /** A copy with some fields replaced (tensors not replaced are shared, not copied). */
  with(fields: Partial<SequenceOutputInit>, options?: SequenceOutputConstructorOptions): SequenceOutput;
}

/** One generated step across the batch (Inseq's FeatureAttributionStepOutput). */
export interface FeatureAttributionStepOutput {
  /** Step index (column j of every sequence output). */
  step: number;
  /** [batch, prefix, ...extra]: each sequence's scores for its token at this step (rows padded with NaN). */
  targetAttributions: ScoreTensor | null;
  /** name -> [batch] (NaN for sequences with fewer steps). */
  stepScores: Record<string, Float32Array>;
  /** The predicted token of each sequence at this step (null where a sequence has no such step). */
  target: Array<TokenWithId | null>;
}
