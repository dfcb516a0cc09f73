/**
 * The decoding options both model kinds take, validated once with their defaults (greedy unless doSample,
 * maxNewTokens 20). The generate() option tables of both kinds spread SAMPLING_OPTIONS.
 */
import { invalidOption } from "../core/errors.js";
import type { OptionTable } from "../core/options.js";

/** Tokens generated after each prompt when a call gives no maxNewTokens (as in transformers' generate and Inseq). */
export const DEFAULT_MAX_NEW_TOKENS = 20;

export interface SamplingOptions {
  /** Tokens to generate after each prompt (default 20). */
  maxNewTokens?: number;
  /** Sample instead of greedy decoding (default false). */
  doSample?: boolean;
  /** Softmax temperature when sampling (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens when sampling (0 = off). */
  topK?: number;
  /** Nucleus sampling: keep the smallest set with cumulative probability >= topP (1 = off). */
  topP?: number;
  /** Seed of the sampler (default 0): the same seed gives the same samples. */
  seed?: number;
}

/** SamplingOptions with every default filled in, as the native generate() takes them. */
export type ResolvedSampling = Required<SamplingOptions>;

/** The decoding options both model kinds take (samplingOptions validates the "checked" ones). @internal */
export const SAMPLING_OPTIONS = {
  maxNewTokens: "checked", doSample: "boolean", temperature: "checked", topK: "checked", topP: "checked", seed: "checked",
} as const satisfies OptionTable;

/** Validated decoding options with their defaults (greedy unless doSample), shared by both model kinds. @internal */
export function samplingOptions(options: SamplingOptions): ResolvedSampling {
  const maxNewTokens = checkInt("maxNewTokens", options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, 0);
  const temperature = options.temperature ?? 1;
  if (typeof temperature !== "number" || !(temperature > 0)) throw invalidOption("temperature", "a positive number", temperature);
  const topK = checkInt("topK", options.topK ?? 0, 0);
  const topP = options.topP ?? 1;
  if (typeof topP !== "number" || !(topP > 0 && topP <= 1)) throw invalidOption("topP", "a number in (0, 1]", topP);
  const seed = checkInt("seed", options.seed ?? 0, 0);
  return { maxNewTokens, doSample: options.doSample ?? false, temperature, topK, topP, seed };
}

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw invalidOption(name, min === 0 ? "a non-negative integer" : `an integer >= ${min}`, v);
  }
  return v;
}
