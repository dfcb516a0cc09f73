/**
 * `showGranular()`: the scores as stored, without aggregation, one 2-D heatmap per index of the axes after
 * `[attributed, generated]` (Inseq draws one treescope array with sliders for those axes; Node has no treescope).
 */
import { invalidOption } from "../core/errors.js";
import { selectIndex, sliceDim, type ScoreTensor } from "../results/tensor.js";
import type { SequenceOutput } from "../results/types.js";
import { colorScale, heatmapPanels, ordinal, type ColorScaleOptions, type RenderableSequence } from "./heatmap.js";
import { renderHtml, type HtmlRenderOptions } from "./html.js";
import { renderTerminal, type TerminalRenderOptions } from "./terminal.js";

/** Default cap on the number of heatmaps one sequence may give (`maxSlices`). */
export const DEFAULT_MAX_SLICES = 64;

interface GranularCommon extends ColorScaleOptions {
  /**
   * Inseq's `slice_dims`: `{ axis: [start, end) }` keeps only that range of an axis before the heatmaps are drawn.
   * An axis is named by its index in the tensor (2 = the first axis after `[attributed, generated]`, as in
   * Inseq) or by its name in `extraDimNames` (e.g. `"layer"`).
   */
  sliceDims?: Record<string | number, readonly [number, number]>;
  /** Refuse (ERR_INVALID_OPTION) a sequence that would give more heatmaps than this. Default 64. */
  maxSlices?: number;
}

/** `showGranular()` options: the terminal or HTML renderer's options plus the slice selection. */
export type GranularShowOptions =
  | ({ format?: "terminal" } & GranularCommon & TerminalRenderOptions)
  | ({ format: "html" } & GranularCommon & Omit<HtmlRenderOptions, "views" | "label">);

/** One 2-D heatmap of a sequence: its label (e.g. `"layer 0, head 3"`, empty for 2-D outputs) and the scores. */
export interface GranularSlice {
  label: string;
  sequence: RenderableSequence;
}

function axisIndex(seq: SequenceOutput, key: string, nDims: number): number {
  const byName = seq.extraDimNames.indexOf(key);
  if (byName >= 0) return byName + 2;
  const n = Number(key);
  if (Number.isInteger(n) && n >= 2 && n < nDims) return n;
  throw invalidOption(
    `sliceDims.${key}`,
    `an axis after [attributed, generated]: an index in 2..${nDims - 1} or one of ${JSON.stringify(seq.extraDimNames)}`,
    key,
  );
}

/** The 2-D heatmaps `showGranular` draws for one sequence. */
export function granularSlices(seq: SequenceOutput, options: Pick<GranularCommon, "sliceDims" | "maxSlices"> = {}): GranularSlice[] {
  const ref = seq.sourceAttributions ?? seq.targetAttributions;
  if (!ref || ref.shape.length <= 2) return [{ label: "", sequence: seq }];
  const nDims = ref.shape.length;
  let src = seq.sourceAttributions;
  let tgt = seq.targetAttributions;
  const offsets = new Array<number>(nDims).fill(0);
  const sliceDims = options.sliceDims ?? {};
  if (sliceDims === null || typeof sliceDims !== "object") throw invalidOption("sliceDims", "an object { axis: [start, end] }", sliceDims);
  for (const [key, range] of Object.entries(sliceDims)) {
    const axis = axisIndex(seq, key, nDims);
    const size = ref.shape[axis]!;
    if (!Array.isArray(range) || range.length !== 2 || !range.every((v) => Number.isInteger(v)) || !(range[0] >= 0 && range[0] < range[1] && range[1] <= size)) {
      throw invalidOption(`sliceDims.${key}`, `[start, end] with 0 <= start < end <= ${size}`, range);
    }
    offsets[axis] = range[0];
    if (src) src = sliceDim(src, axis, range[0], range[1]);
    if (tgt) tgt = sliceDim(tgt, axis, range[0], range[1]);
  }
  const extra = (src ?? tgt)!.shape.slice(2);
  const count = extra.reduce((a, b) => a * b, 1);
  const maxSlices = options.maxSlices ?? DEFAULT_MAX_SLICES;
  if (count > maxSlices) {
    throw invalidOption(
      "sliceDims",
      `a selection giving at most ${maxSlices} heatmaps (maxSlices); axes ${JSON.stringify(seq.extraDimNames)} of sizes [${extra.join(", ")}] give ${count}`,
      options.sliceDims,
    );
  }
  const pick = (t: ScoreTensor | null, index: number[]): ScoreTensor | null => {
    if (!t) return null;
    let out = t;
    for (let k = index.length - 1; k >= 0; k--) out = selectIndex(out, k + 2, index[k]!);
    return out;
  };
  const slices: GranularSlice[] = [];
  for (let flat = 0; flat < count; flat++) {
    const index: number[] = [];
    let rest = flat;
    for (let k = extra.length - 1; k >= 0; k--) {
      index.unshift(rest % extra[k]!);
      rest = Math.floor(rest / extra[k]!);
    }
    const label = index.map((i, k) => `${seq.extraDimNames[k] ?? `dim${k + 2}`} ${i + offsets[k + 2]!}`).join(", ");
    slices.push({ label, sequence: { ...pickFields(seq), sourceAttributions: pick(src, index), targetAttributions: pick(tgt, index) } });
  }
  return slices;
}

function pickFields(seq: SequenceOutput): RenderableSequence {
  const { source, target, sourceAttributions, targetAttributions, stepScores, attrPosStart, attrPosEnd } = seq;
  return { source, target, sourceAttributions, targetAttributions, stepScores, attrPosStart, attrPosEnd };
}

/**
 * Renders `sequences` as `showGranular(options)` does: no aggregation; every sequence drawn once per index of its
 * extra axes, all heatmaps on one colour scale (unless `minVal` / `maxVal` are given). Terminal: the heatmaps one
 * after the other, each headed `"<n>th instance, <axis> <i>, ...:"`. HTML: one page whose view selector has one
 * entry per index (all sequences must then have the same extra axes after `sliceDims`).
 */
export function showGranularSequences(sequences: readonly SequenceOutput[], options: GranularShowOptions = {}): string {
  const { format = "terminal", sliceDims, maxSlices, minVal, maxVal, ...rest } = options as GranularShowOptions & { format?: string };
  if (format !== "terminal" && format !== "html") throw invalidOption("format", '"terminal" or "html"', format);
  const perSeq = sequences.map((s) => granularSlices(s, { sliceDims, maxSlices }));
  const [min, max] = colorScale(heatmapPanels(perSeq.flat().map((s) => s.sequence)), { minVal, maxVal });
  if (format === "terminal") {
    const parts: string[] = [];
    perSeq.forEach((slices, i) => {
      for (const { label, sequence } of slices) {
        const header = `${ordinal(i)} instance${label ? `, ${label}` : ""}:`;
        parts.push(renderTerminal(sequence, { ...(rest as TerminalRenderOptions), minVal: min, maxVal: max }).replace(/^0th instance:/, header));
      }
    });
    return parts.join("\n");
  }
  const labels = perSeq[0]?.map((s) => s.label) ?? [];
  if (perSeq.some((slices) => slices.length !== labels.length || slices.some((s, k) => s.label !== labels[k]))) {
    throw invalidOption(
      "sequences",
      "sequences with the same extra axes after sliceDims for one HTML page (show them one at a time: out.at(i).showGranular(...))",
      perSeq.map((slices) => slices.length),
    );
  }
  const views = labels.map((label, k) => ({ label, output: perSeq.map((slices) => slices[k]!.sequence), minVal: min, maxVal: max }));
  return renderHtml(views[0]?.output ?? [], {
    ...(rest as HtmlRenderOptions),
    minVal: min,
    maxVal: max,
    label: labels[0] || "scores as stored",
    views: views.slice(1),
  });
}
