// Conformance with Python Inseq 0.7.1 for sequential integrated gradients (decoder-only GPT-2 / Llama and the
// BART / mBART / M2M100 encoder-decoders) and for the layer methods at a block (`target_layer`), goldens written by
// Inseq itself (scripts/reference/make_inseq_sig_layer_goldens.py). Each case is re-run and compared cell by cell
// (rel. 1e-4 of the column's scale, NaN at the same cells) with ids, positions and step scores; cases where
// Inseq fails, or where we deliberately differ, say why. Then what no golden covers: batched == one by one,
// the schedule's knobs, contrastive attributed functions, completeness, attributeTarget, layer "all", bad input.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import type { AttributeOptions, Seq2SeqAttributeOptions } from "../../lib/attribution/attribute.js";
import { expectCode, nanAwareMaxDiff, readJson, referenceDir, repoRoot, testDevice } from "../helpers.js";
import { expectSequenceMatchesGolden, type GoldenCase } from "./golden-compare.js";

interface SigCase extends GoldenCase {
  load_model_kwargs: { target_layer?: string; multiply_by_inputs?: boolean };
  all_scores_zero?: boolean;
}

const goldenDir = path.join(repoRoot, "test/fixtures/inseq-golden-sig");
const index = readJson<{ cases: SigCase[] }>(path.join(goldenDir, "index.json"));

/** Why a case is not compared number by number (each a documented difference; see docs/attribution.md). */
function deviation(c: SigCase): string | null {
  if (c.all_scores_zero) return "Inseq bug: layer_integrated_gradients ignores the baseline ids, so every score is 0 (its shimmed run is compared)";
  if (c.error?.includes("same sequential dimension")) return "Inseq moves source and target position i together and needs equal lengths; ours runs every position on its own path";
  if (c.error?.includes("Contrastive batch size")) return "Inseq fails on contrastive attributed functions with methods that expand the batch (checked by linearity below)";
  if (c.error?.includes("do not support attribute_target")) return "Inseq refuses layer methods with attribute_target; ours cuts encoder and decoder block N together";
  if (c.error?.includes("stack expects each tensor")) return "Inseq fails on a decoder block as target_layer; ours takes it as the target side of the block index";
  if (c.error) return `unexpected Inseq failure: ${c.error}`;
  return null;
}

function methodArgsOf(c: SigCase): Record<string, unknown> | undefined {
  const a = (c.attribute_kwargs.attribution_args ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (a.n_steps !== undefined) out.nSteps = a.n_steps;
  if (a.method !== undefined) out.method = a.method;
  if (c.load_model_kwargs.target_layer !== undefined) out.layer = c.load_model_kwargs.target_layer;
  if (c.load_model_kwargs.multiply_by_inputs !== undefined) out.multiplyByInputs = c.load_model_kwargs.multiply_by_inputs;
  return Object.keys(out).length ? out : undefined;
}

function toOptions(c: SigCase): AttributeOptions & Seq2SeqAttributeOptions {
  return {
    method: c.method,
    generatedTexts: c.forced ? c.generated_texts : undefined,
    generationArgs: c.forced ? undefined : { maxNewTokens: Number(c.generation_args.max_new_tokens) },
    attributedFn: c.attributed_fn ?? undefined,
    stepScores: c.step_scores,
    methodArgs: methodArgsOf(c),
    contrastTargets: c.attribute_kwargs.contrast_targets,
    ...(c.model_kind === "encoder-decoder" ? { attributeTarget: c.attribute_target ?? false } : {}),
    granular: true,
  };
}

type AnyModel = Model | Seq2SeqModel;
const models = new Map<string, Promise<AnyModel>>();
const modelFor = (c: { model: string; model_path: string; model_kind?: string }): Promise<AnyModel> => {
  if (!models.has(c.model)) {
    const dir = path.join(repoRoot, c.model_path);
    models.set(c.model, c.model_kind === "encoder-decoder" ? loadSeq2SeqModel(dir, { device: testDevice }) : loadModel(dir, { device: testDevice }));
  }
  return models.get(c.model)!;
};
const attribute = (m: AnyModel, inputs: string | string[], o: AttributeOptions & Seq2SeqAttributeOptions) =>
  (m as Seq2SeqModel).attribute(inputs, o as Seq2SeqAttributeOptions);
afterAll(async () => {
  for (const m of models.values()) await (await m).dispose();
});

const compared = index.cases.filter((c) => deviation(c) === null);

describe("Python Inseq 0.7.1 goldens: sequential integrated gradients and layer methods at a block", () => {
  it("covers SIG on both model kinds and block layers on the encoder-decoders, every other case with a reason", () => {
    for (const c of index.cases) expect(deviation(c) ?? "", c.case).not.toMatch(/^unexpected/);
    const sig = compared.filter((c) => c.method === "sequential_integrated_gradients");
    expect(new Set(sig.map((c) => c.model))).toEqual(new Set(["gpt2", "llama", "bart", "mbart", "m2m_100"]));
    expect(sig.some((c) => c.batch > 1 && c.model_kind === "encoder-decoder")).toBe(true);
    for (const m of ["layer_integrated_gradients", "layer_gradient_x_activation"]) {
      const blocks = compared.filter((c) => c.method === m && c.model_kind === "encoder-decoder" && c.load_model_kwargs.target_layer);
      expect(new Set(blocks.map((c) => c.model)), m).toEqual(new Set(["bart", "mbart", "m2m_100"]));
    }
    expect(compared.map((c) => c.case)).toEqual(index.cases.filter((c) => c.file).map((c) => c.case)); // every saved golden
    expect(compared.length).toBeGreaterThanOrEqual(38);
  });

  for (const c of compared) {
    it(`${c.model} ${c.case}`, async () => {
      const model = await modelFor(c);
      const gold = await FeatureAttributionOutput.load(path.join(goldenDir, c.file!));
      let ours = await attribute(model, c.input_texts, toOptions(c));
      if (!c.forced) {
        // Inseq decodes its generation and re-tokenizes the text (lossy for byte-level BPE); check it was the same
        // generation, then compare on Inseq's re-tokenized text (as test/model/inseq-golden.test.ts).
        expect(ours.info.generated_texts).toEqual(gold.info.generated_texts);
        ours = await attribute(model, c.input_texts, { ...toOptions(c), generationArgs: undefined, generatedTexts: gold.info.generated_texts as string[] });
      }
      expect(ours.sequenceAttributions.length).toBe(gold.sequenceAttributions.length);
      gold.sequenceAttributions.forEach((g, i) => {
        const o = ours.sequenceAttributions[i]!;
        expectSequenceMatchesGolden(o, g);
        for (const [name, values] of Object.entries(g.stepScores)) {
          values.forEach((v, j) => expect(Math.abs(o.stepScores[name]![j]! - v), `${name}[${j}]`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))));
        }
      });
    });
  }
});

/** Column j of a [rows, steps, hidden] tensor summed over hidden, per row (NaN rows stay NaN). */
function rowSums(t: { shape: number[]; data: Float32Array }, j: number): number[] {
  const [rows, steps] = t.shape as [number, number];
  const H = t.data.length / (rows * steps);
  return Array.from({ length: rows }, (_, r) => {
    let s = 0;
    for (let k = 0; k < H; k++) s += t.data[(r * steps + j) * H + k]!;
    return s;
  });
}

describe("sequential integrated gradients beyond the goldens", () => {
  const gpt2 = { model: "gpt2", model_path: "test/fixtures/reference/gpt2" };
  const PROMPTS = ["He was", "Ben and the cat", "The cat\u2019s toy"];
  const FORCED = ["He was in the park", "Ben and the cat sat", "The cat\u2019s toy was red"];
  let model: Model;
  beforeAll(async () => {
    model = (await modelFor(gpt2)) as Model;
  });

  it("batched over inputs, positions, points and steps equals one input at a time, any batch size or schedule", async () => {
    const opts = { method: "sequential_integrated_gradients", granular: true, methodArgs: { nSteps: 6 } } as const;
    const batched = await model.attribute(PROMPTS, { ...opts, generatedTexts: FORCED });
    for (let i = 0; i < PROMPTS.length; i++) {
      const b = batched.sequenceAttributions[i]!.targetAttributions!.data;
      for (const variant of [{}, { methodArgs: { nSteps: 6, internalBatchSize: 1 } }, { schedule: "per_step" as const }, { gradientCheckpointing: true }]) {
        const one = (await model.attribute(PROMPTS[i]!, { ...opts, ...variant, generatedTexts: FORCED[i] })).sequenceAttributions[0]!;
        expect(nanAwareMaxDiff(b, one.targetAttributions!.data), JSON.stringify(variant)).toBeLessThan(1e-6);
      }
    }
  });

  it("each token's path is complete: its scores add up to f(x) - f(x with that token at its baseline) (occlusion's change)", async () => {
    const opts = { generatedTexts: FORCED[1], attributedFnArgs: { logprob: true } } as const;
    const sig = (await model.attribute(PROMPTS[1]!, { ...opts, method: "sequential_integrated_gradients", granular: true, methodArgs: { nSteps: 64 } })).sequenceAttributions[0]!;
    const occ = (await model.attribute(PROMPTS[1]!, { ...opts, method: "occlusion", granular: true })).sequenceAttributions[0]!;
    const t = sig.targetAttributions!, o = occ.targetAttributions!;
    const steps = t.shape[1]!;
    let worst = 0, scale = 0;
    for (let j = 0; j < steps; j++) {
      rowSums(t, j).forEach((s, r) => {
        const d = o.data[r * steps + j]!; // |f(x) - f(x with token r occluded)|
        if (Number.isNaN(d)) return expect(s).toBeNaN();
        worst = Math.max(worst, Math.abs(Math.abs(s) - d));
        scale = Math.max(scale, d);
      });
    }
    expect(worst / scale).toBeLessThan(1e-3);
  });

  it("returnConvergenceDelta: deltas = sum of attributions - the sum of the tokens' changes, small with enough steps", async () => {
    const run = (nSteps: number) => model.attribute(PROMPTS[2]!, {
      method: "sequential_integrated_gradients", generatedTexts: FORCED[2], attributedFnArgs: { logprob: true }, methodArgs: { nSteps, returnConvergenceDelta: true },
    });
    const coarse = (await run(4)).sequenceAttributions[0]!.stepScores.deltas!;
    const fine = (await run(64)).sequenceAttributions[0]!.stepScores.deltas!;
    const max = (a: Float32Array) => Math.max(...Array.from(a, Math.abs));
    expect(max(fine)).toBeLessThan(1e-3);
    expect(max(fine)).toBeLessThan(max(coarse));
  });

  it("contrastive attributed functions: SIG(contrast_prob_diff) = SIG(probability) - SIG(contrast_prob) (a path method is linear in f)", async () => {
    const opts = { method: "sequential_integrated_gradients", granular: true, generatedTexts: FORCED[0], contrastTargets: "He was on the park", methodArgs: { nSteps: 4 } } as const;
    const [diff, p, cp] = await Promise.all(["contrast_prob_diff", "probability", "contrast_prob"].map(async (fn) =>
      (await model.attribute(PROMPTS[0]!, { ...opts, attributedFn: fn })).sequenceAttributions[0]!.targetAttributions!.data));
    const expected = p!.map((v, i) => v - cp![i]!);
    expect(nanAwareMaxDiff(diff!, expected)).toBeLessThan(1e-6);
    expect(diff!.some((v) => Math.abs(v) > 1e-6)).toBe(true);
  });

  it("differs from integrated gradients, which moves every token at once", async () => {
    const opts = { granular: true, generatedTexts: FORCED[1], methodArgs: { nSteps: 8 } } as const;
    const sig = (await model.attribute(PROMPTS[1]!, { ...opts, method: "sequential_integrated_gradients" })).sequenceAttributions[0]!.targetAttributions!.data;
    const ig = (await model.attribute(PROMPTS[1]!, { ...opts, method: "integrated_gradients" })).sequenceAttributions[0]!.targetAttributions!.data;
    expect(nanAwareMaxDiff(sig, ig)).toBeGreaterThan(1e-4);
  });
});

describe("encoder-decoders: SIG with attributeTarget, layer methods at a block", () => {
  const bart = { model: "bart", model_path: "test/fixtures/reference-seq2seq/bart", model_kind: "encoder-decoder" };
  const SOURCES = ["So Ben too", "Onc"];
  const TARGETS = ["And that'", "said,"];
  let model: Seq2SeqModel;
  beforeAll(async () => {
    model = (await modelFor(bart)) as Seq2SeqModel;
  });

  it("SIG with attributeTarget: source scores equal the source-only run, target tokens run their own paths", async () => {
    const opts = { method: "sequential_integrated_gradients", granular: true, generatedTexts: TARGETS, methodArgs: { nSteps: 6 } } as const;
    const both = await model.attribute(SOURCES, { ...opts, attributeTarget: true });
    const src = await model.attribute(SOURCES, opts);
    for (let i = 0; i < SOURCES.length; i++) {
      const s = both.sequenceAttributions[i]!;
      expect(nanAwareMaxDiff(s.sourceAttributions!.data, src.sequenceAttributions[i]!.sourceAttributions!.data)).toBeLessThan(1e-6);
      const t = s.targetAttributions!;
      for (let j = 0; j < t.shape[1]!; j++) {
        const rows = rowSums(t, j); // rows 0..j: the decoder start token and the target prefix
        expect(rows[0]).toBe(0); // the decoder start token keeps its baseline
        if (j > 0) expect(rows.slice(1, j + 1).every((v) => v !== 0), `step ${j}`).toBe(true);
      }
      const one = await model.attribute(SOURCES[i]!, { ...opts, generatedTexts: TARGETS[i], attributeTarget: true });
      expect(nanAwareMaxDiff(one.sequenceAttributions[0]!.targetAttributions!.data, t.data)).toBeLessThan(1e-6);
    }
  });

  it("layer N with attributeTarget cuts encoder and decoder block N: source + target scores add up to f(x) - f(baseline)", async () => {
    for (const layer of [0, 1]) {
      const out = await model.attribute(SOURCES[0]!, {
        method: "layer_integrated_gradients", generatedTexts: TARGETS[0], attributeTarget: true, granular: true,
        attributedFnArgs: { logprob: true }, methodArgs: { layer, nSteps: 128, returnConvergenceDelta: true },
      });
      const s = out.sequenceAttributions[0]!;
      const deltas = Array.from(s.stepScores.deltas!);
      const steps = s.attrPosEnd - s.attrPosStart;
      for (let j = 0; j < steps; j++) {
        const total = [...rowSums(s.sourceAttributions!, j), ...rowSums(s.targetAttributions!, j)].filter((v) => !Number.isNaN(v)).reduce((a, b) => a + b, 0);
        expect(Math.abs(deltas[j]!), `layer ${layer} step ${j}`).toBeLessThan(2e-2 * Math.max(1e-3, Math.abs(total - deltas[j]!)));
      }
      // the target side is a real layer attribution (the decoder start token's block output moves too)
      expect(rowSums(s.targetAttributions!, 0)[0]).not.toBe(0);
      // Past the decoder's last block nothing but its output reaches the logits: cut there, the source's whole
      // influence is in the target rows (as a decoder-only model's last block puts it all on the predicting position).
      const sourceZero = s.sourceAttributions!.data.every((v) => v === 0);
      expect(sourceZero, `layer ${layer}`).toBe(layer === 1);
    }
  });

  it("layer methods at a block: batched equals one by one; \"all\" equals each block on its own", async () => {
    for (const method of ["layer_gradient_x_activation", "layer_integrated_gradients", "layer_deeplift"]) {
      for (const attributeTarget of [false, true]) {
        const opts = { method, granular: true, attributeTarget, methodArgs: method === "layer_integrated_gradients" ? { nSteps: 4 } : {} };
        const all = await model.attribute(SOURCES, { ...opts, generatedTexts: TARGETS, methodArgs: { ...opts.methodArgs, layer: "all" } });
        for (const layer of [0, 1]) {
          const batched = await model.attribute(SOURCES, { ...opts, generatedTexts: TARGETS, methodArgs: { ...opts.methodArgs, layer } });
          for (let i = 0; i < SOURCES.length; i++) {
            const one = (await model.attribute(SOURCES[i]!, { ...opts, generatedTexts: TARGETS[i], methodArgs: { ...opts.methodArgs, layer } })).sequenceAttributions[0]!;
            const b = batched.sequenceAttributions[i]!;
            const tag = `${method} layer ${layer} target ${attributeTarget} input ${i}`;
            expect(nanAwareMaxDiff(b.sourceAttributions!.data, one.sourceAttributions!.data), tag).toBeLessThan(1e-5);
            if (attributeTarget) expect(nanAwareMaxDiff(b.targetAttributions!.data, one.targetAttributions!.data), tag).toBeLessThan(1e-5);
            // "all" is [rows, steps, layer, hidden]: its block `layer` is the single-block run
            const a = all.sequenceAttributions[i]!.sourceAttributions!;
            const [rows, steps, nL, H] = a.shape as [number, number, number, number];
            const picked = new Float32Array(rows * steps * H);
            for (let c = 0; c < rows * steps; c++) picked.set(a.data.subarray((c * nL + layer) * H, (c * nL + layer + 1) * H), c * H);
            expect(nanAwareMaxDiff(picked, b.sourceAttributions!.data), `all ${tag}`).toBeLessThan(1e-5);
          }
        }
      }
    }
  });

  it("layer names: encoder blocks by name, decoder blocks only as the target side of an index, ranges checked", async () => {
    const base = { method: "layer_gradient_x_activation", generatedTexts: TARGETS[0], granular: true } as const;
    const byName = await model.attribute(SOURCES[0]!, { ...base, methodArgs: { layer: "model.encoder.layers.1" } });
    const byIndex = await model.attribute(SOURCES[0]!, { ...base, methodArgs: { layer: 1 } });
    expect(byName.sequenceAttributions[0]!.sourceAttributions!.data).toEqual(byIndex.sequenceAttributions[0]!.sourceAttributions!.data);
    const emb = await model.attribute(SOURCES[0]!, { ...base, methodArgs: { layer: "model.shared" } });
    const plain = await model.attribute(SOURCES[0]!, { ...base });
    expect(emb.sequenceAttributions[0]!.sourceAttributions!.data).toEqual(plain.sequenceAttributions[0]!.sourceAttributions!.data);
    await expectCode(model.attribute(SOURCES[0]!, { ...base, methodArgs: { layer: "model.decoder.layers.1" } }), "ERR_INVALID_OPTION", "attributeTarget");
    await expectCode(model.attribute(SOURCES[0]!, { ...base, attributeTarget: true, methodArgs: { layer: "model.encoder.layers.1" } }), "ERR_INVALID_OPTION", "source only");
    await expectCode(model.attribute(SOURCES[0]!, { ...base, methodArgs: { layer: "model.layers.1" } }), "ERR_INVALID_OPTION", "encoder block name");
    await expectCode(model.attribute(SOURCES[0]!, { ...base, methodArgs: { layer: 2 } }), "ERR_INVALID_OPTION", "out of range");
  });
});

describe("decoder-only layer methods at a block (no Inseq golden needed for these)", () => {
  it("llama: layer_integrated_gradients at block 1 is complete over the block's outputs", async () => {
    const model = (await modelFor({ model: "llama", model_path: path.relative(repoRoot, referenceDir("llama")) })) as Model;
    const out = await model.attribute("He was", {
      method: "layer_integrated_gradients", generatedTexts: "He was in the park", granular: true, attributedFnArgs: { logprob: true },
      methodArgs: { layer: "model.layers.1", nSteps: 64, returnConvergenceDelta: true },
    });
    const deltas = Array.from(out.sequenceAttributions[0]!.stepScores.deltas!);
    expect(Math.max(...deltas.map(Math.abs))).toBeLessThan(1e-3);
  });
});
