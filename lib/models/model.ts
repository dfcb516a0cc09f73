/**
 * A loaded model: the native network plus its tokenizer. Every heavy call returns a Promise and runs on a
 * native worker thread; the event loop stays free.
 */
import { invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import type { ContractInfo, GenerationOutput, GeneratedSequence, HeldModel, ModelKind, TensorView } from "../contract/model-contract.js";
import { SAMPLING_OPTIONS, samplingOptions, type SamplingOptions } from "../contract/sampling.js";
import type { NativeModel, NativeModelInfo, NativeTensor } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { positionFlags, toRagged } from "../native/ragged.js";
import type { TextTokenizer } from "../tokenizers/tokenizer.js";
import type { AttributeOptions } from "../attribution/attribute.js";
import { getMethod } from "../attribution/registry.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import { LoadedModel } from "./loaded-model.js";
import { attributeContext } from "../context/attribute-context.js";
import type { AttributeContextOutput } from "../context/output.js";
import type { AttributeContextOptions } from "../context/types.js";

export type { GenerationOutput, GeneratedSequence, TensorView } from "../contract/model-contract.js";

export interface GenerateOptions extends SamplingOptions {
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

export interface ForwardOptions {
  outputAttentions?: boolean;
  outputHiddenStates?: boolean;
  /** Logits of the last k positions only (`[batch, k, vocab]`; default 0 = every position). */
  logitsToKeep?: number;
  /**
   * Per row, positions whose token embedding is replaced by the mean embedding of the whole vocabulary (a
   * removal that carries no token's identity; the evaluation's "mean" replacement). Positions count within the
   * row as given (before padding).
   */
  meanEmbeddingAt?: ReadonlyArray<readonly number[]>;
  signal?: AbortSignal;
}

export interface ForwardOutput {
  /** [batch, position, vocab] (position: the last `logitsToKeep` with that option); rows are left-padded to the longest sequence. */
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

/** The options generate() takes (the CLI's --generation-kwargs checks its keys against them). */
export const GENERATE_OPTIONS = {
  ...SAMPLING_OPTIONS, skipSpecialTokens: "boolean", outputGeneratedOnly: "boolean", returnIds: "boolean", signal: "signal", onProgress: "function",
} as const satisfies OptionTable;

const FORWARD_OPTIONS = {
  outputAttentions: "boolean", outputHiddenStates: "boolean", logitsToKeep: "checked", meanEmbeddingAt: "checked", signal: "signal",
} as const satisfies OptionTable;

/** A decoder-only model: prompts are continued in one sequence (the prompt is its first tokens). */
export class Model extends LoadedModel<NativeModel> {
  readonly kind: ModelKind = "decoder-only";
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
    super(nativeModel, tokenizer, tokenizer);
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

  /** @internal */
  protected contractInfo(): ContractInfo {
    const i = this.#info;
    return {
      name: i.name, path: i.path, modelClass: i.modelClass, tokenizerClass: i.tokenizerClass, attributionMethod: i.attributionMethod,
      vocabSize: i.vocabSize, sourceVocabSize: i.vocabSize, numLayers: i.numLayers, numEncoderLayers: 0,
      padTokenId: this.#padTokenId, bosTokenId: i.bosTokenId, unkTokenId: -1, eosTokenIds: this.#eosTokenIds, decoderStartTokenId: -1,
    };
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
    return this.run(async (nativeModel) => LoadedModel.generationResult(await this.#generate(nativeModel, texts, options), options.returnIds));
  }

  async #generate(nativeModel: NativeModel, texts: string | readonly string[], options: GenerateOptions): Promise<GenerationOutput> {
    checkOptions("generate", options, GENERATE_OPTIONS);
    const list = typeof texts === "string" ? [texts] : texts;
    if (!Array.isArray(list) || list.some((t) => typeof t !== "string")) throw invalidOption("texts", "a string or an array of strings", texts);
    const sampling = samplingOptions(options);
    const prompts = await this.#encodePrompts(list);
    const { generated, logprobs } = await this.#nativeGenerate(nativeModel, prompts, sampling, options);
    const sequences: GeneratedSequence[] = [];
    for (let i = 0; i < prompts.length; i++) {
      const generatedIds = generated[i]!;
      const ids = [...prompts[i]!, ...generatedIds];
      const text = await this.tokenizer.decode(options.outputGeneratedOnly ? generatedIds : ids, {
        skipSpecialTokens: options.skipSpecialTokens ?? true,
      });
      sequences.push({ text, ids, promptIds: prompts[i]!, generatedIds, logprobs: logprobs[i]! });
    }
    return { texts: sequences.map((s) => s.text), sequences };
  }

  #nativeGenerate(nativeModel: NativeModel, prompts: number[][], sampling: ReturnType<typeof samplingOptions>, options: Pick<GenerateOptions, "signal" | "onProgress">) {
    return this.nativeGenerate(nativeModel, prompts, this.#info.vocabSize, {
      ...sampling, eosTokenIds: this.#eosTokenIds, padTokenId: this.#padTokenId, signal: options.signal, onProgress: options.onProgress, name: "texts",
    });
  }

  /** Prompt + continuation ids of each prompt, from prompt ids (the attribution pipeline's generation). @internal */
  protected async generateIdsWith(nativeModel: NativeModel, prompts: number[][], options: Parameters<HeldModel["generateIds"]>[1]): Promise<number[][]> {
    const generation = { ...options.generation, returnIds: true, signal: options.signal, skipSpecialTokens: false } as GenerateOptions;
    checkOptions("generate", generation, GENERATE_OPTIONS);
    const { generated } = await this.#nativeGenerate(nativeModel, prompts, samplingOptions(generation), generation);
    return prompts.map((p, i) => [...p, ...generated[i]!]);
  }

  /** One forward pass over token ids (left-padded batch) returning logits and, on request, internals. */
  forward(ids: ReadonlyArray<readonly number[]>, options: ForwardOptions = {}): Promise<ForwardOutput> {
    return this.run((nativeModel) => this.#forward(nativeModel, ids, options));
  }

  async #forward(nativeModel: NativeModel, ids: ReadonlyArray<readonly number[]>, options: ForwardOptions): Promise<ForwardOutput> {
    checkOptions("forward", options, FORWARD_OPTIONS);
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((r) => !Array.isArray(r) || r.length === 0)) {
      throw invalidOption("ids", "a non-empty array of non-empty id arrays", ids);
    }
    const rows = toRagged(ids, { name: "ids", below: this.#info.vocabSize });
    const keep = options.logitsToKeep ?? 0;
    if (!(Number.isSafeInteger(keep) && keep >= 0)) throw invalidOption("logitsToKeep", "an integer >= 0", keep);
    const meanEmbeddingFlags = options.meanEmbeddingAt === undefined ? undefined : positionFlags(ids, options.meanEmbeddingAt, "meanEmbeddingAt");
    const raw = await runNativeJob(
      () =>
        nativeModel.forward(rows.ids, rows.lengths, {
          outputAttentions: options.outputAttentions ?? false,
          outputHiddenStates: options.outputHiddenStates ?? false,
          logitsToKeep: keep,
          padTokenId: this.#padTokenId,
          ...(meanEmbeddingFlags ? { meanEmbeddingFlags } : {}),
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
    return this.attributeWith(inputTexts, options);
  }

  /**
   * PECoRe context attribution (Python Inseq's `inseq attribute-context`): the context-sensitive tokens of the
   * output and, for each, its contextual cues in the input / output context. See `attributeContext()`.
   */
  attributeContext(options: AttributeContextOptions): Promise<AttributeContextOutput> {
    return attributeContext(this, options);
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
