/**
 * What `FeatureAttributionOutput.show()` renders: the default aggregation first (unless `aggregate: false`), then
 * the terminal heatmaps, or one HTML page whose view selector also offers the raw 2-D scores and further
 * aggregations (the HTML policy).
 */
import { invalidOption } from "../core/errors.js";
import { aggregateSequences } from "../aggregators/output.js";
import { aggregateSequenceScores } from "../aggregators/scores.js";
import { sequenceOutputsEqual } from "../results/equality.js";
import type { ScoreTensor } from "../results/tensor.js";
import type { SequenceOutput } from "../results/types.js";
import { renderHtml, type HtmlRenderOptions } from "./html.js";
import { renderTerminal, type TerminalRenderOptions } from "./terminal.js";

/**
 * `show()` options. `aggregate` (default true) applies each sequence's default aggregation first. For HTML, the
 * page's view selector also offers:
 * - `rawView` (default true): the scores as stored, when they are already 2-D and the aggregation changed them
 *   (e.g. the L2 norms before Inseq's L1 normalisation);
 * - `aggregations`: one view per aggregation function id (`"sum"`, `"absmax"`, ...), reducing every axis after
 *   `[attributed, generated]` with it (each step normalised, as the `scores` aggregator does); sequences that
 *   are already 2-D are shown as stored.
 */
export type ShowOptions =
  | ({ format?: "terminal"; aggregate?: boolean } & TerminalRenderOptions)
  | ({ format: "html"; aggregate?: boolean; rawView?: boolean; aggregations?: readonly string[] } & HtmlRenderOptions);

/** An output to show: its sequences and the run's info (the HTML page reads `info.generated_texts`). */
export interface ShownOutput {
  sequenceAttributions: readonly SequenceOutput[];
  info: Record<string, unknown>;
}

/** Renders `output` as `show(options)` does (a string; printing is the caller's job). */
export function showOutput(output: ShownOutput, options: ShowOptions = {}): string {
  const { format = "terminal", aggregate = true, rawView = true, aggregations = [], ...rest } = options as ShowOptions & {
    format?: string;
    rawView?: boolean;
    aggregations?: readonly string[];
  };
  if (format !== "terminal" && format !== "html") throw invalidOption("format", '"terminal" or "html"', format);
  const shown: ShownOutput = aggregate
    ? { sequenceAttributions: aggregateSequences(output.sequenceAttributions, undefined, undefined), info: output.info }
    : output;
  if (format !== "html") return renderTerminal(shown, rest as TerminalRenderOptions);
  const html = rest as HtmlRenderOptions;
  const is2d = (t: ScoreTensor | null) => t === null || t.shape.length === 2;
  const rawAvailable =
    aggregate &&
    rawView &&
    output.sequenceAttributions.some((s) => s.sourceAttributions || s.targetAttributions) &&
    output.sequenceAttributions.every((s) => is2d(s.sourceAttributions) && is2d(s.targetAttributions)) &&
    shown.sequenceAttributions.some((s, i) => !sequenceOutputsEqual(s, output.sequenceAttributions[i]!, 0));
  if (!Array.isArray(aggregations)) throw invalidOption("aggregations", "an array of aggregation function ids", aggregations);
  const reduced = aggregations.map((fn) => ({
    label: `${fn} (+ normalisation)`,
    output: output.sequenceAttributions.map((s) => {
      let out = s;
      while (out.numExtraDims > 0) out = aggregateSequenceScores(out, fn);
      return out;
    }),
  }));
  const views = [...(rawAvailable ? [{ label: "raw scores (no aggregation)", output }] : []), ...reduced, ...(html.views ?? [])];
  return renderHtml(shown, {
    ...html,
    label: html.label ?? (aggregate ? "default aggregation" : "scores as stored"),
    views,
  });
}
