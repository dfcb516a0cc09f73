// reagent's part-of-speech table (lib/attribution/pos-groups.ts) against what Python Inseq builds: NLTK's averaged
// perceptron tag of each decoded vocabulary item alone (test/fixtures/reagent/nltk-tags-*.json.gz, written by
// scripts/reference/make_inseq_reagent_reference.py). Measured agreement (docs/attribution.md "reagent"): see
// AGREEMENT below; the test fails if our tagger drifts below it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

import { loadPosTagger, posGroupsOf, tagWord } from "../../lib/attribution/pos-groups.js";
import { TextTokenizer } from "../../lib/tokenizers/tokenizer.js";
import { repoRoot, sharedFixtures, stories260K } from "../helpers.js";

/** Share of the vocabulary (special tokens left out) whose tag equals NLTK's, as measured. */
const AGREEMENT = { gpt2: 0.868, stories260K: 0.92 };  // measured: 86.89% (50256 items), 92.53% (509 items)

function nltkTags(name: string): string[] {
  const file = path.join(repoRoot, "test/fixtures/reagent", `nltk-tags-${name}.json.gz`);
  return (JSON.parse(gunzipSync(readFileSync(file)).toString("utf8")) as { tags: string[] }).tags;
}

describe("reagent POS groups", () => {
  for (const [name, dir] of [["gpt2", path.join(sharedFixtures, "hf-gpt2-tokenizer")], ["stories260K", stories260K]] as const) {
    it(`${name}: one group per Penn tag, specials in none, agreement with NLTK's tags >= ${AGREEMENT[name]}`, async () => {
      const tok = await TextTokenizer.fromDir(dir);
      const t0 = performance.now();
      const table = await posGroupsOf(tok, tok.vocabSize);
      const ms = performance.now() - t0;
      expect(await posGroupsOf(tok, tok.vocabSize)).toBe(table);  // cached per tokenizer
      for (const id of tok.specialTokenIds) expect(table.groups[id]).toBe(-1);
      const nltk = nltkTags(name);
      expect(nltk.length).toBe(tok.vocabSize);
      let same = 0, counted = 0;
      const confusion = new Map<string, number>();
      nltk.forEach((tag, id) => {
        if (tok.specialTokenIds.has(id)) return;
        counted++;
        if (table.tags[id] === tag) same++;
        else confusion.set(`${tag}->${table.tags[id]}`, (confusion.get(`${tag}->${table.tags[id]}`) ?? 0) + 1);
      });
      const agreement = same / counted;
      const top = [...confusion].sort((a, b) => b[1] - a[1]).slice(0, 8);
      console.log(`${name}: agreement ${(agreement * 100).toFixed(2)}% of ${counted} items, ${table.names.length} groups, built in ${ms.toFixed(0)} ms; top differences (NLTK->ours) ${JSON.stringify(top)}`);
      expect(agreement).toBeGreaterThanOrEqual(AGREEMENT[name]);
      // every group name is a Penn tag NLTK also uses somewhere in this vocabulary, or a Penn punctuation tag
      for (const g of table.names) expect(/^[A-Z$]+$|^[.,:()'`#$]+$/.test(g)).toBe(true);
    });
  }

  it("tags words in isolation as NLTK tends to", async () => {
    await loadPosTagger();
    expect(["the", "running", "quickly", "123", ",", ".", "ing"].map(tagWord)).toEqual(["DT", "VBG", "RB", "CD", ",", ".", "NN"]);
  });
});
