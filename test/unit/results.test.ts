/**
 * Result objects, default aggregation, Inseq-compatible save/load and the heatmap renderers. Pure TS: no addon.
 * Reference files in test/fixtures/results/ were written by Python Inseq 0.7.1 (make-fixtures.py there).
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import {
  FeatureAttributionOutput,
  FeatureAttributionSequenceOutput,
  type TokenWithId,
} from "../../lib/results/attribution.js";
import { decodeSafetensors, encodeSafetensors, float16BitsToNumber, float32ToFloat16Bits } from "../../lib/results/inseq-codecs.js";
import { parsePythonJson, stringifyPythonJson } from "../../lib/results/python-json.js";
import { createTensor, nanToZero, sliceDim0, sliceDim1, getValue, concatDim, type ScoreTensor } from "../../lib/results/tensor.js";
import { renderTerminal } from "../../lib/viz/terminal.js";
import { renderHtml } from "../../lib/viz/html.js";
import { repoRoot, tempDir } from "../helpers.js";

const fixtures = path.join(repoRoot, "test/fixtures/results");
const goldenDir = path.join(repoRoot, "test/fixtures/inseq-golden");
const tmp = tempDir("results");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const toks = (...pairs: Array<[string, number]>): TokenWithId[] => pairs.map(([token, id]) => ({ token, id }));
const close = (a: ArrayLike<number>, b: ArrayLike<number | null>, tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const e = b[i];
    if (e === null || Number.isNaN(e)) expect(Number.isNaN(a[i]!), `index ${i}: expected NaN, got ${a[i]}`).toBe(true);
    else expect(Math.abs(a[i]! - e!), `index ${i}: ${a[i]} vs ${e}`).toBeLessThanOrEqual(tol);
  }
};

/** The granular output of make-fixtures.py, built by hand. */
function granularOutput(): FeatureAttributionOutput {
  const seq = new FeatureAttributionSequenceOutput({
    kind: "granular",
    source: toks(["▁Hello", 7], ["</s>", 2]),
    target: toks(["<pad>", 0], ["▁Ciao", 9], ["<é&>", 2]),
    sourceAttributions: createTensor(["source", "generated", "hidden"], [2, 2, 3], [3, 4, 0, 1, 0, -2, 0, 0, 0, 0.5, -0.25, 0.125]),
    targetAttributions: createTensor(
      ["target", "generated", "hidden"],
      [3, 2, 3],
      [6, -8, 0, 2, 2, 1, NaN, NaN, NaN, 1, 0, 0, NaN, NaN, NaN, NaN, NaN, NaN],
    ),
    stepScores: { probability: new Float32Array([0.75, 0.03125]), entropy: new Float32Array([1.5, NaN]) },
    attrPosStart: 1,
    attrPosEnd: 3,
  });
  return new FeatureAttributionOutput([seq], {
    attribution_method: "saliency",
    attr_pos_start: 1,
    attr_pos_end: 3,
    exec_time: 0.125,
    input_texts: ["Hello"],
    generated_texts: ["Ciao"],
    model_name: "tiny",
    step_scores: ["probability", "entropy"],
    nan_value: NaN,
    inf_value: Infinity,
    unicode: "né ✓ \u{1F600}",
    nested: { b: [1, 2.5, null], a: true },
  });
}

/** Decoder-only attention output ([target, generated, layer, head]) of make-fixtures.py. */
function attentionOutput(): FeatureAttributionOutput {
  const N = NaN;
  const seq = new FeatureAttributionSequenceOutput({
    kind: "multidimensional",
    source: toks(["a", 1]),
    target: toks(["a", 1], ["b", 2], ["c", 3]),
    targetAttributions: createTensor(
      ["target", "generated", "layer", "head"],
      [3, 2, 2, 2],
      [0.2, 0.4, 0.6, 1.0, 0.1, 0.3, 0.5, 0.5, N, N, N, N, 0.2, 0.2, 1.5, 1.5, N, N, N, N, N, N, N, N],
    ),
    attrPosStart: 1,
    attrPosEnd: 3,
  });
  return new FeatureAttributionOutput([seq], { attribution_method: "attention" });
}

describe("ScoreTensor helpers", () => {
  const t = createTensor(["a", "b", "c"], [2, 3, 2], Array.from({ length: 12 }, (_, i) => i));
  it("indexes and slices row-major data", () => {
    expect(getValue(t, 1, 2, 1)).toBe(11);
    const s0 = sliceDim0(t, 1);
    expect(s0.shape).toEqual([1, 3, 2]);
    expect([...s0.data]).toEqual([6, 7, 8, 9, 10, 11]);
    const s1 = sliceDim1(t, 1, 3);
    expect(s1.shape).toEqual([2, 2, 2]);
    expect([...s1.data]).toEqual([2, 3, 4, 5, 8, 9, 10, 11]);
    expect(concatDim([sliceDim1(t, 0, 1), sliceDim1(t, 1)], 1).data).toEqual(t.data);
  });
  it("nanToZero copies with NaN as 0", () => {
    const n = nanToZero(createTensor(["x"], [3], [1, NaN, -2]));
    expect([...n.data]).toEqual([1, 0, -2]);
  });
  it("rejects inconsistent shapes", () => {
    expect(() => createTensor(["x"], [3], [1, 2])).toThrow(InseqError);
    expect(() => createTensor(["x", "y"], [3], [1, 2, 3])).toThrow(/dimension names/);
  });
});

describe("FeatureAttributionSequenceOutput", () => {
  it("validates shapes against tokens and positions", () => {
    const base = {
      source: toks(["a", 1]),
      target: toks(["a", 1], ["b", 2], ["c", 3]),
      attrPosStart: 1,
    };
    expect(() => new FeatureAttributionSequenceOutput({ ...base, targetAttributions: createTensor(["target", "generated"], [3, 3]) })).toThrow(
      /targetAttributions/,
    );
    expect(() => new FeatureAttributionSequenceOutput({ ...base, stepScores: { p: new Float32Array(3) } })).toThrow(/stepScores\.p/);
    const ok = new FeatureAttributionSequenceOutput({ ...base, targetAttributions: createTensor(["target", "generated"], [3, 2]) });
    expect(ok.nSteps).toBe(2);
    expect(ok.attrPosEnd).toBe(3);
    expect(ok.generatedTokens.map((t) => t.token)).toEqual(["b", "c"]);
  });

  it("granular default aggregation: vnorm then L1 normalisation over source + target, NaN kept", () => {
    const seq = granularOutput().sequenceAttributions[0]!;
    const agg = seq.defaultAggregate();
    expect(agg.kind).toBe("granular");
    expect(agg.sourceAttributions!.shape).toEqual([2, 2]);
    expect(agg.sourceAttributions!.dims).toEqual(["source", "generated"]);
    expect(agg.targetAttributions!.shape).toEqual([3, 2]);
    expect(agg.extraDimNames).toEqual([]);
    // Column 0: norms 5, 0 (source) and 10, NaN, NaN (target) -> / 15.
    // Column 1: norms sqrt(5), sqrt(0.328125) (source) and 3, 1, NaN (target) -> / (sqrt(5) + 0.5728 + 3 + 1).
    const s1 = Math.sqrt(5);
    const s2 = Math.sqrt(0.328125);
    const d = s1 + s2 + 4;
    close(agg.sourceAttributions!.data, [5 / 15, s1 / d, 0, s2 / d]);
    close(agg.targetAttributions!.data, [10 / 15, 3 / d, NaN, 1 / d, NaN, NaN]);
    // Each column sums to 1 over source + target.
    for (let c = 0; c < 2; c++) {
      let sum = 0;
      for (const t of [agg.sourceAttributions!, agg.targetAttributions!]) {
        for (let r = 0; r < t.shape[0]!; r++) {
          const v = t.data[r * 2 + c]!;
          if (!Number.isNaN(v)) sum += Math.abs(v);
        }
      }
      expect(sum).toBeCloseTo(1, 6);
    }
    // Step scores untouched; the original is not modified; aggregating again only re-normalises (same values).
    expect(agg.stepScores).toBe(seq.stepScores);
    expect(seq.sourceAttributions!.shape).toEqual([2, 2, 3]);
    const again = agg.defaultAggregate();
    for (const k of ["sourceAttributions", "targetAttributions"] as const) {
      again[k]!.data.forEach((v, i) => {
        const w = agg[k]!.data[i]!;
        if (Number.isNaN(w)) expect(Number.isNaN(v)).toBe(true);
        else expect(v).toBeCloseTo(w, 6);
      });
    }
  });

  it("attention default aggregation: mean over heads, normalise, mean over layers, normalise", () => {
    const agg = attentionOutput().sequenceAttributions[0]!.defaultAggregate();
    expect(agg.sourceAttributions).toBeNull();
    expect(agg.targetAttributions!.shape).toEqual([3, 2]);
    // Step 1, heads averaged: layer 0 -> [0.2, 0.2], layer 1 -> [0.5, 1.5]; normalised: [0.5, 0.5], [0.25, 0.75];
    // layers averaged: [0.375, 0.625] (without the middle normalisation it would be [0.2917, 0.7083]).
    close(agg.targetAttributions!.data, [1, 0.375, NaN, 0.625, NaN, NaN]);
  });

  it("matches Python Inseq's aggregate() on the reference outputs", () => {
    const expected = JSON.parse(readFileSync(path.join(fixtures, "py-aggregated.json"), "utf8"));
    for (const [name, out] of [["granular", granularOutput()], ["attention", attentionOutput()]] as const) {
      const agg = out.aggregate().sequenceAttributions[0]!;
      const e = expected[name];
      if (e.source_attributions) {
        expect(agg.sourceAttributions!.shape).toEqual(e.source_shape);
        close(agg.sourceAttributions!.data, e.source_attributions, 1e-6);
      } else expect(agg.sourceAttributions).toBeNull();
      expect(agg.targetAttributions!.shape).toEqual(e.target_shape);
      close(agg.targetAttributions!.data, e.target_attributions, 1e-6);
    }
  });

  it("coarse outputs are not aggregated", () => {
    const seq = new FeatureAttributionSequenceOutput({
      kind: "coarse",
      source: toks(["a", 1]),
      target: toks(["a", 1], ["b", 2]),
      targetAttributions: createTensor(["target", "generated"], [2, 1], [3, NaN]),
      attrPosStart: 1,
    });
    expect(seq.defaultAggregate()).toBe(seq);
  });

  it("aggregateScores: functions, selectIdx, normalize/rescale", () => {
    const seq = new FeatureAttributionSequenceOutput({
      kind: "granular",
      source: toks(["a", 1]),
      target: toks(["a", 1], ["b", 2]),
      targetAttributions: createTensor(["target", "generated", "hidden"], [2, 1, 3], [1, -4, 2, NaN, NaN, NaN]),
      attrPosStart: 1,
    });
    const raw = (fn: Parameters<typeof seq.aggregateScores>[0], opts = {}) =>
      [...seq.aggregateScores(fn, { normalize: false, ...opts }).targetAttributions!.data];
    close(raw("mean"), [-1 / 3, NaN]);
    close(raw("max"), [2, NaN]);
    close(raw("min"), [-4, NaN]);
    close(raw("sum"), [-1, NaN]);
    close(raw("prod"), [-8, NaN]);
    close(raw("absmax"), [-4, NaN]);
    close(raw("vnorm"), [Math.sqrt(21), NaN]);
    close(raw("vnorm", { vnormOrd: 1 }), [7, NaN]);
    close(raw("sum", { selectIdx: { start: 1, end: 3 } }), [-2, NaN]);
    close(raw("sum", { selectIdx: [0, -1] }), [3, NaN]);
    close(raw("sum", { selectIdx: -2 }), [-4, NaN]);
    close([...seq.aggregateScores("sum").targetAttributions!.data], [-1, NaN]); // normalised: -1 / |-1|
    close([...seq.aggregateScores("sum", { rescale: true }).targetAttributions!.data], [-1, NaN]);
    expect(() => seq.aggregateScores("sum", { normalize: true, rescale: true })).toThrow(InseqError);
    expect(() => seq.aggregateScores("median" as "sum")).toThrow(/aggregate function/);
    expect(() => seq.aggregateScores("sum", { selectIdx: 5 })).toThrow(/selectIdx/);
    const flat = seq.aggregateScores("sum");
    expect(() => flat.aggregateScores("sum")).toThrow(/targetAttributions/);
  });
});

describe("Inseq JSON format", () => {
  it("float16 conversion rounds to nearest even and keeps NaN/inf", () => {
    const cases: Array<[number, number]> = [
      [65504, 0x7bff], [65520, 0x7c00], [65519.99, 0x7bff], [1 / 3, 0x3555], [2 ** -24, 0x0001], [2 ** -25, 0x0000],
      [3 * 2 ** -26, 0x0001], [-0, 0x8000], [1e-8, 0], [0.1, 0x2e66], [-2.5, 0xc100], [6.1e-5, 0x03ff], [NaN, 0x7e00],
      [Infinity, 0x7c00], [-Infinity, 0xfc00], [1.00048828125, 0x3c00], [1.000732421875, 0x3c01],
    ];
    for (const [v, bits] of cases) expect(float32ToFloat16Bits(v), `f16(${v})`).toBe(bits);
    expect(float16BitsToNumber(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(Number.isNaN(float16BitsToNumber(0x7e00))).toBe(true);
    expect(float16BitsToNumber(0x0001)).toBe(2 ** -24);
  });

  it("safetensors blob matches safetensors.torch.save byte for byte", () => {
    // Python: safetensors.torch.save({"attribution": torch.arange(6.).reshape(3, 1, 2) with [2,0,0] = NaN})
    const python =
      "SAAAAAAAAAB7ImF0dHJpYnV0aW9uIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlszLDEsMl0sImRhdGFfb2Zmc2V0cyI6WzAsMjRdfX0gICAAAAAAAACAPwAAAEAAAEBAAADAfwAAoEA=";
    const ours = encodeSafetensors([3, 1, 2], new Float32Array([0, 1, 2, 3, NaN, 5])).toString("base64");
    expect(ours).toBe(python);
    const back = decodeSafetensors(Buffer.from(python, "base64"));
    expect(back.name).toBe("attribution");
    expect(back.dtype).toBe("F32");
    expect(back.shape).toEqual([3, 1, 2]);
    close(back.data, [0, 1, 2, 3, NaN, 5], 0);
  });

  it("writes the same text as Python Inseq (float32, float16) and reads Python's files", async () => {
    const out = granularOutput();
    expect(out.toJSONString()).toBe(readFileSync(path.join(fixtures, "py-granular.json"), "utf8"));
    expect(out.toJSONString({ scoresPrecision: "float16" })).toBe(readFileSync(path.join(fixtures, "py-granular-f16.json"), "utf8"));
    expect(attentionOutput().toJSONString()).toBe(readFileSync(path.join(fixtures, "py-attention.json"), "utf8"));

    for (const file of ["py-granular.json", "py-granular.json.gz"]) {
      const loaded = await FeatureAttributionOutput.load(path.join(fixtures, file));
      expect(loaded.equals(out, 0), file).toBe(true);
      expect(loaded.sequenceAttributions[0]!.kind).toBe("granular");
      expect(loaded.sequenceAttributions[0]!.extraDimNames).toEqual(["hidden"]);
      expect(Number.isNaN(loaded.info.nan_value as number)).toBe(true);
      expect(loaded.info.inf_value).toBe(Infinity);
      expect(loaded.info.unicode).toBe("né ✓ \u{1F600}");
    }
    const f16 = FeatureAttributionOutput.loadSync(path.join(fixtures, "py-granular-f16.json"));
    expect(f16.equals(out, 1e-3)).toBe(true);
    const att = FeatureAttributionOutput.loadSync(path.join(fixtures, "py-attention.json"));
    expect(att.sequenceAttributions[0]!.kind).toBe("multidimensional");
    expect(att.sequenceAttributions[0]!.targetAttributions!.dims).toEqual(["target", "generated", "layer", "head"]);
    expect(att.equals(attentionOutput(), 0)).toBe(true);
  });

  it("document envelope: class names, TokenWithId objects, tensor blobs", async () => {
    const file = path.join(tmp, "envelope.json");
    await granularOutput().save(file);
    const text = readFileSync(file, "utf8");
    expect(text).toContain('"nan_value": NaN');
    expect(text).toContain('"inf_value": Infinity');
    expect(text).toMatch(/^ {4}"__instance_type__"/m);
    expect(text.endsWith("}")).toBe(true);
    const doc = parsePythonJson(text) as any;
    expect(doc.__instance_type__).toEqual(["inseq.data.attribution", "FeatureAttributionOutput"]);
    expect(Object.keys(doc.attributes)).toEqual(["info", "sequence_attributions", "step_attributions"]);
    expect(doc.attributes.step_attributions).toBeNull();
    const seq = doc.attributes.sequence_attributions[0];
    expect(seq.__instance_type__).toEqual(["inseq.data.attribution", "GranularFeatureAttributionSequenceOutput"]);
    expect(Object.keys(seq.attributes)).toEqual([
      "attr_pos_end", "attr_pos_start", "sequence_scores", "source", "source_attributions", "step_scores", "target",
      "target_attributions",
    ]);
    expect(seq.attributes.source[0]).toEqual({
      __instance_type__: ["inseq.utils.typing", "TokenWithId"],
      attributes: { id: 7, token: "▁Hello" },
    });
    const blob = Buffer.from(seq.attributes.target_attributions, "base64");
    const hlen = Number(blob.readBigUInt64LE(0));
    expect((8 + hlen) % 8).toBe(0);
    const header = JSON.parse(blob.toString("utf8", 8, 8 + hlen));
    expect(header).toEqual({ attribution: { dtype: "F32", shape: [3, 2, 3], data_offsets: [0, 72] } });
    const step = decodeSafetensors(Buffer.from(seq.attributes.step_scores.probability, "base64"));
    expect(step.shape).toEqual([2]);

    const f16File = path.join(tmp, "envelope-f16.json");
    await granularOutput().save(f16File, { scoresPrecision: "float16" });
    const f16Doc = parsePythonJson(readFileSync(f16File, "utf8")) as any;
    const f16Blob = decodeSafetensors(Buffer.from(f16Doc.attributes.sequence_attributions[0].attributes.source_attributions, "base64"));
    expect(f16Blob.dtype).toBe("F16");
    expect(f16Blob.shape).toEqual([2, 2, 3]);
  });

  it("round trips: float32 exact with NaN positions, float16 within 1e-3, gzip", async () => {
    const out = granularOutput();
    const f32 = path.join(tmp, "rt.json");
    expect(await out.save(f32)).toEqual([f32]);
    const back = await FeatureAttributionOutput.load(f32);
    expect(back.equals(out, 0)).toBe(true);
    const ta = back.sequenceAttributions[0]!.targetAttributions!;
    const orig = out.sequenceAttributions[0]!.targetAttributions!;
    expect([...ta.data].map(Number.isNaN)).toEqual([...orig.data].map(Number.isNaN));
    expect(back.sequenceAttributions[0]!.stepScores.entropy![1]).toBeNaN();

    const f16 = path.join(tmp, "rt-f16.json");
    out.saveSync(f16, { scoresPrecision: "float16" });
    const back16 = FeatureAttributionOutput.loadSync(f16);
    expect(back16.equals(out, 1e-3)).toBe(true);

    const gz = path.join(tmp, "rt.json.gz");
    await out.save(gz, { compress: true });
    const raw = readFileSync(gz);
    expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
    expect(gunzipSync(raw).toString("utf8")).toBe(out.toJSONString());
    expect((await FeatureAttributionOutput.load(gz)).equals(out, 0)).toBe(true);
    expect((await FeatureAttributionOutput.load(gz, { decompress: true })).equals(out, 0)).toBe(true);
    await expect(FeatureAttributionOutput.load(f32, { decompress: true })).rejects.toThrow(/decompress/);

    // toJSON / fromJSON
    const viaJson = FeatureAttributionOutput.fromJSON(JSON.parse(JSON.stringify(out)));
    expect(viaJson.sequenceAttributions[0]!.equals(out.sequenceAttributions[0]!, 0)).toBe(true);
    expect(FeatureAttributionOutput.fromJSON(out.toJSONString()).equals(out, 0)).toBe(true);
    // No temporary files left behind.
    expect(readdirSync(tmp).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("splitSequences writes one file per sequence with restricted texts", async () => {
    const merged = FeatureAttributionOutput.merge([granularOutput(), granularOutput()]);
    const base = path.join(tmp, "split.json");
    const paths = await merged.save(base, { splitSequences: true, compress: true });
    expect(paths).toEqual([path.join(tmp, "split_0.json.gz"), path.join(tmp, "split_1.json.gz")]);
    for (const p of paths) {
      const one = await FeatureAttributionOutput.load(p);
      expect(one.length).toBe(1);
      expect(one.info.input_texts).toEqual(["Hello"]);
      expect(one.sequenceAttributions[0]!.equals(merged.sequenceAttributions[0]!, 0)).toBe(true);
    }
  });

  it("refuses to overwrite unless asked", async () => {
    const file = path.join(tmp, "exists.json");
    writeFileSync(file, "old");
    const out = attentionOutput();
    const err = await out.save(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InseqError);
    expect((err as InseqError).code).toBe(ErrorCode.INVALID_OPTION);
    expect((err as InseqError).message).toContain(file);
    expect(readFileSync(file, "utf8")).toBe("old");
    expect(() => out.saveSync(file)).toThrow(/already exists/);
    await out.save(file, { overwrite: true });
    expect(FeatureAttributionOutput.loadSync(file).equals(out, 0)).toBe(true);
    await expect(out.save(file, { bogus: true } as never)).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_OPTION });
    await expect(out.save(file, { scoresPrecision: "float8" as never, overwrite: true })).rejects.toThrow(/scoresPrecision/);
  });

  it("info keyword arguments are saved snake_case (Python Inseq passes them back as **kwargs); both forms load", async () => {
    const info = {
      attribution_method: "integrated_gradients",
      attribution_args: { nSteps: 10, internalBatchSize: 5, decoderZeroedUnitsIndices: { 0: [1] } },
      attributed_fn_args: { logprob: true, contrastTargets: ["x"] },
      step_scores_args: { topK: 2, perplexityBase2: true },
      generation_args: { maxNewTokens: 3, doSample: false },
      input_texts: ["Hello"],
    };
    const snake = {
      attribution_method: "integrated_gradients",
      attribution_args: { n_steps: 10, internal_batch_size: 5, decoder_zeroed_units_indices: { 0: [1] } },
      attributed_fn_args: { logprob: true, contrast_targets: ["x"] },
      step_scores_args: { top_k: 2, perplexity_base2: true },
      generation_args: { max_new_tokens: 3, do_sample: false },
      input_texts: ["Hello"],
    };
    const out = new FeatureAttributionOutput(attentionOutput().sequenceAttributions, info);
    const file = path.join(tmp, "kwargs.json");
    await out.save(file);
    const text = readFileSync(file, "utf8");
    expect(text).toContain('"n_steps": 10');
    expect(text).toContain('"max_new_tokens": 3');
    expect(text).not.toMatch(/"(nSteps|maxNewTokens|topK|contrastTargets|internalBatchSize)"/);
    expect((parsePythonJson(text) as any).attributes.info).toEqual(snake);
    expect(FeatureAttributionOutput.loadSync(file).info).toEqual(snake);
    // Files written before the fix (camelCase inside info) load with the same snake_case keys.
    writeFileSync(file, text.replace('"n_steps"', '"nSteps"').replace('"max_new_tokens"', '"maxNewTokens"').replace('"top_k"', '"topK"'));
    expect(readFileSync(file, "utf8")).toContain('"nSteps": 10');
    expect(FeatureAttributionOutput.loadSync(file).info).toEqual(snake);
    expect(FeatureAttributionOutput.fromJSON(readFileSync(file, "utf8")).info).toEqual(snake);
  });

  it("load errors carry codes", async () => {
    await expect(FeatureAttributionOutput.load(path.join(tmp, "missing.json"))).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    const bad = path.join(tmp, "bad.json");
    writeFileSync(bad, '{"not": "inseq"}');
    await expect(FeatureAttributionOutput.load(bad)).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
    writeFileSync(bad, "{oops");
    await expect(FeatureAttributionOutput.load(bad)).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
  });

  it("reads older numpy __ndarray__ encodings (b64, b64.gz, lists)", () => {
    const data = new Float32Array([1, NaN, 3, 4, 5, 6]);
    const b64 = "b64:" + Buffer.from(data.buffer).toString("base64");
    const b64gz = "b64.gz:" + gzipSync(Buffer.from(new Float64Array([1, NaN, 3, 4, 5, 6]).buffer)).toString("base64");
    const doc = (sa: unknown) => ({
      __instance_type__: ["inseq.data.attribution", "FeatureAttributionOutput"],
      attributes: {
        info: {},
        step_attributions: null,
        sequence_attributions: [
          {
            __instance_type__: ["inseq.data.attribution", "FeatureAttributionSequenceOutput"],
            attributes: {
              source: [{ __instance_type__: ["inseq.utils.typing", "TokenWithId"], attributes: { id: 1, token: "x" } }, { id: 2, token: "y" }],
              target: [{ __instance_type__: ["inseq.utils.typing", "TokenWithId"], attributes: { id: 3, token: "z" } }, { id: 4, token: "w" }, { id: 5, token: "v" }],
              source_attributions: sa,
              target_attributions: null,
              step_scores: { probability: { __ndarray__: [0.5, 0.25, 0.125], dtype: "float32", shape: [3] } },
              sequence_scores: null,
              attr_pos_start: 0,
              attr_pos_end: 3,
            },
          },
        ],
      },
    });
    for (const sa of [
      { __ndarray__: b64, dtype: "float32", shape: [2, 3], Corder: true },
      { __ndarray__: b64gz, dtype: "float64", shape: [2, 3], Corder: true },
      { __ndarray__: [[1, NaN, 3], [4, 5, 6]], dtype: "float32", shape: [2, 3] },
      [[1, NaN, 3], [4, 5, 6]],
    ]) {
      const out = FeatureAttributionOutput.fromJSON(doc(sa));
      const seq = out.sequenceAttributions[0]!;
      expect(seq.kind).toBe("base");
      expect(seq.sourceAttributions!.shape).toEqual([2, 3]);
      close(seq.sourceAttributions!.data, [1, NaN, 3, 4, 5, 6], 0);
      close(seq.stepScores.probability!, [0.5, 0.25, 0.125], 0);
      expect(seq.source.map((t) => t.token)).toEqual(["x", "y"]);
    }
  });

  it("Python-style JSON text: sorted keys, ASCII escapes, NaN literals; tolerant parsing", () => {
    const text = stringifyPythonJson({ b: [1, 2.5, NaN], a: { z: "é\n\"", y: -Infinity }, c: [], d: {}, u: undefined });
    expect(text).toBe(
      '{\n    "a": {\n        "y": -Infinity,\n        "z": "\\u00e9\\n\\""\n    },\n    "b": [\n        1,\n        2.5,\n        NaN\n    ],\n    "c": [],\n    "d": {}\n}',
    );
    const back = parsePythonJson(text) as any;
    expect(back.a).toEqual({ y: -Infinity, z: 'é\n"' });
    expect(back.b[2]).toBeNaN();
    // Literals inside strings are left alone.
    expect(parsePythonJson('{"s": "NaN \\" Infinity", "n": NaN}')).toEqual({ s: 'NaN " Infinity', n: NaN });
  });
});

describe("merge", () => {
  it("concatenates sequences and texts, takes the max attr_pos_end", () => {
    const a = granularOutput();
    const b = granularOutput();
    b.info.attr_pos_end = 5;
    b.info.input_texts = ["Bye"];
    const m = FeatureAttributionOutput.merge([a, b]);
    expect(m.length).toBe(2);
    expect(m.info.attr_pos_end).toBe(5);
    expect(m.info.input_texts).toEqual(["Hello", "Bye"]);
    expect(m.info.generated_texts).toEqual(["Ciao", "Ciao"]);
    expect(m.stepAttributions).toBeNull();
  });
  it("refuses incompatible outputs", () => {
    const a = granularOutput();
    const b = granularOutput();
    b.info.model_name = "other";
    expect(() => FeatureAttributionOutput.merge([a, b])).toThrow(/model_name/);
    const c = granularOutput();
    delete c.info.step_scores;
    expect(() => FeatureAttributionOutput.merge([a, c])).toThrow(/step_scores/);
    expect(() => FeatureAttributionOutput.merge([])).toThrow(InseqError);
  });
});

describe("renderers", () => {
  const ESC = "\x1b[";
  it("terminal: tables with tokens, 2 decimals, step scores, no ANSI codes with color none", () => {
    const out = granularOutput();
    const text = out.show({ color: "none" });
    expect(text).not.toContain(ESC);
    expect(text).toContain("0th instance:");
    expect(text).toContain("Source Saliency Heatmap");
    expect(text).toContain("Target Saliency Heatmap");
    expect(text).toContain("→ : Generated tokens, ↓ : Attributed tokens");
    const lines = text.split("\n");
    const row = (label: string, from = 0) => lines.slice(from).find((l) => l.startsWith("│") && l.includes(` ${label} `))!;
    // Source heatmap: row "▁Hello" has 0.33 and 0.33; "</s>" has 0.00 and 0.08; the column headers are the generated tokens.
    expect(lines.some((l) => l.includes("▁Ciao") && l.includes("<é&>"))).toBe(true);
    expect(row("▁Hello")).toMatch(/0\.33\s+│\s+0\.33/);
    expect(row("</s>")).toMatch(/0\.00\s+│\s+0\.08/);
    // Target heatmap: NaN cells are empty.
    const tStart = lines.findIndex((l) => l.includes("Target Saliency Heatmap"));
    expect(row("<pad>", tStart)).toMatch(/0\.67\s+│\s+0\.44/);
    expect(row("<é&>", tStart)).toMatch(/<é&> │\s+│\s+│$/);
    expect(row("probability")).toMatch(/0\.75\s+│\s+0\.03/);
    expect(row("entropy")).toMatch(/1\.50\s+│\s+│$/);
    const numbers = text.match(/-?\d+\.\d+/g)!;
    expect(numbers.every((n) => /\.\d{2}$/.test(n))).toBe(true);
  });

  it("terminal: truecolor and 256-colour backgrounds; width splits columns", () => {
    const agg = granularOutput().aggregate();
    const tc = renderTerminal(agg, { color: "truecolor" });
    expect(tc).toContain(`${ESC}48;2;`);
    expect(tc).toContain(`${ESC}48;2;178;24;43;`); // the maximum is full red
    const c256 = renderTerminal(agg, { color: "256" });
    expect(c256).toContain(`${ESC}48;5;`);
    expect(c256).not.toContain(`${ESC}48;2;`);
    const narrow = renderTerminal(agg, { color: "none", width: 30 });
    expect(narrow).toContain("columns 0–0 of 2");
    expect(narrow).toContain("columns 1–1 of 2");
    expect(() => renderTerminal(granularOutput(), { color: "none" })).toThrow(/aggregate first/);
    expect(() => renderTerminal(agg, { color: "blue" as never })).toThrow(InseqError);
  });

  it("html: one <td> per cell with sign-coloured backgrounds, escaped tokens, self-contained", () => {
    const seq = new FeatureAttributionSequenceOutput({
      kind: "coarse",
      source: toks(["<b>x</b>", 1], ["&y", 2]),
      target: toks(["s", 0], ["p", 3], ["q", 4]),
      sourceAttributions: createTensor(["source", "generated"], [2, 2], [0.5, -0.25, -1, NaN]),
      stepScores: { probability: new Float32Array([0.9, 0.1]) },
      attrPosStart: 1,
    });
    const html = new FeatureAttributionOutput([seq]).show({ format: "html" });
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script[^>]*\ssrc=|https?:\/\/|<link/); // inline script only
    expect(html).toContain("&lt;b&gt;x&lt;/b&gt;");
    expect(html).toContain("&amp;y");
    expect(html).not.toContain("<b>x</b>");
    expect(html).toContain("Source Saliency Heatmap");
    expect(html).not.toContain("Target Saliency Heatmap");
    const cells = [...html.matchAll(/<td class="inseq-cell[^"]*"(?: style="background:([^"]+)")?>([^<]*)<\/td>/g)];
    expect(cells.length).toBe(4);
    expect(cells.map((c) => c[2])).toEqual(["0.500", "-0.250", "-1.000", ""]);
    expect(cells[0]![1]).toBe("rgba(178, 24, 43, 0.500)");
    expect(cells[1]![1]).toBe("rgba(33, 102, 172, 0.250)");
    expect(cells[2]![1]).toBe("rgba(33, 102, 172, 1.000)");
    expect(cells[3]![1]).toBeUndefined();
    expect(html).toMatch(/<b>probability<\/b><\/th><td class="inseq-step"><b>0\.900<\/b><\/td><td class="inseq-step">0\.100<\/td>/);
  });

  it("html for the aggregated attention output: one cell per (target row, step)", () => {
    const html = renderHtml(attentionOutput().aggregate(), { fragment: true });
    expect(html).not.toContain("<!DOCTYPE");
    expect((html.match(/<td class="inseq-cell/g) ?? []).length).toBe(6);
    expect(html).toContain("Target Saliency Heatmap");
  });
});

/** Deep equality where base64 safetensors strings that differ must at least decode to the same float32 tensor. */
function expectSameDocument(actual: unknown, expected: unknown, where: string): void {
  if (typeof actual === "string" && typeof expected === "string" && actual !== expected && expected.length > 16) {
    const a = decodeSafetensors(Buffer.from(actual, "base64"));
    const e = decodeSafetensors(Buffer.from(expected, "base64"));
    expect(a.shape, where).toEqual(e.shape);
    expect(a.data, where).toEqual(e.data);
    return;
  }
  if (actual && expected && typeof actual === "object" && typeof expected === "object") {
    expect(Object.keys(actual).sort(), where).toEqual(Object.keys(expected).sort());
    for (const k of Object.keys(expected)) {
      expectSameDocument((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${where}.${k}`);
    }
    return;
  }
  expect(actual, where).toEqual(expected);
}

const KIND_OF_CLASS: Record<string, string> = {
  GranularFeatureAttributionSequenceOutput: "granular",
  CoarseFeatureAttributionSequenceOutput: "coarse",
  MultiDimensionalFeatureAttributionSequenceOutput: "multidimensional",
  FeatureAttributionSequenceOutput: "base",
};

describe.runIf(existsSync(path.join(goldenDir, "index.json")))("Python Inseq golden files", () => {
  const index = existsSync(path.join(goldenDir, "index.json"))
    ? (JSON.parse(readFileSync(path.join(goldenDir, "index.json"), "utf8")) as { cases: Array<Record<string, any>> })
    : { cases: [] };
  const cases = index.cases.filter((c) => !c.error && typeof c.file === "string" && existsSync(path.join(goldenDir, c.file)));

  it("has golden files", () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases.map((c) => [c.file as string, c] as const))("%s: loads with the shapes index.json declares", async (file, c) => {
    const text = readFileSync(path.join(goldenDir, file), "utf8");
    const out = await FeatureAttributionOutput.load(path.join(goldenDir, file));
    const expected: Array<Record<string, any>> = c.summary.sequences;
    expect(out.length).toBe(expected.length);
    expected.forEach((e, i) => {
      const seq = out.sequenceAttributions[i]!;
      expect(seq.kind).toBe(KIND_OF_CLASS[e.class]);
      expect(seq.attrPosStart).toBe(e.attr_pos_start);
      expect(seq.attrPosEnd).toBe(e.attr_pos_end);
      expect(seq.source.map((t) => t.token)).toEqual(e.source_tokens);
      expect(seq.source.map((t) => t.id)).toEqual(e.source_ids);
      expect(seq.target.slice(0, e.target_tokens.length).map((t) => t.token)).toEqual(e.target_tokens);
      expect(seq.sourceAttributions?.shape ?? null).toEqual(e.source_attributions_shape);
      expect(seq.targetAttributions?.shape ?? null).toEqual(e.target_attributions_shape);
      expect(Object.fromEntries(Object.entries(seq.stepScores).map(([k, v]) => [k, [v.length]]))).toEqual(e.step_scores_shapes);
      expect(Object.fromEntries(Object.entries(seq.sequenceScores).map(([k, v]) => [k, v.shape]))).toEqual(e.sequence_scores_shapes);
      // Default aggregation reaches 2-D for every kind.
      const agg = seq.defaultAggregate();
      for (const t of [agg.sourceAttributions, agg.targetAttributions]) if (t) expect(t.shape.length).toBe(2);
    });
    // Re-encoding gives Python's sequence objects back exactly (same safetensors bytes, same token objects).
    // Python keeps integer step scores (e.g. top_p_size) as I64; both tools load them as float32 and save F32.
    const original = parsePythonJson(text) as any;
    const reencoded = JSON.parse(JSON.stringify(out.toJSON())) as any;
    expectSameDocument(reencoded.attributes.sequence_attributions, original.attributes.sequence_attributions, "");
    // Rendering works on the aggregated output.
    const hasScores = out.sequenceAttributions.some((s) => s.sourceAttributions || s.targetAttributions || Object.keys(s.stepScores).length > 0);
    if (hasScores) expect(out.show({ color: "none" })).toContain("Saliency Heatmap");
    else expect(out.show({ color: "none" })).toBe("");
  });
});
