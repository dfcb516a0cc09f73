/**
 * Context-sensitive token identification (CTI): one `dummy` attribution of the contextless run whose only step
 * score is the contrastive metric with the contextual run as contrast (so `kl_divergence` is KL(P_noctx ‖ P_ctx)
 * and `pcxmi` is log p_ctx − log p_noctx), then the tokens whose |score| reaches mean + λ·std (unbiased std),
 * ranked by |score| and cut to the top k.
 */

/** A selected token: its index in the current output, its CTI score and token. */
export type RankedToken = [index: number, score: number, token: string];

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Unbiased (n − 1) standard deviation, as torch's `std()`; NaN for one value. */
export function unbiasedStd(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Inseq's `get_scores_threshold`: 0 without λ or scores; the mean when λ = 0 or one score; else mean + λ·std. */
export function scoresThreshold(scores: readonly number[], stdWeight: number | null): number {
  if (stdWeight === null || scores.length === 0) return 0;
  if (stdWeight === 0 || scores.length === 1) return mean(scores);
  return mean(scores) + stdWeight * unbiasedStd(scores);
}

/** Inseq's `filter_rank_tokens`: the tokens with |score| >= threshold by decreasing |score| (stable), then top k. */
export function filterRankTokens(tokens: readonly string[], scores: readonly number[], stdThreshold: number | null, topk: number | null):
  { ranked: RankedToken[]; threshold: number } {
  const threshold = scoresThreshold(scores, stdThreshold);
  let ranked = scores
    .map((s, i): RankedToken => [i, s, tokens[i]!])
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .filter(([, s]) => Math.abs(s) >= threshold);
  if (topk) ranked = ranked.slice(0, topk);
  return { ranked, threshold };
}
