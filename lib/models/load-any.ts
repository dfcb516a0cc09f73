/**
 * loadAnyModel(): one entry point for both model kinds, as Python Inseq's load_model: decoder-only checkpoints
 * and bundles load as Model, encoder-decoders (marian, bart, mbart, m2m_100, encoder-decoder bundles) as
 * Seq2SeqModel. Both have generate() and attribute(); `model.info.isEncoderDecoder` tells them apart.
 */
import { checkKnownOptions, invalidOption } from "../core/errors.js";
import { loadModel, resolveDir, type LoadModelOptions } from "./load-model.js";
import type { Model } from "./model.js";
import { bundleKindOf, loadSeq2SeqModel, modelTypeOf, SEQ2SEQ_MODEL_TYPES, type Seq2SeqModel } from "./seq2seq-model.js";

export type AnyModel = Model | Seq2SeqModel;

export async function loadAnyModel(idOrDir: string, options: LoadModelOptions = {}): Promise<AnyModel> {
  checkKnownOptions("loadAnyModel", options, ["device", "dtype", "offline", "revision", "cacheDir", "endpoint", "token", "onDownloadProgress", "signal", "method"]);
  if (typeof idOrDir !== "string" || idOrDir.length === 0) throw invalidOption("model", "a directory path or hub id", idOrDir);
  const dir = await resolveDir(idOrDir, options);
  const bundle = await bundleKindOf(dir);
  const encDec = bundle === "encoder-decoder" || (bundle === null && (SEQ2SEQ_MODEL_TYPES as readonly string[]).includes(await modelTypeOf(dir)));
  if (!encDec) return loadModel(dir, options);
  if (options.dtype !== undefined && options.dtype !== "float32") throw invalidOption("dtype", '"float32" (encoder-decoders run in float32)', options.dtype);
  return loadSeq2SeqModel(dir, { device: options.device, signal: options.signal, method: options.method });
}
