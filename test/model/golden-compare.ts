// Python Inseq goldens: the index entries (scripts/reference/make_inseq_goldens.py and
// make_inseq_seq2seq_goldens.py) and the cell-by-cell comparison of attribution tensors.
import { expect } from "vitest";

export interface GoldenCase {
  model: string;
  model_path: string;
  model_kind?: string;          // seq2seq index: "encoder-decoder" | "decoder-only"
  case: string;
  file?: string;
  error?: string;
  method: string;
  attributed_fn: string | null;
  attribute_target?: boolean;   // seq2seq index
  step_scores: string[];
  forced: boolean;
  batch: number;
  input_texts: string[];
  generated_texts?: string[];
  generation_args: Record<string, unknown>;
  attribute_kwargs: Record<string, any>;
  include_eos_baseline: boolean;
  inseq_compat_patches?: boolean;
}

/** The case's Captum/Inseq attribution args (n_steps, method) and convergence delta as our methodArgs. */
export function methodArgsOf(c: GoldenCase): Record<string, unknown> | undefined {
  const k = c.attribute_kwargs;
  const a = { ...(k.attribution_args ?? {}) };
  const out: Record<string, unknown> = {};
  if (a.n_steps !== undefined) out.nSteps = a.n_steps;
  if (a.method !== undefined) out.method = a.method;
  if (k.return_convergence_delta) out.returnConvergenceDelta = true;
  return Object.keys(out).length ? out : undefined;
}

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


/** The shape-independent part of a sequence output compared with its golden: token ids, positions, and the
 * source / target attributions cell by cell (rel 1e-4 of the column scale; no target tensor where the golden has none). */
interface SequenceLike {
  source: Array<{ id: number }>;
  target: Array<{ id: number }>;
  attrPosStart: number;
  attrPosEnd: number;
  sourceAttributions: { shape: number[]; data: Float32Array } | null;
  targetAttributions: { shape: number[]; data: Float32Array } | null;
}

export function expectSequenceMatchesGolden(o: SequenceLike, g: SequenceLike): void {
  expect(o.source.map((t) => t.id)).toEqual(g.source.map((t) => t.id));
  expect(o.target.map((t) => t.id)).toEqual(g.target.map((t) => t.id));
  expect([o.attrPosStart, o.attrPosEnd]).toEqual([g.attrPosStart, g.attrPosEnd]);
  if (g.sourceAttributions) expect(compareColumns(o.sourceAttributions!, g.sourceAttributions)).toBeLessThanOrEqual(1e-4);
  if (g.targetAttributions) expect(compareColumns(o.targetAttributions!, g.targetAttributions)).toBeLessThanOrEqual(1e-4);
  else expect(o.targetAttributions).toBeNull();
}
