// reagent (native/attribution/reagent.cc): deterministic given the seed, batched == one by one with the same seed,
// scores that sum to 1 per step over the non-special prefix tokens (Inseq's importance is a softmax, and the
// mean of softmaxes over probes sums to 1 too), special tokens never replaced (score exactly 0), convergence on
// the trained stories260K Llama, the fallback warning when no probe converges, no NaN on a model whose p(y) is
// exactly 1 in float32 (Inseq #304), encoder-decoders (source only, and source + target prefix).
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, loadSeq2SeqModel, type Model, type Seq2SeqModel } from "../../lib/index.js";
import { readSafetensorsHeader } from "../../lib/evaluation/checkpoint-tensors.js";
import { REAGENT_ATTRIBUTED_FN_IGNORED, REAGENT_NOT_CONVERGED } from "../../lib/attribution/reagent.js";
import { copyModel, expectCode, repoRoot, stories260K, testDevice, warningsOf } from "../helpers.js";

const PROMPTS = ["Once upon a time, there was a little girl named Lily. She", "Tom and his mom went to the park.", "The cat was"];
const FAST = { numProbes: 8, maxProbeSteps: 300 };

type Scores = { shape: number[]; data: Float32Array };
/** Column j of a [rows, steps] score tensor. */
const column = (t: Scores, j: number) => Array.from({ length: t.shape[0]! }, (_, r) => t.data[r * t.shape[1]! + j]!);

describe("reagent on hf-stories260K", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(stories260K, { device: testDevice });
  });
  afterAll(() => model.dispose());

  it("sums to 1 per step over the prefix, BOS (special) exactly 0, NaN after the prefix; converges without warnings", async () => {
    const { result: out, warnings } = await warningsOf(() =>
      model.attribute(PROMPTS, { method: "reagent", methodArgs: { ...FAST, seed: 1 }, generationArgs: { maxNewTokens: 4 } }));
    expect(warnings).toEqual([]);
    expect(out.info.attribution_method).toBe("reagent");
    for (const s of out.sequenceAttributions) {
      const t = s.targetAttributions!;
      expect(s.target[0]!.id).toBe(1);  // <s>
      expect(t.shape).toEqual([s.attrPosEnd, s.attrPosEnd - s.attrPosStart]);
      for (let j = 0; j < t.shape[1]!; j++) {
        const col = column(t, j);
        const prefix = s.attrPosStart + j;
        expect(col[0]).toBe(0);
        expect(col.slice(prefix).every(Number.isNaN)).toBe(true);
        const sum = col.slice(0, prefix).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(1, 5);
        expect(col.slice(1, prefix).every((v) => v > 0)).toBe(true);
      }
    }
  });

  it("is deterministic given the seed, and another seed gives other scores", async () => {
    const run = (seed: number) => model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { ...FAST, seed }, generationArgs: { maxNewTokens: 3 } });
    const [a, b, c] = [await run(3), await run(3), await run(4)];
    const d = (o: typeof a) => o.sequenceAttributions[0]!.targetAttributions!.data;
    expect(Array.from(d(b))).toEqual(Array.from(d(a)));
    expect(Array.from(d(c))).not.toEqual(Array.from(d(a)));
  });

  it("batched equals one by one with the same seed (each probe draws from its own generator)", async () => {
    const texts = await model.generate(PROMPTS, { maxNewTokens: 4 });
    const options = { method: "reagent" as const, generatedTexts: texts, methodArgs: { ...FAST, seed: 7 } };
    const batched = await model.attribute(PROMPTS, options);
    for (let i = 0; i < PROMPTS.length; i++) {
      const one = await model.attribute(PROMPTS[i]!, { ...options, generatedTexts: texts[i]! });
      const a = batched.sequenceAttributions[i]!.targetAttributions!, b = one.sequenceAttributions[0]!.targetAttributions!;
      expect(a.shape).toEqual(b.shape);
      for (let k = 0; k < a.data.length; k++) {
        if (Number.isNaN(b.data[k]!)) expect(a.data[k]).toBeNaN();
        else expect(Math.abs(a.data[k]! - b.data[k]!)).toBeLessThan(1e-5);
      }
    }
  });

  it("never replaces a token of the special group (-1 in posGroups): its score is exactly 0", async () => {
    const vocab = model.info.vocabSize;
    const enc = (await model.encode([PROMPTS[1]!]))[0]!.ids;
    const kept = enc[3]!;  // a word of the prompt made special
    const posGroups = Array.from({ length: vocab }, (_, id) => (id <= 2 || id === kept ? -1 : id % 5));
    const out = await model.attribute(PROMPTS[1]!, { method: "reagent", methodArgs: { ...FAST, seed: 2, posGroups }, generationArgs: { maxNewTokens: 3 } });
    const s = out.sequenceAttributions[0]!;
    const rows = s.target.map((t) => t.id);
    for (let j = 0; j < s.attrPosEnd - s.attrPosStart; j++) {
      const col = column(s.targetAttributions!, j);
      rows.forEach((id, r) => { if (id === kept && r < s.attrPosStart + j) expect(col[r]).toBe(0); });
      expect(col.filter((v) => !Number.isNaN(v)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it("replaces within the POS group only: with one-token groups every replacement is the token itself, so the replacing ratio changes nothing", async () => {
    // Each non-special id alone in its group: a replaced prefix equals the clean one, delta ~ 0 (float noise of
    // batched forwards), every probe converges in its first round, and the scores are softmax(the U(0, 1) start)
    // whatever replacingRatio draws; a replacement leaving the group would change p(y) and the scores.
    const posGroups = Array.from({ length: model.info.vocabSize }, (_, id) => (id <= 2 ? -1 : id));
    const run = (replacingRatio: number, groups?: number[]) => model.attribute(PROMPTS[1]!, {
      method: "reagent", generationArgs: { maxNewTokens: 3 }, methodArgs: { ...FAST, seed: 4, replacingRatio, ...(groups ? { posGroups: groups } : {}) },
    }).then((o) => o.sequenceAttributions[0]!.targetAttributions!.data);
    const [low, high] = [await run(0.1, posGroups), await run(0.9, posGroups)];
    for (let k = 0; k < low.length; k++) {
      if (Number.isNaN(low[k]!)) expect(high[k]).toBeNaN();
      else expect(Math.abs(low[k]! - high[k]!)).toBeLessThan(1e-5);
    }
    // the same two ratios with the tagger's groups: real replacements, different scores
    const [tagLow, tagHigh] = [await run(0.1), await run(0.9)];
    let diff = 0;
    for (let k = 0; k < tagLow.length; k++) if (!Number.isNaN(tagLow[k]!)) diff = Math.max(diff, Math.abs(tagLow[k]! - tagHigh[k]!));
    expect(diff).toBeGreaterThan(1e-2);
  });

  it("warns when no probe converges and then averages over every probe; attributedFn is ignored with a warning", async () => {
    // A forced continuation the model does not predict, a single kept token and one allowed probe step.
    const { result: out, warnings } = await warningsOf(() => model.attribute(PROMPTS[2]!, {
      method: "reagent", generatedTexts: `${PROMPTS[2]!} purple purple`, attributedFn: "logit",
      methodArgs: { numProbes: 4, maxProbeSteps: 1, keepTopN: 1, stoppingConditionTopK: 1, seed: 0 },
    }));
    expect(warnings.map((w) => w[1]).sort()).toEqual([REAGENT_ATTRIBUTED_FN_IGNORED, REAGENT_NOT_CONVERGED].sort());
    const s = out.sequenceAttributions[0]!;
    for (let j = 0; j < s.attrPosEnd - s.attrPosStart; j++) {
      const col = column(s.targetAttributions!, j).filter((v) => !Number.isNaN(v));
      expect(col.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it("keepRatio with keepTopN 0, invertKeep; bad options are refused", async () => {
    const out = await model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { ...FAST, keepTopN: 0, keepRatio: 0.5, invertKeep: true, seed: 0 }, generationArgs: { maxNewTokens: 2 } });
    expect(out.sequenceAttributions[0]!.targetAttributions!.data.some((v) => v > 0)).toBe(true);
    await expectCode(model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { keepTopN: 0 } }), "ERR_INVALID_OPTION", "keepRatio");
    await expectCode(model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { replacingRatio: 1.5 } }), "ERR_INVALID_OPTION", "replacingRatio");
    await expectCode(model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { numProbes: 0 } }), "ERR_INVALID_OPTION", "numProbes");
    await expectCode(model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { posGroups: [0, "x"] } }), "ERR_INVALID_OPTION", "posGroups");
  });
});

describe("reagent on a model whose p(y) is exactly 1 in float32 (Inseq #304)", () => {
  let model: Model;
  beforeAll(async () => {
    // stories260K with its final norm scaled 60x: logit gaps of hundreds, so softmax(logits)[y] == 1.0f and a
    // replacement can move p(y) from 1 to 0 (delta = 1: Inseq's logit(1) = inf, then NaN).
    const dir = copyModel(stories260K, "reagent-peaked");
    const norm = (await readSafetensorsHeader(dir, "model.safetensors")).find((t) => t.name === "model.norm.weight")!;
    const buf = await readFile(path.join(dir, "model.safetensors"));
    for (let o = norm.begin; o < norm.end; o += 4) buf.writeFloatLE(buf.readFloatLE(o) * 60, o);
    await writeFile(path.join(dir, "model.safetensors"), buf);
    model = await loadModel(dir, { device: testDevice });
  });
  afterAll(() => model.dispose());

  it("gives finite scores that sum to 1", async () => {
    const out = await model.attribute(PROMPTS[0]!, { method: "reagent", methodArgs: { ...FAST, seed: 0 }, generationArgs: { maxNewTokens: 3 }, stepScores: ["probability"] });
    const s = out.sequenceAttributions[0]!;
    expect(Math.max(...s.stepScores.probability!)).toBe(1);
    for (let j = 0; j < s.attrPosEnd - s.attrPosStart; j++) {
      const col = column(s.targetAttributions!, j).slice(0, s.attrPosStart + j);
      expect(col.every(Number.isFinite)).toBe(true);
      expect(col.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });
});

describe("reagent on an encoder-decoder (tiny bart)", () => {
  let model: Seq2SeqModel;
  const SOURCES = ["So Ben too", "Once upon a time there was"];
  beforeAll(async () => {
    model = await loadSeq2SeqModel(path.join(repoRoot, "test/fixtures/reference-seq2seq/bart"), { device: testDevice });
  });
  afterAll(() => model.dispose());

  for (const attributeTarget of [false, true]) {
    it(`${attributeTarget ? "source + target prefix" : "source only"}: scores sum to 1 per step, specials 0, batched == one by one`, async () => {
      const options = { method: "reagent" as const, attributeTarget, methodArgs: { numProbes: 4, maxProbeSteps: 50, seed: 5 }, generationArgs: { maxNewTokens: 3 } };
      const out = await model.attribute(SOURCES, options);
      const specials = new Set([model.info.bosTokenId, model.info.padTokenId, model.info.decoderStartTokenId, ...model.info.eosTokenIds]);
      out.sequenceAttributions.forEach((s) => {
        const src = s.sourceAttributions!;
        const G = s.attrPosEnd - s.attrPosStart;
        expect(src.shape).toEqual([s.source.length, G]);
        if (!attributeTarget) expect(s.targetAttributions).toBeNull();
        for (let j = 0; j < G; j++) {
          let sum = 0;
          column(src, j).forEach((v, r) => { if (specials.has(s.source[r]!.id)) expect(v).toBe(0); sum += v; });
          if (attributeTarget) {
            column(s.targetAttributions!, j).forEach((v, r) => {
              if (r < s.attrPosStart + j) {
                if (specials.has(s.target[r]!.id)) expect(v).toBe(0);
                sum += v;
              } else expect(v).toBeNaN();
            });
          }
          expect(sum).toBeCloseTo(1, 5);
        }
      });
      const one = await model.attribute(SOURCES[1]!, options);
      const a = out.sequenceAttributions[1]!.sourceAttributions!.data, b = one.sequenceAttributions[0]!.sourceAttributions!.data;
      expect(a.length).toBe(b.length);
      for (let k = 0; k < a.length; k++) expect(Math.abs(a[k]! - b[k]!)).toBeLessThan(1e-5);
    });
  }
});
