/**
 * The one place that decides a model directory's kind: a TorchScript bundle's sidecar `model_kind`, else the
 * native table of config.json `model_type`s (model-types.ts). The addon is told the kind (loadModel's `kind`)
 * and never decides it again.
 */
import { existsSync } from "node:fs";
import path from "node:path";

import { readJsonField } from "../core/json-file.js";
import type { ModelKind } from "../contract/model-contract.js";
import { nativeModelKind } from "./model-types.js";

/** The sidecar that marks a TorchScript bundle directory. */
export const BUNDLE_SIDECAR = "inseq_bundle.json";

/** What a model directory says about itself. */
export interface ModelDirFacts {
  /** The bundle sidecar's `model_kind`, or null when the directory is not a TorchScript bundle. */
  bundle: string | null;
  /** config.json exists. */
  hasConfig: boolean;
  /** config.json `model_type` ("" for bundles, or when missing / unreadable). */
  modelType: string;
}

/** The config.json model_type of a directory, or "" when unreadable. */
export function modelTypeOf(dir: string): Promise<string> {
  return readJsonField(path.join(dir, "config.json"), "model_type");
}

/** "decoder-only" | "encoder-decoder" for a TorchScript bundle directory, null when `dir` is not one. */
export async function bundleKindOf(dir: string): Promise<string | null> {
  if (!existsSync(path.join(dir, BUNDLE_SIDECAR))) return null;
  return readJsonField(path.join(dir, BUNDLE_SIDECAR), "model_kind");
}

/** Reads the facts the kind is decided from. */
export async function readModelDir(dir: string): Promise<ModelDirFacts> {
  const bundle = await bundleKindOf(dir);
  const hasConfig = existsSync(path.join(dir, "config.json"));
  const modelType = bundle === null && hasConfig ? await modelTypeOf(dir) : "";
  return { bundle, hasConfig, modelType };
}

/** The kind: encoder-decoder for an encoder-decoder bundle or a natively encoder-decoder model_type, else decoder-only. */
export function modelKindOf(facts: ModelDirFacts): ModelKind {
  if (facts.bundle !== null) return facts.bundle === "encoder-decoder" ? "encoder-decoder" : "decoder-only";
  return nativeModelKind(facts.modelType) === "encoder-decoder" ? "encoder-decoder" : "decoder-only";
}
