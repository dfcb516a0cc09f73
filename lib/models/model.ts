/**
 * A loaded model: the native network plus its tokenizer. Every heavy call returns a Promise and runs on a
 * native worker thread; the event loop stays free.
 */
import { invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { NativeModel, NativeModelInfo, NativeTensor } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { checkValues, fromRagged, toRagged } from "../native/ragged.js";
import { NativeLifecycle } from "./lifecycle.js";
import type { DecodeOptions, Encoded, EncodeOptions, TextTokenizer } from "../tokenizers/tokenizer.js";
import { attribute, type AttributeOptions } from "../attribution/attribute.js";
import { getMethod } from "../attribution/registry.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";

/** A dense float32 tensor with named dimensions. */
export interface TensorView {
  dims: string[];
  shape: number[];
  data: Float32Array;
}

export interface GenerateOptions {
  /** Tokens to generate after each prompt (default 20). */
  maxNewTokens?: number;
  /** Sample instead of greedy decoding (default false). */
  doSample?: boolean;
  /** Softmax temperature when sampling (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens when sampling (0 = off). */
  topK?: number;
  /** Nucleus sampling: keep the smallest set with cumulative probability >= topP (1 = off). */
  topP?: number;
  /** Seed of the sampler (default 0): the same seed gives the same samples. */
  seed?: number;
  /** Drop special tokens (BOS, EOS, pad) from the returned texts (default true). */
  skipSpecialTokens?: boolean;
  /** Return only the continuation instead of prompt + continuation (default false, as Inseq). */
  outputGeneratedOnly?: boolean;
  /** Resolve to `{ texts, sequences }` with token ids instead of the texts alone. */
  returnIds?: boolean;
  signal?: AbortSignal;
  /** Called after each generated position. */
  onProgress?: (done: number, total: number) => void;
}

export interface GeneratedSequence {
  text: string;
  /** Prompt ids (as encoded, special tokens included) followed by the generated ids. */
  ids: number[];
  promptIds: number[];
  generatedIds: number[];
  /** Log-probability of each generated token under the model (after temperature/top-k/top-p when sampling). */
  logprobs: number[];
}

export interface GenerationOutput {
  texts: string[];
  sequences: GeneratedSequence[];
}

export interface ForwardOptions {
  outputAttentions?: boolean;
  outputHiddenStates?: boolean;
  signal?: AbortSignal;
}

export interface ForwardOutput {
  /** [batch, position, vocab]; rows are left-padded to the longest sequence. */
  logits: TensorView;
  /** One per layer: [batch, head, query, key]. */
  attentions: TensorView[];
  /** num_layers + 1 entries of [batch, position, hidden] (embeddings, each layer, last after the final norm). */
  hiddenStates: TensorView[];
}

export interface ModelInfo extends NativeModelInfo {
  /** What was passed to loadModel. */
  name: string;
  /** The directory the files were read from. */
  path: string;
  tokenizerVocabSize: number;
  isEncoderDecoder: boolean;
  /** `architectures[0]` of config.json (e.g. "LlamaForCausalLM"), as Inseq's info.model_class. */
  modelClass: string;
  /** `tokenizer_class` of tokenizer_config.json (e.g. "LlamaTokenizer"). */
  tokenizerClass: string;
  /** The default attribution method given to loadModel, if any. */
  attributionMethod: string | undefined;
}

/** The decoding options both model kinds take (samplingOptions validates the "checked" ones). @internal */
export const SAMPLING_OPTIONS = {
  maxNewTokens: "checked", doSample: "boolean", temperature: "checked", topK: "checked", topP: "checked", seed: "checked",
} as const satisfies OptionTable;

/** The options generate() takes (the CLI's --generation-kwargs checks its keys against them). */
export const GENERATE_OPTIONS = {
  ...SAMPLING_OPTIONS, skipSpecialTokens: "boolean", outputGeneratedOnly: "boolean", returnIds: "boolean", signal: "signal", onProgress: "function",
} as const satisfies OptionTable;

const FORWARD_OPTIONS = { outputAttentions: "boolean", outputHiddenStates: "boolean", signal: "signal" } as const satisfies OptionTable;

/** Validated decoding options with their defaults (greedy unless doSample), shared by both model kinds. @internal */
export function samplingOptions(options: Pick<GenerateOptions, "maxNewTokens" | "doSample" | "temperature" | "topK" | "topP" | "seed">):
  { maxNewTokens: number; doSample: boolean; temperature: number; topK: number; topP: number; seed: number } {
  const maxNewTokens = checkInt("maxNewTokens", options.maxNewTokens ?? 20, 0);
  const temperature = options.temperature ?? 1;
  if (typeof temperature !== "number" || !(temperature > 0)) throw invalidOption("temperature", "a positive number", temperature);
  const topK = checkInt("topK", options.topK ?? 0, 0);
  const topP = options.topP ?? 1;
  if (typeof topP !== "number" || !(topP > 0 && topP <= 1)) throw invalidOption("topP", "a number in (0, 1]", topP);
  const seed = checkInt("seed", options.seed ?? 0, 0);
  return { maxNewTokens, doSample: options.doSample ?? false, temperature, topK, topP, seed };
}

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw invalidOption(name, min === 0 ? "a non-negative integer" : `an integer >= ${min}`, v);
  }
  return v;
}

export class Model {
  readonly #life: NativeLifecycle<NativeModel>;
  readonly tokenizer: TextTokenizer;
  readonly #info: ModelInfo;
  readonly #eosTokenIds: number[];
  readonly #padTokenId: number;

  /** @internal use loadModel() */
  constructor(
    nativeModel: NativeModel,
    tokenizer: TextTokenizer,
    meta: { name: string; path: string; generationEos: number[]; modelClass: string; tokenizerClass: string; method?: string },
  ) {
    if (meta.method !== undefined) getMethod(meta.method);
    this.#life = new NativeLifecycle(nativeModel);
    this.tokenizer = tokenizer;
    const info = nativeModel.info();
    this.#info = {
      ...info, name: meta.name, path: meta.path, tokenizerVocabSize: tokenizer.vocabSize, isEncoderDecoder: false,
      modelClass: meta.modelClass, tokenizerClass: meta.tokenizerClass, attributionMethod: meta.method,
    };
    const eos = new Set<number>([...info.eosTokenIds, ...meta.generationEos]);
    if (tokenizer.eosTokenId != null) eos.add(tokenizer.eosTokenId);
    this.#eosTokenIds = [...eos].filter((id) => id >= 0);
    // pad: config -> tokenizer -> first EOS -> 0 (as Inseq)
    this.#padTokenId = info.padTokenId >= 0 ? info.padTokenId : tokenizer.padTokenId ?? this.#eosTokenIds[0] ?? 0;
  }

  /** Architecture, sizes, device and dtype of the loaded model. */
  get info(): ModelInfo {
    return { ...this.#info };
  }

  get eosTokenIds(): number[] {
    return [...this.#eosTokenIds];
  }

  get padTokenId(): number {
    return this.#padTokenId;
  }

  /** True from the moment dispose() is called (calls started before it still finish). */
  get disposed(): boolean {
    return this.#life.disposed;
  }

  /** Tokenizes texts (special tokens added as the tokenizer config says), with offsets and word ids. */
  async encode(texts: string | readonly string[], options?: EncodeOptions): Promise<Encoded[]> {
    const list = typeof texts === "string" ? [texts] : texts;
    return this.tokenizer.encodeBatch(list, options);
  }

  /**
   * Turns ids back into text (special tokens skipped by default). Every id must be one of the model's
   * (ERR_INVALID_OPTION naming the position); ids the model has but the tokenizer lacks (padded embedding
   * rows) decode to nothing, as in Hugging Face tokenizers.
   */
  async decode(ids: readonly number[], options?: DecodeOptions): Promise<string> {
    checkValues(ids, { name: "ids", below: this.#info.vocabSize });
    return this.tokenizer.decode(ids, options);
  }

  /**
   * Continues each prompt. Resolves to the texts (prompt + continuation, as Inseq's decoder-only generate),
   * or to `{ texts, sequences }` with `returnIds: true`. Prompts of different lengths are batched with left
   * padding; the result equals generating them one by one.
   */
  generate(texts: string | readonly string[], options?: GenerateOptions & { returnIds?: false }): Promise<string[]>;
  generate(texts: string | readonly string[], options: GenerateOptions & { returnIds: true }): Promise<GenerationOutput>;
  generate(texts: string | readonly string[], options: GenerateOptions = {}): Promise<string[] | GenerationOutput> {
    // Holds the model from the first moment, so dispose() waits for it even while the prompts are being encoded.
    return this.#life.run((nativeModel) => this.#generate(nativeModel, texts, options));
  }

  async #generate(nativeModel: NativeModel, texts: string | readonly string[], options: GenerateOptions): Promise<string[] | GenerationOutput> {
    checkOptions("generate", options, GENERATE_OPTIONS);
    const list = typeof texts === "string" ? [texts] : texts;
    if (!Array.isArray(list) || list.some((t) => typeof t !== "string")) throw invalidOption("texts", "a string or an array of strings", texts);
    const sampling = samplingOptions(options);
    const prompts = await this.#encodePrompts(list);
    const { ids: flat, lengths } = toRagged(prompts, { name: "texts", below: this.#info.vocabSize });
    const raw = await runNativeJob(
      (cancel) =>
        nativeModel.generate(flat, lengths, {
          ...sampling, eosTokenIds: this.#eosTokenIds, padTokenId: this.#padTokenId, cancel, onProgress: options.onProgress,
        }),
      options.signal,
    );
    const sequences: GeneratedSequence[] = [];
    const [generated, logprobRows] = fromRagged(raw.lengths, raw.ids, raw.logprobs);
    for (let i = 0; i < prompts.length; i++) {
      const generatedIds = generated![i]!;
      const logprobs = logprobRows![i]!;
      const ids = [...prompts[i]!, ...generatedIds];
      const text = await this.tokenizer.decode(options.outputGeneratedOnly ? generatedIds : ids, {
        skipSpecialTokens: options.skipSpecialTokens ?? true,
      });
      sequences.push({ text, ids, promptIds: prompts[i]!, generatedIds, logprobs });
    }
    const out = sequences.map((s) => s.text);
    return options.returnIds ? { texts: out, sequences } : out;
  }

  /** One forward pass over token ids (left-padded batch) returning logits and, on request, internals. */
  forward(ids: ReadonlyArray<readonly number[]>, options: ForwardOptions = {}): Promise<ForwardOutput> {
    return this.#life.run((nativeModel) => this.#forward(nativeModel, ids, options));
  }

  async #forward(nativeModel: NativeModel, ids: ReadonlyArray<readonly number[]>, options: ForwardOptions): Promise<ForwardOutput> {
    checkOptions("forward", options, FORWARD_OPTIONS);
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((r) => !Array.isArray(r) || r.length === 0)) {
      throw invalidOption("ids", "a non-empty array of non-empty id arrays", ids);
    }
    const rows = toRagged(ids, { name: "ids", below: this.#info.vocabSize });
    const raw = await runNativeJob(
      () =>
        nativeModel.forward(rows.ids, rows.lengths, {
          outputAttentions: options.outputAttentions ?? false,
          outputHiddenStates: options.outputHiddenStates ?? false,
          padTokenId: this.#padTokenId,
        }),
      options.signal,
    );
    const view = (t: NativeTensor, dims: string[]): TensorView => ({ dims, shape: t.shape, data: t.data });
    return {
      logits: view(raw.logits, ["batch", "position", "vocab"]),
      attentions: raw.attentions.map((t) => view(t, ["batch", "head", "query", "key"])),
      hiddenStates: raw.hiddenStates.map((t) => view(t, ["batch", "position", "hidden"])),
    };
  }

  /**
   * Attributes each generated (or forced) token to the input tokens, as Python Inseq's `attribute()` with
   * camelCase options. Unknown option names are errors listing the valid ones.
   * @example
   * const out = await model.attribute("the doctor , a woman from the hospital , said that", { method: "integrated_gradients", generationArgs: { maxNewTokens: 3 } });
   * console.log(out.show());
   */
  attribute(inputTexts: string | readonly string[], options?: AttributeOptions): Promise<FeatureAttributionOutput> {
    // The attribution's own generate/forward calls go through the same hold on the model.
    return this.#life.run((nativeModel) => attribute({
      model: this, defaultMethod: this.#info.attributionMethod, run: (job) => job(nativeModel),
      generate: (texts, o) => this.#generate(nativeModel, texts, o) as Promise<GenerationOutput>,
      forward: (ids, o) => this.#forward(nativeModel, ids, o),
    }, inputTexts, options));
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

  async #encodePrompts(texts: readonly string[]): Promise<number[][]> {
    // Inseq replaces an empty decoder-only prompt by the BOS token.
    const encoded = await this.tokenizer.encodeBatch(texts);
    return encoded.map((e, i) => {
      if (e.ids.length > 0) return e.ids;
      const bos = this.tokenizer.bosTokenId ?? (this.#info.bosTokenId >= 0 ? this.#info.bosTokenId : null);
      if (bos == null) throw invalidOption(`texts[${i}]`, "a non-empty prompt (this model has no BOS token to start from)", texts[i]);
      return [bos];
    });
  }

}
