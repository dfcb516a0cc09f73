/**
 * The columns of an evaluation report, shared by the terminal table (report-table.ts) and the HTML page
 * (report-html.ts): what each column reads from a method row's group, how its numbers are written, which way is
 * better, and which value of a column is the best. Pure functions over `EvaluationReport`.
 */
import type { EvaluationReport, GroupReport, MethodReport } from "./types.js";

/** How a column's values are written: shares as percentages, probabilities with 3 decimals, ranks with 2, ms compactly. */
export type ColumnFormat = "share" | "probability" | "rank" | "ms";

export interface ReportColumn {
  /** Stable id (`top1`, `comp@2`, ...): also the HTML `data-column`. */
  id: string;
  /** Short header of the terminal table and the HTML table. */
  header: string;
  /** One line on what the column measures (HTML chart captions, `<th title>`). */
  description: string;
  better: "higher" | "lower";
  format: ColumnFormat;
  /** The value of a method row in a group; null when the row has none (no faithfulness, no distractors). */
  value: (row: MethodReport, group: GroupReport | undefined) => number | null;
}

const finiteOrNull = (v: number | null | undefined): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * The columns of a report in table order: top-1, mean rank, ev>dis, AUPRC, comp@k for each k, suff@k for each k,
 * AOPC comp, AOPC suff, flip@k for each k, ms/item. Every k of `report.k` gets its columns.
 *
 * @example
 * reportColumns(report).map((c) => c.header); // ["top-1", "rank", "ev>dis", "AUPRC", "comp@1", ...]
 */
export function reportColumns(report: Pick<EvaluationReport, "k">): ReportColumn[] {
  const ks = report.k.map(String);
  const perK = (
    prefix: string,
    field: "comprehensiveness" | "sufficiency" | "decisionFlip",
    better: "higher" | "lower",
    format: ColumnFormat,
    description: (k: string) => string,
  ): ReportColumn[] =>
    ks.map((k) => ({
      id: `${prefix}@${k}`,
      header: `${prefix}@${k}`,
      description: description(k),
      better,
      format,
      value: (_row, g) => finiteOrNull(g?.faithfulness?.[field]?.[k]),
    }));
  return [
    {
      id: "top1", header: "top-1", better: "higher", format: "share",
      description: "share of items whose highest-scored word is evidence",
      value: (_row, g) => finiteOrNull(g?.plausibility.top1),
    },
    {
      id: "rank", header: "rank", better: "lower", format: "rank",
      description: "mean rank of the evidence words (1 = scored highest)",
      value: (_row, g) => finiteOrNull(g?.plausibility.meanEvidenceRank),
    },
    {
      id: "evdis", header: "ev>dis", better: "higher", format: "share",
      description: "share of items with distractors where the best evidence word outscores every distractor",
      value: (_row, g) => finiteOrNull(g?.plausibility.evidenceOverDistractors),
    },
    {
      id: "auprc", header: "AUPRC", better: "higher", format: "probability",
      description: "average precision of the evidence words in the score order",
      value: (_row, g) => finiteOrNull(g?.plausibility.auprc),
    },
    ...perK("comp", "comprehensiveness", "higher", "probability", (k) => `comprehensiveness at k = ${k}: p(full) - p(top-${k} words replaced)`),
    ...perK("suff", "sufficiency", "lower", "probability", (k) => `sufficiency at k = ${k}: p(full) - p(only the top-${k} words kept)`),
    {
      id: "aopc-comp", header: "AOPC comp", better: "higher", format: "probability",
      description: "comprehensiveness averaged over k = 1 .. AOPC max k",
      value: (_row, g) => finiteOrNull(g?.faithfulness?.aopcComprehensiveness),
    },
    {
      id: "aopc-suff", header: "AOPC suff", better: "lower", format: "probability",
      description: "sufficiency averaged over k = 1 .. AOPC max k",
      value: (_row, g) => finiteOrNull(g?.faithfulness?.aopcSufficiency),
    },
    ...perK("flip", "decisionFlip", "higher", "share", (k) => `share of items whose decision changes when the top-${k} words are replaced`),
    {
      id: "ms", header: "ms/item", better: "lower", format: "ms",
      description: "attribution time per item in milliseconds (perturbation time not included)",
      value: (row) => (row.baseline !== undefined ? null : finiteOrNull(row.msPerItem)),
    },
  ];
}

/**
 * A number as a column writes it: "share" as a percentage with one decimal ("83.3%", "100%", "0%"), "probability"
 * with 3 decimals ("0.213", "-0.041"), "rank" with 2 decimals, "ms" with 3 significant digits ("0.42", "12.3",
 * "1234"); null, NaN and infinities as "–".
 *
 * @example
 * formatMetric(0.8333, "share"); // "83.3%"
 * formatMetric(12.345, "ms"); // "12.3"
 */
export function formatMetric(value: number | null | undefined, format: ColumnFormat): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  switch (format) {
    case "share": {
      const pct = value * 100;
      const text = Number.isInteger(Math.round(pct * 10) / 10) ? Math.round(pct).toFixed(0) : pct.toFixed(1);
      return `${text === "-0" ? "0" : text}%`;
    }
    case "probability":
      return (Object.is(Math.round(value * 1000), -0) ? 0 : value).toFixed(3);
    case "rank":
      return value.toFixed(2);
    case "ms": {
      const a = Math.abs(value);
      if (a >= 100) return value.toFixed(0);
      if (a >= 10) return value.toFixed(1);
      return value.toFixed(2);
    }
  }
}

/**
 * The group names of a report in display order: "all" first, then the kinds in the order they first appear, then
 * "verified".
 *
 * @example
 * reportGroups(report); // ["all", "pronoun_gender", "subject_verb", "verified"]
 */
export function reportGroups(report: Pick<EvaluationReport, "methods">): string[] {
  const seen: string[] = [];
  for (const m of report.methods) for (const g of m.groups) if (!seen.includes(g.group)) seen.push(g.group);
  const middle = seen.filter((g) => g !== "all" && g !== "verified");
  return [...(seen.includes("all") ? ["all"] : []), ...middle, ...(seen.includes("verified") ? ["verified"] : [])];
}

/** The group report of a method row, or undefined when the row has none of that name. */
export function groupOf(row: MethodReport, group: string): GroupReport | undefined {
  return row.groups.find((g) => g.group === group);
}

/** Number of items of a group (from the first row that has it). */
export function groupItems(report: Pick<EvaluationReport, "methods">, group: string): number {
  for (const m of report.methods) {
    const g = groupOf(m, group);
    if (g) return g.items;
  }
  return 0;
}

/** Method rows first (in report order), then the baselines (in report order). */
export function orderedRows(report: Pick<EvaluationReport, "methods">): MethodReport[] {
  return [...report.methods.filter((m) => m.baseline === undefined), ...report.methods.filter((m) => m.baseline !== undefined)];
}

/** The columns that have a value for at least one row in `group` (a column without any is dropped). */
export function presentColumns(columns: ReportColumn[], rows: MethodReport[], group: string): ReportColumn[] {
  return columns.filter((c) => rows.some((r) => c.value(r, groupOf(r, group)) !== null));
}

/**
 * The best value of a column in a group: the highest (or lowest, for "lower is better" columns) over the rows,
 * the "oracle" baseline excluded (it scores the evidence itself, so it wins the plausibility columns by
 * construction); a simple baseline that beats every method is emphasised, which is worth seeing. Compared as
 * written (`formatMetric`), so that ties on screen are all emphasised. Null when the rows do not differ as written
 * (fewer than two values, or all equal: nothing stands out).
 *
 * @example
 * const best = bestValue(column, rows, "all");
 * const emphasise = isBest(best, row, formatMetric(column.value(row, groupOf(row, "all")), column.format));
 */
export function bestValue(column: ReportColumn, rows: MethodReport[], group: string): string | null {
  let best: number | null = null;
  const written = new Set<string>();
  for (const r of rows) {
    if (r.baseline === "oracle") continue;
    const v = column.value(r, groupOf(r, group));
    if (v === null) continue;
    written.add(formatMetric(v, column.format));
    if (best === null || (column.better === "higher" ? v > best : v < best)) best = v;
  }
  return best === null || written.size < 2 ? null : formatMetric(best, column.format);
}

/** Whether a row's cell is emphasised as the best of its column (`bestValue`; never the oracle's). */
export function isBest(best: string | null, row: MethodReport, text: string): boolean {
  return best !== null && row.baseline !== "oracle" && text === best;
}

/** The label of a row as displayed: baselines get " (baseline)" unless their label already says so. */
export function rowLabel(row: MethodReport): string {
  return row.baseline !== undefined && !/baseline/i.test(row.label) ? `${row.label} (baseline)` : row.label;
}
