/**
 * loadModel(): a local Hugging Face directory, a hub id (resolved in the standard cache, downloaded when
 * missing unless offline), or "default" (the bundled model trained by scripts/train-default-model.mjs).
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { checkOptions, type OptionTable } from "../core/options.js";
import { readJsonField } from "../core/json-file.js";
import { packageRoot } from "../core/paths.js";
import { loadNativeModel } from "../native/addon.js";
import { checkWeightFiles, isHubId, resolveModelFiles, type HubProgress } from "../hub/hub.js";
import { getMethod, type MethodId } from "../attribution/registry.js";
import type { ModelKind } from "../contract/model-contract.js";
import { Model } from "./model.js";
import { BUNDLE_SIDECAR, modelKindOf, readModelDir } from "./model-kind.js";
import { nativeModelKind, unsupportedModelType } from "./model-types.js";
import type { DeviceOption, DtypeOption } from "./load-options.js";
import { loadSeq2SeqModel, type Seq2SeqModel } from "./seq2seq-model.js";
import { TextTokenizer } from "../tokenizers/tokenizer.js";

export type { DeviceOption, DtypeOption } from "./load-options.js";
export type { ModelKind } from "../contract/model-contract.js";

export interface LoadModelOptions {
  /** "auto" (default) uses CUDA when this LibTorch has it and a GPU is visible, else the CPU. */
  device?: DeviceOption;
  /**
   * float32 (default), float16 or bfloat16: the weights' precision and the forward pass's. On the CPU half
   * precision needs LibTorch 2 (bf16 matmuls; slower than float32 on CPUs without bf16 instructions, but half the
   * memory). Attributions, step scores and logits are accumulated and returned in float32 either way.
   */
  dtype?: DtypeOption;
  /**
   * Called as the weights load: bytes of the checkpoint's tensors loaded so far and their total, per tensor
   * (updates may be skipped while the event loop is busy), the last call being (total, total) before the promise
   * resolves. Weights stored in the dtype asked for are memory-mapped on the CPU, not copied (docs/loading.md).
   * TorchScript bundles report nothing.
   */
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /** Never touch the network (also HF_HUB_OFFLINE=1). */
  offline?: boolean;
  revision?: string;
  cacheDir?: string;
  endpoint?: string;
  token?: string;
  onDownloadProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  /** Default attribution method for model.attribute() (Inseq's load_model(model, method)). */
  method?: MethodId;
  /**
   * The model kind you expect: the result is then typed `Model` ("decoder-only") or `Seq2SeqModel`
   * ("encoder-decoder"), and a checkpoint of the other kind is refused with ERR_UNSUPPORTED_MODEL.
   * Omitted: either, told apart by `model.info.isEncoderDecoder` (or `instanceof Seq2SeqModel`).
   */
  kind?: ModelKind;
  /**
   * Allow a TorchScript bundle from the hub (default false: ERR_UNTRUSTED_CODE). A bundle is a program that
   * loading runs, like `torch.jit.load`: trust the repo first (docs/torchscript.md). Local bundle directories
   * load without it.
   */
  trustRemoteCode?: boolean;
}

/** What loadModel resolves to when no `kind` is given. */
export type AnyModel = Model | Seq2SeqModel;

const LOAD_OPTIONS = {
  device: "checked", dtype: "checked", offline: "boolean", revision: "checked", cacheDir: "string", endpoint: "string", token: "string",
  onDownloadProgress: "function", onProgress: "function", signal: "signal", method: "checked", kind: "checked", trustRemoteCode: "boolean",
} as const satisfies OptionTable;


/** Folder of the bundled default model. */
export function defaultModelDir(): string {
  return path.join(packageRoot(), "models", "default");
}

export async function resolveDir(id: string, options: LoadModelOptions): Promise<string> {
  if (id === "default") return defaultModelDir();
  if (existsSync(id)) {
    if (!statSync(id).isDirectory()) throw new InseqError(ErrorCode.NOT_FOUND, `Model path is not a directory: ${id}`);
    return path.resolve(id);
  }
  if (isHubId(id) && !id.startsWith(".") && !path.isAbsolute(id)) {
    return resolveModelFiles(id, {
      revision: options.revision, cacheDir: options.cacheDir, offline: options.offline,
      endpoint: options.endpoint, token: options.token, onProgress: options.onDownloadProgress, trustRemoteCode: options.trustRemoteCode,
    });
  }
  throw new InseqError(ErrorCode.NOT_FOUND, `Model directory not found: ${id}`);
}

async function readGenerationEos(dir: string): Promise<number[]> {
  const file = path.join(dir, "generation_config.json");
  if (!existsSync(file)) return [];
  try {
    const eos = JSON.parse(await readFile(file, "utf8")).eos_token_id;
    return (Array.isArray(eos) ? eos : eos == null ? [] : [eos]).filter((x: unknown) => Number.isInteger(x));
  } catch (cause) {
    throw new InseqError(ErrorCode.BAD_CHECKPOINT, `Malformed ${file}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Loads a model for generation and attribution, as Python Inseq's `load_model`: a local directory, a hub id or
 * "default". Decoder-only checkpoints (llama, mistral, qwen2, gemma, gemma2, gemma3_text, qwen3, olmo2, phi3, gpt2, gpt_neox families) and decoder-only TorchScript
 * bundles give a `Model`; encoder-decoders (marian, bart, mbart, m2m_100, t5, encoder-decoder bundles) a
 * `Seq2SeqModel`. Both have generate(), attribute() and dispose().
 * @example
 * const model = await loadModel("default", { kind: "decoder-only" });   // typed Model
 * console.log(await model.generate("mary went to the market because", { maxNewTokens: 8 }));
 * const mt = await loadModel("Helsinki-NLP/opus-mt-en-fr");              // Model | Seq2SeqModel
 */
export function loadModel(idOrDir: "default", options?: LoadModelOptions & { kind?: "decoder-only" }): Promise<Model>;
export function loadModel(idOrDir: string, options: LoadModelOptions & { kind: "decoder-only" }): Promise<Model>;
export function loadModel(idOrDir: string, options: LoadModelOptions & { kind: "encoder-decoder" }): Promise<Seq2SeqModel>;
export function loadModel(idOrDir: string, options?: LoadModelOptions): Promise<AnyModel>;
export async function loadModel(idOrDir: string, options: LoadModelOptions = {}): Promise<AnyModel> {
  checkOptions("loadModel", options, LOAD_OPTIONS);
  if (typeof idOrDir !== "string" || idOrDir.length === 0) throw invalidOption("model", "a directory path or hub id", idOrDir);
  if (options.kind !== undefined && options.kind !== "decoder-only" && options.kind !== "encoder-decoder") {
    throw invalidOption("kind", '"decoder-only" or "encoder-decoder"', options.kind);
  }
  const device = options.device ?? "auto";
  if (typeof device !== "string" || !/^(auto|cpu|cuda(:\d+)?)$/.test(device)) throw invalidOption("device", '"auto", "cpu", "cuda" or "cuda:N"', device);
  const dtype = options.dtype ?? "float32";
  if (!["float32", "float16", "bfloat16"].includes(dtype)) throw invalidOption("dtype", '"float32", "float16" or "bfloat16"', dtype);
  if (options.method !== undefined) getMethod(options.method);
  const dir = await resolveDir(idOrDir, options);
  await checkWeightFiles(dir); // the native loader reads the sharded index: no shard outside the folder
  const facts = await readModelDir(dir);
  const { bundle } = facts;
  if (bundle === null && !facts.hasConfig) {
    throw new InseqError(ErrorCode.NOT_FOUND, `No config.json in ${dir}: not a Hugging Face model directory (nor a TorchScript bundle with ${BUNDLE_SIDECAR})`);
  }
  const modelType = facts.modelType;
  // A missing or non-string model_type is left to the native config check (ERR_BAD_CHECKPOINT naming the field).
  if (modelType !== "" && nativeModelKind(modelType) === null) throw unsupportedModelType(modelType, path.join(dir, "config.json"));
  const kind = modelKindOf(facts);
  if (options.kind !== undefined && options.kind !== kind) {
    throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `${dir} is ${kind === "encoder-decoder" ? "an encoder-decoder" : "a decoder-only model"}, not ${options.kind === "encoder-decoder" ? "an encoder-decoder" : "a decoder-only model"} (kind: ${JSON.stringify(options.kind)})`);
  }
  if (kind === "encoder-decoder") {
    return loadSeq2SeqModel(dir, { device, dtype, signal: options.signal, method: options.method, name: idOrDir, onProgress: options.onProgress });
  }
  const [tokenizer, generationEos, modelClass, tokenizerClass] = await Promise.all([
    TextTokenizer.fromDir(dir),
    bundle === null ? readGenerationEos(dir) : Promise.resolve([]),
    bundle === null ? readJsonField(path.join(dir, "config.json"), "architectures")
      : readJsonField(path.join(dir, BUNDLE_SIDECAR), "model_type").then((t) => `TorchScript:${t}`),
    readJsonField(path.join(dir, "tokenizer_config.json"), "tokenizer_class"),
  ]);
  const nativeModel = await loadNativeModel(dir, "decoder-only", { device, dtype, signal: options.signal, onProgress: options.onProgress });
  return new Model(nativeModel, tokenizer, { name: idOrDir, path: dir, generationEos, modelClass, tokenizerClass, method: options.method });
}
