/**
 * Attribution results: one `FeatureAttributionSequenceOutput` per attributed sequence, gathered in a
 * `FeatureAttributionOutput` with the run's `info`. Mirrors Python Inseq's `inseq.data.attribution` classes and
 * keeps its file format (see `inseq-json.ts`), so files move between the two tools.
 *
 * Tensor layout (row-major, float32, NaN = no score):
 * - `sourceAttributions`: `[source, generated, ...extra]` (encoder-decoder only)
 * - `targetAttributions`: `[target, generated, ...extra]`, NaN where a target row is not in the prefix of a step
 * - `stepScores[name]`: `[generated]`
 * where `generated` indexes `target[attrPosStart:attrPosEnd]`.
 */
import { existsSync } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { gunzip, gunzipSync, gzip, gzipSync } from "node:zlib";
import { promisify } from "node:util";
import { ErrorCode, InseqError, describeValue, invalidOption } from "../core/errors.js";
import { aggregateScoresFields, normalizeJoint, type AggregationFunctionId, type ScoresAggregationOptions } from "../aggregators/scores.js";
import { aggregateSequence, type AggregateOptions, type AggregatorInput } from "../aggregators/pipeline.js";
import { pairDiff } from "../aggregators/pair.js";
import { cloneTensor, minMaxNanAsZero, tensorsClose, type ScoreTensor } from "./tensor.js";
import {
  decodeOutputDocument,
  defaultExtraDimNames,
  encodeOutputDocument,
  parseOutputDocument,
  serializeOutputDocument,
  type OutputData,
  type ScoresPrecision,
  type SequenceOutputData,
} from "./inseq-json.js";
import { renderTerminal, type TerminalRenderOptions } from "../viz/terminal.js";
import { renderHtml, type HtmlRenderOptions } from "../viz/html.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** A token and its vocabulary id (-1 for synthetic tokens such as merged spans). */
export interface TokenWithId {
  token: string;
  id: number;
  /**
   * Optional index of the word the token belongs to (the tokenizer's pre-tokenizer word id; null for special
   * tokens). When every token of a list has one, the `subwords` aggregator merges by word id instead of by
   * markers. Not saved (Inseq's `TokenWithId` has no such field) and ignored by `equals`.
   */
  wordId?: number | null;
}

/**
 * Which Python class the output maps to, and so its default aggregation:
 * - `granular` (`GranularFeatureAttributionSequenceOutput`): one score per hidden unit; L2 norm then normalise
 * - `coarse` (`CoarseFeatureAttributionSequenceOutput`): already one score per token; no aggregation
 * - `multidimensional` (`MultiDimensionalFeatureAttributionSequenceOutput`): e.g. `[layer, head]` for attention;
 *   mean + normalise per extra axis, last axis first
 * - `base` (`FeatureAttributionSequenceOutput`): mean + normalise per extra axis
 */
export type SequenceOutputKind = "granular" | "coarse" | "multidimensional" | "base";

const KINDS: readonly SequenceOutputKind[] = ["granular", "coarse", "multidimensional", "base"];

export interface SequenceOutputInit {
  source: TokenWithId[];
  target: TokenWithId[];
  sourceAttributions?: ScoreTensor | null;
  targetAttributions?: ScoreTensor | null;
  stepScores?: Record<string, Float32Array>;
  sequenceScores?: Record<string, ScoreTensor>;
  attrPosStart?: number;
  /** Defaults to (and is clamped at) `target.length`. */
  attrPosEnd?: number;
  kind?: SequenceOutputKind;
  /** Names of the axes after `[attributed, generated]`; defaults to the tensors' own dim names. */
  extraDimNames?: string[];
}

export interface SequenceOutputConstructorOptions {
  /** Check tensor shapes against token counts and positions (Inseq's `is_compatible`); default true. */
  validate?: boolean;
}

function assertTokens(name: string, tokens: unknown): asserts tokens is TokenWithId[] {
  if (!Array.isArray(tokens)) throw invalidOption(name, "an array of { token, id }", tokens);
  tokens.forEach((t, i) => {
    if (t === null || typeof t !== "object" || typeof (t as TokenWithId).token !== "string" || typeof (t as TokenWithId).id !== "number") {
      throw invalidOption(`${name}[${i}]`, "a { token: string, id: number } object", t);
    }
  });
}

function assertTensor(name: string, t: unknown): asserts t is ScoreTensor {
  const x = t as ScoreTensor;
  if (x === null || typeof x !== "object" || !(x.data instanceof Float32Array) || !Array.isArray(x.shape) || !Array.isArray(x.dims)) {
    throw invalidOption(name, "a { dims, shape, data: Float32Array } tensor", t);
  }
  let n = 1;
  for (const s of x.shape) n *= s;
  if (n !== x.data.length || x.dims.length !== x.shape.length) {
    throw invalidOption(
      name,
      `a tensor whose data length and dims match shape [${x.shape.join(", ")}]`,
      `${x.data.length} values, ${x.dims.length} dims`,
    );
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k]));
}

/** One generated step across the batch (Inseq's FeatureAttributionStepOutput). */
export interface FeatureAttributionStepOutput {
  /** Step index (column j of every sequence output). */
  step: number;
  /** [batch, prefix, ...extra]: each sequence's scores for its token at this step (rows padded with NaN). */
  targetAttributions: ScoreTensor | null;
  /** name -> [batch] (NaN for sequences with fewer steps). */
  stepScores: Record<string, Float32Array>;
  /** The predicted token of each sequence at this step (null where a sequence has no such step). */
  target: Array<TokenWithId | null>;
}

/** Attribution scores for one sequence. Instances are treated as immutable by the library's methods. */
export class FeatureAttributionSequenceOutput implements SequenceOutputData {
  source: TokenWithId[];
  target: TokenWithId[];
  sourceAttributions: ScoreTensor | null;
  targetAttributions: ScoreTensor | null;
  stepScores: Record<string, Float32Array>;
  sequenceScores: Record<string, ScoreTensor>;
  attrPosStart: number;
  attrPosEnd: number;
  kind: SequenceOutputKind;
  extraDimNames: string[];

  constructor(init: SequenceOutputInit, options: SequenceOutputConstructorOptions = {}) {
    if (init === null || typeof init !== "object") throw invalidOption("sequence output", "an object", init);
    assertTokens("source", init.source);
    assertTokens("target", init.target);
    this.source = init.source;
    this.target = init.target;
    this.sourceAttributions = init.sourceAttributions ?? null;
    this.targetAttributions = init.targetAttributions ?? null;
    if (this.sourceAttributions) assertTensor("sourceAttributions", this.sourceAttributions);
    if (this.targetAttributions) assertTensor("targetAttributions", this.targetAttributions);
    this.stepScores = init.stepScores ?? {};
    for (const [k, v] of Object.entries(this.stepScores)) {
      if (!(v instanceof Float32Array)) throw invalidOption(`stepScores.${k}`, "a Float32Array", v);
    }
    this.sequenceScores = init.sequenceScores ?? {};
    for (const [k, v] of Object.entries(this.sequenceScores)) assertTensor(`sequenceScores.${k}`, v);
    const kind = init.kind ?? "base";
    if (!KINDS.includes(kind)) throw invalidOption("kind", `one of ${KINDS.join(", ")}`, kind);
    this.kind = kind;
    this.attrPosStart = init.attrPosStart ?? 0;
    let end = init.attrPosEnd ?? this.target.length;
    if (end > this.target.length) end = this.target.length;
    this.attrPosEnd = end;
    if (!Number.isInteger(this.attrPosStart) || this.attrPosStart < 0) {
      throw invalidOption("attrPosStart", "a non-negative integer", init.attrPosStart);
    }
    if (!Number.isInteger(this.attrPosEnd) || this.attrPosEnd < this.attrPosStart) {
      throw invalidOption("attrPosEnd", `an integer >= attrPosStart (${this.attrPosStart})`, init.attrPosEnd);
    }
    const ref = this.sourceAttributions ?? this.targetAttributions;
    const nExtra = ref ? Math.max(0, ref.shape.length - 2) : 0;
    this.extraDimNames = init.extraDimNames ? [...init.extraDimNames] : ref ? ref.dims.slice(2) : defaultExtraDimNames(kind, nExtra);
    if (this.extraDimNames.length !== nExtra) {
      throw invalidOption("extraDimNames", `${nExtra} names (one per axis after [attributed, generated])`, this.extraDimNames);
    }
    if (options.validate ?? true) this.validate();
  }

  /** Throws ERR_INVALID_OPTION if tensor shapes disagree with the tokens and positions (Inseq's `is_compatible`). */
  validate(): void {
    const steps = this.nSteps;
    const check = (name: string, t: ScoreTensor | null, rows: number) => {
      if (!t) return;
      if (t.shape.length < 2 || t.shape[0] !== rows || t.shape[1] !== steps) {
        throw invalidOption(name, `a tensor of shape [${rows}, ${steps}, ...]`, `shape [${t.shape.join(", ")}]`);
      }
    };
    check("sourceAttributions", this.sourceAttributions, this.source.length);
    check("targetAttributions", this.targetAttributions, Math.min(this.target.length, this.attrPosEnd));
    if (this.sourceAttributions && this.targetAttributions) {
      const a = this.sourceAttributions.shape.slice(2).join(",");
      const b = this.targetAttributions.shape.slice(2).join(",");
      if (a !== b) throw invalidOption("targetAttributions", `extra axes [${a}] like sourceAttributions`, `[${b}]`);
    }
    for (const [name, v] of Object.entries(this.stepScores)) {
      if (v.length !== steps) throw invalidOption(`stepScores.${name}`, `${steps} values (one per generated step)`, v.length);
    }
  }

  /** Number of attributed generation steps (`attrPosEnd - attrPosStart`). */
  get nSteps(): number {
    return this.attrPosEnd - this.attrPosStart;
  }

  /** The generated tokens the columns correspond to: `target[attrPosStart:attrPosEnd]`. */
  get generatedTokens(): TokenWithId[] {
    return this.target.slice(this.attrPosStart, this.attrPosEnd);
  }

  /** Number of axes after `[attributed, generated]`. */
  get numExtraDims(): number {
    const ref = this.sourceAttributions ?? this.targetAttributions;
    return ref ? Math.max(0, ref.shape.length - 2) : 0;
  }

  /** Smallest score (NaN as 0, never above 0), like Inseq's `minimum`. */
  get minimum(): number {
    let m = 0;
    for (const t of [this.sourceAttributions, this.targetAttributions]) if (t) m = Math.min(m, minMaxNanAsZero(t).min);
    return m;
  }

  /** Largest score (NaN as 0, never below 0), like Inseq's `maximum`. */
  get maximum(): number {
    let m = 0;
    for (const t of [this.sourceAttributions, this.targetAttributions]) if (t) m = Math.max(m, minMaxNanAsZero(t).max);
    return m;
  }

  /** A copy with some fields replaced (tensors not replaced are shared, not copied). */
  with(fields: Partial<SequenceOutputInit>, options?: SequenceOutputConstructorOptions): FeatureAttributionSequenceOutput {
    return new FeatureAttributionSequenceOutput(
      {
        source: this.source,
        target: this.target,
        sourceAttributions: this.sourceAttributions,
        targetAttributions: this.targetAttributions,
        stepScores: this.stepScores,
        sequenceScores: this.sequenceScores,
        attrPosStart: this.attrPosStart,
        attrPosEnd: this.attrPosEnd,
        kind: this.kind,
        // Keep the axis names unless new tensors come with their own.
        ...(fields.sourceAttributions !== undefined || fields.targetAttributions !== undefined
          ? {}
          : { extraDimNames: this.extraDimNames }),
        ...fields,
      },
      options,
    );
  }

  /** Deep copy. */
  clone(): FeatureAttributionSequenceOutput {
    return new FeatureAttributionSequenceOutput(
      {
        source: this.source.map((t) => ({ ...t })),
        target: this.target.map((t) => ({ ...t })),
        sourceAttributions: this.sourceAttributions ? cloneTensor(this.sourceAttributions) : null,
        targetAttributions: this.targetAttributions ? cloneTensor(this.targetAttributions) : null,
        stepScores: Object.fromEntries(Object.entries(this.stepScores).map(([k, v]) => [k, new Float32Array(v)])),
        sequenceScores: Object.fromEntries(Object.entries(this.sequenceScores).map(([k, v]) => [k, cloneTensor(v)])),
        attrPosStart: this.attrPosStart,
        attrPosEnd: this.attrPosEnd,
        kind: this.kind,
        extraDimNames: [...this.extraDimNames],
      },
      { validate: false },
    );
  }

  /**
   * Inseq's `scores` aggregator: reduces the last axis of the attributions (and of every sequence-scores tensor)
   * with `fn`, then L1-normalises each generated-token column over source + target rows (`normalize`, default) or
   * divides by the global max |value| (`rescale`). Step scores are kept. Returns a new output of the same kind.
   */
  aggregateScores(
    fn: AggregationFunctionId | (string & {}),
    options: ScoresAggregationOptions = {},
  ): FeatureAttributionSequenceOutput {
    const out = aggregateScoresFields(
      { sourceAttributions: this.sourceAttributions, targetAttributions: this.targetAttributions, sequenceScores: this.sequenceScores },
      fn,
      options,
    );
    return this.with(
      { ...out, extraDimNames: this.extraDimNames.slice(0, -1) },
      { validate: false },
    );
  }

  /**
   * Inseq's default aggregation for this kind, down to 2-D `[attributed, generated]` attributions:
   * granular → `vnorm` (L2 over the last axis) + normalisation; multidimensional (e.g. attention `[layer, head]`)
   * and base → `mean` + normalisation per extra axis, last first (heads, then layers); coarse → unchanged.
   * Already 2-D outputs are returned as is.
   */
  defaultAggregate(): FeatureAttributionSequenceOutput {
    let out: FeatureAttributionSequenceOutput = this;
    if (this.kind === "coarse") return this;
    if (this.kind === "granular" && this.numExtraDims === 0) {
      // hidden dimension already reduced (L2) on the device: what is left of the default is the L1 normalisation
      const present = [this.sourceAttributions, this.targetAttributions].filter((t): t is ScoreTensor => t !== null);
      const normalized = normalizeJoint(present);
      let k = 0;
      return this.with({
        sourceAttributions: this.sourceAttributions ? normalized[k++]! : null,
        targetAttributions: this.targetAttributions ? normalized[k++]! : null,
      });
    }
    const fn = this.kind === "granular" ? "vnorm" : "mean";
    while (out.numExtraDims > 0) out = out.aggregateScores(fn);
    return out;
  }

  /**
   * Inseq's `aggregate()`: runs an aggregator or a pipeline of aggregators (ids in `listAggregators()`;
   * aggregation-function ids such as "mean" or "vnorm" are shorthand for `scores` with that function) and returns a
   * new output. With no arguments: the default aggregation (`defaultAggregate`). See `lib/aggregators/pipeline.ts`
   * and docs/attribution.md ("Aggregation") for the options and the order semantics.
   *
   * @example
   * seq.aggregate("subwords", { specialChars: ["Ġ", "Ċ"] });
   * seq.aggregate(["spans", "scores"], { targetSpans: [[0, 3]], aggregateFn: [null, "vnorm"] });
   */
  aggregate(aggregator?: AggregatorInput, options?: AggregateOptions): FeatureAttributionSequenceOutput {
    if (aggregator === undefined && options === undefined) return this.defaultAggregate();
    return aggregateSequence(this, aggregator, options);
  }

  /**
   * `this - other`, field by field (attributions, step scores, sequence scores), for outputs of the same shapes.
   * It is the `pair` aggregator run on `other` with `pairedAttr: this`, so token labels read `"other → this"`
   * where the strings differ, and positions come from `other`.
   *
   * Note the order: Python Inseq's `x - y` (`__sub__`) computes `y - x`; here `a.diff(b)` is `a - b`.
   */
  diff(other: FeatureAttributionSequenceOutput): FeatureAttributionSequenceOutput {
    if (!(other instanceof FeatureAttributionSequenceOutput)) throw invalidOption("other", "a FeatureAttributionSequenceOutput", other);
    return pairDiff(other, this);
  }

  /** Field-wise comparison, tensors with `atol` (NaN equal to NaN), like Inseq's `__eq__`. */
  equals(other: FeatureAttributionSequenceOutput, atol = 1e-5): boolean {
    const tokEq = (a: TokenWithId[], b: TokenWithId[]) =>
      a.length === b.length && a.every((t, i) => t.token === b[i]!.token && t.id === b[i]!.id);
    const tEq = (a: ScoreTensor | null, b: ScoreTensor | null) => (a === null || b === null ? a === b : tensorsClose(a, b, atol));
    const recEq = <T>(a: Record<string, T>, b: Record<string, T>, eq: (x: T, y: T) => boolean) => {
      const ka = Object.keys(a).sort();
      const kb = Object.keys(b).sort();
      return ka.length === kb.length && ka.every((k, i) => k === kb[i] && eq(a[k]!, b[k]!));
    };
    const vecEq = (a: Float32Array, b: Float32Array) =>
      tensorsClose({ dims: ["x"], shape: [a.length], data: a }, { dims: ["x"], shape: [b.length], data: b }, atol);
    return (
      this.kind === other.kind &&
      this.attrPosStart === other.attrPosStart &&
      this.attrPosEnd === other.attrPosEnd &&
      tokEq(this.source, other.source) &&
      tokEq(this.target, other.target) &&
      tEq(this.sourceAttributions, other.sourceAttributions) &&
      tEq(this.targetAttributions, other.targetAttributions) &&
      recEq(this.stepScores, other.stepScores, vecEq) &&
      recEq(this.sequenceScores, other.sequenceScores, (x, y) => tEq(x, y))
    );
  }
}

export interface SaveOptions {
  /** Gzip the JSON (level 5, as Inseq). Default false. */
  compress?: boolean;
  /** Precision of the stored tensors (loaded back as float32). Default "float32". */
  scoresPrecision?: ScoresPrecision;
  /** One file per sequence: `{stem}_{i}.json[.gz]` where `stem` is the path up to its first ".json". Default false. */
  splitSequences?: boolean;
  /** Replace existing files. Default false (ERR_INVALID_OPTION naming the path). */
  overwrite?: boolean;
}

export interface LoadOptions {
  /** true: the file must be gzip; false: never gunzip; default: detected from the gzip magic bytes. */
  decompress?: boolean;
}

/** `FeatureAttributionOutput.aggregate` options: `pairedAttr` may also be a whole output (paired one to one). */
export type OutputAggregateOptions = Omit<AggregateOptions, "pairedAttr"> & {
  pairedAttr?: FeatureAttributionSequenceOutput | FeatureAttributionOutput;
};

/**
 * `show()` options. `aggregate` (default true) applies each sequence's default aggregation first. For HTML, the
 * page's view selector also offers:
 * - `rawView` (default true): the scores as stored, when they are already 2-D and the aggregation changed them
 *   (e.g. the L2 norms before Inseq's L1 normalisation);
 * - `aggregations`: one view per aggregation function id (`"sum"`, `"absmax"`, ...), reducing every axis after
 *   `[attributed, generated]` with it (each step normalised, as the `scores` aggregator does); sequences that
 *   are already 2-D are shown as stored.
 */
export type ShowOptions =
  | ({ format?: "terminal"; aggregate?: boolean } & TerminalRenderOptions)
  | ({ format: "html"; aggregate?: boolean; rawView?: boolean; aggregations?: readonly string[] } & HtmlRenderOptions);

/** Info fields that must agree for outputs to be merged (Inseq's `_merge_match_info_fields`). */
export const MERGE_MATCH_INFO_FIELDS = [
  "attribute_target",
  "attribution_method",
  "constrained_decoding",
  "include_eos_baseline",
  "model_class",
  "model_name",
  "step_scores",
  "tokenizer_class",
  "tokenizer_name",
] as const;

const SAVE_OPTIONS = ["compress", "scoresPrecision", "splitSequences", "overwrite"];

function checkSaveOptions(options: SaveOptions): Required<SaveOptions> {
  if (options === null || typeof options !== "object") throw invalidOption("save options", "an object", options);
  for (const key of Object.keys(options)) {
    if (!SAVE_OPTIONS.includes(key)) {
      throw new InseqError(
        ErrorCode.UNKNOWN_OPTION,
        `Unknown option ${JSON.stringify(key)} for save; valid options are: ${SAVE_OPTIONS.join(", ")}`,
      );
    }
  }
  for (const key of ["compress", "splitSequences", "overwrite"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") throw invalidOption(key, "a boolean", options[key]);
  }
  const scoresPrecision = options.scoresPrecision ?? "float32";
  if (scoresPrecision !== "float32" && scoresPrecision !== "float16") {
    throw invalidOption("scoresPrecision", '"float32" or "float16"', scoresPrecision);
  }
  return {
    compress: options.compress ?? false,
    scoresPrecision,
    splitSequences: options.splitSequences ?? false,
    overwrite: options.overwrite ?? false,
  };
}

/** Deep copy of plain info data (falls back to a shallow copy for values structuredClone cannot copy). */
function cloneInfo(info: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(info);
  } catch {
    return { ...info };
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function exists(path: string): boolean {
  return existsSync(path);
}

function alreadyExists(path: string): InseqError {
  return new InseqError(
    ErrorCode.INVALID_OPTION,
    `Expected a path that does not exist (or overwrite: true) for save but received ${describeValue(path)}: the file already exists`,
  );
}

function tmpPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

function notFound(path: string, err: unknown): InseqError {
  return new InseqError(ErrorCode.NOT_FOUND, `Attribution file not found: ${path}`, { cause: err });
}

/** The result of an attribution run: one sequence output per input, plus the run's parameters in `info`. */
export class FeatureAttributionOutput implements OutputData {
  sequenceAttributions: FeatureAttributionSequenceOutput[];
  /**
   * Per-step outputs when `attribute(..., { outputStepAttributions: true })` asked for them, else null. They
   * are views of the sequence outputs' columns, and are not saved (Python Inseq cannot reload files that have
   * them either).
   */
  stepAttributions: FeatureAttributionStepOutput[] | null = null;
  info: Record<string, unknown>;

  constructor(sequenceAttributions: FeatureAttributionSequenceOutput[], info: Record<string, unknown> = {}) {
    if (!Array.isArray(sequenceAttributions) || sequenceAttributions.some((s) => !(s instanceof FeatureAttributionSequenceOutput))) {
      throw invalidOption("sequenceAttributions", "an array of FeatureAttributionSequenceOutput", sequenceAttributions);
    }
    if (info === null || typeof info !== "object" || Array.isArray(info)) throw invalidOption("info", "an object", info);
    this.sequenceAttributions = sequenceAttributions;
    this.info = info;
  }

  get length(): number {
    return this.sequenceAttributions.length;
  }

  [Symbol.iterator](): Iterator<FeatureAttributionSequenceOutput> {
    return this.sequenceAttributions[Symbol.iterator]();
  }

  /** Sequence output `i` (negative counts from the end). */
  at(i: number): FeatureAttributionSequenceOutput | undefined {
    return this.sequenceAttributions.at(i);
  }

  /**
   * `FeatureAttributionSequenceOutput.aggregate` on every sequence; with no arguments the default aggregation.
   * `pairedAttr` may be another `FeatureAttributionOutput` with as many sequences (paired one to one) or a single
   * sequence output (paired with every sequence).
   */
  aggregate(aggregator?: AggregatorInput, options?: OutputAggregateOptions): FeatureAttributionOutput {
    const paired = options?.pairedAttr;
    if (paired instanceof FeatureAttributionOutput && paired.length !== this.length) {
      throw invalidOption("pairedAttr", `an output with ${this.length} sequences (one per sequence of this output)`, `${paired.length} sequences`);
    }
    return new FeatureAttributionOutput(
      this.sequenceAttributions.map((s, i) => {
        if (aggregator === undefined && options === undefined) return s.defaultAggregate();
        const opts = (paired instanceof FeatureAttributionOutput
          ? { ...options, pairedAttr: paired.sequenceAttributions[i]! }
          : options) as AggregateOptions | undefined;
        return s.aggregate(aggregator, opts ?? {});
      }),
      cloneInfo(this.info),
    );
  }

  /**
   * `this - other` sequence by sequence (see `FeatureAttributionSequenceOutput.diff`; Python Inseq's `x - y` is
   * `y - x`). Info comes from this output.
   */
  diff(other: FeatureAttributionOutput): FeatureAttributionOutput {
    if (!(other instanceof FeatureAttributionOutput) || other.length !== this.length) {
      throw invalidOption("other", `a FeatureAttributionOutput with ${this.length} sequences`, other);
    }
    return new FeatureAttributionOutput(
      this.sequenceAttributions.map((s, i) => s.diff(other.sequenceAttributions[i]!)),
      cloneInfo(this.info),
    );
  }

  /** The `scores` aggregator on every sequence (see `FeatureAttributionSequenceOutput.aggregateScores`). */
  aggregateScores(fn: AggregationFunctionId | (string & {}), options: ScoresAggregationOptions = {}): FeatureAttributionOutput {
    return new FeatureAttributionOutput(
      this.sequenceAttributions.map((s) => s.aggregateScores(fn, options)),
      cloneInfo(this.info),
    );
  }

  /**
   * Renders the heatmaps as a string (printing is the caller's job). Aggregates with the default aggregation
   * first unless `aggregate: false`. `format: "html"` gives one self-contained page (heatmaps, token view,
   * sequence / view selectors; see `ShowOptions` for the extra views).
   */
  show(options: ShowOptions = {}): string {
    const { format = "terminal", aggregate = true, rawView = true, aggregations = [], ...rest } = options as ShowOptions & {
      format?: string;
      rawView?: boolean;
      aggregations?: readonly string[];
    };
    if (format !== "terminal" && format !== "html") throw invalidOption("format", '"terminal" or "html"', format);
    const shown = aggregate ? this.aggregate() : this;
    if (format !== "html") return renderTerminal(shown, rest as TerminalRenderOptions);
    const html = rest as HtmlRenderOptions;
    const is2d = (t: ScoreTensor | null) => t === null || t.shape.length === 2;
    const rawAvailable =
      aggregate &&
      rawView &&
      this.sequenceAttributions.some((s) => s.sourceAttributions || s.targetAttributions) &&
      this.sequenceAttributions.every((s) => is2d(s.sourceAttributions) && is2d(s.targetAttributions)) &&
      shown.sequenceAttributions.some((s, i) => !s.equals(this.sequenceAttributions[i]!, 0));
    if (!Array.isArray(aggregations)) throw invalidOption("aggregations", "an array of aggregation function ids", aggregations);
    const reduced = aggregations.map((fn) => ({
      label: `${fn} (+ normalisation)`,
      output: this.sequenceAttributions.map((s) => {
        let out: FeatureAttributionSequenceOutput = s;
        while (out.numExtraDims > 0) out = out.aggregateScores(fn);
        return out;
      }),
    }));
    const views = [...(rawAvailable ? [{ label: "raw scores (no aggregation)", output: this }] : []), ...reduced, ...(html.views ?? [])];
    return renderHtml(shown, {
      ...html,
      label: html.label ?? (aggregate ? "default aggregation" : "scores as stored"),
      views,
    });
  }

  /** The Python-compatible JSON document object (tensors as base64 float32 safetensors). */
  toJSON(): Record<string, unknown> {
    return encodeOutputDocument(this);
  }

  /** The JSON text `save` writes. */
  toJSONString(options: { scoresPrecision?: ScoresPrecision } = {}): string {
    return serializeOutputDocument(this, options);
  }

  /** From a parsed document object or from JSON text (NaN literals allowed). */
  static fromJSON(json: unknown): FeatureAttributionOutput {
    const data = typeof json === "string" ? parseOutputDocument(json) : decodeOutputDocument(json);
    return FeatureAttributionOutput.fromData(data);
  }

  /** @internal */
  static fromData(data: OutputData): FeatureAttributionOutput {
    return new FeatureAttributionOutput(
      data.sequenceAttributions.map((s) => new FeatureAttributionSequenceOutput(s, { validate: false })),
      data.info,
    );
  }

  private planSave(path: string, options: SaveOptions): { paths: string[]; texts: string[]; opts: Required<SaveOptions> } {
    if (typeof path !== "string" || path.length === 0) throw invalidOption("path", "a non-empty file path", path);
    const opts = checkSaveOptions(options);
    const paths: string[] = [];
    const texts: string[] = [];
    if (opts.splitSequences) {
      const stem = path.split(".json")[0]!;
      this.sequenceAttributions.forEach((seq, i) => {
        const info = cloneInfo(this.info);
        for (const key of ["input_texts", "generated_texts"]) {
          const v = info[key];
          if (Array.isArray(v)) info[key] = v.slice(i, i + 1);
        }
        paths.push(`${stem}_${i}.json${opts.compress ? ".gz" : ""}`);
        texts.push(serializeOutputDocument({ sequenceAttributions: [seq], info }, opts));
      });
    } else {
      paths.push(path);
      texts.push(serializeOutputDocument(this, opts));
    }
    if (!opts.overwrite) {
      const checks = opts.splitSequences ? [path, ...paths] : paths;
      for (const p of checks) if (exists(p)) throw alreadyExists(p);
    }
    return { paths, texts, opts };
  }

  /**
   * Writes the output in Python Inseq's format (loadable by `inseq.FeatureAttributionOutput.load`; pass
   * `decompress=True` there for compressed files). Each file is written to `<path>.tmp-<pid>` and renamed, so
   * no half-written file is left behind. Resolves to the written paths.
   */
  async save(path: string, options: SaveOptions = {}): Promise<string[]> {
    const { paths, texts, opts } = this.planSave(path, options);
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i]!;
      const body = opts.compress ? await gzipAsync(Buffer.from(texts[i]!, "utf8"), { level: 5 }) : texts[i]!;
      const tmp = tmpPathFor(p);
      try {
        await writeFile(tmp, body);
        await rename(tmp, p);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
    }
    return paths;
  }

  /** Synchronous `save`. */
  saveSync(path: string, options: SaveOptions = {}): string[] {
    const { paths, texts, opts } = this.planSave(path, options);
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i]!;
      const body = opts.compress ? gzipSync(Buffer.from(texts[i]!, "utf8"), { level: 5 }) : texts[i]!;
      const tmp = tmpPathFor(p);
      try {
        writeFileSync(tmp, body);
        renameSync(tmp, p);
      } catch (err) {
        try {
          unlinkSync(tmp);
        } catch {
          /* already gone */
        }
        throw err;
      }
    }
    return paths;
  }

  private static decodeBytes(path: string, bytes: Buffer, gunzipped: Buffer | null): FeatureAttributionOutput {
    const text = (gunzipped ?? bytes).toString("utf8");
    return FeatureAttributionOutput.fromData(parseOutputDocument(text, path));
  }

  private static needsGunzip(path: string, bytes: Buffer, options: LoadOptions): boolean {
    const gz = isGzip(bytes);
    if (options.decompress === true && !gz) {
      throw invalidOption("decompress", "a gzip-compressed file when decompress is true", path);
    }
    return options.decompress === false ? false : gz;
  }

  /** Loads a file written by `save` or by Python Inseq (plain or gzip JSON; tensors back as float32). */
  static async load(path: string, options: LoadOptions = {}): Promise<FeatureAttributionOutput> {
    if (typeof path !== "string" || path.length === 0) throw invalidOption("path", "a non-empty file path", path);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw notFound(path, err);
      throw err;
    }
    const gunzipped = FeatureAttributionOutput.needsGunzip(path, bytes, options) ? await gunzipAsync(bytes) : null;
    return FeatureAttributionOutput.decodeBytes(path, bytes, gunzipped);
  }

  /** Synchronous `load`. */
  static loadSync(path: string, options: LoadOptions = {}): FeatureAttributionOutput {
    if (typeof path !== "string" || path.length === 0) throw invalidOption("path", "a non-empty file path", path);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw notFound(path, err);
      throw err;
    }
    const gunzipped = FeatureAttributionOutput.needsGunzip(path, bytes, options) ? gunzipSync(bytes) : null;
    return FeatureAttributionOutput.decodeBytes(path, bytes, gunzipped);
  }

  /**
   * Concatenates outputs (Inseq's `merge_attributions`): the info fields in `MERGE_MATCH_INFO_FIELDS` must agree
   * (or be absent from all); `attr_pos_end` becomes the maximum; `input_texts` / `generated_texts` are
   * concatenated; other info comes from the first output.
   */
  static merge(outputs: readonly FeatureAttributionOutput[]): FeatureAttributionOutput {
    if (!Array.isArray(outputs) || outputs.length === 0) {
      throw invalidOption("outputs", "a non-empty array of FeatureAttributionOutput", outputs);
    }
    outputs.forEach((o, i) => {
      if (!(o instanceof FeatureAttributionOutput)) throw invalidOption(`outputs[${i}]`, "a FeatureAttributionOutput", o);
    });
    const first = outputs[0]!;
    for (const field of MERGE_MATCH_INFO_FIELDS) {
      const has = Object.hasOwn(first.info, field);
      for (const o of outputs) {
        const ok = has ? Object.hasOwn(o.info, field) && deepEqual(o.info[field], first.info[field]) : !Object.hasOwn(o.info, field);
        if (!ok) {
          throw new InseqError(
            ErrorCode.INVALID_OPTION,
            `Cannot merge attribution outputs: incompatible values for info field ${field}`,
          );
        }
      }
    }
    const info = cloneInfo(first.info);
    if (Object.hasOwn(first.info, "attr_pos_end")) {
      info.attr_pos_end = Math.max(...outputs.map((o) => Number(o.info.attr_pos_end)));
    }
    for (const key of ["generated_texts", "input_texts"]) {
      if (Object.hasOwn(first.info, key)) {
        info[key] = outputs.flatMap((o) => (Array.isArray(o.info[key]) ? (o.info[key] as unknown[]) : [o.info[key]]));
      }
    }
    return new FeatureAttributionOutput(outputs.flatMap((o) => o.sequenceAttributions), info);
  }

  /** Sequence-wise `equals` plus deep equality of `info` (NaN equal to NaN). */
  equals(other: FeatureAttributionOutput, atol = 1e-5): boolean {
    return (
      this.sequenceAttributions.length === other.sequenceAttributions.length &&
      this.sequenceAttributions.every((s, i) => s.equals(other.sequenceAttributions[i]!, atol)) &&
      deepEqual(this.info, other.info)
    );
  }
}

