// Conformance with Python Inseq 0.7.1 on encoder-decoders: goldens written by Inseq itself
// (scripts/reference/make_inseq_seq2seq_goldens.py) on transformers-made tiny BART / mBART / M2M100 / Marian / T5
// checkpoints. Each case is re-run through Seq2SeqModel.attribute() and compared cell by cell (rel. 1e-4 of
// the column's scale, NaN at the same cells), with token ids, positions and step scores. Cases where we
// deliberately differ from Inseq say why.
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { loadSeq2SeqModel, type Seq2SeqModel } from "../../lib/index.js";
import type { Seq2SeqAttributeOptions } from "../../lib/attribution/attribute.js";
import { readJson, repoRoot, testDevice } from "../helpers.js";
import { compareColumns, methodArgsOf, type GoldenCase } from "./golden-compare.js";


const goldenDir = path.join(repoRoot, "test/fixtures/inseq-golden-seq2seq");
const index = readJson<{ cases: GoldenCase[] }>(path.join(goldenDir, "index.json"));
const encDec = index.cases.filter((c) => c.model_kind === "encoder-decoder");

/** Why a case is not compared number by number (each a documented, deliberate difference). */
function deviation(c: GoldenCase): string | null {
  if (c.error) return "Inseq itself fails on this case";
  if (c.model === "marian") return "Inseq bug with transformers 5: Marian's decoder embeddings are scaled twice (Inseq passes sqrt(d)*E as decoder_inputs_embeds and the decoder scales again)";
  if (c.method === "value_zeroing") return "compared in value-zeroing.test.ts";
  if (c.method === "deeplift") return "Inseq/Captum apply the Rescale rule only where the model uses nn.ReLU modules; ours applies it at every MLP activation and the softmax";
  if (c.method.startsWith("layer_")) return "Inseq bug: its hook sits on model.shared, which the encoder and decoder never call";
  if (c.method === "dummy") return "Inseq bug: dummy lists only the decoder start token as the source (step scores compared in the probability case)";
  return null;
}

function toOptions(c: GoldenCase): Seq2SeqAttributeOptions {
  const k = c.attribute_kwargs;
  return {
    method: c.method,
    generatedTexts: c.forced ? c.generated_texts : undefined,
    generationArgs: c.forced ? undefined : { maxNewTokens: Number(c.generation_args.max_new_tokens) },
    attributedFn: c.attributed_fn ?? undefined,
    stepScores: c.step_scores,
    methodArgs: methodArgsOf(c),
    contrastTargets: k.contrast_targets,
    attributeTarget: c.attribute_target ?? false,
    includeEosBaseline: c.include_eos_baseline,
    granular: true,
  };
}

const models = new Map<string, Promise<Seq2SeqModel>>();
const modelFor = (c: GoldenCase) => {
  if (!models.has(c.model)) models.set(c.model, loadSeq2SeqModel(path.join(repoRoot, c.model_path), { device: testDevice }));
  return models.get(c.model)!;
};
afterAll(async () => {
  for (const m of models.values()) await (await m).dispose();
});

const compared = encDec.filter((c) => deviation(c) === null);

describe("Python Inseq 0.7.1 encoder-decoder goldens", () => {
  it("covers the methods on four model families (t5 v1.0 and v1.1), source and target side, batch 1 and 2", () => {
    const methods = new Set(compared.map((c) => c.method));
    for (const m of ["saliency", "input_x_gradient", "integrated_gradients", "occlusion", "attention"]) expect(methods.has(m), m).toBe(true);
    expect(new Set(compared.map((c) => c.model))).toEqual(new Set(["bart", "mbart", "m2m_100", "t5", "t5-v1_1"]));
    expect(compared.some((c) => c.attribute_target)).toBe(true);
    expect(compared.some((c) => c.batch === 2)).toBe(true);
    expect(compared.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of compared) {
    it(`${c.model} ${c.case}`, async () => {
      const model = await modelFor(c);
      const gold = await FeatureAttributionOutput.load(path.join(goldenDir, c.file!));
      let ours = await model.attribute(c.input_texts, toOptions(c));
      if (!c.forced) {
        // Inseq decodes its generation and re-encodes the text as a target (which can change the ids); check
        // it was the same generation, then compare on Inseq's re-encoded target.
        expect(ours.info.generated_texts).toEqual(gold.info.generated_texts);
        ours = await model.attribute(c.input_texts, { ...toOptions(c), generationArgs: undefined, generatedTexts: gold.info.generated_texts as string[] });
      }
      expect(ours.sequenceAttributions.length).toBe(gold.sequenceAttributions.length);
      gold.sequenceAttributions.forEach((g, i) => {
        const o = ours.sequenceAttributions[i]!;
        expect(o.source.map((t) => t.id)).toEqual(g.source.map((t) => t.id));
        expect(o.target.map((t, j) => (g.target[j]?.id === -1 ? -1 : t.id))).toEqual(g.target.map((t) => t.id));
        expect([o.attrPosStart, o.attrPosEnd]).toEqual([g.attrPosStart, g.attrPosEnd]);
        expect(compareColumns(o.sourceAttributions!, g.sourceAttributions!)).toBeLessThanOrEqual(1e-4);
        if (g.targetAttributions) expect(compareColumns(o.targetAttributions!, g.targetAttributions)).toBeLessThanOrEqual(1e-4);
        else expect(o.targetAttributions).toBeNull();
        for (const [name, values] of Object.entries(g.stepScores)) {
          const mine = o.stepScores[name];
          expect(mine, name).toBeDefined();
          values.forEach((v, j) => expect(Math.abs(mine![j]! - v), `${name}[${j}]`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))));
        }
        for (const [name, t] of Object.entries(g.sequenceScores)) {
          expect(o.sequenceScores[name], name).toBeDefined();
          expect(compareColumns(o.sequenceScores[name]!, t)).toBeLessThanOrEqual(1e-4);
        }
      });
    });
  }
});
