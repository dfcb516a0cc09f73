/**
 * Types of the evaluation of attribution methods (`evaluate()`, `inseq evaluate`): the items of an evaluation
 * set, the options, and the report. Declared once here; the sets (sets/), the metrics (metrics.ts), the runner
 * (evaluate.ts) and the renderers (report-*.ts) import them.
 *
 * An item is one attributed decision: the model reads `input` (decoder-only: the prompt before the target;
 * encoder-decoder: the source, with `targetPrefix` forced on the target side) and predicts `target`. The input's
 * words are `input.trim().split(/\s+/)`; `evidence` and `distractors` are indices into them.
 */

/** One attributed decision with its ground truth. */
export interface EvalItem {
  /** Unique within the set (e.g. "grammar:17:0" = example 17, dependency 0). */
  id: string;
  /** What the metrics are grouped by: a dependency kind ("pronoun_gender"), "winomt_anti", "letter_alignment". */
  kind: string;
  /** Finer group, reported in the per-item records (a grammar template, a WinoMT subset). */
  template?: string;
  /** Decoder-only: the prompt before the target. Encoder-decoder: the source text. Words split on whitespace. */
  input: string;
  /** Encoder-decoder only: the target text before the attributed token (forced; "" = the first target token). */
  targetPrefix?: string;
  /** The expected next word (its first token is the attributed target). */
  target: string;
  /** The competing forms ("he" for "she"): the decision is the argmax over target + alternatives. */
  alternatives: string[];
  /** Word indices of the input that decide the target (the ground truth). At least one. */
  evidence: number[];
  /** Word indices of competing controllers (e.g. a name of the other gender). May be empty. */
  distractors: number[];
  /**
   * Replacement words for the "counterfactual" replacement, by word index (JSON object keys are the indices as
   * strings): for words that carry the decided feature, the counterpart of the other value (woman -> man); for
   * other words, another word of the same class. Words without an entry fall back to the "unk" replacement.
   */
  counterfactuals?: Record<string, string>;
  /** True when swapping the evidence for its counterpart flips the model's decision (causally verified). */
  verified?: boolean;
}

/** An evaluation set: its items and where they came from. */
export interface EvalSet {
  /** "grammar", "winomt", "transliteration", or the user's file name. */
  name: string;
  /** One line on what the set is and what its evidence means. */
  description: string;
  items: EvalItem[];
}

/** How removed words are replaced in the faithfulness metrics. */
export type Replacement = "unk" | "pad" | "mean" | "counterfactual";
export const REPLACEMENTS: readonly Replacement[] = ["unk", "pad", "mean", "counterfactual"];

/** Scores that ignore the model, reported in the same table as the methods. */
export type BaselineId = "random" | "previous_word" | "first_word" | "oracle";
export const BASELINES: readonly BaselineId[] = ["random", "previous_word", "first_word", "oracle"];

/** One attribution configuration to evaluate. A string is `{ method: string }`. */
export interface MethodSpec {
  method: string;
  methodArgs?: Record<string, unknown>;
  /**
   * Attributed step function. A contrastive one (e.g. "contrast_logits_diff") is given each item's first
   * alternative as the contrast target.
   */
  attributedFn?: string;
  attributedFnArgs?: Record<string, unknown>;
  /**
   * For methods whose scores have a layer axis (attention `[layer, head]`, value zeroing `[layer]`): score with
   * this layer only (negative counts from the end: -1 = the last layer) instead of the mean over layers.
   */
  scoresLayer?: number;
  /** Row label in the report (default: method, then "+attributedFn", then the method arguments). */
  label?: string;
}

export interface EvaluateOptions {
  /** Methods to evaluate (ids or specs). At least one method or baseline. */
  methods?: ReadonlyArray<string | MethodSpec>;
  /** Baselines in the same table (default: all four). */
  baselines?: readonly BaselineId[];
  /** Replacement of removed words (default "counterfactual" when every item has counterfactuals, else "unk"). */
  replacement?: Replacement;
  /** k of comprehensiveness, sufficiency and decision flip (default [1, 2]). */
  k?: readonly number[];
  /** AOPC averages comprehensiveness / sufficiency over k = 1 .. min(aopcMaxK, words) (default 5). */
  aopcMaxK?: number;
  /** Compute the perturbation metrics (default true; false = plausibility only). */
  faithfulness?: boolean;
  /** Evaluate only the items marked `verified` (default false: all items; the report also gives the verified subset). */
  verifiedOnly?: boolean;
  /** Only the first n items (after verifiedOnly). */
  limit?: number;
  /**
   * The model-randomisation sanity check (cascading re-initialisation from the top block down; default false:
   * it loads one model per layer). `items` (default 32) items are attributed per randomised model.
   */
  randomization?: boolean | { items?: number; seed?: number };
  /** IG completeness: warn when the share of items with |delta| / |f(x) - f(baseline)| above this exceeds 5 % (default 0.05). */
  completenessThreshold?: number;
  /** Seed of the random baseline and the randomisation (default 0). */
  seed?: number;
  /** Items per attribute() call (default 32). */
  batchSize?: number;
  /** Keep the per-item records in the report (default false). */
  includeItems?: boolean;
  signal?: AbortSignal;
  /** Called after each batch: items done of total, and the method row being evaluated. */
  onProgress?: (done: number, total: number, label: string) => void;
}

/** Plausibility of word importances against the ground truth (means over items). */
export interface PlausibilityMetrics {
  /** Share of items whose highest-scored word is an evidence word. */
  top1: number;
  /** Mean 1-based rank of the evidence (mean over the item's evidence words, then over items). */
  meanEvidenceRank: number;
  /** Share of items with distractors where the best evidence word outscores every distractor; null when none has one. */
  evidenceOverDistractors: number | null;
  /** Mean average precision of the evidence words in the score order (area under the precision-recall curve). */
  auprc: number;
}

/** Faithfulness by perturbation (means over items; probabilities of the target's first token). */
export interface FaithfulnessMetrics {
  /** k -> mean of p(full) - p(top-k words replaced). */
  comprehensiveness: Record<string, number>;
  /** k -> mean of p(full) - p(only the top-k words kept). */
  sufficiency: Record<string, number>;
  /** Mean over k = 1 .. min(aopcMaxK, words) of comprehensiveness / sufficiency. */
  aopcComprehensiveness: number;
  aopcSufficiency: number;
  /** k -> share of items whose decision (argmax over target + alternatives) changes when the top-k words are replaced. */
  decisionFlip: Record<string, number>;
}

/** One group of items (a kind, "all", or the verified subset) of one method row. */
export interface GroupReport {
  group: string;
  items: number;
  plausibility: PlausibilityMetrics;
  faithfulness?: FaithfulnessMetrics;
}

import type { CompletenessReport } from "../attribution/completeness.js";

export type { CompletenessReport };

/** Rank correlation of the attributions of the trained model with those after randomising blocks from the top. */
export interface RandomizationStep {
  /** "top 1", "top 2", ... "all blocks", "all + embeddings". */
  randomized: string;
  /** Number of randomised blocks. */
  blocks: number;
  /** Mean Spearman correlation over items (1 = unchanged: the method ignores the model). */
  spearman: number;
}

/** One row of the report: a method configuration or a baseline. */
export interface MethodReport {
  label: string;
  /** A method id, or "baseline" for baselines. */
  method: string;
  baseline?: BaselineId;
  methodArgs?: Record<string, unknown>;
  attributedFn?: string;
  attributedFnArgs?: Record<string, unknown>;
  scoresLayer?: number;
  /** "all", then each kind, then "verified" when some items are verified and some not. */
  groups: GroupReport[];
  /** Attribution time per item in milliseconds (0 for baselines); perturbation time is not included. */
  msPerItem: number;
  completeness?: CompletenessReport;
  randomization?: RandomizationStep[];
}

/** The per-item record kept with `includeItems`. */
export interface ItemRecord {
  id: string;
  kind: string;
  label: string;
  /** Word importances (sum of |score| over each word's tokens). */
  wordScores: number[];
  top1: boolean;
  evidenceRank: number;
  /** p(target) on the full input (with faithfulness). */
  pFull?: number;
  comprehensiveness?: Record<string, number>;
  sufficiency?: Record<string, number>;
  flipped?: Record<string, boolean>;
}

export interface EvaluationReport {
  /** Format marker of the JSON report. */
  format: "inseq-evaluation/1";
  set: { name: string; description: string; items: number; verified: number };
  model: { name: string; path: string; kind: "decoder-only" | "encoder-decoder" };
  replacement: Replacement;
  k: number[];
  aopcMaxK: number;
  methods: MethodReport[];
  /** Wall time of the whole evaluation in seconds. */
  seconds: number;
  createdAt: string;
  items?: ItemRecord[];
}
