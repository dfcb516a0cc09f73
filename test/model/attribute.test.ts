// model.attribute() through the public API on hf-stories260K: every method forced and generated, batch 1
// and 3 — shapes, NaN exactly at non-causal cells, Inseq's position rules — plus step scores against the
// llama2.c reference logits, save/load, abort, and bad input.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  explain, InseqError, listFeatureAttributionMethods, listStepFunctions, loadModel, registerStepFunction, type Model,
} from "../../lib/index.js";
import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { native } from "../../lib/native/load.js";
import { readJson, sharedFixtures, stories260K, tempDir, testDevice } from "../helpers.js";

const PROMPTS = ["Once upon a time", "Lily and Ben", "The little dog was"];
const digCache = tempDir("attribute-dig-knn");
// Default output: gradient methods reduced over the hidden dimension on the device (Inseq's default
// aggregation, as a coarse output); attention keeps [layer, head].
const EXTRA: Record<string, number[]> = { saliency: [], input_x_gradient: [], integrated_gradients: [], sequential_integrated_gradients: [], discretized_integrated_gradients: [], gradient_shap: [],
  layer_integrated_gradients: [], layer_gradient_x_activation: [], occlusion: [], attention: [5, 8], value_zeroing: [5], deeplift: [], layer_deeplift: [], lime: [], reagent: [],
  attention_rollout: [], attention_flow: [], alti_logit: [], attn_lrp: [], cp_lrp: [] };

describe("model.attribute on hf-stories260K", () => {
  let model: Model;
  let forcedTexts: string[];
  let promptLengths: number[];
  beforeAll(async () => {
    model = await loadModel(stories260K, { device: testDevice });
    forcedTexts = await model.generate(PROMPTS, { maxNewTokens: 5 });
    promptLengths = (await model.encode(PROMPTS)).map((e) => e.ids.length);
  });
  afterAll(() => model.dispose());

  it("lists the same method and step-function ids as the native addon", () => {
    expect(listFeatureAttributionMethods().sort()).toEqual(native().listMethods().map((m) => m.id).sort());
    expect(listStepFunctions().filter((id) => !id.startsWith("custom_")).sort()).toEqual(native().listStepFunctions().map((s) => s.id).sort());
    expect(explain("integrated_gradients")).toContain("nSteps");
    expect(explain("kl_divergence")).toContain("contrastive");
  });

  for (const method of listFeatureAttributionMethods()) {
    for (const forced of [true, false]) {
      for (const batch of [1, 3]) {
        it(`${method} ${forced ? "forced" : "generated"} batch ${batch}`, async () => {
          const prompts = PROMPTS.slice(0, batch);
          const out = await model.attribute(prompts, {
            method, stepScores: ["probability"],
            // DIG's kNN graphs go to a scratch directory, not the user's cache.
            methodArgs: method.includes("integrated") ? { nSteps: 4, ...(method.startsWith("discretized") ? { cacheDir: digCache } : {}) } : undefined,
            ...(forced ? { generatedTexts: forcedTexts.slice(0, batch) } : { generationArgs: { maxNewTokens: 5 } }),
          });
          expect(out.sequenceAttributions.length).toBe(batch);
          expect(out.info).toMatchObject({ attribution_method: method, constrained_decoding: forced, model_class: "LlamaForCausalLM" });
          out.sequenceAttributions.forEach((s, i) => {
            const promptLen = promptLengths[i]!; // <s> + prompt pieces
            expect(s.attrPosStart).toBe(promptLen);
            expect(s.attrPosEnd).toBe(promptLen + 5);
            expect(s.source.map((t) => t.id)).toEqual(s.target.slice(0, promptLen).map((t) => t.id));
            expect(s.target[0]).toMatchObject({ token: "<s>", id: 1 });
            if (forced) expect(s.target.slice(1).every((t) => typeof t.wordId === "number")).toBe(true);
            expect(s.stepScores.probability!.length).toBe(5);
            if (method === "dummy") {
              expect(s.targetAttributions).toBeNull();
              return;
            }
            const t = s.targetAttributions!;
            expect(t.shape).toEqual([s.attrPosEnd, 5, ...EXTRA[method]!]);
            expect(t.dims.slice(0, 2)).toEqual(["target", "generated"]);
            const inner = t.data.length / (t.shape[0]! * 5);
            for (let r = 0; r < t.shape[0]!; r++)
              for (let j = 0; j < 5; j++) {
                const causal = r < s.attrPosStart + j; // rows before the predicted token
                for (let k = 0; k < inner; k++) expect(Number.isNaN(t.data[(r * 5 + j) * inner + k]!)).toBe(!causal);
              }
          });
        });
      }
    }
  }

  it("step scores equal the softmax of llama2.c's reference logits", async () => {
    const expected = readJson<{ cases: Array<{ prompt: string; prompt_token_ids: number[]; token_ids: number[]; next_token_logits_top5: Array<[number, number]> }> }>(
      path.join(sharedFixtures, "stories260K/expected.json"));
    const c = expected.cases[1]!; // "Once upon a time"
    const out = await model.attribute(c.prompt, { method: "dummy", generationArgs: { maxNewTokens: 1 }, stepScores: ["probability", "logit"] });
    const s = out.sequenceAttributions[0]!;
    const [topId, topLogit] = c.next_token_logits_top5[0]!;
    expect(s.target[s.attrPosStart]!.id).toBe(topId);
    expect(Math.abs(s.stepScores.logit![0]! - topLogit)).toBeLessThan(1e-4);
    // p(top) >= softmax over the top-5 alone gives an upper bound; the exact value comes from the full row
    const { logits } = await model.forward([c.prompt_token_ids]);
    const row = logits.data.subarray(4 * 512, 5 * 512);
    const max = Math.max(...row);
    const z = row.reduce((a, v) => a + Math.exp(v - max), 0);
    expect(Math.abs(s.stepScores.probability![0]! - Math.exp(topLogit - max) / z)).toBeLessThan(1e-4);
  });

  it("custom forward-only step functions run in JS over each step's logits", async () => {
    registerStepFunction("custom_argmax_is_target", ({ logits, target }) => (logits.indexOf(Math.max(...logits)) === target ? 1 : 0), { overwrite: true });
    const out = await model.attribute("Once upon a time", { method: "dummy", generationArgs: { maxNewTokens: 4 }, stepScores: ["custom_argmax_is_target"] });
    expect(Array.from(out.sequenceAttributions[0]!.stepScores.custom_argmax_is_target!)).toEqual([1, 1, 1, 1]); // greedy generation
    expect(() => registerStepFunction("probability", () => 0)).toThrow(InseqError);
  });

  it("TorchScript step functions are differentiable: as attributed function they give built-in results", async () => {
    registerStepFunction("custom_ts_probability", {
      torchscript: [
        "def step(logits: Tensor, targets: Tensor, contrast_logits: Tensor, contrast_targets: Tensor) -> Tensor:",
        "    return torch.softmax(logits, -1).gather(1, targets.unsqueeze(1)).squeeze(1)",
      ].join("\n"),
    }, { overwrite: true });
    const opts = { method: "saliency", generatedTexts: forcedTexts[0], stepScores: ["probability", "custom_ts_probability"] } as const;
    const custom = await model.attribute(PROMPTS[0]!, { ...opts, attributedFn: "custom_ts_probability" });
    const builtin = await model.attribute(PROMPTS[0]!, { ...opts, attributedFn: "probability" });
    expect(custom.sequenceAttributions[0]!.targetAttributions!.data).toEqual(builtin.sequenceAttributions[0]!.targetAttributions!.data);
    const s = custom.sequenceAttributions[0]!.stepScores;
    expect(Array.from(s.custom_ts_probability!)).toEqual(Array.from(s.probability!));
    registerStepFunction("custom_ts_broken", { torchscript: "def step(x):\n    return x +" }, { overwrite: true });
    await expect(model.attribute(PROMPTS[0]!, { ...opts, attributedFn: "custom_ts_broken" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("saves and loads in Inseq's JSON format: float32 exact, float16 within 1e-3, gzip", async () => {
    const out = await model.attribute(PROMPTS.slice(0, 2), { method: "integrated_gradients", granular: true, methodArgs: { nSteps: 4 }, generatedTexts: forcedTexts.slice(0, 2), stepScores: ["probability"] });
    const dir = tempDir("save");
    await out.save(path.join(dir, "a.json"));
    await out.save(path.join(dir, "h.json"), { scoresPrecision: "float16" });
    await out.save(path.join(dir, "a.json.gz"), { compress: true });
    const back = await FeatureAttributionOutput.load(path.join(dir, "a.json"));
    const half = await FeatureAttributionOutput.load(path.join(dir, "h.json"));
    const gz = await FeatureAttributionOutput.load(path.join(dir, "a.json.gz"));
    out.sequenceAttributions.forEach((s, i) => {
      const a = s.targetAttributions!.data;
      expect(back.sequenceAttributions[i]!.targetAttributions!.data).toEqual(a);
      expect(gz.sequenceAttributions[i]!.targetAttributions!.data).toEqual(a);
      const h = half.sequenceAttributions[i]!.targetAttributions!.data;
      for (let k = 0; k < a.length; k++) {
        if (Number.isNaN(a[k]!)) expect(Number.isNaN(h[k]!)).toBe(true);
        else expect(Math.abs(h[k]! - a[k]!)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(a[k]!)));
      }
    });
    expect(back.info.attribution_method).toBe("integrated_gradients");
  });

  it("an AbortSignal stops integrated gradients mid-way with ERR_ABORTED", async () => {
    const ac = new AbortController();
    let seen = 0;
    const p = model.attribute(PROMPTS, {
      method: "integrated_gradients", methodArgs: { nSteps: 200, internalBatchSize: 4 }, generatedTexts: forcedTexts, signal: ac.signal,
      onProgress: (done) => { seen = done; if (done >= 8) ac.abort(); },
    });
    await expect(p).rejects.toMatchObject({ code: "ERR_ABORTED" });
    expect(seen).toBeLessThan(3 * 5 * 200);
    expect((await model.attribute("Lily", { method: "saliency", generationArgs: { maxNewTokens: 2 } })).length).toBe(1);
  });

  it("contrastive attribution with integrated gradients (unlike Inseq) is zero for an identical contrast", async () => {
    const out = await model.attribute(forcedTexts[0]!.slice(0, 16), {
      method: "integrated_gradients", methodArgs: { nSteps: 4 }, generatedTexts: forcedTexts[0], attributedFn: "contrast_prob_diff", contrastTargets: forcedTexts[0],
    });
    const d = out.sequenceAttributions[0]!.targetAttributions!.data;
    expect(d.every((x) => Number.isNaN(x) || x === 0)).toBe(true);
  });

  it("layer methods take a block by index or name, or every block", async () => {
    const base = { generatedTexts: forcedTexts[0], method: "layer_gradient_x_activation", granular: true } as const;
    const byName = await model.attribute(PROMPTS[0]!, { ...base, methodArgs: { layer: "model.layers.2" } });
    const byIndex = await model.attribute(PROMPTS[0]!, { ...base, methodArgs: { layer: 2 } });
    expect(byName.sequenceAttributions[0]!.targetAttributions!.data).toEqual(byIndex.sequenceAttributions[0]!.targetAttributions!.data);
    const all = await model.attribute(PROMPTS[0]!, { ...base, methodArgs: { layer: "all" } });
    const t = all.sequenceAttributions[0]!.targetAttributions!;
    expect(t.dims).toEqual(["target", "generated", "layer", "hidden"]);
    expect(t.shape.slice(1)).toEqual([5, 5, 64]);
    await expect(model.attribute(PROMPTS[0]!, { ...base, methodArgs: { layer: "model.mlp" } })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(model.attribute(PROMPTS[0]!, { ...base, methodArgs: { layer: 9 } })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("outputStepAttributions gives Inseq's per-step outputs, cut from the sequence columns", async () => {
    const out = await model.attribute(PROMPTS.slice(0, 2), { method: "saliency", granular: true, generatedTexts: forcedTexts.slice(0, 2), stepScores: ["probability"], outputStepAttributions: true });
    const steps = out.stepAttributions!;
    expect(steps.length).toBe(5);
    const seq = out.sequenceAttributions[1]!;
    const st = steps[3]!.targetAttributions!;
    expect(st.shape[0]).toBe(2);
    const prefix = st.shape[1]!;
    for (let r = 0; r < seq.attrPosStart + 3; r++)
      for (let k = 0; k < 64; k++) expect(st.data[(prefix + r) * 64 + k]).toBe(seq.targetAttributions!.data[(r * 5 + 3) * 64 + k]);
    expect(steps[3]!.stepScores.probability![1]).toBe(seq.stepScores.probability![3]);
    expect(steps[3]!.target[1]).toEqual(seq.target[seq.attrPosStart + 3]);
  });

  it("the default output is Inseq's default aggregation of the granular one, reduced on the device", async () => {
    const opts = { method: "integrated_gradients", methodArgs: { nSteps: 4 }, generatedTexts: forcedTexts[0] } as const;
    const reduced = await model.attribute(PROMPTS[0]!, opts);
    const granular = await model.attribute(PROMPTS[0]!, { ...opts, granular: true });
    const r = reduced.sequenceAttributions[0]!, g = granular.aggregate().sequenceAttributions[0]!;
    expect(r.kind).toBe("coarse");
    expect(granular.sequenceAttributions[0]!.kind).toBe("granular");
    expect(r.targetAttributions!.shape).toEqual(g.targetAttributions!.shape);
    r.targetAttributions!.data.forEach((v, i) => {
      const w = g.targetAttributions!.data[i]!;
      if (Number.isNaN(w)) expect(Number.isNaN(v)).toBe(true);
      else expect(Math.abs(v - w)).toBeLessThan(1e-6);
    });
    // aggregating again changes nothing; columns sum to 1 in |value|
    expect(reduced.aggregate().sequenceAttributions[0]!.targetAttributions!.data).toEqual(r.targetAttributions!.data);
  });

  it("rejects bad input with codes and stays usable", async () => {
    const reject = async (p: Promise<unknown>, code: string, text: string) => {
      const e = await p.then(() => null, (x) => x);
      expect(e).toBeInstanceOf(InseqError);
      expect(e.code).toBe(code);
      expect(e.message).toContain(text);
    };
    await reject(model.attribute("Lily", { method: "lrp" }), "ERR_INVALID_OPTION", "integrated_gradients");
    await reject(model.attribute("Lily", { stepScores: ["probablity"] }), "ERR_INVALID_OPTION", "probability");
    await reject(model.attribute("Lily", { attributedFn: "nope" }), "ERR_INVALID_OPTION", "entropy");
    await reject(model.attribute("Lily", { generatedTexts: "Ben went home" }), "ERR_INVALID_OPTION", "starting with its prompt");
    await reject(model.attribute([]), "ERR_INVALID_OPTION", "inputTexts");
    await reject(model.attribute("Lily", { generatedTexts: "Lily ran", attrPosStart: 40 }), "ERR_INVALID_OPTION", "attrPosStart");
    await reject(model.attribute("Lily", { nSteps: 3 } as never), "ERR_UNKNOWN_OPTION", "methodArgs");
    await reject(model.attribute("Lily", { method: "saliency", methodArgs: { nSteps: 3 } }), "ERR_UNKNOWN_OPTION", "nSteps");
    await reject(model.attribute("Lily", { method: "integrated_gradients", methodArgs: { method: "simpson" }, generatedTexts: "Lily ran" }), "ERR_INVALID_OPTION", "riemann");
    await reject(model.attribute("Lily", { generatedTexts: "Lily ran", baselineIds: [[0, Number.NaN, 0]] }), "ERR_INVALID_OPTION", "baselineIds");
    const ac = new AbortController();
    ac.abort();
    await reject(model.attribute("Lily", { generatedTexts: "Lily ran", signal: ac.signal }), "ERR_ABORTED", "aborted");
    expect((await model.attribute("Lily", { generationArgs: { maxNewTokens: 1 } })).length).toBe(1);
  });
});
