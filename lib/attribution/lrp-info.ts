/**
 * The `info` fields of an AttnLRP / CP-LRP attribution (attn_lrp, cp_lrp): how well each step's relevance is
 * conserved. The engine returns, per sequence and generated step, `lrp_conservation_error` = sum of the input
 * relevance (token embeddings, plus GPT-2's position embeddings) - the attributed value f(x), and on models that add
 * position embeddings `lrp_position_relevance` (their relevance summed over the prefix). They land in `info` as
 *   lrp_conservation_error: number[][]      per sequence, per step
 *   lrp_max_abs_conservation_error: number  over every step of every sequence
 *   lrp_position_relevance: number[][]      (only where the model has position embeddings)
 * Rules that conserve (CP-LRP without biases) give errors at float32 rounding; AttnLRP's softmax and every bias
 * absorb relevance, so its error is the relevance those terms took (docs/attribution.md).
 */

/**
 * The info fields from the native step scores of each sequence (in order); none when the engine returned no
 * conservation errors (every method but the LRP ones). @internal
 */
export function lrpInfo(stepScores: ReadonlyArray<Record<string, Float32Array>>): Record<string, unknown> {
  if (!stepScores.some((s) => s.lrp_conservation_error)) return {};
  const errors = stepScores.map((s) => [...(s.lrp_conservation_error ?? [])]);
  const out: Record<string, unknown> = {
    lrp_conservation_error: errors,
    lrp_max_abs_conservation_error: Math.max(0, ...errors.flat().map(Math.abs)),
  };
  if (stepScores.some((s) => s.lrp_position_relevance)) {
    out.lrp_position_relevance = stepScores.map((s) => [...(s.lrp_position_relevance ?? [])]);
  }
  return out;
}
