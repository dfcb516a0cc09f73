/**
 * Contextual cues imputation (CCI): for each token CTI selected, attribute its prediction in the contextual run
 * (the whole contextual input, the contextual output up to the token, only that position attributed), aggregate
 * (default aggregator, no normalisation, as Inseq's CLI), and keep the scores of the input / output context tokens.
 * With a contrastive attributed function the contextless alternative is the contrast: a forced next token
 * (`contextlessOutputNextTokens`) or the model's greedy next token after the contextless prefix.
 */
import { listAggregationFunctions } from "../aggregators/functions.js";
import { resolveStepFunction, type MethodId } from "../attribution/registry.js";
import { abortError, ErrorCode, InseqError } from "../core/errors.js";
import type { FeatureAttributionOutput, FeatureAttributionSequenceOutput } from "../results/attribution.js";
import type { ScoreTensor } from "../results/tensor.js";
import type { RankedToken } from "./cti.js";
import type { CCIOutput } from "./output.js";
import { concatWithSep, filteredTokens, formatTemplate, keptText, lstripSpaces, tokensOf, tokensToString, type TokenSide } from "./text.js";
import type { ContextModel, ResolvedContextOptions } from "./types.js";

export interface CciInputs {
  model: ContextModel;
  source: TokenSide;
  target: TokenSide;
  o: ResolvedContextOptions;
  ranked: RankedToken[];
  inputFullTokens: string[];
  outputFullTokens: string[];
  outputCurrentOffset: number;
  outputCurrentTokens: string[];
  inputContextTokens: string[] | null;
  outputContextTokens: string[] | null;
  /** The contextless input as CTI used it (decoder-only: with the separator at its end). */
  contextlessInput: string;
  contextlessOutputPrefix: string;
  /** The method's raw output keeps the hidden dimension (gradient methods): attribute with `granular: true`. */
  granular: boolean;
}

export async function runCci(x: CciInputs, signal: AbortSignal | undefined,
  onIntermediate?: (stage: "cci", output: FeatureAttributionOutput) => void, onDone?: (done: number) => void): Promise<CCIOutput[]> {
  const { model, source, target, o, ranked } = x;
  const isEncDec = model.kind === "encoder-decoder";
  const keep = o.specialTokensToKeep;
  const contrastive = o.attributedFn !== null && resolveStepFunction(o.attributedFn).def.contrastive;
  if (contrastive && o.contextlessOutputNextTokens.length > 0 && o.contextlessOutputNextTokens.length !== ranked.length) {
    throw new InseqError(ErrorCode.INVALID_OPTION,
      `Expected ${ranked.length} contextlessOutputNextTokens (one per context-sensitive token found by CTI) but received ${o.contextlessOutputNextTokens.length}`);
  }
  const contextualInput = lstripSpaces(await tokensToString(source, x.inputFullTokens));
  // decoder-only: the contextless prompt the alternatives continue (Inseq re-joins it on every step; joining once
  // is the same whenever the separator is already there, i.e. always unless contextlessOutputCurrentText has a prefix)
  const contextlessPrompt = isEncDec ? x.contextlessInput : concatWithSep(x.contextlessInput, x.contextlessOutputPrefix, o.decoderInputOutputSeparator);
  const out: CCIOutput[] = [];
  for (const [step, [ctiIdx, ctiScore, ctiToken]] of ranked.entries()) {
    if (signal?.aborted) throw abortError(signal);
    let contextualOutput = lstripSpaces(await tokensToString(target, x.outputFullTokens.slice(0, x.outputCurrentOffset + ctiIdx + 1)));
    let outputCtxTokens: string[];
    if (!contextualOutput) {
      outputCtxTokens = [x.outputFullTokens[x.outputCurrentOffset + ctiIdx]!];
      if (isEncDec && target.tokenizer.padToken) outputCtxTokens.push(target.tokenizer.padToken);
      contextualOutput = await tokensToString(target, outputCtxTokens, true);
    } else {
      outputCtxTokens = await tokensOf(target, contextualOutput);
    }
    const contrast: Record<string, unknown> = {};
    let contextlessOutput: string | null = null;
    let contrastToken: string | null = null;
    if (contrastive) {
      let forced: string | undefined = o.contextlessOutputNextTokens[step];
      if (o.chooseContextlessNextToken) {
        const prefix = await tokensToString(target, x.outputCurrentTokens.slice(0, ctiIdx));
        const token = displayToken(x.outputCurrentTokens[ctiIdx] ?? ctiToken);
        forced = (await o.chooseContextlessNextToken({ prefix, token, ctiIdx })) ?? undefined;
        if (forced !== undefined && (typeof forced !== "string" || !forced.trim())) {
          throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a non-empty string or null from chooseContextlessNextToken but received ${JSON.stringify(forced)}`);
        }
      }
      contextlessOutput = await contextlessAlternative(x, contextlessPrompt, ctiIdx, forced, signal);
      if (isEncDec) contrast.contrastSources = contextlessPrompt;
      contrast.contrastTargets = contextlessOutput;
      const ctxlessTokens = await tokensOf(target, contextlessOutput);
      const pos = isEncDec ? -2 : -1;
      contrastToken = ctxlessTokens.at(pos) ?? null;
      if (o.attributedFn === "kl_divergence" || outputCtxTokens.at(pos) === contrastToken) contrast.contrastForceInputs = true;
    }
    const bos = target.tokenizer.bosToken;
    const bosOffset = Number(isEncDec || (bos !== null && outputCtxTokens[0] === bos && !keep.includes(bos)));
    const posStart = x.outputCurrentOffset + ctiIdx + bosOffset;
    const attributed = await model.attribute(contextualInput, {
      generatedTexts: contextualOutput, method: o.attributionMethod as MethodId, attrPosStart: posStart,
      ...(o.attributedFn !== null ? { attributedFn: o.attributedFn } : {}),
      ...(o.attributedFnArgs ? { attributedFnArgs: o.attributedFnArgs } : {}),
      methodArgs: o.attributionKwargs, ...(x.granular ? { granular: true } : {}),
      ...(isEncDec ? { attributeTarget: o.hasOutputContext } : {}), ...contrast, signal,
    });
    const seq = aggregateCci(attributed.sequenceAttributions[0]!, o);
    onIntermediate?.("cci", attributed);
    const { inputScores, outputScores } = await contextScores(x, seq);
    out.push({
      ctiIdx, ctiToken, ctiScore, contextualOutput, contrastToken, contextlessOutput,
      inputContextScores: inputScores, outputContextScores: outputScores,
    });
    onDone?.(out.length);
  }
  return out;
}

/** A token as text (space markers as spaces). */
const displayToken = (t: string) => t.replace(/[ĠĊ▁]/g, (c) => (c === "Ċ" ? "\n" : " "));

const takesScoreOptions = (id: unknown) => typeof id === "string" && (id === "scores" || listAggregationFunctions().includes(id));

/**
 * Inseq's `aggregate_attribution_scores` (normalize false by default): with selectors, one aggregate(id, {
 * selectIdx, normalize, rescale }) per aggregator; else one aggregate(aggregators, { normalize }) (Inseq ignores
 * rescale there), the default aggregator when none are given. Score options go only to steps that take them.
 */
function aggregateCci(seq: FeatureAttributionSequenceOutput, o: ResolvedContextOptions): FeatureAttributionSequenceOutput {
  const aggs = o.attributionAggregators;
  const scoreOptions: Record<string, unknown> = { normalize: o.normalizeAttributions, ...(o.rescaleAttributions ? { rescale: true } : {}) };
  if (o.attributionSelectors && Array.isArray(aggs)) {
    let out = seq;
    aggs.forEach((id, i) => {
      const opts = takesScoreOptions(id) ? { ...scoreOptions, selectIdx: o.attributionSelectors![i]! } : {};
      out = out.aggregate(id as string, { ...opts, doPostAggregationChecks: false });
    });
    return out;
  }
  // without selectors Inseq passes normalize only (rescale is ignored there)
  const normalizeOnly = { normalize: o.normalizeAttributions };
  if (aggs === undefined) {
    if (seq.kind === "coarse" && !o.normalizeAttributions) return seq;
    return seq.aggregate(undefined, normalizeOnly);
  }
  const steps = Array.isArray(aggs) ? aggs : [aggs];
  const anyScores = steps.some((st) => takesScoreOptions(typeof st === "string" ? st : Array.isArray(st) ? "scores" : (st as { aggregator: string }).aggregator));
  return seq.aggregate(aggs, anyScores ? normalizeOnly : {});
}

/** The contextless output ending with the alternative of token `ctiIdx` (Inseq's `get_contextless_output`). */
async function contextlessAlternative(x: CciInputs, contextlessPrompt: string, ctiIdx: number, forced: string | undefined,
  signal: AbortSignal | undefined): Promise<string> {
  const { model, target, o } = x;
  const isEncDec = model.kind === "encoder-decoder";
  const prefixTokens = x.outputCurrentTokens.slice(0, ctiIdx);
  if (forced !== undefined) {
    // the first token of the forced text (Inseq takes the first token with specials, i.e. the BOS of Llama-style
    // tokenizers; the first non-special token is what was meant)
    const next = (await filteredTokens(target, forced, o.specialTokensToKeep))[0];
    if (next === undefined) throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a non-empty token for contextlessOutputNextTokens but received ${JSON.stringify(forced)}`);
    return tokensToString(target, [...prefixTokens, next]);
  }
  const prefix = await tokensToString(target, prefixTokens);
  const generation = { ...o.generationArgs, maxNewTokens: 1, ...(signal ? { signal } : {}) };
  if (isEncDec) {
    const gen = await model.generate(contextlessPrompt, { ...generation, returnIds: true, ...(prefix ? { targetPrefix: prefix } : {}) });
    return keptText(target, gen.sequences[0]!.ids, o.specialTokensToKeep);
  }
  const input = concatWithSep(contextlessPrompt, prefix, o.decoderInputOutputSeparator);
  const gen = await model.generate(input, { ...generation, returnIds: true, skipSpecialTokens: false });
  return keptText(target, gen.sequences[0]!.ids, o.specialTokensToKeep);
}

/** Column 0 (the attributed token) of a 2-D [attributed, generated] tensor. */
function firstColumn(t: ScoreTensor | null): number[] {
  if (!t) return [];
  const [rows, cols] = t.shape as [number, number];
  return Array.from({ length: rows }, (_, r) => t.data[r * cols]!);
}

/** How many tokens at the start of `tokens` are special (BOS, decoder start) and not kept. */
function leadingSpecials(tokens: ReadonlyArray<{ token: string }>, side: TokenSide, keep: readonly string[]): number {
  let n = 0;
  while (n < tokens.length && side.special.has(tokens[n]!.token) && !keep.includes(tokens[n]!.token)) n++;
  return n;
}

/**
 * Inseq's `get_source_target_cci_scores`: the scores of the input and output context tokens, as column 0 of the
 * attributions sliced after the template prefix. Unlike Inseq, the rows of leading special tokens (the BOS of
 * Llama-style prompts, the decoder start token of encoder-decoder targets, a source BOS) are skipped first: Inseq
 * counts the prefix without special tokens but slices rows that include them, so its scores are one token off
 * there (docs/attribute-context.md).
 */
async function contextScores(x: CciInputs, seq: FeatureAttributionSequenceOutput): Promise<{ inputScores: number[] | null; outputScores: number[] | null }> {
  const { model, source, target, o } = x;
  const isEncDec = model.kind === "encoder-decoder";
  const keep = o.specialTokensToKeep;
  let inputScores: number[] | null = null;
  let outputScores: number[] | null = null;
  const targetStart = leadingSpecials(seq.target, target, keep);
  if (o.hasInputContext && x.inputContextTokens) {
    const all = firstColumn(isEncDec ? seq.sourceAttributions : seq.targetAttributions);
    let inputPrefix = o.inputTemplate.split("{context}")[0]!;
    if (inputPrefix.includes("{current}")) inputPrefix = formatTemplate(inputPrefix, o.inputCurrentText);
    const prefixLen = (await filteredTokens(source, inputPrefix, keep)).length + (isEncDec ? leadingSpecials(seq.source, source, keep) : targetStart);
    inputScores = all.slice(prefixLen, prefixLen + x.inputContextTokens.length);
  }
  if (o.hasOutputContext && x.outputContextTokens) {
    const all = firstColumn(seq.targetAttributions);
    let outputPrefix = o.outputTemplate.split("{context}")[0]!;
    if (!isEncDec && outputPrefix) outputPrefix = o.decoderInputOutputSeparator + outputPrefix;
    let prefixLen = (await filteredTokens(target, outputPrefix, keep)).length + targetStart;
    if (!isEncDec) prefixLen += x.inputFullTokens.length;
    outputScores = all.slice(prefixLen, prefixLen + x.outputContextTokens.length);
  }
  return { inputScores, outputScores };
}
