// Seq2SeqModel.attribute() on the tiny transformers-made checkpoints: every method's shapes and NaN layout on
// the source and target side, batched == one by one, completeness of integrated gradients, generation options
// (sampling, target prefixes), contrastive sources, loadModel, the CLI, and bad input.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { listFeatureAttributionMethods, loadModel, loadSeq2SeqModel, registerStepFunction, type Seq2SeqModel } from "../../lib/index.js";
import { expectCode, nanAwareMaxDiff, repoRoot, tempDir, testDevice } from "../helpers.js";

const dirOf = (name: string) => path.join(repoRoot, "test/fixtures/reference-seq2seq", name);
const SOURCES = ["So Ben too", "Once upon a time there was"];
const TARGETS = ["And that'", "said, the"];
const EXTRA: Record<string, number[]> = { attention: [2, 4], value_zeroing: [2] };

describe.each(["bart", "m2m_100", "t5"])("%s attribution", (name) => {
  let model: Seq2SeqModel;
  beforeAll(async () => {
    model = await loadSeq2SeqModel(dirOf(name), { device: testDevice });
  });
  afterAll(() => model.dispose());

  for (const method of listFeatureAttributionMethods()) {
    it(`${method}: source and target shapes, NaN only after each step's prefix`, async () => {
      const out = await model.attribute(SOURCES, {
        method, generatedTexts: TARGETS, attributeTarget: true, stepScores: ["probability"], methodArgs: method.includes("integrated") ? { nSteps: 4 } : method === "reagent" ? { maxProbeSteps: 20, numProbes: 4 } : undefined,
      });
      expect(out.info).toMatchObject({ attribution_method: method, attribute_target: true, constrained_decoding: true });
      for (const s of out.sequenceAttributions) {
        const S = s.source.length, T = s.target.length, G = T - 1;
        expect([s.attrPosStart, s.attrPosEnd]).toEqual([1, T]);
        expect(s.target[0]!.id).toBe(model.info.decoderStartTokenId);
        expect(s.stepScores.probability!.length).toBe(G);
        if (method === "dummy") {
          expect(s.sourceAttributions).toBeNull();
          continue;
        }
        const extra = EXTRA[method] ?? [];
        expect(s.sourceAttributions!.shape).toEqual([S, G, ...extra]);
        expect(s.targetAttributions!.shape).toEqual([T, G, ...extra]);
        expect(s.sourceAttributions!.data.some((v) => Number.isNaN(v))).toBe(false);
        const inner = extra.reduce((a, b) => a * b, 1);
        const t = s.targetAttributions!;
        for (let r = 0; r < T; r++)
          for (let j = 0; j < G; j++) expect(Number.isNaN(t.data[(r * G + j) * inner]!), `${r},${j}`).toBe(r > j);
      }
    });
  }

  it("batched equals one by one (saliency, integrated gradients, DIG, occlusion, value zeroing)", async () => {
    for (const method of ["saliency", "integrated_gradients", "discretized_integrated_gradients", "occlusion", "value_zeroing"]) {
      const dig = method.startsWith("discretized") ? { cacheDir: null } : {}; // no kNN cache file in the user's home
      const opts = { method, attributeTarget: true, methodArgs: method.includes("integrated_gradients") ? { nSteps: 8, ...dig } : undefined };
      const batched = await model.attribute(SOURCES, { ...opts, generatedTexts: TARGETS });
      for (let i = 0; i < SOURCES.length; i++) {
        const single = (await model.attribute(SOURCES[i]!, { ...opts, generatedTexts: TARGETS[i] })).sequenceAttributions[0]!;
        const b = batched.sequenceAttributions[i]!;
        expect(nanAwareMaxDiff(b.sourceAttributions!.data, single.sourceAttributions!.data), method).toBeLessThan(1e-5);
        expect(nanAwareMaxDiff(b.targetAttributions!.data, single.targetAttributions!.data), method).toBeLessThan(1e-5);
      }
    }
  });

  it("integrated gradients converges to completeness over source + target (sum = f(x) - f(baseline))", async () => {
    // Random tiny models with scaled embeddings have sharp integrands: the delta shrinks with more steps
    // (measured bart 64 -> 256 steps: 4.7e-3 -> 1.6e-5; m2m_100: 1.8e-1 -> 4.8e-2).
    const worst = async (nSteps: number) => {
      const out = await model.attribute(SOURCES[0]!, {
        method: "integrated_gradients", generatedTexts: TARGETS[0], attributeTarget: true, granular: true,
        attributedFnArgs: { logprob: true }, methodArgs: { nSteps, returnConvergenceDelta: true },
      });
      const s = out.sequenceAttributions[0]!;
      const G = s.attrPosEnd - s.attrPosStart, H = model.info.hiddenSize;
      let rel = 0;
      for (let j = 0; j < G; j++) {
        let sum = 0;
        for (const t of [s.sourceAttributions!, s.targetAttributions!])
          for (let r = 0; r < t.shape[0]!; r++)
            for (let k = 0; k < H; k++) {
              const v = t.data[(r * G + j) * H + k]!;
              if (!Number.isNaN(v)) sum += v;
            }
        const delta = s.stepScores.deltas![j]!;  // sum - (f(x) - f(x'))
        rel = Math.max(rel, Math.abs(delta) / Math.abs(sum - delta));
      }
      return rel;
    };
    const [coarse, fine] = [await worst(64), await worst(256)];
    expect(fine).toBeLessThan(coarse / 3);
    expect(fine).toBeLessThan(name === "bart" ? 1e-3 : 0.1);
  });

  it("without attributeTarget only the source is attributed and the target prefix stays fixed in baselines", async () => {
    const [both, srcOnly] = await Promise.all([
      model.attribute(SOURCES[0]!, { method: "integrated_gradients", generatedTexts: TARGETS[0], attributeTarget: true, methodArgs: { nSteps: 8 } }),
      model.attribute(SOURCES[0]!, { method: "integrated_gradients", generatedTexts: TARGETS[0], methodArgs: { nSteps: 8 } }),
    ]);
    expect(srcOnly.sequenceAttributions[0]!.targetAttributions).toBeNull();
    expect(srcOnly.info.attribute_target).toBe(false);
    // the path differs (the target is not interpolated), so the source scores differ
    expect(nanAwareMaxDiff(both.sequenceAttributions[0]!.sourceAttributions!.data, srcOnly.sequenceAttributions[0]!.sourceAttributions!.data)).toBeGreaterThan(1e-6);
  });

  it("generates targets (greedy, sampled with a seed, from a target prefix) and attributes them", async () => {
    const greedy = await model.attribute(SOURCES, { generationArgs: { maxNewTokens: 4 } });
    const ids = await model.generate(SOURCES, { maxNewTokens: 4, returnIds: true });
    greedy.sequenceAttributions.forEach((s, i) => expect(s.target.map((t) => t.id)).toEqual([model.info.decoderStartTokenId, ...ids.sequences[i]!.ids]));
    const a = await model.generate(SOURCES, { maxNewTokens: 6, doSample: true, seed: 3, returnIds: true });
    const b = await model.generate(SOURCES, { maxNewTokens: 6, doSample: true, seed: 3, returnIds: true });
    expect(a.sequences).toEqual(b.sequences);
    const prefix = await model.targetTokenizer.encode("And", { addSpecialTokens: false });
    const pre = await model.attribute(SOURCES[0]!, { generatedTexts: "And", generateFromTargetPrefix: true, generationArgs: { maxNewTokens: 3 } });
    const target = pre.sequenceAttributions[0]!.target.map((t) => t.id);
    expect(target.slice(1, 1 + prefix.ids.length)).toEqual(prefix.ids);
    expect(target.length).toBeLessThanOrEqual(1 + prefix.ids.length + 3);
    expect(pre.info.generate_from_target_prefix).toBe(true);
  });

  it("contrastive sources change the contrast step scores; identical contrasts give 0", async () => {
    const same = await model.attribute(SOURCES[0]!, {
      generatedTexts: TARGETS[0], method: "dummy", stepScores: ["contrast_prob_diff"], contrastSources: SOURCES[0], contrastTargets: TARGETS[0],
    });
    same.sequenceAttributions[0]!.stepScores.contrast_prob_diff!.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-6));
    const other = await model.attribute(SOURCES[0]!, {
      generatedTexts: TARGETS[0], method: "dummy", stepScores: ["contrast_prob_diff"], contrastSources: "Ben went home", contrastTargets: TARGETS[0],
    });
    expect(other.sequenceAttributions[0]!.stepScores.contrast_prob_diff!.some((v) => Math.abs(v) > 1e-6)).toBe(true);
  });

  it("forward() gives the logits the step scores come from; custom JS step functions work on encoder-decoders", async () => {
    registerStepFunction(`custom_s2s_prob_${name}`, ({ logits, target }) => {
      let max = -Infinity, sum = 0;
      for (const v of logits) max = Math.max(max, v);
      for (const v of logits) sum += Math.exp(v - max);
      return Math.exp(logits[target]! - max) / sum;
    });
    const out = await model.attribute(SOURCES[1]!, { method: "dummy", generatedTexts: TARGETS[1], stepScores: ["probability", `custom_s2s_prob_${name}`] });
    const s = out.sequenceAttributions[0]!;
    expect(nanAwareMaxDiff(s.stepScores[`custom_s2s_prob_${name}`]!, s.stepScores.probability!)).toBeLessThan(1e-6);
    const src = s.source.map((t) => t.id), tgt = s.target.map((t) => t.id);
    const f = await model.forward([src, src.slice(0, 3)], [tgt, tgt.slice(0, 2)], { outputAttentions: true });
    expect(f.logits.shape).toEqual([2, tgt.length, model.info.vocabSize]);
    expect(f.crossAttentions.length).toBe(model.info.numLayers);
    expect(f.crossAttentions[0]!.shape).toEqual([2, model.info.numHeads, tgt.length, src.length]);
    expect(f.encoderAttentions[0]!.shape).toEqual([2, model.info.numHeads, src.length, src.length]);
    await expectCode(model.forward([src], [tgt, tgt]), "ERR_INVALID_OPTION", "targets");
    await expectCode(model.forward([src], [[999999]]), "ERR_INVALID_OPTION", "for targets[0][0] (row 0, column 0) but received 999999");
  });

  it("a block by name (model.encoder.layers.N; T5: encoder.block.N) equals the block index", async () => {
    const names = name === "t5" ? ["encoder.block.1", "decoder.block.1"] : ["model.encoder.layers.1", "model.decoder.layers.1"];
    const run = (layer: number | string) =>
      model.attribute(SOURCES[0]!, { method: "layer_gradient_x_activation", generatedTexts: TARGETS[0], methodArgs: { layer } });
    const [byIndex, byName] = [await run(1), await run(names[0]!)];
    expect(byName.sequenceAttributions[0]!.sourceAttributions!.data).toEqual(byIndex.sequenceAttributions[0]!.sourceAttributions!.data);
    expect(nanAwareMaxDiff(byIndex.sequenceAttributions[0]!.sourceAttributions!.data, (await run(0)).sequenceAttributions[0]!.sourceAttributions!.data)).toBeGreaterThan(1e-6);
    await expectCode(run(names[1]!), "ERR_INVALID_OPTION", "attributeTarget");
  });

  it("bad input: clear errors with codes, model still usable", async () => {
    await expectCode(model.attribute("", { generatedTexts: "a" }), "ERR_INVALID_OPTION", "inputTexts");
    await expectCode(model.attribute(SOURCES, { generatedTexts: ["a"] }), "ERR_INVALID_OPTION", "generatedTexts");
    await expectCode(model.attribute(SOURCES[0]!, { generatedTexts: "a b", attrPosStart: 5, attrPosEnd: 2 }), "ERR_INVALID_OPTION", "attrPosStart");
    await expectCode(model.attribute(SOURCES[0]!, { generateFromTargetPrefix: true }), "ERR_INVALID_OPTION", "generateFromTargetPrefix");
    await expectCode(model.attribute(SOURCES[0]!, { generatedTexts: "a", method: "nope" }), "ERR_INVALID_OPTION", "nope");
    await expectCode(model.attribute(SOURCES[0]!, { generatedTexts: "a", method: "layer_integrated_gradients", methodArgs: { layer: 5 } }), "ERR_INVALID_OPTION", "out of range");
    await expectCode(model.attribute(SOURCES[0]!, { generatedTexts: "a", method: "layer_integrated_gradients", methodArgs: { layer: "model.decoder.layers.1" } }), "ERR_INVALID_OPTION", "attributeTarget");
    const long = Array.from({ length: 600 }, () => "Ben").join(" ");
    if (name === "t5") {
      // Relative positions: no length limit. dropout_rate applies in training mode, so MC dropout runs (and differs
      // from the eval probability).
      const mc = await model.attribute(SOURCES[0]!, { generatedTexts: TARGETS[0], method: "dummy", stepScores: ["probability", "mc_dropout_prob_avg"] });
      const st = mc.sequenceAttributions[0]!.stepScores;
      expect(st.mc_dropout_prob_avg!.length).toBe(st.probability!.length);
      expect(nanAwareMaxDiff(st.mc_dropout_prob_avg!, st.probability!)).toBeGreaterThan(1e-4);
    } else {
      await expectCode(model.attribute(long, { generatedTexts: "a" }), "ERR_INVALID_OPTION", "exceeds");
      await expectCode(model.generate(long), "ERR_INVALID_OPTION", "exceeds");
      await expectCode(model.attribute(SOURCES[0]!, { generatedTexts: "a", method: "dummy", stepScores: ["mc_dropout_prob_avg"] }), "ERR_UNSUPPORTED_MODEL", "dropout");
    }
    expect((await model.attribute(SOURCES[0]!, { generatedTexts: "a" })).sequenceAttributions.length).toBe(1);
  });
});

describe("loadModel and the CLI with encoder-decoders", () => {
  it("loadModel picks the model kind", async () => {
    const enc = await loadModel(dirOf("marian"), { device: testDevice });
    const dec = await loadModel(path.join(repoRoot, "test/fixtures/reference/gpt2"), { device: testDevice });
    expect(enc.info.isEncoderDecoder).toBe(true);
    expect((dec.info as { isEncoderDecoder?: boolean }).isEncoderDecoder ?? false).toBe(false);
    await enc.dispose();
    await dec.dispose();
    await expectCode(loadModel(path.join(repoRoot, "test/fixtures/torchscript/bart"), { dtype: "float16" }), "ERR_INVALID_OPTION", "float32 only");
  });

  it("inseq attribute works on an encoder-decoder and saves Inseq JSON with source and target attributions", () => {
    const out = path.join(tempDir("inseq-cli-s2s"), "out.json");
    const stdout = execFileSync(process.execPath, [
      path.join(repoRoot, "dist/cli/index.js"), "attribute", "-m", dirOf("bart"), "-i", SOURCES[0]!, "-g", TARGETS[0]!, "--attribute-target", "-o", out,
    ], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(stdout).toContain("Source Saliency Heatmap");
    expect(stdout).toContain("Target Saliency Heatmap");
    const saved = JSON.parse(readFileSync(out, "utf8"));
    expect(JSON.stringify(saved)).toContain("source_attributions");
    expect(saved.info ?? saved.__instance_attrs__?.info ?? {}).toBeDefined();
    const generated = execFileSync(process.execPath, [path.join(repoRoot, "dist/cli/index.js"), "generate", "-m", dirOf("bart"), SOURCES[0]!, SOURCES[1]!, "--max-new-tokens", "4", "--json"], { encoding: "utf8" });
    const ids = (JSON.parse(generated) as Array<{ ids: number[] }>).map((s) => s.ids);
    expect(ids.length).toBe(2);
    expect(ids.every((row) => row.length >= 1 && row.length <= 4)).toBe(true);
  });
});
