/**
 * Contrastive targets: which contrast position each attributed step compares with (Inseq's
 * `get_adjusted_alignments`): explicit (original, contrast) pairs first, one per original position, then the
 * missing positions aligned 1:1 from the end of both sequences.
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
