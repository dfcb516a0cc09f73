// The evaluation's metrics on hand-computed cases: each value below is worked out in the comment beside it.
import { describe, expect, it } from "vitest";

import { baselineScores } from "../../lib/evaluation/baselines.js";
import {
  aopc, aopcKs, averagePrecision, comprehensiveness, decision, evidenceOverDistractors, mean, meanEvidenceRank, rankOrder, ranks,
  softmaxAt, sufficiency, top1Hit, type PerturbationProbabilities,
} from "../../lib/evaluation/metrics.js";
import type { EvalItem } from "../../lib/evaluation/types.js";

describe("evaluation metrics", () => {
  // words:        0    1    2    3    4
  const scores = [0.1, 0.4, 0.2, 0.4, NaN];
  it("ranks by score, ties to the earlier word, NaN last", () => {
    expect(rankOrder(scores)).toEqual([1, 3, 2, 0, 4]);
    expect(ranks(scores)).toEqual([4, 1, 3, 2, 5]);
  });

  it("top-1 hit, mean evidence rank, evidence over distractors", () => {
    expect(top1Hit(scores, [1])).toBe(true);
    expect(top1Hit(scores, [3])).toBe(false); // tied with word 1, which comes first
    expect(meanEvidenceRank(scores, [2, 0])).toBe(3.5); // ranks 3 and 4
    expect(evidenceOverDistractors(scores, [2], [0])).toBe(true); // rank 3 above rank 4
    expect(evidenceOverDistractors(scores, [2, 0], [3])).toBe(false); // best evidence rank 3, distractor rank 2
    expect(evidenceOverDistractors(scores, [2], [])).toBeNull();
  });

  it("average precision is the area under the precision-recall steps", () => {
    expect(averagePrecision(scores, [2])).toBeCloseTo(1 / 3, 12); // one evidence word at rank 3
    expect(averagePrecision(scores, [1, 2])).toBeCloseTo((1 / 1 + 2 / 3) / 2, 12); // ranks 1 and 3
    expect(averagePrecision(scores, [0, 4])).toBeCloseTo((1 / 4 + 2 / 5) / 2, 12);
  });

  const p: PerturbationProbabilities = {
    full: 0.8,
    removed: new Map([[1, 0.3], [2, 0.1], [3, 0.05]]),
    kept: new Map([[1, 0.6], [2, 0.7], [3, 0.75]]),
  };
  it("comprehensiveness, sufficiency and AOPC", () => {
    expect(comprehensiveness(p, 1)).toBeCloseTo(0.5, 12);
    expect(comprehensiveness(p, 2)).toBeCloseTo(0.7, 12);
    expect(sufficiency(p, 1)).toBeCloseTo(0.2, 12);
    expect(sufficiency(p, 2)).toBeCloseTo(0.1, 12);
    expect(aopcKs(3, 5)).toEqual([1, 2, 3]);
    expect(aopcKs(7, 2)).toEqual([1, 2]);
    expect(aopc(p, 3, 5, "comprehensiveness")).toBeCloseTo((0.5 + 0.7 + 0.75) / 3, 12);
    expect(aopc(p, 3, 2, "sufficiency")).toBeCloseTo((0.2 + 0.1) / 2, 12);
    expect(() => comprehensiveness(p, 4)).toThrow(/top 4/);
  });

  it("decision among candidates, softmax, mean", () => {
    const logits = [0, 3, 1, 3, -2];
    expect(decision(logits, [2, 0])).toBe(0); // logit 1 beats 0: index 0 of the candidates
    expect(decision(logits, [0, 3, 1])).toBe(1); // 3 ties with 3: the first candidate wins
    expect(decision(logits, [])).toBe(1); // vocabulary argmax, first of the tie
    const z = 1 + Math.exp(3) * 2 + Math.exp(1) + Math.exp(-2);
    expect(softmaxAt(logits, 2)).toBeCloseTo(Math.exp(1) / z, 12);
    expect(mean([1, null, 2, undefined, NaN])).toBe(1.5);
    expect(mean([null])).toBeNull();
  });
});

describe("baselines", () => {
  const item: EvalItem = { id: "x", kind: "k", input: "a b c d", target: "e", alternatives: [], evidence: [1, 3], distractors: [] };
  it("rank as defined", () => {
    expect(rankOrder(baselineScores("previous_word", item, 4, 0, 0))).toEqual([3, 2, 1, 0]);
    expect(rankOrder(baselineScores("first_word", item, 4, 0, 0))).toEqual([0, 1, 2, 3]);
    expect(rankOrder(baselineScores("oracle", item, 4, 0, 0))).toEqual([1, 3, 0, 2]);
  });
  it("random is seeded per item and uniform", () => {
    expect(baselineScores("random", item, 4, 7, 1)).toEqual(baselineScores("random", item, 4, 7, 1));
    expect(baselineScores("random", item, 4, 7, 1)).not.toEqual(baselineScores("random", item, 4, 8, 1));
    // top-1 of random scores over 5 words hits one fixed word ~1/5 of the time
    let hits = 0;
    for (let i = 0; i < 5000; i++) if (rankOrder(baselineScores("random", item, 5, i, 3))[0] === 2) hits++;
    expect(hits / 5000).toBeGreaterThan(0.18);
    expect(hits / 5000).toBeLessThan(0.22);
  });
});
