// The evaluation sets of evaluate(): the items each loader builds from tiny synthetic data (grammar examples, a
// WinoMT TSV, transliteration pairs, JSONL), exactly, and the errors for bad data naming the line and the field.
// No fixture and no model: the fixture sets are checked in test/model/eval-sets-fixtures.test.ts.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import type { GrammarExample } from "../../lib/default-model/grammar.js";
import {
  grammarSet, jsonlSet, openEvalSet, transliterationPairs, transliterationSet, winomtSet,
} from "../../lib/evaluation/sets/index.js";
import type { Seq2SeqModel } from "../../lib/models/seq2seq-model.js";
import { tempDir } from "../helpers.js";

const tmp = tempDir("eval-sets");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes `lines` (joined with "\n") to `name` under a fresh directory of tmp; returns the file. */
let dirs = 0;
function write(name: string, lines: readonly string[], dir = path.join(tmp, `d${dirs++}`)): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), `${lines.join("\n")}\n`);
  return path.join(dir, name);
}

/** The error `fn` throws. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected an error");
}

const example = (words: string, template: string | undefined, dependencies: GrammarExample["dependencies"]): GrammarExample =>
  ({ text: words, words: words.split(" "), ...(template ? { template } : {}), dependencies }) as GrammarExample;

const PRONOUN_DISTRACTOR = example("mary told john that she was happy .", "pronoun_distractor", [
  { kind: "pronoun_gender", target: 4, evidence: [0], distractors: [2], expected: "she", alternatives: ["he"], verified: true } as never,
]);
const AGREEMENT_PP = example("the key near the old boxes is red .", "agreement_pp", [
  { kind: "subject_verb_number", target: 6, evidence: [1], distractors: [5], expected: "is", alternatives: ["are"] },
]);
const PRONOUN_NAME = example("anna went to the park because she was sad .", "pronoun_name", [
  { kind: "pronoun_gender", target: 6, evidence: [0], distractors: [], expected: "she", alternatives: ["he"] },
]);

describe("grammarSet", () => {
  it("one item per dependency: the words before the target, evidence, distractors, template, verified, counterfactuals", () => {
    const set = grammarSet([PRONOUN_DISTRACTOR, AGREEMENT_PP]);
    expect(set.name).toBe("grammar");
    expect(set.items).toEqual([
      {
        id: "grammar:0:0", kind: "pronoun_gender", template: "pronoun_distractor", input: "mary told john that", target: "she",
        alternatives: ["he"], evidence: [0], distractors: [2], verified: true,
        // mary -> the first male name, john, is in the sentence: the next one; john -> mary is too: anna;
        // told -> the next verb of telling; "that" is a literal of the template: no entry
        counterfactuals: { 0: "david", 1: "warned", 2: "anna" },
      },
      {
        id: "grammar:1:0", kind: "subject_verb_number", template: "agreement_pp", input: "the key near the old boxes", target: "is",
        alternatives: ["are"], evidence: [1], distractors: [5],
        // the number carriers get their other number (key -> keys, boxes -> box), the rest the next word of the category
        counterfactuals: { 1: "keys", 2: "on", 4: "new", 5: "box" },
      },
    ]);
  });

  it("a literal of the template gets no counterfactual even when the lexicon has the word; without a template every category counts", () => {
    const [withTemplate] = grammarSet([PRONOUN_NAME]).items;
    expect(withTemplate!.counterfactuals).toEqual({ 0: "david", 1: "walked", 4: "city" });  // anna (2nd female) -> david (2nd male)
    const [without] = grammarSet([{ ...PRONOUN_NAME, template: undefined } as unknown as GrammarExample]).items;
    expect(without!.template).toBeUndefined();
    expect(without!.counterfactuals).toEqual({ 0: "david", 1: "walked", 2: "near", 4: "city" });  // "to" as a preposition
  });

  it("two dependencies of one example; distractors after the target are left out", () => {
    const ex = example("the dogs that the cat chases run .", "agreement_object_relative", [
      { kind: "subject_verb_number", target: 5, evidence: [4], distractors: [1], expected: "chases", alternatives: ["chase"] },
      { kind: "subject_verb_number", target: 6, evidence: [1], distractors: [4, 7], expected: "run", alternatives: ["runs"] },
    ]);
    const set = grammarSet([ex]);
    expect(set.items.map((i) => [i.id, i.input, i.target, i.evidence, i.distractors])).toEqual([
      ["grammar:0:0", "the dogs that the cat", "chases", [4], [1]],
      ["grammar:0:1", "the dogs that the cat chases", "run", [1], [4]],
    ]);
    expect(set.items[1]!.counterfactuals).toEqual({ 1: "dog", 4: "cats", 5: "chase" });
  });

  it("the same input gives the same items (deterministic)", () => {
    expect(grammarSet([PRONOUN_DISTRACTOR, AGREEMENT_PP])).toEqual(grammarSet([PRONOUN_DISTRACTOR, AGREEMENT_PP]));
  });

  it("ERR_BAD_DATASET naming the example and the field for evidence after the target, a bad index, a wrong expected word", () => {
    const dep = PRONOUN_NAME.dependencies[0]!;
    const bad = (d: object) => thrown(() => grammarSet([{ ...PRONOUN_NAME, dependencies: [{ ...dep, ...d }] }]));
    expect(bad({ evidence: [7] })).toMatchObject({ code: "ERR_BAD_DATASET", message: "grammar example 0: dependencies[0].evidence[0] = 7 is not before the target word 6" });
    expect(bad({ evidence: [] }).message).toBe("grammar example 0: dependencies[0].evidence must not be empty");
    expect(bad({ distractors: [12] }).message).toMatch(/^grammar example 0: dependencies\[0\]\.distractors\[0\] must be a word index below 10/);
    expect(bad({ expected: "he" }).message).toMatch(/^grammar example 0: dependencies\[0\]\.expected is "he" but the word at the target is "she"/);
    expect(thrown(() => grammarSet(42 as never)).code).toBe("ERR_INVALID_OPTION");
  });

  it("{ modelDir } reads <modelDir>/grammar/eval.jsonl; a directory without one is ERR_NOT_FOUND", () => {
    const dir = path.join(tmp, "model");
    write("eval.jsonl", [JSON.stringify(AGREEMENT_PP)], path.join(dir, "grammar"));
    expect(grammarSet({ modelDir: dir }).items).toEqual(grammarSet([AGREEMENT_PP]).items);
    expect(thrown(() => grammarSet({ modelDir: tmp })).code).toBe("ERR_NOT_FOUND");
  });
});

describe("winomtSet", () => {
  const lines = [
    "female\t1\tThe nurse helped the doctor because she was kind.\tnurse",
    "male\t4\tThe nurse helped the doctor because he was tired.\tdoctor",
    "neutral\t1\tThe nurse helped the doctor because they were late.\tnurse",
    "male\t3\tHe thanked the doctor for his help.\tdoctor",
    "female\t1\tThe construction worker told the nurse that she was early.\tconstruction worker",
    "female\t4\tThe doctor asked the nurse about Her shift.\tnurse",
    "male\t1\tThe doctor left because it was late.\tdoctor",
    "female\t1\tThe doctor said he was late.\tdoctor",
    "male\t1\tThe doctor asked the nurse to call him.\tdoctor",
    "",
  ];
  const file = write("en.txt", lines);
  const dir = path.dirname(file);
  write("en_anti.txt", [lines[0]!], dir);
  write("en_pro.txt", [lines[1]!], dir);
  const all = [
    {
      id: "winomt:1", kind: "winomt_female", template: "anti", input: "The nurse helped the doctor because", target: "she",
      alternatives: ["he"], evidence: [1], distractors: [4],
    },
    {
      id: "winomt:2", kind: "winomt_male", template: "pro", input: "The nurse helped the doctor because", target: "he",
      alternatives: ["she"], evidence: [4], distractors: [1],
    },
    {
      id: "winomt:5", kind: "winomt_female", input: "The construction worker told the nurse that", target: "she",
      alternatives: ["he"], evidence: [1, 2], distractors: [5],
    },
    {
      id: "winomt:6", kind: "winomt_female", input: "The doctor asked the nurse about", target: "Her",
      alternatives: ["His", "Him"], evidence: [4], distractors: [1],
    },
    {
      id: "winomt:9", kind: "winomt_male", input: "The doctor asked the nurse to call", target: "him",
      alternatives: ["her"], evidence: [1], distractors: [4],
    },
  ];

  it("one item per line with a gendered pronoun after the entity; skipped lines counted in the description", () => {
    const set = winomtSet(dir);
    expect(set.name).toBe("winomt");
    expect(set.items).toEqual(all);
    expect(set.description).toContain("5 items (3 female, 2 male)");
    expect(set.description).toContain(
      "skipped 4 lines (1 neutral, 1 no gendered pronoun, 1 pronoun before the entity, 1 pronoun of the other gender)",
    );
    expect(winomtSet(file)).toEqual(set);  // the file itself, with its en_pro / en_anti siblings
  });

  it("subset keeps the pro- or anti-stereotypical lines; a missing subset file is ERR_NOT_FOUND", () => {
    expect(winomtSet(dir, { subset: "pro" })).toMatchObject({ name: "winomt-pro", items: [all[1]] });
    expect(winomtSet(dir, { subset: "anti" })).toMatchObject({ name: "winomt-anti", items: [all[0]] });
    const alone = write("en.txt", lines.slice(0, 2));
    expect(winomtSet(alone).items.map((i) => i.template)).toEqual([undefined, undefined]);
    expect(thrown(() => winomtSet(alone, { subset: "pro" }))).toMatchObject({ code: "ERR_NOT_FOUND", message: expect.stringContaining("en_pro.txt") });
    expect(thrown(() => winomtSet(path.join(tmp, "nowhere"))).code).toBe("ERR_NOT_FOUND");
    expect(thrown(() => winomtSet(tmp)).message).toMatch(/No en\.txt in/);
    expect(thrown(() => winomtSet(dir, { subset: "both" as never })).code).toBe("ERR_INVALID_OPTION");
  });

  it("bad lines are ERR_BAD_DATASET naming the file, the line and the column", () => {
    const bad = (line: string) => {
      const f = write("en.txt", [lines[0]!, line]);
      const err = thrown(() => winomtSet(f));
      expect(err.code).toBe("ERR_BAD_DATASET");
      expect(err.message).toContain(`line 2 of ${f}: `);
      return err.message.slice(`line 2 of ${f}: `.length);
    };
    expect(bad("female\t1\tThe nurse left.")).toMatch(/^the line has 3 tab-separated columns/);
    expect(bad("woman\t1\tThe nurse left.\tnurse")).toMatch(/^column 1 \(gender\) must be female, male or neutral, not "woman"/);
    expect(bad("female\tone\tThe nurse left.\tnurse")).toMatch(/^column 2 \(entity index\) must be a word index below the sentence's 3 words, not "one"/);
    expect(bad("female\t3\tThe nurse left.\tnurse")).toMatch(/^column 2 \(entity index\) must be a word index below/);
    expect(bad("female\t0\tThe nurse left.\tnurse")).toBe('column 2 (entity index) = 0 points at "The", not the entity "nurse"');
  });
});

describe("transliterationSet", () => {
  it("one item per target letter aligned 1:1 with a source letter, with the letters before it as the target prefix", () => {
    const set = transliterationSet([
      { source: "م ح م د", target: "m o h a m e d" },
      { source: "آ ت ش ي س و ن", target: "a c h i s o n" },  // ش -> "c h": two letters, no item; ت -> nothing
      { source: "ب د ر", target: "" },
    ]);
    expect(set.name).toBe("transliteration");
    const item = (id: string, input: string, targetPrefix: string, target: string, evidence: number) =>
      ({ id, kind: "letter_alignment", input, targetPrefix, target, alternatives: [], evidence: [evidence], distractors: [] });
    expect(set.items).toEqual([
      item("transliteration:0:0", "م ح م د", "", "m", 0),
      item("transliteration:0:2", "م ح م د", "m o", "h", 1),
      item("transliteration:0:4", "م ح م د", "m o h a", "m", 2),
      item("transliteration:0:6", "م ح م د", "m o h a m e", "d", 3),
      item("transliteration:1:0", "آ ت ش ي س و ن", "", "a", 0),
      item("transliteration:1:3", "آ ت ش ي س و ن", "a c h", "i", 3),
      item("transliteration:1:4", "آ ت ش ي س و ن", "a c h i", "s", 4),
      item("transliteration:1:5", "آ ت ش ي س و ن", "a c h i s", "o", 5),
      item("transliteration:1:6", "آ ت ش ي س و ن", "a c h i s o", "n", 6),
    ]);
    expect(thrown(() => transliterationSet([{ source: "", target: "a" }])).code).toBe("ERR_INVALID_OPTION");
    expect(thrown(() => transliterationSet([{ source: "ب" } as never])).code).toBe("ERR_INVALID_OPTION");
  });

  it("transliterationPairs generates greedily for the sources (a stand-in model)", async () => {
    const calls: unknown[] = [];
    const model = {
      kind: "encoder-decoder",
      generate: async (texts: string[], options: unknown) => {
        calls.push([texts, options]);
        return texts.map((t) => (t === "م ح م د" ? "m o h a m e d" : "b a d r "));
      },
    } as unknown as Seq2SeqModel;
    expect(await transliterationPairs(model, ["م ح م د", "ب د ر"])).toEqual([
      { source: "م ح م د", target: "m o h a m e d" },
      { source: "ب د ر", target: "b a d r" },
    ]);
    expect(calls).toEqual([[["م ح م د", "ب د ر"], { maxNewTokens: 20 }]]);
    const set = await openEvalSet("transliteration", { model });
    expect(set.items.length).toBeGreaterThan(0);
    expect(calls).toHaveLength(2);
    expect((calls[1] as [string[]])[0]).toHaveLength(50);  // ARABIC_NAMES
    await expect(transliterationPairs(model, [])).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe("jsonlSet", () => {
  const good = [
    JSON.stringify({
      id: "keys", kind: "number", template: "pp", input: "the keys on the table", target: "are", alternatives: ["is"],
      evidence: [1], distractors: [4], counterfactuals: { 1: "key", 4: "tables" }, verified: true,
    }),
    "",
    JSON.stringify({ input: "  la maison  ", targetPrefix: "the", target: "house", evidence: [1] }),
    JSON.stringify(AGREEMENT_PP),
  ];

  it("one item per line; id defaults to <file>:<line>, kind to item; a grammar example line is converted as grammarSet does", () => {
    const file = write("mine.jsonl", good);
    const set = jsonlSet(file);
    expect(set.name).toBe("mine.jsonl");
    expect(set.items).toEqual([
      {
        id: "keys", kind: "number", template: "pp", input: "the keys on the table", target: "are", alternatives: ["is"],
        evidence: [1], distractors: [4], counterfactuals: { 1: "key", 4: "tables" }, verified: true,
      },
      { id: "mine.jsonl:3", kind: "item", input: "  la maison  ", targetPrefix: "the", target: "house", alternatives: [], evidence: [1], distractors: [] },
      { ...grammarSet([AGREEMENT_PP]).items[0], id: "mine.jsonl:4:0" },
    ]);
  });

  it("each bad line is ERR_BAD_DATASET naming the line and the field", () => {
    const base = { input: "the keys on the table", target: "are", evidence: [1] };
    const bad = (value: unknown) => {
      const file = write("bad.jsonl", [JSON.stringify(base), typeof value === "string" ? value : JSON.stringify(value)]);
      const err = thrown(() => jsonlSet(file));
      expect(err.code).toBe("ERR_BAD_DATASET");
      expect(err.message.startsWith(`line 2 of ${file}: `), err.message).toBe(true);
      return err.message.slice(`line 2 of ${file}: `.length);
    };
    expect(bad("{not json")).toMatch(/^the line is not JSON/);
    expect(bad([1, 2])).toBe("the line is not a JSON object (an evaluation item)");
    expect(bad({ ...base, input: undefined })).toBe("input is missing (a string)");
    expect(bad({ ...base, input: "  " })).toBe("input must not be empty");
    expect(bad({ ...base, target: 3 })).toBe("target is missing (a string)");
    expect(bad({ ...base, evidence: undefined })).toBe("evidence is missing (an array of word indices of the input)");
    expect(bad({ ...base, evidence: [] })).toBe("evidence must not be empty (at least one word decides the target)");
    expect(bad({ ...base, evidence: 1 })).toBe("evidence must be an array of word indices");
    expect(bad({ ...base, evidence: [5] })).toBe("evidence[0] = 5 is not a word index of the input (its 5 words are 0 .. 4)");
    expect(bad({ ...base, evidence: [0, 1.5] })).toBe("evidence[1] = 1.5 is not a word index of the input (its 5 words are 0 .. 4)");
    expect(bad({ ...base, evidence: [1, 1] })).toBe("evidence[1] = 1 repeats an index");
    expect(bad({ ...base, distractors: [-1] })).toBe("distractors[0] = -1 is not a word index of the input (its 5 words are 0 .. 4)");
    expect(bad({ ...base, distractors: [4, 1] })).toBe("distractors[1] = 1 is also evidence");
    expect(bad({ ...base, alternatives: "is" })).toBe("alternatives must be an array of strings");
    expect(bad({ ...base, alternatives: ["is", 2] })).toBe("alternatives[1] must be a non-empty string, not 2");
    expect(bad({ ...base, counterfactuals: ["key"] })).toBe("counterfactuals must be an object { word index: replacement word }");
    expect(bad({ ...base, counterfactuals: { 5: "x" } })).toBe('counterfactuals["5"] is not a word index of the input (its 5 words are 0 .. 4)');
    expect(bad({ ...base, counterfactuals: { "01": "x" } })).toBe('counterfactuals["01"] is not a word index of the input (its 5 words are 0 .. 4)');
    expect(bad({ ...base, counterfactuals: { 1: "two words" } })).toBe('counterfactuals["1"] must be one word, not "two words"');
    expect(bad({ ...base, verified: "yes" })).toBe("verified must be a boolean");
    expect(bad({ ...base, kind: "" })).toBe("kind must not be empty");
    expect(bad({ ...base, evidnce: [1] })).toMatch(/^evidnce is not a field of an item \(fields: id, kind, /);
    expect(bad({ ...base, id: "bad.jsonl:1" })).toBe('id "bad.jsonl:1" repeats the id of line 1');
    expect(bad({ ...AGREEMENT_PP, dependencies: [{ ...AGREEMENT_PP.dependencies[0], target: 20 }] }))
      .toBe("dependencies[0].target must be a word index below 9, not 20");
  });

  it("a missing file is ERR_NOT_FOUND, a file without items ERR_BAD_DATASET", () => {
    expect(thrown(() => jsonlSet(path.join(tmp, "none.jsonl"))).code).toBe("ERR_NOT_FOUND");
    const empty = write("empty.jsonl", ["", "  "]);
    expect(thrown(() => jsonlSet(empty))).toMatchObject({ code: "ERR_BAD_DATASET", message: `${empty} holds no evaluation items` });
  });
});

describe("openEvalSet", () => {
  it("grammar:DIR, winomt[-pro|-anti]:PATH and .jsonl paths open the matching set", async () => {
    const modelDir = path.join(tmp, "open-model");
    write("eval.jsonl", [JSON.stringify(PRONOUN_NAME)], path.join(modelDir, "grammar"));
    expect(await openEvalSet(`grammar:${modelDir}`)).toEqual(grammarSet({ modelDir }));
    const wino = write("en.txt", ["female\t1\tThe nurse helped the doctor because she was kind.\tnurse"]);
    write("en_anti.txt", ["female\t1\tThe nurse helped the doctor because she was kind.\tnurse"], path.dirname(wino));
    expect(await openEvalSet(`winomt:${path.dirname(wino)}`)).toEqual(winomtSet(path.dirname(wino)));
    expect((await openEvalSet(`winomt-anti:${wino}`)).name).toBe("winomt-anti");
    await expect(openEvalSet(`winomt-pro:${wino}`)).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    const items = write("items.jsonl", [JSON.stringify({ input: "a b", target: "c", evidence: [0] })]);
    expect(await openEvalSet(items)).toEqual(jsonlSet(items));
    await expect(openEvalSet(path.join(tmp, "missing.jsonl"))).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
  });

  it("an unknown spec is ERR_INVALID_OPTION listing the forms; transliteration needs an encoder-decoder", async () => {
    for (const spec of ["wino", "items.json", "winomt:", ""]) {
      await expect(openEvalSet(spec)).rejects.toMatchObject({
        code: "ERR_INVALID_OPTION",
        message: expect.stringMatching(/grammar:DIR .*winomt:PATH, winomt-pro:PATH, winomt-anti:PATH .*transliteration .*FILE\.jsonl/),
      });
    }
    await expect(openEvalSet("transliteration")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("model") });
    const decoderOnly = { kind: "decoder-only" } as unknown as Seq2SeqModel;
    await expect(openEvalSet("transliteration", { model: decoderOnly })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION", message: expect.stringContaining("needs an encoder-decoder"),
    });
  });
});
