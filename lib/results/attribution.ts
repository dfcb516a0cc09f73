/**
 * Attribution results: one `FeatureAttributionSequenceOutput` per attributed sequence, gathered in a
 * `FeatureAttributionOutput` with the run's `info`. Mirrors Python Inseq's `inseq.data.attribution` classes and
 * keeps its file format (see `inseq-json.ts`), so files move between the two tools.
 *
 * The data types and the tensor layout are in `types.ts`. These classes hold the data and delegate the rest:
 * aggregation to `aggregators/` (`output.ts`), rendering to `viz/show.ts`, files to `io.ts`, equality to
 * `equality.ts`, the info record (merge rules) to `info.ts`.
 */
import { invalidOption } from "../core/errors.js";
import { aggregateSequenceOutput, aggregateSequences } from "../aggregators/output.js";
import { pairDiff } from "../aggregators/pair.js";
import { defaultAggregate, type AggregateOptions, type AggregatorInput } from "../aggregators/pipeline.js";
import { aggregateSequenceScores, type AggregationFunctionId, type ScoresAggregationOptions } from "../aggregators/scores.js";
import { showGranularSequences, type GranularShowOptions } from "../viz/granular.js";
import { showOutput, type ShowOptions } from "../viz/show.js";
import { renderTokens, type TokensRenderOptions } from "../viz/tokens.js";
import { outputsEqual, sequenceOutputsEqual } from "./equality.js";
import type { ScoresPrecision } from "./inseq-codecs.js";
import { decodeOutputDocument, encodeOutputDocument, parseOutputDocument, serializeOutputDocument } from "./inseq-json.js";
import { cloneInfo, mergeInfo } from "./info.js";
import { loadOutput, loadOutputSync, saveOutput, saveOutputSync, type LoadOptions, type SaveOptions } from "./io.js";
import { scoresDicts, stepScoreValues, weightedFields, type ScoresDicts } from "./scores-dicts.js";
import { cloneTensor, minMaxNanAsZero, type ScoreTensor } from "./tensor.js";
import {
  defaultExtraDimNames,
  SEQUENCE_OUTPUT_KINDS,
  type FeatureAttributionStepOutput,
  type OutputData,
  type SequenceOutput,
  type SequenceOutputConstructorOptions,
  type SequenceOutputInit,
  type SequenceOutputKind,
  type TokenWithId,
} from "./types.js";
import { assertTensor, assertTokens, checkSequenceShapes } from "./validate.js";

export type {
  FeatureAttributionStepOutput,
  SequenceOutputConstructorOptions,
  SequenceOutputInit,
  SequenceOutputKind,
  TokenWithId,
} from "./types.js";
export type { LoadOptions, SaveOptions } from "./io.js";
export type { ShowOptions } from "../viz/show.js";
export type { GranularShowOptions } from "../viz/granular.js";
export type { IndexedToken, ScoresDicts, StepScoresEntry, TokenScores } from "./scores-dicts.js";

/**
 * Which scores `getScoresDicts` and `showTokens` read: by default each sequence's default aggregation (as
 * `aggregate()` with no arguments); `aggregator` / `aggregateOptions` are passed to `aggregate`;
 * `doAggregation: false` takes the scores as stored (they must then be 2-D). Inseq's `aggregator`,
 * `do_aggregation` and `**kwargs`.
 */
export interface AggregationChoice {
  aggregator?: AggregatorInput;
  aggregateOptions?: AggregateOptions;
  doAggregation?: boolean;
}

/** `showTokens()` options: the aggregation choice plus the token view's rendering options. */
export type TokensShowOptions = AggregationChoice & TokensRenderOptions;

/** What `decodeTokens` needs of a tokenizer (`TextTokenizer` has it). */
export interface TokenDecoder {
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): Promise<string> | string;
}

async function decodeTokenList(tokens: readonly TokenWithId[], tokenizer: TokenDecoder): Promise<TokenWithId[]> {
  return Promise.all(
    tokens.map(async (t) => (t.id >= 0 ? { ...t, token: await tokenizer.decode([t.id], { skipSpecialTokens: false }) } : { ...t })),
  );
}
export { MERGE_MATCH_INFO_FIELDS } from "./info.js";

/**
 * The aggregators build every output through `seq.with()`, so the aggregation of an instance of this class is an
 * instance of it (the one cast of the delegations below).
 */
function asSequenceOutput(seq: SequenceOutput): FeatureAttributionSequenceOutput {
  return seq as FeatureAttributionSequenceOutput;
}

/** The scores `getScoresDicts` / `showTokens` read (see `AggregationChoice`). */
function chosenScores(seq: FeatureAttributionSequenceOutput, choice: AggregationChoice = {}): FeatureAttributionSequenceOutput {
  if (choice === null || typeof choice !== "object") throw invalidOption("options", "an object", choice);
  if (choice.doAggregation === false) return seq;
  if (choice.aggregator === undefined && choice.aggregateOptions === undefined) return seq.aggregate();
  return seq.aggregate(choice.aggregator, choice.aggregateOptions ?? {});
}

/** Attribution scores for one sequence. Instances are treated as immutable by the library's methods. */
export class FeatureAttributionSequenceOutput implements SequenceOutput {
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
    if (!SEQUENCE_OUTPUT_KINDS.includes(kind)) throw invalidOption("kind", `one of ${SEQUENCE_OUTPUT_KINDS.join(", ")}`, kind);
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
    checkSequenceShapes(this);
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
    return asSequenceOutput(aggregateSequenceScores(this, fn, options));
  }

  /**
   * Inseq's default aggregation for this kind, down to 2-D `[attributed, generated]` attributions:
   * granular → `vnorm` (L2 over the last axis) + normalisation; multidimensional (e.g. attention `[layer, head]`)
   * and base → `mean` + normalisation per extra axis, last first (heads, then layers); coarse → unchanged.
   * Already 2-D outputs are returned as is.
   */
  defaultAggregate(): FeatureAttributionSequenceOutput {
    return asSequenceOutput(defaultAggregate(this));
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
    return asSequenceOutput(aggregateSequenceOutput(this, aggregator, options));
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
    return asSequenceOutput(pairDiff(other, this));
  }

  /**
   * Inseq's `get_scores_dicts`: every score by generated token, after the default aggregation (or `aggregator`;
   * none with `doAggregation: false`). Inseq's `(index, token)` dict keys become `{ index, token }` records in
   * arrays, in Inseq's order (see `ScoresDicts`).
   *
   * @example
   * const { sourceAttributions, stepScores } = seq.getScoresDicts();
   * for (const gen of sourceAttributions) console.log(gen.token, gen.scores.map((s) => `${s.token}=${s.score}`));
   */
  getScoresDicts(options: AggregationChoice = {}): ScoresDicts {
    return scoresDicts(chosenScores(this, options));
  }

  /**
   * Inseq's `weight_attributions`: the default aggregation, then every generated-token column multiplied by that
   * step's `stepScores[stepScoreId]`. Returns a new output of kind `"coarse"` (no further default aggregation, as
   * Inseq's empty `_aggregator`); Inseq changes the output in place. ERR_INVALID_OPTION names the available step
   * scores when `stepScoreId` is not one of them.
   *
   * @example
   * const weighted = seq.weightAttributions("probability");
   */
  weightAttributions(stepScoreId: string): FeatureAttributionSequenceOutput {
    stepScoreValues(this, stepScoreId);
    const aggregated = this.aggregate();
    return aggregated.with({ ...weightedFields(aggregated, stepScoreId), kind: "coarse" });
  }

  /**
   * `show()` of a whole output on this sequence alone (same options; the default aggregation first unless
   * `aggregate: false`).
   *
   * @example
   * console.log(out.at(0)!.show({ color: "none" }));
   */
  show(options: ShowOptions = {}): string {
    return showOutput({ sequenceAttributions: [this], info: {} }, options);
  }

  /**
   * Inseq's `show_granular`: the scores as stored, no aggregation, one heatmap per index of the axes after
   * `[attributed, generated]` (e.g. per layer and head), narrowed with `sliceDims` (see `GranularShowOptions`).
   *
   * @example
   * console.log(seq.showGranular({ sliceDims: { layer: [5, 6] }, color: "none" }));
   */
  showGranular(options: GranularShowOptions = {}): string {
    return showGranularSequences([this], options);
  }

  /**
   * Inseq's `show_tokens`: for each generated token, the attributed tokens coloured by their score (after the
   * default aggregation unless `doAggregation: false`); `stepScoreHighlight` colours the generated tokens by a
   * step score, `wrapAfter` breaks lines, `replaceChar` cleans tokens. HTML gives one foldable block per token.
   *
   * @example
   * console.log(seq.showTokens({ stepScoreHighlight: "probability", replaceChar: { "▁": " " } }));
   */
  showTokens(options: TokensShowOptions = {}): string {
    const { aggregator, aggregateOptions, doAggregation, ...render } = options;
    return renderTokens([chosenScores(this, { aggregator, aggregateOptions, doAggregation })], render);
  }

  /**
   * Inseq's `decode_tokens`: every token with an id >= 0 replaced by `tokenizer.decode([id])` (special tokens
   * kept), for byte-level BPE tokens such as `Äł`. Returns a new output (Inseq changes it in place).
   *
   * @example
   * const readable = await seq.decodeTokens(tokenizer);
   */
  async decodeTokens(tokenizer: TokenDecoder): Promise<FeatureAttributionSequenceOutput> {
    if (!tokenizer || typeof tokenizer.decode !== "function") throw invalidOption("tokenizer", "an object with a decode(ids) method", tokenizer);
    const [source, target] = await Promise.all([decodeTokenList(this.source, tokenizer), decodeTokenList(this.target, tokenizer)]);
    return this.with({ source, target });
  }

  /** Field-wise comparison, tensors with `atol` (NaN equal to NaN), like Inseq's `__eq__`. */
  equals(other: FeatureAttributionSequenceOutput, atol = 1e-5): boolean {
    return sequenceOutputsEqual(this, other, atol);
  }
}

/** `FeatureAttributionOutput.aggregate` options: `pairedAttr` may also be a whole output (paired one to one). */
export type OutputAggregateOptions = Omit<AggregateOptions, "pairedAttr"> & {
  pairedAttr?: FeatureAttributionSequenceOutput | FeatureAttributionOutput;
};

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
    const pairs = paired instanceof FeatureAttributionOutput ? paired.sequenceAttributions : null;
    return new FeatureAttributionOutput(
      aggregateSequences(this.sequenceAttributions, aggregator, options, pairs).map(asSequenceOutput),
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
   * `getScoresDicts` of every sequence (Inseq's list of dicts).
   *
   * @example
   * const [first] = out.getScoresDicts({ doAggregation: false });
   */
  getScoresDicts(options: AggregationChoice = {}): ScoresDicts[] {
    return this.sequenceAttributions.map((s) => s.getScoresDicts(options));
  }

  /**
   * `decodeTokens` on every sequence (see `FeatureAttributionSequenceOutput.decodeTokens`).
   *
   * @example
   * const readable = await out.decodeTokens(tokenizer);
   */
  async decodeTokens(tokenizer: TokenDecoder): Promise<FeatureAttributionOutput> {
    const seqs = await Promise.all(this.sequenceAttributions.map((s) => s.decodeTokens(tokenizer)));
    return new FeatureAttributionOutput(seqs, cloneInfo(this.info));
  }

  /**
   * `weightAttributions` on every sequence; returns a new output (Inseq's changes the output in place).
   *
   * @example
   * const weighted = out.weightAttributions("probability");
   */
  weightAttributions(stepScoreId: string): FeatureAttributionOutput {
    return new FeatureAttributionOutput(
      this.sequenceAttributions.map((s) => s.weightAttributions(stepScoreId)),
      cloneInfo(this.info),
    );
  }

  /**
   * `showGranular` of every sequence, one string (HTML: one page, whose view selector picks the slice).
   *
   * @example
   * console.log(out.showGranular({ sliceDims: { 2: [0, 2] } }));
   */
  showGranular(options: GranularShowOptions = {}): string {
    return showGranularSequences(this.sequenceAttributions, options);
  }

  /**
   * `showTokens` of every sequence, one string (one colour scale for all).
   *
   * @example
   * console.log(out.showTokens({ wrapAfter: 10 }));
   */
  showTokens(options: TokensShowOptions = {}): string {
    const { aggregator, aggregateOptions, doAggregation, ...render } = options;
    const seqs = this.sequenceAttributions.map((s) => chosenScores(s, { aggregator, aggregateOptions, doAggregation }));
    return renderTokens(seqs, render);
  }

  /**
   * Renders the heatmaps as a string (printing is the caller's job). Aggregates with the default aggregation
   * first unless `aggregate: false`. `format: "html"` gives one self-contained page (heatmaps, token view,
   * sequence / view selectors; see `ShowOptions` for the extra views).
   */
  show(options: ShowOptions = {}): string {
    return showOutput(this, options);
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

  /**
   * Writes the output in Python Inseq's format (loadable by `inseq.FeatureAttributionOutput.load`; pass
   * `decompress=True` there for compressed files). Each file is written to `<path>.tmp-<pid>`, flushed and
   * renamed, so no half-written file is left behind. Resolves to the written paths.
   */
  save(path: string, options: SaveOptions = {}): Promise<string[]> {
    return saveOutput(this, path, options);
  }

  /** Synchronous `save`. */
  saveSync(path: string, options: SaveOptions = {}): string[] {
    return saveOutputSync(this, path, options);
  }

  /** Loads a file written by `save` or by Python Inseq (plain or gzip JSON; tensors back as float32). */
  static async load(path: string, options: LoadOptions = {}): Promise<FeatureAttributionOutput> {
    return FeatureAttributionOutput.fromData(await loadOutput(path, options));
  }

  /** Synchronous `load`. */
  static loadSync(path: string, options: LoadOptions = {}): FeatureAttributionOutput {
    return FeatureAttributionOutput.fromData(loadOutputSync(path, options));
  }

  /**
   * Concatenates outputs (Inseq's `merge_attributions`): the info fields in `MERGE_MATCH_INFO_FIELDS` must agree
   * (or be absent from all); `attr_pos_end` becomes the maximum; `input_texts` / `generated_texts` are
   * concatenated; other info comes from the first output. Step attributions are concatenated (Inseq's list
   * concatenation: the steps of the first output, then those of the next) when every output has them, else null
   * (Inseq fails when only some have them).
   *
   * @example
   * const all = FeatureAttributionOutput.merge([out1, out2]);
   */
  static merge(outputs: readonly FeatureAttributionOutput[]): FeatureAttributionOutput {
    if (!Array.isArray(outputs) || outputs.length === 0) {
      throw invalidOption("outputs", "a non-empty array of FeatureAttributionOutput", outputs);
    }
    outputs.forEach((o, i) => {
      if (!(o instanceof FeatureAttributionOutput)) throw invalidOption(`outputs[${i}]`, "a FeatureAttributionOutput", o);
    });
    const info = mergeInfo(outputs.map((o) => o.info));
    const merged = new FeatureAttributionOutput(outputs.flatMap((o) => o.sequenceAttributions), info);
    if (outputs.every((o) => o.stepAttributions !== null)) merged.stepAttributions = outputs.flatMap((o) => o.stepAttributions!);
    return merged;
  }

  /**
   * `FeatureAttributionOutput.merge([this, other])` (Inseq's `a + b`).
   *
   * @example
   * const both = first.add(second);
   */
  add(other: FeatureAttributionOutput): FeatureAttributionOutput {
    return FeatureAttributionOutput.merge([this, other]);
  }

  /** Sequence-wise `equals` plus deep equality of `info` (NaN equal to NaN). */
  equals(other: FeatureAttributionOutput, atol = 1e-5): boolean {
    return outputsEqual(this, other, atol);
  }
}
