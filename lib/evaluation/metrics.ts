/**
 * The evaluation's metrics as pure functions of word scores, ground truth and target probabilities, so each
 * one can be checked by hand (test/unit/eval-metrics.test.ts). The runner (evaluate.ts) computes the inputs.
 *
 * Conventions:
 * - Words are ranked by score, highest first; equal scores keep word order (the earlier word ranks first), so
 *   every metric is deterministic.
 * - Ranks are 1-based.
 */

/** Word indices ordered by score, highest first (ties: lower index first). NaN counts as -Infinity. */
export function rankOrder(scores: ArrayLike<number>): number[] {
  const key = (i: number) => (Number.isNaN(scores[i]!) ? -Infinity : scores[i]!);
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => key(b) - key(a) || a - b);
}

/** 1-based rank of every word (rank[i] = position of word i in rankOrder + 1). */
export function ranks(scores: ArrayLike<number>): number[] {
  const out = new Array<number>(scores.length);
  rankOrder(scores).forEach((word, position) => (out[word] = position + 1));
  return out;
}

/** Whether the highest-ranked word is an evidence word. */
export function top1Hit(scores: ArrayLike<number>, evidence: readonly number[]): boolean {
  return scores.length > 0 && evidence.includes(rankOrder(scores)[0]!);
}

/** Mean 1-based rank of the evidence words. */
export function meanEvidenceRank(scores: ArrayLike<number>, evidence: readonly number[]): number {
  const r = ranks(scores);
  return evidence.reduce((s, e) => s + r[e]!, 0) / evidence.length;
}

/**
 * Whether the best-ranked evidence word ranks above every distractor; null when there is no distractor
 * (the item does not count towards the share).
 */
export function evidenceOverDistractors(scores: ArrayLike<number>, evidence: readonly number[], distractors: readonly number[]): boolean | null {
  if (distractors.length === 0) return null;
  const r = ranks(scores);
  const bestEvidence = Math.min(...evidence.map((e) => r[e]!));
  return distractors.every((d) => r[d]! > bestEvidence);
}

/**
 * Average precision of the evidence words in the ranking: the mean over evidence words of the precision at
 * their rank (the area under the step precision-recall curve). One evidence word at rank r gives 1 / r.
 */
export function averagePrecision(scores: ArrayLike<number>, evidence: readonly number[]): number {
  const all = ranks(scores);
  const r = evidence.map((e) => all[e]!).sort((a, b) => a - b);
  return r.reduce((s, rank, i) => s + (i + 1) / rank, 0) / r.length;
}

/** The target probabilities of one item under the perturbations the faithfulness metrics need. */
export interface PerturbationProbabilities {
  /** p(target) on the full input. */
  full: number;
  /** k -> p(target) with the top-k words replaced. */
  removed: ReadonlyMap<number, number>;
  /** k -> p(target) with every word but the top k replaced. */
  kept: ReadonlyMap<number, number>;
}

/** Comprehensiveness at k: p(full) - p(top-k words replaced). Higher = the top words mattered. */
export function comprehensiveness(p: PerturbationProbabilities, k: number): number {
  return p.full - probability(p.removed, k, "removed");
}

/** Sufficiency at k: p(full) - p(only the top-k words kept). Lower = the top words suffice. */
export function sufficiency(p: PerturbationProbabilities, k: number): number {
  return p.full - probability(p.kept, k, "kept");
}

/** The k of AOPC for an item of `words` words: 1 .. min(maxK, words). */
export function aopcKs(words: number, maxK: number): number[] {
  return Array.from({ length: Math.max(0, Math.min(maxK, words)) }, (_, i) => i + 1);
}

/** AOPC: the mean of comprehensiveness (or sufficiency) over k = 1 .. min(maxK, words). */
export function aopc(p: PerturbationProbabilities, words: number, maxK: number, metric: "comprehensiveness" | "sufficiency"): number {
  const ks = aopcKs(words, maxK);
  const f = metric === "comprehensiveness" ? comprehensiveness : sufficiency;
  return ks.reduce((s, k) => s + f(p, k), 0) / ks.length;
}

/**
 * The decision among candidate tokens: the index (into `candidates`) of the highest logit, ties to the first.
 * `logits` is one row over the vocabulary; with no candidates the decision is the argmax over the vocabulary.
 */
export function decision(logits: ArrayLike<number>, candidates: readonly number[]): number {
  const ids = candidates.length > 0 ? candidates : Array.from({ length: logits.length }, (_, i) => i);
  let best = 0;
  for (let i = 1; i < ids.length; i++) if (logits[ids[i]!]! > logits[ids[best]!]!) best = i;
  return candidates.length > 0 ? best : ids[best]!;
}

/** Softmax probability of `id` in a row of logits (stable: max subtracted). */
export function softmaxAt(logits: ArrayLike<number>, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return Math.exp(logits[id]! - max) / sum;
}

/** Mean of the defined values (null when none). */
export function mean(values: ReadonlyArray<number | null | undefined>): number | null {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (v === null || v === undefined || Number.isNaN(v)) continue;
    s += v;
    n++;
  }
  return n === 0 ? null : s / n;
}

function probability(map: ReadonlyMap<number, number>, k: number, what: string): number {
  const p = map.get(k);
  if (p === undefined) throw new Error(`evaluation: no probability with the top ${k} words ${what}`);
  return p;
}
