/**
 * Word scores that ignore the model, reported beside the methods: what a method must beat (random, the two
 * position heuristics) and the ceiling (the ground-truth oracle).
 */
import { mulberry32 } from "../default-model/grammar.js";
import type { BaselineId, EvalItem } from "./types.js";

/**
 * Scores of the `words` input words of `item` under a baseline:
 * - `random`: uniform in [0, 1), seeded by `seed` and the item's position in the set (`index`);
 * - `previous_word`: increasing with position (the word right before the target ranks first);
 * - `first_word`: decreasing with position (the first word ranks first);
 * - `oracle`: 1 for evidence words, 0 elsewhere (ties keep word order).
 */
export function baselineScores(baseline: BaselineId, item: EvalItem, words: number, index: number, seed: number): number[] {
  switch (baseline) {
    case "random": {
      const rng = mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ index) >>> 0);
      return Array.from({ length: words }, () => rng());
    }
    case "previous_word":
      return Array.from({ length: words }, (_, i) => i + 1);
    case "first_word":
      return Array.from({ length: words }, (_, i) => words - i);
    case "oracle":
      return Array.from({ length: words }, (_, i) => (item.evidence.includes(i) ? 1 : 0));
  }
}
