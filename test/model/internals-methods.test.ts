// attention_rollout, attention_flow and alti_logit against independent float64 references
// (scripts/reference/make_internals_goldens.py: numpy / networkx on transformers' own float64 forward), plus their
// invariants: rollout rows sum to 1, flow bounded by the capacities into the query node, batched == one by one,
// alti_logit on a logit difference is exactly 0 when the contrast is the target, and the refusals.
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { expectCode, nanAwareMaxDiff, readJson, repoRoot, testDevice } from "../helpers.js";

interface DecoderCase {
  model: string; kind: "decoder-only"; prompt: string; text: string; ids: number[]; start: number;
  attention_rollout: number[][]; attention_flow: number[][]; alti_logit: number[][];
  alti_logit_contrast: { contrast_text: string; contrast_ids: number[]; rows: number[][] };
}
interface Seq2SeqCase {
  model: string; kind: "encoder-decoder"; source_text: string; target_text: string; source_ids: number[]; target_ids: number[];
  attention_rollout: number[][]; attention_flow: number[][]; alti_logit: number[][];
  alti_logit_contrast: { contrast_text: string; contrast_target_ids: number[]; rows: number[][] };
}
const golden = readJson<{ cases: Array<DecoderCase | Seq2SeqCase> }>(path.join(repoRoot, "test/fixtures/internals-golden/goldens.json"));
const decoderCases = golden.cases.filter((c): c is DecoderCase => c.kind === "decoder-only");
const seq2seqCases = golden.cases.filter((c): c is Seq2SeqCase => c.kind === "encoder-decoder");

// Rollout and flow are shares in [0, 1]: our float32 forward against the float64 reference agrees within 2e-6
// absolute (measured worst: 5.0e-7, marian flow). ALTI-logit is in logit units: within 2e-5 of each step's largest
// |value| (measured worst: 2.3e-6 gemma2, 8.2e-6 marian; the L1 distances of ALTI's contributions sum hidden-size
// float32 terms, and post-LN linearisations divide by each norm's sigma).
const SHARE_TOL = 2e-6;
const ALTI_TOL = 2e-5;

const loaded = new Map<string, Promise<Model | Seq2SeqModel>>();
const decoder = (name: string) => {
  if (!loaded.has(name)) loaded.set(name, loadModel(path.join(repoRoot, "test/fixtures/reference", name), { device: testDevice }));
  return loaded.get(name)! as Promise<Model>;
};
const seq2seq = (name: string) => {
  if (!loaded.has(name)) loaded.set(name, loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq", name), { device: testDevice }));
  return loaded.get(name)! as Promise<Seq2SeqModel>;
};
afterAll(async () => {
  for (const m of loaded.values()) await (await m).dispose();
});

type Tensor = { shape: number[]; data: Float32Array };
// Column j of a [positions, steps] attribution against the reference row j over positions offset..offset + rows:
// the largest |ours - reference| relative to `scale(j)`; NaN exactly where the position is not causal (p >= limit(j)).
function maxDiff(t: Tensor, ref: number[][], offset: number, limit: (j: number) => number, scale: (row: number[]) => number): number {
  const [rows, steps] = t.shape as [number, number];
  expect(steps).toBe(ref.length);
  let worst = 0;
  for (let j = 0; j < steps; j++) {
    const s = scale(ref[j]!);
    for (let p = 0; p < rows; p++) {
      const v = t.data[p * steps + j]!;
      if (offset + p >= limit(j)) {
        expect(v, `position ${p} step ${j}`).toBeNaN();
        continue;
      }
      worst = Math.max(worst, Math.abs(v - ref[j]![offset + p]!) / s);
    }
  }
  return worst;
}
const unit = () => 1;
const absMax = (row: number[]) => Math.max(1e-12, ...row.map(Math.abs));

describe("attention_rollout / attention_flow / alti_logit vs float64 references", () => {
  it("covers every native decoder-only and encoder-decoder family", () => {
    expect(decoderCases.map((c) => c.model)).toEqual(["gpt2", "llama", "gpt_neox", "gemma2", "olmo2"]);
    expect(seq2seqCases.map((c) => c.model)).toEqual(["bart", "mbart", "marian", "m2m_100", "t5", "t5-v1_1"]);
  });
  for (const c of decoderCases) {
    for (const method of ["attention_rollout", "attention_flow", "alti_logit"] as const) {
      it(`${c.model} ${method}`, async () => {
        const model = await decoder(c.model);
        const out = await model.attribute(c.prompt, { method, generatedTexts: c.text });
        const s = out.sequenceAttributions[0]!;
        expect(s.target.map((t) => t.id)).toEqual(c.ids);
        expect([s.attrPosStart, s.attrPosEnd]).toEqual([c.start, c.ids.length]);
        expect(s.extraDimNames).toEqual([]);
        const t = s.targetAttributions!;
        expect(t.shape).toEqual([c.ids.length, c.ids.length - c.start]);
        const d = maxDiff(t, c[method], 0, (j) => c.start + j, method === "alti_logit" ? absMax : unit);
        expect(d).toBeLessThanOrEqual(method === "alti_logit" ? ALTI_TOL : SHARE_TOL);
      });
    }
    it(`${c.model} alti_logit on a logit difference`, async () => {
      const model = await decoder(c.model);
      expect((await model.encode(c.alti_logit_contrast.contrast_text))[0]!.ids).toEqual(c.alti_logit_contrast.contrast_ids);
      const base = { method: "alti_logit", generatedTexts: c.text, attributedFn: "contrast_logits_diff" } as const;
      const diff = (await model.attribute(c.prompt, { ...base, contrastTargets: c.alti_logit_contrast.contrast_text })).sequenceAttributions[0]!;
      expect(maxDiff(diff.targetAttributions!, c.alti_logit_contrast.rows, 0, (j) => c.start + j, absMax)).toBeLessThanOrEqual(ALTI_TOL);
      // contrast == target: every step's direction U[y] - U[y] is 0, so every causal value is exactly 0
      const same = (await model.attribute(c.prompt, { ...base, contrastTargets: c.text })).sequenceAttributions[0]!;
      const causal = Array.from(same.targetAttributions!.data).filter((v) => !Number.isNaN(v));
      expect(causal.length).toBeGreaterThan(0);
      expect(causal.every((v) => v === 0)).toBe(true);
      // and the step where the texts differ ("in" vs "at") is not 0
      expect(Array.from(diff.targetAttributions!.data).some((v) => !Number.isNaN(v) && v !== 0)).toBe(true);
    });
  }
  for (const c of seq2seqCases) {
    for (const method of ["attention_rollout", "attention_flow", "alti_logit"] as const) {
      it(`${c.model} ${method} (source and target rows)`, async () => {
        const model = await seq2seq(c.model);
        const out = await model.attribute(c.source_text, { method, generatedTexts: c.target_text, attributeTarget: true });
        const s = out.sequenceAttributions[0]!;
        expect(s.source.map((t) => t.id)).toEqual(c.source_ids);
        expect(s.target.map((t) => t.id)).toEqual(c.target_ids);
        const S = c.source_ids.length;
        const [tol, scale] = method === "alti_logit" ? [ALTI_TOL, absMax] : [SHARE_TOL, unit];
        // reference rows are over source ++ target; step j's query is decoder position j (its target is j + 1)
        expect(maxDiff(s.sourceAttributions!, c[method], 0, () => Infinity, scale)).toBeLessThanOrEqual(tol);
        expect(maxDiff(s.targetAttributions!, c[method], S, (j) => S + j + 1, scale)).toBeLessThanOrEqual(tol);
      });
    }
    it(`${c.model} alti_logit on a logit difference (source and target rows)`, async () => {
      const model = await seq2seq(c.model);
      const S = c.source_ids.length;
      const base = { method: "alti_logit", generatedTexts: c.target_text, attributeTarget: true, attributedFn: "contrast_logits_diff" } as const;
      const diff = (await model.attribute(c.source_text, { ...base, contrastTargets: c.alti_logit_contrast.contrast_text })).sequenceAttributions[0]!;
      const ref = c.alti_logit_contrast.rows;
      expect(maxDiff(diff.sourceAttributions!, ref, 0, () => Infinity, absMax)).toBeLessThanOrEqual(ALTI_TOL);
      expect(maxDiff(diff.targetAttributions!, ref, S, (j) => S + j + 1, absMax)).toBeLessThanOrEqual(ALTI_TOL);
      // contrast == target: every value is exactly 0, source and target
      const same = (await model.attribute(c.source_text, { ...base, contrastTargets: c.target_text })).sequenceAttributions[0]!;
      const values = [...same.sourceAttributions!.data, ...same.targetAttributions!.data].filter((v) => !Number.isNaN(v));
      expect(values.length).toBeGreaterThan(0);
      expect(values.every((v) => v === 0)).toBe(true);
      expect(Array.from(diff.sourceAttributions!.data).some((v) => v !== 0)).toBe(true);
    });
  }
});

describe("internals graph invariants", () => {
  const c = decoderCases.find((k) => k.model === "llama")!;
  const column = (t: Tensor, j: number) => Array.from({ length: t.shape[0]! }, (_, p) => t.data[p * t.shape[1]! + j]!);

  it("rollout: every step's column sums to 1 over the causal positions", async () => {
    const s = (await (await decoder("gpt2")).attribute(c.prompt, { method: "attention_rollout", generatedTexts: c.text })).sequenceAttributions[0]!;
    const t = s.targetAttributions!;
    for (let j = 0; j < t.shape[1]!; j++) {
      const col = column(t, j).filter((v) => !Number.isNaN(v));
      expect(col.length).toBe(c.start + j);
      expect(Math.abs(col.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
      expect(col.every((v) => v >= 0)).toBe(true);
    }
  });

  it("flow: each value lies in [0, 1] (the capacity into the query node is 1) and is at least the flow of the residual path", async () => {
    const model = await decoder("llama");
    const flow = (await model.attribute(c.prompt, { method: "attention_flow", generatedTexts: c.text })).sequenceAttributions[0]!.targetAttributions!;
    for (let j = 0; j < flow.shape[1]!; j++) {
      const col = column(flow, j).filter((v) => !Number.isNaN(v));
      expect(col.every((v) => v >= 0 && v <= 1 + 1e-9)).toBe(true);
      // the query's own token reaches it along the identity path of capacity >= 0.5 per layer
      expect(col[c.start + j - 1]!).toBeGreaterThanOrEqual(0.5 - 1e-6);
    }
  });

  for (const method of ["attention_rollout", "attention_flow", "alti_logit"] as const) {
    it(`${method}: a batch of two inputs equals each one alone`, async () => {
      const model = await decoder("gpt2");
      const prompts = [c.prompt, "He"], texts = [c.text, "He was in"];
      const batched = await model.attribute(prompts, { method, generatedTexts: texts });
      for (let i = 0; i < 2; i++) {
        const single = (await model.attribute(prompts[i]!, { method, generatedTexts: texts[i]! })).sequenceAttributions[0]!.targetAttributions!;
        const b = batched.sequenceAttributions[i]!.targetAttributions!;
        expect(b.shape).toEqual(single.shape);
        b.data.forEach((v, k) => (Number.isNaN(v) ? expect(single.data[k]).toBeNaN() : expect(Math.abs(v - single.data[k]!)).toBeLessThan(1e-6)));
      }
    });
  }

  it("alti_logit on bart: a batch of two inputs equals each one alone (source and target rows)", async () => {
    const model = await seq2seq("bart");
    const sources = ["So Ben too", "Ben"], texts = ["And that'", "And"];
    const opts = { method: "alti_logit", attributeTarget: true } as const;
    const batched = await model.attribute(sources, { ...opts, generatedTexts: texts });
    for (let i = 0; i < 2; i++) {
      const single = (await model.attribute(sources[i]!, { ...opts, generatedTexts: texts[i]! })).sequenceAttributions[0]!;
      const b = batched.sequenceAttributions[i]!;
      for (const key of ["sourceAttributions", "targetAttributions"] as const) {
        expect(b[key]!.shape).toEqual(single[key]!.shape);
        expect(nanAwareMaxDiff(b[key]!.data, single[key]!.data)).toBeLessThan(1e-6);
      }
    }
  });

  it("alti_logit refuses other attributed functions with a code", async () => {
    await expectCode((await decoder("gpt2")).attribute(c.prompt, { method: "alti_logit", generatedTexts: c.text, attributedFn: "entropy" }),
      "ERR_INVALID_OPTION", "for attributedFn of alti_logit");
  });
});

describe("TorchScript bundles that return attentions", () => {
  const bundleDir = (name: string) => path.join(repoRoot, "test/fixtures/torchscript", name);

  it("gpt2 bundle: rollout and flow equal the native model's; alti_logit is refused", async () => {
    const bundle = await loadModel(bundleDir("gpt2"), { device: testDevice, kind: "decoder-only" });
    try {
      const native = await decoder("gpt2");
      for (const method of ["attention_rollout", "attention_flow"] as const) {
        const opts = { method, generatedTexts: ["He was in the park", "She said that the dog"] };
        const [a, b] = await Promise.all([bundle.attribute(["He was", "She said"], opts), native.attribute(["He was", "She said"], opts)]);
        a.sequenceAttributions.forEach((sq, i) =>
          expect(nanAwareMaxDiff(sq.targetAttributions!.data, b.sequenceAttributions[i]!.targetAttributions!.data), method).toBeLessThan(1e-6));
      }
      await expectCode(bundle.attribute("He was", { method: "alti_logit", generatedTexts: "He was in" }), "ERR_UNSUPPORTED_MODEL", "TorchScript bundles are refused");
    } finally {
      await bundle.dispose();
    }
  });

  it("bart bundle: rollout and flow equal the native model's, source and target rows", async () => {
    const bundle = await loadSeq2SeqModel(bundleDir("bart"), { device: testDevice });
    try {
      const native = await seq2seq("bart");
      for (const method of ["attention_rollout", "attention_flow"] as const) {
        const opts = { method, generatedTexts: "And that'", attributeTarget: true };
        const [a, b] = await Promise.all([bundle.attribute("So Ben too", opts), native.attribute("So Ben too", opts)]);
        const x = a.sequenceAttributions[0]!, y = b.sequenceAttributions[0]!;
        expect(nanAwareMaxDiff(x.sourceAttributions!.data, y.sourceAttributions!.data), method).toBeLessThan(1e-6);
        expect(nanAwareMaxDiff(x.targetAttributions!.data, y.targetAttributions!.data), method).toBeLessThan(1e-6);
      }
      await expectCode(bundle.attribute("So Ben too", { method: "alti_logit", generatedTexts: "And that'" }), "ERR_UNSUPPORTED_MODEL",
        "TorchScript bundles are refused");
    } finally {
      await bundle.dispose();
    }
  });
});
