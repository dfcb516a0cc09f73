// TorchScript bundles exported by tools/export-torchscript (transformers 5.24 + torch 2.15, from the tiny
// checkpoints in test/fixtures/reference*) against the native implementations of the same weights: logits,
// generation, and the attributions of every method a bundle supports (1e-5); methods needing internals the
// bundle does not expose fail with a clear error; a bundle missing a contract method is refused on load.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { expectCode, nanAwareMaxDiff, repoRoot, testDevice } from "../helpers.js";

const bundleDir = (name: string) => path.join(repoRoot, "test/fixtures/torchscript", name);
const BUNDLE_METHODS = ["saliency", "input_x_gradient", "integrated_gradients", "sequential_integrated_gradients", "discretized_integrated_gradients", "gradient_shap", "layer_integrated_gradients",
  "layer_gradient_x_activation", "occlusion", "lime", "attention", "dummy"];
const NOT_IN_BUNDLES = ["deeplift", "layer_deeplift", "value_zeroing"];

const methodArgs = (method: string) =>
  method.includes("integrated") ? { nSteps: 8, ...(method.startsWith("discretized") ? { cacheDir: null } : {}) } : method === "gradient_shap" || method === "lime" ? { seed: 7 } : undefined;

describe.each(["gpt2", "llama"])("decoder-only bundle %s", (name) => {
  let bundle: Model, nativeModel: Model;
  beforeAll(async () => {
    bundle = await loadModel(bundleDir(name), { device: testDevice, kind: "decoder-only" });
    nativeModel = await loadModel(path.join(repoRoot, "test/fixtures/reference", name), { device: testDevice, kind: "decoder-only" });
  });
  afterAll(async () => {
    await bundle.dispose();
    await nativeModel.dispose();
  });

  it("loads as a Model with the sidecar's sizes; logits and greedy generations equal the native model's", async () => {
    expect(bundle.info).toMatchObject({ family: "torchscript", modelClass: `TorchScript:${name}`, vocabSize: nativeModel.info.vocabSize });
    const [enc] = await nativeModel.encode("He was in the park with");
    const [a, b] = await Promise.all([bundle.forward([enc!.ids]), nativeModel.forward([enc!.ids])]);
    expect(nanAwareMaxDiff(a.logits.data, b.logits.data)).toBeLessThan(1e-4);
    expect(await bundle.generate(["He was", "She said that the"], { maxNewTokens: 6 }))
      .toEqual(await nativeModel.generate(["He was", "She said that the"], { maxNewTokens: 6 }));
  });

  for (const method of BUNDLE_METHODS) {
    it(`${method}: bundle == native (1e-5)`, async () => {
      const opts = { method, generatedTexts: ["He was in the park", "She said that the dog"], stepScores: ["probability", "entropy"], methodArgs: methodArgs(method) };
      const [a, b] = await Promise.all([bundle.attribute(["He was", "She said"], opts), nativeModel.attribute(["He was", "She said"], opts)]);
      a.sequenceAttributions.forEach((s, i) => {
        const n = b.sequenceAttributions[i]!;
        if (n.targetAttributions) expect(nanAwareMaxDiff(s.targetAttributions!.data, n.targetAttributions.data)).toBeLessThan(1e-5);
        for (const k of ["probability", "entropy"]) expect(nanAwareMaxDiff(s.stepScores[k]!, n.stepScores[k]!)).toBeLessThan(1e-5);
      });
    });
  }

  it("methods needing internals fail with a clear error naming what is missing", async () => {
    for (const method of NOT_IN_BUNDLES) {
      await expectCode(bundle.attribute("He was", { method, generatedTexts: "He was in" }), "ERR_UNSUPPORTED_MODEL", "bundle");
    }
    await expectCode(bundle.attribute("He was", { method: "layer_gradient_x_activation", methodArgs: { layer: 1 }, generatedTexts: "He was in" }), "ERR_UNSUPPORTED_MODEL", "per-block");
    await expectCode(bundle.forward([[1, 2]], { outputHiddenStates: true }), "ERR_UNSUPPORTED_MODEL", "hidden states");
  });
});

describe.each(["marian", "bart"])("encoder-decoder bundle %s", (name) => {
  let bundle: Seq2SeqModel, nativeModel: Seq2SeqModel;
  const sources = ["So Ben too", "Once upon a time"];
  const targets = ["And that'", "said, the"];
  beforeAll(async () => {
    bundle = await loadSeq2SeqModel(bundleDir(name), { device: testDevice });
    nativeModel = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq", name), { device: testDevice });
  });
  afterAll(async () => {
    await bundle.dispose();
    await nativeModel.dispose();
  });

  it("generates the native model's tokens", async () => {
    expect(bundle.info).toMatchObject({ implementation: "torchscript", modelType: name, decoderStartTokenId: nativeModel.info.decoderStartTokenId });
    const [a, b] = await Promise.all([bundle.generate(sources, { maxNewTokens: 6, returnIds: true }), nativeModel.generate(sources, { maxNewTokens: 6, returnIds: true })]);
    expect(a.sequences.map((s) => s.ids)).toEqual(b.sequences.map((s) => s.ids));
  });

  for (const method of BUNDLE_METHODS) {
    it(`${method}: bundle == native on source and target (1e-5)`, async () => {
      const opts = { method, generatedTexts: targets, attributeTarget: true, stepScores: ["probability"], methodArgs: methodArgs(method) };
      const [a, b] = await Promise.all([bundle.attribute(sources, opts), nativeModel.attribute(sources, opts)]);
      a.sequenceAttributions.forEach((s, i) => {
        const n = b.sequenceAttributions[i]!;
        expect(s.target.map((t) => t.id)).toEqual(n.target.map((t) => t.id));
        if (n.sourceAttributions) expect(nanAwareMaxDiff(s.sourceAttributions!.data, n.sourceAttributions.data)).toBeLessThan(1e-5);
        if (n.targetAttributions) expect(nanAwareMaxDiff(s.targetAttributions!.data, n.targetAttributions.data)).toBeLessThan(1e-5);
        for (const [k, v] of Object.entries(n.sequenceScores)) expect(nanAwareMaxDiff(s.sequenceScores[k]!.data, v.data)).toBeLessThan(1e-5);
        expect(nanAwareMaxDiff(s.stepScores.probability!, n.stepScores.probability!)).toBeLessThan(1e-5);
      });
    });
  }
});

describe("bundle contract violations", () => {
  it("a module missing forward_embeds is refused on load, naming the method", async () => {
    await expectCode(loadModel(bundleDir("broken-missing-method"), { device: testDevice }), "ERR_BAD_MODEL", "forward_embeds");
  });
  it("kinds are checked: an encoder-decoder bundle is not a decoder-only model and vice versa", async () => {
    await expectCode(loadModel(bundleDir("bart"), { kind: "decoder-only" }), "ERR_UNSUPPORTED_MODEL", "is an encoder-decoder");
    const any = await loadModel(bundleDir("bart"), { device: testDevice });  // either kind: a Seq2SeqModel here
    expect(any.info).toMatchObject({ isEncoderDecoder: true, implementation: "torchscript" });
    await any.dispose();
    await expectCode(loadSeq2SeqModel(bundleDir("gpt2")), "ERR_UNSUPPORTED_MODEL", "loadModel");
  });
});
