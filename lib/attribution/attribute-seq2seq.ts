/**
 * Seq2SeqModel.attribute(): Inseq's attribute() for encoder-decoders. Sources are encoded with the source
 * tokenizer; targets (forced, generated, or generated from a forced prefix) start with the decoder start
 * token, and attribution starts at target position 1 by default. The native engine sees each example as the
 * concatenation source ++ target (models/concat_seq2seq.h), so every method and step function of decoder-only
 * models works here; the rows are split back into source and target attributions.
 */
import { checkKnownOptions, invalidOption } from "../core/errors.js";
import type { NativeAttributionRequest, NativeTensor } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { toRagged } from "../native/ragged.js";
import type { Seq2SeqGenerateOptions, Seq2SeqModel } from "../models/seq2seq-model.js";
import { FeatureAttributionOutput, FeatureAttributionSequenceOutput, type TokenWithId } from "../results/attribution.js";
import type { ScoreTensor } from "../results/tensor.js";
import { ATTRIBUTE_OPTIONS, methodArgs, stepArgs, stepOutputs, toList, type AttributeOptions } from "./attribute.js";
import { contrastPositions, type Alignment } from "./contrast.js";
import { getMethod, resolveStepFunction } from "./registry.js";

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

const SEQ2SEQ_OPTIONS = [...ATTRIBUTE_OPTIONS, "attributeTarget", "generateFromTargetPrefix", "contrastSources"] as const;

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

export async function attributeSeq2Seq(model: Seq2SeqModel, inputTexts: string | readonly string[], options: Seq2SeqAttributeOptions = {}): Promise<FeatureAttributionOutput> {
  const started = performance.now();
  checkKnownOptions("attribute", options, SEQ2SEQ_OPTIONS);
  const src = model.tokenizer;
  const tgtTok = model.targetTokenizer;
  const info = model.info;
  let inputs = toList("inputTexts", inputTexts as string | string[]);
  if (!inputs || inputs.length === 0 || inputs.some((t) => t.length === 0)) throw invalidOption("inputTexts", "one or more non-empty source texts", inputTexts);
  const method = options.method ?? info.attributionMethod ?? "saliency";
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
  const attributeTarget = options.attributeTarget ?? false;
  const nativeMethodArgs = methodArgs(method, options.methodArgs, { decoder: info.numLayers, encoder: info.numEncoderLayers });
  const attributedArgs = stepArgs("attributedFnArgs", options.attributedFnArgs, attributed.impliedArgs);
  const scoreArgs = stepArgs("stepScoresArgs", options.stepScoresArgs, Object.assign({}, ...resolvedScores.map((s) => s.impliedArgs)));
  const contrastTexts = toList("contrastTargets", options.contrastTargets);
  const contrastSources = toList("contrastSources", options.contrastSources);
  const needsContrast = attributed.def.contrastive || resolvedScores.some((s) => s.def.contrastive);
  for (const [name, list] of [["contrastTargets", contrastTexts], ["contrastSources", contrastSources]] as const) {
    if (list && list.length !== inputs.length) throw invalidOption(name, `${inputs.length} texts (one per input)`, list);
  }
  let forced = toList("generatedTexts", options.generatedTexts);
  if (forced && forced.length !== inputs.length) throw invalidOption("generatedTexts", `${inputs.length} texts (one per input)`, forced);
  if (options.generateFromTargetPrefix && !forced) throw invalidOption("generateFromTargetPrefix", "generatedTexts to use as target prefixes", undefined);
  if (options.skipSpecialTokens) {
    const strip = (tok: typeof src) => {
      const specials = [...tok.specialTokenIds].map((id) => tok.idToToken(id)).filter((t): t is string => !!t);
      return (s: string) => specials.reduce((acc, t) => acc.replaceAll(t, ""), s);
    };
    inputs = inputs.map(strip(src));
    forced = forced?.map(strip(tgtTok));
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
  const perInputAlignments = (i: number): Alignment[] | undefined => {
    const a = options.contrastTargetsAlignments;
    if (!a || a.length === 0) return undefined;
    return Array.isArray(a[0]?.[0]) ? (a as ReadonlyArray<ReadonlyArray<Alignment>>)[i]?.map((p) => [...p] as Alignment) : (a as Alignment[]);
  };
  const prepared: Prepared[] = tgtIds.map((tgt, i) => {
    const T = tgt.length;
    const rel = (v: number) => (v < 0 ? T + v : v);
    const start = Math.max(options.attrPosStart !== undefined ? rel(options.attrPosStart) : 1, 1);
    const end = options.attrPosEnd !== undefined ? Math.min(rel(options.attrPosEnd), T) : T;
    if (start >= end) throw invalidOption("attrPosStart/attrPosEnd", `a non-empty range of target positions within [1, ${T}) for input ${i}`, `[${start}, ${end})`);
    const s = srcIds[i]!;
    let srcBase = s.map((id) => (keepEos && srcEos.has(id) ? id : srcUnk));
    const customBase = options.baselineIds?.[i];
    if (customBase) {
      if (customBase.length !== s.length || customBase.some((x) => !Number.isInteger(x) || x < 0 || x >= info.sourceVocabSize)) {
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
      p.contrast = { src: contrastSrcEnc?.[i] ?? s, tgt: ct, positions: contrastPositions(T, ct.length, start, end, perInputAlignments(i)) };
    }
    return p;
  });

  // 3. Native attribution on source ++ target, one job per batch of inputs.
  const sequences: FeatureAttributionSequenceOutput[] = [];
  const nativeModel = model.nativeModel();
  for (let b0 = 0; b0 < prepared.length; b0 += batchSize) {
    const batch = prepared.slice(b0, b0 + batchSize);
    const withContrast = batch.every((p) => p.contrast);
    const customStepFunctions: Record<string, string> = {};
    for (const d of [attributed.def, ...resolvedScores.map((x) => x.def)]) if (d.torchscript) customStepFunctions[d.id] = d.torchscript;
    const request: NativeAttributionRequest = {
      customStepFunctions, method,
      sequences: toRagged(batch.map((p) => [...p.src, ...p.tgt])),
      baselines: toRagged(batch.map((p) => [...p.srcBase, ...p.tgtBase])),
      sourceLengths: batch.map((p) => p.src.length),
      attrStart: batch.map((p) => p.src.length + p.start), attrEnd: batch.map((p) => p.src.length + p.end),
      attributedFn: attributed.def.id, attributedFnArgs: attributedArgs,
      stepScores: resolvedScores.filter((s) => !s.def.custom).map((s) => s.def.id), stepScoresArgs: scoreArgs,
      contrastSequences: withContrast ? toRagged(batch.map((p) => [...p.contrast!.src, ...p.contrast!.tgt])) : null,
      contrastPositions: withContrast ? toRagged(batch.map((p) => p.contrast!.positions.map((c) => c + p.contrast!.src.length))) : null,
      contrastSourceLengths: withContrast ? batch.map((p) => p.contrast!.src.length) : undefined,
      contrastForceInputs: options.contrastForceInputs ?? false,
      granular: options.granular ?? false, memoryBudgetMb: options.memoryBudgetMb, schedule: options.schedule, ...nativeMethodArgs,
      onProgress: options.onProgress,
    };
    const raw = await runNativeJob((cancel) => nativeModel.attribute({ ...request, cancel }), options.signal);
    for (let k = 0; k < batch.length; k++) {
      const p = batch[k]!;
      const r = raw.sequences[k]!;
      const tokens = (tok: typeof src, ids: number[], words?: Array<number | null>): TokenWithId[] =>
        tok.convertIdsToTokens(ids).map((t, j) => (words ? { token: t ?? "", id: ids[j]!, wordId: words[j] ?? null } : { token: t ?? "", id: ids[j]! }));
      const S = p.src.length;
      const extra = raw.extraDims;
      const stepScores: Record<string, Float32Array> = {};
      for (const s of resolvedScores) if (!s.def.custom) stepScores[s.id] = r.stepScores[s.def.id]!;
      if (r.stepScores.deltas) stepScores.deltas = r.stepScores.deltas;
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
      const reduced = raw.kind === "granular_reduced";
      let seq = new FeatureAttributionSequenceOutput({
        source: tokens(src, p.src, p.srcWords),
        target: tokens(tgtTok, p.tgt, p.tgtWords),
        sourceAttributions: a ? sliceRows(a, 0, S, ["source", "generated", ...extra]) : null,
        targetAttributions: a && attributeTarget ? sliceRows(a, S, S + p.end, ["target", "generated", ...extra]) : null,
        stepScores,
        sequenceScores,
        attrPosStart: p.start,
        attrPosEnd: p.end,
        kind: raw.kind === "granular_reduced" ? "granular" : raw.kind,
        extraDimNames: extra,
      });
      if (reduced) seq = seq.defaultAggregate().with({ kind: "coarse" });
      sequences.push(seq);
    }
  }

  // Custom (JS, forward-only) step scores from the logits of each step.
  const customScores = resolvedScores.filter((s) => s.def.custom);
  for (const [i, p] of prepared.entries()) {
    if (customScores.length === 0) break;
    const { logits } = await model.forward([p.src], [p.tgt.slice(0, p.end - 1)], { signal: options.signal });  // [1, end-1, V]
    const vocab = logits.shape[2]!;
    for (const s of customScores) {
      const values = new Float32Array(p.end - p.start);
      for (let t = p.start; t < p.end; t++) {
        values[t - p.start] = s.def.custom!({ logits: logits.data.subarray((t - 1) * vocab, t * vocab), target: p.tgt[t]!, position: t, ids: p.tgt, args: options.stepScoresArgs ?? {} });
      }
      sequences[i]!.stepScores[s.id] = values;
    }
  }

  const outInfo: Record<string, unknown> = {
    attribution_method: method,
    attr_pos_start: Math.min(...prepared.map((p) => p.start)),
    attr_pos_end: Math.max(...prepared.map((p) => p.end)),
    output_step_attributions: Boolean(options.outputStepAttributions),
    attribute_target: attributeTarget,
    step_scores: stepScoreIds,
    model_name: info.name,
    model_class: info.modelClass,
    tokenizer_name: info.name,
    tokenizer_class: info.tokenizerClass,
    include_eos_baseline: options.includeEosBaseline ?? false,
    attributed_fn: attributedFnId,
    attribution_args: options.methodArgs ?? {},
    attributed_fn_args: options.attributedFnArgs ?? {},
    step_scores_args: options.stepScoresArgs ?? {},
    input_texts: prepared.map((p) => p.input),
    generated_texts: prepared.map((p) => p.generated),
    generation_args: forced && !options.generateFromTargetPrefix ? {} : { ...(options.generationArgs ?? {}) },
    constrained_decoding: Boolean(forced),
    generate_from_target_prefix: Boolean(options.generateFromTargetPrefix),
    exec_time: (performance.now() - started) / 1000,
  };
  const output = new FeatureAttributionOutput(sequences, outInfo);
  if (options.outputStepAttributions) output.stepAttributions = stepOutputs(sequences);
  return output;
}
