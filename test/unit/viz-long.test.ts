/**
 * Terminal rendering of long outputs: a 4,000-token map is paged (page 1 by default, with a line naming the page
 * count; `page` picks another block of rows x columns that fit the width), `topK` keeps the most attributed
 * tokens with their original indices, and small outputs are unchanged by the new options' defaults.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../lib/core/errors.js";
import { renderTerminal, displayWidth, MAX_UNPAGED_CELLS } from "../../lib/viz/terminal.js";
import { topKRows } from "../../lib/viz/heatmap.js";
import { formatScore } from "../../lib/viz/heatmap.js";
import { HOT_ROWS, longOutput } from "../fixtures/viz/long-output.js";
import { twoSequenceOutput } from "../fixtures/viz/outputs.js";

/** The body rows of a plain table: [row index, token, ...cells]. */
function bodyRows(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("│"))
    .map((l) => l.split("│").slice(1, -1).map((c) => c.trim()));
}

describe("terminal rendering of a 4,000-token map", () => {
  const n = 4000;
  const out = longOutput(n);
  const scores = out.sequenceAttributions[0]!.sourceAttributions!;

  it("is paged by default: page 1 fits the width, and says how many pages there are", () => {
    expect(n * n).toBeGreaterThan(MAX_UNPAGED_CELLS);
    const text = out.show({ aggregate: false, width: 100 });
    const lines = text.split("\n");
    expect(lines.length).toBeLessThan(60 * 2);
    for (const l of lines.filter((x) => /^[┏┃┡│├└]/.test(x))) expect(displayWidth(l)).toBeLessThanOrEqual(100);
    const m = /page 1 of (\d+) \((\d+) row blocks x (\d+) column groups\) shown/.exec(text);
    expect(m).not.toBeNull();
    const [pages, blocks, groups] = [Number(m![1]), Number(m![2]), Number(m![3])];
    expect(blocks).toBe(n / 40);
    expect(pages).toBe(blocks * groups);
    const rows = bodyRows(text);
    expect(rows.slice(0, 40).map((r) => r[0])).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
  });

  it("page N picks the block of rows and columns (across first, then down)", () => {
    const first = out.show({ aggregate: false, width: 100 });
    const groups = Number(/x (\d+) column groups/.exec(first)![1]);
    const perGroup = bodyRows(first)[0]!.length - 2;
    // page groups + 2: second row block (rows 40-79), second column group
    const text = out.show({ aggregate: false, width: 100, page: groups + 2 });
    expect(text).toContain(`(page ${groups + 2} of`);
    expect(text).not.toContain("shown; choose another");
    const rows = bodyRows(text).slice(0, 40);
    expect(rows[0]![0]).toBe("40");
    expect(rows[39]![0]).toBe("79");
    const col0 = perGroup; // the first column of the second group
    expect(rows[0]![2]).toBe(formatScore(scores.data[40 * n + col0]!, 2));
    const last = out.show({ aggregate: false, width: 100, page: (n / 40) * groups });
    expect(bodyRows(last).slice(-2)[0]![0]).toBe("3999");
    const err = (() => {
      try {
        out.show({ aggregate: false, width: 100, page: (n / 40) * groups + 1 });
      } catch (e) {
        return e as { code?: string; message: string };
      }
    })();
    expect(err?.code).toBe(ErrorCode.INVALID_OPTION);
    expect(err?.message).toContain(`a page from 1 to ${(n / 40) * groups}`);
  });

  it("topK keeps the most attributed source tokens, in order, with their indices", () => {
    expect(topKRows(scores, HOT_ROWS.length)).toEqual([...HOT_ROWS]);
    const text = out.show({ aggregate: false, width: 100, topK: 4 });
    expect(text).toContain("top 4 of 4000 rows by total |score|");
    const rows = bodyRows(text);
    expect(rows.slice(0, 4).map((r) => [r[0], r[1]])).toEqual(HOT_ROWS.map((r) => [String(r), `▁s${r}`]));
    expect(rows[1]![2]).toBe(formatScore(scores.data[1234 * n]!, 2));
    // 4 rows x 4000 columns is under MAX_UNPAGED_CELLS: every column group, no paging
    expect(text).not.toContain("page 1 of");
    expect(text).toContain("(top 4 of 4000 rows by total |score|, columns 0–");
  });

  it("bad paging options are ERR_INVALID_OPTION", () => {
    for (const opts of [{ page: 0 }, { topK: 1.5 }, { pageRows: -1 }]) {
      expect(() => renderTerminal(out, opts)).toThrow(/Expected a positive integer/);
    }
  });
});

describe("small outputs", () => {
  it("topK >= rows and no paging options leave the rendering unchanged; pageRows pages small maps too", () => {
    const out = twoSequenceOutput();
    const plain = out.show({ width: 60 });
    expect(out.show({ width: 60, topK: 10 })).toBe(plain);
    const paged = out.show({ pageRows: 2, page: 2 });
    expect(paged).toContain("(page 2 of 2: rows 2–2 of 3, columns 0–2 of 3)");
  });
});

describe("HTML of long outputs", () => {
  it("a 300-token map (90,000 cells) is a virtualised grid: its scores as a float32 blob, no table cells", () => {
    const out = longOutput(300);
    const t = out.sequenceAttributions[0]!.sourceAttributions!;
    const html = out.show({ format: "html", aggregate: false });
    expect(html).toContain('class="inseq-heatmap inseq-virtual" id="inseq-0-source"');
    expect(html).not.toContain('<td class="inseq-cell"');
    const blob = /<script type="application\/json" class="inseq-grid-data">(.*?)<\/script>/s.exec(html)![1]!;
    const data = JSON.parse(blob) as { rows: string[]; cols: string[]; scores: string; steps: Record<string, Array<number | null>> };
    expect(data.rows.length).toBe(300);
    expect(data.cols[0]).toBe("▁g0");
    const bytes = Buffer.from(data.scores, "base64");
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    expect(values).toEqual(t.data);
    expect(data.steps.probability![99]).toBeCloseTo(0.99, 6);
    // The token view refers to the blob instead of repeating the matrix.
    expect(html).toContain('"source":{"grid":"inseq-0-source"}');
    // O(cells) as data: under 6 bytes per cell plus the labels
    expect(html.length).toBeLessThan(300 * 300 * 6 + 200_000);
  });

  it("small pages are unchanged; virtualize: true / false force grids / tables", () => {
    const out = twoSequenceOutput();
    const page = out.show({ format: "html" });
    expect(page).toBe(out.show({ format: "html", virtualize: "auto" }));
    expect(page).not.toContain("inseq-virtual");
    expect(page).not.toContain("__inseqCell");
    const forced = out.show({ format: "html", virtualize: true, interactive: false });
    expect(forced).toContain("inseq-virtual");
    expect(forced).toContain("data-inseq-grid-ready"); // the grid script, even without the interactive one
    expect(forced).not.toContain("<table");
    const interactive = out.show({ format: "html", virtualize: true });
    expect(interactive).toContain("root.__inseqCell(m, r, step)"); // the token view reads the blobs
    expect(longOutput(300).show({ format: "html", aggregate: false, virtualize: false })).toContain('<td class="inseq-cell"');
    expect(() => out.show({ format: "html", virtualize: "yes" as never })).toThrow(/Expected true, false or "auto" for virtualize/);
  });
});
