/**
 * model.attribute(): Inseq's attribute() for decoder-only models with camelCase options. Validates options,
 * generates the targets when they are not forced (KV-cached generation first), tokenizes, builds baselines and
 * contrast alignments, runs the native schedule once per batch, and assembles FeatureAttributionOutput.
 */
import { checkKnownOptions, ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { NativeAttributionRequest, NativeAttributionResult, NativeStepArgs } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { checkRows, toRagged } from "../native/ragged.js";
import type { ForwardOptions, ForwardOutput, GenerateOptions, GenerationOutput, Model } from "../models/model.js";
import type { TextTokenizer } from "../tokenizers/tokenizer.js";
import {
  FeatureAttributionOutput, FeatureAttributionSequenceOutput, type FeatureAttributionStepOutput, type TokenWithId,
} from "../results/attribution.js";
import type { ScoreTensor } from "../results/tensor.js";
import { inseqInfo } from "../results/inseq-json.js";
import {
  alignmentsOf, contrastInfoArgs, contrastPositions, sameContrastTokens, warnZeroContrast, type Alignment, type ContrastUse,
} from "./contrast.js";
import { getMethod, resolveStepFunction, type AnyStepFunctionId, type MethodId } from "./registry.js";

export interface AttributeOptions {
  /** Forced targets, one per input (decoder-only: each must start with its prompt). Omit to generate. */
  generatedTexts?: string | readonly string[];
  /** Method id (default: the model's method from loadModel, else "saliency"). */
  method?: MethodId;
  /** First / last+1 target position to attribute (negative: from the end). Default: prompt length .. end. */
  attrPosStart?: number;
  attrPosEnd?: number;
  /** Step function whose value is attributed (default "probability"). */
  attributedFn?: AnyStepFunctionId;
  /** Step functions computed at every attributed step. */
  stepScores?: readonly AnyStepFunctionId[];
  /** Also replace EOS by UNK in baselines (default: EOS kept, as Inseq). */
  includeEosBaseline?: boolean;
  /** Caller-provided baseline token ids, one array per input, as long as the tokenized target. */
  baselineIds?: ReadonlyArray<readonly number[]>;
  /** Inputs per native job (default: all at once; the native schedule batches rows under a memory budget). */
  batchSize?: number;
  /** Generation options when targets are generated (maxNewTokens default 20). */
  generationArgs?: Omit<GenerateOptions, "returnIds" | "signal" | "onProgress" | "outputGeneratedOnly">;
  /** Also return Inseq's per-step outputs in `out.stepAttributions` (views of the sequence columns; not saved). */
  outputStepAttributions?: boolean;
  /** Strip special-token strings from the texts and encode without special tokens. */
  skipSpecialTokens?: boolean;
  /** Method options: nSteps, method (integration grid), internalBatchSize, returnConvergenceDelta, nSamples, stdevs, seed, layer, multiplyByInputs. */
  methodArgs?: Record<string, unknown>;
  attributedFnArgs?: Record<string, unknown>;
  stepScoresArgs?: Record<string, unknown>;
  /** Contrastive targets (decoder-only: full prompt + continuation texts), one per input. */
  contrastTargets?: string | readonly string[];
  /** (original position, contrast position) pairs, or one list per input. Default: aligned at the ends. */
  contrastTargetsAlignments?: ReadonlyArray<Alignment> | ReadonlyArray<ReadonlyArray<Alignment>>;
  /** Forward the contrast inputs also for the attributed function (default false, as Inseq). */
  contrastForceInputs?: boolean;
  /**
   * Keep the hidden dimension of gradient methods (Inseq's granular output, `[target, generated, hidden]`).
   * Default false: the hidden dimension is reduced on the device as each batch finishes (L2 norm), and the
   * result is Inseq's default aggregation (L2 then L1 normalisation per generated token) as a coarse output.
   */
  granular?: boolean;
  /** Activation memory for one native batch of rows, in MiB (default 1024). */
  memoryBudgetMb?: number;
  /** "per_step" runs Inseq's schedule (one batch per step, LM head everywhere) for benchmarks; same results. */
  schedule?: "batched" | "per_step";
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export const ATTRIBUTE_OPTIONS = {
  generatedTexts: "checked", method: "checked", attrPosStart: "integer", attrPosEnd: "integer", attributedFn: "checked",
  stepScores: "checked", includeEosBaseline: "boolean", baselineIds: "checked", batchSize: "checked", generationArgs: "object",
  outputStepAttributions: "boolean", skipSpecialTokens: "boolean", methodArgs: "object", attributedFnArgs: "object",
  stepScoresArgs: "object", contrastTargets: "checked", contrastTargetsAlignments: "checked", contrastForceInputs: "boolean",
  granular: "boolean", memoryBudgetMb: "checked", schedule: { oneOf: ["batched", "per_step"] }, signal: "signal", onProgress: "function",
} as const satisfies OptionTable;

const STEP_ARG_NAMES = ["logprob", "topP", "topK", "minTokensToKeep", "perplexityBase2", "nMcdSteps"] as const;

/**
 * The pieces of a Model the attribution layer needs (kept narrow on purpose). `run`, `generate` and `forward`
 * use the native model the attribute() call holds, so that they work while dispose() waits for the call.
 * @internal
 */
export interface AttributableModel {
  model: Model;
  defaultMethod: string | undefined;
  run<T>(job: (native: import("../native/binding-types.js").NativeModel) => Promise<T>): Promise<T>;
  generate(texts: readonly string[], options: GenerateOptions & { returnIds: true }): Promise<GenerationOutput>;
  forward(ids: ReadonlyArray<readonly number[]>, options: ForwardOptions): Promise<ForwardOutput>;
}

export function toList(name: string, v: string | readonly string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.some((x) => typeof x !== "string")) throw invalidOption(name, "a string or an array of strings", v);
  return [...list];
}

export function stepArgs(name: string, args: Record<string, unknown> | undefined, implied: Record<string, unknown>): NativeStepArgs {
  const out: Record<string, unknown> = { ...implied };
  for (const [k, v] of Object.entries(args ?? {})) {
    if (!(STEP_ARG_NAMES as readonly string[]).includes(k)) {
      if (["contrastTargets", "contrastTargetsAlignments", "contrastForceInputs"].includes(k)) {
        throw new InseqError(ErrorCode.INVALID_OPTION, `Pass ${k} as a top-level attribute() option, not inside ${name}`);
      }
      throw new InseqError(ErrorCode.UNKNOWN_OPTION, `Unknown option ${JSON.stringify(k)} for ${name}; valid options are: ${STEP_ARG_NAMES.join(", ")}`);
    }
    out[k] = v;
  }
  return out as NativeStepArgs;
}

/**
 * A layer by index or by name: "all" (every block), "embeddings" (the input embeddings; also
 * "model.embed_tokens", "transformer.wte"), or a block ("model.layers.3", "transformer.h.3", "layers.3", 3).
 */
export function parseLayer(layer: unknown): number {
  if (typeof layer === "number" && Number.isInteger(layer) && layer >= -1) return layer;
  if (typeof layer === "string") {
    if (layer === "all") return -2;
    if (/^(embeddings|model\.embed_tokens|embed_tokens|transformer\.wte|wte)$/.test(layer)) return -1;
    const m = /^(?:(?:model\.)?layers|(?:transformer\.)?h)\.(\d+)$/.exec(layer) ?? /^(\d+)$/.exec(layer);
    if (m) return Number(m[1]);
  }
  throw invalidOption("layer", '"all", "embeddings", a block index, or a block name such as "model.layers.3" / "transformer.h.3"', layer);
}

/**
 * Inseq's `*_zeroed_units_indices`: a head index, a list of heads, a {start, end} range, or {layer: spec}; null
 * / undefined = every head. Returns per-layer head lists (empty = every head) for `layers` layers.
 */
export function zeroedHeads(name: string, spec: unknown, layers: number): number[][] {
  const one = (s: unknown): number[] => {
    if (s === null || s === undefined) return [];
    if (Number.isInteger(s) && (s as number) >= 0) return [s as number];
    if (Array.isArray(s) && s.every((x) => Number.isInteger(x) && x >= 0)) return [...(s as number[])];
    if (s && typeof s === "object" && Object.keys(s).sort().join() === "end,start") {
      const { start, end } = s as { start: unknown; end: unknown };
      if (Number.isInteger(start) && Number.isInteger(end) && (start as number) >= 0 && (end as number) > (start as number)) {
        return Array.from({ length: (end as number) - (start as number) }, (_, k) => (start as number) + k);
      }
    }
    throw invalidOption(name, "a head index, a list of head indices, {start, end}, or {layer: spec}", s);
  };
  if (spec && typeof spec === "object" && !Array.isArray(spec) && Object.keys(spec).every((k) => /^\d+$/.test(k))) {
    const out = Array.from({ length: layers }, (): number[] => []);
    for (const [k, v] of Object.entries(spec)) {
      if (Number(k) >= layers) throw invalidOption(name, `layer indices below ${layers}`, Number(k));
      out[Number(k)] = one(v);
      if (out[Number(k)]!.length === 0) throw invalidOption(name, "at least one head per listed layer", v);
    }
    return out;
  }
  const heads = one(spec);
  return Array.from({ length: layers }, () => [...heads]);
}

export function methodArgs(method: string, args: Record<string, unknown> | undefined,
  layers: { decoder: number; encoder: number } = { decoder: 0, encoder: 0 }): Partial<NativeAttributionRequest> {
  const def = getMethod(method);
  checkKnownOptions(`methodArgs of ${method}`, args, def.options);
  const a = args ?? {};
  const out: Partial<NativeAttributionRequest> = {};
  const int = (k: string, min: number) => {
    const v = a[k];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw invalidOption(k, `an integer >= ${min}`, v);
    return v;
  };
  out.nSteps = int("nSteps", 1);
  out.internalBatchSize = int("internalBatchSize", 1);
  out.nSamples = int("nSamples", 1);
  out.seed = int("seed", 0);
  if (a.layer !== undefined) out.layer = parseLayer(a.layer);
  if (a.method !== undefined) out.integration = String(a.method);
  if (a.maskProb !== undefined) {
    if (typeof a.maskProb !== "number" || !(a.maskProb > 0 && a.maskProb < 1)) throw invalidOption("maskProb", "a number in (0, 1)", a.maskProb);
    out.maskProb = a.maskProb;
  }
  if (a.stdevs !== undefined) {
    if (typeof a.stdevs !== "number" || !(a.stdevs >= 0)) throw invalidOption("stdevs", "a non-negative number", a.stdevs);
    out.stdevs = a.stdevs;
  }
  if (a.returnConvergenceDelta !== undefined) out.returnConvergenceDelta = Boolean(a.returnConvergenceDelta);
  if (a.multiplyByInputs !== undefined) out.multiplyByInputs = Boolean(a.multiplyByInputs);
  if (a.similarityMetric !== undefined) {
    if (a.similarityMetric !== "cosine" && a.similarityMetric !== "euclidean") throw invalidOption("similarityMetric", '"cosine" or "euclidean"', a.similarityMetric);
    out.similarityMetric = a.similarityMetric;
  }
  const heads = (name: string) => ({ name, below: Number.MAX_SAFE_INTEGER, what: "a head index" });
  if (a.decoderZeroedUnitsIndices != null) out.decoderZeroedHeads = toRagged(zeroedHeads("decoderZeroedUnitsIndices", a.decoderZeroedUnitsIndices, layers.decoder), heads("decoderZeroedUnitsIndices"));
  if (a.encoderZeroedUnitsIndices != null) out.encoderZeroedHeads = toRagged(zeroedHeads("encoderZeroedUnitsIndices", a.encoderZeroedUnitsIndices, layers.encoder), heads("encoderZeroedUnitsIndices"));
  if (a.crossZeroedUnitsIndices != null) out.crossZeroedHeads = toRagged(zeroedHeads("crossZeroedUnitsIndices", a.crossZeroedUnitsIndices, layers.decoder), heads("crossZeroedUnitsIndices"));
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

/** attribute() options both model kinds read the same way. */
export type SharedAttributeOptions = Omit<AttributeOptions, "generationArgs" | "baselineIds">;

/** What both model kinds resolve the same way from attribute()'s options. @internal */
export interface ResolvedAttributeOptions {
  method: string;
  attributedFnId: string;
  attributed: ReturnType<typeof resolveStepFunction>;
  stepScoreIds: string[];
  resolvedScores: Array<{ id: string } & ReturnType<typeof resolveStepFunction>>;
  batchSize: number;
  nativeMethodArgs: Partial<NativeAttributionRequest>;
  attributedArgs: NativeStepArgs;
  scoreArgs: NativeStepArgs;
  contrastTexts: string[] | undefined;
  needsContrast: boolean;
  forced: string[] | undefined;
}

/** Validates and resolves the options shared by decoder-only and encoder-decoder attribution. @internal */
export function resolveAttributeOptions(inputs: readonly string[], options: SharedAttributeOptions, defaultMethod: string | undefined,
  layers: { decoder: number; encoder: number }): ResolvedAttributeOptions {
  const method = options.method ?? defaultMethod ?? "saliency";
  getMethod(method);  // unknown ids fail here with the list
  const attributedFnId = options.attributedFn ?? "probability";
  const attributed = resolveStepFunction(attributedFnId);
  if (attributed.def.custom) throw invalidOption("attributedFn", "a built-in or TorchScript step function (custom JS step functions are forward-only)", attributedFnId);
  if (!Array.isArray(options.stepScores ?? [])) throw invalidOption("stepScores", "an array of step function ids", options.stepScores);
  const stepScoreIds = [...(options.stepScores ?? [])];
  const resolvedScores = stepScoreIds.map((id) => ({ id, ...resolveStepFunction(id) }));
  const batchSize = options.batchSize ?? inputs.length;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidOption("batchSize", "a positive integer", options.batchSize);
  if (options.memoryBudgetMb !== undefined && !(Number.isInteger(options.memoryBudgetMb) && options.memoryBudgetMb > 0)) {
    throw invalidOption("memoryBudgetMb", "a positive integer", options.memoryBudgetMb);
  }
  const nativeMethodArgs = methodArgs(method, options.methodArgs, layers);
  const attributedArgs = stepArgs("attributedFnArgs", options.attributedFnArgs, attributed.impliedArgs);
  const scoreArgs = stepArgs("stepScoresArgs", options.stepScoresArgs, Object.assign({}, ...resolvedScores.map((s) => s.impliedArgs)));
  const contrastTexts = toList("contrastTargets", options.contrastTargets);
  const needsContrast = attributed.def.contrastive || resolvedScores.some((s) => s.def.contrastive);
  if (contrastTexts && contrastTexts.length !== inputs.length) throw invalidOption("contrastTargets", `${inputs.length} texts (one per input)`, contrastTexts);
  const forced = toList("generatedTexts", options.generatedTexts);
  if (forced && forced.length !== inputs.length) throw invalidOption("generatedTexts", `${inputs.length} texts (one per input)`, forced);
  return { method, attributedFnId, attributed, stepScoreIds, resolvedScores, batchSize, nativeMethodArgs, attributedArgs, scoreArgs, contrastTexts, needsContrast, forced };
}

/** Removes the tokenizer's special-token strings from a text (the `skipSpecialTokens` option). @internal */
export function specialTokenStripper(tok: TextTokenizer): (text: string) => string {
  const specials = [...tok.specialTokenIds].map((id) => tok.idToToken(id)).filter((t): t is string => !!t);
  return (text) => specials.reduce((acc, t) => acc.replaceAll(t, ""), text);
}

/**
 * The attributed range [start, end) of a target of n tokens: attrPosStart / attrPosEnd (negative: from the
 * end), never before `floor` (the prompt length, or 1). @internal
 */
export function attributedRange(n: number, options: SharedAttributeOptions, floor: number, input: number): { start: number; end: number } {
  const rel = (v: number) => (v < 0 ? n + v : v);
  const start = Math.max(options.attrPosStart !== undefined ? rel(options.attrPosStart) : floor, floor, 1);
  const end = options.attrPosEnd !== undefined ? Math.min(rel(options.attrPosEnd), n) : n;
  if (start >= end) {
    throw invalidOption("attrPosStart/attrPosEnd", `a non-empty range of target positions within [${floor}, ${n}) for input ${input}`, `[${start}, ${end})`);
  }
  return { start, end };
}

/** The request fields that do not depend on the model kind's sequence layout. @internal */
export function nativeRequestOptions(r: ResolvedAttributeOptions, options: SharedAttributeOptions):
  Omit<NativeAttributionRequest, "sequences" | "attrStart" | "attrEnd"> {
  const customStepFunctions: Record<string, string> = {};
  for (const d of [r.attributed.def, ...r.resolvedScores.map((x) => x.def)]) if (d.torchscript) customStepFunctions[d.id] = d.torchscript;
  return {
    customStepFunctions, method: r.method,
    attributedFn: r.attributed.def.id, attributedFnArgs: r.attributedArgs,
    stepScores: r.resolvedScores.filter((s) => !s.def.custom).map((s) => s.def.id), stepScoresArgs: r.scoreArgs,
    contrastForceInputs: options.contrastForceInputs ?? false,
    granular: options.granular ?? false, memoryBudgetMb: options.memoryBudgetMb, schedule: options.schedule, ...r.nativeMethodArgs,
    onProgress: options.onProgress,
  };
}

/** The number of attributed (generated) steps of prepared sequences [start, end). @internal */
export function stepsOf(prepared: ReadonlyArray<{ start: number; end: number }>): number {
  return prepared.reduce((n, p) => n + p.end - p.start, 0);
}

/**
 * Progress of one native job (the generated steps of its batch) as progress of the whole attribute() call:
 * `before` steps were done by earlier jobs, `total` is every input's number of attributed steps. Native events
 * arrive asynchronously (possibly after the job's promise settles): `finish(steps)` reports the batch as done
 * once and drops any later event, so `done` never goes back and the last event is `total`. @internal
 */
export function jobProgress(onProgress: ((done: number, total: number) => void) | undefined, before: number, total: number):
  { report: ((done: number) => void) | undefined; finish: (steps: number) => void } {
  if (!onProgress) return { report: undefined, finish: () => {} };
  let last = -1;
  let closed = false;
  return {
    report: (done) => {
      if (closed || done < last) return;
      last = done;
      onProgress(before + done, total);
    },
    finish: (steps) => {
      if (closed) return;
      closed = true;
      if (last < steps) onProgress(before + steps, total);
    },
  };
}

/** The native step scores of one sequence under their requested names (plus IG's `deltas`). @internal */
export function nativeStepScores(r: ResolvedAttributeOptions, raw: Record<string, Float32Array>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const s of r.resolvedScores) if (!s.def.custom) out[s.id] = raw[s.def.id]!;
  if (raw.deltas) out.deltas = raw.deltas;
  return out;
}

/**
 * Hidden dimension reduced on the device: finish Inseq's default aggregation (L1 normalisation) and mark it
 * coarse, so that neither we nor Python Inseq aggregate it again. @internal
 */
export function finishReduced(seq: FeatureAttributionSequenceOutput, kind: NativeAttributionResult["kind"]): FeatureAttributionSequenceOutput {
  return kind === "granular_reduced" ? seq.defaultAggregate().with({ kind: "coarse" }) : seq;
}

/** Token strings with ids (and word ids when known). @internal */
export function tokensWithIds(tok: TextTokenizer, ids: readonly number[], wordIds?: ReadonlyArray<number | null>): TokenWithId[] {
  return tok.convertIdsToTokens([...ids]).map((t, j) => (wordIds ? { token: t ?? "", id: ids[j]!, wordId: wordIds[j] ?? null } : { token: t ?? "", id: ids[j]! }));
}

/**
 * Custom (JS, forward-only) step scores from the logits of each step: `logitsOf(i)` gives sequence i's logits
 * [1, end - 1, vocab], row t - 1 predicting target token t. @internal
 */
export async function addCustomScores(
  r: ResolvedAttributeOptions,
  targets: ReadonlyArray<{ ids: readonly number[]; start: number; end: number }>,
  sequences: FeatureAttributionSequenceOutput[],
  logitsOf: (i: number) => Promise<{ shape: number[]; data: Float32Array }>,
  args: Record<string, unknown>,
): Promise<void> {
  const scores = r.resolvedScores.filter((s) => s.def.custom);
  if (scores.length === 0) return;
  for (let i = 0; i < targets.length; i++) {
    const p = targets[i]!;
    const logits = await logitsOf(i);
    const vocab = logits.shape[2]!;
    for (const s of scores) {
      const values = new Float32Array(p.end - p.start);
      for (let t = p.start; t < p.end; t++) {
        values[t - p.start] = s.def.custom!({ logits: logits.data.subarray((t - 1) * vocab, t * vocab), target: p.ids[t]!, position: t, ids: p.ids, args });
      }
      sequences[i]!.stepScores[s.id] = values;
    }
  }
}

/** How a call uses contrastive step functions, for `warnZeroContrast`. @internal */
export function contrastUse(r: ResolvedAttributeOptions, options: SharedAttributeOptions, hasContrast: boolean, unchangedInputs: number[]): ContrastUse {
  return {
    attributedFn: r.attributed.def.contrastive ? r.attributedFnId : null,
    stepScores: r.resolvedScores.filter((s) => s.def.contrastive).map((s) => s.id),
    hasContrast, forceInputs: options.contrastForceInputs ?? false, unchangedInputs,
  };
}

/**
 * The `info` block of a FeatureAttributionOutput, as Inseq fills it: keyword arguments in snake_case, the
 * contrastive ones (contrast_targets, ...) in the args of the contrastive functions that used them. @internal
 */
export function attributionInfo(r: ResolvedAttributeOptions, options: SharedAttributeOptions & { generationArgs?: object }, a: {
  model: { name: string; modelClass: string; tokenizerClass: string };
  sequences: ReadonlyArray<{ input: string; generated: string; start: number; end: number }>;
  attributeTarget: boolean;
  generated: boolean;             // targets were generated (from scratch or from a forced prefix)
  generateFromTargetPrefix: boolean;
  started: number;
}): Record<string, unknown> {
  const contrast = contrastInfoArgs(options);
  return inseqInfo({
    attribution_method: r.method,
    attr_pos_start: Math.min(...a.sequences.map((p) => p.start)),
    attr_pos_end: Math.max(...a.sequences.map((p) => p.end)),
    output_step_attributions: Boolean(options.outputStepAttributions),
    attribute_target: a.attributeTarget,
    step_scores: r.stepScoreIds,
    model_name: a.model.name,
    model_class: a.model.modelClass,
    tokenizer_name: a.model.name,
    tokenizer_class: a.model.tokenizerClass,
    include_eos_baseline: options.includeEosBaseline ?? false,
    attributed_fn: r.attributedFnId,
    attribution_args: options.methodArgs ?? {},
    attributed_fn_args: { ...options.attributedFnArgs, ...(r.attributed.def.contrastive ? contrast : {}) },
    step_scores_args: { ...options.stepScoresArgs, ...(r.resolvedScores.some((s) => s.def.contrastive) ? contrast : {}) },
    input_texts: a.sequences.map((p) => p.input),
    generated_texts: a.sequences.map((p) => p.generated),
    generation_args: a.generated ? { ...(options.generationArgs ?? {}) } : {},
    constrained_decoding: Boolean(r.forced),
    generate_from_target_prefix: a.generateFromTargetPrefix,
    exec_time: (performance.now() - a.started) / 1000,
  });
}

interface PreparedSequence {
  wordIds?: Array<number | null>;
  input: string;
  generated: string;
  ids: number[];
  start: number;
  end: number;
  baseline: number[];
  contrastIds?: number[];
  contrastPositions?: number[];
}

/** Model.attribute(): see AttributeOptions. @internal */
export async function attribute(handle: AttributableModel, inputTexts: string | readonly string[], options: AttributeOptions = {}): Promise<FeatureAttributionOutput> {
  const started = performance.now();
  checkOptions("attribute", options, ATTRIBUTE_OPTIONS);
  const { model } = handle;
  const tok = model.tokenizer;
  let inputs = toList("inputTexts", inputTexts as string | string[]);
  if (!inputs || inputs.length === 0) throw invalidOption("inputTexts", "at least one input text", inputTexts);
  const resolved = resolveAttributeOptions(inputs, options, handle.defaultMethod, { decoder: model.info.numLayers, encoder: 0 });
  const { batchSize, contrastTexts, needsContrast } = resolved;
  let forced = resolved.forced;

  if (options.skipSpecialTokens) {
    const strip = specialTokenStripper(tok);
    inputs = inputs.map(strip);
    forced = forced?.map(strip);
  }
  const addSpecialTokens = !options.skipSpecialTokens;

  // 1. Targets: forced, or generated first (KV-cached) from the prompts.
  const promptEnc = await tok.encodeBatch(inputs, { addSpecialTokens });
  const promptIds = promptEnc.map((e, i) => {
    if (e.ids.length > 0) return e.ids;
    const bos = tok.bosTokenId ?? (model.info.bosTokenId >= 0 ? model.info.bosTokenId : null);
    if (bos == null) throw invalidOption(`inputTexts[${i}]`, "a non-empty prompt (this model has no BOS token)", inputs![i]);
    return [bos];
  });
  let fullIds: number[][];
  let wordIds: Array<Array<number | null> | undefined>;
  let generatedTexts: string[];
  if (forced) {
    forced.forEach((g, i) => {
      if (!g.startsWith(inputs![i]!)) throw invalidOption(`generatedTexts[${i}]`, `a text starting with its prompt ${JSON.stringify(inputs![i])}`, g);
    });
    const enc = await tok.encodeBatch(forced, { addSpecialTokens });
    fullIds = enc.map((e) => e.ids);
    wordIds = enc.map((e) => e.wordIds);
    generatedTexts = forced;
  } else {
    const gen = await handle.generate(inputs, { maxNewTokens: 20, ...(options.generationArgs ?? {}), returnIds: true, signal: options.signal, skipSpecialTokens: false });
    fullIds = gen.sequences.map((s) => s.ids);
    generatedTexts = await tok.decodeBatch(fullIds, { skipSpecialTokens: true });
    // word ids of the generated ids, when re-encoding the text gives the same ids back (it usually does)
    const again = await tok.encodeBatch(await tok.decodeBatch(fullIds, { skipSpecialTokens: false }), { addSpecialTokens: false });
    wordIds = again.map((e, i) => (JSON.stringify(e.ids) === JSON.stringify(fullIds[i]) ? e.wordIds : undefined));
  }

  // 2. Positions, baselines, contrasts.
  const unk = tok.unkTokenId ?? model.padTokenId;
  const eos = new Set(model.eosTokenIds);
  const vocab = model.info.vocabSize;
  if (options.baselineIds !== undefined) checkRows(options.baselineIds, { name: "baselineIds", below: vocab });
  const contrastEnc = contrastTexts ? (await tok.encodeBatch(contrastTexts, { addSpecialTokens })).map((e) => e.ids) : undefined;
  const prepared: PreparedSequence[] = fullIds.map((ids, i) => {
    const n = ids.length;
    const promptLength = Math.min(promptIds[i]!.length, n);
    const { start, end } = attributedRange(n, options, promptLength, i);
    let baseline = ids.map((id) => (eos.has(id) && !options.includeEosBaseline ? id : unk));
    const custom = options.baselineIds?.[i];
    if (custom) {
      if (custom.length !== n) {
        throw invalidOption(`baselineIds[${i}]`, `${n} valid token ids (the tokenized target length)`, custom);
      }
      baseline = [...custom];
    }
    const p: PreparedSequence = { input: inputs![i]!, generated: generatedTexts[i]!, ids, wordIds: wordIds[i], start, end, baseline };
    if (needsContrast && contrastEnc) {
      p.contrastIds = contrastEnc[i]!;
      p.contrastPositions = contrastPositions(n, p.contrastIds.length, start, end, alignmentsOf(options.contrastTargetsAlignments, i));
    }
    return p;
  });
  warnZeroContrast(contrastUse(resolved, options, Boolean(contrastEnc),
    prepared.flatMap((p, i) => (p.contrastIds && sameContrastTokens(p.ids, p.start, p.contrastIds, p.contrastPositions!) ? [i] : []))));

  // 3. Native attribution, one job per batch of inputs.
  const sequences: FeatureAttributionSequenceOutput[] = [];
  for (let b0 = 0; b0 < prepared.length; b0 += batchSize) {
    const batch = prepared.slice(b0, b0 + batchSize);
    const withContrast = batch.every((p) => p.contrastIds);
    const progress = jobProgress(options.onProgress, stepsOf(prepared.slice(0, b0)), stepsOf(prepared));
    const request: NativeAttributionRequest = {
      ...nativeRequestOptions(resolved, options),
      onProgress: progress.report,
      sequences: toRagged(batch.map((p) => p.ids), { name: "generatedTexts", below: vocab, firstRow: b0 }),
      baselines: toRagged(batch.map((p) => p.baseline), { name: "baselineIds", below: vocab, firstRow: b0 }),
      attrStart: batch.map((p) => p.start), attrEnd: batch.map((p) => p.end),
      contrastSequences: withContrast ? toRagged(batch.map((p) => p.contrastIds!), { name: "contrastTargets", below: vocab, firstRow: b0 }) : null,
      contrastPositions: withContrast ? toRagged(batch.map((p) => p.contrastPositions!), { name: "contrastTargetsAlignments", below: Number.MAX_SAFE_INTEGER, what: "a contrast position", firstRow: b0 }) : null,
    };
    const raw = await handle.run((nm) =>
      runNativeJob((cancel) => nm.attribute({ ...request, cancel }), options.signal),
    );
    progress.finish(stepsOf(batch));
    for (let k = 0; k < batch.length; k++) {
      const p = batch[k]!;
      const r = raw.sequences[k]!;
      const target = tokensWithIds(tok, p.ids, p.wordIds);
      const seq = new FeatureAttributionSequenceOutput({
        source: target.slice(0, p.start),
        target,
        targetAttributions: r.attributions ? { dims: ["target", "generated", ...raw.extraDims], shape: r.attributions.shape, data: r.attributions.data } : null,
        stepScores: nativeStepScores(resolved, r.stepScores),
        attrPosStart: p.start,
        attrPosEnd: p.end,
        kind: raw.kind === "granular_reduced" ? "granular" : raw.kind,
        extraDimNames: raw.extraDims,
      });
      sequences.push(finishReduced(seq, raw.kind));
    }
  }

  // 4. Custom (JS, forward-only) step scores from the logits of each step.
  await addCustomScores(resolved, prepared, sequences,
    async (i) => (await handle.forward([prepared[i]!.ids.slice(0, prepared[i]!.end - 1)], { signal: options.signal })).logits,  // [1, end-1, V]
    options.stepScoresArgs ?? {});

  const info = attributionInfo(resolved, options, {
    model: model.info, sequences: prepared, attributeTarget: false, generated: !forced, generateFromTargetPrefix: false, started,
  });
  const output = new FeatureAttributionOutput(sequences, info);
  if (options.outputStepAttributions) output.stepAttributions = stepOutputs(sequences);
  return output;
}

/** Inseq's per-step outputs, cut from the sequence outputs' columns. */
export function stepOutputs(sequences: FeatureAttributionSequenceOutput[]): FeatureAttributionStepOutput[] {
  const steps = Math.max(...sequences.map((s) => s.attrPosEnd - s.attrPosStart));
  const out: FeatureAttributionStepOutput[] = [];
  for (let j = 0; j < steps; j++) {
    const prefix = Math.max(...sequences.map((s) => s.attrPosStart + j));
    const first = sequences.find((s) => s.targetAttributions)?.targetAttributions;
    let targetAttributions: ScoreTensor | null = null;
    if (first) {
      const extra = first.shape.slice(2);
      const inner = extra.reduce((a, b) => a * b, 1);
      const data = new Float32Array(sequences.length * prefix * inner).fill(Number.NaN);
      sequences.forEach((s, b) => {
        const t = s.targetAttributions!;
        const cols = t.shape[1]!;
        if (j >= cols) return;
        for (let r = 0; r < Math.min(t.shape[0]!, prefix); r++) {
          data.set(t.data.subarray((r * cols + j) * inner, (r * cols + j + 1) * inner), (b * prefix + r) * inner);
        }
      });
      targetAttributions = { dims: ["batch", "prefix", ...first.dims.slice(2)], shape: [sequences.length, prefix, ...extra], data };
    }
    const stepScores: Record<string, Float32Array> = {};
    for (const name of Object.keys(sequences[0]!.stepScores)) {
      stepScores[name] = Float32Array.from(sequences, (s) => s.stepScores[name]?.[j] ?? Number.NaN);
    }
    const target = sequences.map((s) => (s.attrPosStart + j < s.attrPosEnd ? s.target[s.attrPosStart + j]! : null));
    out.push({ step: j, targetAttributions, stepScores, target });
  }
  return out;
}
