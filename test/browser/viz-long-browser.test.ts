/**
 * A 4,000-token map's HTML page in headless Chromium (Debian's /usr/bin/chromium via playwright-core; skipped
 * when missing, except in CI): the file holds the scores as data (O(cells) bytes, no per-cell markup), the DOM
 * stays bounded (only the cells in view), scrolling draws other cells with the right values and colours, and
 * the token view reads its scores from the same data.
 */
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { formatScore, scalePosition } from "../../lib/viz/heatmap.js";
import { cellBackground } from "../../lib/viz/html.js";
import { HOT_ROWS, longOutput } from "../fixtures/viz/long-output.js";
import { tempDir } from "../helpers.js";

const CHROMIUM = process.env.INSEQ_CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium`);

const N = 4000;
function sign(css: string): "red" | "blue" | "none" {
  const m = /rgba?\(([^)]+)\)/.exec(css);
  const [r, g, b, a = 1] = m ? m[1]!.split(",").map((x) => Number(x.trim())) : [0, 0, 0, 0];
  if (a! < 0.0005) return "none";
  if (r === 178 && g === 24 && b === 43) return "red";
  if (r === 33 && g === 102 && b === 172) return "blue";
  throw new Error(`unexpected colour ${css}`);
}

describe.skipIf(!available)("a 4,000-token HTML page in headless Chromium", () => {
  let browser: Browser;
  let page: Page;
  const tmp = tempDir("viz-long-browser");
  const errors: string[] = [];
  const out = longOutput(N);
  const t = out.sequenceAttributions[0]!.sourceAttributions!;
  const at = (r: number, c: number) => t.data[r * N + c]!;
  let bytes = 0;
  const maxAbs = t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  /** The colour the static table would give (transparent when the alpha rounds to 0 in 8 bits, as Chromium's). */
  const expectedSign = (v: number) => {
    const pos = scalePosition(v, [-maxAbs, maxAbs]);
    if (pos === null) return "none";
    const css = cellBackground(pos);
    return Math.round(Number(/([\d.]+)\)$/.exec(css)![1]) * 255) === 0 ? "none" : sign(css);
  };

  beforeAll(async () => {
    const file = path.join(tmp, "long.html");
    writeFileSync(file, out.show({ format: "html", aggregate: false }));
    bytes = statSync(file).size;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1 });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(pathToFileURL(file).href, { timeout: 60_000 });
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** The drawn score cells: row, column, text and background. */
  const drawn = () =>
    page.locator("#inseq-0-source .inseq-vcell").evaluateAll((els) =>
      els.map((e) => ({ r: Number(e.getAttribute("data-r")), c: Number(e.getAttribute("data-c")), text: e.textContent, bg: getComputedStyle(e).backgroundColor })),
    );

  it("the file holds the scores as data: about 5.3 bytes per cell, no table cells", async () => {
    console.log(`4000x4000 HTML page: ${(bytes / 2 ** 20).toFixed(1)} MiB (${(bytes / (N * N)).toFixed(2)} bytes per cell)`);
    expect(bytes).toBeLessThan(N * N * 6);
    expect(await page.locator("td.inseq-cell").count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it("the DOM holds only the cells in view, with the right values and colours", async () => {
    const total = await page.evaluate(() => document.querySelectorAll("*").length);
    const cells = await drawn();
    console.log(`DOM elements: ${total}, drawn score cells: ${cells.length}`);
    expect(total).toBeLessThan(20_000); // 8,001 token spans + the drawn cells; a table would be 16M cells
    expect(cells.length).toBeGreaterThan(100);
    expect(cells.length).toBeLessThan(2_000);
    expect(Math.min(...cells.map((c) => c.r))).toBe(0);
    for (const cell of cells) {
      expect(cell.text, `cell ${cell.r},${cell.c}`).toBe(formatScore(at(cell.r, cell.c), 3));
      expect(sign(cell.bg), `cell ${cell.r},${cell.c}`).toBe(expectedSign(at(cell.r, cell.c)));
    }
  });

  it("scrolling draws other cells (the last rows and columns) and drops the first ones", async () => {
    await page.locator("#inseq-0-source .inseq-grid").evaluate((vp) => {
      vp.scrollTop = vp.scrollHeight;
      vp.scrollLeft = vp.scrollWidth;
    });
    await page.waitForFunction(() => document.querySelector('#inseq-0-source .inseq-vcell[data-r="3999"][data-c="3999"]') !== null);
    const cells = await drawn();
    expect(cells.length).toBeLessThan(2_000);
    expect(cells.some((c) => c.r === 0 || c.c === 0)).toBe(false);
    for (const cell of cells) expect(cell.text, `cell ${cell.r},${cell.c}`).toBe(formatScore(at(cell.r, cell.c), 3));
    // Pinned headers show the columns and rows in view.
    const heads = await page.locator("#inseq-0-source .inseq-vhead").allTextContents();
    expect(heads).toContain(`3999▁g3999`);
    // The step-score row (probability) comes after the last attributed row.
    const steps = await page.locator('#inseq-0-source .inseq-vstep[data-c="3999"]').allTextContents();
    expect(steps).toEqual([formatScore(0.99, 3)]);
  });

  it("the token view colours the source tokens from the same data", async () => {
    const view = page.locator("#inseq-0 .inseq-token-view");
    const step = 5;
    await view.locator(`.inseq-gen[data-step="${step}"]`).hover();
    for (const r of [0, HOT_ROWS[0], 100, HOT_ROWS[1]]) {
      const bg = await view.locator(`.inseq-token-line[data-field="source"] .inseq-tok[data-row="${r}"]`).evaluate((e) => getComputedStyle(e).backgroundColor);
      expect(sign(bg), `row ${r}`).toBe(expectedSign(at(r, step)));
    }
    expect(errors).toEqual([]);
  });
});
