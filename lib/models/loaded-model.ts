/**
 * The base of both model kinds: one lifecycle (every call holds the native model from its first moment until it
 * settles; dispose() refuses new calls, waits for the calls in flight, then frees once), encode()/decode(), one
 * generate() result shape, and attribute() through the one pipeline. Model and Seq2SeqModel add what is
 * kind-specific: prompt encoding, generation, forward, and the HeldModel the pipeline sees.
 */
import type {
  ContractInfo, GenerationOutput, HeldModel, ModelContract, ModelKind, SequenceLayout, TensorView,
} from "../contract/model-contract.js";
import { LAYOUTS } from "../contract/model-contract.js";
import type { ResolvedSampling } from "../contract/sampling.js";
import type { NativeAttributionRequest, NativeAttributionResult, NativeModelBase } from "../native/binding-types.js";
import { runNativeJob } from "../native/jobs.js";
import { checkValues, fromRagged, toRagged } from "../native/ragged.js";
import type { DecodeOptions, Encoded, EncodeOptions, TextTokenizer } from "../tokenizers/tokenizer.js";
import { attribute, type AttributeOptions, type Seq2SeqAttributeOptions } from "../attribution/attribute.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import { NativeLifecycle } from "./lifecycle.js";

/** What a native generation returns, split per row. */
export interface NativeGeneration {
  /** Generated ids per row (without the prompt / target prefix). */
  generated: number[][];
  /** Log-probability of each generated token. */
  logprobs: number[][];
}

export abstract class LoadedModel<N extends NativeModelBase<unknown>> implements ModelContract {
  readonly #life: NativeLifecycle<N>;
  abstract readonly kind: ModelKind;
  /** Source-side tokenizer (decoder-only: the only one). */
  readonly tokenizer: TextTokenizer;
  /** Target-side tokenizer (the source one unless the model has a separate target vocabulary). */
  readonly targetTokenizer: TextTokenizer;

  protected constructor(nativeModel: N, tokenizer: TextTokenizer, targetTokenizer: TextTokenizer) {
    this.#life = new NativeLifecycle(nativeModel);
    this.tokenizer = tokenizer;
    this.targetTokenizer = targetTokenizer;
  }

  /** The facts the attribution pipeline reads. @internal */
  protected abstract contractInfo(): ContractInfo;

  /** Ids in, ids out generation for the pipeline, with the held native model. @internal */
  protected abstract generateIdsWith(nativeModel: N, prompts: number[][], options: Parameters<HeldModel["generateIds"]>[1]): Promise<number[][]>;

  /** Logits [1, target.length, vocab] of one example, with the held native model. @internal */

  /** The per-kind layout the pipeline follows. */
  get layout(): SequenceLayout {
    return LAYOUTS[this.kind];
  }

  /** True from the moment dispose() is called (calls started before it still finish). */
  get disposed(): boolean {
    return this.#life.disposed;
  }

  /** Tokenizes texts with the source-side tokenizer (special tokens added as its config says), with offsets and word ids. */
  async encode(texts: string | readonly string[], options?: EncodeOptions): Promise<Encoded[]> {
    const list = typeof texts === "string" ? [texts] : texts;
    return this.tokenizer.encodeBatch(list, options);
  }

  /**
   * Turns target-side ids back into text (special tokens skipped by default). Every id must be one of the
   * model's (ERR_INVALID_OPTION naming the position); ids the model has but the tokenizer lacks (padded
   * embedding rows) decode to nothing, as in Hugging Face tokenizers.
   */
  async decode(ids: readonly number[], options?: DecodeOptions): Promise<string> {
    checkValues(ids, { name: "ids", below: this.contractInfo().vocabSize });
    return this.targetTokenizer.decode(ids, options);
  }

  /** Runs `call` with the model held (dispose() waits for it); ERR_DISPOSED after dispose(). @internal */
  protected run<T>(call: (nativeModel: N) => Promise<T>): Promise<T> {
    return this.#life.run(call);
  }

  /** Runs `call` with the model as one attribution call sees it. @internal */
  hold<T>(call: (held: HeldModel) => Promise<T>): Promise<T> {
    return this.#life.run((nativeModel) => call(this.#held(nativeModel)));
  }

  /** generate()'s two result forms from the one shape. @internal */
  protected static generationResult(out: GenerationOutput, returnIds: boolean | undefined): string[] | GenerationOutput {
    return returnIds ? out : out.texts;
  }

  /** One native generation job from prompt / source ids, split per row. @internal */
  protected async nativeGenerate(nativeModel: N, prompts: number[][], below: number,
    options: ResolvedSampling & { eosTokenIds: number[]; padTokenId: number; decoderPrefix?: number[]; signal?: AbortSignal; onProgress?: (done: number, total: number) => void; name: string }): Promise<NativeGeneration> {
    const { signal, name, ...rest } = options;
    const ragged = toRagged(prompts, { name, below });
    const raw = await runNativeJob((cancel) => nativeModel.generate(ragged.ids, ragged.lengths, { ...rest, cancel }), signal);
    const [generated, logprobs] = fromRagged(raw.lengths, raw.ids, raw.logprobs);
    return { generated: generated as number[][], logprobs: logprobs as number[][] };
  }

  /**
   * Attributes each generated (or forced) token to the input tokens, as Python Inseq's `attribute()` with
   * camelCase options. Unknown option names are errors listing the valid ones.
   */
  protected attributeWith(inputTexts: string | readonly string[], options: AttributeOptions | Seq2SeqAttributeOptions | undefined): Promise<FeatureAttributionOutput> {
    return this.hold((held) => attribute(held, inputTexts, options));
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

  abstract generate(texts: string | readonly string[], options?: object): Promise<string[] | GenerationOutput>;

  #held(nativeModel: N): HeldModel {
    return {
      layout: this.layout, tokenizer: this.tokenizer, targetTokenizer: this.targetTokenizer, info: this.contractInfo(),
      generateIds: (prompts, options) => this.generateIdsWith(nativeModel, prompts, options),
      attribute: (request: NativeAttributionRequest, signal): Promise<NativeAttributionResult> =>
        runNativeJob((cancel) => nativeModel.attribute({ ...request, cancel }), signal),
    };
  }
}
