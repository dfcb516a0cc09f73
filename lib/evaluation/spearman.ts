/**
 * Spearman's rank correlation with average ranks for ties (the Pearson correlation of the fractional ranks), as
 * `scipy.stats.spearmanr`, except for constant vectors, which scipy turns into NaN:
 *   - both vectors constant (every value tied, or fewer than 2 values): 1, the two rankings are identical;
 *   - exactly one constant: 0, one ranking carries no order to agree with.
 * So a score that ignores the model (the "dummy" control of the randomisation check) gives exactly 1 even when it
 * is constant, and the mean over items never has to drop an item.
 */
import { invalidOption } from "../core/errors.js";

/** Fractional (average) ranks, 1-based: tied values share the mean of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && values[order[j]!] === values[order[i]!]) j++;
    const rank = (i + 1 + j) / 2; // mean of the 1-based ranks i+1 .. j
    for (let k = i; k < j; k++) ranks[order[k]!] = rank;
    i = j;
  }
  return ranks;
}

/** Spearman's rho of two equally long vectors of finite numbers (see the file comment for constant vectors). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw invalidOption("spearman(a, b)", `two vectors of the same length (a has ${a.length})`, `b with ${b.length} values`);
  for (const [name, v] of [["a", a], ["b", b]] as const) {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw invalidOption(`spearman ${name}[${i}]`, "a finite number", v[i]);
    }
  }
  const ra = averageRanks(a);
  const rb = averageRanks(b);
  const n = a.length;
  const mean = (n + 1) / 2; // mean of fractional ranks is always (n + 1) / 2
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = ra[i]! - mean, db = rb[i]! - mean;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 && sbb === 0) return 1;
  if (saa === 0 || sbb === 0) return 0;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}
