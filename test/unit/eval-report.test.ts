/**
 * The evaluation report renderers and file (lib/evaluation/report-*.ts) on a hand-built report: the terminal
 * table's cells, emphasis and dropped columns; the HTML page's structure, balance and escaping; the JSON
 * round trip and the refusal of files that are not reports. No model, no addon.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { formatMetric } from "../../lib/evaluation/report-columns.js";
import { renderEvaluationHtml } from "../../lib/evaluation/report-html.js";
import { loadEvaluationReport, parseEvaluationReport, saveEvaluationReport } from "../../lib/evaluation/report-json.js";
import { formatEvaluationTable } from "../../lib/evaluation/report-table.js";
import type { EvaluationReport } from "../../lib/evaluation/types.js";
import { displayWidth } from "../../lib/viz/terminal.js";
import { sampleReport } from "../fixtures/evaluation/report.js";
import { InseqError } from "../../lib/core/errors.js";
import { tempDir } from "../helpers.js";

const tmp = tempDir("eval-report");

/** Expects `run` (a function or a promise) to throw / reject with an InseqError of `code` matching `message`. */
function expectInseqError(run: (() => unknown) | Promise<unknown>, code: string, message: RegExp): Promise<void> | void {
  const check = (err: unknown) => {
    expect(err).toBeInstanceOf(InseqError);
    expect((err as InseqError).code).toBe(code);
    expect((err as InseqError).message).toMatch(message);
  };
  if (typeof run === "function") {
    let thrown: unknown = null;
    try {
      run();
    } catch (err) {
      thrown = err;
    }
    check(thrown);
    return;
  }
  return run.then(
    () => check(null),
    (err: unknown) => check(err),
  );
}
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The lines of one group's table: from its title to the blank line after it. */
function groupLines(text: string, title: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith(title));
  expect(start, `group ${title}`).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf("", start);
  return lines.slice(start, end < 0 ? undefined : end);
}
/** The cells of a table line (split on runs of two or more spaces). */
const cellsOf = (line: string) => line.trim().split(/ {2,}/);

describe("terminal table", () => {
  const text = formatEvaluationTable(sampleReport());

  it("header: set, model, replacement, k, AOPC, seconds", () => {
    const lines = text.split("\n");
    expect(lines[0]).toBe("Evaluation on grammar (6 items, 4 verified)");
    expect(lines[1]).toBe("Synthetic agreement sentences; evidence = the controlling word.");
    expect(lines[2]).toBe("model default (decoder-only)  replacement counterfactual  k 1, 2  AOPC k ≤ 5  12.3 s");
  });

  it("groups in order: all, each kind, verified", () => {
    const titles = text.split("\n").filter((l) => /^\S.* \(\d+ items?\)$/.test(l) && !l.startsWith("Evaluation"));
    expect(titles).toEqual(["all (6 items)", "pronoun_gender (4 items)", "subject_verb (2 items)", "verified (4 items)"]);
  });

  it("the 'all' table: exact rows, methods then baselines under a rule, best per column marked *", () => {
    const all = groupLines(text, "all (6 items)");
    expect(cellsOf(all[1]!)).toEqual([
      "method", "top-1", "rank", "ev>dis", "AUPRC", "comp@1", "comp@2", "suff@1", "suff@2", "AOPC comp", "AOPC suff", "flip@1", "flip@2", "ms/item",
    ]);
    expect(all[2]).toMatch(/^─+( {2}─+){13}$/);
    expect(cellsOf(all[3]!)).toEqual([
      "integrated_gradients:nSteps=8", "83.3%*", "1.50*", "75%*", "0.812*", "0.400*", "0.550", "0.100*", "0.050", "0.500*", "0.070", "50%*", "66.7%*", "41.3",
    ]);
    expect(cellsOf(all[4]!)).toEqual([
      "saliency+contrast_logits_diff", "50%", "2.00", "50%", "0.610", "0.300", "0.600*", "0.200", "-0.010*", "0.450", "0.060*", "25%", "50%", "3.46*",
    ]);
    expect(all[5]).toMatch(/^╌+( {2}╌+){13}$/);
    expect(cellsOf(all[6]!)).toEqual(["random (baseline)", "16.7%", "3.25", "25%", "0.350", "0.100", "0.200", "0.500", "0.400", "0.150", "0.450", "0%", "16.7%", "–"]);
    // The oracle is never emphasised, even where it ties or beats the best method.
    expect(cellsOf(all[7]!)).toEqual(["oracle (baseline)", "100%", "1.00", "100%", "1.000", "0.600", "0.700", "0.010", "0.000", "0.650", "0.010", "100%", "100%", "–"]);
    expect(all).toHaveLength(8);
    // Columns are right-aligned: every line of the table ends at the same column.
    expect(new Set(all.slice(1).map(displayWidth)).size).toBe(1);
  });

  it("a column without values in a group is dropped (subject_verb has no distractors); equal values are not emphasised", () => {
    const sv = groupLines(text, "subject_verb (2 items)");
    expect(cellsOf(sv[1]!)).not.toContain("ev>dis");
    expect(cellsOf(sv[1]!)).toHaveLength(13);
    const ig = cellsOf(sv[3]!);
    // flip@1 and flip@2 are 0% for every row but the oracle: nothing stands out.
    expect(ig.slice(-3)).toEqual(["0%", "0%", "41.3"]);
    expect(cellsOf(sv[6]!).slice(-3)).toEqual(["0%", "0%", "–"]);
  });

  it("a baseline that beats every method is emphasised (suff@2 in pronoun_gender ties saliency)", () => {
    const pg = groupLines(text, "pronoun_gender (4 items)");
    expect(cellsOf(pg[4]!)[8]).toBe("0.000*");
    expect(cellsOf(pg[7]!)[8]).toBe("0.000"); // oracle
  });

  it("without faithfulness: only the plausibility columns and ms/item", () => {
    const plain = formatEvaluationTable(sampleReport({ faithfulness: false }));
    for (const title of ["all (6 items)", "pronoun_gender (4 items)", "verified (4 items)"]) {
      expect(cellsOf(groupLines(plain, title)[1]!)).toEqual(["method", "top-1", "rank", "ev>dis", "AUPRC", "ms/item"]);
    }
    expect(cellsOf(groupLines(plain, "subject_verb (2 items)")[1]!)).toEqual(["method", "top-1", "rank", "AUPRC", "ms/item"]);
    expect(plain).not.toMatch(/comp@|suff@|AOPC comp|flip@/);
  });

  it("completeness (with its warning) and randomisation lines", () => {
    const lines = text.split("\n");
    const c = lines.findIndex((l) => l.startsWith("Completeness"));
    expect(lines[c + 1]).toBe("  integrated_gradients:nSteps=8  p50 0.031  p90 0.120  max 0.400  over 0.050: 33.3%");
    expect(lines[c + 2]).toBe("  warning: 33.3% of items have |delta| above 0.05 of |f(x) - f(baseline)|: raise nSteps (e.g. nSteps=64)");
    const r = lines.findIndex((l) => l.startsWith("Model randomisation"));
    expect(lines[r + 1]).toBe("  integrated_gradients:nSteps=8  top 1: 0.810  all blocks: 0.120  all + embeddings: -0.034");
    expect(lines.filter((l) => l.includes("saliency+contrast_logits_diff"))).toHaveLength(4); // only its table rows
    expect(text).toContain("* best per column (the oracle baseline excluded)");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("color: best cells bold (no *), baselines dimmed, the warning in yellow", () => {
    const colored = formatEvaluationTable(sampleReport(), { color: true });
    const all = groupLines(colored, "\x1b[1mall (6 items)");
    expect(all[3]).toContain("\x1b[1m83.3%\x1b[0m");
    expect(all[3]).toContain("   0.550"); // not the best: plain
    expect(all[6]).toMatch(/^\x1b\[2mrandom \(baseline\)/);
    expect(colored).not.toMatch(/\d\*/);
    expect(colored).not.toContain("* best per column");
    expect(colored).toContain("\x1b[33m  warning: 33.3% of items");
    // Without the escapes, the same text as the plain table less the stars.
    const stripped = colored.replace(/\x1b\[\d+m/g, "");
    expect(stripped.split("\n")[0]).toBe("Evaluation on grammar (6 items, 4 verified)");
  });

  it("width: tables wider than the width are split into column groups repeating the method column", () => {
    const narrow = formatEvaluationTable(sampleReport(), { width: 80 });
    for (const line of narrow.split("\n")) expect(displayWidth(line), line).toBeLessThanOrEqual(80);
    const all = groupLines(narrow, "all (6 items)");
    expect(all[1]).toBe("(columns top-1, rank, ev>dis, AUPRC, comp@1, comp@2)");
    expect(narrow).toContain("(columns suff@1, suff@2, AOPC comp, AOPC suff, flip@1)");
    expect(narrow).toContain("(columns flip@2, ms/item)");
    expect(narrow.split("\n").filter((l) => l.startsWith("integrated_gradients:nSteps=8  ")).length).toBe(4 * 3);
  });

  it("labels cannot send escape sequences to the terminal; bad options are refused", () => {
    const report = sampleReport();
    report.methods[0]!.label = "evil\x1b[2Jlabel";
    const t = formatEvaluationTable(report, { color: false });
    expect(t).not.toContain("\x1b");
    expect(t).toContain("evil\\x1b[2Jlabel");
    expectInseqError(() => formatEvaluationTable(sampleReport(), { width: 0 }), "ERR_INVALID_OPTION", /width/);
    expectInseqError(() => formatEvaluationTable(sampleReport(), { color: "yes" as never }), "ERR_INVALID_OPTION", /color/);
  });

  it("numbers: shares as percentages, probabilities with 3 decimals, ranks with 2, ms compactly, missing as –", () => {
    expect([0.8333, 1, 0, 0.005, 0.0004].map((v) => formatMetric(v, "share"))).toEqual(["83.3%", "100%", "0%", "0.5%", "0%"]);
    expect([0.2134, -0.04, -0.0001].map((v) => formatMetric(v, "probability"))).toEqual(["0.213", "-0.040", "0.000"]);
    expect(formatMetric(1.5, "rank")).toBe("1.50");
    expect([0.4231, 12.34, 1234.5].map((v) => formatMetric(v, "ms"))).toEqual(["0.42", "12.3", "1235"]);
    expect([null, NaN, Infinity, undefined].map((v) => formatMetric(v, "share"))).toEqual(["–", "–", "–", "–"]);
  });
});

/** Open tags not closed, or closed out of order, in an HTML string (void elements and comments ignored). */
function unbalancedTags(html: string): string[] {
  const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);
  const body = html.replace(/<!DOCTYPE[^>]*>/i, "").replace(/<!--[\s\S]*?-->/g, "").replace(/<style>[\s\S]*?<\/style>/g, "<style></style>");
  const stack: string[] = [];
  const problems: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, rawName, selfClosing] = m;
    const name = rawName!.toLowerCase();
    if (VOID.has(name) || selfClosing) continue;
    if (!closing) stack.push(name);
    else if (stack.at(-1) === name) stack.pop();
    else problems.push(`</${name}> while <${stack.at(-1) ?? "nothing"}> is open`);
  }
  return [...problems, ...stack.map((t) => `<${t}> not closed`)];
}

describe("HTML page", () => {
  const html = renderEvaluationHtml(sampleReport());

  it("is one self-contained, script-free document with balanced tags", () => {
    expect(html.startsWith("<!DOCTYPE html>\n<html lang=\"en\">")).toBe(true);
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\/|<link|\ssrc=|@import|url\(/);
    expect(html).not.toContain("<script");
    expect((html.match(/<style>/g) ?? []).length).toBe(1);
    expect(unbalancedTags(html)).toEqual([]);
  });

  it("one captioned table per group, then completeness and randomisation; header cells scoped", () => {
    const captions = [...html.matchAll(/<caption>([^<]*)<\/caption>/g)].map((m) => m[1]!.split(";")[0]);
    expect(captions).toEqual([
      "all (6 items)", "pronoun_gender (4 items)", "subject_verb (2 items)", "verified (4 items)",
      "|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)| over items",
      "Mean Spearman correlation with the trained model's attributions after randomising blocks from the top (1 = unchanged: the method ignores the weights)",
    ]);
    expect((html.match(/<table /g) ?? []).length).toBe(6);
    expect(html).not.toMatch(/<th>(?!<)/); // every header cell has a scope
    const all = html.slice(html.indexOf('data-group="all"'), html.indexOf("</table>", html.indexOf('data-group="all"')));
    expect(all).toContain("<td><strong>83.3%</strong></td>");
    expect(all).toContain("<td><strong>-0.010</strong></td>");
    expect(all).toContain('<tbody class="inseq-baselines">');
    expect(all).toMatch(/<tr><th scope="row"><span class="inseq-swatch inseq-baseline-fill" aria-hidden="true"><\/span>oracle \(baseline\)<\/th><td>100%<\/td>/);
    const sv = html.slice(html.indexOf('data-group="subject_verb"'), html.indexOf("</table>", html.indexOf('data-group="subject_verb"')));
    expect(sv).not.toContain(">ev&gt;dis<");
    expect(html).toContain('<span class="inseq-warning">33.3% of items have |delta| above 0.05');
  });

  it("a bar chart per metric of the 'all' group: methods in Okabe-Ito colours, baselines hatched, values as text and aria labels", () => {
    const charts = [...html.matchAll(/<figure class="inseq-chart" data-column="([^"]+)">/g)].map((m) => m[1]);
    expect(charts).toEqual(["top1", "rank", "evdis", "auprc", "comp@1", "comp@2", "suff@1", "suff@2", "aopc-comp", "aopc-suff", "flip@1", "flip@2", "ms"]);
    expect(html).toContain('aria-label="integrated_gradients:nSteps=8: top-1 83.3%"');
    expect(html).toMatch(/<span class="inseq-bar" style="left:0\.000%;width:83\.333%;background:#0072B2"><\/span>/);
    expect(html).toMatch(/<span class="inseq-bar" style="left:0\.000%;width:50\.000%;background:#E69F00"><\/span>/);
    expect(html).toMatch(/<span class="inseq-bar inseq-baseline-fill" style="left:0\.000%;width:16\.667%"><\/span>/);
    // suff@2 has a negative value: the axis starts below 0 and a zero line is drawn.
    const suff2 = html.slice(html.indexOf('data-column="suff@2"'), html.indexOf("</figure>", html.indexOf('data-column="suff@2"')));
    expect(suff2).toContain('class="inseq-bar-zero"');
    // ms/item has no bars for the baselines.
    const ms = html.slice(html.indexOf('data-column="ms"'), html.indexOf("</figure>", html.indexOf('data-column="ms"')));
    expect((ms.match(/class="inseq-bar-row"/g) ?? []).length).toBe(2);
  });

  it("escapes every string from the report", () => {
    const report = sampleReport();
    report.methods[1]!.label = "<script>alert(1)</script>";
    report.set.name = 'a"b<i>';
    report.methods[0]!.completeness!.warning = "<img onerror=x>";
    report.methods[0]!.randomization![0]!.randomized = "</td><td>";
    const evil = renderEvaluationHtml(report);
    expect(evil).not.toContain("<script");
    expect(evil).not.toContain("<img");
    expect(evil).not.toContain("<i>");
    expect(evil).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(evil).toContain('aria-label="&lt;script&gt;alert(1)&lt;/script&gt;: top-1 50%"');
    expect(evil).toContain("a&quot;b&lt;i&gt;");
    expect(unbalancedTags(evil)).toEqual([]);
  });

  it("without faithfulness: no faithfulness columns or charts", () => {
    const plain = renderEvaluationHtml(sampleReport({ faithfulness: false }));
    expect(plain).not.toMatch(/comp@|suff@|flip@|AOPC comp|AOPC suff/);
    expect([...plain.matchAll(/data-column="([^"]+)"/g)].map((m) => m[1])).toEqual(["top1", "rank", "evdis", "auprc", "ms"]);
    expect(unbalancedTags(plain)).toEqual([]);
  });
});

describe("JSON report", () => {
  it("round trip: saved atomically (no temporary file left) and read back equal", async () => {
    const file = path.join(tmp, "eval.json");
    const report = sampleReport();
    await saveEvaluationReport(report, file);
    expect(readdirSync(tmp).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(await loadEvaluationReport(file)).toEqual(report);
    expect(JSON.parse(readFileSync(file, "utf8")).format).toBe("inseq-evaluation/1");
  });

  it("NaN metrics are written as null and read back as NaN; evidenceOverDistractors keeps its null", async () => {
    const file = path.join(tmp, "nan.json");
    const report = sampleReport();
    report.methods[0]!.groups[0]!.plausibility.auprc = NaN;
    report.methods[0]!.groups[2]!.plausibility.evidenceOverDistractors = null;
    report.items = [{ id: "grammar:0:0", kind: "pronoun_gender", label: "saliency", wordScores: [0.1, 0.9], top1: true, evidenceRank: 1, pFull: 0.8 }];
    await saveEvaluationReport(report, file);
    const back = await loadEvaluationReport(file);
    expect(back.methods[0]!.groups[0]!.plausibility.auprc).toBeNaN();
    expect(back.methods[0]!.groups[2]!.plausibility.evidenceOverDistractors).toBeNull();
    expect(back).toEqual(report);
  });

  it("refuses files that are not evaluation reports, naming the problem", async () => {
    const write = (name: string, value: unknown) => {
      const file = path.join(tmp, name);
      writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
      return file;
    };
    const mutate = (fn: (r: any) => void) => {
      const r: any = sampleReport();
      fn(r);
      return r;
    };
    await expectInseqError(loadEvaluationReport(write("format.json", mutate((r) => (r.format = "inseq-evaluation/2")))), "ERR_BAD_DATASET", /format\.json is not an inseq evaluation report .*expected "inseq-evaluation\/1" at format but received "inseq-evaluation\/2"/);
    await expectInseqError(loadEvaluationReport(write("items.json", mutate((r) => delete r.methods[1].groups[0].items))), "ERR_BAD_DATASET", /at methods\[1\]\.groups\[0\]\.items but received undefined/);
    await expectInseqError(loadEvaluationReport(write("top1.json", mutate((r) => (r.methods[0].groups[3].plausibility.top1 = "high")))), "ERR_BAD_DATASET", /methods\[0\]\.groups\[3\]\.plausibility\.top1/);
    await expectInseqError(loadEvaluationReport(write("repl.json", mutate((r) => (r.replacement = "zero")))), "ERR_BAD_DATASET", /replacement/);
    await expectInseqError(loadEvaluationReport(write("comp.json", mutate((r) => (r.methods[0].groups[0].faithfulness.comprehensiveness["1"] = "x")))), "ERR_BAD_DATASET", /faithfulness\.comprehensiveness\.1/);
    await expectInseqError(loadEvaluationReport(write("array.json", [1, 2])), "ERR_BAD_DATASET", /expected an object at the top level/);
    await expectInseqError(loadEvaluationReport(write("text.json", "{not json")), "ERR_BAD_DATASET", /text\.json is not JSON/);
    await expectInseqError(loadEvaluationReport(path.join(tmp, "missing.json")), "ERR_NOT_FOUND", /missing\.json/);
    expect(existsSync(path.join(tmp, "missing.json"))).toBe(false);
  });

  it("parseEvaluationReport checks a parsed value (for reports that do not come from a file)", () => {
    const report: EvaluationReport = JSON.parse(JSON.stringify(sampleReport()));
    expect(parseEvaluationReport(report)).toEqual(sampleReport());
    expectInseqError(() => parseEvaluationReport({ format: "inseq-evaluation/1" }), "ERR_BAD_DATASET", /the evaluation report is not .* at set but received undefined/);
  });
});
