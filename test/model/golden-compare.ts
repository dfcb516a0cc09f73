// Cell-by-cell comparison of attribution tensors with Python Inseq goldens.
import { expect } from "vitest";

/**
 * max |ours - golden| / (column scale) over all cells, with NaN required at the same cells. The scale has a
 * float32 noise floor (|d| <= 5e-7 always passes): columns where p(y) ~ 1 have gradients near 1e-4, where
 * different BLAS kernels (OpenBLAS here, MKL in pip torch) differ by ~1e-7 in absolute terms.
 */
export function compareColumns(ours: { shape: number[]; data: Float32Array }, gold: { shape: number[]; data: Float32Array }): number {
  expect(ours.shape).toEqual(gold.shape);
  const [rows, cols] = ours.shape as [number, number];
  const inner = ours.data.length / (rows * cols);
  let worst = 0;
  for (let j = 0; j < cols; j++) {
    let scale = 0;
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < inner; k++) {
        const g = gold.data[(r * cols + j) * inner + k]!;
        if (!Number.isNaN(g)) scale = Math.max(scale, Math.abs(g));
      }
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < inner; k++) {
        const idx = (r * cols + j) * inner + k;
        const g = gold.data[idx]!, o = ours.data[idx]!;
        expect(Number.isNaN(o), `NaN layout at row ${r} column ${j}`).toBe(Number.isNaN(g));
        if (!Number.isNaN(g)) worst = Math.max(worst, Math.max(0, Math.abs(o - g) - 5e-7) / Math.max(scale, 1e-12));
      }
  }
  return worst;
}

