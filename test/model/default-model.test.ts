// The bundled default model (models/default, trained by scripts/train-default-model.mjs on our grammar):
// it loads as "default", generates grammatical sentences, and has learned the agreement dependencies whose
// ground truth ships with it (models/default/grammar/eval.jsonl).
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { checkSentence, type GrammarExample } from "../../lib/default-model/grammar.js";
import { defaultModelDir, loadModel, type Model } from "../../lib/index.js";
import { testDevice } from "../helpers.js";

const evalSet: GrammarExample[] = readFileSync(path.join(defaultModelDir(), "grammar/eval.jsonl"), "utf8")
  .split("\n").filter(Boolean).map((l) => JSON.parse(l));

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
    // Measured 196/200 on eval[0:200] at training time (models/default/training.json).
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
