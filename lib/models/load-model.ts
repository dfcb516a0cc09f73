/**
 * loadModel(): a local Hugging Face directory, a hub id (resolved in the standard cache, downloaded when
 * missing unless offline), or "default" (the bundled model trained by scripts/train-default-model.mjs).
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { checkKnownOptions, ErrorCode, InseqError, invalidOption } from "../core/errors.js";
import { readJsonField } from "../core/json-file.js";
import { packageRoot } from "../core/paths.js";
import { runNativeJob } from "../native/jobs.js";
import { native } from "../native/load.js";
import { isHubId, resolveModelFiles, type HubProgress } from "./hub.js";
import { getMethod } from "../attribution/registry.js";
import { Model } from "./model.js";
import { BUNDLE_SIDECAR, bundleKindOf, modelTypeOf, SEQ2SEQ_MODEL_TYPES } from "./seq2seq-model.js";
import { TextTokenizer } from "./tokenizer.js";

export type DeviceOption = "auto" | "cpu" | "cuda" | `cuda:${number}`;
export type DtypeOption = "float32" | "float16" | "bfloat16";

export interface LoadModelOptions {
  /** "auto" (default) uses CUDA when this LibTorch has it and a GPU is visible, else the CPU. */
  device?: DeviceOption;
  /** float32 (default); float16 / bfloat16 on CUDA only. */
  dtype?: DtypeOption;
  /** Never touch the network (also HF_HUB_OFFLINE=1). */
  offline?: boolean;
  revision?: string;
  cacheDir?: string;
  endpoint?: string;
  token?: string;
  onDownloadProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  /** Default attribution method for model.attribute() (Inseq's load_model(model, method)). */
  method?: string;
}

const LOAD_OPTIONS = ["device", "dtype", "offline", "revision", "cacheDir", "endpoint", "token", "onDownloadProgress", "signal", "method"] as const;


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
      endpoint: options.endpoint, token: options.token, onProgress: options.onDownloadProgress,
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
 * Loads a decoder-only model for generation and attribution: a Hugging Face checkpoint (llama, mistral,
 * qwen2, gpt2 families) or a decoder-only TorchScript bundle (docs/torchscript.md). Encoder-decoders load
 * with loadSeq2SeqModel().
 * @example
 * const model = await loadModel("default");
 * console.log(await model.generate("mary went to the market because", { maxNewTokens: 8 }));
 */
export async function loadModel(idOrDir: string, options: LoadModelOptions = {}): Promise<Model> {
  checkKnownOptions("loadModel", options, LOAD_OPTIONS);
  if (typeof idOrDir !== "string" || idOrDir.length === 0) throw invalidOption("model", "a directory path or hub id", idOrDir);
  const device = options.device ?? "auto";
  if (typeof device !== "string" || !/^(auto|cpu|cuda(:\d+)?)$/.test(device)) throw invalidOption("device", '"auto", "cpu", "cuda" or "cuda:N"', device);
  const dtype = options.dtype ?? "float32";
  if (!["float32", "float16", "bfloat16"].includes(dtype)) throw invalidOption("dtype", '"float32", "float16" or "bfloat16"', dtype);
  const dir = await resolveDir(idOrDir, options);
  if (options.method !== undefined) getMethod(options.method);
  const bundle = await bundleKindOf(dir);
  if (bundle === "encoder-decoder") {
    throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `${dir} is an encoder-decoder TorchScript bundle: load it with loadSeq2SeqModel()`);
  }
  if (bundle === null && !existsSync(path.join(dir, "config.json"))) {
    throw new InseqError(ErrorCode.NOT_FOUND, `No config.json in ${dir}: not a Hugging Face model directory (nor a TorchScript bundle with ${BUNDLE_SIDECAR})`);
  }
  if (bundle === null) {
    const modelType = await modelTypeOf(dir);
    if ((SEQ2SEQ_MODEL_TYPES as readonly string[]).includes(modelType)) {
      throw new InseqError(ErrorCode.UNSUPPORTED_MODEL, `${dir} is an encoder-decoder (${modelType}): load it with loadSeq2SeqModel()`);
    }
  }
  const [tokenizer, generationEos, modelClass, tokenizerClass] = await Promise.all([
    TextTokenizer.fromDir(dir),
    bundle === null ? readGenerationEos(dir) : Promise.resolve([]),
    bundle === null ? readJsonField(path.join(dir, "config.json"), "architectures")
      : readJsonField(path.join(dir, BUNDLE_SIDECAR), "model_type").then((t) => `TorchScript:${t}`),
    readJsonField(path.join(dir, "tokenizer_config.json"), "tokenizer_class"),
  ]);
  const binding = native();
  const nativeModel = await runNativeJob(() => binding.loadModel(dir, { device, dtype }), options.signal);
  return new Model(nativeModel, tokenizer, { name: idOrDir, path: dir, generationEos, modelClass, tokenizerClass, method: options.method });
}
