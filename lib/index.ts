/**
 * inseq for Node.js: interpretability for sequence generation models.
 * @packageDocumentation
 */
export { loadModel, defaultModelDir } from "./models/load-model.js";
export type { AnyModel, ModelKind } from "./models/load-model.js";
export type { LoadModelOptions, DeviceOption, DtypeOption } from "./models/load-model.js";
export { Model } from "./models/model.js";
export type {
  GenerateOptions, GenerationOutput, GeneratedSequence, ForwardOptions, ForwardOutput, ModelInfo, TensorView,
} from "./models/model.js";
export { TextTokenizer } from "./tokenizers/tokenizer.js";
export type { Encoded, EncodeOptions, DecodeOptions } from "./tokenizers/tokenizer.js";
export { hubCacheDir, isHubId, resolveModelFiles } from "./hub/hub.js";
export type { HubOptions, HubProgress } from "./hub/hub.js";
export { InseqError, ErrorCode } from "./core/errors.js";
export { runtimeInfo, diagnose, setNumThreads, cudaMemory, resetCudaPeakMemory } from "./runtime.js";
export type { RuntimeReport, Diagnosis, GpuReport } from "./runtime.js";
export type { LibtorchCandidate, LibtorchSource, AddonBuildInfo } from "./native/libtorch.js";
export { setupTorch } from "./torch/setup.js";
export type { SetupTorchOptions, SetupTorchProgress, SetupTorchResult } from "./torch/setup.js";
export type { InstallManifest, LibtorchFlavor, LibtorchPin, PinnedWheel } from "./torch/pin.js";
export { listFeatureAttributionMethods, listStepFunctions, registerStepFunction } from "./attribution/registry.js";
export { explain } from "./explain.js";
export type { StepFunctionInput, CustomStepFunction, MethodId, StepFunctionId, AnyStepFunctionId } from "./attribution/registry.js";
export type { AttributeOptions } from "./attribution/attribute.js";
export { FeatureAttributionOutput, FeatureAttributionSequenceOutput, MERGE_MATCH_INFO_FIELDS } from "./results/attribution.js";
export type {
  TokenWithId, SequenceOutputKind, SequenceOutputInit, SaveOptions, LoadOptions, ShowOptions,
  GranularShowOptions, TokensShowOptions, AggregationChoice, ScoresDicts, TokenScores, StepScoresEntry, IndexedToken,
  TokenDecoder,
} from "./results/attribution.js";
export {
  getVersion, listSupportedFrameworks, mergeAttributions, showAttributions, showGranularAttributions, showTokenAttributions,
} from "./results/functions.js";
export type { ScoresPrecision } from "./results/inseq-json.js";
export { createTensor, cloneTensor, sliceDim, sliceDim0, sliceDim1, selectIndex, nanToZero } from "./results/tensor.js";
export type { ScoreTensor } from "./results/tensor.js";
export { listAggregationFunctions, registerAggregationFunction } from "./aggregators/functions.js";
export type { AggregationFunctionId, ScoresAggregationOptions, SelectIdx } from "./aggregators/scores.js";
export { renderTerminal, detectTerminalColor } from "./viz/terminal.js";
export type { TerminalRenderOptions, TerminalColor } from "./viz/terminal.js";
export { renderHtml } from "./viz/html.js";
export type { HtmlRenderOptions, HtmlView } from "./viz/html.js";
export { listAggregators } from "./aggregators/registry.js";
export type { AggregatorInput, AggregatorStep, AggregateOptions, AggregatorStepId, AnyAggregationFunctionId } from "./aggregators/pipeline.js";
export type { AggregatorId } from "./aggregators/registry.js";
export type { AggregatorOptions, Span, SpanInput, SplitMode } from "./aggregators/types.js";
export type { OutputAggregateOptions } from "./results/attribution.js";
export { loadSeq2SeqModel, Seq2SeqModel } from "./models/seq2seq-model.js";
export type { Seq2SeqForwardOutput, Seq2SeqGenerateOptions } from "./models/seq2seq-model.js";
export type { Seq2SeqAttributeOptions } from "./attribution/attribute.js";
export type { Seq2SeqForwardOptions } from "./models/seq2seq-model.js";
export { evaluate, methodSpec, specLabel } from "./evaluation/evaluate.js";
export { attributeContext, attributeContextWithDetails } from "./context/attribute-context.js";
export type { AttributeContextResult } from "./context/attribute-context.js";
export { AttributeContextOutput } from "./context/output.js";
export type { CCIOutput, AttributeContextData } from "./context/output.js";
export { CONTEXT_SENSITIVITY_METRICS, OUTPUT_CONTEXT_STRATEGIES } from "./context/types.js";
export type { AttributeContextOptions, ContextSensitivityMetric, OutputContextStrategy, ConfirmOutputContext, ContextModel } from "./context/types.js";
export { renderContextTerminal, renderContextHtml } from "./context/views.js";
export type { ContextViewOptions, ContextTerminalOptions } from "./context/views.js";
export {
  openEvalSet, grammarSet, jsonlSet, winomtSet, transliterationSet, transliterationPairs, alignTransliteration, ARABIC_NAMES, EVAL_SET_FORMS,
} from "./evaluation/sets/index.js";
export { BASELINES, REPLACEMENTS } from "./evaluation/types.js";
export type {
  BaselineId, CompletenessReport, EvalItem, EvalSet, EvaluateOptions, EvaluationReport, FaithfulnessMetrics, GroupReport, ItemRecord,
  MethodReport, MethodSpec, PlausibilityMetrics, RandomizationStep, Replacement,
} from "./evaluation/types.js";
export { formatEvaluationTable } from "./evaluation/report-table.js";
export type { EvaluationTableOptions } from "./evaluation/report-table.js";
export { renderEvaluationHtml } from "./evaluation/report-html.js";
export { saveEvaluationReport, loadEvaluationReport } from "./evaluation/report-json.js";
