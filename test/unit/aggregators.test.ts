/**
 * Aggregators (Inseq's `inseq.data.aggregator`): scores, spans, subwords, split, pair, slices, pipelines and the
 * aggregation functions, on small hand-computed tensors, plus the token-merging fixtures of Inseq's
 * tests/data/test_aggregator.py (tests/fixtures/aggregator.json) rebuilt as data. Pure TS: no addon.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, InseqError } from "../../lib/core/errors.js";
import { FeatureAttributionOutput, FeatureAttributionSequenceOutput, type TokenWithId } from "../../lib/results/attribution.js";
import { createTensor, type ScoreTensor } from "../../lib/results/tensor.js";
import { getAggregationFunction, listAggregationFunctions } from "../../lib/aggregators/functions.js";
import { listAggregators } from "../../lib/aggregators/registry.js";
import { markerSpans, wordIdSpans } from "../../lib/aggregators/subwords.js";
import { splitSpans } from "../../lib/aggregators/split.js";
import { stepScoreSpanFunction } from "../../lib/aggregators/spans.js";
import * as api from "../../lib/index.js";

const toks = (...tokens: string[]): TokenWithId[] => tokens.map((token, i) => ({ token, id: 100 + i }));
const strs = (tokens: readonly TokenWithId[]) => tokens.map((t) => t.token);
const close = (a: ArrayLike<number>, b: ArrayLike<number | null>, tol = 1e-6) => {
  expect(a.length, `length ${a.length} vs ${b.length}`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const e = b[i];
    if (e === null || Number.isNaN(e)) expect(Number.isNaN(a[i]!), `index ${i}: expected NaN, got ${a[i]}`).toBe(true);
    else expect(Math.abs(a[i]! - e!), `index ${i}: ${a[i]} vs ${e}`).toBeLessThanOrEqual(tol);
  }
};
const f32 = (...v: number[]) => new Float32Array(v);
const N = NaN;

function expectInseqError(fn: () => unknown, code: string, message?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected an InseqError").toBeInstanceOf(InseqError);
  expect((err as InseqError).code).toBe(code);
  if (message) expect((err as InseqError).message).toMatch(message);
}

/** A decoder-only output: source = target[:start], target attributions [target, generated, ...extra]. */
function decoderOnly(
  tokens: string[],
  start: number,
  attrs: { shape: number[]; data: number[] } | null,
  extra: Partial<ConstructorParameters<typeof FeatureAttributionSequenceOutput>[0]> = {},
): FeatureAttributionSequenceOutput {
  const target = toks(...tokens);
  const dims = ["target", "generated", "hidden", "x"].slice(0, attrs?.shape.length ?? 2);
  return new FeatureAttributionSequenceOutput({
    source: target.slice(0, start),
    target,
    targetAttributions: attrs ? createTensor(dims, attrs.shape, attrs.data) : null,
    attrPosStart: start,
    kind: "coarse",
    ...extra,
  });
}

/** A tensor of shape `shape` with distinct values sin(1 + 0.37 k) (NaN where `nan(index)`). */
function filled(dims: string[], shape: number[], nan: (idx: number[]) => boolean = () => false): ScoreTensor {
  const t = createTensor(dims, shape);
  const idx = shape.map(() => 0);
  for (let k = 0; k < t.data.length; k++) {
    let r = k;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d]!;
      r = Math.floor(r / shape[d]!);
    }
    t.data[k] = nan(idx) ? NaN : Math.sin(1 + 0.37 * k);
  }
  return t;
}

/** Naive absmax with NaN as 0 for the choice (the reference for merged cells). */
function absmaxRef(values: number[]): number {
  let best = values[0]!;
  let bestAbs = -1;
  for (const v of values) {
    const a = Number.isNaN(v) ? 0 : Math.abs(v);
    if (a > bestAbs) {
      bestAbs = a;
      best = v;
    }
  }
  return best;
}

function cell(t: ScoreTensor, ...index: number[]): number {
  let off = 0;
  for (let d = 0; d < t.shape.length; d++) off = off * t.shape[d]! + index[d]!;
  return t.data[off]!;
}

// --- Inseq's tests/fixtures/aggregator.json, rebuilt ------------------------------------------------------

/** opus-mt-en-it source pieces of "Inseq is a framework for automatic attribution of sequence-to-sequence models." */
const MARIAN_SOURCE = ["▁In", "s", "eq", "▁is", "▁a", "▁framework", "▁for", "▁automatic", "▁attribution", "▁of", "▁sequence", "-", "to", "-", "sequence", "▁models", ".", "</s>"];
const MARIAN_SOURCE_MERGED = ["▁Inseq", "▁is", "▁a", "▁framework", "▁for", "▁automatic", "▁attribution", "▁of", "▁sequence-to-sequence", "▁models.", "</s>"];
/** Its translation "Inseq è un framework per l'attribuzione automatica di modelli sequenziali.", decoder prefix included. */
const MARIAN_TARGET = ["<pad>", "▁In", "se", "q", "▁è", "▁un", "▁fra", "me", "work", "▁per", "▁l", "'", "attribuzione", "▁automatica", "▁di", "▁modelli", "▁seque", "nzia", "li", ".", "</s>"];
const MARIAN_TARGET_MERGED = ["<pad>", "▁Inseq", "▁è", "▁un", "▁framework", "▁per", "▁l'attribuzione", "▁automatica", "▁di", "▁modelli", "▁sequenziali.", "</s>"];
/** "Onseq is a framework ..." (the alternative source of the pair test). */
const MARIAN_ALT_SOURCE = ["▁On", ...MARIAN_SOURCE.slice(1)];

/** An encoder-decoder output shaped like opus-mt-en-it's saliency output with attribute_target (hidden size 2). */
function marianOutput(sourceTokens = MARIAN_SOURCE, seed = 0): FeatureAttributionSequenceOutput {
  const nSteps = MARIAN_TARGET.length - 1;
  const src = filled(["source", "generated", "hidden"], [sourceTokens.length, nSteps, 2]);
  const tgt = filled(["target", "generated", "hidden"], [MARIAN_TARGET.length, nSteps, 2], ([r, c]) => r! > c!);
  if (seed) for (const t of [src, tgt]) t.data.forEach((v, i) => (t.data[i] = v * (1 + seed) + seed * 0.01));
  return new FeatureAttributionSequenceOutput({
    kind: "granular",
    source: toks(...sourceTokens),
    target: toks(...MARIAN_TARGET),
    sourceAttributions: src,
    targetAttributions: tgt,
    stepScores: { probability: Float32Array.from({ length: nSteps }, (_, j) => 0.5 + 0.02 * j + seed * 0.001) },
    attrPosStart: 1,
  });
}

describe("aggregation functions", () => {
  it("lists Inseq's ids", () => {
    expect(listAggregationFunctions()).toEqual(expect.arrayContaining(["mean", "max", "min", "sum", "prod", "absmax", "vnorm"]));
    expect(api.listAggregationFunctions).toBe(listAggregationFunctions);
  });

  it("reduce one fibre exactly; NaN propagates except through absmax's choice", () => {
    const r = (id: string, v: number[], opts = {}) => getAggregationFunction(id).reduce(Float32Array.from(v), opts);
    const v = [1, -4, 2];
    expect(r("mean", v)).toBeCloseTo(-1 / 3, 7);
    expect(r("max", v)).toBe(2);
    expect(r("min", v)).toBe(-4);
    expect(r("sum", v)).toBe(-1);
    expect(r("prod", v)).toBe(-8);
    expect(r("absmax", v)).toBe(-4);
    expect(r("vnorm", v)).toBeCloseTo(Math.sqrt(21), 6);
    expect(r("vnorm", v, { vnormOrd: 1 })).toBe(7);
    expect(r("vnorm", v, { vnormOrd: Infinity })).toBe(4);
    const withNaN = [1, NaN, -3];
    for (const id of ["mean", "max", "min", "sum", "prod", "vnorm"]) expect(Number.isNaN(r(id, withNaN)), id).toBe(true);
    expect(r("absmax", withNaN)).toBe(-3);
    expect(Number.isNaN(r("absmax", [NaN, NaN]))).toBe(true);
  });

  it("every function merges a span of rows (spans with an explicit aggregateFn)", () => {
    const seq = (values: number[]) =>
      new FeatureAttributionSequenceOutput({
        source: toks("a", "b", "c"),
        target: toks("<pad>", "x"),
        sourceAttributions: createTensor(["source", "generated"], [3, 1], values),
        targetAttributions: createTensor(["target", "generated"], [2, 1], [0.5, N]),
        attrPosStart: 1,
        kind: "coarse",
      });
    const expected: Record<string, number> = { mean: -1 / 3, max: 2, min: -4, sum: -1, prod: -8, absmax: -4, vnorm: Math.sqrt(21) };
    for (const [fn, value] of Object.entries(expected)) {
      const out = seq([1, -4, 2]).aggregate("spans", { sourceSpans: [0, 3], aggregateFn: fn });
      expect(strs(out.source)).toEqual(["abc"]);
      close(out.sourceAttributions!.data, [value], 1e-6);
    }
    // NaN rows: absmax skips them, the other reductions give NaN.
    for (const fn of ["mean", "max", "min", "sum", "prod", "vnorm"]) {
      close(seq([1, N, -3]).aggregate("spans", { sourceSpans: [0, 3], aggregateFn: fn }).sourceAttributions!.data, [N]);
    }
    close(seq([1, N, -3]).aggregate("spans", { sourceSpans: [0, 3] }).sourceAttributions!.data, [-3]);
  });
});

describe("scores aggregator", () => {
  const granular = () =>
    new FeatureAttributionSequenceOutput({
      kind: "granular",
      source: toks("a"),
      target: toks("a", "b"),
      targetAttributions: createTensor(["target", "generated", "hidden"], [2, 1, 3], [1, -4, 2, N, N, N]),
      attrPosStart: 1,
    });

  it("default function per kind (vnorm for granular, mean otherwise), function-id shorthand, options", () => {
    const g = granular();
    close(g.aggregate("scores", { normalize: false }).targetAttributions!.data, [Math.sqrt(21), N]);
    close(g.aggregate("vnorm", { normalize: false }).targetAttributions!.data, [Math.sqrt(21), N]);
    close(g.aggregate("mean", { normalize: false }).targetAttributions!.data, [-1 / 3, N]);
    close(g.aggregate("scores", { aggregateFn: "sum", normalize: false }).targetAttributions!.data, [-1, N]);
    close(g.aggregate("sum").targetAttributions!.data, [-1, N]); // normalised: -1 / |-1|
    close(g.aggregate("vnorm", { vnormOrd: 1, normalize: false }).targetAttributions!.data, [7, N]);
    close(g.aggregate("sum", { selectIdx: [0, -1], normalize: false }).targetAttributions!.data, [3, N]);
    close(g.aggregate("sum", { selectIdx: -2, normalize: false }).targetAttributions!.data, [-4, N]);
    close(g.aggregate("max", { rescale: true }).targetAttributions!.data, [1, N]);
    const base = g.with({ kind: "base" });
    close(base.aggregate("scores", { normalize: false }).targetAttributions!.data, [-1 / 3, N]);
    // Step scores untouched, input not modified.
    expect(g.targetAttributions!.shape).toEqual([2, 1, 3]);
  });

  it("aggregate() with no arguments is the default aggregation", () => {
    const g = granular();
    const a = g.aggregate();
    const b = g.defaultAggregate();
    close(a.targetAttributions!.data, [...b.targetAttributions!.data]);
    close(g.aggregate(undefined, { normalize: false }).targetAttributions!.data, [Math.sqrt(21), N]);
    const coarse = decoderOnly(["a", "b"], 1, { shape: [2, 1], data: [3, N] });
    expect(coarse.aggregate()).toBe(coarse);
  });

  it("Inseq's 2-D check at the end of a scores pipeline, bypassed with doPostAggregationChecks: false", () => {
    // attention-like [target, generated, layer, head]
    const att = new FeatureAttributionSequenceOutput({
      kind: "multidimensional",
      source: toks("a"),
      target: toks("a", "b", "c"),
      targetAttributions: filled(["target", "generated", "layer", "head"], [3, 2, 2, 2], ([r, c]) => r! > c! + 0),
      attrPosStart: 1,
    });
    expectInseqError(() => att.aggregate("mean"), ErrorCode.INVALID_OPTION, /2-D.*doPostAggregationChecks/);
    expect(att.aggregate("mean", { doPostAggregationChecks: false }).targetAttributions!.shape).toEqual([3, 2, 2]);
    const twice = att.aggregate(["mean", "mean"]);
    expect(twice.targetAttributions!.shape).toEqual([3, 2]);
    close(twice.targetAttributions!.data, [...att.aggregate().targetAttributions!.data]);
  });
});

describe("spans aggregator", () => {
  // Decoder-only: a b | c d e f (attrPosStart 2), columns predict c, d, e, f; NaN where a row is not in the prefix.
  const T = [
    [0.1, 0.2, -0.3, 0.4],
    [0.5, -0.6, 0.1, 0.2],
    [N, 0.7, -0.8, 0.1],
    [N, N, 0.2, -0.9],
    [N, N, N, 0.3],
    [N, N, N, N],
  ];
  const seq = () =>
    decoderOnly(["a", "b", "c", "d", "e", "f"], 2, { shape: [6, 4], data: T.flat() }, {
      stepScores: {
        probability: f32(0.5, 0.4, 0.2, 0.9),
        entropy: f32(1, 2, 3, 4),
        logit: f32(1, -3, 2, 0),
        deltas: f32(0.1, -0.2, 0.3, 0),
        my_score: f32(-1, 2, -5, 1),
      },
    });

  it("target spans merge rows and generated columns, update positions and step scores", () => {
    const out = seq().aggregate("spans", { targetSpans: [[1, 3], [3, 5]] });
    expect(strs(out.target)).toEqual(["a", "bc", "de", "f"]);
    expect(out.target.map((t) => t.id)).toEqual([100, -1, -1, 105]);
    // [1, 3) straddles the generation start: "bc" becomes the first generated token.
    expect(out.attrPosStart).toBe(1);
    expect(out.attrPosEnd).toBe(4);
    expect(strs(out.source)).toEqual(["a"]);
    expect(out.targetAttributions!.shape).toEqual([4, 3]);
    // Columns: [c], [d, e], [f] (absmax); rows: [a], [b, c], [d, e], [f].
    close(out.targetAttributions!.data, [0.1, -0.3, 0.4, 0.5, -0.8, 0.2, N, 0.2, -0.9, N, N, N]);
    close(out.stepScores.probability!, [0.5, 0.08, 0.9]); // prod
    close(out.stepScores.entropy!, [1, 5, 4]); // sum
    close(out.stepScores.logit!, [1, -3, 0]); // absmax (not in Inseq's table)
    close(out.stepScores.deltas!, [0.1, 0.3, 0]); // absmax
    close(out.stepScores.my_score!, [-1, -5, 1]); // anything else: absmax
  });

  it("an explicit aggregateFn applies to every field, step scores included (as Inseq)", () => {
    const out = seq().aggregate("spans", { targetSpans: [3, 5], aggregateFn: "sum" });
    expect(strs(out.target)).toEqual(["a", "b", "c", "de", "f"]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([2, 5]);
    close(out.stepScores.probability!, [0.5, 0.6, 0.9]);
    // Columns d+e summed first (row d: [N, N + 0.2 = N, -0.9]), then rows d+e (NaN propagates through sum).
    close(out.targetAttributions!.data, [0.1, -0.1, 0.4, 0.5, -0.5, 0.2, N, -0.1, 0.1, N, N, -0.6, N, N, N]);
  });

  it("prefix-only spans move attrPosStart back and leave the columns", () => {
    const out = seq().aggregate("spans", { targetSpans: [0, 2] });
    expect(strs(out.target)).toEqual(["ab", "c", "d", "e", "f"]);
    expect(strs(out.source)).toEqual(["ab"]);
    expect([out.attrPosStart, out.attrPosEnd, out.nSteps]).toEqual([1, 5, 4]);
    close(out.targetAttributions!.data.subarray(0, 4), [0.5, -0.6, -0.3, 0.4]);
    close(out.stepScores.probability!, [0.5, 0.4, 0.2, 0.9]);
  });

  it("encoder-decoder shapes of Inseq's test_continuous_span_aggregator, extra dims kept", () => {
    // "This is a test." on opus-mt-en-it: source 6 tokens, target 8 (<pad> + 7 generated), hidden kept.
    const s = new FeatureAttributionSequenceOutput({
      kind: "granular",
      source: toks("▁This", "▁is", "▁a", "▁test", ".", "</s>"),
      target: toks("<pad>", "▁Questo", "▁è", "▁un", "▁test", ".", "</s>", "x"),
      sourceAttributions: filled(["source", "generated", "hidden"], [6, 7, 3]),
      targetAttributions: filled(["target", "generated", "hidden"], [8, 7, 3], ([r, c]) => r! > c!),
      stepScores: { probability: f32(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3) },
      sequenceScores: { encoder_self_scores: filled(["source", "source"], [6, 6]) },
      attrPosStart: 1,
    });
    const out = s.aggregate("spans", { sourceSpans: [3, 5], targetSpans: [[0, 3], [4, 6]] });
    expect(out.sourceAttributions!.shape).toEqual([5, 5, 3]);
    expect(out.targetAttributions!.shape).toEqual([5, 5, 3]);
    expect(out.stepScores.probability!.length).toBe(5);
    expect(out.sequenceScores.encoder_self_scores!.shape).toEqual([5, 5]);
    expect(strs(out.source)).toEqual(["▁This", "▁is", "▁a", "▁test.", "</s>"]);
    expect(strs(out.target)).toEqual(["<pad>▁Questo▁è", "▁un", "▁test.", "</s>", "x"]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([0, 5]);
    // Generated columns [0, 2) (from target span [0, 3)) and [3, 5) (from [4, 6)) are merged; probability by prod.
    close(out.stepScores.probability!, [0.72, 0.7, 0.3, 0.4, 0.3]);
    // Source row 3 ("▁test.") at merged column 0: absmax over rows 3..4, columns 0..1, per hidden unit.
    const src = s.sourceAttributions!;
    for (let h = 0; h < 3; h++) {
      const ref = absmaxRef([cell(src, 3, 0, h), cell(src, 3, 1, h), cell(src, 4, 0, h), cell(src, 4, 1, h)]);
      expect(cell(out.sourceAttributions!, 3, 0, h)).toBe(ref);
    }
  });

  it("validates spans like Inseq (integers, >= 2 tokens, ascending, non-overlapping, in range)", () => {
    const s = seq();
    const bad: unknown[] = [[1, 2], [[0, 3], [2, 4]], [[3, 5], [0, 2]], [4, 9], [-1, 2], [0.5, 2], "0-2", [[0, 2, 3]]];
    for (const targetSpans of bad) {
      expectInseqError(() => s.aggregate("spans", { targetSpans: targetSpans as never }), ErrorCode.INVALID_OPTION, /targetSpans/);
    }
    // { start, end } objects work too.
    expect(strs(s.aggregate("spans", { targetSpans: { start: 0, end: 2 } }).target)).toEqual(["ab", "c", "d", "e", "f"]);
    // Decoder-only outputs have no separate source to merge.
    expectInseqError(() => s.aggregate("spans", { sourceSpans: [0, 2] }), ErrorCode.INVALID_OPTION, /decoder-only/);
    // No spans: nothing changes.
    expect(s.aggregate("spans")).toBe(s);
  });

  it("step-score span functions follow Inseq's table", () => {
    const table: Record<string, string> = {
      probability: "prod", entropy: "sum", crossentropy: "sum", perplexity: "prod", contrast_prob_diff: "prod",
      contrast_prob: "prod", pcxmi: "sum", kl_divergence: "sum", mc_dropout_prob_avg: "prod", deltas: "absmax",
      logit: "absmax", in_context_pvi: "absmax", whatever: "absmax", logprob: "sum",
    };
    for (const [name, fn] of Object.entries(table)) expect(stepScoreSpanFunction(name), name).toBe(fn);
  });
});

describe("pipelines", () => {
  // Decoder-only a b | c d, hidden 2; base kind, so `scores` defaults to mean.
  const seq = () =>
    decoderOnly(
      ["a", "b", "c", "d"],
      2,
      { shape: [4, 2, 2], data: [1, -3, 2, 2, 0.5, 0.5, -4, 1, N, N, 1, 0, N, N, N, N] },
      { kind: "base" },
    );

  it("order matters: spans then scores ≠ scores then spans (exact values)", () => {
    const a = seq().aggregate(["spans", "scores"], { targetSpans: [0, 2] });
    expect(strs(a.target)).toEqual(["ab", "c", "d"]);
    expect([a.attrPosStart, a.attrPosEnd]).toEqual([1, 3]);
    expect(a.targetAttributions!.shape).toEqual([3, 2]);
    // absmax over rows a, b per hidden unit -> [1, -3], [-4, 2]; mean -> -1, -1; normalised per column.
    close(a.targetAttributions!.data, [-1, -2 / 3, N, 1 / 3, N, N]);
    const b = seq().aggregate(["scores", "spans"], { targetSpans: [0, 2] });
    // mean -> [-1, 2], [0.5, -1.5], [NaN, 0.5]; normalised -> [-2/3, 0.5], [1/3, -0.375], [NaN, 0.125]; absmax rows a, b.
    close(b.targetAttributions!.data, [-2 / 3, 0.5, N, 0.125, N, N]);
  });

  it("aggregateFn aligned with the pipeline, [id, fn] pairs and per-step options", () => {
    close(seq().aggregate(["spans", "scores"], { targetSpans: [0, 2], aggregateFn: [null, "sum"], normalize: false }).targetAttributions!.data, [-2, -2, N, 1, N, N]);
    const expected = [-0.5, 0.5, N, 0.5, N, N]; // spans by sum: [1.5, -2.5], [-2, 3]; then mean
    close(seq().aggregate(["spans", "scores"], { targetSpans: [0, 2], aggregateFn: ["sum", null], normalize: false }).targetAttributions!.data, expected);
    close(seq().aggregate([["spans", "sum"], ["scores"]], { targetSpans: [0, 2], normalize: false }).targetAttributions!.data, expected);
    close(
      seq().aggregate([
        { aggregator: "spans", aggregateFn: "sum", options: { targetSpans: [0, 2] } },
        { aggregator: "scores", options: { normalize: false } },
      ]).targetAttributions!.data,
      expected,
    );
    // Function ids as pipeline steps: ["mean"] ≡ ["scores"] with mean.
    close(seq().aggregate(["mean"], { normalize: false }).targetAttributions!.data, [...seq().aggregate("scores", { normalize: false }).targetAttributions!.data]);
  });

  it("Inseq's equivalence: ['scores', 'scores', 'subwords'] with ['mean', 'mean', null] ≡ ['mean', 'mean', 'subwords']", () => {
    const att = new FeatureAttributionSequenceOutput({
      kind: "multidimensional",
      source: toks("▁He", "llo"),
      target: toks("▁He", "llo", "▁wor", "ld"),
      targetAttributions: filled(["target", "generated", "layer", "head"], [4, 2, 2, 3], ([r, c]) => r! >= 2 + c!),
      stepScores: { probability: f32(0.5, 0.5) },
      attrPosStart: 2,
    });
    const a = att.aggregate(["scores", "scores", "subwords"], { aggregateFn: ["mean", "mean", null] });
    const b = att.aggregate(["mean", "mean", "subwords"]);
    expect(strs(a.target)).toEqual(["▁Hello", "▁world"]);
    expect(a.targetAttributions!.shape).toEqual([2, 1]);
    close(a.targetAttributions!.data, [...b.targetAttributions!.data]);
    close(a.stepScores.probability!, [0.25]);
  });

  it("errors: unknown ids, misaligned functions, unknown options", () => {
    const s = seq();
    expectInseqError(() => s.aggregate("median"), ErrorCode.INVALID_OPTION, /scores, spans, subwords, split, pair, slices.*mean/);
    expectInseqError(() => s.aggregate(["spans", "nope"]), ErrorCode.INVALID_OPTION, /"nope"/);
    expectInseqError(() => s.aggregate("scores", { aggregateFn: "median" }), ErrorCode.INVALID_OPTION, /aggregate function/);
    expectInseqError(() => s.aggregate("scores", { aggregateFn: ["mean"] }), ErrorCode.INVALID_OPTION, /single aggregation function/);
    expectInseqError(() => s.aggregate(["spans", "scores"], { aggregateFn: ["mean"] }), ErrorCode.INVALID_OPTION, /2 entries/);
    expectInseqError(() => s.aggregate(["spans", "scores"], { aggregateFn: "mean" }), ErrorCode.INVALID_OPTION, /aligned/);
    expectInseqError(() => s.aggregate("mean", { aggregateFn: "sum" }), ErrorCode.INVALID_OPTION, /aggregateFn/);
    expectInseqError(() => s.aggregate([["spans", "sum"]], { aggregateFn: ["mean"] }), ErrorCode.INVALID_OPTION, /not both/);
    expectInseqError(() => s.aggregate("slices", { aggregateFn: "sum" }), ErrorCode.INVALID_OPTION, /slices/);
    expectInseqError(() => s.aggregate(undefined, { aggregateFn: "sum" }), ErrorCode.INVALID_OPTION, /default aggregation/);
    expectInseqError(() => s.aggregate("scores", { targetSpans: [0, 2] }), ErrorCode.UNKNOWN_OPTION, /targetSpans.*normalize/);
    expectInseqError(() => s.aggregate("spans", { tragetSpans: [0, 2] } as never), ErrorCode.UNKNOWN_OPTION, /tragetSpans/);
    expectInseqError(() => s.aggregate([{ aggregator: "scores", options: { sourceSpans: [0, 2] } }]), ErrorCode.UNKNOWN_OPTION, /scores aggregator/);
    expectInseqError(() => s.aggregate(42 as never), ErrorCode.INVALID_OPTION);
  });

  it("lists Inseq's aggregator ids (also from the package entry point)", () => {
    expect(listAggregators()).toEqual(["scores", "spans", "subwords", "split", "pair", "slices"]);
    expect(api.listAggregators()).toEqual(listAggregators());
  });
});

describe("subwords aggregator", () => {
  it("merges the Marian fixture (source + target), merged tokens get id -1", () => {
    const seq = marianOutput();
    const out = seq.aggregate("subwords");
    expect(strs(out.source)).toEqual(MARIAN_SOURCE_MERGED);
    expect(strs(out.target)).toEqual(MARIAN_TARGET_MERGED);
    expect(out.source.map((t) => t.id)).toEqual([-1, 103, 104, 105, 106, 107, 108, 109, -1, -1, 117]);
    expect(out.target[0]).toEqual({ token: "<pad>", id: 100 });
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([1, 12]);
    expect(out.sourceAttributions!.shape).toEqual([11, 11, 2]);
    expect(out.targetAttributions!.shape).toEqual([12, 11, 2]);
    // Column spans: target [1, 4) -> columns [0, 3), [6, 9) -> [5, 8), [10, 13) -> [9, 12), [16, 20) -> [15, 19).
    const p = seq.stepScores.probability!;
    close(out.stepScores.probability!.subarray(0, 2), [p[0]! * p[1]! * p[2]!, p[3]!], 1e-6);
    // "▁sequence-to-sequence" (source rows 10..14) at merged column 1 ("▁è", column 3).
    const src = seq.sourceAttributions!;
    for (let h = 0; h < 2; h++) {
      const ref = absmaxRef([10, 11, 12, 13, 14].map((r) => cell(src, r, 3, h)));
      expect(cell(out.sourceAttributions!, 8, 1, h)).toBe(ref);
    }
    // "▁Inseq" (target rows 1..3) at merged column 0 (columns 0..2): only row 1 of column 0 and rows 1..2 of
    // column 1 etc. are in the prefix, the NaN cells are skipped by absmax.
    const tgt = seq.targetAttributions!;
    for (let h = 0; h < 2; h++) {
      const vals: number[] = [];
      for (const r of [1, 2, 3]) for (const c of [0, 1, 2]) vals.push(cell(tgt, r, c, h));
      expect(cell(out.targetAttributions!, 1, 0, h)).toBe(absmaxRef(vals));
    }
  });

  it("source-only and target-only aggregation (aggregateTarget / aggregateSource: false)", () => {
    const seq = marianOutput();
    const srcOnly = seq.aggregate("subwords", { aggregateTarget: false });
    expect(strs(srcOnly.source)).toEqual(MARIAN_SOURCE_MERGED);
    expect(strs(srcOnly.target)).toEqual(MARIAN_TARGET);
    expect(srcOnly.sourceAttributions!.shape).toEqual([11, 20, 2]);
    const tgtOnly = seq.aggregate("subwords", { aggregateSource: false });
    expect(strs(tgtOnly.source)).toEqual(MARIAN_SOURCE);
    expect(strs(tgtOnly.target)).toEqual(MARIAN_TARGET_MERGED);
    expect(tgtOnly.sourceAttributions!.shape).toEqual([18, 11, 2]);
  });

  it("GPT-2 prefix test: ('Ġ', 'Ċ') markers, a word straddling the generation start, then the default aggregation", () => {
    // "Hello, world! I am,:." -> "Hello, world! I am,:.!,. Last" (Inseq's test_span_aggregator_with_prefix)
    const tokens = ["Hello", ",", "Ġworld", "!", "ĠI", "Ġam", ",:", ".", "!", ",.", "ĠLast"];
    const seq = decoderOnly(tokens, 8, null, {
      kind: "granular",
      targetAttributions: filled(["target", "generated", "hidden"], [11, 3, 4], ([r, c]) => r! >= 8 + c!),
      stepScores: { probability: f32(0.5, 0.25, 0.8) },
    });
    const words = seq.aggregate("subwords", { specialChars: ["Ġ", "Ċ"] });
    expect(strs(words.target)).toEqual(["Hello,", "Ġworld!", "ĠI", "Ġam,:.!,.", "ĠLast"]);
    expect(strs(words.source)).toEqual(["Hello,", "Ġworld!", "ĠI"]);
    expect([words.attrPosStart, words.attrPosEnd]).toEqual([3, 5]);
    close(words.stepScores.probability!, [0.125, 0.8]);
    const agg = words.aggregate();
    expect(agg.targetAttributions!.shape).toEqual([5, 2]);
    // The default "▁" marker finds nothing in GPT-2 tokens: no change (Inseq warns).
    expect(seq.aggregate("subwords")).toBe(seq);
  });

  it("marker rule: the last piece is merged, special tokens stand alone, WordPiece suffixes", () => {
    const m = (tokens: string[], chars?: string | string[], suffix?: boolean) => markerSpans(toks(...tokens), chars, suffix);
    // Inseq keeps the last piece apart ([0, 2) only); it belongs to the word.
    expect(m(["▁fra", "me", "work"])).toEqual([[0, 3]]);
    expect(m(["<pad>", "▁In", "se", "q", "</s>"])).toEqual([[1, 4]]);
    expect(m(["<|endoftext|>", "Hello", "Ġwor", "ld"], ["Ġ"])).toEqual([[2, 4]]);
    expect(m(["[CLS]", "phen", "##omen", "##al", "[SEP]"], "##", true)).toEqual([[1, 4]]);
    expect(m(["ĠA", "b"], "▁")).toEqual([]);
    // SentencePiece byte-fallback pieces are pieces, not special tokens.
    expect(m(["▁it", "<0xE2>", "<0x80>", "<0x99>", "s", "<0x0A>", "▁ok"])).toEqual([[0, 6]]);
    expectInseqError(() => m(["a"], []), ErrorCode.INVALID_OPTION, /specialChars/);
  });

  it("word ids, when every token has one, take precedence over markers", () => {
    const target: TokenWithId[] = [
      { token: "<s>", id: 1, wordId: null },
      { token: "▁Hel", id: 2, wordId: 0 },
      { token: "lo", id: 3, wordId: 0 },
      { token: ",", id: 4, wordId: 1 },
      { token: "▁wo", id: 5, wordId: 2 },
      { token: "rld", id: 6, wordId: 2 },
      { token: "</s>", id: 7, wordId: null },
    ];
    expect(wordIdSpans(target)).toEqual([[1, 3], [4, 6]]);
    const seq = new FeatureAttributionSequenceOutput({
      kind: "coarse",
      source: target.slice(0, 1),
      target,
      targetAttributions: createTensor(["target", "generated"], [7, 6], Array.from({ length: 42 }, (_, k) => k)),
      attrPosStart: 1,
    });
    const out = seq.aggregate("subwords");
    expect(strs(out.target)).toEqual(["<s>", "▁Hello", ",", "▁world", "</s>"]);
    expect(out.target.map((t) => t.wordId)).toEqual([null, 0, 1, 2, null]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([1, 5]);
    // With markers instead, the unmarked "," is glued to the word before it.
    expect(strs(seq.aggregate("subwords", { useWordIds: false }).target)).toEqual(["<s>", "▁Hello,", "▁world", "</s>"]);
  });
});

describe("split aggregator", () => {
  const tokens = ["▁Hello", "▁world", ".", "▁How", "▁are", "▁you", "?", "</s>"];
  const encDec = () =>
    new FeatureAttributionSequenceOutput({
      kind: "coarse",
      source: toks(...tokens),
      target: toks("<pad>", "▁Ciao"),
      sourceAttributions: createTensor(["source", "generated"], [8, 1], [1, 2, 3, 4, 5, 6, 7, 8]),
      targetAttributions: createTensor(["target", "generated"], [2, 1], [0.5, N]),
      attrPosStart: 1,
    });

  it("single / start / end modes", () => {
    const run = (splitMode: "single" | "start" | "end") => encDec().aggregate("split", { splitPattern: "[.?]", splitMode, aggregateTarget: false });
    let out = run("single");
    expect(strs(out.source)).toEqual(["▁Hello▁world", ".", "▁How▁are▁you", "?", "</s>"]);
    close(out.sourceAttributions!.data, [2, 3, 6, 7, 8]);
    out = run("end");
    expect(strs(out.source)).toEqual(["▁Hello▁world.", "▁How▁are▁you?", "</s>"]);
    close(out.sourceAttributions!.data, [3, 7, 8]);
    out = run("start");
    expect(strs(out.source)).toEqual(["▁Hello▁world", ".▁How▁are▁you", "?</s>"]);
    close(out.sourceAttributions!.data, [2, 6, 8]);
    expect(strs(encDec().aggregate("split", { splitPattern: /[.?]/ }).source)).toEqual(strs(run("single").source));
  });

  it("matches inside tokens, across tokens, zero-length matches", () => {
    const s = (t: string[], p: string | RegExp, mode?: "single" | "start" | "end") => splitSpans(toks(...t), p, mode);
    expect(s(["a", "b.c", "d", "e"], "\\.")).toEqual([[2, 4]]);
    expect(s(["x", "y-", "-z", "w"], "--")).toEqual([[1, 3]]);
    expect(s(["x", "y-", "-z", "w"], "--", "start")).toEqual([[1, 4]]);
    expect(s(["x", "y-", "-z", "w"], "--", "end")).toEqual([[0, 3]]);
    expect(s(["ĠHello", "Ġworld", "Ġfoo"], "(?=Ġw)", "start")).toEqual([[1, 3]]);
    expect(s(["ab", "c"], "zzz")).toEqual([[0, 2]]); // no match: one group
  });

  it("decoder-only: groups straddling nothing, positions and step scores", () => {
    const seq = decoderOnly(["A", "Ġb", ".", "ĠC", "Ġd", "."], 3, { shape: [6, 3], data: Array.from({ length: 18 }, (_, k) => k) }, {
      stepScores: { probability: f32(0.5, 0.5, 0.5) },
    });
    const out = seq.aggregate("split", { splitPattern: "\\.", splitMode: "end" });
    expect(strs(out.target)).toEqual(["AĠb.", "ĠCĠd."]);
    expect(strs(out.source)).toEqual(["AĠb."]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([1, 2]);
    close(out.stepScores.probability!, [0.125]);
    // rows 0..2 and 3..5, all three columns merged: absmax = the largest value of each block.
    close(out.targetAttributions!.data, [8, 17]);
  });

  it("errors", () => {
    expectInseqError(() => encDec().aggregate("split"), ErrorCode.INVALID_OPTION, /splitPattern/);
    expectInseqError(() => encDec().aggregate("split", { splitPattern: "(" }), ErrorCode.INVALID_OPTION, /splitPattern/);
    expectInseqError(() => encDec().aggregate("split", { splitPattern: "x", splitMode: "middle" as never }), ErrorCode.INVALID_OPTION, /splitMode/);
  });
});

describe("pair aggregator and diff", () => {
  it("paired − this, with 'a → b' labels (Inseq's test_pair_aggregator)", () => {
    const orig = marianOutput(MARIAN_SOURCE).aggregate("scores");
    const alt = marianOutput(MARIAN_ALT_SOURCE, 1).aggregate("scores");
    const diff = orig.aggregate("pair", { pairedAttr: alt });
    expect(strs(diff.source)).toEqual(["▁In → ▁On", ...MARIAN_SOURCE.slice(1)]);
    expect(diff.source[0]!.id).toBe(-1);
    expect(diff.source[1]!.id).toBe(101);
    expect(strs(diff.target)).toEqual(MARIAN_TARGET);
    close(diff.sourceAttributions!.data, Array.from(alt.sourceAttributions!.data, (v, i) => v - orig.sourceAttributions!.data[i]!), 1e-6);
    close(diff.targetAttributions!.data, Array.from(alt.targetAttributions!.data, (v, i) => v - orig.targetAttributions!.data[i]!), 1e-6);
    close(diff.stepScores.probability!, Array.from(orig.stepScores.probability!, () => 0.001), 1e-6);
    expect([diff.attrPosStart, diff.attrPosEnd]).toEqual([orig.attrPosStart, orig.attrPosEnd]);
  });

  it("a.diff(b) is a − b (Inseq's a - b is b − a), labels read b → a", () => {
    const a = decoderOnly(["x", "▁On", "y"], 1, { shape: [3, 2], data: [1, 2, N, 3, N, N] }, { stepScores: { probability: f32(0.5, 0.25) } });
    const b = decoderOnly(["x", "▁In", "y"], 1, { shape: [3, 2], data: [0.5, -1, N, 1, N, N] }, { stepScores: { probability: f32(0.25, 0.5) } });
    const d = a.diff(b);
    close(d.targetAttributions!.data, [0.5, 3, N, 2, N, N]);
    close(d.stepScores.probability!, [0.25, -0.25]);
    expect(strs(d.target)).toEqual(["x", "▁In → ▁On", "y"]);
    expect(strs(d.source)).toEqual(["x"]);
    // Whole outputs: one to one.
    const A = new FeatureAttributionOutput([a, a], { model_name: "m" });
    const B = new FeatureAttributionOutput([b, b], { model_name: "m" });
    const D = A.diff(B);
    expect(D.length).toBe(2);
    close(D.sequenceAttributions[1]!.targetAttributions!.data, [0.5, 3, N, 2, N, N]);
    expect(D.info).toEqual({ model_name: "m" });
    const P = B.aggregate("pair", { pairedAttr: A });
    close(P.sequenceAttributions[0]!.targetAttributions!.data, [0.5, 3, N, 2, N, N]);
    expectInseqError(() => B.aggregate("pair", { pairedAttr: new FeatureAttributionOutput([a]) }), ErrorCode.INVALID_OPTION, /2 sequences/);
    // One sequence output pairs with every sequence.
    const Q = B.aggregate("pair", { pairedAttr: a });
    expect(strs(Q.sequenceAttributions[1]!.target)).toEqual(["x", "▁In → ▁On", "y"]);
  });

  it("errors: missing pairedAttr, shape and score mismatches", () => {
    const a = decoderOnly(["x", "y", "z"], 1, { shape: [3, 2], data: [1, 2, N, 3, N, N] }, { stepScores: { probability: f32(0.5, 0.25) } });
    expectInseqError(() => a.aggregate("pair"), ErrorCode.INVALID_OPTION, /pairedAttr/);
    expectInseqError(() => a.aggregate("pair", { pairedAttr: {} as never }), ErrorCode.INVALID_OPTION, /pairedAttr/);
    const longer = decoderOnly(["x", "y", "z", "w"], 1, { shape: [4, 3], data: Array(12).fill(0) }, { stepScores: { probability: f32(1, 1, 1) } });
    expectInseqError(() => a.diff(longer), ErrorCode.INVALID_OPTION, /target lengths/);
    const noScores = decoderOnly(["x", "y", "z"], 1, { shape: [3, 2], data: [1, 2, N, 3, N, N] });
    expectInseqError(() => noScores.diff(a), ErrorCode.INVALID_OPTION, /probability/);
    const wide = decoderOnly(["x", "y", "z"], 1, { shape: [3, 2, 2], data: Array(12).fill(0) }, { stepScores: { probability: f32(1, 1) } });
    expectInseqError(() => wide.diff(a), ErrorCode.INVALID_OPTION, /targetAttributions shapes/);
  });
});

describe("slices aggregator", () => {
  const tokens = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"];
  const seq = () =>
    decoderOnly(tokens, 6, { shape: [10, 4], data: Array.from({ length: 40 }, (_, k) => Math.floor(k / 4) * 10 + (k % 4)) }, {
      stepScores: { probability: f32(0.1, 0.2, 0.3, 0.4) },
    });
  const rowsOf = (s: FeatureAttributionSequenceOutput) => Array.from({ length: s.targetAttributions!.shape[0]! }, (_, r) => s.targetAttributions!.data[r * 4]! / 10);

  it("decoder-only: prefix spans kept, generated tokens always kept, positions recomputed", () => {
    let out = seq().aggregate("slices", { targetSpans: [2, 4] });
    expect(strs(out.target)).toEqual(["t2", "t3", "t6", "t7", "t8", "t9"]);
    expect(strs(out.source)).toEqual(["t2", "t3"]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([2, 6]);
    expect(rowsOf(out)).toEqual([2, 3, 6, 7, 8, 9]);
    close(out.stepScores.probability!, [0.1, 0.2, 0.3, 0.4]);
    out = seq().aggregate("slices", { targetSpans: [4, 8] }); // reaches the generation: extended to the end
    expect(strs(out.target)).toEqual(["t4", "t5", "t6", "t7", "t8", "t9"]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([2, 6]);
    out = seq().aggregate("slices", { targetSpans: [[0, 1], [7, 9]] }); // single-token spans are fine here
    expect(strs(out.target)).toEqual(["t0", "t6", "t7", "t8", "t9"]);
    expect(strs(out.source)).toEqual(["t0"]);
    expect([out.attrPosStart, out.attrPosEnd]).toEqual([1, 5]);
    expect(rowsOf(out)).toEqual([0, 6, 7, 8, 9]);
    expectInseqError(() => seq().aggregate("slices", { sourceSpans: [0, 2] }), ErrorCode.INVALID_OPTION, /decoder-only/);
    expectInseqError(() => seq().aggregate("slices", { targetSpans: [[3, 5], [4, 6]] }), ErrorCode.INVALID_OPTION, /targetSpans/);
  });

  it("encoder-decoder: source spans slice the source rows (Inseq's source_spans=(1, 4))", () => {
    const s = new FeatureAttributionSequenceOutput({
      kind: "coarse",
      source: toks("s0", "s1", "s2", "s3", "s4", "s5"),
      target: toks("<pad>", "a", "b"),
      sourceAttributions: createTensor(["source", "generated"], [6, 2], [0, 1, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51]),
      targetAttributions: createTensor(["target", "generated"], [3, 2], [1, 1, N, 1, N, N]),
      sequenceScores: { encoder_self_scores: filled(["source", "source"], [6, 6]) },
      attrPosStart: 1,
    });
    const out = s.aggregate("slices", { sourceSpans: [1, 4] });
    expect(strs(out.source)).toEqual(["s1", "s2", "s3"]);
    close(out.sourceAttributions!.data, [10, 11, 20, 21, 30, 31]);
    expect(strs(out.target)).toEqual(["<pad>", "a", "b"]);
    expect(out.targetAttributions).toBe(s.targetAttributions);
    expect(out.sequenceScores.encoder_self_scores!.shape).toEqual([3, 3]);
    expect(cell(out.sequenceScores.encoder_self_scores!, 0, 2)).toBe(cell(s.sequenceScores.encoder_self_scores!, 1, 3));
  });
});

describe("FeatureAttributionOutput.aggregate", () => {
  it("aggregates every sequence with the same pipeline and copies info", () => {
    const info = { attribution_method: "saliency", nested: { a: 1 } };
    const out = new FeatureAttributionOutput([marianOutput(), marianOutput(MARIAN_SOURCE, 2)], info);
    const agg = out.aggregate(["subwords", "vnorm"]);
    expect(agg.length).toBe(2);
    for (const s of agg) {
      expect(strs(s.target)).toEqual(MARIAN_TARGET_MERGED);
      expect(s.targetAttributions!.shape).toEqual([12, 11]);
    }
    expect(agg.info).toEqual(info);
    expect(agg.info.nested).not.toBe(info.nested);
    // The default still works, unchanged.
    expect(out.aggregate().sequenceAttributions[0]!.targetAttributions!.shape).toEqual([21, 20]);
    // Originals untouched.
    expect(out.sequenceAttributions[0]!.targetAttributions!.shape).toEqual([21, 20, 2]);
  });
});
