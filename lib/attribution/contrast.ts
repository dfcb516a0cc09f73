/**
 * Contrastive targets: which contrast position each attributed step compares with (Inseq's
 * `get_adjusted_alignments`): explicit (original, contrast) pairs first, one per original position, then the
 * missing positions aligned 1:1 from the end of both sequences. Also: the warnings for contrastive calls that can
 * only give zeros, and the contrastive arguments recorded in the saved info.
 */
import { invalidOption } from "../core/errors.js";

export type Alignment = [number, number];

/** The alignments of input `i`: one list for every input, or one list per input. */
export function alignmentsOf(all: ReadonlyArray<Alignment> | ReadonlyArray<ReadonlyArray<Alignment>> | undefined, i: number): Alignment[] | undefined {
  if (!all || all.length === 0) return undefined;
  return Array.isArray(all[0]?.[0]) ? (all as ReadonlyArray<ReadonlyArray<Alignment>>)[i]?.map((p) => [...p] as Alignment) : (all as Alignment[]);
}

export function contrastPositions(n: number, m: number, start: number, end: number, alignments?: readonly Alignment[]): number[] {
  const chosen = new Map<number, number>();
  const used = new Set<number>();
  const sorted = [...(alignments ?? [])].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const pair of sorted) {
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((x) => Number.isInteger(x))) {
      throw invalidOption("contrastTargetsAlignments", "a list of [original, contrast] integer pairs", pair);
    }
    const [o, c] = pair;
    if (o < start || o >= end) continue;
    // one pair per original position, preferring a contrast index not used yet
    if (!chosen.has(o) || (used.has(chosen.get(o)!) && !used.has(c))) chosen.set(o, c);
    used.add(c);
  }
  const out: number[] = [];
  for (let t = start; t < end; t++) {
    const c = chosen.get(t) ?? t - n + m;
    if (c < 1 || c >= m) {
      throw invalidOption("contrastTargetsAlignments", `a contrast position in [1, ${m - 1}] for target position ${t}`, c);
    }
    out.push(c);
  }
  return out;
}

/** Codes of the process warnings for contrastive calls that can only give zeros (documented in the README). */
export const CONTRAST_WARNINGS = Object.freeze({
  /** A contrastive attributed function or step score, but no contrast targets (or sources) to compare with. */
  missing: "INSEQ_CONTRAST_MISSING",
  /** Contrast targets whose attributed tokens equal the originals while contrastForceInputs is off. */
  unchanged: "INSEQ_CONTRAST_UNCHANGED",
});

/** True when the contrast compares every attributed token t in [start, end) with the same token id. */
export function sameContrastTokens(ids: readonly number[], start: number, contrastIds: readonly number[], positions: readonly number[]): boolean {
  return positions.every((c, k) => contrastIds[c] === ids[start + k]);
}

/** How one attribute() call uses contrastive step functions. */
export interface ContrastUse {
  /** The attributed step function, when it is contrastive. */
  attributedFn: string | null;
  /** The contrastive step scores. */
  stepScores: readonly string[];
  /** Contrast targets (or, for encoder-decoders, contrast sources) were given. */
  hasContrast: boolean;
  forceInputs: boolean;
  /** Inputs whose contrast has the original token at every attributed position (`sameContrastTokens`). */
  unchangedInputs: readonly number[];
}

/**
 * The warning for a contrastive call whose result is all zeros by construction, or null:
 * - no contrast at all: every contrastive function compares the target with itself;
 * - a contrast that differs only outside the attributed tokens (in the prompt or the source) while
 *   contrastForceInputs is off: the attributed function reuses the original forward, so it compares each
 *   attributed token with itself (step scores always run the contrast forward and are not affected).
 * Python Inseq gives the same zeros, and warns only in the second case.
 */
export function zeroContrastWarning(use: ContrastUse): { message: string; code: string } | null {
  const fns = [...(use.attributedFn ? [`attributedFn "${use.attributedFn}"`] : []), ...use.stepScores.map((s) => `step score "${s}"`)];
  if (fns.length === 0) return null;
  if (!use.hasContrast) {
    return {
      code: CONTRAST_WARNINGS.missing,
      message:
        `${fns.join(" and ")} ${fns.length === 1 ? "is" : "are"} contrastive, but no contrastTargets were given: each step is compared ` +
        "with its own target, so the result is all zeros. Pass contrastTargets (one text per input).",
    };
  }
  if (use.attributedFn && !use.forceInputs && use.unchangedInputs.length > 0) {
    const which = use.unchangedInputs.length === 1 ? `input ${use.unchangedInputs[0]}` : `inputs ${use.unchangedInputs.join(", ")}`;
    return {
      code: CONTRAST_WARNINGS.unchanged,
      message:
        `The contrast of ${which} has the original token at every attributed position (it differs only in the prompt or ` +
        `source) and contrastForceInputs is off: attributedFn "${use.attributedFn}" then reuses the original forward and ` +
        "compares each token with itself, so the attributions are all zeros. Pass contrastForceInputs: true to run the " +
        "model on the contrast inputs.",
    };
  }
  return null;
}

/** Emits `zeroContrastWarning(use)` as one process warning, if there is one. */
export function warnZeroContrast(use: ContrastUse): void {
  const w = zeroContrastWarning(use);
  if (w) process.emitWarning(w.message, { code: w.code, type: "InseqWarning" });
}

/**
 * The contrastive arguments of a call, as Python Inseq's keywords, for the `attributed_fn_args` /
 * `step_scores_args` of the saved info (only those that were given, plus contrast_force_inputs).
 */
export function contrastInfoArgs(options: {
  contrastTargets?: unknown; contrastTargetsAlignments?: unknown; contrastForceInputs?: boolean; contrastSources?: unknown;
}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const list = (v: unknown) => (typeof v === "string" ? [v] : v);
  if (options.contrastTargets !== undefined) out.contrast_targets = list(options.contrastTargets);
  if (options.contrastSources !== undefined) out.contrast_sources = list(options.contrastSources);
  if (options.contrastTargetsAlignments !== undefined) out.contrast_targets_alignments = options.contrastTargetsAlignments;
  out.contrast_force_inputs = options.contrastForceInputs ?? false;
  return out;
}
