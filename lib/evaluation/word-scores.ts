/**
 * Word importances of prepared items under one method configuration: attribute the items (forced targets, in
 * batches), take the attributed step's column after Inseq's default aggregation, and sum |score| over each
 * word's tokens.
 */
import { resolveStepFunction } from "../attribution/registry.js";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import type { Model } from "../models/model.js";
import type { Seq2SeqModel } from "../models/seq2seq-model.js";
import type { FeatureAttributionOutput, FeatureAttributionSequenceOutput } from "../results/attribution.js";
import { selectIndex, type ScoreTensor } from "../results/tensor.js";
import type { PreparedItem } from "./prepare.js";
import type { MethodSpec } from "./types.js";

/** Word importances of one attributed item, plus the raw output when the caller needs more of it. */
export interface AttributedItem {
  scores: number[];
}

/** Whether the spec's attributed function is contrastive (needs each item's first alternative). */
export function isContrastive(spec: MethodSpec): boolean {
  return spec.attributedFn !== undefined && resolveStepFunction(spec.attributedFn).def.contrastive;
}

/** Sums |score| of the attributed step's column over each word's tokens (NaN counts as 0). */
export function wordScoresOf(output: FeatureAttributionOutput, index: number, prepared: PreparedItem, scoresLayer?: number): number[] {
  const seq = layerOf(output.sequenceAttributions[index]!, scoresLayer).defaultAggregate();
  const encoderDecoder = prepared.decoderIds !== undefined;
  const tensor = encoderDecoder ? seq.sourceAttributions : seq.targetAttributions;
  if (!tensor || tensor.shape.length !== 2) {
    throw new InseqError(ErrorCode.INVALID_OPTION, `The method gave no ${encoderDecoder ? "source" : "prompt"} attributions to evaluate`);
  }
  const [rows, steps] = tensor.shape as [number, number];
  if (prepared.step >= steps || rows < prepared.wordOfToken.length) {
    throw new Error(`evaluation: item ${prepared.item.id}: the attribution has ${rows} rows and ${steps} steps, expected ${prepared.wordOfToken.length} rows and step ${prepared.step}`);
  }
  const generated = seq.generatedTokens[prepared.step];
  if (generated && generated.id !== prepared.targetId) {
    throw new InseqError(ErrorCode.BAD_DATASET, `Evaluation item ${prepared.item.id}: the attributed token ${JSON.stringify(generated.token)} is not the target's first token`);
  }
  const scores = new Array<number>(prepared.words.length).fill(0);
  prepared.wordOfToken.forEach((word, t) => {
    if (word === null) return;
    const v = tensor.data[t * steps + prepared.step]!;
    if (!Number.isNaN(v)) scores[word]! += Math.abs(v);
  });
  return scores;
}

/**
 * The output restricted to one index of its "layer" axis (attention `[layer, head]`, value zeroing `[layer]`), or
 * the output itself when `layer` is undefined. ERR_INVALID_OPTION when the output has no layer axis.
 */
function layerOf(seq: FeatureAttributionSequenceOutput, layer: number | undefined): FeatureAttributionSequenceOutput {
  if (layer === undefined) return seq;
  const axis = seq.extraDimNames.indexOf("layer");
  if (axis < 0) throw invalidOption("scoresLayer", "a method whose scores have a layer axis (attention, value_zeroing)", layer);
  const pick = (t: ScoreTensor | null) => (t ? selectIndex(t, axis + 2, layer) : null);
  return seq.with({
    sourceAttributions: pick(seq.sourceAttributions), targetAttributions: pick(seq.targetAttributions),
    extraDimNames: seq.extraDimNames.filter((_, i) => i !== axis),
  });
}

/** Attributes `items` with `spec` and returns their word scores (one attribute() call per batch). */
export async function attributeWordScores(
  model: Model | Seq2SeqModel,
  items: readonly PreparedItem[],
  spec: MethodSpec,
  options: { batchSize: number; signal?: AbortSignal; onBatch?: (done: number, output: FeatureAttributionOutput, batch: readonly PreparedItem[]) => void },
): Promise<number[][]> {
  const contrastive = isContrastive(spec);
  const out: number[][] = [];
  for (let start = 0; start < items.length; start += options.batchSize) {
    options.signal?.throwIfAborted();
    const batch = items.slice(start, start + options.batchSize);
    if (contrastive) {
      const missing = batch.find((p) => p.item.alternatives.length === 0);
      if (missing) throw new InseqError(ErrorCode.INVALID_OPTION, `Contrastive attributed function ${spec.attributedFn} needs items with alternatives; item ${JSON.stringify(missing.item.id)} has none`);
    }
    const common = {
      method: spec.method as never,
      ...(spec.methodArgs ? { methodArgs: spec.methodArgs } : {}),
      ...(spec.attributedFn ? { attributedFn: spec.attributedFn } : {}),
      ...(spec.attributedFnArgs ? { attributedFnArgs: spec.attributedFnArgs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    let output: FeatureAttributionOutput;
    if (model.kind === "encoder-decoder") {
      output = await (model as Seq2SeqModel).attribute(batch.map((p) => p.text), {
        ...common, generatedTexts: batch.map((p) => p.generatedText),
        ...(contrastive ? { contrastTargets: batch.map((p) => p.contrastText!) } : {}),
      });
    } else {
      output = await (model as Model).attribute(batch.map((p) => p.text), {
        ...common, generatedTexts: batch.map((p) => p.generatedText),
        ...(contrastive ? { contrastTargets: batch.map((p) => p.contrastText!) } : {}),
      });
    }
    batch.forEach((p, i) => out.push(wordScoresOf(output, i, p, spec.scoresLayer)));
    options.onBatch?.(start + batch.length, output, batch);
  }
  return out;
}
