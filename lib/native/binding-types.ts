/**
 * The raw surface of the native addon (native/binding). Only lib/native/ sees these types' values;
 * the rest of the library goes through lib/models.
 * @internal
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
}

export interface NativeForwardResult {
  logits: NativeTensor;          // [batch, seq, vocab]
  attentions: NativeTensor[];    // per layer [batch, heads, seq, seq]
  hiddenStates: NativeTensor[];  // num_layers + 1 of [batch, seq, hidden]
}

export interface NativeModel {
  info(): NativeModelInfo;
  generate(ids: Int32Array, lengths: Int32Array, options: NativeGenerateOptions): Promise<NativeRagged & { logprobs: Float32Array }>;
  forward(ids: Int32Array, lengths: Int32Array, options: NativeForwardOptions): Promise<NativeForwardResult>;
  dispose(): void;
}

export interface NativeCancelToken {
  cancel(): void;
}

export interface NativeRuntimeInfo {
  torchVersion: string;
  cuda: boolean;
  cudaDevices: number;
  threads: number;
  interopThreads: number;
  parallelInfo: string;
  buildConfig: string;
  modelTypes: string[];
}

export interface NativeTrainOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  minLearningRate?: number;
  warmupSteps: number;
  weightDecay?: number;
  gradClip?: number;
  seed: number;
  padTokenId: number;
  outputPath: string;
  cancel?: NativeCancelToken;
  onProgress?: (step: number, total: number, loss: number) => void;
}

export interface NativeBinding {
  NativeModel: new () => NativeModel;
  CancelToken: new () => NativeCancelToken;
  loadModel(dir: string, options: { device: string; dtype: string }): Promise<NativeModel>;
  runtimeInfo(): NativeRuntimeInfo;
  setNumThreads(n: number): void;
  trainCausalLM(configJson: string, ids: Int32Array, lengths: Int32Array, options: NativeTrainOptions): Promise<{ losses: Float32Array; numParameters: number }>;
}
