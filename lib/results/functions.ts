/**
 * Python Inseq's top-level helpers that are not registry look-ups (those are in `attribution/registry.ts`,
 * `aggregators/`): version, frameworks, merging and the `show_*_attributions` shortcuts.
 */
import { invalidOption } from "../core/errors.js";
import { packageVersion } from "../core/paths.js";
import { FeatureAttributionOutput, FeatureAttributionSequenceOutput, type TokensShowOptions } from "./attribution.js";
import type { GranularShowOptions } from "../viz/granular.js";
import type { ShowOptions } from "../viz/show.js";

/**
 * This package's version (Inseq's `get_version()` gives Inseq's).
 *
 * @example
 * getVersion(); // "0.1.0"
 */
export function getVersion(): string {
  return packageVersion();
}

/**
 * The model frameworks attribution runs on: Inseq's `list_supported_frameworks()` gives `["hf_transformers"]`;
 * here Hugging Face Transformers checkpoints (safetensors / PyTorch weights with their `config.json`), run by
 * LibTorch, under the same id.
 *
 * @example
 * listSupportedFrameworks(); // ["hf_transformers"]
 */
export function listSupportedFrameworks(): string[] {
  return ["hf_transformers"];
}

/**
 * Inseq's `merge_attributions`: `FeatureAttributionOutput.merge`.
 *
 * @example
 * const all = mergeAttributions([out1, out2]);
 */
export function mergeAttributions(outputs: readonly FeatureAttributionOutput[]): FeatureAttributionOutput {
  return FeatureAttributionOutput.merge(outputs);
}

type Shown = FeatureAttributionOutput | FeatureAttributionSequenceOutput | readonly FeatureAttributionSequenceOutput[];

function asOutput(attributions: Shown): FeatureAttributionOutput {
  if (attributions instanceof FeatureAttributionOutput) return attributions;
  if (attributions instanceof FeatureAttributionSequenceOutput) return new FeatureAttributionOutput([attributions]);
  if (Array.isArray(attributions)) return new FeatureAttributionOutput([...attributions]);
  throw invalidOption("attributions", "a FeatureAttributionOutput, a FeatureAttributionSequenceOutput or an array of them", attributions);
}

/**
 * Inseq's `show_attributions`: `show()` of an output, a sequence output or a list of them.
 *
 * @example
 * console.log(showAttributions(out.at(0)!, { color: "none" }));
 */
export function showAttributions(attributions: Shown, options: ShowOptions = {}): string {
  return asOutput(attributions).show(options);
}

/**
 * Inseq's `show_granular_attributions`: `showGranular()` of an output, a sequence output or a list of them.
 *
 * @example
 * console.log(showGranularAttributions(out, { sliceDims: { layer: [0, 1] } }));
 */
export function showGranularAttributions(attributions: Shown, options: GranularShowOptions = {}): string {
  return asOutput(attributions).showGranular(options);
}

/**
 * Inseq's `show_token_attributions`: `showTokens()` of an output, a sequence output or a list of them.
 *
 * @example
 * console.log(showTokenAttributions(out, { stepScoreHighlight: "probability" }));
 */
export function showTokenAttributions(attributions: Shown, options: TokensShowOptions = {}): string {
  return asOutput(attributions).showTokens(options);
}
