/**
 * The completeness warning of attribute(): when the call has convergence deltas (integrated_gradients,
 * sequential_integrated_gradients and layer_integrated_gradients always, unless `returnConvergenceDelta: false`;
 * deeplift and layer_deeplift with
 * `methodArgs: { returnConvergenceDelta: true }`) and more than 5 % of the attributed steps have |delta| / |f(x) - f(baseline)| above 0.05
 * (attribution/completeness.ts), one process warning with code `INSEQ_COMPLETENESS` says so and what to do.
 * Python Inseq returns the deltas and never looks at them. (Sequential integrated gradients: f(x) - f(baseline) is
 * read per token, the sum over tokens of |f(x) - f(x with the token at its baseline)|.)
 *
 * The check reads only what the call returned (no model call): the engine returns f(x) - f(baseline) beside the
 * deltas (recorded on the output, not saved), for reduced and granular outputs alike. Silence it like any
 * process warning: a `process.on("warning")` listener filtering on the code, or `--no-warnings`.
 */
import { AsyncLocalStorage } from "node:async_hooks";

import { completenessInputs, completenessReport } from "./completeness.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";
import { METHOD_TABLE } from "./method-table.generated.js";

/** Code of the process warning for attributions that do not add up to f(x) - f(baseline). */
export const COMPLETENESS_WARNING = "INSEQ_COMPLETENESS";
/** Relative |delta| above which a step counts as incomplete (5 % of the steps may be). */
export const COMPLETENESS_THRESHOLD = 0.05;

/** What to do about poor completeness: raise nSteps (integrated gradients), or read DeepLIFT's scores as approximate. */
export function completenessAdvice(method: string, methodArgs: Record<string, unknown> | undefined): string {
  if (!method.includes("integrated_gradients")) {
    return `${method} has no steps to raise: its rules do not conserve the change of the attributed function on this model, so read its scores as approximate`;
  }
  const defaults = METHOD_TABLE.find((m) => m.id === method)?.defaults as Record<string, unknown> | undefined;
  const nSteps = methodArgs?.nSteps ?? defaults?.nSteps ?? 50;
  return `Raise nSteps (now ${String(nSteps)})${methodArgs?.method && methodArgs.method !== "gausslegendre" ? ' or use method "gausslegendre"' : ""}`;
}

/** The completeness warning of one attribute() output, or null (see the file comment). */
export function completenessWarning(
  output: FeatureAttributionOutput,
  method: string,
  methodArgs: Record<string, unknown> | undefined,
): { message: string; code: string } | null {
  if (methodArgs?.multiplyByInputs === false) return null; // the attributions are gradients: no completeness to check
  // DIG sums gradients times path steps along a path that nSteps changes: its deltas are returned, not judged
  if (method === "discretized_integrated_gradients") return null;
  const inputs = completenessInputs(output);
  if (!inputs || inputs.deltas.length === 0) return null;
  const report = completenessReport(inputs.deltas, inputs.scales, COMPLETENESS_THRESHOLD, { unit: "attributed steps", advice: completenessAdvice(method, methodArgs) });
  if (!report.warning) return null;
  return { code: COMPLETENESS_WARNING, message: `${method}: ${report.warning}` };
}

/**
 * Whether attribute() computes convergence deltas on its own to check completeness: integrated gradients (and its
 * layer variant on one layer, and the sequential variant) when the caller did not say `returnConvergenceDelta`
 * either way. Two more forwards per input (sequential: one per attributed token, beside its nSteps gradient rows);
 * the deltas are dropped from the output afterwards (Inseq's default output has none).
 */
export function checksCompletenessByDefault(method: string, methodArgs: Record<string, unknown> | undefined): boolean {
  return (method === "integrated_gradients" || method === "sequential_integrated_gradients" || method === "layer_integrated_gradients") &&
    methodArgs?.returnConvergenceDelta === undefined && methodArgs?.multiplyByInputs !== false && methodArgs?.layer !== "all";
}

/** Set inside withoutCompletenessWarning(): attribute() calls made there do not warn. */
const QUIET = new AsyncLocalStorage<true>();

/**
 * Runs `call` with the completeness warning of its attribute() calls off (evaluate() measures completeness and
 * reports it in its table instead of warning once per batch). Other concurrent calls keep warning.
 */
export function withoutCompletenessWarning<T>(call: () => Promise<T>): Promise<T> {
  return QUIET.run(true, call);
}

/** Emits `completenessWarning(...)` as one process warning, if there is one. */
export function warnIncompleteness(output: FeatureAttributionOutput, method: string, methodArgs: Record<string, unknown> | undefined): void {
  if (QUIET.getStore()) return;
  const w = completenessWarning(output, method, methodArgs);
  if (w) process.emitWarning(w.message, { code: w.code, type: "InseqWarning" });
}
