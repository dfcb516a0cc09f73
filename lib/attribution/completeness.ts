/**
 * Completeness of path attributions (integrated gradients, and DeepLIFT's summation-to-delta): the attributions of
 * a step sum to f(x) - f(baseline), the change of the attributed function between the input and the baseline. The
 * engine returns, with convergence deltas (`methodArgs: { returnConvergenceDelta: true }`, and always for
 * integrated gradients in attribute(): completeness-warning.ts), the delta of each step
 *   delta = sum of attributions - (f(x) - f(baseline))      (Captum's definition; the `deltas` step score)
 * and f(x) - f(baseline) itself (the native result's `deltaScales`, recorded on the output by attribute() with
 * `recordDeltaScales`, not saved). Outputs without recorded scales (derived by aggregate() or merge(), or read
 * from a file) fall back to `sum of attributions - delta` when the attributions are granular; reduced ones have
 * lost that sum and `completenessInputs` returns null for them.
 *
 * Relative delta = |delta| / max(|f(x) - f(baseline)|, eps), eps = COMPLETENESS_EPS = 1e-3 (in the attributed
 * function's units: a probability, a logit...): a step whose attributed function barely changes between the
 * baseline and the input has almost nothing to distribute, and its relative delta would be noise over noise.
 */
import { invalidOption } from "../core/errors.js";
import type { FeatureAttributionOutput } from "../results/attribution.js";

/** IG-style completeness (also a column of evaluate()'s report): |sum of attributions - (f(x) - f(baseline))| relative to |f(x) - f(baseline)|. */
export interface CompletenessReport {
  threshold: number;
  /** Quantiles of the relative |delta| over items: p50, p90, max. */
  p50: number;
  p90: number;
  max: number;
  /** Share of items above the threshold. */
  overThreshold: number;
  /** Set when overThreshold > 5 %: what to do (raise nSteps). */
  warning?: string;
}

/** Floor of |f(x) - f(baseline)| in the relative delta. */
export const COMPLETENESS_EPS = 1e-3;
/** Share of items (steps) above the threshold beyond which the report warns. */
export const COMPLETENESS_MAX_SHARE = 0.05;

/** Quantile q of sorted values, linear interpolation between order statistics (numpy's default). */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}

export interface CompletenessReportOptions {
  /** Floor of |f(x) - f(baseline)| (default COMPLETENESS_EPS). */
  eps?: number;
  /** What one delta is, plural, in the warning (default "items"; attribute() says "steps"). */
  unit?: string;
  /** What to do, in the warning (default "raise nSteps"). */
  advice?: string;
}

/**
 * Completeness of a set of deltas: relative |delta| = |delta| / max(|scale|, eps) per pair (`scale` =
 * f(x) - f(baseline)); pairs where either is NaN are skipped. p50 / p90 / max of the relative deltas (linear
 * interpolation; NaN when no pair is left), `overThreshold` = share strictly above `threshold`, and `warning`
 * when that share exceeds 5 %, naming the share, the threshold and the quantiles.
 */
export function completenessReport(
  deltas: ArrayLike<number>,
  scales: ArrayLike<number>,
  threshold = 0.05,
  options: CompletenessReportOptions = {},
): CompletenessReport {
  if (deltas.length !== scales.length) throw invalidOption("scales", `${deltas.length} values (one per delta)`, `${scales.length} values`);
  if (typeof threshold !== "number" || !(threshold >= 0)) throw invalidOption("threshold", "a non-negative number", threshold);
  const eps = options.eps ?? COMPLETENESS_EPS;
  const rel: number[] = [];
  for (let i = 0; i < deltas.length; i++) {
    const d = deltas[i]!, s = scales[i]!;
    if (Number.isNaN(d) || Number.isNaN(s)) continue;
    rel.push(Math.abs(d) / Math.max(Math.abs(s), eps));
  }
  rel.sort((a, b) => a - b);
  const over = rel.length === 0 ? 0 : rel.filter((r) => r > threshold).length / rel.length;
  const report: CompletenessReport = {
    threshold,
    p50: quantile(rel, 0.5),
    p90: quantile(rel, 0.9),
    max: rel.length === 0 ? NaN : rel[rel.length - 1]!,
    overThreshold: over,
  };
  if (over > COMPLETENESS_MAX_SHARE) {
    const unit = options.unit ?? "items";
    const count = Math.round(over * rel.length);
    report.warning =
      `${percent(over)} of ${unit} (${count} of ${rel.length}) have a convergence delta above ${threshold} of ` +
      `|f(x) - f(baseline)| (more than ${percent(COMPLETENESS_MAX_SHARE)} allowed; relative |delta| p50 ${report.p50.toPrecision(3)}, ` +
      `p90 ${report.p90.toPrecision(3)}, max ${report.max.toPrecision(3)}): the attributions do not add up to the change of the ` +
      `attributed function. ${options.advice ?? "Raise nSteps"}.`;
  }
  return report;
}

/** f(x) - f(baseline) per step of each sequence, as attribute() received them from the engine (not saved). */
const RECORDED_SCALES = new WeakMap<FeatureAttributionOutput, Float32Array[]>();

/**
 * Records the engine's f(x) - f(baseline) per step of each sequence of an attribute() output (the native result's
 * `deltaScales`), so completenessInputs() works on reduced outputs too. Outputs derived later (aggregate, merge)
 * do not carry them and fall back to the granular sums.
 */
export function recordDeltaScales(output: FeatureAttributionOutput, scales: Float32Array[]): void {
  RECORDED_SCALES.set(output, scales);
}

/**
 * The deltas and scales (f(x) - f(baseline) = sum of the step's attributions - delta) of every attributed step of
 * an attribute() output, in sequence then step order: the engine's own f(x) - f(baseline) when attribute() recorded
 * them (recordDeltaScales), else the granular sums; null when the output has no `deltas` step score, or has no
 * recorded scales and its attributions are not granular `[attributed, generated, hidden]` tensors (see the file comment). NaN cells (the
 * non-causal target positions) count as 0 in the sums.
 */
export function completenessInputs(output: FeatureAttributionOutput): { deltas: number[]; scales: number[] } | null {
  const deltas: number[] = [];
  const scales: number[] = [];
  const recorded = RECORDED_SCALES.get(output);
  if (recorded && recorded.length === output.sequenceAttributions.length) {
    for (const [i, seq] of output.sequenceAttributions.entries()) {
      const d = seq.stepScores.deltas;
      if (!d) return null;
      for (let j = 0; j < d.length && j < recorded[i]!.length; j++) {
        deltas.push(d[j]!);
        scales.push(recorded[i]![j]!);
      }
    }
    return { deltas, scales };
  }
  for (const seq of output.sequenceAttributions) {
    const d = seq.stepScores.deltas;
    if (!d) return null;
    const tensors = [seq.sourceAttributions, seq.targetAttributions].filter((t) => t !== null);
    if (seq.kind !== "granular" || tensors.length === 0 || tensors.some((t) => t.shape.length !== 3)) return null;
    const steps = seq.nSteps;
    const sums = new Float64Array(steps);
    for (const t of tensors) {
      const [rows, cols, hidden] = t.shape as [number, number, number];
      if (cols !== steps) return null;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < steps; j++) {
          const base = (r * cols + j) * hidden;
          let s = 0;
          for (let h = 0; h < hidden; h++) {
            const v = t.data[base + h]!;
            if (!Number.isNaN(v)) s += v;
          }
          sums[j] += s;
        }
      }
    }
    for (let j = 0; j < steps && j < d.length; j++) {
      deltas.push(d[j]!);
      scales.push(sums[j]! - d[j]!);
    }
  }
  return { deltas, scales };
}
