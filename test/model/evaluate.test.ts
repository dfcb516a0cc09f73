// evaluate() with a real model (the bundled default model): the mean-embedding removal, batched == single,
// and the faithfulness ordering the issue asks for (the oracle order removes more than a random order where
// removing the evidence changes the decision).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { evaluate } from "../../lib/evaluation/evaluate.js";
import { grammarSet } from "../../lib/evaluation/sets/index.js";
import type { EvalItem, EvalSet } from "../../lib/evaluation/types.js";
import { loadModel, type Model } from "../../lib/index.js";
import { maxAbsDiff, testDevice } from "../helpers.js";

/** The bundled grammar set's first `n` items. */
function grammarItems(n: number): EvalItem[] {
  return grammarSet().items.slice(0, n);
}

describe("evaluate() on the bundled default model", () => {
  let model: Model;
  beforeAll(async () => {
    model = (await loadModel("default", { device: testDevice })) as Model;
  });
  afterAll(() => model?.dispose());

  it("forward(meanEmbeddingAt) removes a token's identity: rows differing only there give the same logits", async () => {
    const [a, b] = await model.encode(["the doctor , a woman from the hospital , said that", "the doctor , a man from the hospital , said that"]);
    const pos = a!.tokens.indexOf("woman");
    expect(b!.tokens[pos]).toBe("man");
    const plain = await model.forward([a!.ids, b!.ids], { logitsToKeep: 1 });
    const vocab = plain.logits.shape[2]!;
    expect(plain.logits.shape).toEqual([2, 1, vocab]);
    expect(maxAbsDiff(plain.logits.data.subarray(0, vocab), plain.logits.data.subarray(vocab))).toBeGreaterThan(0.1);
    // Left padding: a shorter third row; positions count within each row as given.
    const short = a!.ids.slice(0, 4);
    const masked = await model.forward([a!.ids, b!.ids, short], { logitsToKeep: 1, meanEmbeddingAt: [[pos], [pos], [1]] });
    expect(maxAbsDiff(masked.logits.data.subarray(0, vocab), masked.logits.data.subarray(vocab, 2 * vocab))).toBeLessThan(1e-4);
    const alone = await model.forward([short], { logitsToKeep: 1, meanEmbeddingAt: [[1]] });
    expect(maxAbsDiff(alone.logits.data, masked.logits.data.subarray(2 * vocab))).toBeLessThan(1e-4);
    // Full logits without logitsToKeep: the last position equals the kept one.
    const full = await model.forward([a!.ids], { meanEmbeddingAt: [[pos]] });
    const t = a!.ids.length;
    expect(maxAbsDiff(full.logits.data.subarray((t - 1) * vocab, t * vocab), masked.logits.data.subarray(0, vocab))).toBeLessThan(1e-4);
    await expect(model.forward([a!.ids], { meanEmbeddingAt: [[t]] })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(model.forward([a!.ids], { meanEmbeddingAt: [] })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("batched attribution gives the same word scores as one item at a time", async () => {
    const set: EvalSet = { name: "grammar", description: "", items: grammarItems(8) };
    const options = { methods: ["saliency", "attention"], baselines: [], faithfulness: false, includeItems: true } as const;
    const one = await evaluate(model, set, { ...options, batchSize: 1 });
    const all = await evaluate(model, set, { ...options, batchSize: 32 });
    expect(all.items!.length).toBe(2 * set.items.length);
    all.items!.forEach((r, i) => expect(maxAbsDiff(r.wordScores, one.items![i]!.wordScores)).toBeLessThan(1e-5));
    expect(all.methods.map((m) => m.groups[0]!.plausibility)).toEqual(one.methods.map((m) => m.groups[0]!.plausibility));
  });

  it("the oracle order is at least as comprehensive as a random order where UNK removal of the evidence flips the decision", async () => {
    const set: EvalSet = { name: "grammar", description: "", items: grammarItems(80) };
    const report = await evaluate(model, set, { baselines: ["oracle", "random"], replacement: "unk", k: [1], aopcMaxK: 1, includeItems: true });
    expect(report.methods.map((m) => m.label)).toEqual(["baseline: oracle", "baseline: random"]);
    const oracle = report.items!.filter((r) => r.label === "baseline: oracle");
    const random = report.items!.filter((r) => r.label === "baseline: random");
    const flipped = oracle.map((r, i) => (r.flipped!["1"] ? i : -1)).filter((i) => i >= 0);
    expect(flipped.length).toBeGreaterThan(5);
    const meanOf = (rows: typeof oracle) => flipped.reduce((s, i) => s + rows[i]!.comprehensiveness!["1"]!, 0) / flipped.length;
    expect(meanOf(oracle)).toBeGreaterThanOrEqual(meanOf(random));
    // The oracle ranks the evidence first on every item.
    expect(report.methods[0]!.groups[0]!.plausibility).toMatchObject({ top1: 1, meanEvidenceRank: 1, auprc: 1 });
    // Groups: "all" and each dependency kind of the items.
    expect(report.methods[0]!.groups.map((g) => g.group).slice(1).sort()).toEqual([...new Set(set.items.map((i) => i.kind))].sort());
    // pFull is the model's own probability of the target and is the same for every row.
    oracle.forEach((r, i) => expect(r.pFull).toBe(random[i]!.pFull));
  });

  it("a contrastive attributed function gets each item's alternative as the contrast target", async () => {
    const set: EvalSet = { name: "grammar", description: "", items: grammarItems(6) };
    const report = await evaluate(model, set, { methods: [{ method: "saliency", attributedFn: "contrast_logits_diff" }], baselines: [], faithfulness: false });
    expect(report.methods[0]!.label).toBe("saliency+contrast_logits_diff");
    await expect(evaluate(model, { ...set, items: [{ ...set.items[0]!, alternatives: [] }] }, { methods: [{ method: "saliency", attributedFn: "contrast_logits_diff" }], baselines: [] }))
      .rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("alternatives") });
  });

  it("reports IG completeness per method (poor at 2 steps, mostly good at 300) without one process warning per batch", async () => {
    const set: EvalSet = { name: "grammar", description: "", items: grammarItems(20) };
    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const report = await evaluate(model, set, {
        methods: [{ method: "integrated_gradients", methodArgs: { nSteps: 2 } }, { method: "integrated_gradients", methodArgs: { nSteps: 300 } }, "saliency"],
        baselines: [], faithfulness: false, batchSize: 8,
      });
      expect(spy).not.toHaveBeenCalled();
      const [coarse, fine, saliency] = report.methods;
      expect(coarse!.completeness!.overThreshold).toBeGreaterThan(0.05);
      expect(coarse!.completeness!.warning).toContain("Raise nSteps (now 2)");
      // 300 steps: most items add up; a few saturated ones (p ~1 at the input, ~0 at the UNK baseline) need more.
      expect(fine!.completeness!.p50).toBeLessThan(0.01);
      expect(fine!.completeness!.overThreshold).toBeLessThan(coarse!.completeness!.overThreshold);
      expect(saliency!.completeness).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
  });

  it("the randomisation check changes a real method's attributions, one cascade step per block and one for the embeddings", async () => {
    const set: EvalSet = { name: "grammar", description: "", items: grammarItems(30) };
    const report = await evaluate(model, set, {
      methods: ["saliency", "attention"], baselines: [], faithfulness: false, randomization: { items: 10, seed: 3 },
    });
    for (const m of report.methods) {
      const steps = m.randomization!;
      expect(steps.map((s) => s.randomized)).toEqual([
        ...Array.from({ length: model.info.numLayers - 1 }, (_, i) => `top ${i + 1}`), "all blocks", "all + embeddings",
      ]);
      expect(steps.at(-1)!.spearman).toBeLessThan(0.9);
      steps.forEach((s) => expect(s.spearman).toBeLessThanOrEqual(1 + 1e-12));
    }
  });
});
