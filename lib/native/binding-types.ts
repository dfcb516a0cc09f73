/**
 * The raw surface of the native addon (native/binding). Only lib/native/ sees these types' values;
 * the rest of the library goes through lib/models. Not tagged internal: public declarations use some of these
 * types (ModelInfo extends NativeModelInfo), and a file comment's tag would strip the first declaration.
 */

/** Ragged int sequences: a flat Int32Array plus one length per row. */
export interface NativeRagged {
  ids: Int32Array;
  lengths: Int32Array;
}

export interface NativeTensor {
  shape: number[];
  data: Float32Array;
}

export interface NativeModelInfo {
  modelType: string;
  family: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  numParameters: number;
  bosTokenId: number;
  padTokenId: number;
  eosTokenIds: number[];
  device: string;
  dtype: string;
}

export interface NativeGenerateOptions {
  maxNewTokens: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  eosTokenIds: number[];
  padTokenId: number;
  cancel?: NativeCancelToken;
  onProgress?: (done: number, total: number) => void;
}

export interface NativeForwardOptions {
  outputAttentions?: boolean;
  outputHiddenStates?: boolean;
  logitsToKeep?: number;
  padTokenId?: number;
  /** 0/1 per token, laid out as the ids: flagged tokens get the mean token embedding. */
  meanEmbeddingFlags?: Int32Array;
}

export interface NativeForwardResult {
  logits: NativeTensor;          // [batch, seq, vocab]
  attentions: NativeTensor[];    // per layer [batch, heads, seq, seq]
  hiddenStates: NativeTensor[];  // num_layers + 1 of [batch, seq, hidden]
}

export interface NativeStepArgs {
  logprob?: boolean;
  topP?: number;
  topK?: number;
  minTokensToKeep?: number;
  perplexityBase2?: boolean;
  nMcdSteps?: number;
}

export interface NativeAttributionRequest {
  method: string;
  sequences: NativeRagged;
  baselines?: NativeRagged | null;
  attrStart: number[];
  attrEnd: number[];
  attributedFn: string;
  attributedFnArgs?: NativeStepArgs;
  stepScores: string[];
  stepScoresArgs?: NativeStepArgs;
  /** id -> TorchScript source of differentiable custom step functions used by this call. */
  customStepFunctions?: Record<string, string>;
  contrastSequences?: NativeRagged | null;
  contrastPositions?: NativeRagged | null;
  contrastForceInputs?: boolean;
  /** Encoder-decoders: each sequence is source ++ target; one source length per sequence. */
  sourceLengths?: number[];
  contrastSourceLengths?: number[];
  nSteps?: number;
  integration?: string;
  internalBatchSize?: number;
  returnConvergenceDelta?: boolean;
  nSamples?: number;
  stdevs?: number;
  maskProb?: number;
  seed?: number;
  multiplyByInputs?: boolean;
  /** attn_lrp / cp_lrp (decoder-only): every block output's relevance as the sequence score lrp_latent_relevance. */
  latentRelevance?: boolean;
  layer?: number;
  /** discretized_integrated_gradients: path strategy "greedy" | "maxcount" (Inseq's `method`). */
  digStrategy?: string;
  /** discretized_integrated_gradients: kNN size (default 50). */
  nNeighbors?: number;
  /** discretized_integrated_gradients: the kNN cache directory ("" = no cache file). */
  digCacheDir?: string;
  saveCache?: boolean;
  overwriteCache?: boolean;
  /** discretized_integrated_gradients: the tokenizers' special token ids (their paths stay constant). */
  specialTokenIds?: number[];
  /** Keep the hidden dimension (default false: L2 norm over it on the device as each batch finishes). */
  granular?: boolean;
  /** Reduced (granular off) results: L1-normalise each generated step's column (default false). */
  normalize?: boolean;
  /** Encoder-decoders: the target rows take part in the normalisation (default true). */
  normalizeTarget?: boolean;
  /** Encoder-decoders: the target prefix is attributed (layer methods at a block also take decoder block N; reagent replaces its tokens too). */
  attributeTarget?: boolean;
  /** Each sequence's `stepLogits` [steps, vocab]: the logits predicting each attributed target (default false). */
  returnStepLogits?: boolean;
  /** value_zeroing: "cosine" | "euclidean"; per layer the zeroed heads (empty row = every head). */
  similarityMetric?: string;
  decoderZeroedHeads?: NativeRagged;
  encoderZeroedHeads?: NativeRagged;
  crossZeroedHeads?: NativeRagged;
  /** reagent options (Inseq's constructor arguments in camelCase); unset: the method table's defaults. */
  keepTopN?: number;
  keepRatio?: number;
  invertKeep?: boolean;
  stoppingConditionTopK?: number;
  replacingRatio?: number;
  maxProbeSteps?: number;
  numProbes?: number;
  /** reagent: the POS group of every vocabulary id (-1: special, never replaced); the source side of encoder-decoders. */
  posGroups?: Int32Array;
  sourcePosGroups?: Int32Array;
  memoryBudgetMb?: number;
  /** Bytes or "auto": a strict budget (ERR_OUT_OF_MEMORY when one row cannot fit). Not with memoryBudgetMb. */
  memoryBudget?: number | "auto";
  /** Gradient checkpointing: "auto" (when a row would not fit the budget), "on", "off". */
  gradientCheckpointing?: "auto" | "on" | "off";
  /** "per_step" reproduces Inseq's schedule (benchmark baseline); default "batched". */
  schedule?: "batched" | "per_step";
  cancel?: NativeCancelToken;
  onProgress?: (done: number, total: number) => void;
}

export interface NativeAttributionResult {
  kind: "granular" | "granular_reduced" | "coarse" | "multidimensional" | "base";
  extraDims: string[];
  sequences: Array<{
    attributions: NativeTensor | null; stepScores: Record<string, Float32Array>; sequenceScores: Record<string, NativeTensor>;
    /** With returnStepLogits: [steps, vocab] float32. */
    stepLogits?: NativeTensor;
    /** With returnConvergenceDelta: f(x) - f(baseline) of each step, what stepScores.deltas is relative to. */
    deltaScales?: Float32Array;
  }>;
  /** Bytes of host result buffers the call allocated. */
  hostPeakBytes: number;
}

/** The native method table (native/attribution/method_table.h), as methodTable() returns it. */
export interface NativeMethodTable {
  methods: Array<{
    id: string; family: string; kind: string; usesBaselines: boolean;
    needs: { gradients: boolean; blockInternals: boolean; baselines: boolean; supportsContrast: boolean };
    options: string[]; defaults: Record<string, number>; description: string;
  }>;
  stepFunctions: Array<{ id: string; contrastive: boolean; needsDropout: boolean; spanAggregate: string; options: string[]; description: string }>;
  stepArgs: Array<{ name: string; type: "boolean" | "number" | "integer"; default: boolean | number; description: string }>;
  stepAliases: Array<{ alias: string; id: string; args: Record<string, boolean> }>;
  contrastOptions: string[];
}

/**
 * A loaded model (native/binding ModelWrap: one JS class for both kinds). NativeModel is its decoder-only face,
 * NativeSeq2SeqModel its encoder-decoder face; which one loadModel returns follows its `kind` option.
 */
export interface NativeModelBase<Info> {
  info(): Info;
  attribute(request: NativeAttributionRequest): Promise<NativeAttributionResult>;
  generate(ids: Int32Array, lengths: Int32Array, options: NativeGenerateOptions & { decoderPrefix?: number[] }): Promise<NativeRagged & { logprobs: Float32Array }>;
  dispose(): void;
}

export interface NativeModel extends NativeModelBase<NativeModelInfo> {
  forward(ids: Int32Array, lengths: Int32Array, options: NativeForwardOptions): Promise<NativeForwardResult>;
}

export interface NativeSeq2SeqInfo {
  modelType: string; family: string; implementation: "native" | "torchscript"; vocabSize: number; sourceVocabSize: number;
  hiddenSize: number; numLayers: number; numEncoderLayers: number; numHeads: number; maxPositions: number;
  padTokenId: number; bosTokenId: number; unkTokenId: number; eosTokenIds: number[]; eosTokenId: number;
  decoderStartTokenId: number; embedScale: number; hasAttentions: boolean; device: string; dtype: string;
}

export interface NativeSeq2SeqModel extends NativeModelBase<NativeSeq2SeqInfo> {
  forward(sourceIds: Int32Array, sourceLengths: Int32Array, targetIds: Int32Array, targetLengths: Int32Array, options: { outputAttentions: boolean; meanEmbeddingFlags?: Int32Array }): Promise<{
    logits: NativeTensor; crossAttentions: NativeTensor[]; decoderAttentions: NativeTensor[]; encoderAttentions: NativeTensor[];
  }>;
}

export interface NativeCancelToken {
  cancel(): void;
}

export interface NativeRuntimeInfo {
  torchVersion: string;
  /** Directory libtorch_cpu was loaded from. */
  libtorchDir: string;
  cuda: boolean;
  cudaDevices: number;
  /** Why CUDA is unavailable ("" when it is). */
  cudaReason: string;
  /** libtorch_cuda.so is loaded. */
  torchCuda: boolean;
  /** Path of the CUDA runtime library in the process ("" when none). */
  cudaRuntime: string;
  /** cudaRuntimeGetVersion / cudaDriverGetVersion (e.g. 13020; 0 when unknown or no driver). */
  cudaRuntimeVersion: number;
  cudaDriverVersion: number;
  hostAvailableBytes: number;
  /** float16 / bfloat16 models load on the CPU (LibTorch 2). */
  cpuHalfPrecision: boolean;
  threads: number;
  interopThreads: number;
  parallelInfo: string;
  buildConfig: string;
  modelTypes: Record<"decoder-only" | "encoder-decoder", string[]>;
}

export interface NativeGpu {
  index: number;
  name: string;
  freeBytes: number;
  totalBytes: number;
}

export interface NativeBinding {
  NativeModel: new () => NativeModel;
  CancelToken: new () => NativeCancelToken;
  /** `kind` decides the face of the result (decided in TS, lib/models/model-kind.ts). */
  /** `onProgress(loadedBytes, totalBytes)` per checkpoint tensor, from a worker thread (updates may be dropped). */
  loadModel(dir: string, options: { kind: "decoder-only" | "encoder-decoder"; device: string; dtype: string; onProgress?: (loadedBytes: number, totalBytes: number) => void }): Promise<NativeModel | NativeSeq2SeqModel>;
  runtimeInfo(): NativeRuntimeInfo;
  setNumThreads(n: number): void;
  listGpus(): NativeGpu[];
  gpuMemory(deviceIndex: number): { freeBytes: number; peakAllocatedBytes: number };
  resetGpuPeak(deviceIndex: number): void;
  /** `defaults`: the method's default for each numeric option (camelCase, as in methodArgs). */
  listMethods(): Array<{ id: string; family: string; usesBaselines: boolean; kind: string; description: string; defaults: Record<string, number> }>;
  listStepFunctions(): Array<{ id: string; contrastive: boolean; spanAggregate: string; description: string }>;
  /** The one declaration of methods, step functions, their arguments and aliases (lib/attribution/method-table.generated.ts). */
  methodTable(): NativeMethodTable;
}
