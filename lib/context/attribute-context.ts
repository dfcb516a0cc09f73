/**
 * attributeContext(): PECoRe (Sarti et al., ICLR 2024), Python Inseq's `inseq attribute-context`, over the
 * library's own generate() / attribute():
 * 0. the outputs (`prepareOutputs`: forced, generated, or generated and split into context and current);
 * 1. CTI (`cti.ts`): which tokens of the current output depend on the context;
 * 2. CCI (`cci.ts`): the attribution of each such token to the input and output context tokens.
 */
import { METHODS } from "../attribution/registry.js";
import { abortError } from "../core/errors.js";
import { runCci, type CciInputs } from "./cci.js";
import { filterRankTokens } from "./cti.js";
import { AttributeContextOutput } from "./output.js";
import { prepareOutputs } from "./prepare-outputs.js";
import { concatWithSep, filteredTokens, formatTemplate, rstripSpaces, tokenSide } from "./text.js";
import { resolveContextOptions, type AttributeContextOptions, type ResolvedContextOptions, type ContextModel } from "./types.js";

/** The result plus what the views need (the CTI threshold), and the notes of the run (Inseq's warnings). */
export interface AttributeContextResult {
  output: AttributeContextOutput;
  /** The CTI selection threshold (mean + λ·std of the CTI scores). */
  ctiThreshold: number;
  notes: string[];
  /** Which of prepareOutputs' six cases ran (5, 6: the output context was split from a generated output). */
  outputSetting: 1 | 2 | 3 | 4 | 5 | 6;
}

/**
 * Detects the context-sensitive tokens of an output and attributes them to the input / output context
 * (Python Inseq's `attribute_context_with_model`, options in camelCase; see docs/attribute-context.md).
 * @example
 * const out = await attributeContext(model, {
 *   inputContextText: "George was sick yesterday.", inputCurrentText: "His colleagues asked him to come",
 *   outputCurrentText: "to the hospital. He said he was fine", attributedFn: "contrast_prob_diff",
 * });
 * console.log(out.ctiScores, out.cciScores[0]?.inputContextScores);
 */
export async function attributeContext(model: ContextModel, options: AttributeContextOptions): Promise<AttributeContextOutput> {
  return (await attributeContextWithDetails(model, options)).output;
}

/** attributeContext() with the CTI threshold and the notes (what the CLI and the views use). */
export async function attributeContextWithDetails(model: ContextModel, options: AttributeContextOptions): Promise<AttributeContextResult> {
  const o = resolveContextOptions(options, model.info.attributionMethod);
  const signal = options.signal;
  const check = () => {
    if (signal?.aborted) throw abortError(signal);
  };
  check();
  const isEncDec = model.kind === "encoder-decoder";
  const source = tokenSide(model.tokenizer);
  const target = tokenSide(model.targetTokenizer);
  const keep = o.specialTokensToKeep;
  const sep = o.decoderInputOutputSeparator;
  const notes = [...o.notes];

  // 0. outputs
  const inputFullText = formatTemplate(o.inputTemplate, o.inputCurrentText, o.inputContextText);
  const prepared = await prepareOutputs(model, target, inputFullText, o, signal);
  notes.push(...prepared.notes);
  check();
  const outputContext = prepared.outputContext;
  const outputCurrent = prepared.outputCurrent;
  let outputFullText = formatTemplate(o.outputTemplate, outputCurrent, outputContext);
  const inputContextTokens = o.inputContextText !== null ? await filteredTokens(source, o.inputContextText, keep) : null;
  if (!isEncDec) outputFullText = concatWithSep(inputFullText, outputFullText, sep);
  const standaloneCurrentTokens = await filteredTokens(target, outputCurrent, keep);
  const outputContextTokens = outputContext !== null ? await filteredTokens(target, outputContext, keep) : null;
  const inputFullTokens = await filteredTokens(source, inputFullText, keep);
  const outputFullTokens = await filteredTokens(target, outputFullText, keep);
  // Where the current output starts among the full output's tokens: the tokens of the text before it (without the
  // separator, which joins the next word's token). Inseq subtracts the current output's own token count, which is
  // one or more off when the output tokenizes differently on its own (" to" vs "to" in a small BPE vocabulary) and
  // then attributes the wrong token or none; where the counts agree both are the same.
  const before = outputFullText.endsWith(outputCurrent) ? outputFullText.slice(0, outputFullText.length - outputCurrent.length) : null;
  const outputCurrentOffset = before !== null && !options.inseqCurrentOffset
    ? (await filteredTokens(target, rstripSpaces(before), keep)).length
    : outputFullTokens.length - standaloneCurrentTokens.length;
  // The CCI steps index the current output's tokens as they are in context (what CTI scored) when the counts differ.
  const inContext = outputFullTokens.slice(outputCurrentOffset);
  const outputCurrentTokens = inContext.length === standaloneCurrentTokens.length || options.inseqCurrentOffset ? standaloneCurrentTokens : inContext;
  let contextlessInput = formatTemplate(o.contextlessInputCurrentText, o.inputCurrentText);
  let contextlessOutput = formatTemplate(o.contextlessOutputCurrentText, outputCurrent);
  if (!isEncDec) {
    contextlessInput = concatWithSep(contextlessInput, "", sep);
    contextlessOutput = contextlessInput + contextlessOutput;
  }

  // 1. CTI
  const metric = o.contextSensitivityMetric;
  const ctiOut = await model.attribute(rstripSpaces(contextlessInput), {
    generatedTexts: contextlessOutput, method: "dummy", stepScores: [metric], contrastTargets: outputFullText,
    ...(isEncDec ? { contrastSources: inputFullText, attributeTarget: true } : {}), signal,
  });
  options.onIntermediate?.("cti", ctiOut);
  const ctiSeq = ctiOut.sequenceAttributions[0]!;
  const contextlessOutputPrefix = o.contextlessOutputCurrentText.split("{current}")[0]!;
  const startPos = (await filteredTokens(target, contextlessOutputPrefix, keep)).length;
  let ctiScores = Array.from(ctiSeq.stepScores[metric]!).slice(startPos);
  let ctiTokens = ctiSeq.target.map((t) => t.token).slice(startPos + ctiSeq.attrPosStart);
  if (isEncDec) {
    ctiScores = ctiScores.slice(0, -1);
    ctiTokens = ctiTokens.slice(0, -1);
  }
  const { ranked, threshold } = filterRankTokens(ctiTokens, ctiScores, o.contextSensitivityStdThreshold, o.contextSensitivityTopk);
  options.onProgress?.(1, 1 + ranked.length);
  const output = new AttributeContextOutput({
    inputContext: o.inputContextText, inputContextTokens, outputContext, outputContextTokens, outputCurrent,
    outputCurrentTokens: ctiTokens, ctiScores, info: null,
  });

  // 2. CCI
  const inputs: CciInputs = {
    model, source, target, o, ranked, inputFullTokens, outputFullTokens, outputCurrentOffset, outputCurrentTokens,
    inputContextTokens, outputContextTokens, contextlessInput, contextlessOutputPrefix, granular: METHODS.find((m) => m.id === o.attributionMethod)?.kind === "granular",
  };
  output.cciScores = await runCci(inputs, signal, options.onIntermediate,
    options.onProgress ? (done) => options.onProgress!(1 + done, 1 + ranked.length) : undefined);
  if (options.addOutputInfo ?? true) {
    output.info = infoDict(o, options.modelNameOrPath ?? model.info.name, outputContext, outputCurrent, model.info.device ?? "cpu");
  }
  return { output, ctiThreshold: threshold, notes, outputSetting: prepared.setting };
}

/** The arguments as Inseq's `AttributeContextArgs.to_dict()` (snake_case; the prepared outputs as Inseq stores them). */
export function infoDict(o: ResolvedContextOptions, modelName: string, outputContext: string | null, outputCurrent: string,
  device: string): Record<string, unknown> {
  return {
    show_intermediate_outputs: false, save_path: null, add_output_info: true, viz_path: null, show_viz: false,
    model_name_or_path: modelName, attribution_method: o.attributionMethod, device, attributed_fn: o.attributedFn,
    attribution_selectors: o.attributionSelectors, attribution_aggregators: o.attributionAggregators ?? null, normalize_attributions: o.normalizeAttributions,
    rescale_attributions: o.rescaleAttributions, model_kwargs: {}, tokenizer_kwargs: {}, generation_kwargs: snakeKeys(o.generationArgs),
    attribution_kwargs: snakeKeys(o.attributionKwargs), context_sensitivity_metric: o.contextSensitivityMetric,
    handle_output_context_strategy: o.handleOutputContextStrategy, contextless_output_next_tokens: o.contextlessOutputNextTokens,
    prompt_user_for_contextless_output_next_tokens: false, special_tokens_to_keep: o.specialTokensToKeep,
    decoder_input_output_separator: o.decoderInputOutputSeparator, context_sensitivity_std_threshold: o.contextSensitivityStdThreshold,
    context_sensitivity_topk: o.contextSensitivityTopk, attribution_std_threshold: o.attributionStdThreshold, attribution_topk: o.attributionTopk,
    input_current_text: o.inputCurrentText, input_context_text: o.inputContextText, input_template: o.inputTemplate,
    output_context_text: outputContext, output_current_text: outputCurrent, output_template: o.outputTemplate,
    contextless_input_current_text: o.contextlessInputCurrentText, contextless_output_current_text: o.contextlessOutputCurrentText,
    has_input_context: o.hasInputContext, has_output_context: o.hasOutputContext,
  };
}

function snakeKeys(obj: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && typeof v !== "function").map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
}
