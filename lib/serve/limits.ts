/**
 * Per-request limits of `inseq serve`, so that one request cannot take the server down: each has a default and
 * a CLI flag; a request over one is refused with ERR_LIMIT naming it, before it is queued.
 */
import { getMethod } from "../attribution/registry.js";
import { DEFAULT_MAX_NEW_TOKENS } from "../contract/sampling.js";
import { limitError } from "./errors.js";

export interface ServeLimits {
  /** Tokens of all the texts of one request together (inputs, forced targets, contexts). */
  maxInputTokens: number;
  /** maxNewTokens of generation (generate options, attribute's generationArgs). */
  maxNewTokens: number;
  /** nSteps and nSamples of the method arguments (integrated gradients, GradientSHAP, LIME, ...). */
  maxNSteps: number;
  /** Inputs of one request. */
  maxBatch: number;
  /** Time from arrival to the answer, queueing included; past it the job is aborted with ERR_TIMEOUT. */
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServeLimits> = {
  maxInputTokens: 2048,
  maxNewTokens: 256,
  maxNSteps: 512,
  maxBatch: 32,
  requestTimeoutMs: 120_000,
};

/** The method arguments counted against maxNSteps. */
export const STEP_LIKE_ARGS = ["nSteps", "nSamples"] as const;

/**
 * Generation options with maxNewTokens capped at the limit when the request leaves it to the library's default
 * and that default is over the limit (a request cannot pass a limit by omitting the option).
 */
export function capNewTokens<T extends { maxNewTokens?: number }>(limits: ServeLimits, args: T | undefined): T | undefined {
  if (args?.maxNewTokens !== undefined || DEFAULT_MAX_NEW_TOKENS <= limits.maxNewTokens) return args;
  return { ...(args ?? ({} as T)), maxNewTokens: limits.maxNewTokens };
}

/** Method arguments with nSteps / nSamples capped at maxNSteps where the method's default is over it and the request gives none. */
export function capMethodArgs(limits: ServeLimits, method: string, args: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const defaults = (getMethod(method).defaults ?? {}) as Record<string, number>;
  let out = args;
  for (const name of STEP_LIKE_ARGS) {
    const d = defaults[name];
    if (d !== undefined && d > limits.maxNSteps && args?.[name] === undefined) out = { ...(out ?? {}), [name]: limits.maxNSteps };
  }
  return out;
}

export function checkBatch(limits: ServeLimits, inputs: readonly string[]): void {
  if (inputs.length > limits.maxBatch) throw limitError("inputs", "maxBatch", limits.maxBatch, inputs);
}

export function checkNewTokens(limits: ServeLimits, option: string, value: unknown): void {
  if (typeof value === "number" && value > limits.maxNewTokens) throw limitError(option, "maxNewTokens", limits.maxNewTokens, value);
}

export function checkMethodArgs(limits: ServeLimits, option: string, args: Record<string, unknown> | undefined): void {
  for (const name of STEP_LIKE_ARGS) {
    const v = args?.[name];
    if (typeof v === "number" && v > limits.maxNSteps) throw limitError(`${option}.${name}`, "maxNSteps", limits.maxNSteps, v);
  }
}

/** Refuses texts whose tokens together exceed maxInputTokens (counted with the model's tokenizer). */
export async function checkInputTokens(limits: ServeLimits, encode: (texts: string[]) => Promise<Array<{ ids: readonly number[] }>>, texts: readonly string[]): Promise<number> {
  const chars = texts.reduce((n, t) => n + t.length, 0);
  // A tokenizer makes at most a few tokens per character: texts far beyond the limit are refused without encoding.
  if (chars > limits.maxInputTokens * 64) throw limitError("the request's texts", "maxInputTokens", limits.maxInputTokens, `${chars} characters`);
  const encoded = await encode([...texts]);
  const tokens = encoded.reduce((n, e) => n + e.ids.length, 0);
  if (tokens > limits.maxInputTokens) throw limitError("the request's texts", "maxInputTokens", limits.maxInputTokens, `${tokens} tokens`);
  return tokens;
}
