/**
 * attribute() result assembly: native rows into FeatureAttributionSequenceOutput (split into source and target
 * sides by the layout), custom JS step scores, the Inseq `info` block and per-step views.
 */
import type { NativeAttributionResult, NativeTensor } from "../native/binding-types.js";
import type { TextTokenizer } from "../tokenizers/tokenizer.js";
import {
  FeatureAttributionSequenceOutput, type FeatureAttributionStepOutput, type TokenWithId,
} from "../results/attribution.js";
import type { ScoreTensor } from "../results/tensor.js";
import { inseqInfo } from "../results/inseq-json.js";
import { contrastInfoArgs } from "./contrast.js";
import type { ResolvedAttributeOptions, SharedAttributeOptions } from "./options.js";

/** The native step scores of one sequence under their requested names (plus IG's `deltas`). @internal */
export function nativeStepScores(r: ResolvedAttributeOptions, raw: Record<string, Float32Array>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const s of r.resolvedScores) if (!s.def.custom) out[s.id] = raw[s.def.id]!;
  if (raw.deltas) out.deltas = raw.deltas;
  return out;
}

/**
 * Hidden dimension reduced on the device but with extra dimensions left (e.g. every layer), which the engine
 * does not normalise: finish Inseq's default aggregation here and mark it coarse, so that neither we nor Python
 * Inseq aggregate it again. (Plain reduced results come back normalised and "coarse" from the engine.) @internal
 */
export function finishReduced(seq: FeatureAttributionSequenceOutput, kind: NativeAttributionResult["kind"]): FeatureAttributionSequenceOutput {
  return kind === "granular_reduced" ? seq.defaultAggregate().with({ kind: "coarse" }) : seq;
}

/** Token strings with ids (and word ids when known). @internal */
export function tokensWithIds(tok: TextTokenizer, ids: readonly number[], wordIds?: ReadonlyArray<number | null>): TokenWithId[] {
  return tok.convertIdsToTokens([...ids]).map((t, j) => (wordIds ? { token: t ?? "", id: ids[j]!, wordId: wordIds[j] ?? null } : { token: t ?? "", id: ids[j]! }));
}

/**
 * Custom (JS, forward-only) step scores from the step logits of each sequence (the native result's `stepLogits`
 * [end - start, vocab], row t - start predicting target token t). @internal
 */
export function addCustomScores(
  r: ResolvedAttributeOptions,
  targets: ReadonlyArray<{ ids: readonly number[]; start: number; end: number }>,
  sequences: FeatureAttributionSequenceOutput[],
  stepLogits: ReadonlyArray<NativeTensor>,
  args: Record<string, unknown>,
): void {
  const scores = r.resolvedScores.filter((s) => s.def.custom);
  if (scores.length === 0) return;
  for (let i = 0; i < targets.length; i++) {
    const p = targets[i]!;
    const logits = stepLogits[i]!;  // [end - start, vocab]
    const vocab = logits.shape[1]!;
    for (const s of scores) {
      const values = new Float32Array(p.end - p.start);
      for (let t = p.start; t < p.end; t++) {
        const row = t - p.start;
        values[row] = s.def.custom!({ logits: logits.data.subarray(row * vocab, (row + 1) * vocab), target: p.ids[t]!, position: t, ids: p.ids, args });
      }
      sequences[i]!.stepScores[s.id] = values;
    }
  }
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

/** Rows [r0, r1) of a [rows, cols, ...extra] tensor. */
function sliceRows(t: NativeTensor, r0: number, r1: number, dims: string[]): ScoreTensor {
  const inner = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { dims, shape: [r1 - r0, ...t.shape.slice(1)], data: t.data.slice(r0 * inner, r1 * inner) };
}

/** One example's tokens and attributed range, in target coordinates (decoder-only: an empty source). @internal */
export interface AssembledExample {
  source: number[];
  sourceWords?: Array<number | null>;
  target: number[];
  targetWords?: Array<number | null>;
  start: number;
  end: number;
}

/**
 * Decoder-only: the one sequence is the target; its first `start` tokens (the prompt) are the source tokens,
 * and the attributions `[target, generated, ...extra]` are the target attributions. @internal
 */
export function decoderOnlySequence(r: ResolvedAttributeOptions, tok: TextTokenizer, p: AssembledExample,
  raw: NativeAttributionResult, k: number): FeatureAttributionSequenceOutput {
  const res = raw.sequences[k]!;
  const target = tokensWithIds(tok, p.target, p.targetWords);
  const seq = new FeatureAttributionSequenceOutput({
    source: target.slice(0, p.start),
    target,
    targetAttributions: res.attributions ? { dims: ["target", "generated", ...raw.extraDims], shape: res.attributions.shape, data: res.attributions.data } : null,
    stepScores: nativeStepScores(r, res.stepScores),
    sequenceScores: latentRelevanceScores(res.sequenceScores),
    attrPosStart: p.start,
    attrPosEnd: p.end,
    kind: raw.kind === "granular_reduced" ? "granular" : raw.kind,
    extraDimNames: raw.extraDims,
  });
  return finishReduced(seq, raw.kind);
}

/** attn_lrp / cp_lrp with latentRelevance: every block output's relevance [target, generated, layer]. @internal */
function latentRelevanceScores(scores: Record<string, NativeTensor> | undefined): Record<string, ScoreTensor> {
  const t = scores?.lrp_latent_relevance;
  return t ? { lrp_latent_relevance: { dims: ["target", "generated", "layer"], shape: t.shape, data: t.data } } : {};
}

/**
 * Encoder-decoder: the engine's rows are source ++ target; they split back into source attributions and (with
 * attributeTarget) target attributions. Without attributeTarget, attention / value zeroing keep the decoder self
 * scores as a sequence score, as Inseq. @internal
 */
export function encoderDecoderSequence(r: ResolvedAttributeOptions, tokenizers: { source: TextTokenizer; target: TextTokenizer },
  p: AssembledExample, raw: NativeAttributionResult, k: number, attributeTarget: boolean): FeatureAttributionSequenceOutput {
  const res = raw.sequences[k]!;
  const S = p.source.length;
  const extra = raw.extraDims;
  const sequenceScores: Record<string, ScoreTensor> = {};
  for (const [name, t] of Object.entries(res.sequenceScores ?? {})) {
    sequenceScores[name] = { dims: ["source", "source", ...t.shape.slice(2).map((_, d) => extra[d] ?? `dim${d}`)], shape: t.shape, data: t.data };
  }
  const a = res.attributions;
  if (a && (r.method === "attention" || r.method === "value_zeroing") && !attributeTarget) {
    // As Inseq: without attributeTarget the decoder self scores become a sequence score [keys, generated,
    // ...]; attention has 0 where a key comes after the query, value zeroing NaN.
    const t = sliceRows(a, S, S + p.end - 1, ["target", "generated", ...extra]);
    if (r.method === "attention") {
      t.data = t.data.map((v) => (Number.isNaN(v) ? 0 : v));
      sequenceScores.decoder_self_attentions = t;
    } else {
      sequenceScores.decoder_self_scores = t;
    }
  }
  const seq = new FeatureAttributionSequenceOutput({
    source: tokensWithIds(tokenizers.source, p.source, p.sourceWords),
    target: tokensWithIds(tokenizers.target, p.target, p.targetWords),
    sourceAttributions: a ? sliceRows(a, 0, S, ["source", "generated", ...extra]) : null,
    targetAttributions: a && attributeTarget ? sliceRows(a, S, S + p.end, ["target", "generated", ...extra]) : null,
    stepScores: nativeStepScores(r, res.stepScores),
    sequenceScores,
    attrPosStart: p.start,
    attrPosEnd: p.end,
    kind: raw.kind === "granular_reduced" ? "granular" : raw.kind,
    extraDimNames: extra,
  });
  return finishReduced(seq, raw.kind);
}
