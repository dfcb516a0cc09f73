// The bundled default model (models/default, trained by scripts/train-default-model.mjs on our grammar):
// it loads as "default", generates grammatical sentences, and has learned the agreement dependencies whose
// ground truth ships with it (models/default/grammar/eval.jsonl): it passes the gates of tools/default-model/gates.ts
// on a held-out set drawn here from the gate seed, so its predictions follow the evidence, not a shortcut.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { checkSentence, templateNames, type GrammarExample } from "../../lib/default-model/grammar.js";
import { defaultModelDir, loadModel, type Model } from "../../lib/index.js";
import { gateSeed, gateSet, generateCorpus } from "../../tools/default-model/corpus.js";
import { GATE_THRESHOLDS, measureGates } from "../../tools/default-model/gates.js";
import { testDevice } from "../helpers.js";

const evalSet: GrammarExample[] = readFileSync(path.join(defaultModelDir(), "grammar/eval.jsonl"), "utf8")
  .split("\n").filter(Boolean).map((l) => JSON.parse(l));
const training = JSON.parse(readFileSync(path.join(defaultModelDir(), "training.json"), "utf8")) as {
  seed: number; trainSentences: number; gates: { seed: number; examples: number };
};

describe("bundled default model", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel("default", { device: testDevice });
  });
  afterAll(() => model.dispose());

  it("is a small llama in Hugging Face format under 5 MB", () => {
    expect(model.info).toMatchObject({ modelType: "llama", family: "llama", numLayers: 4, hiddenSize: 128 });
    expect(model.info.path).toBe(defaultModelDir());
  });

  it("greedy continuations of held-out prefixes are grammatical sentences of the grammar", async () => {
    const prefixes = evalSet.slice(200, 400).map((e) => e.words.slice(0, 2).join(" "));
    const texts = await model.generate(prefixes, { maxNewTokens: 24 });
    const ok = texts.filter((t) => checkSentence(t).grammatical).length;
    // Measured 192/200 on eval[0:200] at training time (models/default/training.json).
    expect(ok / texts.length).toBeGreaterThanOrEqual(0.9);
  });

  it("stops each sequence at its EOS and can return only the continuation", async () => {
    const eos = model.tokenizer.eosTokenId!;
    const out = await model.generate(["mary", "the doctors", "the nurse , a man ,"], {
      maxNewTokens: 56, returnIds: true, outputGeneratedOnly: true, skipSpecialTokens: false,  // the longest prompt (7 tokens) + 56 fits the 64 positions
    });
    for (const seq of out.sequences) {
      expect(seq.generatedIds.length).toBeLessThan(56);
      expect(seq.generatedIds.indexOf(eos)).toBe(seq.generatedIds.length - 1); // ends at the first EOS
      expect(seq.logprobs.length).toBe(seq.generatedIds.length);
      expect(seq.logprobs.every((l) => l <= 0 && Number.isFinite(l))).toBe(true);
    }
    expect(out.texts.every((t) => t.endsWith(". </s>") && !t.startsWith("<s>"))).toBe(true);
  });

  it("sampled sentences are grammatical too", async () => {
    const texts = await model.generate(Array(50).fill("the"), { maxNewTokens: 24, doSample: true, seed: 5 });
    expect(new Set(texts).size).toBeGreaterThan(25);
    const ok = texts.filter((t) => checkSentence(t).grammatical).length;
    expect(ok / texts.length).toBeGreaterThanOrEqual(0.8);
  });

  it("passes its gates on held-out items of the gate seed: agreement per kind, evidence and competitor swaps per template", async () => {
    expect(training.gates.seed).toBe(gateSeed(training.seed));
    expect(training.gates.seed).not.toBe(training.seed);
    // the items: drawn from the gate seed, none of them a training sentence (the corpus is regenerated from its seed)
    const train = new Set(generateCorpus(training.trainSentences, training.seed).map((e) => e.text));
    const items = gateSet(train, training.gates.examples, training.seed);
    expect(items.length).toBe(training.gates.examples);
    expect(items.some((e) => train.has(e.text))).toBe(false);
    const report = await measureGates(model, items);
    expect(Object.keys(report.agreement).sort()).toEqual(["possessive_gender", "pronoun_gender", "subject_verb_number"]);
    expect(Object.keys(report.evidenceFlips).sort()).toEqual(templateNames().sort());
    expect(Object.keys(report.distractorFlips).sort()).toEqual([
      "agreement_object_relative", "agreement_pp", "agreement_subject_relative", "possessive_distractor",
      "pronoun_distractor", "pronoun_occupation_distractor", "pronoun_relative_distractor",
    ]);
    for (const [kind, r] of Object.entries(report.agreement)) expect(r.rate, `agreement ${kind}`).toBeGreaterThanOrEqual(GATE_THRESHOLDS.agreement);
    for (const [t, r] of Object.entries(report.evidenceFlips)) {
      // pronoun_occupation has fewest (~100): most of its 2880 sentences without a place phrase are training sentences
      expect(r.total, t).toBeGreaterThan(50);
      expect(r.rate, `evidence flips ${t}`).toBeGreaterThanOrEqual(GATE_THRESHOLDS.evidenceFlips);
    }
    for (const [t, r] of Object.entries(report.distractorFlips)) expect(r.rate, `distractor flips ${t}`).toBeLessThanOrEqual(GATE_THRESHOLDS.distractorFlips);
    expect(report.failures).toEqual([]);
  }, 120_000);

  it("follows the appositive, not the name in between, and continues appositives without a place", async () => {
    const prompts = ["the doctor , a man , told john that", "the doctor , a man , told mary that", "the doctor , a woman , told john that",
      "the doctor , a woman , said that", "the doctor , a man , said that", "mary told sarah that", "john told peter that"];
    const texts = await model.generate(prompts, { maxNewTokens: 1 });
    expect(texts.map((t, i) => t.slice(prompts[i]!.length + 1))).toEqual(["he", "he", "she", "she", "he", "she", "he"]);
  });

  it("ships its eval set with each dependency's causal check (verified)", () => {
    const deps = evalSet.flatMap((e) => e.dependencies);
    expect(deps.every((d) => typeof d.verified === "boolean" && Array.isArray(d.competitors))).toBe(true);
    expect(deps.filter((d) => d.verified).length / deps.length).toBeGreaterThanOrEqual(0.95);
  });

  it("prefers the agreeing form at each dependent word (pronoun gender, possessive, verb number)", async () => {
    const cases = evalSet.slice(0, 300).flatMap((e) => e.dependencies.map((d) => ({ e, d })));
    const prefixes = await model.encode(cases.map(({ e, d }) => e.words.slice(0, d.target).join(" ")));
    let correct = 0;
    const byKind = new Map<string, [number, number]>();
    for (let i = 0; i < cases.length; i += 64) {
      const chunk = cases.slice(i, i + 64);
      const ids = prefixes.slice(i, i + 64).map((p) => p.ids);
      const { logits } = await model.forward(ids);
      const [, seq, vocab] = logits.shape as [number, number, number];
      chunk.forEach(({ d }, j) => {
        const row = logits.data.subarray((j * seq + seq - 1) * vocab, (j * seq + seq) * vocab); // last position (left padding)
        const good = row[model.tokenizer.tokenToId(d.expected)!]!;
        const wins = d.alternatives.every((alt) => good > row[model.tokenizer.tokenToId(alt)!]!);
        const [c, n] = byKind.get(d.kind) ?? [0, 0];
        byKind.set(d.kind, [c + (wins ? 1 : 0), n + 1]);
        if (wins) correct++;
      });
    }
    for (const [kind, [c, n]] of byKind) expect(c / n, kind).toBeGreaterThanOrEqual(0.9);
    expect(correct / cases.length).toBeGreaterThanOrEqual(0.95);
  });
});
