/**
 * The model contract: what every loaded model is, whatever its kind, and what the attribution pipeline may use
 * of it. It sits below lib/models (which implements it) and lib/attribution (which consumes it) and imports
 * neither; the per-kind differences the pipeline needs are one small layout strategy (LAYOUTS).
 */
import type { NativeAttributionRequest, NativeAttributionResult } from "../native/binding-types.js";
import type { DecodeOptions, Encoded, EncodeOptions, TextTokenizer } from "../tokenizers/tokenizer.js";

/** "decoder-only" (one sequence: prompt then continuation) or "encoder-decoder" (source in, target out). */
export type ModelKind = "decoder-only" | "encoder-decoder";

/** A dense float32 tensor with named dimensions. */
export interface TensorView {
  dims: string[];
  shape: number[];
  data: Float32Array;
}

/**
 * One generated sequence, the same shape for both kinds. Decoder-only: `promptIds` is the encoded prompt and
 * `ids` is prompt + continuation. Encoder-decoder: `promptIds` is the encoded source and `ids` is the target
 * (target prefix, if any, then the continuation; the decoder start token excluded).
 */
export interface GeneratedSequence {
  /** Decoder-only: prompt + continuation (the continuation alone with outputGeneratedOnly); encoder-decoder: the target. */
  text: string;
  /** The decoder's tokens: decoder-only prompt + generated ids; encoder-decoder target prefix + generated ids. */
  ids: number[];
  /** What generation started from: the prompt's ids (decoder-only, special tokens included) or the source's. */
  promptIds: number[];
  /** The tokens generation produced (one per logprob). */
  generatedIds: number[];
  /** Log-probability of each generated token under the model (after temperature/top-k/top-p when sampling). */
  logprobs: number[];
}

/** What `generate(texts, { returnIds: true })` resolves to for both kinds. */
export interface GenerationOutput {
  texts: string[];
  sequences: GeneratedSequence[];
}

/**
 * Where the two kinds differ for attribution, as data: where targets start, which side is attributed, and how
 * the native engine sees an example (decoder-only: the target sequence alone; encoder-decoder: source ++
 * target, the source length given per example).
 */
export interface SequenceLayout {
  kind: ModelKind;
  /** The source is a separate sequence (the encoder's input) with its own tokenizer and vocabulary. */
  separateSource: boolean;
  /** Targets begin with the decoder start token, which is never a feature nor a step. */
  decoderStart: boolean;
  /** The first attributable target position: decoder-only after the prompt, encoder-decoder after the decoder start. */
  targetFloor(promptLength: number): number;
  /** Caller-provided baselineIds replace the baseline of this side. */
  baselineSide: "source" | "target";
  /** Forced targets are the whole sequence, prompt included (decoder-only), or the target alone. */
  forcedIncludesPrompt: boolean;
  /** Names used in error messages for the concatenated rows the engine sees. */
  rowNames: { sequences: string; contrast: string };
}

/** The one table of per-kind layouts. */
export const LAYOUTS: Readonly<Record<ModelKind, SequenceLayout>> = {
  "decoder-only": {
    kind: "decoder-only", separateSource: false, decoderStart: false, targetFloor: (promptLength) => promptLength,
    baselineSide: "target", forcedIncludesPrompt: true,
    rowNames: { sequences: "generatedTexts", contrast: "contrastTargets" },
  },
  "encoder-decoder": {
    kind: "encoder-decoder", separateSource: true, decoderStart: true, targetFloor: () => 1,
    baselineSide: "source", forcedIncludesPrompt: false,
    rowNames: { sequences: "inputTexts + generatedTexts", contrast: "contrastSources + contrastTargets" },
  },
};

/** The model facts the attribution pipeline reads (-1: none). */
export interface ContractInfo {
  name: string;
  path: string;
  modelClass: string;
  tokenizerClass: string;
  /** The default attribution method given to loadModel, if any. */
  attributionMethod: string | undefined;
  /** Target-side (decoder) vocabulary. */
  vocabSize: number;
  /** Source-side vocabulary (decoder-only: the same as vocabSize). */
  sourceVocabSize: number;
  /** Decoder layers. */
  numLayers: number;
  /** Encoder layers (0 for decoder-only). */
  numEncoderLayers: number;
  padTokenId: number;
  bosTokenId: number;
  unkTokenId: number;
  /** Every id that ends generation. */
  eosTokenIds: number[];
  decoderStartTokenId: number;
}

/** Generation from ids, as the pipeline calls it. */
export interface IdsGenerateOptions {
  /** Decoding options of the model's generate() (validated there). */
  generation: object;
  /** Encoder-decoder: target text each source's generation continues. */
  targetPrefix?: string;
  signal?: AbortSignal;
}

/**
 * A model as one attribute() call sees it while it holds the model: every method uses the native model the
 * call holds, so it keeps working while dispose() waits for the call. @internal
 */
export interface HeldModel {
  readonly layout: SequenceLayout;
  /** Source-side tokenizer (decoder-only: the only one). */
  readonly tokenizer: TextTokenizer;
  /** Target-side tokenizer (the source one unless the model has a separate target vocabulary). */
  readonly targetTokenizer: TextTokenizer;
  readonly info: ContractInfo;
  /** The tokens each prompt/source generates: decoder-only prompt + continuation; encoder-decoder target prefix + continuation. */
  generateIds(prompts: number[][], options: IdsGenerateOptions): Promise<number[][]>;
  /**
   * One native attribution job: it attributes, reduces and normalises (Inseq's default aggregation, unless
   * granular) and, when asked, returns the logits custom step scores read.
   */
  attribute(request: NativeAttributionRequest, signal: AbortSignal | undefined): Promise<NativeAttributionResult>;
}

/** What every loaded model offers, whatever its kind. */
export interface ModelContract {
  readonly kind: ModelKind;
  readonly tokenizer: TextTokenizer;
  readonly targetTokenizer: TextTokenizer;
  /** True from the moment dispose() is called (calls started before it still finish). */
  readonly disposed: boolean;
  /** Tokenizes texts with the source-side tokenizer, with offsets and word ids. */
  encode(texts: string | readonly string[], options?: EncodeOptions): Promise<Encoded[]>;
  /** Turns target-side ids back into text (special tokens skipped by default). */
  decode(ids: readonly number[], options?: DecodeOptions): Promise<string>;
  /** Continues each prompt/source; `{ texts, sequences }` with `returnIds: true`. */
  generate(texts: string | readonly string[], options?: object): Promise<string[] | GenerationOutput>;
  /** Runs `call` with the model held: dispose() waits for it; rejects with ERR_DISPOSED after dispose(). @internal */
  hold<T>(call: (held: HeldModel) => Promise<T>): Promise<T>;
  /** Refuses new calls at once and frees the native weights when the calls in flight have finished. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
