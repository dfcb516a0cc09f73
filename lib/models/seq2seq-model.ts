/**
 * Encoder-decoder models: marian, bart, mbart, m2m_100 loaded natively, or any architecture exported as a
 * TorchScript bundle (docs/torchscript.md). Tokenization, generation with the encoder run once, and
 * attribution with Inseq's encoder-decoder semantics (lib/attribution/attribute-seq2seq.ts).
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { readJsonField } from "../core/json-file.js";
import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { NativeSeq2SeqInfo, NativeSeq2SeqModel } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { native } from "../native/load.js";
import { checkWeightFiles } from "../hub/hub.js";
import { fromRagged, toRagged } from "../native/ragged.js";
import { NativeLifecycle } from "./lifecycle.js";
import { getMethod } from "../attribution/registry.js";
import { attributeSeq2Seq, type Seq2SeqAttributable, type Seq2SeqAttributeOptions } from "../attribution/attribute-seq2seq.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import type { DeviceOption, DtypeOption } from "./load-model.js";
import { SAMPLING_OPTIONS, samplingOptions, type GenerateOptions, type TensorView } from "./model.js";
import { TextTokenizer } from "../tokenizers/tokenizer.js";
import { NATIVE_MODEL_TYPES, nativeModelKind, unsupportedModelType } from "./model-types.js";

/** The natively implemented encoder-decoder `model_type`s (the table in model-types.ts). */
export const SEQ2SEQ_MODEL_TYPES = NATIVE_MODEL_TYPES["encoder-decoder"];
/** The sidecar that marks a TorchScript bundle directory. */
export const BUNDLE_SIDECAR = "inseq_bundle.json";

/** Decoding options as for decoder-only models (maxNewTokens default 20, greedy unless doSample), plus a target prefix. */
export interface Seq2SeqGenerateOptions
  extends Pick<GenerateOptions, "maxNewTokens" | "doSample" | "temperature" | "topK" | "topP" | "seed" | "returnIds" | "signal" | "onProgress"> {
  /** Target text the generation continues (every source); it is part of the returned target. */
  targetPrefix?: string;
}

export interface Seq2SeqForwardOutput {
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

export class Seq2SeqModel {
  readonly #life: NativeLifecycle<NativeSeq2SeqModel>;
  /** Source-side tokenizer. */
  readonly tokenizer: TextTokenizer;
  /** Target-side tokenizer (the source one unless the model has a separate target vocabulary). */
  readonly targetTokenizer: TextTokenizer;
  readonly info: NativeSeq2SeqInfo & { name: string; path: string; isEncoderDecoder: true; modelClass: string; tokenizerClass: string; attributionMethod?: string };

  /** @internal use loadSeq2SeqModel() */
  constructor(nativeModel: NativeSeq2SeqModel, tokenizer: TextTokenizer, targetTokenizer: TextTokenizer,
    meta: { name: string; path: string; modelClass: string; tokenizerClass: string; method?: string }) {
    this.#life = new NativeLifecycle(nativeModel);
    this.tokenizer = tokenizer;
    this.targetTokenizer = targetTokenizer;
    this.info = {
      ...nativeModel.info(), name: meta.name, path: meta.path, isEncoderDecoder: true, modelClass: meta.modelClass,
      tokenizerClass: meta.tokenizerClass, attributionMethod: meta.method,
    };
  }

  /** Translates/continues each source; resolves to the generated target texts (special tokens skipped). */
  generate(texts: string | readonly string[], options?: Seq2SeqGenerateOptions & { returnIds?: false }): Promise<string[]>;
  generate(texts: string | readonly string[], options: Seq2SeqGenerateOptions & { returnIds: true }): Promise<{ texts: string[]; sequences: number[][] }>;
  generate(texts: string | readonly string[], options: Seq2SeqGenerateOptions = {}): Promise<string[] | { texts: string[]; sequences: number[][] }> {
    // Holds the model from the first moment, so dispose() waits for it even while the sources are being encoded.
    return this.#life.run((nativeModel) => this.#generate(nativeModel, texts, options));
  }

  async #generate(nativeModel: NativeSeq2SeqModel, texts: string | readonly string[], options: Seq2SeqGenerateOptions): Promise<string[] | { texts: string[]; sequences: number[][] }> {
    checkOptions("generate", options, GENERATE_OPTIONS);
    const list = typeof texts === "string" ? [texts] : texts;
    if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== "string" || t.length === 0)) {
      throw invalidOption("texts", "one or more non-empty source texts", texts);
    }
    const sequences = await this.#generateIds(nativeModel, (await this.tokenizer.encodeBatch(list)).map((e) => e.ids), options);
    const out = await this.targetTokenizer.decodeBatch(sequences, { skipSpecialTokens: true });
    return options.returnIds ? { texts: out, sequences } : out;
  }

  /**
   * Generation from source ids: the target ids of each source, decoder start excluded, the target prefix's
   * tokens (if any) first. @internal
   */
  generateIds(sources: number[][], options: Seq2SeqGenerateOptions = {}): Promise<number[][]> {
    return this.#life.run((nativeModel) => this.#generateIds(nativeModel, sources, options));
  }

  async #generateIds(nativeModel: NativeSeq2SeqModel, sources: number[][], options: Seq2SeqGenerateOptions): Promise<number[][]> {
    const sampling = samplingOptions(options);
    let prefix: number[] = [];
    if (options.targetPrefix !== undefined) {
      if (typeof options.targetPrefix !== "string") throw invalidOption("targetPrefix", "a string", options.targetPrefix);
      prefix = (await this.targetTokenizer.encode(options.targetPrefix, { addSpecialTokens: false })).ids;
    }
    const ragged = toRagged(sources, { name: "sources", below: this.info.sourceVocabSize });
    const raw = await runNativeJob(
      (cancel) => nativeModel.generate(ragged.ids, ragged.lengths, {
        ...sampling, eosTokenIds: this.info.eosTokenIds, padTokenId: this.info.padTokenId, decoderPrefix: prefix, cancel, onProgress: options.onProgress,
      }),
      options.signal,
    );
    const [generated] = fromRagged(raw.lengths, raw.ids) as [number[][]];
    return generated.map((g) => [...prefix, ...g]);
  }

  /**
   * Inseq's attribute() for encoder-decoders: source attributions (and target-prefix ones with
   * `attributeTarget`), every method and step function of decoder-only models.
   */
  attribute(inputTexts: string | readonly string[], options: Seq2SeqAttributeOptions = {}): Promise<FeatureAttributionOutput> {
    return this.#life.run((nativeModel) => attributeSeq2Seq(this.#held(nativeModel), inputTexts, options));
  }

  /**
   * One forward pass over source and target token ids (targets start with the decoder start token; both
   * right-padded in a batch): logits `[batch, position, vocab]` where row k predicts target token k + 1, and on
   * request the attention weights of every layer.
   */
  forward(sources: ReadonlyArray<readonly number[]>, targets: ReadonlyArray<readonly number[]>, options: { outputAttentions?: boolean; signal?: AbortSignal } = {}): Promise<Seq2SeqForwardOutput> {
    return this.#life.run((nativeModel) => this.#forward(nativeModel, sources, targets, options));
  }

  async #forward(nativeModel: NativeSeq2SeqModel, sources: ReadonlyArray<readonly number[]>, targets: ReadonlyArray<readonly number[]>,
    options: { outputAttentions?: boolean; signal?: AbortSignal }): Promise<Seq2SeqForwardOutput> {
    checkOptions("forward", options, { outputAttentions: "boolean", signal: "signal" });
    for (const [name, rows] of [["sources", sources], ["targets", targets]] as const) {
      if (!Array.isArray(rows) || rows.length === 0 || rows.some((r) => !Array.isArray(r) || r.length === 0)) {
        throw invalidOption(name, "a non-empty array of non-empty id arrays", rows);
      }
    }
    if (sources.length !== targets.length) throw invalidOption("targets", `${sources.length} id arrays (one per source)`, targets.length);
    const s = toRagged(sources, { name: "sources", below: this.info.sourceVocabSize });
    const t = toRagged(targets, { name: "targets", below: this.info.vocabSize });
    const raw = await runNativeJob(() => nativeModel.forward(s.ids, s.lengths, t.ids, t.lengths, { outputAttentions: options.outputAttentions ?? false }), options.signal);
    const view = (x: { shape: number[]; data: Float32Array }, dims: string[]) => ({ dims, shape: x.shape, data: x.data });
    return {
      logits: view(raw.logits, ["batch", "position", "vocab"]),
      crossAttentions: raw.crossAttentions.map((x) => view(x, ["batch", "head", "query", "key"])),
      decoderAttentions: raw.decoderAttentions.map((x) => view(x, ["batch", "head", "query", "key"])),
      encoderAttentions: raw.encoderAttentions.map((x) => view(x, ["batch", "head", "query", "key"])),
    };
  }

  /** True from the moment dispose() is called (calls started before it still finish). */
  get disposed(): boolean {
    return this.#life.disposed;
  }

  /**
   * Refuses new calls (ERR_DISPOSED) at once and frees the native weights when the calls started before it
   * (generate, forward, attribute) have finished.
   */
  dispose(): Promise<void> {
    return this.#life.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** The model as the attribution layer sees it during one call: bound to the native model that call holds. */
  #held(nativeModel: NativeSeq2SeqModel): Seq2SeqAttributable {
    return {
      tokenizer: this.tokenizer, targetTokenizer: this.targetTokenizer, info: this.info, nativeModel: () => nativeModel,
      generateIds: (sources, options = {}) => this.#generateIds(nativeModel, sources, options),
      forward: (sources, targets, options = {}) => this.#forward(nativeModel, sources, targets, options),
    };
  }
}

/** The config.json model_type of a directory, or "" when unreadable. */
export function modelTypeOf(dir: string): Promise<string> {
  return readJsonField(path.join(dir, "config.json"), "model_type");
}

/** "decoder-only" | "encoder-decoder" for a TorchScript bundle directory, null when `dir` is not one. */
export async function bundleKindOf(dir: string): Promise<string | null> {
  if (!existsSync(path.join(dir, BUNDLE_SIDECAR))) return null;
  return readJsonField(path.join(dir, BUNDLE_SIDECAR), "model_kind");
}

/**
 * Loads a local encoder-decoder (loadModel() does this too, and resolves hub ids): a Hugging Face checkpoint (marian, bart, mbart, m2m_100; Marian directories
 * without tokenizer.json use source.spm / target.spm + vocab.json) or an encoder-decoder TorchScript bundle.
 */
export async function loadSeq2SeqModel(dir: string, options: { device?: DeviceOption; dtype?: DtypeOption; signal?: AbortSignal; method?: string; name?: string } = {}): Promise<Seq2SeqModel> {
  checkOptions("loadSeq2SeqModel", options, { device: "checked", dtype: "checked", signal: "signal", method: "checked", name: "string" });
  if (typeof dir !== "string" || dir.length === 0) throw invalidOption("dir", "a directory path", dir);
  if (options.method !== undefined) getMethod(options.method);
  const bundle = await bundleKindOf(dir);
  let tokenizer: TextTokenizer;
  let targetTokenizer: TextTokenizer;
  let modelClass: string;
  if (bundle !== null) {
    if (bundle === "decoder-only") {
      throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `${dir} is a ${JSON.stringify(bundle)} TorchScript bundle, not an encoder-decoder: load it with loadModel()`);
    }
    tokenizer = await TextTokenizer.fromDir(dir);
    targetTokenizer = existsSync(path.join(dir, "target_tokenizer.json")) ? await TextTokenizer.fromDir(dir, "target_tokenizer.json") : tokenizer;
    modelClass = `TorchScript:${await readJsonField(path.join(dir, BUNDLE_SIDECAR), "model_type")}`;
  } else {
    if (!existsSync(path.join(dir, "config.json"))) throw new InseqError(ErrorCode.NOT_FOUND, `No config.json or ${BUNDLE_SIDECAR} in ${dir}`);
    const type = await modelTypeOf(dir);
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
  const binding = native();
  const nativeModel = await runNativeJob(() => binding.loadSeq2SeqModel(dir, { device: options.device ?? "auto", dtype: options.dtype ?? "float32" }), options.signal);
  return new Seq2SeqModel(nativeModel, tokenizer, targetTokenizer, { name: options.name ?? dir, path: path.resolve(dir), modelClass, tokenizerClass, method: options.method });
}
