/**
 * attributeContext() (PECoRe, Sarti et al. ICLR 2024) options: Python Inseq's `AttributeContextArgs` in camelCase,
 * their option table, and their resolution (defaults and checks in one place, as Inseq's `__post_init__`).
 */
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { SamplingOptions } from "../contract/sampling.js";
import type { AggregatorInput } from "../aggregators/pipeline.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import type { GenerationOutput, ModelKind } from "../contract/model-contract.js";
import type { Seq2SeqAttributeOptions } from "../attribution/options.js";
import type { TextTokenizer } from "../tokenizers/tokenizer.js";
import { getMethod, listStepFunctions, methodOrDefault, resolveStepFunction, type AnyStepFunctionId, type MethodId } from "../attribution/registry.js";

/**
 * What attributeContext() uses of a loaded model (`Model` and `Seq2SeqModel` both fit): its kind, tokenizers,
 * attribute() and generate() with ids. A structural type, so lib/context depends on no model class.
 */
export interface ContextModel {
  readonly kind: ModelKind;
  readonly info: { name: string; attributionMethod?: string | undefined; device?: string };
  readonly tokenizer: TextTokenizer;
  readonly targetTokenizer: TextTokenizer;
  attribute(inputTexts: string, options: Seq2SeqAttributeOptions): Promise<FeatureAttributionOutput>;
  generate(texts: string, options: SamplingOptions & { returnIds: true; skipSpecialTokens?: boolean; targetPrefix?: string; signal?: AbortSignal }): Promise<GenerationOutput>;
}

/** The contrastive step functions CTI can use as its context-sensitivity metric. */
export const CONTEXT_SENSITIVITY_METRICS = [
  "contrast_logits", "contrast_prob", "contrast_logits_diff", "contrast_prob_diff", "pcxmi", "kl_divergence", "in_context_pvi",
] as const;
export type ContextSensitivityMetric = (typeof CONTEXT_SENSITIVITY_METRICS)[number];

/** How an output context generated together with the current output is split from it (Inseq's `HandleOutputContextSetting`). */
export const OUTPUT_CONTEXT_STRATEGIES = ["manual", "auto", "pre"] as const;
export type OutputContextStrategy = (typeof OUTPUT_CONTEXT_STRATEGIES)[number];

/**
 * Asked with `handleOutputContextStrategy: "manual"`: the generated output and the automatic candidate for its
 * context (null when none was found); resolves to the context to use (a prefix of `output`, possibly "").
 */
export type ConfirmOutputContext = (output: string, candidate: string | null) => Promise<string>;

export interface AttributeContextOptions {
  /** The current input (`{current}` of inputTemplate); required, non-empty. */
  inputCurrentText: string;
  /** The input context (`{context}` of inputTemplate). */
  inputContextText?: string | null;
  /** Default "{context} {current}" with an input context, else "{current}". */
  inputTemplate?: string | null;
  /** An output-side context (e.g. a chain of thought) preceding the current output. */
  outputContextText?: string | null;
  /** The output to test (forced); generated when absent. */
  outputCurrentText?: string | null;
  /** Default "{context} {current}" with an output context, else "{current}"; {context} before {current}. */
  outputTemplate?: string | null;
  /** Template of the contextless input (default "{current}"). */
  contextlessInputCurrentText?: string | null;
  /** Template of the contextless output (default "{current}"). */
  contextlessOutputCurrentText?: string | null;
  /** CTI metric (default "kl_divergence"). */
  contextSensitivityMetric?: ContextSensitivityMetric;
  /** CTI selection: |score| >= mean + λ·std (default 1). */
  contextSensitivityStdThreshold?: number | null;
  /** CTI: keep at most k tokens after the threshold. */
  contextSensitivityTopk?: number | null;
  /** CCI attribution method (default: the model's, else "saliency"). */
  attributionMethod?: MethodId;
  /** Method options of the CCI attribution (attribute()'s `methodArgs`, camelCase). */
  attributionKwargs?: Record<string, unknown>;
  /** CCI attributed function (default "probability"); contrastive ones compare with a contextless alternative. */
  attributedFn?: AnyStepFunctionId | null;
  /** Options of the attributed function (attribute()'s `attributedFnArgs`). */
  attributedFnArgs?: Record<string, unknown>;
  /** One contextless alternative token per selected CTI token (contrastive attributedFn only). */
  contextlessOutputNextTokens?: readonly string[];
  /**
   * Asked for each selected token when `attributedFn` is contrastive (Inseq's
   * prompt_user_for_contextless_output_next_tokens): the contextual prefix and token; resolve to the alternative
   * text (its first token is used) or null to let the model generate it. Not with `contextlessOutputNextTokens`.
   */
  chooseContextlessNextToken?: (query: { prefix: string; token: string; ctiIdx: number }) => Promise<string | null>;
  /** Default "auto" in the library (it cannot prompt); "manual" needs `confirmOutputContext`. */
  handleOutputContextStrategy?: OutputContextStrategy;
  /** Called for "manual" (see ConfirmOutputContext). */
  confirmOutputContext?: ConfirmOutputContext;
  /** Special tokens kept in texts and token lists (e.g. "<brk>"). */
  specialTokensToKeep?: readonly string[];
  /** Separator between prompt and output for decoder-only models (default " "). */
  decoderInputOutputSeparator?: string;
  /** CCI cue highlight threshold of the views (default 1); saved, not used in the computation. */
  attributionStdThreshold?: number | null;
  attributionTopk?: number | null;
  /** Aggregation of the CCI attributions (default: the default aggregator). */
  attributionAggregators?: AggregatorInput;
  /** With an array of aggregator ids: one `selectIdx` per aggregator, each run as its own step (Inseq's selectors). */
  attributionSelectors?: readonly number[];
  /** Normalize / rescale the CCI attributions (default false, as Inseq's CLI). */
  normalizeAttributions?: boolean;
  rescaleAttributions?: boolean;
  /** Generation options for generated outputs (greedy, maxNewTokens 20 by default). */
  generationArgs?: SamplingOptions;
  /** Stored in the output's info (Inseq's `model_name_or_path`); default the model's name. */
  modelNameOrPath?: string;
  /** Keep the options in `info` (default true). */
  addOutputInfo?: boolean;
  /**
   * Locate the current output among the full output's tokens as Inseq 0.7.1 does (full count minus the count of
   * the output tokenized on its own), which is off by the difference when the output tokenizes differently alone
   * (e.g. "to" vs " to" in a small BPE vocabulary): CCI then attributes a neighbouring token, or fails. Default
   * false: the tokens as they are in context. Only for reproducing Inseq's numbers (the golden tests use it).
   */
  inseqCurrentOffset?: boolean;
  /** Called after CTI and after each CCI attribution: (done, total) with total = 1 + the selected tokens. */
  onProgress?: (done: number, total: number) => void;
  /** Called with the intermediate attribution outputs: the CTI run, then each CCI run (Inseq's show_intermediate_outputs). */
  onIntermediate?: (stage: "cti" | "cci", output: FeatureAttributionOutput) => void;
  signal?: AbortSignal;
}

export const ATTRIBUTE_CONTEXT_OPTIONS = {
  inputCurrentText: "string", inputContextText: "checked", inputTemplate: "checked", outputContextText: "checked",
  outputCurrentText: "checked", outputTemplate: "checked", contextlessInputCurrentText: "checked", contextlessOutputCurrentText: "checked",
  contextSensitivityMetric: { oneOf: CONTEXT_SENSITIVITY_METRICS }, contextSensitivityStdThreshold: "checked", contextSensitivityTopk: "checked",
  attributionMethod: "string", attributionKwargs: "object", attributedFn: "checked", attributedFnArgs: "object",
  contextlessOutputNextTokens: "checked", chooseContextlessNextToken: "function", handleOutputContextStrategy: { oneOf: OUTPUT_CONTEXT_STRATEGIES }, confirmOutputContext: "function",
  specialTokensToKeep: "checked", decoderInputOutputSeparator: "string", attributionStdThreshold: "checked", attributionTopk: "checked",
  attributionAggregators: "checked", attributionSelectors: "checked", normalizeAttributions: "boolean", rescaleAttributions: "boolean", generationArgs: "object",
  modelNameOrPath: "string", addOutputInfo: "boolean", inseqCurrentOffset: "boolean", onIntermediate: "function", onProgress: "function", signal: "signal",
} as const satisfies OptionTable;

/** The options after defaults and checks. */
export interface ResolvedContextOptions {
  inputCurrentText: string;
  inputContextText: string | null;
  inputTemplate: string;
  outputContextText: string | null;
  outputCurrentText: string | null;
  outputTemplate: string;
  contextlessInputCurrentText: string;
  contextlessOutputCurrentText: string;
  contextSensitivityMetric: ContextSensitivityMetric;
  contextSensitivityStdThreshold: number | null;
  contextSensitivityTopk: number | null;
  attributionMethod: string;
  attributionKwargs: Record<string, unknown>;
  attributedFn: string | null;
  attributedFnArgs: Record<string, unknown> | undefined;
  contextlessOutputNextTokens: string[];
  chooseContextlessNextToken: AttributeContextOptions["chooseContextlessNextToken"];
  handleOutputContextStrategy: OutputContextStrategy;
  confirmOutputContext: ConfirmOutputContext | undefined;
  specialTokensToKeep: string[];
  decoderInputOutputSeparator: string;
  attributionStdThreshold: number | null;
  attributionTopk: number | null;
  attributionAggregators: AggregatorInput | undefined;
  attributionSelectors: number[] | null;
  normalizeAttributions: boolean;
  rescaleAttributions: boolean;
  generationArgs: SamplingOptions;
  hasInputContext: boolean;
  hasOutputContext: boolean;
  /** Inseq's warnings of `__post_init__` (ignored contexts, template suffix), emitted once by the caller. */
  notes: string[];
}

const optString = (name: string, v: unknown): string | null => {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw invalidOption(name, "a string", v);
  return v;
};
const optNumber = (name: string, v: unknown, fallback: number | null): number | null => {
  if (v === undefined) return fallback;
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isFinite(v)) throw invalidOption(name, "a finite number", v);
  return v;
};
const optTopk = (name: string, v: unknown): number | null => {
  if (v === undefined || v === null || v === 0) return null;
  if (!Number.isInteger(v) || (v as number) < 0) throw invalidOption(name, "a positive integer", v);
  return v as number;
};
const stringList = (name: string, v: unknown): string[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalidOption(name, "an array of strings", v);
  return [...v];
};

/** Validates `options` and applies Inseq's defaults (`AttributeContextArgs.__post_init__`). */
export function resolveContextOptions(options: AttributeContextOptions, defaultMethod: string | undefined): ResolvedContextOptions {
  if (options === null || typeof options !== "object") throw invalidOption("attributeContext options", "an object", options);
  checkOptions("attributeContext", options, ATTRIBUTE_CONTEXT_OPTIONS);
  const notes: string[] = [];
  const inputCurrentText = options.inputCurrentText;
  if (typeof inputCurrentText !== "string" || inputCurrentText.length === 0) throw invalidOption("inputCurrentText", "a non-empty string", inputCurrentText);
  let inputContextText = optString("inputContextText", options.inputContextText);
  let outputContextText = optString("outputContextText", options.outputContextText);
  const outputCurrentText = optString("outputCurrentText", options.outputCurrentText);
  const inputTemplate = optString("inputTemplate", options.inputTemplate) ?? (inputContextText === null ? "{current}" : "{context} {current}");
  const outputTemplate = optString("outputTemplate", options.outputTemplate) ?? (outputContextText === null ? "{current}" : "{context} {current}");
  const contextlessInputCurrentText = optString("contextlessInputCurrentText", options.contextlessInputCurrentText) ?? "{current}";
  const contextlessOutputCurrentText = optString("contextlessOutputCurrentText", options.contextlessOutputCurrentText) ?? "{current}";
  for (const [name, t] of [["contextlessInputCurrentText", contextlessInputCurrentText], ["contextlessOutputCurrentText", contextlessOutputCurrentText],
    ["inputTemplate", inputTemplate], ["outputTemplate", outputTemplate]] as const) {
    if (!t.includes("{current}")) throw invalidOption(name, "a template containing {current}", t);
  }
  const strategy = options.handleOutputContextStrategy ?? "auto";
  const hasInputContext = inputTemplate.includes("{context}");
  const hasOutputContext = outputTemplate.includes("{context}");
  if (strategy === "pre" && !outputContextText && hasOutputContext) {
    throw invalidOption("outputContextText", 'an output context when handleOutputContextStrategy is "pre" and outputTemplate has {context}', outputContextText);
  }
  if (inputContextText && !hasInputContext) {
    notes.push(`inputTemplate "${inputTemplate}" has no {context}: the inputContextText given is ignored`);
    inputContextText = null;
  }
  if (outputContextText && !hasOutputContext) {
    notes.push(`outputTemplate "${outputTemplate}" has no {context}: the outputContextText given is ignored`);
    outputContextText = null;
  }
  if (!inputContextText && hasInputContext) throw invalidOption("inputContextText", `a context for inputTemplate "${inputTemplate}" (it has {context})`, inputContextText);
  if (hasOutputContext && outputTemplate.indexOf("{context}") > outputTemplate.indexOf("{current}")) {
    throw invalidOption("outputTemplate", "a template with {context} before {current}", outputTemplate);
  }
  if (!outputTemplate.endsWith("{current}")) {
    notes.push(`outputTemplate has the suffix "${outputTemplate.split("{current}")[1]}": it is stripped from generated outputs; force outputCurrentText if needed`);
  }
  const metric = options.contextSensitivityMetric ?? "kl_divergence";
  const attributionMethod = methodOrDefault(options.attributionMethod, defaultMethod);
  getMethod(attributionMethod);
  const attributedFn = options.attributedFn ?? null;
  if (attributedFn !== null) {
    if (typeof attributedFn !== "string") throw invalidOption("attributedFn", `a step function id (${listStepFunctions().join(", ")})`, attributedFn);
    resolveStepFunction(attributedFn);
  }
  const contextlessOutputNextTokens = stringList("contextlessOutputNextTokens", options.contextlessOutputNextTokens);
  const specialTokensToKeep = stringList("specialTokensToKeep", options.specialTokensToKeep);
  if (contextlessOutputNextTokens.length > 0 && options.chooseContextlessNextToken) {
    throw invalidOption("contextlessOutputNextTokens / chooseContextlessNextToken", "at most one of the two", "both");
  }
  if (strategy === "manual" && options.confirmOutputContext === undefined) {
    throw new InseqError(ErrorCode.INVALID_OPTION,
      'Expected a confirmOutputContext callback for handleOutputContextStrategy "manual" but received undefined; ' +
      'a library call cannot prompt: pass the callback, or use "auto" / "pre"');
  }
  const selectors = options.attributionSelectors;
  if (selectors !== undefined && selectors !== null) {
    const aggs = options.attributionAggregators;
    if (!Array.isArray(selectors) || selectors.some((x) => !Number.isInteger(x))) throw invalidOption("attributionSelectors", "an array of integers", selectors);
    if (!Array.isArray(aggs) || aggs.length !== selectors.length || aggs.some((a) => typeof a !== "string")) {
      throw invalidOption("attributionSelectors", "one selector per aggregator id of attributionAggregators (an array of ids)", selectors);
    }
  }
  if (options.normalizeAttributions && options.rescaleAttributions) {
    throw invalidOption("normalizeAttributions / rescaleAttributions", "at most one of the two", "both");
  }
  return {
    inputCurrentText, inputContextText, inputTemplate, outputContextText, outputCurrentText, outputTemplate,
    contextlessInputCurrentText, contextlessOutputCurrentText, contextSensitivityMetric: metric,
    contextSensitivityStdThreshold: optNumber("contextSensitivityStdThreshold", options.contextSensitivityStdThreshold, 1),
    contextSensitivityTopk: optTopk("contextSensitivityTopk", options.contextSensitivityTopk),
    attributionMethod, attributionKwargs: { ...(options.attributionKwargs ?? {}) }, attributedFn, attributedFnArgs: options.attributedFnArgs,
    contextlessOutputNextTokens, chooseContextlessNextToken: options.chooseContextlessNextToken, handleOutputContextStrategy: strategy, confirmOutputContext: options.confirmOutputContext,
    specialTokensToKeep, decoderInputOutputSeparator: options.decoderInputOutputSeparator ?? " ",
    attributionStdThreshold: optNumber("attributionStdThreshold", options.attributionStdThreshold, 1),
    attributionTopk: optTopk("attributionTopk", options.attributionTopk),
    attributionAggregators: options.attributionAggregators, attributionSelectors: selectors ? [...selectors] : null, normalizeAttributions: options.normalizeAttributions ?? false,
    rescaleAttributions: options.rescaleAttributions ?? false, generationArgs: { ...(options.generationArgs ?? {}) },
    hasInputContext, hasOutputContext, notes,
  };
}
