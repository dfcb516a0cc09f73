/**
 * Python Inseq 0.7.1's remaining output API on hand-built outputs: `getScoresDicts`, `weightAttributions`,
 * `show` of one sequence, `showGranular`, `showTokens`, merge / `add` and the top-level helpers.
 */
import { AGGREGATION_FUNCTION_DESCRIPTIONS, AGGREGATOR_DESCRIPTIONS } from "../../lib/aggregators/descriptions.js";
import { listAggregationFunctions, listAggregators } from "../../lib/aggregators/registry.js";
import { explain } from "../../lib/explain.js";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import { FeatureAttributionOutput, FeatureAttributionSequenceOutput } from "../../lib/results/attribution.js";
import {
  getVersion, listSupportedFrameworks, mergeAttributions, showAttributions, showGranularAttributions, showTokenAttributions,
} from "../../lib/results/functions.js";
import { createTensor, getValue } from "../../lib/results/tensor.js";
import type { FeatureAttributionStepOutput } from "../../lib/results/types.js";
import { repoRoot } from "../helpers.js";
import { toks, twoSequenceOutput } from "../fixtures/viz/outputs.js";

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InseqError);
    return (e as InseqError).code;
  }
  return undefined;
}

/** Attention-like output: source [2 x 2 x layer 2 x head 3], value = 1 + layer * 10 + head (+ 0.5 in column 1). */
function attentionOutput(): FeatureAttributionSequenceOutput {
  const data: number[] = [];
  for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) for (let l = 0; l < 2; l++) for (let h = 0; h < 3; h++) data.push((r ? -1 : 1) * (1 + l * 10 + h + c * 0.5));
  return new FeatureAttributionSequenceOutput({
    kind: "multidimensional",
    source: toks("▁a", "</s>"),
    target: toks("<pad>", "▁x", "</s>"),
    sourceAttributions: createTensor(["source", "generated", "layer", "head"], [2, 2, 2, 3], data),
    stepScores: { probability: new Float32Array([0.5, 0.25]) },
    attrPosStart: 1,
  });
}

describe("getScoresDicts", () => {
  it("gives Inseq's (index, token)-keyed structure as records, scores as stored with doAggregation: false", () => {
    const [encDec, decoderOnly] = twoSequenceOutput().getScoresDicts({ doAggregation: false });
    expect(encDec!.sourceAttributions.map((g) => [g.index, g.token])).toEqual([[1, "▁Ciao"], [2, "▁mondo"], [3, "</s>"]]);
    const first = encDec!.sourceAttributions[0]!;
    expect(first.scores.map((s) => [s.index, s.token])).toEqual([[0, "▁Hello"], [1, "▁world"], [2, "</s>"]]);
    expect(first.scores.map((s) => s.score)).toEqual([0.6, -0.4, 0.1].map(Math.fround));
    // target rows outside a step's prefix stay NaN, as Inseq's `.item()` gives them
    expect(encDec!.targetAttributions[0]!.scores.map((s) => s.score)).toEqual([Math.fround(-0.2), NaN, NaN, NaN]);
    expect(encDec!.stepScores[0]).toEqual({ index: 1, token: "▁Ciao", scores: { probability: Math.fround(0.9), entropy: 1.25 } });
    expect(decoderOnly!.sourceAttributions).toEqual([]);
    expect(decoderOnly!.targetAttributions.map((g) => [g.index, g.token])).toEqual([[2, "▁sat"], [3, "▁down"]]);
    expect(decoderOnly!.stepScores.map((s) => s.scores.probability)).toEqual([0.5, 0.25]);
  });

  it("applies the default aggregation first, or the given aggregator", () => {
    const seq = twoSequenceOutput().at(0)!;
    expect(seq.getScoresDicts()).toEqual(seq.aggregate().getScoresDicts({ doAggregation: false }));
    expect(seq.getScoresDicts().sourceAttributions[0]!.scores[0]!.score).not.toBeCloseTo(0.6, 3);
    const att = attentionOutput();
    expect(att.getScoresDicts({ aggregator: ["max", "max"] })).toEqual(att.aggregate(["max", "max"]).getScoresDicts({ doAggregation: false }));
    expect(att.getScoresDicts({ aggregator: ["max", "max"] })).not.toEqual(att.getScoresDicts());
    expect(codeOf(() => att.getScoresDicts({ doAggregation: false }))).toBe(ErrorCode.INVALID_OPTION);
  });

  it("is JSON-serialisable", () => {
    const json = JSON.parse(JSON.stringify(attentionOutput().getScoresDicts()));
    expect(json.sourceAttributions).toHaveLength(2);
    expect(json.stepScores[1]).toEqual({ index: 2, token: "</s>", scores: { probability: 0.25 } });
  });
});

describe("weightAttributions", () => {
  it("multiplies each aggregated column by its step score, in a new coarse output", () => {
    const out = twoSequenceOutput();
    const before = out.at(0)!.clone();
    const weighted = out.weightAttributions("probability");
    expect(weighted).not.toBe(out);
    expect(out.at(0)!.equals(before, 0)).toBe(true);
    const agg = out.at(0)!.aggregate();
    const w = weighted.at(0)!;
    expect(w.kind).toBe("coarse");
    const p = out.at(0)!.stepScores.probability!;
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        expect(getValue(w.sourceAttributions!, r, c)).toBeCloseTo(getValue(agg.sourceAttributions!, r, c) * p[c]!, 6);
      }
    }
    expect(Number.isNaN(getValue(w.targetAttributions!, 3, 0))).toBe(true);
    // coarse: show() and aggregate() leave the weighted scores as they are
    expect(w.aggregate().equals(w, 0)).toBe(true);
    expect(weighted.info).toEqual(out.info);
    // the attention output is reduced to 2-D first
    expect(attentionOutput().weightAttributions("probability").sourceAttributions!.shape).toEqual([2, 2]);
  });

  it("names the available step scores when the id is unknown", () => {
    const seq = twoSequenceOutput().at(0)!;
    expect(codeOf(() => seq.weightAttributions("entropyy"))).toBe(ErrorCode.INVALID_OPTION);
    expect(() => seq.weightAttributions("entropyy")).toThrow(/probability, entropy/);
    expect(() => seq.weightAttributions("toString")).toThrow(/probability, entropy/);
    const bare = seq.with({ stepScores: {} });
    expect(() => bare.weightAttributions("probability")).toThrow(/has none/);
  });
});

describe("show on one sequence", () => {
  it("renders as the whole-output show of that sequence alone", () => {
    const out = twoSequenceOutput();
    const seq = out.at(1)!;
    expect(seq.show({ color: "none" })).toBe(new FeatureAttributionOutput([seq]).show({ color: "none" }));
    expect(seq.show({ color: "none" })).toContain("0th instance:");
    expect(seq.show({ format: "html", interactive: false })).toContain("Target Saliency Heatmap");
    expect(showAttributions(seq, { color: "none" })).toBe(seq.show({ color: "none" }));
    expect(showAttributions([seq], { color: "none" })).toBe(seq.show({ color: "none" }));
  });
});

describe("showGranular", () => {
  it("draws one heatmap per layer and head, scores as stored", () => {
    const text = attentionOutput().showGranular({ color: "none" });
    const headers = text.split("\n").filter((l) => l.endsWith(":") && l.includes("instance"));
    expect(headers).toEqual([
      "0th instance, layer 0, head 0:",
      "0th instance, layer 0, head 1:",
      "0th instance, layer 0, head 2:",
      "0th instance, layer 1, head 0:",
      "0th instance, layer 1, head 1:",
      "0th instance, layer 1, head 2:",
    ]);
    expect(text).toContain("12.50"); // layer 1, head 1, column 1: 1 + 10 + 1 + 0.5, not normalised
  });

  it("narrows with sliceDims (by axis name or index) and caps the number of heatmaps", () => {
    const seq = attentionOutput();
    const layer1 = seq.showGranular({ color: "none", sliceDims: { layer: [1, 2] } });
    expect(layer1.match(/instance, layer 1, head \d:/g)).toHaveLength(3);
    expect(layer1).not.toContain("layer 0");
    const head2 = seq.showGranular({ color: "none", sliceDims: { 3: [2, 3] } });
    expect(head2.match(/instance, layer \d, head 2:/g)).toHaveLength(2);
    expect(codeOf(() => seq.showGranular({ maxSlices: 4 }))).toBe(ErrorCode.INVALID_OPTION);
    expect(codeOf(() => seq.showGranular({ sliceDims: { head: [2, 5] } }))).toBe(ErrorCode.INVALID_OPTION);
    expect(codeOf(() => seq.showGranular({ sliceDims: { 1: [0, 1] } }))).toBe(ErrorCode.INVALID_OPTION);
    expect(codeOf(() => seq.showGranular({ sliceDims: { depth: [0, 1] } }))).toBe(ErrorCode.INVALID_OPTION);
  });

  it("shows 2-D outputs once, without aggregation; HTML gets one view per slice", () => {
    const out = twoSequenceOutput();
    const text = out.showGranular({ color: "none" });
    expect(text).toContain("0.60"); // stored value (the default aggregation normalises it to 0.46)
    expect(text).toContain("1st instance:");
    const html = showGranularAttributions(attentionOutput(), { format: "html" });
    expect(html).toContain("layer 1, head 2");
    expect(html).toContain("<!DOCTYPE html>");
    const mixed = new FeatureAttributionOutput([attentionOutput(), out.at(0)!]);
    expect(codeOf(() => mixed.showGranular({ format: "html" }))).toBe(ErrorCode.INVALID_OPTION);
    expect(mixed.showGranular({ color: "none" })).toContain("1st instance:");
  });
});

describe("showTokens", () => {
  it("lists, per generated token, the attributed tokens with their scores", () => {
    const out = twoSequenceOutput();
    const text = out.showTokens({ color: "none", doAggregation: false });
    expect(text).toContain("0th instance:\n  0 ▁Ciao\n    source: ▁Hello(0.60) ▁world(-0.40) </s>(0.10)\n    target: <pad>(-0.20)");
    expect(text).toContain("1st instance:\n  0 ▁sat\n    target: The(0.50) ▁cat(-0.50) ▁sat(0.00)");
    expect(showTokenAttributions(out, { color: "none" })).toBe(out.showTokens({ color: "none" }));
    expect(out.showTokens({ color: "none" })).toContain("▁Hello(0.46)");
  });

  it("stepScoreHighlight, wrapAfter, replaceChar, colours", () => {
    const seq = twoSequenceOutput().at(0)!;
    const text = seq.showTokens({ color: "none", doAggregation: false, stepScoreHighlight: "probability", wrapAfter: 1, replaceChar: { "▁": "_" } });
    expect(text).toContain("  0 _Ciao probability: 0.90\n    source: _Hello(0.60)\n      _world(-0.40)\n      </s>(0.10)");
    const byToken = seq.showTokens({ color: "none", doAggregation: false, wrapAfter: "▁world" });
    expect(byToken).toContain("▁Hello(0.60) ▁world(-0.40)\n      </s>(0.10)");
    const coloured = seq.showTokens({ color: "truecolor", stepScoreHighlight: "probability" });
    expect(coloured).toContain("\x1b[");
    expect(stripAnsi(coloured)).toBe(seq.showTokens({ color: "none", stepScoreHighlight: "probability" }));
    expect(codeOf(() => seq.showTokens({ stepScoreHighlight: "logit" }))).toBe(ErrorCode.INVALID_OPTION);
    expect(codeOf(() => seq.showTokens({ wrapAfter: 0 }))).toBe(ErrorCode.INVALID_OPTION);
  });

  it("HTML: one foldable block per generated token, tokens escaped", () => {
    const html = twoSequenceOutput().showTokens({ format: "html", stepScoreHighlight: "probability" });
    expect(html.match(/<details class="inseq-step">/g)).toHaveLength(5);
    expect(html).toContain("&lt;/s&gt;");
    expect(html).not.toContain("<pad>");
    expect(html).toMatch(/style="background:rgba\(/);
  });
});

describe("merge", () => {
  const info = { attribution_method: "saliency", model_name: "m", attr_pos_end: 3, input_texts: ["a"], generated_texts: ["b"] };
  const step = (k: number): FeatureAttributionStepOutput => ({ step: k, targetAttributions: null, stepScores: {}, target: [null] });

  it("concatenates sequences, texts and step attributions as Inseq's merge_attributions / +", () => {
    const [s0, s1] = twoSequenceOutput().sequenceAttributions;
    const a = new FeatureAttributionOutput([s0!], { ...info });
    const b = new FeatureAttributionOutput([s1!], { ...info, attr_pos_end: 5, input_texts: ["c"], generated_texts: ["d"] });
    a.stepAttributions = [step(0), step(1)];
    b.stepAttributions = [step(0)];
    const m = a.add(b);
    expect(m.sequenceAttributions).toEqual([s0, s1]);
    expect(m.info).toEqual({ ...info, attr_pos_end: 5, input_texts: ["a", "c"], generated_texts: ["b", "d"] });
    expect(m.stepAttributions!.map((s) => s.step)).toEqual([0, 1, 0]);
    expect(mergeAttributions([a, b]).equals(m)).toBe(true);
    b.stepAttributions = null;
    expect(a.add(b).stepAttributions).toBeNull();
    const c = new FeatureAttributionOutput([s1!], { ...info, model_name: "other" });
    expect(codeOf(() => a.add(c))).toBe(ErrorCode.INVALID_OPTION);
  });
});

describe("decodeTokens", () => {
  it("replaces tokens with id >= 0 by the tokenizer's decoding, in a new output", async () => {
    const out = twoSequenceOutput();
    const seq0 = out.at(0)!.with({ source: [...out.at(0)!.source.slice(0, 2), { token: "<span>", id: -1 }] });
    const calls: Array<[number[], unknown]> = [];
    const tokenizer = {
      decode: async (ids: readonly number[], opts?: unknown) => {
        calls.push([[...ids], opts]);
        return `d${ids[0]}`;
      },
    };
    const decoded = await new FeatureAttributionOutput([seq0, out.at(1)!], out.info).decodeTokens(tokenizer);
    expect(decoded.at(0)!.source.map((t) => t.token)).toEqual(["d3", "d4", "<span>"]);
    expect(decoded.at(1)!.target.map((t) => t.token)).toEqual(["d3", "d4", "d5", "d6"]);
    expect(out.at(1)!.target[0]!.token).toBe("The");
    expect(calls[0]![1]).toEqual({ skipSpecialTokens: false });
    await expect(out.at(0)!.decodeTokens({} as never)).rejects.toThrow(InseqError);
  });
});

describe("top-level helpers", () => {
  it("getVersion and listSupportedFrameworks", () => {
    expect(getVersion()).toBe(JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")).version);
    expect(listSupportedFrameworks()).toEqual(["hf_transformers"]);
  });
});

describe("explain covers aggregators and aggregation functions (Inseq's explain ids)", () => {
  it("every aggregator and built-in aggregation function has a line; unknown ids list all four kinds", () => {
    const builtIn = ["mean", "max", "min", "sum", "prod", "absmax", "vnorm"];
    expect(Object.keys(AGGREGATOR_DESCRIPTIONS).sort()).toEqual(listAggregators().sort());
    expect(Object.keys(AGGREGATION_FUNCTION_DESCRIPTIONS).sort()).toEqual(builtIn.sort());
    expect(listAggregationFunctions()).toEqual(expect.arrayContaining(builtIn));
    expect(explain("subwords")).toMatch(/^subwords \(aggregator\): .*SubwordAggregator/);
    expect(explain("absmax")).toMatch(/^absmax \(aggregation function\): /);
    expect(explain("saliency")).toMatch(/^saliency \(attribution method/);
    expect(() => explain("nope")).toThrow(/aggregators: scores, .*aggregation functions: mean/);
  });
});
