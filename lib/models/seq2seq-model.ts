/**
 * Encoder-decoder models: marian, bart, mbart, m2m_100, t5 / Flan-T5 loaded natively, or any architecture exported as a
 * TorchScript bundle (docs/torchscript.md). Tokenization, generation with the encoder run once, and
 * attribution with Inseq's encoder-decoder semantics (lib/attribution/attribute-seq2seq.ts).
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { readJsonField } from "../core/json-file.js";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { ContractInfo, GenerationOutput, HeldModel, ModelKind, TensorView } from "../contract/model-contract.js";
import { SAMPLING_OPTIONS, samplingOptions, type SamplingOptions } from "../contract/sampling.js";
import type { NativeSeq2SeqInfo, NativeSeq2SeqModel } from "../native/binding-types.js";
import { loadNativeModel } from "../native/addon.js";
import { runNativeJob } from "../native/jobs.js";
import { positionFlags, toRagged } from "../native/ragged.js";
import { checkWeightFiles } from "../hub/hub.js";
import { getMethod } from "../attribution/registry.js";
import type { Seq2SeqAttributeOptions } from "../attribution/attribute.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import type { DeviceOption, DtypeOption } from "./load-options.js";
import { TextTokenizer } from "../tokenizers/tokenizer.js";
import { LoadedModel } from "./loaded-model.js";
import { attributeContext } from "../context/attribute-context.js";
import type { AttributeContextOutput } from "../context/output.js";
import type { AttributeContextOptions } from "../context/types.js";
import { BUNDLE_SIDECAR, modelKindOf, readModelDir } from "./model-kind.js";
import { NATIVE_MODEL_TYPES, nativeModelKind, unsupportedModelType } from "./model-types.js";

export { BUNDLE_SIDECAR, bundleKindOf, modelTypeOf } from "./model-kind.js";

/** The natively implemented encoder-decoder `model_type`s (the table in model-types.ts). */
export const SEQ2SEQ_MODEL_TYPES = NATIVE_MODEL_TYPES["encoder-decoder"];

/** Decoding options as for decoder-only models (maxNewTokens default 20, greedy unless doSample), plus a target prefix. */
export interface Seq2SeqGenerateOptions extends SamplingOptions {
  /** Resolve to `{ texts, sequences }` with token ids instead of the texts alone. */
  returnIds?: boolean;
  signal?: AbortSignal;
  /** Called after each generated position. */
  onProgress?: (done: number, total: number) => void;
  /** Target text the generation continues (every source); it is part of the returned target. */
  targetPrefix?: string;
}

export interface Seq2SeqForwardOptions {
  outputAttentions?: boolean;
  /**
   * Per row, source positions whose token embedding is replaced by the mean embedding of the source vocabulary
   * (the evaluation's "mean" replacement).
   */
  meanEmbeddingAt?: ReadonlyArray<readonly number[]>;
  signal?: AbortSignal;
}

export interface Seq2SeqForwardOutput {
  /** [batch, position, vocab] */
  logits: TensorView;
  /** Per decoder layer [batch, head, target, source]. */
  crossAttentions: TensorView[];
  /** Per decoder layer [batch, head, target, target]. */
  decoderAttentions: TensorView[];
  /** Per encoder layer [batch, head, source, source]. */
  encoderAttentions: TensorView[];
}

const GENERATE_OPTIONS = {
  ...SAMPLING_OPTIONS, targetPrefix: "string", returnIds: "boolean", signal: "signal", onProgress: "function",
} as const satisfies OptionTable;

/** An encoder-decoder: sources go to the encoder, targets start with the decoder start token. */
export class Seq2SeqModel extends LoadedModel<NativeSeq2SeqModel> {
  readonly kind: ModelKind = "encoder-decoder";
  readonly info: NativeSeq2SeqInfo & { name: string; path: string; isEncoderDecoder: true; modelClass: string; tokenizerClass: string; attributionMethod?: string };

  /** @internal use loadSeq2SeqModel() */
  constructor(nativeModel: NativeSeq2SeqModel, tokenizer: TextTokenizer, targetTokenizer: TextTokenizer,
    meta: { name: string; path: string; modelClass: string; tokenizerClass: string; method?: string }) {
    super(nativeModel, tokenizer, targetTokenizer);
    this.info = {
      ...nativeModel.info(), name: meta.name, path: meta.path, isEncoderDecoder: true, modelClass: meta.modelClass,
      tokenizerClass: meta.tokenizerClass, attributionMethod: meta.method,
    };
  }

  /** @internal */
  protected contractInfo(): ContractInfo {
    const i = this.info;
    return {
      name: i.name, path: i.path, modelClass: i.modelClass, tokenizerClass: i.tokenizerClass, attributionMethod: i.attributionMethod,
      vocabSize: i.vocabSize, sourceVocabSize: i.sourceVocabSize, numLayers: i.numLayers, numEncoderLayers: i.numEncoderLayers,
      padTokenId: i.padTokenId, bosTokenId: i.bosTokenId, unkTokenId: i.unkTokenId, eosTokenIds: i.eosTokenIds, decoderStartTokenId: i.decoderStartTokenId,
    };
  }

  /**
   * Translates/continues each source; resolves to the generated target texts (special tokens skipped), or to
   * `{ texts, sequences }` with `returnIds: true` (the same shape as decoder-only models: `ids` is the target).
   */
  generate(texts: string | readonly string[], options?: Seq2SeqGenerateOptions & { returnIds?: false }): Promise<string[]>;
  generate(texts: string | readonly string[], options: Seq2SeqGenerateOptions & { returnIds: true }): Promise<GenerationOutput>;
  generate(texts: string | readonly string[], options: Seq2SeqGenerateOptions = {}): Promise<string[] | GenerationOutput> {
    // Holds the model from the first moment, so dispose() waits for it even while the sources are being encoded.
    return this.run(async (nativeModel) => LoadedModel.generationResult(await this.#generate(nativeModel, texts, options), options.returnIds));
  }

  async #generate(nativeModel: NativeSeq2SeqModel, texts: string | readonly string[], options: Seq2SeqGenerateOptions): Promise<GenerationOutput> {
    checkOptions("generate", options, GENERATE_OPTIONS);
    const list = typeof texts === "string" ? [texts] : texts;
    if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== "string" || t.length === 0)) {
      throw invalidOption("texts", "one or more non-empty source texts", texts);
    }
    const sources = (await this.tokenizer.encodeBatch(list)).map((e) => e.ids);
    const { prefix, generated, logprobs } = await this.#generateIds(nativeModel, sources, options);
    const targets = generated.map((g) => [...prefix, ...g]);
    const out = await this.targetTokenizer.decodeBatch(targets, { skipSpecialTokens: true });
    return {
      texts: out,
      sequences: targets.map((ids, i) => ({ text: out[i]!, ids, promptIds: sources[i]!, generatedIds: generated[i]!, logprobs: logprobs[i]! })),
    };
  }

  /**
   * Generation from source ids: the target ids of each source, decoder start excluded, the target prefix's
   * tokens (if any) first. @internal
   */
  generateIds(sources: number[][], options: Seq2SeqGenerateOptions = {}): Promise<number[][]> {
    return this.run(async (nativeModel) => {
      const { prefix, generated } = await this.#generateIds(nativeModel, sources, options);
      return generated.map((g) => [...prefix, ...g]);
    });
  }

  /** @internal */
  protected async generateIdsWith(nativeModel: NativeSeq2SeqModel, sources: number[][], options: Parameters<HeldModel["generateIds"]>[1]): Promise<number[][]> {
    const { prefix, generated } = await this.#generateIds(nativeModel, sources, { ...options.generation, targetPrefix: options.targetPrefix, signal: options.signal });
    return generated.map((g) => [...prefix, ...g]);
  }

  async #generateIds(nativeModel: NativeSeq2SeqModel, sources: number[][], options: Seq2SeqGenerateOptions) {
    const sampling = samplingOptions(options);
    let prefix: number[] = [];
    if (options.targetPrefix !== undefined) {
      if (typeof options.targetPrefix !== "string") throw invalidOption("targetPrefix", "a string", options.targetPrefix);
      prefix = (await this.targetTokenizer.encode(options.targetPrefix, { addSpecialTokens: false })).ids;
    }
    const out = await this.nativeGenerate(nativeModel, sources, this.info.sourceVocabSize, {
      ...sampling, eosTokenIds: this.info.eosTokenIds, padTokenId: this.info.padTokenId, decoderPrefix: prefix,
      signal: options.signal, onProgress: options.onProgress, name: "sources",
    });
    return { prefix, ...out };
  }

  /**
   * Inseq's attribute() for encoder-decoders: source attributions (and target-prefix ones with
   * `attributeTarget`), every method and step function of decoder-only models.
   */
  attribute(inputTexts: string | readonly string[], options: Seq2SeqAttributeOptions = {}): Promise<FeatureAttributionOutput> {
    return this.attributeWith(inputTexts, options);
  }

  /**
   * PECoRe context attribution (Python Inseq's `inseq attribute-context`): the context-sensitive tokens of the
   * output and, for each, its contextual cues in the input / output context. See `attributeContext()`.
   */
  attributeContext(options: AttributeContextOptions): Promise<AttributeContextOutput> {
    return attributeContext(this, options);
  }

  /**
   * One forward pass over source and target token ids (targets start with the decoder start token; both
   * right-padded in a batch): logits `[batch, position, vocab]` where row k predicts target token k + 1, and on
   * request the attention weights of every layer.
   */
  forward(sources: ReadonlyArray<readonly number[]>, targets: ReadonlyArray<readonly number[]>, options: Seq2SeqForwardOptions = {}): Promise<Seq2SeqForwardOutput> {
    return this.run((nativeModel) => this.#forward(nativeModel, sources, targets, options));
  }

  async #forward(nativeModel: NativeSeq2SeqModel, sources: ReadonlyArray<readonly number[]>, targets: ReadonlyArray<readonly number[]>,
    options: Seq2SeqForwardOptions): Promise<Seq2SeqForwardOutput> {
    checkOptions("forward", options, { outputAttentions: "boolean", meanEmbeddingAt: "checked", signal: "signal" });
    for (const [name, rows] of [["sources", sources], ["targets", targets]] as const) {
      if (!Array.isArray(rows) || rows.length === 0 || rows.some((r) => !Array.isArray(r) || r.length === 0)) {
        throw invalidOption(name, "a non-empty array of non-empty id arrays", rows);
      }
    }
    if (sources.length !== targets.length) throw invalidOption("targets", `${sources.length} id arrays (one per source)`, targets.length);
    const s = toRagged(sources, { name: "sources", below: this.info.sourceVocabSize });
    const t = toRagged(targets, { name: "targets", below: this.info.vocabSize });
    const meanEmbeddingFlags = options.meanEmbeddingAt === undefined ? undefined : positionFlags(sources, options.meanEmbeddingAt, "meanEmbeddingAt");
    const raw = await runNativeJob(() => nativeModel.forward(s.ids, s.lengths, t.ids, t.lengths, {
      outputAttentions: options.outputAttentions ?? false, ...(meanEmbeddingFlags ? { meanEmbeddingFlags } : {}),
    }), options.signal);
    const view = (x: { shape: number[]; data: Float32Array }, dims: string[]) => ({ dims, shape: x.shape, data: x.data });
    return {
      logits: view(raw.logits, ["batch", "position", "vocab"]),
      crossAttentions: raw.crossAttentions.map((x) => view(x, ["batch", "head", "query", "key"])),
      decoderAttentions: raw.decoderAttentions.map((x) => view(x, ["batch", "head", "query", "key"])),
      encoderAttentions: raw.encoderAttentions.map((x) => view(x, ["batch", "head", "query", "key"])),
    };
  }
}

/**
 * Loads a local encoder-decoder (loadModel() does this too, and resolves hub ids): a Hugging Face checkpoint (marian, bart, mbart, m2m_100, t5; Marian directories
 * without tokenizer.json use source.spm / target.spm + vocab.json) or an encoder-decoder TorchScript bundle.
 */
export async function loadSeq2SeqModel(dir: string, options: { device?: DeviceOption; dtype?: DtypeOption; signal?: AbortSignal; method?: string; name?: string; onProgress?: (loadedBytes: number, totalBytes: number) => void } = {}): Promise<Seq2SeqModel> {
  checkOptions("loadSeq2SeqModel", options, { device: "checked", dtype: "checked", signal: "signal", method: "checked", name: "string", onProgress: "function" });
  if (typeof dir !== "string" || dir.length === 0) throw invalidOption("dir", "a directory path", dir);
  if (options.method !== undefined) getMethod(options.method);
  const facts = await readModelDir(dir);
  const { bundle } = facts;
  let tokenizer: TextTokenizer;
  let targetTokenizer: TextTokenizer;
  let modelClass: string;
  if (bundle !== null) {
    if (modelKindOf(facts) !== "encoder-decoder") {
      throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `${dir} is a ${JSON.stringify(bundle)} TorchScript bundle, not an encoder-decoder: load it with loadModel()`);
    }
    tokenizer = await TextTokenizer.fromDir(dir);
    targetTokenizer = existsSync(path.join(dir, "target_tokenizer.json")) ? await TextTokenizer.fromDir(dir, "target_tokenizer.json") : tokenizer;
    modelClass = `TorchScript:${await readJsonField(path.join(dir, BUNDLE_SIDECAR), "model_type")}`;
  } else {
    if (!facts.hasConfig) throw new InseqError(ErrorCode.NOT_FOUND, `No config.json or ${BUNDLE_SIDECAR} in ${dir}`);
    const type = facts.modelType;
    const kind = nativeModelKind(type);
    if (kind === "decoder-only") {
      throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `model_type ${JSON.stringify(type)} in ${dir} is a decoder-only model, not an encoder-decoder (${SEQ2SEQ_MODEL_TYPES.join(", ")}): load it with loadModel()`);
    }
    if (kind === null && type !== "") throw unsupportedModelType(type, path.join(dir, "config.json"));
    if (existsSync(path.join(dir, "tokenizer.json"))) {
      tokenizer = targetTokenizer = await TextTokenizer.fromDir(dir);
    } else {
      tokenizer = await TextTokenizer.fromMarianDir(dir);
      targetTokenizer = await TextTokenizer.fromMarianDir(dir, { side: "target" });
    }
    modelClass = await readJsonField(path.join(dir, "config.json"), "architectures");
  }
  const tokenizerClass = await readJsonField(path.join(dir, "tokenizer_config.json"), "tokenizer_class");
  await checkWeightFiles(dir); // the native loader reads the sharded index: no shard outside the folder
  const nativeModel = await loadNativeModel(dir, "encoder-decoder", { device: options.device ?? "auto", dtype: options.dtype ?? "float32", signal: options.signal, onProgress: options.onProgress });
  return new Seq2SeqModel(nativeModel, tokenizer, targetTokenizer, { name: options.name ?? dir, path: path.resolve(dir), modelClass, tokenizerClass, method: options.method });
}
