/**
 * The evaluation report as terminal text (`inseq evaluate`): a header (set, model, replacement, k, seconds), then
 * one table per group ("all", each kind, "verified") with one row per method configuration and the baselines
 * under a rule, then the IG completeness and model-randomisation lines of the methods that have them.
 *
 * The best value of each column is bold with `color`, marked "*" without; baselines are dimmed with `color`.
 * Columns without any value in a group (no faithfulness, no distractors) are dropped. Tables wider than `width`
 * are split into column groups, each repeating the method column. Every string from the report goes through
 * `printableToken`, so a label cannot carry escape sequences to the terminal. Pure: returns a string.
 */
import { invalidOption } from "../core/errors.js";
import { displayWidth, printableToken } from "../viz/terminal.js";
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

export interface EvaluationTableOptions {
  /** ANSI bold / dim / colour (default false: plain text, best values marked "*"). */
  color?: boolean;
  /** Maximum line width; wider tables are split into column groups (default: no limit). */
  width?: number;
}

const RESET = "\x1b[0m";
const BOLD = "\x1b[1m";
const DIM = "\x1b[2m";
const YELLOW = "\x1b[33m";

/** Longest method label in the table, in terminal cells (longer ones are cut with "…"). */
export const MAX_LABEL_WIDTH = 40;
const GAP = "  ";

function padTo(text: string, width: number, align: "left" | "right"): string {
  const gap = " ".repeat(Math.max(0, width - displayWidth(text)));
  return align === "left" ? text + gap : gap + text;
}

interface Cell {
  text: string;
  best?: boolean;
}

/** Splits the metric columns into groups that fit `width` next to the label column (at least one per group). */
function columnPages(labelWidth: number, widths: number[], width: number | undefined): number[][] {
  const all = widths.map((_, i) => i);
  if (width === undefined) return [all];
  const pages: number[][] = [];
  let cur: number[] = [];
  let used = labelWidth;
  for (const i of all) {
    const w = GAP.length + widths[i]!;
    if (cur.length > 0 && used + w > width) {
      pages.push(cur);
      cur = [];
      used = labelWidth;
    }
    cur.push(i);
    used += w;
  }
  if (cur.length > 0) pages.push(cur);
  return pages;
}

/** The table of one group; `starred` when a best value was marked "*" (plain text). */
function groupTable(
  report: EvaluationReport,
  group: string,
  rows: MethodReport[],
  columns: ReportColumn[],
  options: Required<Pick<EvaluationTableOptions, "color">> & EvaluationTableOptions,
): { lines: string[]; starred: boolean } {
  const { color } = options;
  const shown = presentColumns(columns, rows, group);
  const bests = shown.map((c) => bestValue(c, rows, group));
  const labels = rows.map((r) => printableToken(rowLabel(r), MAX_LABEL_WIDTH));
  const cells: Cell[][] = rows.map((r) =>
    shown.map((c, j) => {
      const text = formatMetric(c.value(r, groupOf(r, group)), c.format);
      const best = isBest(bests[j]!, r, text);
      return { text: best && !color ? `${text}*` : text, best };
    }),
  );
  const labelWidth = Math.max(displayWidth("method"), ...labels.map(displayWidth));
  const widths = shown.map((c, j) => Math.max(displayWidth(c.header), ...cells.map((row) => displayWidth(row[j]!.text))));
  const out: string[] = [];
  const items = groupItems(report, group);
  const title = `${printableToken(group)} (${items} item${items === 1 ? "" : "s"})`;
  out.push(color ? `${BOLD}${title}${RESET}` : title);
  const pages = columnPages(labelWidth, widths, options.width);
  const firstBaseline = rows.findIndex((r) => r.baseline !== undefined);
  for (const [p, page] of pages.entries()) {
    if (pages.length > 1) out.push(`(columns ${page.map((j) => shown[j]!.header).join(", ")})`);
    const header = padTo("method", labelWidth, "left") + page.map((j) => GAP + padTo(shown[j]!.header, widths[j]!, "right")).join("");
    out.push(color ? `${BOLD}${header}${RESET}` : header);
    const rule = "─".repeat(labelWidth) + page.map((j) => GAP + "─".repeat(widths[j]!)).join("");
    out.push(rule);
    for (const [i, row] of rows.entries()) {
      if (i === firstBaseline && i > 0) out.push(rule.replace(/─/g, "╌"));
      const baseline = row.baseline !== undefined;
      let line = color && baseline ? `${DIM}${padTo(labels[i]!, labelWidth, "left")}${RESET}` : padTo(labels[i]!, labelWidth, "left");
      for (const j of page) {
        const cell = cells[i]![j]!;
        const text = padTo(cell.text, widths[j]!, "right");
        line += GAP + (color && cell.best ? `${BOLD}${text}${RESET}` : color && baseline ? `${DIM}${text}${RESET}` : text);
      }
      out.push(line.replace(/\s+$/, ""));
    }
    if (p < pages.length - 1) out.push("");
  }
  return { lines: out, starred: !color && cells.some((row) => row.some((c) => c.best)) };
}

/** Joins parts with `sep` (two spaces) into lines of at most `width` cells, continuation lines indented by `indent`. */
function wrapParts(parts: string[], width: number | undefined, indent: string, sep = GAP): string[] {
  if (width === undefined) return [parts.join(sep)];
  const lines: string[] = [];
  let cur = "";
  for (const part of parts) {
    const next = cur ? cur + sep + part : part;
    if (cur && displayWidth(next) > width) {
      lines.push(cur);
      cur = indent + part;
    } else cur = next;
  }
  if (cur) lines.push(cur);
  return lines;
}

/** Word-wraps a line of text at `width` cells, keeping its leading spaces; continuation lines further indented by `indent`. */
function wrapText(text: string, width: number | undefined, indent = ""): string[] {
  const lead = /^ */.exec(text)![0];
  return wrapParts(text.slice(lead.length).split(" "), width === undefined ? undefined : width - lead.length, indent, " ").map((l) => lead + l);
}

function completenessLines(rows: MethodReport[], options: EvaluationTableOptions): string[] {
  const withIt = rows.filter((r) => r.completeness);
  if (withIt.length === 0) return [];
  const labelWidth = Math.max(...withIt.map((r) => displayWidth(printableToken(r.label, MAX_LABEL_WIDTH))));
  const out = wrapText("Completeness (|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)| over items):", options.width, "  ");
  for (const r of withIt) {
    const c = r.completeness!;
    const parts = [
      padTo(printableToken(r.label, MAX_LABEL_WIDTH), labelWidth, "left"),
      `p50 ${formatMetric(c.p50, "probability")}`,
      `p90 ${formatMetric(c.p90, "probability")}`,
      `max ${formatMetric(c.max, "probability")}`,
      `over ${formatMetric(c.threshold, "probability")}: ${formatMetric(c.overThreshold, "share")}`,
    ];
    out.push(...wrapParts(parts, options.width, "    ").map((l) => `  ${l}`));
    if (c.warning) {
      for (const l of wrapText(`  warning: ${printableToken(c.warning)}`, options.width, "    ")) out.push(options.color ? `${YELLOW}${l}${RESET}` : l);
    }
  }
  return out;
}

function randomizationLines(rows: MethodReport[], options: EvaluationTableOptions): string[] {
  const withIt = rows.filter((r) => r.randomization && r.randomization.length > 0);
  if (withIt.length === 0) return [];
  const labelWidth = Math.max(...withIt.map((r) => displayWidth(printableToken(r.label, MAX_LABEL_WIDTH))));
  const out = wrapText("Model randomisation (mean Spearman with the trained model's attributions; 1 = unchanged, near 0 = depends on the weights):", options.width, "  ");
  for (const r of withIt) {
    const parts = [
      padTo(printableToken(r.label, MAX_LABEL_WIDTH), labelWidth, "left"),
      ...r.randomization!.map((s) => `${printableToken(s.randomized)}: ${formatMetric(s.spearman, "probability")}`),
    ];
    out.push(...wrapParts(parts, options.width, "    ").map((l) => `  ${l}`));
  }
  return out;
}

/**
 * The report as terminal text: header, one table per group, completeness and randomisation lines. Ends with a
 * newline.
 *
 * @example
 * const report = await evaluate(model, await openEvalSet("grammar"), { methods: ["saliency"] });
 * process.stdout.write(formatEvaluationTable(report, { color: true, width: process.stdout.columns }));
 */
export function formatEvaluationTable(report: EvaluationReport, options: EvaluationTableOptions = {}): string {
  if (options.color !== undefined && typeof options.color !== "boolean") throw invalidOption("color", "a boolean", options.color);
  if (options.width !== undefined && !(typeof options.width === "number" && options.width > 0)) {
    throw invalidOption("width", "a positive number", options.width);
  }
  const color = options.color ?? false;
  const opts = { ...options, color };
  const out: string[] = [];
  const set = report.set;
  const title = `Evaluation on ${printableToken(set.name)} (${set.items} items, ${set.verified} verified)`;
  out.push(color ? `${BOLD}${title}${RESET}` : title);
  if (set.description) out.push(...wrapText(printableToken(set.description), options.width));
  out.push(
    ...wrapParts(
      [
        `model ${printableToken(report.model.name)} (${printableToken(report.model.kind)})`,
        `replacement ${printableToken(report.replacement)}`,
        `k ${report.k.join(", ")}`,
        `AOPC k ≤ ${report.aopcMaxK}`,
        `${report.seconds.toFixed(1)} s`,
      ],
      options.width,
      "  ",
    ),
  );
  const rows = orderedRows(report);
  const columns = reportColumns(report);
  let starred = false;
  for (const group of reportGroups(report)) {
    const table = groupTable(report, group, rows, columns, opts);
    out.push("", ...table.lines);
    starred ||= table.starred;
  }
  if (starred) out.push("", "* best per column (the oracle baseline excluded)");
  const completeness = completenessLines(rows, opts);
  if (completeness.length > 0) out.push("", ...completeness);
  const randomization = randomizationLines(rows, opts);
  if (randomization.length > 0) out.push("", ...randomization);
  return out.join("\n") + "\n";
}
