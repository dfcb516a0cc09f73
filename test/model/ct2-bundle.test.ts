// A real trained encoder-decoder as a TorchScript bundle: CTranslate2's Arabic -> Latin transliteration test
// model (../shared/fixtures/ct2-aren-transliteration), converted at test time by scripts/ct2/
// convert_ct2_bundle.py with Debian's python3-torch. Greedy outputs and forced-decoding log-probabilities
// must reproduce the fixture's expected.json; attributions must point at the source letter each Latin letter
// transliterates (rates measured and asserted per method, reported in docs/attribution.md).
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { evaluate } from "../../lib/evaluation/evaluate.js";
import { openEvalSet, transliterationPairs } from "../../lib/evaluation/sets/index.js";
import { loadSeq2SeqModel, type Seq2SeqModel } from "../../lib/index.js";
import { repoRoot, sharedFixtures } from "../helpers.js";
import { alignTransliteration, ARABIC_NAMES } from "./transliteration.js";

const fixture = path.join(sharedFixtures, "ct2-aren-transliteration");
const expected = JSON.parse(readFileSync(path.join(fixture, "expected.json"), "utf8")) as {
  cases: Array<{ source_tokens: string[]; source_ids: number[]; target_ids: number[]; target_tokens: string[]; sum_logprob_incl_eos: number }>;
};
const tmp = mkdtempSync(path.join(os.tmpdir(), "inseq-ct2-"));
const bundle = path.join(tmp, "bundle");
let model: Seq2SeqModel;

beforeAll(async () => {
  execFileSync("/usr/bin/python3", [path.join(repoRoot, "scripts/ct2/convert_ct2_bundle.py"), fixture, bundle], { stdio: "pipe" });
  model = await loadSeq2SeqModel(bundle, { device: "cpu" });
}, 120_000);
afterAll(async () => {
  await model?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** Share of aligned target letters whose top-attributed source token is the letter they render. */
async function alignmentRate(method: string): Promise<{ hits: number; total: number }> {
  const out = await model.attribute(ARABIC_NAMES, { method });
  let hits = 0, total = 0;
  for (const seq of out.sequenceAttributions) {
    const s = seq.aggregate();  // Inseq's default per method: L2 + L1 norm, mean over heads and layers, ...
    const truth = alignTransliteration(s.source.map((t) => t.token), s.target.slice(1, -1).map((t) => t.token));
    const a = s.sourceAttributions!;
    const [rows, cols] = a.shape as [number, number];
    truth.forEach((src, j) => {
      if (src === null) return;
      let best = 0;
      for (let r = 1; r < rows; r++) if (a.data[r * cols + j]! > a.data[best * cols + j]!) best = r;
      total++;
      if (best === src) hits++;
    });
  }
  return { hits, total };
}

describe("ct2 transliteration model as a TorchScript bundle", () => {
  it("loads with the sidecar's ids and separate source / target vocabularies", () => {
    expect(model.info).toMatchObject({
      implementation: "torchscript", modelType: "ct2-transformer", vocabSize: 43, sourceVocabSize: 51, hiddenSize: 32,
      numLayers: 6, numEncoderLayers: 6, numHeads: 8, decoderStartTokenId: 1, eosTokenIds: [2], padTokenId: 0, maxPositions: 256,
    });
    expect(model.tokenizer.tokenToId("آ")).toBe(31);
    expect(model.targetTokenizer.tokenToId("a")).toBe(3);
  });

  it("reproduces every greedy output of expected.json (batched and one by one)", async () => {
    const sources = expected.cases.map((c) => c.source_tokens.join(" "));
    const batched = await model.generate(sources, { returnIds: true });
    for (const [i, c] of expected.cases.entries()) {
      expect((await model.tokenizer.encode(sources[i]!)).ids).toEqual(c.source_ids);
      expect(batched.sequences[i]!.ids).toEqual([...c.target_ids, 2]);  // up to and including </s>
      expect(batched.texts[i]).toBe(c.target_tokens.join(" "));
      expect((await model.generate(sources[i]!, { returnIds: true })).sequences[0]!.ids).toEqual([...c.target_ids, 2]);
    }
  });

  it("reproduces expected.json's summed log-probabilities through forced-decoding step scores", async () => {
    const out = await model.attribute(expected.cases.map((c) => c.source_tokens.join(" ")), {
      method: "dummy", generatedTexts: expected.cases.map((c) => `${c.target_tokens.join(" ")} </s>`),
      stepScores: ["probability"], stepScoresArgs: { logprob: true },
    });
    out.sequenceAttributions.forEach((s, i) => {
      const c = expected.cases[i]!;
      expect(s.target.map((t) => t.id)).toEqual([1, ...c.target_ids, 2]);
      const sum = s.stepScores.probability!.reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - c.sum_logprob_incl_eos)).toBeLessThan(2e-4);  // expected.json has 4 decimals
    });
  });

  it("attention and occlusion put the transliterated source letter on top in most steps; saliency-family methods less often", async () => {
    // Measured on 50 names / 226 aligned letters (docs/attribution.md): attention 91.6%, occlusion 95.6%,
    // integrated gradients 70.8%, input x gradient 57.5%, saliency 44.2% (its misses are mostly the neighbouring
    // letter). Thresholds sit a little below the measurements.
    const floors: Record<string, number> = { attention: 0.88, occlusion: 0.92, integrated_gradients: 0.66, input_x_gradient: 0.52, saliency: 0.4 };
    for (const [method, floor] of Object.entries(floors)) {
      const { hits, total } = await alignmentRate(method);
      expect(total).toBeGreaterThanOrEqual(200);
      expect(hits / total, method).toBeGreaterThanOrEqual(floor);
    }
  }, 120_000);

  it("the transliteration evaluation set: the model's greedy outputs, one item per letter aligned 1:1", async () => {
    const pairs = await transliterationPairs(model);
    expect(pairs.slice(0, expected.cases.length)).toEqual(expected.cases.map((c) => ({ source: c.source_tokens.join(" "), target: c.target_tokens.join(" ") })));
    const set = await openEvalSet("transliteration", { model });
    expect(set.items).toHaveLength(186);  // of the 226 aligned letters, those that render a source letter alone
    expect(set.items[0]).toEqual({
      id: "transliteration:0:0", kind: "letter_alignment", input: "آ ت ز م و ن", targetPrefix: "", target: "a", alternatives: [], evidence: [0], distractors: [],
    });
  });

  it("evaluate() on the transliteration set: the target probability is the model's own, the oracle ranks the aligned letter first", async () => {
    const set = await openEvalSet("transliteration", { model });
    const items = set.items.slice(0, 24);
    const report = await evaluate(model, { ...set, items }, {
      methods: ["saliency", "attention"], baselines: ["oracle", "random"], replacement: "mean", k: [1], aopcMaxK: 2, includeItems: true,
    });
    expect(report.model.kind).toBe("encoder-decoder");
    expect(report.methods.map((m) => m.label)).toEqual(["saliency", "attention", "baseline: oracle", "baseline: random"]);
    expect(report.methods[2]!.groups[0]!.plausibility).toMatchObject({ top1: 1, meanEvidenceRank: 1 });
    // p(target) of the full input = exp(log-probability) of that greedy step (decoder start + the target prefix).
    const generated = await model.generate([...new Set(items.map((i) => i.input))], { returnIds: true, maxNewTokens: 20 });
    const bySource = new Map(generated.sequences.map((g, i) => [[...new Set(items.map((x) => x.input))][i]!, g]));
    items.forEach((item, i) => {
      const step = item.targetPrefix === "" ? 0 : item.targetPrefix!.split(" ").length;
      const logprob = bySource.get(item.input)!.logprobs[step]!;
      expect(Math.abs(report.items![i]!.pFull! - Math.exp(logprob))).toBeLessThan(1e-4);
    });
    // Attention points at the aligned letter far more often than chance on this model.
    const attention = report.methods[1]!.groups[0]!.plausibility.top1;
    expect(attention).toBeGreaterThan(report.methods[3]!.groups[0]!.plausibility.top1);
  }, 120_000);

  it("batched attribution equals one by one", async () => {
    const sources = ARABIC_NAMES.slice(0, 4);
    const batched = await model.attribute(sources, { method: "integrated_gradients", methodArgs: { nSteps: 8 }, attributeTarget: true });
    for (const [i, src] of sources.entries()) {
      const single = (await model.attribute(src, { method: "integrated_gradients", methodArgs: { nSteps: 8 }, attributeTarget: true })).sequenceAttributions[0]!;
      const b = batched.sequenceAttributions[i]!;
      for (const key of ["sourceAttributions", "targetAttributions"] as const) {
        const x = b[key]!.data, y = single[key]!.data;
        expect(x.length).toBe(y.length);
        x.forEach((v, k) => (Number.isNaN(v) ? expect(y[k]).toBeNaN() : expect(Math.abs(v - y[k]!)).toBeLessThan(1e-5)));
      }
    }
  });

  it("refuses sources beyond max_positions, sidecars with wrong ids, and a module missing from the bundle", async () => {
    const long = Array.from({ length: 300 }, () => "ب").join(" ");
    await expect(model.generate(long)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringMatching(/exceeds the model's limit of 256/) });
    await expect(model.attribute(long, { generatedTexts: "b" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    const broken = path.join(tmp, "broken");
    cpSync(bundle, broken, { recursive: true });
    const sidecar = JSON.parse(readFileSync(path.join(bundle, "inseq_bundle.json"), "utf8"));
    writeFileSync(path.join(broken, "inseq_bundle.json"), JSON.stringify({ ...sidecar, decoder_start_token_id: 99 }));
    await expect(loadSeq2SeqModel(broken)).rejects.toMatchObject({ code: "ERR_BAD_MODEL", message: expect.stringMatching(/decoder_start_token_id 99 is outside the vocabulary of 43/) });
    writeFileSync(path.join(broken, "inseq_bundle.json"), JSON.stringify({ ...sidecar, hidden_size: 64 }));
    await expect(loadSeq2SeqModel(broken)).rejects.toMatchObject({ code: "ERR_BAD_MODEL", message: expect.stringMatching(/hidden_size 64/) });
    writeFileSync(path.join(broken, "inseq_bundle.json"), JSON.stringify({ ...sidecar, model_kind: "decoder-only" }));
    await expect(loadSeq2SeqModel(broken)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED_MODEL" });
    writeFileSync(path.join(broken, "inseq_bundle.json"), JSON.stringify(sidecar));
    rmSync(path.join(broken, "model.torchscript"));
    await expect(loadSeq2SeqModel(broken)).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    writeFileSync(path.join(broken, "model.torchscript"), "not a zip file");
    await expect(loadSeq2SeqModel(broken)).rejects.toMatchObject({ code: "ERR_BAD_MODEL", message: expect.stringMatching(/Cannot load/) });
    // the loaded model is unaffected
    expect(await model.generate(expected.cases[0]!.source_tokens.join(" "))).toEqual(["a t z m o n"]);
  });

  it("methods needing internals a bundle does not expose fail with a clear error naming what is missing", async () => {
    await expect(model.attribute("م ح م د", { method: "layer_gradient_x_activation", methodArgs: { layer: 2 } }))
      .rejects.toMatchObject({ code: "ERR_UNSUPPORTED_MODEL", message: expect.stringMatching(/embedding layer only/) });
    await expect(model.attribute("م ح م د", { method: "value_zeroing" }))
      .rejects.toMatchObject({ code: "ERR_UNSUPPORTED_MODEL", message: expect.stringMatching(/value_zeroing needs the attention values/) });
    // the embedding layer works for layer methods
    const out = await model.attribute("م ح م د", { method: "layer_gradient_x_activation" });
    expect(out.sequenceAttributions[0]!.sourceAttributions!.shape).toEqual([4, 7]);
  });
});
