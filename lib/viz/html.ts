/**
 * HTML heatmaps like Inseq's `show(return_html=True)`: per sequence a "Source Saliency Heatmap" and a
 * "Target Saliency Heatmap" table (generated tokens across, attributed tokens down, scores with 3 decimals,
 * empty for NaN, then one row per step score, bold when |value| >= 0.5). Cell backgrounds use Inseq's
 * red-transparent-blue map: blue (33,102,172) with alpha for negatives, red (178,24,43) for positives, scaled by
 * the largest |score|.
 *
 * On top of Inseq's tables (`interactive`, default on), each sequence gets a token view: hovering (or focusing,
 * or clicking to pin) a generated token colours the attributed tokens by their scores for that step and lists the
 * step's scores; and a control bar selects the sequence shown and the view (e.g. the default aggregation or the
 * raw 2-D scores). The result is one self-contained document: inline CSS and JS only, nothing fetched. Without
 * JavaScript the page still shows every heatmap of the first view, except virtualised ones: heatmaps of more
 * than `VIRTUAL_CELLS` cells are drawn by the page script as you scroll, from their data (`html-grid.ts`).
 */
import { invalidOption } from "../core/errors.js";
import { escapeHtml } from "./html-escape.js";
import { htmlPage } from "./html-page.js";
import { paletteColor, paletteGradient, PALETTES } from "./palette.js";
import { GRID_SCRIPT, GRID_STYLE, renderVirtualPanel, VIRTUAL_CELLS } from "./html-grid.js";
import {
  colorScale,
  formatScore,
  heatmapPanels,
  HEATMAP_CAPTION,
  ordinal,
  scalePosition,
  sequencesOf,
  type ColorScaleOptions,
  type HeatmapPanel,
  type RenderableSequence,
  type RenderInput,
} from "./heatmap.js";

/** A further set of heatmaps the page can switch to (e.g. another aggregation of the same output). */
export interface HtmlView extends ColorScaleOptions {
  /** Text of the view's entry in the selector. */
  label: string;
  /** Must be 2-D, like the main output. */
  output: RenderInput;
}

export interface HtmlRenderOptions extends ColorScaleOptions {
  /** Document title. Default "Inseq attributions". */
  title?: string;
  /** Only the markup, without `<!DOCTYPE html>`, `<head>` and `<body>` (for embedding). Default false. */
  fragment?: boolean;
  /**
   * Token view, sequence / view selectors and the script driving them. Default true; false gives Inseq's static
   * tables only, with no script at all.
   */
  interactive?: boolean;
  /** Selector label of the main output's view. Default "attributions". */
  label?: string;
  /** Further views, listed after the main one in the view selector. Their colour scales are their own. */
  views?: readonly HtmlView[];
  /**
   * Draw heatmaps as virtualised grids (only the cells in view are in the DOM; the scores travel as a float32
   * blob) instead of tables: "auto" (default) for sequences with a heatmap of more than `VIRTUAL_CELLS` cells.
   * The grids need the page script, which is then included even with `interactive: false`.
   */
  virtualize?: boolean | "auto";
}

export { escapeHtml };

/** `rgba(...)` of Inseq's red_transparent_blue map at position t in [0, 1] (transparent at 0.5). */
export function cellBackground(t: number): string {
  return paletteColor(t);
}

/** Element ids: the first view keeps Inseq-like ids (`inseq-0-source`), later views get a `v{k}-` prefix. */
function idPrefix(view: number): string {
  return view === 0 ? "inseq-" : `inseq-v${view}-`;
}

function renderPanel(panel: HeatmapPanel, scale: [number, number], view: number): string {
  const id = `${idPrefix(view)}${panel.sequenceIndex}-${panel.label.toLowerCase()}`;
  const out: string[] = [];
  out.push(`<div class="inseq-heatmap" id="${id}" data-field="${panel.label.toLowerCase()}">`);
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

/** Row-major `[rows][steps]` numbers with null for NaN / infinite (JSON has no NaN). */
function matrixJson(t: RenderableSequence["sourceAttributions"]): Array<Array<number | null>> | null {
  if (!t) return null;
  const [rows, cols] = [t.shape[0]!, t.shape[1]!];
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => {
      const v = t.data[r * cols + c]!;
      return Number.isFinite(v) ? v : null;
    }),
  );
}

/** JSON safe inside `<script>`: `<` escaped so no `</script>` or `<!--` can appear. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function tokenSpan(token: string, attrs: string, extraClass = ""): string {
  return `<span class="inseq-tok${extraClass}"${attrs}>${escapeHtml(token)}</span>`;
}

/**
 * The token view of one sequence: a "Source" line (when there are source attributions) and a "Target" line; the
 * generated tokens (`target[attrPosStart:attrPosEnd]`) are focusable and carry `data-step`. The scores travel
 * as JSON next to the markup; the page script colours the tokens.
 */
function renderTokenView(seq: RenderableSequence, scale: [number, number], grids: { source?: string; target?: string } | null): string {
  const steps = seq.attrPosEnd - seq.attrPosStart;
  const out: string[] = [`<div class="inseq-token-view" data-min="${scale[0]}" data-max="${scale[1]}">`];
  out.push(
    '<div class="inseq-token-help">Token view: hover, focus or click (to pin) a generated token to colour the tokens it is attributed to.</div>',
  );
  if (seq.sourceAttributions) {
    out.push(
      `<div class="inseq-token-line" data-field="source"><span class="inseq-line-label">Source</span>${seq.source
        .map((t, r) => tokenSpan(t.token, ` data-row="${r}"`))
        .join("")}</div>`,
    );
  }
  const target = seq.target
    .map((t, r) => {
      const step = r - seq.attrPosStart;
      if (step >= 0 && step < steps) return tokenSpan(t.token, ` data-row="${r}" data-step="${step}" tabindex="0"`, " inseq-gen");
      return tokenSpan(t.token, ` data-row="${r}"`, r >= seq.attrPosEnd ? " inseq-after" : "");
    })
    .join("");
  out.push(`<div class="inseq-token-line" data-field="target"><span class="inseq-line-label">Target</span>${target}</div>`);
  out.push('<div class="inseq-step-info" aria-live="polite"></div>');
  // A virtualised sequence's scores are read from its heatmaps' blobs.
  const matrix = (field: "source" | "target", t: RenderableSequence["sourceAttributions"]) =>
    grids ? (t && grids[field] ? { grid: grids[field] } : null) : matrixJson(t);
  const data = {
    source: matrix("source", seq.sourceAttributions),
    target: matrix("target", seq.targetAttributions),
    stepScores: Object.fromEntries(Object.entries(seq.stepScores).map(([k, v]) => [k, Array.from(v, (x) => (Number.isFinite(x) ? x : null))])),
    tokens: seq.target.slice(seq.attrPosStart, seq.attrPosEnd).map((t) => t.token),
  };
  out.push(`<script type="application/json" class="inseq-token-data">${scriptJson(data)}</script>`);
  out.push("</div>");
  return out.join("\n");
}

function renderLegend(scale: [number, number]): string {
  return (
    `<div class="inseq-legend"><span>${formatScore(scale[0], 3)}</span>` +
    '<span class="inseq-legend-bar"></span>' +
    `<span>${formatScore(scale[1], 3)}</span></div>`
  );
}

/** Short text for a sequence's entry in the selector. */
function sequenceLabel(seq: RenderableSequence, i: number, texts: unknown): string {
  let text = Array.isArray(texts) && typeof texts[i] === "string" ? (texts[i] as string) : seq.target.map((t) => t.token).join(" ");
  text = text.replace(/\s+/g, " ").trim();
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return `${ordinal(i)} instance${text ? `: ${text}` : ""}`;
}

const STYLE = `
body { font-family: sans-serif; margin: 15px; }
.inseq-attributions [hidden] { display: none !important; }
.inseq-controls { display: flex; gap: 20px; flex-wrap: wrap; margin: 0 0 10px 0; font-size: 14px; }
.inseq-instance { padding: 15px; border: 1px solid #888; margin: 5px 0 15px 0; }
.inseq-heatmap { margin: 5px 0 20px 0; }
.inseq-title { margin: 5px; font-weight: bold; }
.inseq-label { font-size: 20px; }
.inseq-heatmap table { border-collapse: separate; overflow-x: auto; display: block; }
.inseq-heatmap th, .inseq-heatmap td { text-align: center; font-size: 13px; }
.inseq-token { white-space: pre; }
.inseq-step-score { outline: thin solid; }
.inseq-legend { display: flex; align-items: center; gap: 6px; font-size: 12px; margin: 5px; }
.inseq-legend-bar { display: inline-block; width: 160px; height: 10px; border: 1px solid #888;
  background: ${paletteGradient()}; }
.inseq-token-view { margin: 10px 5px 15px 5px; font-size: 15px; line-height: 2; }
.inseq-token-help { font-size: 12px; color: #555; }
.inseq-line-label { display: inline-block; width: 60px; font-size: 12px; font-weight: bold; color: #555; }
.inseq-tok { white-space: pre; padding: 2px 3px; margin: 0 1px; border-radius: 3px; border: 1px solid transparent; }
.inseq-gen { border-bottom: 2px solid #888; cursor: pointer; }
.inseq-after { color: #999; }
.inseq-tok.inseq-active { border: 1px solid #000; box-shadow: 0 0 0 1px #000; }
.inseq-tok.inseq-pinned { border: 1px solid #000; box-shadow: 0 0 0 2px #e6a100; }
.inseq-step-info { font-size: 13px; min-height: 1.5em; }
`;

/** How the page script reads a token-view score, and the same through the grids' reader (virtualised pages). */
const MATRIX_LOOKUP = "var v = step === null || !m || !m[r] ? null : m[r][step];";
const GRID_LOOKUP = "var v = step === null || !m ? null : root.__inseqCell(m, r, step);";

/** Drives every `.inseq-attributions` root once (a page may embed several fragments, each with this script). */
const SCRIPT = `
(function () {
  var root = document.currentScript && document.currentScript.parentElement;
  if (!root || root.getAttribute("data-inseq-ready")) return;
  root.setAttribute("data-inseq-ready", "1");
  function background(v, min, max) {
    if (v === null || v === undefined || isNaN(v)) return "";
    var t = max > min ? Math.min(1, Math.max(0, (v - min) / (max - min))) : 0.5;
    return t < 0.5 ? "rgba(${PALETTES.inseq.negative.join(", ")}, " + ((0.5 - t) * 2).toFixed(3) + ")" : "rgba(${PALETTES.inseq.positive.join(", ")}, " + ((t - 0.5) * 2).toFixed(3) + ")";
  }
  function fmt(v) { return v === null || v === undefined ? "" : (Math.abs(v) < 5e-4 ? 0 : v).toFixed(3); }
  Array.prototype.forEach.call(root.querySelectorAll(".inseq-token-view"), function (tv) {
    var data = JSON.parse(tv.querySelector(".inseq-token-data").textContent);
    var min = parseFloat(tv.getAttribute("data-min")), max = parseFloat(tv.getAttribute("data-max"));
    var info = tv.querySelector(".inseq-step-info");
    var pinned = null;
    function paint(step) {
      ["source", "target"].forEach(function (field) {
        var line = tv.querySelector('.inseq-token-line[data-field="' + field + '"]');
        if (!line) return;
        var m = data[field];
        Array.prototype.forEach.call(line.querySelectorAll(".inseq-tok"), function (el) {
          var r = +el.getAttribute("data-row");
          var v = step === null || !m || !m[r] ? null : m[r][step];
          el.style.background = v === null ? "" : background(v, min, max);
          if (v === null) { el.removeAttribute("data-score"); el.removeAttribute("title"); }
          else { el.setAttribute("data-score", String(v)); el.title = fmt(v); }
        });
      });
      Array.prototype.forEach.call(tv.querySelectorAll(".inseq-gen"), function (el) {
        var s = +el.getAttribute("data-step");
        el.classList.toggle("inseq-active", s === step);
        el.classList.toggle("inseq-pinned", s === pinned);
      });
      if (step === null) { info.textContent = ""; return; }
      var parts = ["step " + step + " (" + JSON.stringify(data.tokens[step]) + ")"];
      Object.keys(data.stepScores).forEach(function (k) { parts.push(k + ": " + fmt(data.stepScores[k][step])); });
      info.textContent = parts.join(" \\u00b7 ");
    }
    Array.prototype.forEach.call(tv.querySelectorAll(".inseq-gen"), function (el) {
      var s = +el.getAttribute("data-step");
      el.addEventListener("mouseenter", function () { paint(s); });
      el.addEventListener("focus", function () { paint(s); });
      el.addEventListener("mouseleave", function () { paint(pinned); });
      el.addEventListener("blur", function () { paint(pinned); });
      el.addEventListener("click", function () { pinned = pinned === s ? null : s; paint(pinned === null ? s : pinned); });
    });
  });
  var seqSelect = root.querySelector(".inseq-select-sequence");
  var viewSelect = root.querySelector(".inseq-select-view");
  function update() {
    var view = viewSelect ? viewSelect.value : "0";
    var seq = seqSelect ? seqSelect.value : "all";
    Array.prototype.forEach.call(root.querySelectorAll(".inseq-view"), function (v) {
      v.hidden = v.getAttribute("data-view") !== view;
      Array.prototype.forEach.call(v.querySelectorAll(".inseq-instance"), function (s) {
        s.hidden = seq !== "all" && s.getAttribute("data-sequence") !== seq;
      });
    });
  }
  if (seqSelect) seqSelect.addEventListener("change", update);
  if (viewSelect) viewSelect.addEventListener("change", update);
  var controls = root.querySelector(".inseq-controls");
  if (controls) controls.hidden = false;
  update();
})();
`;

interface ResolvedView {
  label: string;
  sequences: readonly RenderableSequence[];
  panels: HeatmapPanel[];
  scale: [number, number];
}

/** Whether sequence `i` of a view is drawn as virtualised grids. */
function isVirtual(view: ResolvedView, i: number, virtualize: boolean | "auto"): boolean {
  const panels = view.panels.filter((p) => p.sequenceIndex === i && p.scores);
  if (virtualize !== "auto") return virtualize && panels.length > 0;
  return panels.some((p) => p.rowLabels.length * p.columnLabels.length > VIRTUAL_CELLS);
}

function renderView(view: ResolvedView, index: number, interactive: boolean, virtualize: boolean | "auto"): string {
  const sections: string[] = [];
  view.sequences.forEach((seq, i) => {
    const panels = view.panels.filter((p) => p.sequenceIndex === i);
    const virtual = isVirtual(view, i, virtualize);
    const panelId = (p: HeatmapPanel) => `${idPrefix(index)}${p.sequenceIndex}-${p.label.toLowerCase()}`;
    const grids = virtual ? Object.fromEntries(panels.filter((p) => p.scores).map((p) => [p.label.toLowerCase(), panelId(p)])) : null;
    const parts = [
      `<section class="inseq-instance" id="${idPrefix(index)}${i}" data-sequence="${i}">`,
      `<b>${ordinal(i)} instance:</b>`,
    ];
    if (interactive) parts.push(renderTokenView(seq, view.scale, grids));
    for (const p of panels) parts.push(virtual && p.scores ? renderVirtualPanel(p, view.scale, panelId(p)) : renderPanel(p, view.scale, index));
    sections.push(parts.join("\n") + "\n</section>");
  });
  const attrs = `class="inseq-view" data-view="${index}" data-label="${escapeHtml(view.label)}"${index > 0 ? " hidden" : ""}`;
  return [`<div ${attrs}>`, interactive ? renderLegend(view.scale) : "", ...sections, "</div>"].filter(Boolean).join("\n");
}

function renderControls(views: readonly ResolvedView[], texts: unknown): string {
  const parts: string[] = [];
  const sequences = views[0]!.sequences;
  if (sequences.length > 1) {
    const options = sequences.map((s, i) => `<option value="${i}">${escapeHtml(sequenceLabel(s, i, texts))}</option>`).join("");
    parts.push(`<label>Sequence <select class="inseq-select-sequence"><option value="all">all sequences</option>${options}</select></label>`);
  }
  if (views.length > 1) {
    const options = views.map((v, i) => `<option value="${i}">${escapeHtml(v.label)}</option>`).join("");
    parts.push(`<label>View <select class="inseq-select-view">${options}</select></label>`);
  }
  return parts.length > 0 ? `<div class="inseq-controls" hidden>${parts.join("\n")}</div>` : "";
}

function resolveView(label: string, output: RenderInput, scaleOptions: ColorScaleOptions): ResolvedView {
  const sequences = sequencesOf(output);
  const panels = heatmapPanels(sequences);
  return { label, sequences, panels, scale: colorScale(panels, scaleOptions) };
}

/**
 * Renders every heatmap of the output as an HTML document (or fragment). The input must already be aggregated
 * to 2-D (`FeatureAttributionOutput.show({ format: "html" })` does that, and adds the raw 2-D scores as a second
 * view when they differ).
 */
export function renderHtml(output: RenderInput, options: HtmlRenderOptions = {}): string {
  const interactive = options.interactive ?? true;
  const extra = options.views ?? [];
  if (!Array.isArray(extra)) throw invalidOption("views", "an array of { label, output }", extra);
  const views: ResolvedView[] = [resolveView(options.label ?? "attributions", output, options)];
  extra.forEach((v, k) => {
    if (v === null || typeof v !== "object" || typeof v.label !== "string") throw invalidOption(`views[${k}]`, "a { label, output } object", v);
    views.push(resolveView(v.label, v.output, v));
  });
  const nSeq = views[0]!.sequences.length;
  views.forEach((v, k) => {
    if (v.sequences.length !== nSeq) {
      throw invalidOption(`views[${k - 1}].output`, `${nSeq} sequences like the main output`, v.sequences.length);
    }
  });
  const virtualize = options.virtualize ?? "auto";
  if (virtualize !== "auto" && typeof virtualize !== "boolean") throw invalidOption("virtualize", 'true, false or "auto"', virtualize);
  // Inseq's static layout: only the first view, no controls.
  const shown = interactive ? views : views.slice(0, 1);
  const virtual = shown.some((v) => v.sequences.some((_, i) => isVirtual(v, i, virtualize)));
  const style = virtual ? STYLE + GRID_STYLE : STYLE;
  const texts = output && typeof output === "object" && "info" in output ? (output as { info?: Record<string, unknown> }).info?.generated_texts : undefined;
  const body = [
    interactive ? renderControls(shown, texts) : "",
    ...shown.map((v, k) => renderView(v, k, interactive, virtualize)),
    virtual ? `<script>${GRID_SCRIPT}</script>` : "",
    interactive ? `<script>${virtual ? SCRIPT.replace(MATRIX_LOOKUP, GRID_LOOKUP) : SCRIPT}</script>` : "",
  ]
    .filter(Boolean)
    .join("\n");
  const root = `<div class="inseq-attributions">\n${options.fragment ? `<style>${style}</style>\n` : ""}${body}\n</div>`;
  if (options.fragment) return root + "\n";
  return htmlPage(options.title ?? "Inseq attributions", style, [root]);
}
