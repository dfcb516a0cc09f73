/**
 * attribute(): Inseq's attribute() with camelCase options, one pipeline for both model kinds. The kind's
 * layout (lib/contract/model-contract.ts LAYOUTS) says where targets start and which side is attributed.
 *   1. options resolved once (options.ts);
 *   2. prompts / sources encoded once; targets forced or generated from those ids (ids in, ids out);
 *   3. attributed ranges, baselines and contrasts per example;
 *   4. the native schedule, one job per batch of inputs, on the sequence the engine sees (decoder-only: the
 *      target; encoder-decoder: source ++ target);
 *   5. results assembled (outputs.ts), custom JS step scores, Inseq's info block.
 *   6. the completeness warning when convergence deltas are returned (completeness-warning.ts).
 */
import { invalidOption } from "../core/errors.js";
import { checkOptions } from "../core/options.js";
import type { HeldModel } from "../contract/model-contract.js";
import { DEFAULT_MAX_NEW_TOKENS } from "../contract/sampling.js";
import type { NativeAttributionRequest, NativeTensor } from "../native/binding-types.js";
import { checkRows, toRagged } from "../native/ragged.js";
import type { Encoded } from "../tokenizers/tokenizer.js";
import { FeatureAttributionOutput, type FeatureAttributionSequenceOutput } from "../results/attribution.js";
import { recordDeltaScales } from "./completeness.js";
import { checksCompletenessByDefault, warnIncompleteness } from "./completeness-warning.js";
import { alignmentsOf, contrastPositions, sameContrastTokens, warnZeroContrast, type ContrastUse } from "./contrast.js";
import {
  ATTRIBUTE_OPTIONS, attributedRange, nativeRequestOptions, resolveAttributeOptions, SEQ2SEQ_OPTIONS, specialTokenStripper, toList,
  type AttributeOptions, type ResolvedAttributeOptions, type Seq2SeqAttributeOptions, type SharedAttributeOptions,
} from "./options.js";
import { reagentRequestFields, takeReagentConvergence } from "./reagent.js";
import { addCustomScores, attributionInfo, decoderOnlySequence, encoderDecoderSequence, stepOutputs, type AssembledExample } from "./outputs.js";
import { DIG_METHOD } from "./dig-options.js";
import { lrpInfo } from "./lrp-info.js";

export type { AttributeOptions, Seq2SeqAttributeOptions } from "./options.js";

/** One example through the pipeline, in target coordinates (decoder-only: an empty source). */
interface Example extends AssembledExample {
  input: string;
  generated: string;
  sourceBase: number[];
  targetBase: number[];
  contrast?: { source: number[]; target: number[]; positions: number[] };
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

/** How a call uses contrastive step functions, for `warnZeroContrast`. @internal */
export function contrastUse(r: ResolvedAttributeOptions, options: SharedAttributeOptions, hasContrast: boolean, unchangedInputs: number[]): ContrastUse {
  return {
    attributedFn: r.attributed.def.contrastive ? r.attributedFnId : null,
    stepScores: r.resolvedScores.filter((s) => s.def.contrastive).map((s) => s.id),
    hasContrast, forceInputs: options.contrastForceInputs ?? false, unchangedInputs,
  };
}

/** Encoded prompts/sources; an empty decoder-only prompt becomes the BOS token (as Inseq). */
function promptIdsOf(model: HeldModel, encoded: Encoded[], inputs: readonly string[]): number[][] {
  const { layout, info } = model;
  return encoded.map((e, i) => {
    if (e.ids.length > 0) return e.ids;
    if (layout.separateSource) throw invalidOption(`inputTexts[${i}]`, "a source with at least one token", inputs[i]);
    const bos = model.tokenizer.bosTokenId ?? (info.bosTokenId >= 0 ? info.bosTokenId : null);
    if (bos == null) throw invalidOption(`inputTexts[${i}]`, "a non-empty prompt (this model has no BOS token)", inputs[i]);
    return [bos];
  });
}

/** model.attribute() of both kinds: see AttributeOptions and Seq2SeqAttributeOptions. @internal */
export async function attribute(model: HeldModel, inputTexts: string | readonly string[],
  options: AttributeOptions | Seq2SeqAttributeOptions = {}): Promise<FeatureAttributionOutput> {
  const started = performance.now();
  const { layout, info } = model;
  const seq2seq = layout.separateSource;
  checkOptions("attribute", options, seq2seq ? SEQ2SEQ_OPTIONS : ATTRIBUTE_OPTIONS);
  const o = options as Seq2SeqAttributeOptions & AttributeOptions;  // the encoder-decoder keys were refused above for decoder-only
  const srcTok = model.tokenizer;
  const tgtTok = model.targetTokenizer;
  const listed = toList("inputTexts", inputTexts as string | string[]);
  if (seq2seq ? !listed || listed.length === 0 || listed.some((t) => t.length === 0) : !listed || listed.length === 0) {
    throw invalidOption("inputTexts", seq2seq ? "one or more non-empty source texts" : "at least one input text", inputTexts);
  }
  let inputs: string[] = listed!;
  // Decoder-only: the whole sequence is attributed (Inseq's attribute_target does not apply and reads false).
  const attributeTarget = seq2seq ? o.attributeTarget ?? false : false;
  const resolved = resolveAttributeOptions(inputs, o, info.attributionMethod,
    { decoder: info.numLayers, encoder: info.numEncoderLayers, seq2seq, attributeTarget });
  const { batchSize, contrastTexts, needsContrast } = resolved;
  let forced = resolved.forced;
  const targetAttributed = seq2seq ? attributeTarget : true;
  const contrastSources = toList("contrastSources", o.contrastSources);
  if (contrastSources && contrastSources.length !== inputs.length) throw invalidOption("contrastSources", `${inputs.length} texts (one per input)`, contrastSources);
  if (o.generateFromTargetPrefix && !forced) throw invalidOption("generateFromTargetPrefix", "generatedTexts to use as target prefixes", undefined);
  if (o.skipSpecialTokens) {
    inputs = inputs.map(specialTokenStripper(srcTok));
    forced = forced?.map(specialTokenStripper(tgtTok));
  }
  const addSpecialTokens = !o.skipSpecialTokens;
  // Targets of encoder-decoders start with the decoder start token.
  const startIds = layout.decoderStart ? [info.decoderStartTokenId] : [];

  // 1. Prompts / sources, encoded once.
  const promptEnc = await srcTok.encodeBatch(inputs, { addSpecialTokens });
  const promptIds = promptIdsOf(model, promptEnc, inputs);

  // 2. Targets: forced, or generated from the prompt ids (KV-cached).
  let targets: number[][];
  let targetWords: Array<Array<number | null> | undefined>;
  let generatedTexts: string[];
  if (forced && !o.generateFromTargetPrefix) {
    if (layout.forcedIncludesPrompt) {
      forced.forEach((g, i) => {
        if (!g.startsWith(inputs[i]!)) throw invalidOption(`generatedTexts[${i}]`, `a text starting with its prompt ${JSON.stringify(inputs![i])}`, g);
      });
    }
    const enc = await tgtTok.encodeBatch(forced, { addSpecialTokens });
    targets = enc.map((e) => [...startIds, ...e.ids]);
    targetWords = enc.map((e) => [...startIds.map(() => null), ...e.wordIds]);
    generatedTexts = forced;
  } else {
    const generation = { maxNewTokens: DEFAULT_MAX_NEW_TOKENS, ...(o.generationArgs ?? {}) };
    let generated: number[][];
    if (forced) {
      generated = [];
      for (let i = 0; i < promptIds.length; i++) {
        generated.push((await model.generateIds([promptIds[i]!], { generation, targetPrefix: forced[i], signal: o.signal }))[0]!);
      }
    } else {
      // Generation starts from the prompts as generate() encodes them (special tokens added).
      const from = addSpecialTokens || seq2seq ? promptIds : promptIdsOf(model, await srcTok.encodeBatch(inputs), inputs);
      generated = await model.generateIds(from, { generation, signal: o.signal });
    }
    targets = generated.map((g) => [...startIds, ...g]);
    generatedTexts = await tgtTok.decodeBatch(generated, { skipSpecialTokens: true });
    if (seq2seq) {
      targetWords = generated.map(() => undefined);
    } else {
      // Word ids of generated tokens exist only in an encoding of the text: re-encode, and keep them when that
      // gives the same ids back (it usually does).
      const again = await tgtTok.encodeBatch(await tgtTok.decodeBatch(generated, { skipSpecialTokens: false }), { addSpecialTokens: false });
      targetWords = again.map((e, i) => (JSON.stringify(e.ids) === JSON.stringify(generated[i]) ? e.wordIds : undefined));
    }
  }

  // 3. Positions, baselines, contrasts.
  const fallbackUnk = info.unkTokenId >= 0 ? info.unkTokenId : info.padTokenId;
  const srcUnk = srcTok.unkTokenId ?? fallbackUnk;
  const tgtUnk = tgtTok.unkTokenId ?? fallbackUnk;
  const srcEos = new Set([...(srcTok.eosTokenId != null ? [srcTok.eosTokenId] : []), ...(tgtTok === srcTok ? info.eosTokenIds : [])]);
  const tgtEos = new Set(info.eosTokenIds);
  const keepEos = !o.includeEosBaseline;
  const contrastTgtEnc = contrastTexts ? (await tgtTok.encodeBatch(contrastTexts, { addSpecialTokens })).map((e) => [...startIds, ...e.ids]) : undefined;
  const contrastSrcEnc = contrastSources ? (await srcTok.encodeBatch(contrastSources, { addSpecialTokens })).map((e) => e.ids) : undefined;
  const baselineVocab = layout.baselineSide === "source" ? info.sourceVocabSize : info.vocabSize;
  if (o.baselineIds !== undefined) checkRows(o.baselineIds, { name: "baselineIds", below: baselineVocab });
  if (seq2seq) {
    // Each segment against its own vocabulary (the concatenated rows are checked against the larger one only).
    checkRows(promptIds, { name: "inputTexts", below: info.sourceVocabSize });
    checkRows(targets, { name: "generatedTexts", below: info.vocabSize });
    if (contrastSrcEnc) checkRows(contrastSrcEnc, { name: "contrastSources", below: info.sourceVocabSize });
    if (contrastTgtEnc) checkRows(contrastTgtEnc, { name: "contrastTargets", below: info.vocabSize });
  }
  const examples: Example[] = targets.map((target, i) => {
    const n = target.length;
    const source = seq2seq ? promptIds[i]! : [];
    const { start, end } = attributedRange(n, o, layout.targetFloor(Math.min(promptIds[i]!.length, n)), i);
    let sourceBase = source.map((id) => (keepEos && srcEos.has(id) ? id : srcUnk));
    // Without attributeTarget the target prefix is context, not a feature: its baseline is itself.
    let targetBase = targetAttributed
      ? target.map((id, k) => ((layout.decoderStart && k === 0) || (keepEos && tgtEos.has(id)) ? id : tgtUnk))
      : [...target];
    const custom = o.baselineIds?.[i];
    if (custom) {
      if (layout.baselineSide === "source") {
        if (custom.length !== source.length) {
          throw invalidOption(`baselineIds[${i}]`, `${source.length} valid source token ids (the tokenized source length)`, custom);
        }
        sourceBase = [...custom];
      } else {
        if (custom.length !== n) throw invalidOption(`baselineIds[${i}]`, `${n} valid token ids (the tokenized target length)`, custom);
        targetBase = [...custom];
      }
    }
    const p: Example = {
      input: inputs[i]!, generated: generatedTexts[i]!, source, sourceWords: seq2seq ? promptEnc[i]!.wordIds : undefined,
      target, targetWords: targetWords[i], start, end, sourceBase, targetBase,
    };
    if (needsContrast && (contrastTgtEnc || contrastSrcEnc)) {
      const ct = contrastTgtEnc?.[i] ?? target;
      p.contrast = { source: contrastSrcEnc?.[i] ?? source, target: ct, positions: contrastPositions(n, ct.length, start, end, alignmentsOf(o.contrastTargetsAlignments, i)) };
    }
    return p;
  });
  warnZeroContrast(contrastUse(resolved, o, Boolean(contrastTgtEnc || contrastSrcEnc),
    examples.flatMap((p, i) => (p.contrast && sameContrastTokens(p.target, p.start, p.contrast.target, p.contrast.positions) ? [i] : []))));

  // 4. Native attribution on the sequence the engine sees, one job per batch of inputs.
  const sequences: FeatureAttributionSequenceOutput[] = [];
  const stepLogits: NativeTensor[] = [];  // per sequence [end - start, vocab], when custom step scores need them
  const customScores = resolved.resolvedScores.some((s) => s.def.custom);
  const deltaScales: Array<Float32Array | undefined> = [];  // per sequence f(x) - f(baseline) with convergence deltas
  const lrpScores: Array<Record<string, Float32Array>> = [];  // attn_lrp / cp_lrp: conservation per sequence (lrp-info.ts)
  // Integrated gradients checks its completeness even when the caller did not ask for deltas (dropped below).
  const implicitDeltas = checksCompletenessByDefault(resolved.method, o.methodArgs);
  const vocab = Math.max(info.vocabSize, info.sourceVocabSize);
  const reagentFields = resolved.method === "reagent" ? await reagentRequestFields(model, o.attributedFn, attributeTarget, resolved.nativeMethodArgs.posGroups) : {};
  for (let b0 = 0; b0 < examples.length; b0 += batchSize) {
    const batch = examples.slice(b0, b0 + batchSize);
    const withContrast = batch.every((p) => p.contrast);
    const progress = jobProgress(o.onProgress, stepsOf(examples.slice(0, b0)), stepsOf(examples));
    const request: NativeAttributionRequest = {
      ...nativeRequestOptions(resolved, o),
      ...(implicitDeltas ? { returnConvergenceDelta: true } : {}),
      // DIG keeps the paths of special tokens constant (Inseq: tokenizer.all_special_ids)
      ...(resolved.method === DIG_METHOD ? { specialTokenIds: [...new Set([...srcTok.specialTokenIds, ...tgtTok.specialTokenIds])] } : {}),
      ...reagentFields,
      onProgress: progress.report,
      returnStepLogits: customScores,
      sequences: toRagged(batch.map((p) => [...p.source, ...p.target]), { name: layout.rowNames.sequences, below: vocab, firstRow: b0 }),
      baselines: toRagged(batch.map((p) => [...p.sourceBase, ...p.targetBase]), { name: "baselineIds", below: vocab, firstRow: b0 }),
      attrStart: batch.map((p) => p.source.length + p.start), attrEnd: batch.map((p) => p.source.length + p.end),
      contrastSequences: withContrast
        ? toRagged(batch.map((p) => [...p.contrast!.source, ...p.contrast!.target]), { name: layout.rowNames.contrast, below: vocab, firstRow: b0 })
        : null,
      contrastPositions: withContrast
        ? toRagged(batch.map((p) => p.contrast!.positions.map((c) => c + p.contrast!.source.length)), { name: "contrastTargetsAlignments", below: Number.MAX_SAFE_INTEGER, what: "a contrast position", firstRow: b0 })
        : null,
      ...(seq2seq ? {
        sourceLengths: batch.map((p) => p.source.length),
        normalizeTarget: attributeTarget,
        attributeTarget,
        contrastSourceLengths: withContrast ? batch.map((p) => p.contrast!.source.length) : undefined,
      } : {}),
    };
    const raw = await model.attribute(request, o.signal);
    if (resolved.method === "reagent") takeReagentConvergence(raw, b0, resolved.nativeMethodArgs.maxProbeSteps);
    progress.finish(stepsOf(batch));
    for (let k = 0; k < batch.length; k++) {
      if (customScores) stepLogits.push(raw.sequences[k]!.stepLogits!);
      deltaScales.push(raw.sequences[k]!.deltaScales);
      lrpScores.push(raw.sequences[k]!.stepScores);
      sequences.push(seq2seq
        ? encoderDecoderSequence(resolved, { source: srcTok, target: tgtTok }, batch[k]!, raw, k, attributeTarget)
        : decoderOnlySequence(resolved, tgtTok, batch[k]!, raw, k));
    }
  }

  // 5. Custom (JS, forward-only) step scores from the step logits the native job returned.
  addCustomScores(resolved, examples.map((p) => ({ ids: p.target, start: p.start, end: p.end })), sequences, stepLogits, o.stepScoresArgs ?? {});

  const outInfo = attributionInfo(resolved, o, {
    model: info, sequences: examples, attributeTarget, generated: !forced || Boolean(o.generateFromTargetPrefix),
    generateFromTargetPrefix: Boolean(o.generateFromTargetPrefix), started,
  });
  Object.assign(outInfo, lrpInfo(lrpScores));  // attn_lrp / cp_lrp: conservation
  const output = new FeatureAttributionOutput(sequences, outInfo);
  if (deltaScales.every((d) => d !== undefined)) recordDeltaScales(output, deltaScales as Float32Array[]);
  // 6. Convergence deltas: warn when they do not add up (completeness-warning.ts).
  warnIncompleteness(output, resolved.method, o.methodArgs);
  if (implicitDeltas) for (const s of sequences) delete s.stepScores.deltas;
  if (o.outputStepAttributions) output.stepAttributions = stepOutputs(sequences);
  return output;
}
