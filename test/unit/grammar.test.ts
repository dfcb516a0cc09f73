import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import tokenizers from "tokenizers";
import {
  analyzeSentence,
  categoryEntries,
  checkSentence,
  generateExample,
  lookupWord,
  mulberry32,
  templateNames,
  vocabulary,
  type GrammarExample,
} from "../../lib/default-model/grammar.js";
import { evalSeed, gateSeed, gateSet, generateCorpus } from "../../tools/default-model/corpus.js";
import { counterpart, gateFailures, markVerified } from "../../tools/default-model/gates.js";
import { writeCorpusFiles } from "../../tools/default-model/corpus-files.js";
import { buildTokenizerFiles } from "../../tools/default-model/tokenizer-json.js";

const { Tokenizer } = tokenizers;

const corpus = generateCorpus(3000, 1234);

function features(word: string, feature: "gender" | "number"): Set<string> {
  const out = new Set<string>();
  for (const e of lookupWord(word)) {
    const v = feature === "gender" ? e.gender : e.number;
    if (v !== undefined) out.add(v);
  }
  return out;
}

function sameCategory(a: string, b: string): boolean {
  const categories = new Set(lookupWord(a).map((e) => e.category));
  return lookupWord(b).some((e) => categories.has(e.category));
}

function only<T>(set: Set<T>): T {
  expect(set.size).toBe(1);
  return [...set][0]!;
}

describe("grammar PRNG and generation", () => {
  it("mulberry32 is deterministic and in [0, 1)", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mulberry32(43)()).not.toBe(xs[0]);
  });

  it("same seed gives the same corpus, another seed another corpus", () => {
    expect(generateCorpus(500, 1234)).toEqual(corpus.slice(0, 500));
    const other = generateCorpus(500, 99);
    expect(other.map((e) => e.text)).not.toEqual(corpus.slice(0, 500).map((e) => e.text));
  });

  it("uses every template and is varied", () => {
    const used = new Set(corpus.map((e) => e.template));
    expect([...used].sort()).toEqual(templateNames().sort());
    expect(templateNames().length).toBeGreaterThanOrEqual(6);
    expect(new Set(corpus.map((e) => e.text)).size).toBeGreaterThan(corpus.length * 0.95);
  });

  it("generates lowercase, single-spaced text with separate punctuation", () => {
    const vocab = new Set(vocabulary());
    for (const ex of corpus) {
      expect(ex.text).toBe(ex.words.join(" "));
      expect(ex.text).toMatch(/^[a-z]+( ([a-z]+|[.,]))* \.$/);
      for (const w of ex.words) expect(vocab.has(w)).toBe(true);
    }
  });

  it("vocabulary is sorted, deterministic and small", () => {
    const v = vocabulary();
    expect(v).toEqual([...v].sort());
    expect(new Set(v).size).toBe(v.length);
    expect(v.length).toBeGreaterThanOrEqual(250);
    expect(v.length).toBeLessThanOrEqual(400);
    expect(vocabulary()).toEqual(v);
    for (const w of [".", ",", "she", "he", "her", "his", "is", "are", "was", "were", "nurse", "mary", "john"]) {
      expect(v).toContain(w);
    }
  });

  it("rejects bad arguments", () => {
    expect(() => generateCorpus(-1, 1)).toThrow(/Expected a non-negative integer for n/);
    expect(() => generateCorpus(1.5, 1)).toThrow(/for n/);
    expect(() => generateCorpus(3, Number.NaN)).toThrow(/for seed/);
    expect(() => generateExample(mulberry32(1), "nope")).toThrow(/for template/);
    try {
      generateCorpus(-1, 1);
    } catch (e) {
      expect((e as { code?: string }).code).toBe("ERR_INVALID_OPTION");
    }
  });
});

describe("ground-truth dependencies", () => {
  it("every generated example is accepted by checkSentence with its own template", () => {
    for (const ex of corpus) {
      expect(checkSentence(ex.text)).toEqual({ grammatical: true, template: ex.template });
    }
  });

  it("analyzeSentence recovers the generated ground truth", () => {
    for (const ex of corpus.slice(0, 1000)) expect(analyzeSentence(ex.text)).toEqual(ex);
  });

  it("targets, evidence and distractors carry the right features", () => {
    const kinds = new Set<string>();
    let withDistractors = 0;
    for (const ex of corpus) {
      expect(ex.dependencies.length).toBeGreaterThan(0);
      for (const d of ex.dependencies) {
        kinds.add(d.kind);
        expect(ex.words[d.target]).toBe(d.expected);
        expect(d.evidence.length).toBeGreaterThan(0);
        expect(d.alternatives.length).toBe(1);
        expect(d.alternatives).not.toContain(d.expected);
        const feature = d.kind === "subject_verb_number" ? "number" : "gender";
        const value = only(features(d.expected, feature));
        expect(only(features(d.alternatives[0]!, feature))).not.toBe(value);
        for (const i of [...d.evidence, ...d.distractors]) {
          expect(i).toBeGreaterThanOrEqual(0);
          expect(i).toBeLessThan(d.target); // the evidence precedes the dependent word
        }
        for (const i of d.evidence) expect(features(ex.words[i]!, feature).has(value)).toBe(true);
        for (const i of d.distractors) {
          expect(features(ex.words[i]!, feature).has(value)).toBe(false);
          expect(d.evidence).not.toContain(i);
        }
        // the competitors are every competing slot; the distractors those of the other gender/number
        expect(d.competitors!.filter((i) => !features(ex.words[i]!, feature).has(value))).toEqual(d.distractors);
        for (const i of d.competitors!) expect(i).toBeLessThan(d.target);
        if (d.distractors.length) withDistractors++;
        // swapping the dependent word for its alternative makes the sentence ungrammatical
        const swapped = [...ex.words];
        swapped[d.target] = d.alternatives[0]!;
        const r = checkSentence(swapped.join(" "));
        expect(r.grammatical).toBe(false);
        expect(r.reason).toMatch(/does not agree/);
      }
    }
    expect([...kinds].sort()).toEqual(["possessive_gender", "pronoun_gender", "subject_verb_number"]);
    expect(withDistractors).toBeGreaterThan(corpus.length / 3);
  });

  it("the pronoun follows the subject, not the closest name", () => {
    const ex = corpus.find((e) => e.template === "pronoun_distractor")!;
    const d = ex.dependencies[0]!;
    expect(d.evidence).toEqual([0]);
    expect(d.distractors).toEqual([2]);
    expect(checkSentence("mary told john that she was tired .")).toEqual({ grammatical: true, template: "pronoun_distractor" });
    expect(checkSentence("mary told john that he was tired .").grammatical).toBe(false);
    expect(checkSentence("mary told sarah that she was tired .").grammatical).toBe(true); // a name of either gender in between
    expect(checkSentence("mary told mary that she was tired .").grammatical).toBe(false); // but another name
    expect(analyzeSentence("mary told sarah that she was tired .")!.dependencies).toEqual([
      { kind: "pronoun_gender", target: 4, evidence: [0], distractors: [], competitors: [2], expected: "she", alternatives: ["he"] },
    ]);
  });

  it("the name in between has either gender, independently of the subject's (no shortcut through it)", () => {
    const big = generateCorpus(20000, 4321);
    for (const template of ["pronoun_occupation_distractor", "pronoun_distractor", "pronoun_relative_distractor", "possessive_distractor"]) {
      const deps = big.filter((e) => e.template === template).map((e) => e.dependencies[0]!);
      expect(deps.every((d) => d.competitors!.length === 1)).toBe(true);
      const same = deps.filter((d) => d.distractors.length === 0).length / deps.length;
      expect(same, template).toBeGreaterThan(0.4);
      expect(same, template).toBeLessThan(0.6);
      for (const pron of ["she", "he", "her", "his"]) {
        const withPron = deps.filter((d) => d.expected === pron);
        if (withPron.length === 0) continue;
        const sameGender = withPron.filter((d) => d.distractors.length === 0).length / withPron.length;
        expect(sameGender, `${template} ${pron}`).toBeGreaterThan(0.4);
        expect(sameGender, `${template} ${pron}`).toBeLessThan(0.6);
      }
    }
    // the attractor's number is independent of the head's
    for (const template of ["agreement_pp", "agreement_subject_relative"]) {
      const deps = big.filter((e) => e.template === template).map((e) => e.dependencies[0]!);
      const same = deps.filter((d) => d.distractors.length === 0).length / deps.length;
      expect(same, template).toBeGreaterThan(0.4);
      expect(same, template).toBeLessThan(0.6);
    }
  });

  it("occupation pronouns take their gender from the appositive noun", () => {
    expect(checkSentence("the nurse , a man from the city , said that he was tired .").grammatical).toBe(true);
    expect(checkSentence("the nurse , a man from the city , said that she was tired .").grammatical).toBe(false);
    expect(checkSentence("the doctor , a mother , told john that she was late .").grammatical).toBe(true);
    const ex = analyzeSentence("the doctor , a mother , told john that she was late .")!;
    expect(ex.dependencies).toEqual([
      { kind: "pronoun_gender", target: 9, evidence: [4], distractors: [7], competitors: [7], expected: "she", alternatives: ["he"] },
    ]);
    // the appositive with or without a place phrase, in every occupation template; a name of either gender
    expect(checkSentence("the doctor , a man , told john that he was sad .")).toEqual({ grammatical: true, template: "pronoun_occupation_distractor" });
    expect(checkSentence("the doctor , a man from the bank , told mary that he was sad .")).toEqual({ grammatical: true, template: "pronoun_occupation_distractor" });
    expect(checkSentence("the doctor , a woman , said that she was sad .")).toEqual({ grammatical: true, template: "pronoun_occupation" });
    expect(checkSentence("the doctor , a woman , said that he was sad .").grammatical).toBe(false);
    expect(checkSentence("the nurse , a gentleman , lost his key .")).toEqual({ grammatical: true, template: "possessive_occupation" });
    expect(checkSentence("the nurse , a gentleman from the farm , lost his key .")).toEqual({ grammatical: true, template: "possessive_occupation" });
    const kinds = new Set(corpus.filter((e) => e.template.includes("occupation")).map((e) => `${e.template} ${e.words.includes("from")}`));
    expect([...kinds].sort()).toEqual([
      "possessive_occupation false", "possessive_occupation true", "pronoun_occupation false", "pronoun_occupation true",
      "pronoun_occupation_distractor false", "pronoun_occupation_distractor true",
    ]);
  });

  it("every prompt of the README and docs is the beginning of a template's sentence", () => {
    const prompts = [
      "the doctor , a woman from the hospital , said that", "the nurse , a man from the village , said that", "the nurse , a man ,",
      "the keys to the old cabinet", "mary lost her key", "mary went to the market because", "mary went to",
      "the doctor , a woman , said that", "the doctor , a man , told john that",
    ];
    const big = generateCorpus(20000, 99);
    for (const prompt of prompts) {
      const words = prompt.split(" ");
      // some generated sentence has the prompt's structure: each word of the prompt, or one of its category, in place
      const fits = big.some((e) => e.words.length > words.length && words.every((w, i) => w === e.words[i] || sameCategory(w, e.words[i]!)));
      expect(fits, prompt).toBe(true);
    }
  });
});

describe("gate set and counterparts (tools/default-model/gates.ts)", () => {
  it("swaps a controller for its counterpart of the other gender or number, deterministically", () => {
    expect(["woman", "man", "mother", "father", "lady", "gentleman"].map((w) => counterpart(w, "gender"))).toEqual(["man", "woman", "father", "mother", "gentleman", "lady"]);
    expect(["key", "keys", "man", "women", "child", "cashier", "doctors"].map((w) => counterpart(w, "number"))).toEqual(["keys", "key", "men", "woman", "children", "cashiers", "doctor"]);
    expect(counterpart("mary", "gender")).toBe("john");
    expect(counterpart("john", "gender")).toBe("mary");
    expect(counterpart("mary", "gender", new Set(["john", "david"]))).toBe("peter"); // not a name already in the sentence
    for (const name of categoryEntries("name")) {
      const other = counterpart(name.word, "gender");
      expect(lookupWord(other)[0]!.gender).not.toBe(name.gender);
      expect(counterpart(other, "gender")).toBe(name.word);
    }
    expect(() => counterpart("the", "gender")).toThrow(/Expected a word of the grammar with a gender for word/);
  });

  it("the gate set comes from its own seed and holds no training sentence", () => {
    const seed = 5;
    expect(new Set([seed, evalSeed(seed), gateSeed(seed)]).size).toBe(3);
    const train = generateCorpus(3000, seed);
    const texts = new Set(train.map((e) => e.text));
    const gates = gateSet(texts, 500, seed);
    expect(gates).toHaveLength(500);
    expect(gates.some((e) => texts.has(e.text))).toBe(false);
    expect(new Set(gates.map((e) => e.text)).size).toBe(500);
    expect(gateSet(texts, 500, seed)).toEqual(gates);
  });

  it("gateFailures names what misses a threshold; markVerified copies the examples with the marks", () => {
    const r = (hits: number, total: number) => ({ hits, total, rate: hits / total });
    expect(gateFailures({
      agreement: { pronoun_gender: r(99, 100), possessive_gender: r(98, 100) },
      evidenceFlips: { pronoun_name: r(95, 100), pronoun_distractor: r(94, 100) },
      distractorFlips: { pronoun_distractor: r(6, 100), agreement_pp: r(5, 100) },
    })).toEqual([
      "agreement possessive_gender 0.980 (98/100) < 0.99",
      "evidence flips pronoun_distractor 0.940 (94/100) < 0.95",
      "distractor flips pronoun_distractor 0.060 (6/100) > 0.05",
    ]);
    const examples = corpus.slice(0, 2);
    const marked = markVerified(examples, { checks: [{ example: 1, dependency: 0, verified: true } as never] });
    expect(marked[0]!.dependencies.every((d) => d.verified === false)).toBe(true);
    expect(marked[1]!.dependencies[0]!.verified).toBe(true);
    expect(examples[1]!.dependencies[0]!.verified).toBeUndefined();
  });
});

describe("checkSentence rejections", () => {
  it("rejects agreement errors", () => {
    expect(checkSentence("mary went to the market because she was hungry .").grammatical).toBe(true);
    expect(checkSentence("mary went to the market because he was hungry .")).toMatchObject({
      grammatical: false,
      template: "pronoun_name",
    });
    expect(checkSentence("the keys to the old cabinet are in the kitchen .").grammatical).toBe(true);
    expect(checkSentence("the keys to the old cabinet is in the kitchen .").grammatical).toBe(false);
    expect(checkSentence("the key to the old cabinets were red .").grammatical).toBe(false);
    expect(checkSentence("the dogs that the boy sees run .").grammatical).toBe(true);
    expect(checkSentence("the dogs that the boy see run .").grammatical).toBe(false);
    expect(checkSentence("the dogs that the boy sees runs .").grammatical).toBe(false);
    expect(checkSentence("the boy that saw the dogs sleeps in the park .").grammatical).toBe(true);
    expect(checkSentence("the boy that saw the dogs sleep in the park .").grammatical).toBe(false);
    expect(checkSentence("john lost his key in the park .").grammatical).toBe(true);
    expect(checkSentence("john lost her key in the park .").grammatical).toBe(false);
    expect(checkSentence("mary gave john her book .").grammatical).toBe(true);
    expect(checkSentence("mary gave john his book .").grammatical).toBe(false);
  });

  it("rejects unknown words, bad spacing, bad structure", () => {
    expect(checkSentence("mary went to the market because she was zorgly .")).toEqual({
      grammatical: false,
      reason: 'unknown word "zorgly"',
    });
    expect(checkSentence("Mary went to the market because she was hungry .").grammatical).toBe(false);
    expect(checkSentence("mary went to the market because she was hungry.").grammatical).toBe(false);
    expect(checkSentence("mary went to the  market because she was hungry .").grammatical).toBe(false);
    expect(checkSentence("mary went to the market because she was hungry").grammatical).toBe(false);
    expect(checkSentence("went mary to the market because she was hungry .")).toEqual({
      grammatical: false,
      reason: "does not match any template",
    });
    expect(checkSentence("").grammatical).toBe(false);
    expect(checkSentence("the key near the old keys is red .").grammatical).toBe(false); // repeated noun
    // surrounding whitespace is ignored
    expect(checkSentence("  mary went to the market because she was hungry .\n").grammatical).toBe(true);
  });
});

describe("tokenizer files", () => {
  const vocab = vocabulary();
  const files = buildTokenizerFiles(vocab);
  const tok = Tokenizer.fromString(JSON.stringify(files.tokenizerJson));

  it("has the special tokens first and every word", () => {
    expect(tok.tokenToId("<unk>")).toBe(0);
    expect(tok.tokenToId("<s>")).toBe(1);
    expect(tok.tokenToId("</s>")).toBe(2);
    expect(tok.tokenToId("<pad>")).toBe(3);
    expect(tok.getVocabSize(true)).toBe(vocab.length + 4);
    vocab.forEach((w, i) => expect(tok.tokenToId(w)).toBe(i + 4));
    expect(files.tokenizerConfig).toMatchObject({
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: "<s>",
      eos_token: "</s>",
      unk_token: "<unk>",
      pad_token: "<pad>",
      add_bos_token: true,
    });
    expect(files.specialTokensMap).toEqual({ bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", pad_token: "<pad>" });
  });

  it("round-trips 2000 generated sentences exactly", async () => {
    const sentences: GrammarExample[] = generateCorpus(2000, 77);
    for (const ex of sentences) {
      const enc = await tok.encode(ex.text);
      const ids = enc.getIds();
      expect(ids[0]).toBe(1);
      expect(ids.length).toBe(ex.words.length + 1);
      expect(ids).not.toContain(0);
      expect(enc.getTokens().slice(1)).toEqual(ex.words);
      expect(enc.getWordIds()).toEqual([null, ...ex.words.map((_, i) => i)]);
      expect(await tok.decode(ids, true)).toBe(ex.text);
      expect(await tok.decode(ids, false)).toBe(`<s> ${ex.text}`);
    }
  });

  it("maps unknown words to <unk> and lowercases", async () => {
    const enc = await tok.encode("Mary zorgly .");
    expect(enc.getIds()).toEqual([1, tok.tokenToId("mary"), 0, tok.tokenToId(".")]);
  });

  it("rejects bad vocabularies", () => {
    expect(() => buildTokenizerFiles([])).toThrow(/for vocab/);
    expect(() => buildTokenizerFiles(["a", "a"])).toThrow(/unique words/);
    expect(() => buildTokenizerFiles(["a b"])).toThrow(/without whitespace/);
    expect(() => buildTokenizerFiles(["<s>"])).toThrow(/special tokens/);
    expect(() => buildTokenizerFiles(["Mary"])).toThrow(/lowercase/);
  });

  it("writeCorpusFiles writes corpus, ground truth, README and loadable tokenizer files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "inseq-corpus-"));
    try {
      const out = writeCorpusFiles(join(dir, "corpus"), { trainSize: 300, evalSize: 50, seed: 5 });
      expect(out.train).toBe(join(dir, "corpus", "train.txt"));
      expect(out.eval).toBe(join(dir, "corpus", "eval.jsonl"));
      const lines = readFileSync(out.train, "utf8").split("\n");
      expect(lines.pop()).toBe("");
      expect(lines).toEqual(generateCorpus(300, 5).map((e) => e.text));
      const evalLines = readFileSync(out.eval, "utf8").trim().split("\n");
      expect(evalLines.length).toBe(50);
      const trainSet = new Set(lines);
      for (const line of evalLines) {
        const ex = JSON.parse(line) as GrammarExample;
        expect(trainSet.has(ex.text)).toBe(false);
        expect(analyzeSentence(ex.text)).toEqual(ex);
      }
      const readme = readFileSync(join(dir, "corpus", "README.md"), "utf8");
      for (const name of templateNames()) expect(readme).toContain(`### ${name}`);
      for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
        expect(existsSync(join(dir, "corpus", f))).toBe(true);
      }
      const t = Tokenizer.fromFile(join(dir, "corpus", "tokenizer.json"));
      const enc = await t.encode(lines[0]!);
      expect(await t.decode(enc.getIds(), true)).toBe(lines[0]);
      // same options, same files
      const again = writeCorpusFiles(join(dir, "again"), { trainSize: 300, evalSize: 50, seed: 5 });
      expect(readFileSync(again.train, "utf8")).toBe(readFileSync(out.train, "utf8"));
      expect(readFileSync(again.eval, "utf8")).toBe(readFileSync(out.eval, "utf8"));
      expect(() => writeCorpusFiles(dir, { trainSize: 0, evalSize: 1, seed: 1 })).toThrow(/for trainSize/);
      expect(() => writeCorpusFiles(dir, { trainSize: 1, evalSize: -1, seed: 1 })).toThrow(/for evalSize/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
