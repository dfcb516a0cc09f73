/**
 * The evaluation report as one self-contained HTML page (`inseq evaluate --html`): the header, one table per
 * group ("all", each kind, "verified"; best value per column in `<strong>`, baselines in their own row group),
 * horizontal bar charts comparing the rows on each metric of the "all" group, and the completeness and
 * randomisation tables of the methods that have them.
 *
 * Offline and script-free: inline CSS only, no URL, no font, no image; the bars are CSS boxes. Methods take
 * the Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), in report order; baselines
 * are grey and hatched, and every bar also carries its label and value as text, so nothing depends on colour.
 * Tables have a `<caption>` and header cells with `scope`; each chart is a `<figure>` with a `<figcaption>`, its
 * bars `role="img"` with an `aria-label` giving the row and value. Nothing is interactive; the only focusable
 * elements are the scroll regions of tables wider than the page (so that the keyboard can scroll them). Every
 * string from the report is escaped (`escapeHtml`).
 */
import { escapeHtml } from "../viz/html-escape.js";
import { htmlPage } from "../viz/html-page.js";
import {
  bestValue,
  formatMetric,
  groupItems,
  groupOf,
  isBest,
  orderedRows,
  presentColumns,
  reportColumns,
  reportGroups,
  rowLabel,
  type ReportColumn,
} from "./report-columns.js";
import type { EvaluationReport, MethodReport } from "./types.js";

/** Okabe & Ito's colour-blind-safe palette (black left out: it is the text colour). */
export const METHOD_PALETTE: readonly string[] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; color: #111; background: #fff; }
h1 { font-size: 1.35rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
.inseq-eval-meta { color: #444; margin: .2rem 0; }
.inseq-eval-meta dt { display: inline; font-weight: 600; }
.inseq-eval-meta dd { display: inline; margin: 0 1rem 0 .3rem; }
table.inseq-eval { border-collapse: collapse; margin: .4rem 0 1rem; font-variant-numeric: tabular-nums; }
table.inseq-eval caption { text-align: left; font-weight: 600; padding: .3rem 0; }
table.inseq-eval th, table.inseq-eval td { padding: .25rem .6rem; border-bottom: 1px solid #ddd; }
table.inseq-eval td { text-align: right; }
table.inseq-eval th[scope="row"] { text-align: left; font-weight: 500; white-space: nowrap; }
.inseq-table-scroll { overflow-x: auto; max-width: 100%; }
table.inseq-eval thead th { border-bottom: 2px solid #888; text-align: right; white-space: nowrap; }
table.inseq-eval thead th:first-child { text-align: left; }
table.inseq-eval tbody.inseq-baselines { color: #555; font-style: italic; border-top: 2px dashed #aaa; }
table.inseq-eval strong { font-weight: 700; }
.inseq-swatch { display: inline-block; width: .8em; height: .8em; margin-right: .4em; vertical-align: baseline; border: 1px solid #0003; }
.inseq-baseline-fill { background: repeating-linear-gradient(45deg, #8a8a8a 0 3px, #d4d4d4 3px 6px); }
.inseq-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: 1rem 2rem; }
figure.inseq-chart { margin: 0; }
figure.inseq-chart figcaption { font-weight: 600; margin-bottom: .3rem; }
figure.inseq-chart figcaption span { font-weight: 400; color: #555; }
.inseq-bar-row { display: grid; grid-template-columns: 13rem 1fr 4.5rem; align-items: center; gap: .5rem; margin: 2px 0; }
.inseq-bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.inseq-bar-track { position: relative; height: 1rem; background: #f1f1f1; }
.inseq-bar { position: absolute; top: 0; bottom: 0; }
.inseq-bar-zero { position: absolute; top: -2px; bottom: -2px; width: 1px; background: #555; }
.inseq-bar-value { text-align: right; font-variant-numeric: tabular-nums; }
.inseq-warning { color: #8a4b00; font-weight: 600; }
@media (prefers-color-scheme: dark) {
  body { color: #eee; background: #161616; }
  .inseq-eval-meta, figure.inseq-chart figcaption span, table.inseq-eval tbody.inseq-baselines { color: #bbb; }
  table.inseq-eval th, table.inseq-eval td { border-bottom-color: #444; }
  .inseq-bar-track { background: #2a2a2a; }
  .inseq-bar-zero { background: #bbb; }
  .inseq-warning { color: #f0b060; }
}
`;

/** The fill of a row's bars and swatch: its palette colour (`background`), or the grey hatch of the baselines (`cls`). */
function fill(row: MethodReport, methodIndex: Map<MethodReport, number>): { cls: string; background: string } {
  if (row.baseline !== undefined) return { cls: " inseq-baseline-fill", background: "" };
  const i = methodIndex.get(row) ?? 0;
  return { cls: "", background: `background:${METHOD_PALETTE[i % METHOD_PALETTE.length]}` };
}

function metaList(report: EvaluationReport): string {
  const entries: [string, string][] = [
    ["set", `${report.set.name} (${report.set.items} items, ${report.set.verified} verified)`],
    ["model", `${report.model.name} (${report.model.kind})`],
    ["path", report.model.path],
    ["replacement", report.replacement],
    ["k", report.k.join(", ")],
    ["AOPC max k", String(report.aopcMaxK)],
    ["time", `${report.seconds.toFixed(1)} s`],
    ["created", report.createdAt],
  ];
  return `<dl class="inseq-eval-meta">${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>`;
}

function groupTable(report: EvaluationReport, group: string, rows: MethodReport[], columns: ReportColumn[], methodIndex: Map<MethodReport, number>): string {
  const shown = presentColumns(columns, rows, group);
  const bests = shown.map((c) => bestValue(c, rows, group));
  const items = groupItems(report, group);
  const out: string[] = [];
  // A wide table scrolls in its own region, which keyboard users can focus to scroll.
  out.push(`<div class="inseq-table-scroll" role="region" tabindex="0" aria-label="${escapeHtml(`results for ${group}`)}">`);
  out.push(`<table class="inseq-eval" data-group="${escapeHtml(group)}">`);
  out.push(
    `<caption>${escapeHtml(group)} (${items} item${items === 1 ? "" : "s"}); best value per column in bold, the oracle baseline excluded</caption>`,
  );
  out.push(
    `<thead><tr><th scope="col">method</th>${shown
      .map((c) => `<th scope="col" title="${escapeHtml(`${c.description} (${c.better} is better)`)}">${escapeHtml(c.header)}</th>`)
      .join("")}</tr></thead>`,
  );
  const body = (part: MethodReport[], cls: string) => {
    if (part.length === 0) return;
    out.push(`<tbody${cls ? ` class="${cls}"` : ""}>`);
    for (const r of part) {
      const f = fill(r, methodIndex);
      let line = `<tr><th scope="row"><span class="inseq-swatch${f.cls}"${f.background ? ` style="${f.background}"` : ""} aria-hidden="true"></span>${escapeHtml(rowLabel(r))}</th>`;
      for (const [j, c] of shown.entries()) {
        const text = formatMetric(c.value(r, groupOf(r, group)), c.format);
        line += isBest(bests[j]!, r, text) ? `<td><strong>${escapeHtml(text)}</strong></td>` : `<td>${escapeHtml(text)}</td>`;
      }
      out.push(line + "</tr>");
    }
    out.push("</tbody>");
  };
  body(rows.filter((r) => r.baseline === undefined), "");
  body(rows.filter((r) => r.baseline !== undefined), "inseq-baselines");
  out.push("</table>", "</div>");
  return out.join("\n");
}

/** Percent with 3 decimals for CSS (`12.346%`). */
const pct = (x: number) => `${(Math.max(0, Math.min(1, x)) * 100).toFixed(3)}%`;

/**
 * One chart: a bar per row with a value. Shares are drawn on [0, 1]; other columns on [min(0, lowest), highest]
 * (ranks from 0), with a zero line when values are negative.
 */
function chart(column: ReportColumn, group: string, rows: MethodReport[], methodIndex: Map<MethodReport, number>): string {
  const values = rows.map((r) => column.value(r, groupOf(r, group)));
  const present = values.filter((v): v is number => v !== null);
  let lo = Math.min(0, ...present);
  let hi = Math.max(0, ...present);
  if (column.format === "share") [lo, hi] = [Math.min(lo, 0), Math.max(hi, 1)];
  const span = hi - lo || 1;
  const zero = (0 - lo) / span;
  const out: string[] = [];
  out.push(`<figure class="inseq-chart" data-column="${escapeHtml(column.id)}">`);
  out.push(`<figcaption>${escapeHtml(column.header)} <span>${escapeHtml(`${column.description}; ${column.better} is better`)}</span></figcaption>`);
  for (const [i, r] of rows.entries()) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    const text = formatMetric(v, column.format);
    const f = fill(r, methodIndex);
    const left = v < 0 ? (v - lo) / span : zero;
    const width = Math.abs(v) / span;
    const label = rowLabel(r);
    out.push(
      `<div class="inseq-bar-row"><span class="inseq-bar-label" title="${escapeHtml(label)}">${escapeHtml(label)}</span>` +
        `<span class="inseq-bar-track" role="img" aria-label="${escapeHtml(`${label}: ${column.header} ${text}`)}">` +
        `<span class="inseq-bar${f.cls}" style="left:${pct(left)};width:${pct(width)}${f.background ? `;${f.background}` : ""}"></span>` +
        (lo < 0 ? `<span class="inseq-bar-zero" style="left:${pct(zero)}"></span>` : "") +
        `</span><span class="inseq-bar-value">${escapeHtml(text)}</span></div>`,
    );
  }
  out.push("</figure>");
  return out.join("\n");
}

function completenessTable(rows: MethodReport[]): string {
  const withIt = rows.filter((r) => r.completeness);
  if (withIt.length === 0) return "";
  const out = [
    "<h2>Completeness</h2>",
    '<table class="inseq-eval">',
    "<caption>|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)| over items</caption>",
    '<thead><tr><th scope="col">method</th><th scope="col">p50</th><th scope="col">p90</th><th scope="col">max</th><th scope="col">threshold</th><th scope="col">over threshold</th><th scope="col">warning</th></tr></thead>',
    "<tbody>",
  ];
  for (const r of withIt) {
    const c = r.completeness!;
    const cells = [c.p50, c.p90, c.max, c.threshold].map((v) => `<td>${escapeHtml(formatMetric(v, "probability"))}</td>`).join("");
    out.push(
      `<tr><th scope="row">${escapeHtml(r.label)}</th>${cells}<td>${escapeHtml(formatMetric(c.overThreshold, "share"))}</td>` +
        `<td style="text-align:left">${c.warning ? `<span class="inseq-warning">${escapeHtml(c.warning)}</span>` : "–"}</td></tr>`,
    );
  }
  out.push("</tbody>", "</table>");
  return out.join("\n");
}

function randomizationTable(rows: MethodReport[]): string {
  const withIt = rows.filter((r) => r.randomization && r.randomization.length > 0);
  if (withIt.length === 0) return "";
  const steps: string[] = [];
  for (const r of withIt) for (const s of r.randomization!) if (!steps.includes(s.randomized)) steps.push(s.randomized);
  const out = [
    "<h2>Model randomisation</h2>",
    '<table class="inseq-eval">',
    "<caption>Mean Spearman correlation with the trained model's attributions after randomising blocks from the top (1 = unchanged: the method ignores the weights)</caption>",
    `<thead><tr><th scope="col">method</th>${steps.map((s) => `<th scope="col">${escapeHtml(s)}</th>`).join("")}</tr></thead>`,
    "<tbody>",
  ];
  for (const r of withIt) {
    const cells = steps.map((s) => {
      const step = r.randomization!.find((x) => x.randomized === s);
      return `<td>${escapeHtml(formatMetric(step?.spearman, "probability"))}</td>`;
    });
    out.push(`<tr><th scope="row">${escapeHtml(r.label)}</th>${cells.join("")}</tr>`);
  }
  out.push("</tbody>", "</table>");
  return out.join("\n");
}

/**
 * The report as a complete HTML document (`<!DOCTYPE html>` ... `</html>`), self-contained and script-free.
 *
 * @example
 * const report = await evaluate(model, await openEvalSet("grammar"), { methods: ["saliency", "integrated_gradients"] });
 * await writeFileAtomic("eval.html", renderEvaluationHtml(report));
 */
export function renderEvaluationHtml(report: EvaluationReport): string {
  const rows = orderedRows(report);
  const methodIndex = new Map(rows.filter((r) => r.baseline === undefined).map((r, i) => [r, i]));
  const columns = reportColumns(report);
  const groups = reportGroups(report);
  const title = `Inseq evaluation: ${report.set.name}, ${report.model.name}`;
  const body: string[] = [];
  body.push(`<h1>${escapeHtml(title)}</h1>`);
  if (report.set.description) body.push(`<p>${escapeHtml(report.set.description)}</p>`);
  body.push(metaList(report));
  body.push("<h2>Results by group</h2>");
  for (const g of groups) body.push(groupTable(report, g, rows, columns, methodIndex));
  const chartGroup = groups[0];
  if (chartGroup !== undefined) {
    const charted = presentColumns(columns, rows, chartGroup);
    body.push(`<h2>Comparison on ${escapeHtml(chartGroup)}</h2>`);
    body.push(
      '<p>Bars: methods in colour, baselines <span class="inseq-swatch inseq-baseline-fill" aria-hidden="true"></span>grey and hatched; each bar is labelled with its value.</p>',
    );
    body.push(`<div class="inseq-charts">\n${charted.map((c) => chart(c, chartGroup, rows, methodIndex)).join("\n")}\n</div>`);
  }
  const completeness = completenessTable(rows);
  if (completeness) body.push(completeness);
  const randomization = randomizationTable(rows);
  if (randomization) body.push(randomization);
  return htmlPage(title, STYLE, ["<main>", ...body, "</main>"]);
}
