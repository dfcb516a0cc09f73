/** The model-loading options that `generate`, `attribute` and `attribute-dataset` share. */
import { Option } from "commander";

import { ErrorCode, InseqError } from "../core/errors.js";
import type { DtypeOption } from "../models/load-options.js";
import type { LoadModelOptions } from "../models/load-model.js";
import { jsonOption } from "./parse.js";

export const trustRemoteCodeOption = (): Option =>
  new Option("--trust-remote-code", "load a TorchScript bundle from the Hub (a bundle is a program: trusted sources only)").default(false);

/** Inseq's `--model_kwargs` / `--tokenizer_kwargs` (`from_pretrained` keyword arguments) as JSON objects. */
export const modelKwargsOption = (): Option =>
  new Option("--model-kwargs <json>", 'model loading options as JSON: {"torch_dtype": "float16"}, "revision", "cache_dir", "token"').argParser(jsonOption);
export const tokenizerKwargsOption = (): Option =>
  new Option("--tokenizer-kwargs <json>", 'tokenizer loading options as JSON: "revision", "cache_dir", "token" (same snapshot as the model)').argParser(jsonOption);

const DTYPES: Record<string, DtypeOption> = {
  float32: "float32", float: "float32", "torch.float32": "float32", "torch.float": "float32",
  float16: "float16", half: "float16", "torch.float16": "float16", "torch.half": "float16",
  bfloat16: "bfloat16", "torch.bfloat16": "bfloat16",
};

/** Keys of `from_pretrained` that have no meaning here, with why (refused rather than silently ignored). */
const REFUSED: Record<string, string> = {
  device_map: "one model runs on one device here: use --device",
  load_in_8bit: "bitsandbytes quantisation is not supported (use torch_dtype float16 or bfloat16)",
  load_in_4bit: "bitsandbytes quantisation is not supported (use torch_dtype float16 or bfloat16)",
  quantization_config: "quantised checkpoints are not supported",
  trust_remote_code: "Python model code is never run here; TorchScript bundles from the Hub need --trust-remote-code",
  attn_implementation: "the native attention kernel is fixed (attention weights are returned by it)",
  low_cpu_mem_usage: "weights stored in the loaded dtype are always memory-mapped (docs/loading.md)",
  src_lang: "language codes are not set here: M2M100 / mBART / NLLB checkpoints load, but their tokenizer.json is used as saved (no src_lang prefix)",
  tgt_lang: "language codes are not set here: generation has no forced_bos_token_id to set from tgt_lang; force the target with --generated-texts",
  use_fast: "there is one tokenizer implementation (the tokenizer.json / SentencePiece files are read natively)",
  padding_side: "padding is chosen per model kind (left for decoder-only prompts), as Inseq does",
};

const SHARED = { revision: "revision", cache_dir: "cacheDir", token: "token" } as const;

function refuse(key: string, flag: string, why: string): InseqError {
  return new InseqError(ErrorCode.INVALID_OPTION, `Unsupported key ${JSON.stringify(key)} in ${flag}: ${why}`);
}

/**
 * Maps Inseq's `--model-kwargs` / `--tokenizer-kwargs` to loadModel options: `torch_dtype` (or `dtype`) →
 * `dtype`; `revision`, `cache_dir`, `token` → the hub options (the tokenizer comes from the model's snapshot, so a
 * tokenizer value must agree with the model's). Any other key is refused with ERR_INVALID_OPTION naming it and why.
 */
export function loadKwargs(modelKwargs: Record<string, unknown> = {}, tokenizerKwargs: Record<string, unknown> = {}): Partial<LoadModelOptions> {
  const out: Partial<LoadModelOptions> & Record<string, unknown> = {};
  const setShared = (key: keyof typeof SHARED, value: unknown, flag: string) => {
    if (typeof value !== "string" || value === "") throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a non-empty string for "${key}" in ${flag} but received ${JSON.stringify(value)}`);
    const k = SHARED[key];
    if (out[k] !== undefined && out[k] !== value) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected the same "${key}" in --model-kwargs and --tokenizer-kwargs (one snapshot holds both) but received ${JSON.stringify(out[k])} and ${JSON.stringify(value)}`);
    }
    out[k] = value;
  };
  for (const [key, value] of Object.entries(modelKwargs)) {
    if (key === "torch_dtype" || key === "dtype") {
      const d = typeof value === "string" ? DTYPES[value] : undefined;
      if (!d) throw refuse(key, "--model-kwargs", `expected one of float32, float16, bfloat16 (or torch.float16, ...) but received ${JSON.stringify(value)}`);
      out.dtype = d;
    } else if (key in SHARED) setShared(key as keyof typeof SHARED, value, "--model-kwargs");
    else throw refuse(key, "--model-kwargs", REFUSED[key] ?? `not a loading option of this port (accepted: torch_dtype, dtype, ${Object.keys(SHARED).join(", ")})`);
  }
  for (const [key, value] of Object.entries(tokenizerKwargs)) {
    if (key in SHARED) setShared(key as keyof typeof SHARED, value, "--tokenizer-kwargs");
    else throw refuse(key, "--tokenizer-kwargs", REFUSED[key] ?? `not a loading option of this port (accepted: ${Object.keys(SHARED).join(", ")})`);
  }
  return out;
}
