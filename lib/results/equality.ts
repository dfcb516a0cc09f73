/**
 * Equality of results, like Inseq's `__eq__`: tensors compared with an absolute tolerance, NaN equal to NaN (a
 * NaN cell is "no score", and two outputs with no score at the same cells agree there).
 */
import { tensorsClose, type ScoreTensor } from "./tensor.js";
import type { OutputData, SequenceOutputData, TokenWithId } from "./types.js";

/** Deep equality of plain data (info records), NaN equal to NaN. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k]));
}

/** Field-wise comparison of two sequence outputs (tokens by string and id; `wordId` is ignored). */
export function sequenceOutputsEqual(a: SequenceOutputData, b: SequenceOutputData, atol = 1e-5): boolean {
  const tokEq = (x: TokenWithId[], y: TokenWithId[]) =>
    x.length === y.length && x.every((t, i) => t.token === y[i]!.token && t.id === y[i]!.id);
  const tEq = (x: ScoreTensor | null, y: ScoreTensor | null) => (x === null || y === null ? x === y : tensorsClose(x, y, atol));
  const recEq = <T>(x: Record<string, T>, y: Record<string, T>, eq: (u: T, v: T) => boolean) => {
    const kx = Object.keys(x).sort();
    const ky = Object.keys(y).sort();
    return kx.length === ky.length && kx.every((k, i) => k === ky[i] && eq(x[k]!, y[k]!));
  };
  const vecEq = (x: Float32Array, y: Float32Array) =>
    tensorsClose({ dims: ["x"], shape: [x.length], data: x }, { dims: ["x"], shape: [y.length], data: y }, atol);
  return (
    a.kind === b.kind &&
    a.attrPosStart === b.attrPosStart &&
    a.attrPosEnd === b.attrPosEnd &&
    tokEq(a.source, b.source) &&
    tokEq(a.target, b.target) &&
    tEq(a.sourceAttributions, b.sourceAttributions) &&
    tEq(a.targetAttributions, b.targetAttributions) &&
    recEq(a.stepScores, b.stepScores, vecEq) &&
    recEq(a.sequenceScores, b.sequenceScores, (x, y) => tEq(x, y))
  );
}

/** Sequence-wise `sequenceOutputsEqual` plus deep equality of `info`. */
export function outputsEqual(a: OutputData, b: OutputData, atol = 1e-5): boolean {
  return (
    a.sequenceAttributions.length === b.sequenceAttributions.length &&
    a.sequenceAttributions.every((s, i) => sequenceOutputsEqual(s, b.sequenceAttributions[i]!, atol)) &&
    deepEqual(a.info, b.info)
  );
}
