// evaluate() end to end on a synthetic model whose logits are a hand-written function of the input tokens, so
// every metric of the report can be worked out by hand (the values in the comments).
import { describe, expect, it } from "vitest";

import { evaluate } from "../../lib/evaluation/evaluate.js";
import type { EvalSet } from "../../lib/evaluation/types.js";

// Word-level vocabulary; id 0 is UNK, 1 is BOS, 2 is pad.
const VOCAB = ["[UNK]", "<s>", "[PAD]", "the", "doctor", "woman", "man", "said", "she", "he", "lady"];
const id = (w: string) => VOCAB.indexOf(w);

/** A fake decoder-only model: next-token logits are 2 for "she" when "woman" is in the row, 2 for "he" with "man". */
function fakeModel() {
  const encode1 = (text: string) => {
    const words = text.split(" ");
    const ids = [1], tokens = ["<s>"], offsets: Array<[number, number]> = [[0, 0]], wordIds: Array<number | null> = [null], mask = [1];
    let at = 0;
    words.forEach((w, i) => {
      ids.push(id(w) >= 0 ? id(w) : 0);
      tokens.push(w);
      offsets.push([at, at + w.length]);
      wordIds.push(i);
      mask.push(0);
      at += w.length + 1;
    });
    return { ids, tokens, offsets, wordIds, specialTokensMask: mask };
  };
  const forwarded: number[][] = [];
  return {
    forwarded,
    kind: "decoder-only" as const,
    tokenizer: { unkTokenId: 0 },
    padTokenId: 2,
    info: { name: "fake", path: "/fake" },
    encode: async (texts: string | string[]) => (typeof texts === "string" ? [texts] : texts).map(encode1),
    forward: async (rows: number[][], options: { logitsToKeep?: number; meanEmbeddingAt?: number[][] }) => {
      expect(options.logitsToKeep).toBe(1);
      const data = new Float32Array(rows.length * VOCAB.length);
      rows.forEach((row, b) => {
        forwarded.push(row);
        if (row.includes(id("woman"))) data[b * VOCAB.length + id("she")] = 2;
        if (row.includes(id("man"))) data[b * VOCAB.length + id("he")] = 2;
      });
      return { logits: { dims: ["batch", "position", "vocab"], shape: [rows.length, 1, VOCAB.length], data }, attentions: [], hiddenStates: [] };
    },
  };
}

// "the doctor woman said" -> "she": evidence word 2 ("woman"); distractor word 1 (made up for the test).
const SET: EvalSet = {
  name: "synthetic", description: "two items",
  items: [
    { id: "a", kind: "pronoun", input: "the doctor woman said", target: "she", alternatives: ["he"], evidence: [2], distractors: [1], verified: true },
    { id: "b", kind: "pronoun", input: "the man said", target: "he", alternatives: ["she"], evidence: [1], distractors: [], counterfactuals: { "1": "woman" } },
  ],
};

describe("evaluate() on a synthetic model", () => {
  it("computes every metric of the baselines as worked out by hand (UNK replacement)", async () => {
    const model = fakeModel();
    const report = await evaluate(model as never, SET, { baselines: ["oracle", "previous_word", "first_word"], replacement: "unk", k: [1, 2], aopcMaxK: 3 });
    expect(report.replacement).toBe("unk");
    expect(report.set).toEqual({ name: "synthetic", description: "two items", items: 2, verified: 1 });
    expect(report.methods.map((m) => m.label)).toEqual(["baseline: oracle", "baseline: previous word", "baseline: first word"]);
    // Softmax over 11 logits: one 2 and ten 0s -> p = e^2 / (e^2 + 10); all zeros -> p = 1/11.
    const pHit = Math.exp(2) / (Math.exp(2) + 10), pMiss = 1 / 11;
    const [oracle, previous, first] = report.methods.map((m) => m.groups);
    // Groups: "all", then "verified" (item a only); the single kind is reported as "all".
    expect(oracle!.map((g) => g.group)).toEqual(["all", "verified"]);
    const o = oracle![0]!;
    expect(o.plausibility).toEqual({ top1: 1, meanEvidenceRank: 1, evidenceOverDistractors: 1, auprc: 1 });
    // Oracle removes the evidence first: p drops from pHit to pMiss in both items; keeping only it keeps pHit.
    expect(o.faithfulness!.comprehensiveness["1"]).toBeCloseTo(pHit - pMiss, 6);
    expect(o.faithfulness!.sufficiency["1"]).toBeCloseTo(0, 6);
    // Without the evidence "she" and "he" tie at 0: a tie keeps the target (the first candidate), so no flip.
    expect(o.faithfulness!.decisionFlip["1"]).toBe(0);
    // AOPC over k = 1..min(3, words): item a (4 words) k=1,2,3 all remove "woman"; item b (3 words) the same.
    expect(o.faithfulness!.aopcComprehensiveness).toBeCloseTo(pHit - pMiss, 6);
    // Previous word: item a ranks [said, woman, doctor, the] -> evidence rank 2; item b ranks [said, man, the] -> rank 2.
    const p = previous![0]!;
    expect(p.plausibility.top1).toBe(0);
    expect(p.plausibility.meanEvidenceRank).toBe(2);
    expect(p.plausibility.auprc).toBeCloseTo(0.5, 12);
    expect(p.plausibility.evidenceOverDistractors).toBe(1); // item a: woman (rank 2) above doctor (rank 3)
    // k=1 removes "said" (no change): comp 0, suff = pHit - pMiss (only "said" kept); k=2 removes the evidence too.
    expect(p.faithfulness!.comprehensiveness["1"]).toBeCloseTo(0, 6);
    expect(p.faithfulness!.comprehensiveness["2"]).toBeCloseTo(pHit - pMiss, 6);
    expect(p.faithfulness!.sufficiency["1"]).toBeCloseTo(pHit - pMiss, 6);
    expect(p.faithfulness!.sufficiency["2"]).toBeCloseTo(0, 6);
    expect(p.faithfulness!.decisionFlip).toEqual({ "1": 0, "2": 0 });
    // AOPC comp: item a k=1,2,3 -> (0 + d + d)/3; item b k=1,2,3 -> (0 + d + d)/3, d = pHit - pMiss.
    expect(p.faithfulness!.aopcComprehensiveness).toBeCloseTo((2 * (pHit - pMiss)) / 3, 6);
    // First word: item a ranks [the, doctor, woman, said] -> rank 3, distractor doctor above it; item b [the, man, said] -> 2.
    const f = first![0]!;
    expect(f.plausibility.meanEvidenceRank).toBe(2.5);
    expect(f.plausibility.evidenceOverDistractors).toBe(0);
    expect(f.plausibility.auprc).toBeCloseTo((1 / 3 + 1 / 2) / 2, 12);
    // The verified group is item a alone.
    expect(first![1]!.items).toBe(1);
    expect(first![1]!.plausibility.meanEvidenceRank).toBe(3);
  });

  it("shares identical perturbed inputs and replaces with pad, the mean embedding or a counterfactual word", async () => {
    const model = fakeModel();
    await evaluate(model as never, SET, { baselines: ["oracle", "previous_word"], replacement: "pad", k: [1], aopcMaxK: 1 });
    // Per item: full, removed@1, kept@1 for 2 baselines = 6 requests, of which "full" is shared: 5 distinct per item.
    expect(model.forwarded.length).toBe(10);
    expect(model.forwarded).toContainEqual([1, 3, 4, 2, 7]); // "woman" -> pad
    const counterfactual = fakeModel();
    const r = await evaluate(counterfactual as never, { ...SET, items: [SET.items[1]!] }, { baselines: ["oracle"], k: [1], aopcMaxK: 1, includeItems: true });
    expect(r.replacement).toBe("counterfactual"); // every item has counterfactuals
    // "man" -> "woman": the row now predicts "she": p(he) = 1/(e^2 + 10) and the decision flips.
    expect(counterfactual.forwarded).toContainEqual([1, 3, 5, 7]);
    // kept@1 replaces "the" and "said", which have no counterfactual: UNK (0).
    expect(counterfactual.forwarded).toContainEqual([1, 0, 6, 0]);
    const pHit = Math.exp(2) / (Math.exp(2) + 10);
    expect(r.items![0]!.comprehensiveness!["1"]).toBeCloseTo(pHit - 1 / (Math.exp(2) + 10), 6);
    expect(r.items![0]!.flipped).toEqual({ "1": true });
  });

  it("refuses bad sets and options with codes", async () => {
    const model = fakeModel();
    await expect(evaluate(model as never, { ...SET, items: [{ ...SET.items[0]!, evidence: [9] }] }, { baselines: ["oracle"] }))
      .rejects.toMatchObject({ code: "ERR_BAD_DATASET", message: expect.stringContaining("evidence index 9") });
    await expect(evaluate(model as never, SET, { baselines: ["oracle"], k: [0] })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(evaluate(model as never, SET, { baselines: ["nope" as never] })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(evaluate(model as never, SET, { methods: ["no_such_method"] })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(evaluate(model as never, SET, { baselines: ["oracle"], verifiedOnly: true, limit: 1 })).resolves.toMatchObject({ set: { items: 1 } });
    await expect(evaluate(model as never, { ...SET, items: [] }, { baselines: ["oracle"] })).rejects.toMatchObject({ code: "ERR_BAD_DATASET" });
    await expect(evaluate(model as never, SET, { baselines: ["oracle"], bogus: 1 } as never)).rejects.toMatchObject({ code: "ERR_UNKNOWN_OPTION" });
  });
});
