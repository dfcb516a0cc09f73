// Python Inseq 0.7.1 on every native family's reference checkpoint (scripts/reference/
// make_inseq_family_goldens.py writes test/fixtures/inseq-golden-families/<checkpoint>/): saliency at batch 1 and 3
// (encoder-decoders: with the target side), integrated gradients, attention and value zeroing, forced decoding. Each
// case is re-run through attribute() and compared cell by cell: token ids, positions, source and target
// attributions (rel 1e-4 of a column's scale, NaN at the same cells; value zeroing 2e-4, see value-zeroing.test.ts)
// and step scores.
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { readJson, repoRoot, testDevice } from "../helpers.js";
import { compareColumns, methodArgsOf, type GoldenCase } from "./golden-compare.js";

const goldenRoot = path.join(repoRoot, "test/fixtures/inseq-golden-families");
const checkpoints = readdirSync(goldenRoot).sort();
const VZ_TOLERANCE = 2e-4; // value-zeroing.test.ts: float32 rounding amplified across layers

const loaded = new Map<string, Promise<Model | Seq2SeqModel>>();
const modelFor = (c: GoldenCase) => {
  if (!loaded.has(c.model)) {
    const dir = path.join(repoRoot, c.model_path);
    loaded.set(c.model, c.model_kind === "encoder-decoder" ? loadSeq2SeqModel(dir, { device: testDevice }) : loadModel(dir, { device: testDevice }));
  }
  return loaded.get(c.model)!;
};
afterAll(async () => {
  for (const m of loaded.values()) await (await m).dispose();
});

describe.each(checkpoints)("Python Inseq 0.7.1 goldens on %s", (name) => {
  const index = readJson<{ cases: Array<GoldenCase & { architecture: string }> }>(path.join(goldenRoot, name, "index.json"));

  it("has every case, each written by Inseq without an error", () => {
    const kind = index.cases[0]!.model_kind;
    const expected = kind === "encoder-decoder"
      ? ["saliency_forced_b1", "saliency_target_forced_b1", "integrated_gradients_forced_b1", "attention_forced_b1", "value_zeroing_forced_b1", "value_zeroing_target_forced_b1"]
      : ["saliency_forced_b1", "saliency_forced_b3", "integrated_gradients_forced_b1", "attention_forced_b1", "value_zeroing_forced_b1"];
    expect(index.cases.map((c) => c.case)).toEqual(expected);
    for (const c of index.cases) expect(c.error, `${c.case}: ${c.error}`).toBeUndefined();
  });

  for (const c of index.cases.filter((x) => x.file)) {
    it(c.case, async () => {
      const model = await modelFor(c);
      const gold = await FeatureAttributionOutput.load(path.join(goldenRoot, name, c.file!));
      const vz = c.method === "value_zeroing";
      const ours = await (model as Seq2SeqModel).attribute(c.input_texts, {
        method: c.method,
        generatedTexts: c.generated_texts,
        stepScores: c.step_scores,
        methodArgs: methodArgsOf(c),
        granular: !vz, // Inseq keeps the hidden dimension; value zeroing has none
        ...(c.model_kind === "encoder-decoder" ? { attributeTarget: c.attribute_target ?? false } : {}),
      });
      expect(ours.sequenceAttributions.length).toBe(gold.sequenceAttributions.length);
      const tolerance = vz ? VZ_TOLERANCE : 1e-4;
      gold.sequenceAttributions.forEach((g, i) => {
        const o = ours.sequenceAttributions[i]!;
        expect(o.source.map((t) => t.id)).toEqual(g.source.map((t) => t.id));
        expect(o.target.map((t) => t.id)).toEqual(g.target.map((t) => t.id));
        expect([o.attrPosStart, o.attrPosEnd]).toEqual([g.attrPosStart, g.attrPosEnd]);
        for (const key of ["sourceAttributions", "targetAttributions"] as const) {
          if (g[key]) expect(compareColumns(o[key]!, g[key]!), key).toBeLessThanOrEqual(tolerance);
          else expect(o[key], key).toBeNull();
        }
        for (const [score, values] of Object.entries(g.stepScores)) {
          values.forEach((v, j) => expect(Math.abs(o.stepScores[score]![j]! - v), `${score}[${j}]`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))));
        }
        for (const [score, t] of Object.entries(g.sequenceScores)) expect(compareColumns(o.sequenceScores[score]!, t), score).toBeLessThanOrEqual(tolerance);
      });
    });
  }
});
