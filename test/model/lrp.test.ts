// AttnLRP and CP-LRP (attn_lrp, cp_lrp) against LXT 2.1 (test/fixtures/lxt-golden, written by
// scripts/reference/make_lxt_goldens.py): every step's token-embedding relevance within 1e-4 of the step's largest
// |relevance|, GPT-2's position-embedding relevance, the conservation error reported in info (the same as LXT's
// sum - logit; CP-LRP on the bias-free Llama conserves), gradient checkpointing, batched == one by one, a contrast equal to the target
// giving exactly 0; encoder-decoders (BART, T5) batched == one by one, and the refusal of TorchScript bundles.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model } from "../../lib/index.js";
import { readJson, repoRoot, testDevice } from "../helpers.js";

interface GoldenStep { target: number; logit: number; relevance: number[]; position_relevance?: number[] }
interface Golden {
  prompt: string;
  text: string;
  ids: number[];
  start: number;
  methods: Record<string, { steps: GoldenStep[] }>;
}

const METHODS = ["attn_lrp", "cp_lrp"] as const;
const LOGIT = { attributedFn: "logit" } as const;  // LXT attributes the target's logit
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

// Every model LXT 2.1 patches (besides BERT / ViT): Llama (GQA, no biases), GPT-2 (LayerNorm, biases, learned
// positions), Qwen2 (q/k/v biases, tied head), Qwen3 (q/k RMSNorm), Gemma 3 ((1 + w) norms, GeGLU, q/k norm, scaled
// embeddings, a sliding layer).
const FAMILIES = ["llama", "gpt2", "qwen2", "qwen3", "gemma3"];
const BIAS_FREE = new Set(["llama", "qwen3", "gemma3"]);  // CP-LRP conserves exactly there

describe.each(FAMILIES)("LXT 2.1 goldens on %s", (family) => {
  const dir = path.join(repoRoot, "test/fixtures/lxt-golden", family);
  const golden = readJson<Golden>(path.join(dir, "golden.json"));
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(dir, { device: testDevice });
  });
  afterAll(() => model.dispose());

  for (const method of METHODS) {
    it(`${method}: every step's relevance equals LXT's within 1e-4 of the step's scale`, async () => {
      const out = await model.attribute(golden.prompt, { method, generatedTexts: golden.text, ...LOGIT });
      const s = out.sequenceAttributions[0]!;
      expect(s.target.map((t) => t.id)).toEqual(golden.ids);
      expect(s.attrPosStart).toBe(golden.start);
      const steps = golden.methods[method]!.steps;
      const t = s.targetAttributions!;
      expect(t.shape).toEqual([golden.ids.length, steps.length]);
      const errors = (out.info.lrp_conservation_error as number[][])[0]!;
      const positions = out.info.lrp_position_relevance as number[][] | undefined;
      expect(positions !== undefined).toBe(family === "gpt2");
      steps.forEach((g, j) => {
        const scale = Math.max(...g.relevance.map(Math.abs));
        expect(scale).toBeGreaterThan(1e-3);  // the golden attributes something
        for (let r = 0; r < golden.ids.length; r++) {
          const ours = t.data[r * steps.length + j]!;
          if (r >= g.relevance.length) expect(ours, `step ${j} row ${r}`).toBeNaN();
          else expect(Math.abs(ours - g.relevance[r]!), `step ${j} row ${r}: ${ours} vs ${g.relevance[r]}`).toBeLessThan(1e-4 * scale);
        }
        // info: sum of relevance (+ position relevance) - f(x), the same as LXT's
        const lxtPositions = g.position_relevance ? sum(g.position_relevance) : 0;
        if (positions) expect(Math.abs(positions[0]![j]! - lxtPositions)).toBeLessThan(1e-4 * Math.max(scale, Math.abs(lxtPositions)));
        const lxtError = sum(g.relevance) + lxtPositions - g.logit;
        expect(Math.abs(errors[j]! - lxtError), `step ${j} conservation`).toBeLessThan(1e-4 * Math.max(1, Math.abs(g.logit)) * g.relevance.length);
      });
      expect(out.info.lrp_max_abs_conservation_error).toBe(Math.max(...errors.map(Math.abs)));
    });
  }

  if (BIAS_FREE.has(family)) {
    it("cp_lrp conserves on this bias-free model at the embeddings and at every block output (latentRelevance)", async () => {
      const out = await model.attribute(golden.prompt, { method: "cp_lrp", generatedTexts: golden.text, ...LOGIT });
      const errors = (out.info.lrp_conservation_error as number[][])[0]!;
      golden.methods.cp_lrp!.steps.forEach((g, j) => expect(Math.abs(errors[j]!), `step ${j}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(g.logit))));
      // latent relevance: every block output's relevance from the same pass; under CP-LRP each layer conserves too
      const latent = await model.attribute(golden.prompt, { method: "cp_lrp", generatedTexts: golden.text, ...LOGIT, methodArgs: { latentRelevance: true } });
      expect(latent.sequenceAttributions[0]!.targetAttributions!.data).toEqual(out.sequenceAttributions[0]!.targetAttributions!.data);
      const l = latent.sequenceAttributions[0]!.sequenceScores.lrp_latent_relevance!;
      const steps = golden.methods.cp_lrp!.steps, layers = 2;
      expect(l.dims).toEqual(["target", "generated", "layer"]);
      expect(l.shape).toEqual([golden.ids.length, steps.length, layers]);
      steps.forEach((g, j) => {
        for (let layer = 0; layer < layers; layer++) {
          let total = 0;
          for (let r = 0; r < golden.ids.length; r++) {
            const v = l.data[(r * steps.length + j) * layers + layer]!;
            if (r < golden.start + j) total += v;
            else expect(v).toBeNaN();
          }
          expect(Math.abs(total - g.logit), `step ${j} layer ${layer}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(g.logit)));
        }
      });
      // AttnLRP does not conserve here (the softmax's share is absorbed): its reported error is not ~0
      const attn = await model.attribute(golden.prompt, { method: "attn_lrp", generatedTexts: golden.text, ...LOGIT });
      expect(attn.info.lrp_max_abs_conservation_error as number).toBeGreaterThan(1e-3);
    });
  }

  it("gradient checkpointing (blocks recomputed in the backward) gives the same relevance", async () => {
    for (const method of METHODS) {
      const opts = { method, generatedTexts: golden.text, ...LOGIT };
      const plain = (await model.attribute(golden.prompt, opts)).sequenceAttributions[0]!.targetAttributions!.data;
      const recomputed = (await model.attribute(golden.prompt, { ...opts, gradientCheckpointing: true })).sequenceAttributions[0]!.targetAttributions!.data;
      const scale = Math.max(...[...plain].filter((v) => !Number.isNaN(v)).map(Math.abs));
      plain.forEach((v, k) => (Number.isNaN(v) ? expect(recomputed[k]).toBeNaN() : expect(Math.abs(recomputed[k]! - v), `${method} cell ${k}`).toBeLessThan(1e-5 * scale)));
    }
  });

  for (const method of METHODS) {
    it(`${method}: batched == one by one, and a contrast equal to the target gives exactly 0`, async () => {
      const prompts = [golden.prompt, "He was"];
      const texts = [golden.text, "He was in the park with"];
      const batched = await model.attribute(prompts, { method, generatedTexts: texts });
      for (let i = 0; i < prompts.length; i++) {
        const single = await model.attribute(prompts[i]!, { method, generatedTexts: texts[i] });
        const a = batched.sequenceAttributions[i]!.targetAttributions!, b = single.sequenceAttributions[0]!.targetAttributions!;
        expect(a.shape).toEqual(b.shape);
        const scale = Math.max(...[...b.data].filter((v) => !Number.isNaN(v)).map(Math.abs));
        b.data.forEach((v, k) => {
          if (Number.isNaN(v)) expect(a.data[k]).toBeNaN();
          else expect(Math.abs(a.data[k]! - v), `row ${i} cell ${k}`).toBeLessThan(1e-5 * scale);
        });
        expect((batched.info.lrp_conservation_error as number[][])[i]!.length).toBe(b.shape[1]);
      }
      const contrast = await model.attribute(golden.prompt, {
        method, generatedTexts: golden.text, attributedFn: "contrast_logits_diff", contrastTargets: golden.text,
      });
      const data = contrast.sequenceAttributions[0]!.targetAttributions!.data;
      expect(data.some((v) => !Number.isNaN(v))).toBe(true);
      expect(data.every((v) => Number.isNaN(v) || v === 0)).toBe(true);
    });
  }
});

describe("half-precision models", () => {
  it.each([["gpt2-f16", "float16"], ["llama-bf16", "bfloat16"]] as const)("%s in %s: finite where causal in padded batches, close to float32", async (name, dtype) => {
    const dir = path.join(repoRoot, "test/fixtures/reference", name);
    const prompts = ["He was", "Ben and the cat"], texts = ["He was in the park with", "Ben and the cat sat"];
    const half = await loadModel(dir, { device: testDevice, dtype });
    const full = await loadModel(dir, { device: testDevice });
    try {
      for (const method of METHODS) {
        const a = await half.attribute(prompts, { method, generatedTexts: texts });
        const b = await full.attribute(prompts, { method, generatedTexts: texts });
        a.sequenceAttributions.forEach((s, i) => {
          const t = s.targetAttributions!, f = b.sequenceAttributions[i]!.targetAttributions!;
          const steps = t.shape[1]!;
          const scale = Math.max(...[...f.data].filter((v) => !Number.isNaN(v)).map(Math.abs));
          t.data.forEach((v, k) => {
            const causal = Math.floor(k / steps) < s.attrPosStart + (k % steps);
            expect(Number.isFinite(v), `${method} ${i} cell ${k}`).toBe(causal);
            if (causal) expect(Math.abs(v - f.data[k]!), `${method} ${i} cell ${k}`).toBeLessThan(0.1 * scale);
          });
        });
      }
    } finally {
      await half.dispose();
      await full.dispose();
    }
  });
});

describe("encoder-decoders and TorchScript bundles", () => {
  it.each(["bart", "t5"])("%s: cp_lrp and attn_lrp over source + target, reported conservation, batched == single", async (name) => {
    const model = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq", name), { device: testDevice });
    try {
      for (const method of METHODS) {
        const sources = ["So Ben too", "Once upon a time there was"], targets = ["And that'", "said, the"];
        const batched = await model.attribute(sources, { method, generatedTexts: targets, attributeTarget: true });
        const errors = batched.info.lrp_conservation_error as number[][];
        for (let i = 0; i < sources.length; i++) {
          const b = batched.sequenceAttributions[i]!;
          const single = (await model.attribute(sources[i]!, { method, generatedTexts: targets[i], attributeTarget: true })).sequenceAttributions[0]!;
          for (const side of ["sourceAttributions", "targetAttributions"] as const) {
            const x = b[side]!, y = single[side]!;
            expect(x.shape).toEqual(y.shape);
            y.data.forEach((v, k) => (Number.isNaN(v) ? expect(x.data[k]).toBeNaN() : expect(Math.abs(x.data[k]! - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v)))));
          }
          expect(errors[i]!.length).toBe(b.attrPosEnd - b.attrPosStart);
          expect(errors[i]!.every(Number.isFinite)).toBe(true);
        }
      }
    } finally {
      await model.dispose();
    }
  });

  it("a TorchScript bundle refuses attn_lrp and cp_lrp with ERR_UNSUPPORTED_MODEL", async () => {
    const model = await loadModel(path.join(repoRoot, "test/fixtures/torchscript/llama"), { device: testDevice });
    try {
      for (const method of METHODS) {
        await expect(model.attribute("He was", { method, generatedTexts: "He was in" }))
          .rejects.toMatchObject({ code: "ERR_UNSUPPORTED_MODEL", message: expect.stringMatching(new RegExp(`${method} applies its rules inside every block`)) });
      }
    } finally {
      await model.dispose();
    }
  });
});
