/**
 * Seq2SeqModel.attribute(): Inseq's attribute() for encoder-decoders. Sources are encoded with the source
 * tokenizer; targets (forced, generated, or generated from a forced prefix) start with the decoder start
 * token, and attribution starts at target position 1 by default. The native engine sees each example as the
 * concatenation source ++ target (models/concat_seq2seq.h), so every method and step function of decoder-only
 * models works here; the rows are split back into source and target attributions.
 */
import { invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { NativeAttributionRequest, NativeSeq2SeqModel, NativeTensor } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { checkRows, toRagged } from "../native/ragged.js";
import type { Seq2SeqGenerateOptions, Seq2SeqModel } from "../models/seq2seq-model.js";
import { FeatureAttributionOutput, FeatureAttributionSequenceOutput } from "../results/attribution.js";
import type { ScoreTensor } from "../results/tensor.js";
import {
  addCustomScores, ATTRIBUTE_OPTIONS, attributedRange, attributionInfo, contrastUse, finishReduced, jobProgress, nativeRequestOptions, nativeStepScores, stepsOf,
  resolveAttributeOptions, specialTokenStripper, stepOutputs, toList, tokensWithIds, type AttributeOptions,
} from "./attribute.js";
import { alignmentsOf, contrastPositions, sameContrastTokens, warnZeroContrast } from "./contrast.js";

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
  generationArgs?: Omit<Seq2SeqGenerateOptions, "returnIds" | "signal" | "onProgress" | "targetPrefix">;
}

const SEQ2SEQ_OPTIONS = { ...ATTRIBUTE_OPTIONS, attributeTarget: "boolean", generateFromTargetPrefix: "boolean", contrastSources: "checked" } as const satisfies OptionTable;

interface Prepared {
  input: string;
  generated: string;
  src: number[];
  srcWords?: Array<number | null>;
  tgt: number[];
  tgtWords?: Array<number | null>;
  start: number;  // target coordinates
  end: number;
  srcBase: number[];
  tgtBase: number[];
  contrast?: { src: number[]; tgt: number[]; positions: number[] };
}

/** Rows [r0, r1) of a [rows, cols, ...extra] tensor. */
function sliceRows(t: NativeTensor, r0: number, r1: number, dims: string[]): ScoreTensor {
  const inner = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { dims, shape: [r1 - r0, ...t.shape.slice(1)], data: t.data.slice(r0 * inner, r1 * inner) };
}

/**
 * The pieces of a Seq2SeqModel the attribution layer needs, bound to the native model the attribute() call
 * holds (so that they work while dispose() waits for the call). @internal
 */
export interface Seq2SeqAttributable extends Pick<Seq2SeqModel, "tokenizer" | "targetTokenizer" | "info" | "generateIds" | "forward"> {
  nativeModel(): NativeSeq2SeqModel;
}

/** Seq2SeqModel.attribute(): see Seq2SeqAttributeOptions. @internal */
export async function attributeSeq2Seq(model: Seq2SeqAttributable, inputTexts: string | readonly string[], options: Seq2SeqAttributeOptions = {}): Promise<FeatureAttributionOutput> {
  const started = performance.now();
  checkOptions("attribute", options, SEQ2SEQ_OPTIONS);
  const src = model.tokenizer;
  const tgtTok = model.targetTokenizer;
  const info = model.info;
  let inputs = toList("inputTexts", inputTexts as string | string[]);
  if (!inputs || inputs.length === 0 || inputs.some((t) => t.length === 0)) throw invalidOption("inputTexts", "one or more non-empty source texts", inputTexts);
  const resolved = resolveAttributeOptions(inputs, options, info.attributionMethod, { decoder: info.numLayers, encoder: info.numEncoderLayers });
  const { method, batchSize, contrastTexts, needsContrast } = resolved;
  let forced = resolved.forced;
  const attributeTarget = options.attributeTarget ?? false;
  const contrastSources = toList("contrastSources", options.contrastSources);
  if (contrastSources && contrastSources.length !== inputs.length) throw invalidOption("contrastSources", `${inputs.length} texts (one per input)`, contrastSources);
  if (options.generateFromTargetPrefix && !forced) throw invalidOption("generateFromTargetPrefix", "generatedTexts to use as target prefixes", undefined);
  if (options.skipSpecialTokens) {
    inputs = inputs.map(specialTokenStripper(src));
    forced = forced?.map(specialTokenStripper(tgtTok));
  }
  const addSpecialTokens = !options.skipSpecialTokens;
  const dst = info.decoderStartTokenId;

  // 1. Sources and targets (decoder start first).
  const srcEnc = await src.encodeBatch(inputs, { addSpecialTokens });
  const srcIds = srcEnc.map((e) => e.ids);
  srcIds.forEach((ids, i) => {
    if (ids.length === 0) throw invalidOption(`inputTexts[${i}]`, "a source with at least one token", inputs![i]);
  });
  let tgtIds: number[][];
  let tgtWords: Array<Array<number | null> | undefined>;
  let generatedTexts: string[];
  if (forced && !options.generateFromTargetPrefix) {
    const enc = await tgtTok.encodeBatch(forced, { addSpecialTokens });
    tgtIds = enc.map((e) => [dst, ...e.ids]);
    tgtWords = enc.map((e) => [null, ...e.wordIds]);
    generatedTexts = forced;
  } else {
    const gen = { maxNewTokens: 20, ...(options.generationArgs ?? {}), signal: options.signal };
    const generated = forced
      ? (await Promise.all(srcIds.map((ids, i) => model.generateIds([ids], { ...gen, targetPrefix: forced![i] })))).map((r) => r[0]!)
      : await model.generateIds(srcIds, gen);
    tgtIds = generated.map((g) => [dst, ...g]);
    tgtWords = generated.map(() => undefined);
    generatedTexts = await tgtTok.decodeBatch(generated, { skipSpecialTokens: true });
  }

  // 2. Positions, baselines, contrasts.
  const srcUnk = src.unkTokenId ?? (info.unkTokenId >= 0 ? info.unkTokenId : info.padTokenId);
  const tgtUnk = tgtTok.unkTokenId ?? (info.unkTokenId >= 0 ? info.unkTokenId : info.padTokenId);
  const srcEos = new Set([...(src.eosTokenId != null ? [src.eosTokenId] : []), ...(tgtTok === src ? info.eosTokenIds : [])]);
  const tgtEos = new Set(info.eosTokenIds);
  const keepEos = !options.includeEosBaseline;
  const contrastTgtEnc = contrastTexts ? (await tgtTok.encodeBatch(contrastTexts, { addSpecialTokens })).map((e) => [dst, ...e.ids]) : undefined;
  const contrastSrcEnc = contrastSources ? (await src.encodeBatch(contrastSources, { addSpecialTokens })).map((e) => e.ids) : undefined;
  if (options.baselineIds !== undefined) checkRows(options.baselineIds, { name: "baselineIds", below: info.sourceVocabSize });
  // Each segment against its own vocabulary (the concatenated rows are checked against the larger one only).
  checkRows(srcIds, { name: "inputTexts", below: info.sourceVocabSize });
  checkRows(tgtIds, { name: "generatedTexts", below: info.vocabSize });
  if (contrastSrcEnc) checkRows(contrastSrcEnc, { name: "contrastSources", below: info.sourceVocabSize });
  if (contrastTgtEnc) checkRows(contrastTgtEnc, { name: "contrastTargets", below: info.vocabSize });
  const prepared: Prepared[] = tgtIds.map((tgt, i) => {
    const T = tgt.length;
    const { start, end } = attributedRange(T, options, 1, i);
    const s = srcIds[i]!;
    let srcBase = s.map((id) => (keepEos && srcEos.has(id) ? id : srcUnk));
    const customBase = options.baselineIds?.[i];
    if (customBase) {
      if (customBase.length !== s.length) {
        throw invalidOption(`baselineIds[${i}]`, `${s.length} valid source token ids (the tokenized source length)`, customBase);
      }
      srcBase = [...customBase];
    }
    // Without attributeTarget the target prefix is context, not a feature: its baseline is itself.
    const tgtBase = attributeTarget ? tgt.map((id, k) => (k === 0 || (keepEos && tgtEos.has(id)) ? id : tgtUnk)) : [...tgt];
    const p: Prepared = {
      input: inputs![i]!, generated: generatedTexts[i]!, src: s, srcWords: srcEnc[i]!.wordIds, tgt, tgtWords: tgtWords[i], start, end, srcBase, tgtBase,
    };
    if (needsContrast && (contrastTgtEnc || contrastSrcEnc)) {
      const ct = contrastTgtEnc?.[i] ?? tgt;
      p.contrast = { src: contrastSrcEnc?.[i] ?? s, tgt: ct, positions: contrastPositions(T, ct.length, start, end, alignmentsOf(options.contrastTargetsAlignments, i)) };
    }
    return p;
  });
  warnZeroContrast(contrastUse(resolved, options, Boolean(contrastTgtEnc || contrastSrcEnc),
    prepared.flatMap((p, i) => (p.contrast && sameContrastTokens(p.tgt, p.start, p.contrast.tgt, p.contrast.positions) ? [i] : []))));

  // 3. Native attribution on source ++ target, one job per batch of inputs.
  const sequences: FeatureAttributionSequenceOutput[] = [];
  const nativeModel = model.nativeModel();
  const vocab = Math.max(info.vocabSize, info.sourceVocabSize);
  for (let b0 = 0; b0 < prepared.length; b0 += batchSize) {
    const batch = prepared.slice(b0, b0 + batchSize);
    const withContrast = batch.every((p) => p.contrast);
    const progress = jobProgress(options.onProgress, stepsOf(prepared.slice(0, b0)), stepsOf(prepared));
    const request: NativeAttributionRequest = {
      ...nativeRequestOptions(resolved, options),
      onProgress: progress.report,
      sequences: toRagged(batch.map((p) => [...p.src, ...p.tgt]), { name: "inputTexts + generatedTexts", below: vocab, firstRow: b0 }),
      baselines: toRagged(batch.map((p) => [...p.srcBase, ...p.tgtBase]), { name: "baselineIds", below: vocab, firstRow: b0 }),
      sourceLengths: batch.map((p) => p.src.length),
      attrStart: batch.map((p) => p.src.length + p.start), attrEnd: batch.map((p) => p.src.length + p.end),
      contrastSequences: withContrast ? toRagged(batch.map((p) => [...p.contrast!.src, ...p.contrast!.tgt]), { name: "contrastSources + contrastTargets", below: vocab, firstRow: b0 }) : null,
      contrastPositions: withContrast
        ? toRagged(batch.map((p) => p.contrast!.positions.map((c) => c + p.contrast!.src.length)), { name: "contrastTargetsAlignments", below: Number.MAX_SAFE_INTEGER, what: "a contrast position", firstRow: b0 })
        : null,
      contrastSourceLengths: withContrast ? batch.map((p) => p.contrast!.src.length) : undefined,
    };
    const raw = await runNativeJob((cancel) => nativeModel.attribute({ ...request, cancel }), options.signal);
    progress.finish(stepsOf(batch));
    for (let k = 0; k < batch.length; k++) {
      const p = batch[k]!;
      const r = raw.sequences[k]!;
      const S = p.src.length;
      const extra = raw.extraDims;
      const sequenceScores: Record<string, ScoreTensor> = {};
      for (const [name, t] of Object.entries(r.sequenceScores ?? {})) {
        sequenceScores[name] = { dims: ["source", "source", ...t.shape.slice(2).map((_, d) => extra[d] ?? `dim${d}`)], shape: t.shape, data: t.data };
      }
      const a = r.attributions;
      if (a && (method === "attention" || method === "value_zeroing") && !attributeTarget) {
        // As Inseq: without attributeTarget the decoder self scores become a sequence score [keys, generated,
        // ...]; attention has 0 where a key comes after the query, value zeroing NaN.
        const t = sliceRows(a, S, S + p.end - 1, ["target", "generated", ...extra]);
        if (method === "attention") {
          t.data = t.data.map((v) => (Number.isNaN(v) ? 0 : v));
          sequenceScores.decoder_self_attentions = t;
        } else {
          sequenceScores.decoder_self_scores = t;
        }
      }
      const seq = new FeatureAttributionSequenceOutput({
        source: tokensWithIds(src, p.src, p.srcWords),
        target: tokensWithIds(tgtTok, p.tgt, p.tgtWords),
        sourceAttributions: a ? sliceRows(a, 0, S, ["source", "generated", ...extra]) : null,
        targetAttributions: a && attributeTarget ? sliceRows(a, S, S + p.end, ["target", "generated", ...extra]) : null,
        stepScores: nativeStepScores(resolved, r.stepScores),
        sequenceScores,
        attrPosStart: p.start,
        attrPosEnd: p.end,
        kind: raw.kind === "granular_reduced" ? "granular" : raw.kind,
        extraDimNames: extra,
      });
      sequences.push(finishReduced(seq, raw.kind));
    }
  }

  // Custom (JS, forward-only) step scores from the logits of each step.
  await addCustomScores(resolved, prepared.map((p) => ({ ids: p.tgt, start: p.start, end: p.end })), sequences,
    async (i) => (await model.forward([prepared[i]!.src], [prepared[i]!.tgt.slice(0, prepared[i]!.end - 1)], { signal: options.signal })).logits,  // [1, end-1, V]
    options.stepScoresArgs ?? {});

  const outInfo = attributionInfo(resolved, options, {
    model: info, sequences: prepared, attributeTarget, generated: !forced || Boolean(options.generateFromTargetPrefix),
    generateFromTargetPrefix: Boolean(options.generateFromTargetPrefix), started,
  });
  const output = new FeatureAttributionOutput(sequences, outInfo);
  if (options.outputStepAttributions) output.stepAttributions = stepOutputs(sequences);
  return output;
}
