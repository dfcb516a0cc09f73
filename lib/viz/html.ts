/**
 * HTML heatmaps like Inseq's `show(return_html=True)`: per sequence a "Source Saliency Heatmap" and a
 * "Target Saliency Heatmap" table (generated tokens across, attributed tokens down, scores with 3 decimals,
 * empty for NaN, then one row per step score, bold when |value| >= 0.5). Cell backgrounds use Inseq's
 * red-transparent-blue map: blue (33,102,172) with alpha for negatives, red (178,24,43) for positives, scaled by
 * the largest |score|. The result is one self-contained document (no scripts, no network).
 */
import {
  colorScale,
  formatScore,
  heatmapPanels,
  HEATMAP_CAPTION,
  ordinal,
  scalePosition,
  type ColorScaleOptions,
  type HeatmapPanel,
  type RenderInput,
} from "./heatmap.js";

export interface HtmlRenderOptions extends ColorScaleOptions {
  /** Document title. Default "Inseq attributions". */
  title?: string;
  /** Only the heatmap markup, without `<!DOCTYPE html>`, `<head>` and `<body>` (for embedding). Default false. */
  fragment?: boolean;
}

/** Escapes `&`, `<`, `>`, `"` and `'`. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** `rgba(...)` of Inseq's red_transparent_blue map at position t in [0, 1] (transparent at 0.5). */
export function cellBackground(t: number): string {
  if (t < 0.5) return `rgba(33, 102, 172, ${((0.5 - t) * 2).toFixed(3)})`;
  return `rgba(178, 24, 43, ${((t - 0.5) * 2).toFixed(3)})`;
}

function renderPanel(panel: HeatmapPanel, scale: [number, number]): string {
  const id = `inseq-${panel.sequenceIndex}-${panel.label.toLowerCase()}`;
  const out: string[] = [];
  out.push(`<div class="inseq-heatmap" id="${id}">`);
  out.push(
    `<div class="inseq-title"><span class="inseq-label">${panel.label} Saliency Heatmap</span><br>${escapeHtml(HEATMAP_CAPTION)}</div>`,
  );
  out.push('<table border="1" cellpadding="5" cellspacing="5">');
  out.push("<thead>");
  out.push(`<tr><th></th><th></th>${panel.columnLabels.map((_, i) => `<th>${i}</th>`).join("")}</tr>`);
  out.push(`<tr><th></th><th></th>${panel.columnLabels.map((t) => `<th class="inseq-token">${escapeHtml(t)}</th>`).join("")}</tr>`);
  out.push("</thead>");
  out.push("<tbody>");
  const scores = panel.scores;
  if (scores) {
    const nCols = scores.shape[1]!;
    for (let r = 0; r < scores.shape[0]!; r++) {
      let row = `<tr><th>${r}</th><th class="inseq-token">${escapeHtml(panel.rowLabels[r] ?? "")}</th>`;
      for (let c = 0; c < nCols; c++) {
        const v = scores.data[r * nCols + c]!;
        const pos = scalePosition(v, scale);
        row +=
          pos === null
            ? '<td class="inseq-cell inseq-nan"></td>'
            : `<td class="inseq-cell" style="background:${cellBackground(pos)}">${formatScore(v, 3)}</td>`;
      }
      out.push(row + "</tr>");
    }
  }
  for (const [name, values] of panel.stepScores) {
    let row = `<tr class="inseq-step-score"><th></th><th><b>${escapeHtml(name)}</b></th>`;
    for (let c = 0; c < panel.columnLabels.length; c++) {
      const v = c < values.length ? values[c]! : NaN;
      const text = formatScore(v, 3);
      row += `<td class="inseq-step">${Math.abs(v) >= 0.5 ? `<b>${text}</b>` : text}</td>`;
    }
    out.push(row + "</tr>");
  }
  out.push("</tbody>");
  out.push("</table>");
  out.push("</div>");
  return out.join("\n");
}

const STYLE = `
body { font-family: sans-serif; margin: 15px; }
.inseq-instance { padding: 15px; border: 1px solid #888; margin: 5px 0 15px 0; }
.inseq-heatmap { margin: 5px 0 20px 0; }
.inseq-title { margin: 5px; font-weight: bold; }
.inseq-label { font-size: 20px; }
.inseq-heatmap table { border-collapse: separate; overflow-x: auto; display: block; }
.inseq-heatmap th, .inseq-heatmap td { text-align: center; font-size: 13px; }
.inseq-token { white-space: pre; }
.inseq-step-score { outline: thin solid; }
`;

/**
 * Renders every heatmap of the output as an HTML document (or fragment). The input must already be aggregated
 * to 2-D (`FeatureAttributionOutput.show({ format: "html" })` does that).
 */
export function renderHtml(output: RenderInput, options: HtmlRenderOptions = {}): string {
  const panels = heatmapPanels(output);
  const scale = colorScale(panels, options);
  const sections: string[] = [];
  let current: string[] | null = null;
  let lastSeq = -1;
  for (const panel of panels) {
    if (panel.sequenceIndex !== lastSeq) {
      if (current) sections.push(current.join("\n") + "\n</section>");
      current = [`<section class="inseq-instance" id="inseq-${panel.sequenceIndex}">`, `<b>${ordinal(panel.sequenceIndex)} instance:</b>`];
      lastSeq = panel.sequenceIndex;
    }
    current!.push(renderPanel(panel, scale));
  }
  if (current) sections.push(current.join("\n") + "\n</section>");
  const body = sections.join("\n");
  if (options.fragment) return `<div class="inseq-attributions">\n<style>${STYLE}</style>\n${body}\n</div>\n`;
  const title = escapeHtml(options.title ?? "Inseq attributions");
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${title}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    body,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
