// A small fingerprint of a [target, generated, ...extra] attribution tensor, computed the same way by
// bench/inseq_long_context.py (checksum()) so that ours and Python Inseq's results can be compared for sanity.
// Column sums are useless for gradient methods (each generated column is L1-normalised to 1), so it also keeps
// the sum of squares, the attribution-weighted mean row and the top row of every column.

/** { shape, finite, nan, sum, sumSq, posMean, top } of `t` ({ shape, data }); non-finite values are skipped. */
export function resultChecksum(t) {
  if (!t) return null;
  const [rows, cols] = t.shape;
  const extra = t.shape.slice(2).reduce((a, b) => a * b, 1);
  const cell = new Float64Array(rows * cols);  // [rows, cols]: extra dims summed
  let [finite, nan, sum, sumSq] = [0, 0, 0, 0];
  for (let k = 0; k < t.data.length; k++) {
    const v = t.data[k];
    if (!Number.isFinite(v)) { nan++; continue; }
    finite++;
    sum += v;
    sumSq += v * v;
    cell[Math.floor(k / extra)] += v;
  }
  let [weighted, mass] = [0, 0];
  const top = [];
  for (let j = 0; j < cols; j++) {
    let best = -1;
    for (let i = 0; i < rows; i++) {
      const v = cell[i * cols + j];
      weighted += v * i;
      mass += v;
      if (v > 0 && (best < 0 || v > cell[best * cols + j])) best = i;
    }
    top.push(best);
  }
  const r = (x) => +x.toPrecision(6);
  return { shape: t.shape, finite, nan, sum: r(sum), sumSq: r(sumSq), posMean: r(mass ? weighted / mass : 0), top };
}
