// attribute-context without a model: the JSON form (every golden written by Python Inseq, and a file written by us
// that Inseq's from_dict reads back, index.json "interop"), the stats against Inseq's, the CTI selection, the
// template helpers, the output-context split and the views.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { AttributeContextOutput } from "../../lib/context/output.js";
import { filterRankTokens, scoresThreshold, unbiasedStd } from "../../lib/context/cti.js";
import { concatWithSep, formatTemplate } from "../../lib/context/text.js";
import { splitOutputContext } from "../../lib/context/prepare-outputs.js";
import { cueSelection, displayTokens, formatContextScore, renderContextHtml, renderContextTerminal, tokenText } from "../../lib/context/views.js";
import { readJson, repoRoot, tempDir } from "../helpers.js";

const dir = path.join(repoRoot, "test/fixtures/inseq-golden-context");
const files = readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "index.json");
const interop = readJson<{ interop: Record<string, { roundtrip_equal: boolean; stats: Record<string, number> }> }>(path.join(dir, "index.json")).interop;
const tmp = tempDir("context-json");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("AttributeContextOutput JSON (Inseq's to_dict / from_dict)", () => {
  it("has goldens and one file of ours, all read back by Inseq", () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files).toContain("ours_gpt2_output_context.json");
    for (const f of files) expect(interop[f]?.roundtrip_equal, f).toBe(true);
  });

  for (const f of files) {
    it(`${f}: fromDict then toDict gives Inseq's dict back (keys in order); stats equal Inseq's`, async () => {
      const raw = JSON.parse(readFileSync(path.join(dir, f), "utf8"));
      const out = AttributeContextOutput.fromDict(raw);
      expect(JSON.stringify(out.toDict())).toBe(JSON.stringify(raw));
      const py = interop[f]!.stats;
      const ours: Record<string, number> = {
        min_cti: out.minCti, max_cti: out.maxCti, mean_cti: out.meanCti, std_cti: out.stdCti,
        min_cci: out.minCci, max_cci: out.maxCci, mean_cci: out.meanCci, std_cci: out.stdCci,
      };
      for (const [k, v] of Object.entries(py)) {
        if (Number.isNaN(v)) expect(ours[k], k).toBeNaN();
        else expect(Math.abs(ours[k]! - v), k).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)));
      }
      const file = path.join(tmp, f);
      await out.save(file);
      expect(readdirSync(tmp).filter((x) => x.includes(".tmp-"))).toEqual([]);
      expect((await AttributeContextOutput.load(file)).toDict()).toEqual(raw);
    });
  }

  it("reads Python's NaN literals and refuses malformed dicts with codes", async () => {
    const file = path.join(tmp, "nan.json");
    writeFileSync(file, '{"cti_scores": [NaN, 1.0], "cci_scores": [], "output_current": "NaN stays text"}');
    const out = await AttributeContextOutput.load(file);
    expect(out.ctiScores).toEqual([null, 1]);
    expect(out.outputCurrent).toBe("NaN stays text");
    expect(() => AttributeContextOutput.fromDict({ cci_scores: [{ cti_idx: "x" }] })).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    await expect(AttributeContextOutput.load(path.join(tmp, "missing.json"))).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    expect(existsSync(path.join(tmp, "missing.json"))).toBe(false);
  });
});

describe("CTI selection", () => {
  it("threshold = mean + λ·unbiased std; the mean for λ = 0 or one score; 0 without λ", () => {
    const s = [1, 2, 3, 4];
    expect(unbiasedStd(s)).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(scoresThreshold(s, 1)).toBeCloseTo(2.5 + Math.sqrt(5 / 3), 12);
    expect(scoresThreshold(s, 0)).toBe(2.5);
    expect(scoresThreshold([7], 1)).toBe(7);
    expect(scoresThreshold(s, null)).toBe(0);
    expect(scoresThreshold([], 1)).toBe(0);
  });

  it("ranks by |score| (stable on ties), keeps |score| >= threshold, then the top k", () => {
    const { ranked, threshold } = filterRankTokens(["a", "b", "c", "d"], [0.5, -3, 3, 0.1], 0, null);
    expect(threshold).toBeCloseTo(0.15, 12);
    expect(ranked).toEqual([[1, -3, "b"], [2, 3, "c"], [0, 0.5, "a"]]);
    expect(filterRankTokens(["a", "b", "c", "d"], [0.5, -3, 3, 0.1], 0, 1).ranked).toEqual([[1, -3, "b"]]);
  });
});

describe("templates and output splitting", () => {
  it("formats {current} / {context} as Python's str.format, with {{ }} as braces", () => {
    expect(formatTemplate("{context} {current}", "b", "a")).toBe("a b");
    expect(formatTemplate("<ctx>{{{context}}}</ctx>{current}", "b", "a")).toBe("<ctx>{a}</ctx>b");
    expect(() => formatTemplate("{context} {current}", "b")).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
  });

  it("joins with the separator only when neither side has it", () => {
    expect(concatWithSep("a", "b", " ")).toBe("a b");
    expect(concatWithSep("a ", "b", " ")).toBe("a b");
    expect(concatWithSep("a", " b", " ")).toBe("a b");
    expect(concatWithSep("a", "", " ")).toBe("a ");
  });

  it("splits a generated output by the template separator, else by punctuation, into exactly two parts", () => {
    expect(splitOutputContext("Step one<brk>Answer", "<brk>")).toBe("Step one");
    expect(splitOutputContext("Yes. No", " ")).toBe("Yes.");
    expect(splitOutputContext("He slept. Then", " ")).toBeNull();
    expect(splitOutputContext("Hello. World", "<brk>")).toBe("Hello");
    expect(splitOutputContext("one two three", " ")).toBeNull();
  });
});

describe("views", () => {
  const out = AttributeContextOutput.fromDict(readJson(path.join(dir, "gpt2_output_context.json")));

  it("marks the context-sensitive tokens and the cues above the threshold (terminal, no colour)", () => {
    const text = renderContextTerminal(out);
    const shown = displayTokens(out.outputCurrentTokens!, out.outputCurrent);
    for (const c of out.cciScores) expect(text).toContain(`[${shown[c.ctiIdx]}(${formatContextScore(c.ctiScore)})]`);
    const cues = cueSelection(out.cciScores[0]!, 1, null);
    const ctx = displayTokens(out.inputContextTokens!, out.inputContext);
    for (const i of cues.input) expect(text).toContain(`{${ctx[i]}(${formatContextScore(out.cciScores[0]!.inputContextScores![i]!)})}`);
    expect(text).toContain("Output context:");
    expect(formatContextScore(0.000012345)).toBe("0.0000123");
    expect(formatContextScore(1.23456)).toBe("1.235");
    expect(renderContextTerminal(out, { color: "truecolor" })).toContain("\x1b[1;38;2;0;160;60m");
  });

  it("shows tokens as they read in the text: space markers, word-level tokens, whitespace tokens", () => {
    expect(displayTokens(["ĠGeorge", "Ġwas", "Ġ", "y"], " George was y")).toEqual([" George", " was", " ", "y"]);
    expect(displayTokens(["the", "blue", "letters"], "the blue letters")).toEqual(["the", " blue", " letters"]);
    expect(displayTokens(["▁So", "▁Ben"], "So Ben")).toEqual(["So", " Ben"]);
    expect(displayTokens(["x", "zz"], "x y")).toEqual(["x", "zz"]);
    expect(displayTokens(["Ġa"], null)).toEqual([" a"]);
  });

  it("selects cues over input + output context together, as Inseq", () => {
    const c = out.cciScores[0]!;
    const all = [...c.inputContextScores!, ...c.outputContextScores!];
    const { input, output, threshold } = cueSelection(c, 1, null);
    expect(threshold).toBeCloseTo(scoresThreshold(all, 1), 10);
    expect(input.size + output.size).toBe(all.filter((x) => Math.abs(x) >= threshold).length);
    expect(cueSelection(c, 0, 2).input.size + cueSelection(c, 0, 2).output.size).toBe(2);
  });

  it("writes one self-contained page: CTI tokens linked to one expandable cue map each", () => {
    const html = renderContextHtml(out);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script src|<link /);
    expect(html.match(/<details class="inseq-cci"/g)?.length).toBe(out.cciScores.length);
    expect(html.match(/class="inseq-tok inseq-cti"/g)?.length).toBe(out.cciScores.length);
    expect(html).toContain("Contextless output");
    expect(out.show({ format: "html" })).toBe(html);
    const frag = renderContextHtml(out, { fragment: true });
    expect(frag.startsWith("<style>")).toBe(true);
    expect(renderContextHtml(AttributeContextOutput.fromDict({ cci_scores: [], cti_scores: [0.1], output_current_tokens: ["<x>"] }))).toContain("&lt;x&gt;");
  });
});
