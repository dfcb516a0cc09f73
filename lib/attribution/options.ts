/**
 * attribute() options: the public option types of both model kinds, their option tables, and their resolution
 * (defaults in one place) into the fields of the native request.
 */
import { checkKnownOptions, ErrorCode, InseqError, invalidOption, unknownOption } from "../core/errors.js";
import type { OptionTable } from "../core/options.js";
import type { SamplingOptions } from "../contract/sampling.js";
import type { NativeAttributionRequest, NativeStepArgs } from "../native/binding-types.js";
import { toRagged } from "../native/ragged.js";
import type { TextTokenizer } from "../tokenizers/tokenizer.js";
import type { Alignment } from "./contrast.js";
import { DIG_METHOD, digMethodArgs } from "./dig-options.js";
import { reagentArgs } from "./reagent.js";
import { defaultAttributedFn, getMethod, methodOrDefault, resolveStepFunction, STEP_ARG_NAMES, type AnyStepFunctionId, type MethodId } from "./registry.js";

export interface AttributeOptions {
  /** Forced targets, one per input (decoder-only: each must start with its prompt). Omit to generate. */
  generatedTexts?: string | readonly string[];
  /** Method id (default: the model's method from loadModel, else "saliency"). */
  method?: MethodId;
  /** First / last+1 target position to attribute (negative: from the end). Default: prompt length .. end. */
  attrPosStart?: number;
  attrPosEnd?: number;
  /** Step function whose value is attributed (default "probability"; "logit" for attn_lrp, cp_lrp and alti_logit). */
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
  generationArgs?: SamplingOptions & {
    /** Drop special tokens (BOS, EOS, pad) from the returned texts (default true). */
    skipSpecialTokens?: boolean;
  };
  /** Also return Inseq's per-step outputs in `out.stepAttributions` (views of the sequence columns; not saved). */
  outputStepAttributions?: boolean;
  /** Strip special-token strings from the texts and encode without special tokens. */
  skipSpecialTokens?: boolean;
  /** Method options: nSteps, method (integration grid), internalBatchSize, returnConvergenceDelta, nSamples, stdevs, seed, layer, multiplyByInputs, latentRelevance. */
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
  /**
   * Activation memory for one native batch of rows: bytes, or "auto" (half the available RAM, or half the free
   * memory of the CUDA device). Every method family packs its rows under it; gradient methods recompute blocks
   * in the backward pass when one row would not fit whole (`gradientCheckpointing`). When not even one row
   * fits, the call rejects with `ERR_OUT_OF_MEMORY` naming the bytes one row needs (the model stays usable).
   * Default: the soft device default (up to 1 GiB on the CPU; a row that does not fit runs alone).
   */
  memoryBudget?: number | "auto";
  /** The same budget in MiB, the older form (soft: a row that does not fit runs alone). Not with `memoryBudget`. */
  memoryBudgetMb?: number;
  /**
   * Gradient checkpointing of saliency, input x gradient, integrated gradients and GradientSHAP on native
   * GPT-2 / GPT-NeoX / Llama models: the forward keeps only each block's input and the backward recomputes the block
   * (same results to 1e-5, less activation memory, about a third more time). "auto" (default): when one row's
   * activations would exceed the budget; true: always; false: never.
   */
  gradientCheckpointing?: boolean | "auto";
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
  granular: "boolean", memoryBudget: "checked", memoryBudgetMb: "checked", gradientCheckpointing: "checked", schedule: { oneOf: ["batched", "per_step"] }, signal: "signal", onProgress: "function",
} as const satisfies OptionTable;


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
      throw unknownOption(k, name, STEP_ARG_NAMES);
    }
    out[k] = v;
  }
  return out as NativeStepArgs;
}

/** Which model a layer name is read for: encoder-decoders name their blocks per stack. */
export interface LayerContext {
  seq2seq?: boolean;
  attributeTarget?: boolean;
}

/**
 * A layer by index or by name: "all" (every block), "embeddings" (the input embeddings; also
 * "model.embed_tokens", "transformer.wte", "gpt_neox.embed_in"), or a block ("model.layers.3", "transformer.h.3",
 * "gpt_neox.layers.3", "layers.3", 3).
 * Encoder-decoders: a block index N is encoder block N for the source attributions and, with attributeTarget,
 * decoder block N for the target ones; "model.encoder.layers.3" / "encoder.layers.3" (T5: "encoder.block.3")
 * names the encoder block (source attributions only); "model.shared", "model.encoder.embed_tokens" the embeddings. A decoder block is
 * not named on its own: it is the target side of the block index with attributeTarget.
 */
export function parseLayer(layer: unknown, context: LayerContext = {}): number {
  if (typeof layer === "number" && Number.isInteger(layer) && layer >= -1) return layer;
  if (typeof layer === "string") {
    if (layer === "all") return -2;
    if (/^\d+$/.test(layer)) return Number(layer);
    if (context.seq2seq) {
      if (/^(embeddings|(model\.)?shared|(model\.)?encoder\.embed_tokens)$/.test(layer)) return -1;
      const enc = /^(?:model\.)?encoder\.(?:layers|block)\.(\d+)$/.exec(layer);
      if (enc && context.attributeTarget) {
        throw invalidOption("layer", `a block index (${enc[1]}: encoder and decoder block ${enc[1]}) with attributeTarget; an encoder block alone attributes the source only`, layer);
      }
      if (enc) return Number(enc[1]);
      const dec = /^(?:model\.)?decoder\.(?:layers|block)\.(\d+)$/.exec(layer);
      if (dec) throw invalidOption("layer", `the block index ${dec[1]} with attributeTarget: true (decoder block ${dec[1]} is the target side of encoder and decoder block ${dec[1]})`, layer);
      throw invalidOption("layer", '"all", "embeddings", a block index, or an encoder block name such as "model.encoder.layers.1" / "encoder.block.1"', layer);
    }
    if (/^(embeddings|model\.embed_tokens|embed_tokens|transformer\.wte|wte|(gpt_neox\.)?embed_in)$/.test(layer)) return -1;
    const m = /^(?:(?:model\.|gpt_neox\.)?layers|(?:transformer\.)?h)\.(\d+)$/.exec(layer);
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
  layers: { decoder: number; encoder: number } & LayerContext = { decoder: 0, encoder: 0 }): Partial<NativeAttributionRequest> {
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
  if (a.layer !== undefined) out.layer = parseLayer(a.layer, layers);
  if (method === DIG_METHOD) Object.assign(out, digMethodArgs(a));
  else if (a.method !== undefined) {
    // The native core checks the name (gausslegendre, riemann_left, ...); a number here was once sent as "3".
    if (typeof a.method !== "string") throw invalidOption("method", "the name of an integration grid", a.method);
    out.integration = a.method;
  }
  if (a.maskProb !== undefined) {
    if (typeof a.maskProb !== "number" || !(a.maskProb > 0 && a.maskProb < 1)) throw invalidOption("maskProb", "a number in (0, 1)", a.maskProb);
    out.maskProb = a.maskProb;
  }
  if (a.stdevs !== undefined) {
    if (typeof a.stdevs !== "number" || !(a.stdevs >= 0)) throw invalidOption("stdevs", "a non-negative number", a.stdevs);
    out.stdevs = a.stdevs;
  }
  Object.assign(out, reagentArgs(a));
  // Flags are booleans: a string such as "false" is refused rather than read as true.
  const flag = (k: string) => {
    const v = a[k];
    if (v === undefined || typeof v === "boolean") return v;
    throw invalidOption(k, "a boolean", v);
  };
  out.returnConvergenceDelta = flag("returnConvergenceDelta");
  out.multiplyByInputs = flag("multiplyByInputs");
  if (out.multiplyByInputs === undefined && def.defaults?.multiplyByInputs !== undefined) out.multiplyByInputs = Boolean(def.defaults.multiplyByInputs);  // DIG: false
  out.latentRelevance = flag("latentRelevance");
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
  layers: { decoder: number; encoder: number } & LayerContext): ResolvedAttributeOptions {
  const method = methodOrDefault(options.method, defaultMethod);
  getMethod(method);  // unknown ids fail here with the list
  const attributedFnId = options.attributedFn ?? defaultAttributedFn(method);
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
  checkMemoryBudget(options);
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

/** memoryBudget: a positive integer of bytes or "auto", not together with memoryBudgetMb; gradientCheckpointing. @internal */
export function checkMemoryBudget(options: Pick<SharedAttributeOptions, "memoryBudget" | "memoryBudgetMb" | "gradientCheckpointing">): void {
  const b = options.memoryBudget;
  if (b !== undefined && b !== "auto" && !(Number.isSafeInteger(b) && b > 0)) throw invalidOption("memoryBudget", 'a positive integer of bytes or "auto"', b);
  if (b !== undefined && options.memoryBudgetMb !== undefined) {
    throw invalidOption("memoryBudget", "no memoryBudgetMb beside it (memoryBudgetMb is its older form in MiB; give one)", b);
  }
  const c = options.gradientCheckpointing;
  if (c !== undefined && c !== "auto" && typeof c !== "boolean") throw invalidOption("gradientCheckpointing", 'true, false or "auto"', c);
}

/** gradientCheckpointing as the native request spells it. @internal */
export function nativeCheckpointing(c: boolean | "auto" | undefined): "auto" | "on" | "off" | undefined {
  return c === undefined ? undefined : c === "auto" ? "auto" : c ? "on" : "off";
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
    granular: options.granular, normalize: options.granular !== true, memoryBudgetMb: options.memoryBudgetMb,
    memoryBudget: options.memoryBudget, gradientCheckpointing: nativeCheckpointing(options.gradientCheckpointing), schedule: options.schedule, ...r.nativeMethodArgs,
    onProgress: options.onProgress,
  };
}


export interface Seq2SeqAttributeOptions extends Omit<AttributeOptions, "generationArgs" | "baselineIds"> {
  /** Also attribute the target prefix (`targetAttributions`); default false: source attributions only. */
  attributeTarget?: boolean;
  /** Generate the targets, continuing the forced `generatedTexts` as prefixes (default false). */
  generateFromTargetPrefix?: boolean;
  /** Contrastive source texts (one per input) for contrastive step functions; default: the sources. */
  contrastSources?: string | readonly string[];
  /** Caller-provided source baselines: one array of token ids per input, as long as the tokenized source. */
  baselineIds?: ReadonlyArray<readonly number[]>;
  /** Generation options when targets are generated (maxNewTokens default 20). */
  generationArgs?: SamplingOptions;
}

export const SEQ2SEQ_OPTIONS = { ...ATTRIBUTE_OPTIONS, attributeTarget: "boolean", generateFromTargetPrefix: "boolean", contrastSources: "checked" } as const satisfies OptionTable;
