// Every attribution method on every native family's reference checkpoint (transformers-made, test/fixtures/
// reference[-seq2seq]): the family's own blocks run each method's schedule. Checked per method: the output layout
// (shapes, NaN exactly at the non-causal cells, finite elsewhere), batched == one by one for the deterministic
// methods, and a contrastive target equal to the target giving exactly 0. The numbers themselves are checked against
// transformers (reference.test.ts, seq2seq.test.ts) and Python Inseq (inseq-golden-families.test.ts).
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { listFeatureAttributionMethods, loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import type { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { repoRoot, tempDir, testDevice } from "../helpers.js";

/** Checkpoint directories by kind; each native model_type has at least one here. */
const DECODER_ONLY = ["gpt2", "llama", "qwen2", "mistral", "gemma", "gemma2", "gemma2-nocap", "gemma3", "gemma3-hd12", "qwen3", "qwen3-bias", "olmo2", "phi3", "phi3-longrope", "gpt_neox", "gpt_neox-sequential"];
const ENCODER_DECODER = ["bart", "marian", "mbart", "m2m_100", "t5", "t5-v1_1"];

const RANDOM = new Set(["gradient_shap", "lime", "reagent"]); // sampled: same layout, no batched == single
const digCache = tempDir("families-dig-knn");
const methodArgs = (method: string): Record<string, unknown> | undefined =>
  method.includes("integrated") ? { nSteps: 4, ...(method.startsWith("discretized") ? { cacheDir: digCache } : {}) }
  : method === "reagent" ? { numProbes: 4, maxProbeSteps: 20 }
  : method === "lime" ? { nSamples: 8 }
  : undefined;

type Sequence = FeatureAttributionOutput["sequenceAttributions"][number];
type Attribution = NonNullable<Sequence["targetAttributions"]>;

/** NaN exactly where `causal(row, step)` is false, finite elsewhere. */
function expectLayout(t: Attribution, causal: (row: number, step: number) => boolean): void {
  const [rows, steps] = t.shape as [number, number];
  const inner = t.data.length / (rows * steps);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < steps; j++)
      for (let k = 0; k < inner; k++) {
        const v = t.data[(r * steps + j) * inner + k]!;
        if (causal(r, j)) expect(Number.isFinite(v), `cell ${r},${j},${k} = ${v}`).toBe(true);
        else expect(Number.isNaN(v), `cell ${r},${j},${k} = ${v}`).toBe(true);
      }
}

/** max |a - b| / max(1, max |b|), NaN required at the same cells. */
function relDiff(a: Attribution | null, b: Attribution | null): number {
  if (!a || !b) {
    expect(a).toBe(b);
    return 0;
  }
  expect(a.shape).toEqual(b.shape);
  let worst = 0, scale = 1;
  b.data.forEach((v) => { if (!Number.isNaN(v)) scale = Math.max(scale, Math.abs(v)); });
  a.data.forEach((v, i) => {
    expect(Number.isNaN(v)).toBe(Number.isNaN(b.data[i]!));
    if (!Number.isNaN(v)) worst = Math.max(worst, Math.abs(v - b.data[i]!) / scale);
  });
  return worst;
}

describe.each(DECODER_ONLY)("every method on decoder-only %s", (name) => {
  const prompts = ["He was", "Ben and the cat"];
  const forced = ["He was in the park", "Ben and the cat sat"];
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(path.join(repoRoot, "test/fixtures/reference", name), { device: testDevice });
  });
  afterAll(() => model.dispose());

  for (const method of listFeatureAttributionMethods()) {
    it(method, async () => {
      const opts = { method, generatedTexts: forced, methodArgs: methodArgs(method), stepScores: ["probability"] };
      const batched = await model.attribute(prompts, opts);
      expect(batched.info.model_class).toBeTypeOf("string");
      batched.sequenceAttributions.forEach((s) => {
        expect(s.stepScores.probability!.every((p) => p > 0 && p <= 1)).toBe(true);
        if (method === "dummy") return expect(s.targetAttributions).toBeNull();
        expect(s.targetAttributions!.shape.slice(0, 2)).toEqual([s.attrPosEnd, s.attrPosEnd - s.attrPosStart]);
        expectLayout(s.targetAttributions!, (r, j) => r < s.attrPosStart + j);
      });
      if (RANDOM.has(method) || method === "dummy") return;
      for (let i = 0; i < prompts.length; i++) {
        const single = await model.attribute(prompts[i]!, { ...opts, generatedTexts: forced[i] });
        expect(relDiff(batched.sequenceAttributions[i]!.targetAttributions, single.sequenceAttributions[0]!.targetAttributions), `row ${i}`).toBeLessThan(1e-4);
      }
    });
  }

  it("a contrastive target equal to the target gives exactly 0 (saliency, integrated gradients, AttnLRP, CP-LRP)", async () => {
    for (const method of ["saliency", "integrated_gradients", "attn_lrp", "cp_lrp"]) {
      const out = await model.attribute(prompts[1]!, {
        method, generatedTexts: forced[1], attributedFn: "contrast_prob_diff", contrastTargets: forced[1], methodArgs: methodArgs(method),
      });
      const data = out.sequenceAttributions[0]!.targetAttributions!.data;
      expect(data.every((v) => Number.isNaN(v) || v === 0), method).toBe(true);
    }
  });

  it("layer methods at a block and at every block", async () => {
    for (const layer of [1, "all"] as const) {
      const out = await model.attribute(prompts[0]!, { method: "layer_gradient_x_activation", generatedTexts: forced[0], methodArgs: { layer }, granular: true });
      const t = out.sequenceAttributions[0]!.targetAttributions!;
      expect(t.shape.slice(2)).toEqual(layer === "all" ? [model.info.numLayers, model.info.hiddenSize] : [model.info.hiddenSize]);
      expect(t.data.some((v) => Number.isFinite(v) && v !== 0)).toBe(true);
    }
  });
});

describe.each(ENCODER_DECODER)("every method on encoder-decoder %s", (name) => {
  const sources = ["So Ben too", "Once upon a time there was"];
  const targets = ["And that'", "said, the"];
  let model: Seq2SeqModel;
  beforeAll(async () => {
    model = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq", name), { device: testDevice });
  });
  afterAll(() => model.dispose());

  // every method, alti_logit included (TorchScript bundles refuse it: internals-methods.test.ts)
  for (const method of listFeatureAttributionMethods()) {
    it(method, async () => {
      const opts = { method, generatedTexts: targets, methodArgs: methodArgs(method), attributeTarget: true, stepScores: ["probability"] };
      const batched = await model.attribute(sources, opts);
      batched.sequenceAttributions.forEach((s) => {
        expect(s.stepScores.probability!.every((p) => p > 0 && p <= 1)).toBe(true);
        if (method === "dummy") return;
        const steps = s.attrPosEnd - s.attrPosStart;
        expect(s.sourceAttributions!.shape.slice(0, 2)).toEqual([s.source.length, steps]);
        expectLayout(s.sourceAttributions!, () => true);
        if (s.targetAttributions) expectLayout(s.targetAttributions, (r, j) => r < s.attrPosStart + j);
      });
      if (RANDOM.has(method) || method === "dummy") return;
      for (let i = 0; i < sources.length; i++) {
        const single = (await model.attribute(sources[i]!, { ...opts, generatedTexts: targets[i] })).sequenceAttributions[0]!;
        const b = batched.sequenceAttributions[i]!;
        expect(relDiff(b.sourceAttributions, single.sourceAttributions), `source row ${i}`).toBeLessThan(1e-4);
        expect(relDiff(b.targetAttributions, single.targetAttributions), `target row ${i}`).toBeLessThan(1e-4);
      }
    });
  }
});
