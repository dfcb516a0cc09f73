/**
 * The config.json `model_type` values implemented natively, by model kind: the one table the library, the
 * unsupported-model error and `inseq doctor` read. The addon holds the same ids by kind
 * (native/models/config.cc native_model_types(), reported as runtimeInfo().modelTypes);
 * test/boundary/model-types.test.ts checks they agree.
 * Any other architecture loads as a TorchScript bundle written by tools/export-torchscript.
 */
import { ErrorCode, InseqError } from "../core/errors.js";

export const NATIVE_MODEL_TYPES = {
  "decoder-only": ["gpt2", "gpt_neox", "llama", "mistral", "qwen2", "qwen3", "olmo2", "phi3", "gemma", "gemma2", "gemma3_text"],
  "encoder-decoder": ["bart", "m2m_100", "marian", "mbart", "t5"],
} as const;

export type NativeModelKind = keyof typeof NATIVE_MODEL_TYPES;
export type NativeModelType = (typeof NATIVE_MODEL_TYPES)[NativeModelKind][number];

/** The kind of a natively implemented `model_type`, or null when it has no native implementation. */
export function nativeModelKind(modelType: string): NativeModelKind | null {
  for (const kind of Object.keys(NATIVE_MODEL_TYPES) as NativeModelKind[]) {
    if ((NATIVE_MODEL_TYPES[kind] as readonly string[]).includes(modelType)) return kind;
  }
  return null;
}

/** "decoder-only: gpt2, llama, ...; encoder-decoder: bart, ..." */
export function describeNativeModelTypes(): string {
  return (Object.entries(NATIVE_MODEL_TYPES) as Array<[NativeModelKind, readonly string[]]>)
    .map(([kind, types]) => `${kind}: ${types.join(", ")}`)
    .join("; ");
}

/**
 * How to load any other architecture. tools/export-torchscript ships in the npm package
 * (node_modules/inseq/tools/export-torchscript); docs/torchscript.md is in the repository.
 */
export const TORCHSCRIPT_EXPORT_HINT =
  "export it as a TorchScript bundle with tools/export-torchscript MODEL OUT_DIR (shipped in the package as " +
  "node_modules/inseq/tools/export-torchscript; needs Python torch and transformers; only load bundles from " +
  "sources you trust), then load OUT_DIR; see docs/torchscript.md";

/** What a `model_type` close to a native one is, and which native one to use instead. */
const NEAR_NATIVE: Record<string, string> = {
  gemma3:
    "the multimodal Gemma3ForConditionalGeneration with a nested text_config; its text-only model, " +
    "model_type gemma3_text (Gemma3ForCausalLM), is native",
};

/** ERR_UNSUPPORTED_MODEL for a config.json whose `model_type` has no native implementation. */
export function unsupportedModelType(modelType: string, configFile: string): InseqError {
  const near = Object.hasOwn(NEAR_NATIVE, modelType) ? ` (${NEAR_NATIVE[modelType]})` : "";
  return new InseqError(
    ErrorCode.UNSUPPORTED_MODEL,
    `${configFile}: model_type ${JSON.stringify(modelType)}${near} is not implemented natively (${describeNativeModelTypes()}); ` +
      TORCHSCRIPT_EXPORT_HINT,
  );
}
