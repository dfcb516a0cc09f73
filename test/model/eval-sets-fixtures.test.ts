// The evaluation sets on real data: WinoMT's English side (../shared/fixtures/winomt) and the bundled default
// model's held-out grammar set (models/default/grammar/eval.jsonl). No model is loaded.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { loadEvalSet, lookupWord } from "../../lib/default-model/index.js";
import { grammarSet, openEvalSet, winomtSet } from "../../lib/evaluation/sets/index.js";
import { inputWords } from "../../lib/evaluation/sets/words.js";
import { sharedFixtures } from "../helpers.js";

const winomt = path.join(sharedFixtures, "winomt");
const normalize = (w: string) => w.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");

describe("winomtSet on WinoMT's en.txt / en_pro.txt / en_anti.txt", () => {
  const lines = readFileSync(path.join(winomt, "en.txt"), "utf8").split("\n");

  it("item counts per kind and subset; neutral lines and the 2 lines whose pronoun precedes the entity are skipped", () => {
    const count = (set: { items: Array<{ kind: string }> }) => ({
      female: set.items.filter((i) => i.kind === "winomt_female").length,
      male: set.items.filter((i) => i.kind === "winomt_male").length,
    });
    const all = winomtSet(winomt);
    expect(count(all)).toEqual({ female: 1821, male: 1825 });
    expect(all.description).toContain("skipped 242 lines (240 neutral, 2 pronoun before the entity)");
    expect(count(winomtSet(winomt, { subset: "pro" }))).toEqual({ female: 792, male: 791 });
    expect(count(winomtSet(winomt, { subset: "anti" }))).toEqual({ female: 789, male: 794 });
    expect(all.items.filter((i) => i.template === "pro")).toHaveLength(1583);
    expect(all.items.filter((i) => i.template === "anti")).toHaveLength(1583);
    expect(all.items.filter((i) => i.template === undefined)).toHaveLength(480);  // the Winogender lines
    expect(new Set(all.items.map((i) => i.id)).size).toBe(all.items.length);
  });

  it("every evidence word is the entity column; evidence and distractors lie before the pronoun; the target is a gendered pronoun", async () => {
    const set = await openEvalSet(`winomt:${winomt}`);
    for (const item of set.items) {
      const line = Number(item.id.split(":")[1]);
      const [gender, , sentence, entity] = lines[line - 1]!.split("\t") as [string, string, string, string];
      const words = inputWords(item.input);
      expect(inputWords(sentence).slice(0, words.length), item.id).toEqual(words);  // (line 2552 has a double space)
      expect(item.evidence.map((i) => normalize(words[i]!)).join(" "), item.id).toBe(entity.toLowerCase());
      expect(item.kind).toBe(`winomt_${gender}`);
      expect([...item.evidence, ...item.distractors].every((i) => i < words.length)).toBe(true);
      expect(item.distractors.some((i) => item.evidence.includes(i))).toBe(false);
      expect(["he", "she", "him", "her", "his", "hers", "himself", "herself"]).toContain(item.target.toLowerCase());
      expect(item.counterfactuals).toBeUndefined();
    }
    // WinoBias sentences name two occupations: nearly every item has the other one as a distractor
    expect(set.items.filter((i) => i.template !== undefined && i.distractors.length > 0).length).toBeGreaterThan(3000);
  });
});

describe("grammarSet on the bundled default model's held-out set", () => {
  const examples = loadEvalSet();
  const set = grammarSet();

  it("one item per dependency, ids grammar:<example>:<dependency>, evidence and distractors inside the input", () => {
    expect(set.items).toHaveLength(examples.reduce((n, e) => n + e.dependencies.length, 0));
    expect(set.items[0]!.id).toBe("grammar:0:0");
    for (const item of set.items) {
      const [, e, d] = item.id.split(":").map(Number) as [number, number, number];
      const dep = examples[e]!.dependencies[d]!;
      const words = inputWords(item.input);
      expect(words).toEqual(examples[e]!.words.slice(0, dep.target));
      expect(item.target).toBe(dep.expected);
      expect(item.evidence.length).toBeGreaterThan(0);
      for (const i of [...item.evidence, ...item.distractors]) expect(i, item.id).toBeLessThan(words.length);
    }
  });

  it("each counterfactual is a word of the same class; each evidence word has one, of the other gender / number", () => {
    for (const item of set.items) {
      const words = inputWords(item.input);
      for (const [key, replacement] of Object.entries(item.counterfactuals ?? {})) {
        const original = new Set(lookupWord(words[Number(key)]!).map((e) => e.category));
        expect(replacement, `${item.id} word ${key}`).not.toBe(words[Number(key)]);
        expect(lookupWord(replacement).some((e) => original.has(e.category)), `${item.id}: ${words[Number(key)]} -> ${replacement}`).toBe(true);
      }
      const feature = item.kind === "subject_verb_number" ? "number" : "gender";
      for (const i of item.evidence) {
        const replacement = item.counterfactuals?.[String(i)];
        expect(replacement, `${item.id} evidence ${i}`).toBeDefined();
        const before = new Set(lookupWord(words[i]!).map((e) => e[feature]).filter(Boolean));
        const after = lookupWord(replacement!).map((e) => e[feature]).filter(Boolean);
        expect(after.some((v) => !before.has(v)), `${item.id}: ${words[i]} -> ${replacement}`).toBe(true);
      }
    }
  });
});
