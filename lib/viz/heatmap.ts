/**
 * What the terminal and HTML renderers share: the heatmap panels of Inseq's `show_attributions` and the colour
 * scale. Pure data; no rendering.
 */
import { invalidOption } from "../core/errors.js";
import type { ScoreTensor } from "../results/tensor.js";
import type { TokenWithId } from "../results/types.js";

/** The fields of a sequence output the renderers read. */
export interface RenderableSequence {
  source: TokenWithId[];
  target: TokenWithId[];
  sourceAttributions: ScoreTensor | null;
  targetAttributions: ScoreTensor | null;
  stepScores: Record<string, Float32Array>;
  attrPosStart: number;
  attrPosEnd: number;
}

/** A `FeatureAttributionOutput`, one sequence output, or a list of them. */
export type RenderInput = { sequenceAttributions: readonly RenderableSequence[] } | RenderableSequence | readonly RenderableSequence[];

export interface ColorScaleOptions {
  /** Score mapped to full blue. Default `-maxVal`. */
  minVal?: number;
  /** Score mapped to full red. Default: the largest |score| over all shown heatmaps. */
  maxVal?: number;
}

export interface HeatmapPanel {
  /** Index of the sequence in the output. */
  sequenceIndex: number;
  label: "Source" | "Target";
  /** Generated tokens (`target[attrPosStart:attrPosEnd]`), one per column. */
  columnLabels: string[];
  /** Attributed tokens, one per row of `scores`. */
  rowLabels: string[];
  /** Position of each row in the sequence when the panel holds a subset of them (top-k); default 0, 1, ... */
  rowIndices?: number[];
  /** 2-D `[attributed, generated]` scores, or null for a step-scores-only heatmap. */
  scores: ScoreTensor | null;
  /** One extra row per step score. */
  stepScores: Array<[string, Float32Array]>;
}

export function sequencesOf(input: RenderInput): readonly RenderableSequence[] {
  if (Array.isArray(input)) return input as readonly RenderableSequence[];
  if (input && typeof input === "object" && "sequenceAttributions" in input) return input.sequenceAttributions;
  if (input && typeof input === "object" && "target" in input) return [input as RenderableSequence];
  throw invalidOption("output", "a FeatureAttributionOutput or sequence output(s)", input);
}

function check2d(name: string, t: ScoreTensor | null): void {
  if (t && t.shape.length !== 2) {
    throw invalidOption(
      name,
      "2-D [attributed, generated] attributions to render (aggregate first)",
      `a tensor of shape [${t.shape.join(", ")}]`,
    );
  }
}

/** Heatmaps in Inseq's order: per sequence a Source heatmap (if any) then a Target heatmap (or step scores only). */
export function heatmapPanels(input: RenderInput): HeatmapPanel[] {
  const panels: HeatmapPanel[] = [];
  sequencesOf(input).forEach((seq, i) => {
    check2d(`sequence ${i} sourceAttributions`, seq.sourceAttributions);
    check2d(`sequence ${i} targetAttributions`, seq.targetAttributions);
    const columnLabels = seq.target.slice(seq.attrPosStart, seq.attrPosEnd).map((t) => t.token);
    const stepScores = Object.entries(seq.stepScores);
    if (seq.sourceAttributions) {
      panels.push({
        sequenceIndex: i,
        label: "Source",
        columnLabels,
        rowLabels: seq.source.map((t) => t.token),
        scores: seq.sourceAttributions,
        stepScores,
      });
    }
    if (seq.targetAttributions || (!seq.sourceAttributions && stepScores.length > 0)) {
      panels.push({
        sequenceIndex: i,
        label: "Target",
        columnLabels,
        rowLabels: seq.target.map((t) => t.token),
        scores: seq.targetAttributions,
        stepScores,
      });
    }
  });
  return panels;
}

/**
 * Per-row total |score| over the generated steps (NaN and infinite cells skipped): how much each attributed
 * token is attributed overall, the ranking of `topKRows`.
 */
export function rowMass(scores: ScoreTensor): Float64Array {
  const [rows, cols] = [scores.shape[0]!, scores.shape[1]!];
  const mass = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) {
      const v = scores.data[r * cols + c]!;
      if (Number.isFinite(v)) m += Math.abs(v);
    }
    mass[r] = m;
  }
  return mass;
}

/** The `k` rows with the largest `rowMass` (ties: the earlier row), in their original order. */
export function topKRows(scores: ScoreTensor, k: number): number[] {
  const mass = rowMass(scores);
  const order = Array.from(mass.keys()).sort((a, b) => mass[b]! - mass[a]! || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

/** The panel restricted to `rows` (positions into the panel's rows), keeping each row's original index. */
export function panelRows(panel: HeatmapPanel, rows: readonly number[]): HeatmapPanel {
  const indices = panel.rowIndices ?? null;
  const out: HeatmapPanel = {
    ...panel,
    rowLabels: rows.map((r) => panel.rowLabels[r] ?? ""),
    rowIndices: rows.map((r) => (indices ? indices[r]! : r)),
  };
  const scores = panel.scores;
  if (scores) {
    const cols = scores.shape[1]!;
    const data = new Float32Array(rows.length * cols); // [rows.length, generated]
    rows.forEach((r, i) => data.set(scores.data.subarray(r * cols, (r + 1) * cols), i * cols));
    out.scores = { ...scores, shape: [rows.length, cols], data };
  }
  return out;
}

/** The [min, max] of the colour scale (symmetric around 0 by default). */
export function colorScale(panels: readonly HeatmapPanel[], options: ColorScaleOptions = {}): [number, number] {
  let maxAbs = 0;
  for (const p of panels) {
    if (!p.scores) continue;
    for (const v of p.scores.data) if (!Number.isNaN(v) && Math.abs(v) > maxAbs && Number.isFinite(v)) maxAbs = Math.abs(v);
  }
  const max = options.maxVal ?? maxAbs;
  const min = options.minVal ?? -max;
  return [min, max];
}

/** Position of `value` on the scale in [0, 1] (0.5 for a degenerate scale); null for NaN. */
export function scalePosition(value: number, [min, max]: [number, number]): number | null {
  if (Number.isNaN(value)) return null;
  if (!(max > min)) return 0.5;
  return Math.min(1, Math.max(0, (value - min) / (max - min)));
}

/** `toFixed` without a negative zero ("-0.00" becomes "0.00"); empty for NaN. */
export function formatScore(value: number, decimals: number): string {
  if (Number.isNaN(value)) return "";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const s = value.toFixed(decimals);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

/** English ordinal as Inseq writes it ("0th", "1st", "2nd", "3rd", "11th", ...). */
export function ordinal(n: number): string {
  const mod100 = n % 100;
  const suffix = mod100 >= 10 && mod100 < 20 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

export const HEATMAP_CAPTION = "→ : Generated tokens, ↓ : Attributed tokens";
