/**
 * The HTML page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; never downloaded):
 * heatmap cells, NaN cells and colour signs in the DOM, the token view on hover, the sequence / view selectors,
 * and a screenshot whose red and blue pixels follow the data's sign pattern. Outputs are built by hand.
 * Skipped when Chromium is missing, except in CI (scripts/setup.sh installs it there). INSEQ_CHROMIUM overrides
 * the browser path; INSEQ_KEEP_SCREENSHOTS=dir keeps the PNGs.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { formatScore } from "../../lib/viz/heatmap.js";
import type { FeatureAttributionOutput } from "../../lib/results/attribution.js";
import type { ScoreTensor } from "../../lib/results/tensor.js";
import { BAND_COLS, BAND_ROWS, bandOutput, twoSequenceOutput } from "../fixtures/viz/outputs.js";
import { decodePng } from "../png.js";
import { tempDir } from "../helpers.js";

const CHROMIUM = process.env.INSEQ_CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium`);

type Rgba = [number, number, number, number];
function parseColor(css: string): Rgba {
  const m = /rgba?\(([^)]+)\)/.exec(css);
  if (!m) return [0, 0, 0, 0];
  const [r, g, b, a = 1] = m[1]!.split(",").map((x) => Number(x.trim()));
  return [r!, g!, b!, a];
}
/** "red" (Inseq's positive colour), "blue" (negative) or "none" (transparent) for a computed background. */
function sign(css: string): "red" | "blue" | "none" {
  const [r, g, b, a] = parseColor(css);
  if (a < 0.0005) return "none";
  if (r === 178 && g === 24 && b === 43) return "red";
  if (r === 33 && g === 102 && b === 172) return "blue";
  throw new Error(`unexpected colour ${css}`);
}
const expectedSign = (v: number) => (Number.isNaN(v) || v === 0 ? "none" : v > 0 ? "red" : "blue");
const at = (t: ScoreTensor, r: number, c: number) => t.data[r * t.shape[1]! + c]!;

describe.skipIf(!available)("HTML visualisation in headless Chromium", () => {
  let browser: Browser;
  const tmp = tempDir("viz-browser");
  const errors: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Writes the page to a file and opens it; records script errors and any non-file request. */
  async function openPage(html: string, name: string): Promise<Page> {
    const file = path.join(tmp, `${name}.html`);
    writeFileSync(file, html);
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1 });
    page.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && errors.push(`${name}: ${m.text()}`));
    page.on("request", (r) => !r.url().startsWith("file:") && requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    return page;
  }

  it("heatmaps: one cell per (attributed, generated) pair, NaN cells empty, red for positive and blue for negative", async () => {
    const out = twoSequenceOutput();
    const agg = out.aggregate();
    const page = await openPage(out.show({ format: "html" }), "cells");
    for (const [i, seq] of agg.sequenceAttributions.entries()) {
      for (const [field, t] of [["source", seq.sourceAttributions], ["target", seq.targetAttributions]] as const) {
        const id = `#inseq-${i}-${field}`;
        if (!t) {
          expect(await page.locator(id).count()).toBe(0);
          continue;
        }
        const cells = await page.locator(`${id} td.inseq-cell`).evaluateAll((tds) =>
          tds.map((td) => ({ text: td.textContent, bg: getComputedStyle(td).backgroundColor, row: (td.parentElement as HTMLTableRowElement).rowIndex })),
        );
        const [rows, cols] = t.shape as [number, number];
        expect(cells.length, id).toBe(rows * cols);
        cells.forEach((cell, k) => {
          const v = at(t, Math.floor(k / cols), k % cols);
          expect(cell.text, `${id} cell ${k}`).toBe(formatScore(v, 3));
          expect(sign(cell.bg), `${id} cell ${k} = ${v}`).toBe(expectedSign(v));
        });
        // Step scores follow as extra rows (not cells).
        expect(await page.locator(`${id} tr.inseq-step-score`).count()).toBe(Object.keys(seq.stepScores).length);
      }
    }
    await page.close();
  });

  it("token view: hovering a generated token colours the attributed tokens for that step and shows its step scores", async () => {
    const out = twoSequenceOutput();
    const agg = out.aggregate().sequenceAttributions[0]!;
    const page = await openPage(out.show({ format: "html" }), "hover");
    const view = page.locator("#inseq-0 .inseq-token-view");
    const backgrounds = (field: string) =>
      view.locator(`.inseq-token-line[data-field="${field}"] .inseq-tok`).evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    // Nothing coloured before hovering.
    expect((await backgrounds("source")).map(sign)).toEqual(["none", "none", "none"]);
    for (let step = 0; step < agg.nSteps; step++) {
      await view.locator(`.inseq-gen[data-step="${step}"]`).hover();
      const src = (await backgrounds("source")).map(sign);
      expect(src, `step ${step}`).toEqual([0, 1, 2].map((r) => expectedSign(at(agg.sourceAttributions!, r, step))));
      const tgt = (await backgrounds("target")).map(sign);
      expect(tgt, `step ${step}`).toEqual([0, 1, 2, 3].map((r) => expectedSign(at(agg.targetAttributions!, r, step))));
      expect(await view.locator(`.inseq-gen[data-step="${step}"]`).getAttribute("class")).toContain("inseq-active");
      const info = await view.locator(".inseq-step-info").textContent();
      expect(info).toContain(`step ${step}`);
      expect(info).toContain(`probability: ${agg.stepScores.probability![step]!.toFixed(3)}`);
    }
    // Exact colour of one token: same map as the heatmap cell.
    await view.locator('.inseq-gen[data-step="1"]').hover();
    const cellBg = await page.locator("#inseq-0-source td.inseq-cell").nth(1).evaluate((td) => getComputedStyle(td).backgroundColor);
    const tokBg = await view.locator('.inseq-token-line[data-field="source"] .inseq-tok').first().evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(tokBg).toBe(cellBg);
    // Leaving clears; clicking pins.
    await page.mouse.move(990, 890);
    expect((await backgrounds("source")).map(sign)).toEqual(["none", "none", "none"]);
    expect(await view.locator(".inseq-step-info").textContent()).toBe("");
    await view.locator('.inseq-gen[data-step="0"]').click();
    await page.mouse.move(990, 890);
    expect((await backgrounds("source")).map(sign)).toEqual([0, 1, 2].map((r) => expectedSign(at(agg.sourceAttributions!, r, 0))));
    // Decoder-only sequence: the prompt and earlier generated tokens are the attributed ones.
    const dec = out.aggregate().sequenceAttributions[1]!;
    const view1 = page.locator("#inseq-1 .inseq-token-view");
    await view1.locator('.inseq-gen[data-step="1"]').hover();
    const tgt1 = await view1.locator(".inseq-tok").evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    expect(tgt1.map(sign)).toEqual([0, 1, 2, 3].map((r) => expectedSign(at(dec.targetAttributions!, r, 1))));
    await page.close();
  });

  it("selectors switch between sequences and between the default aggregation and the raw view", async () => {
    const out = twoSequenceOutput();
    const page = await openPage(out.show({ format: "html" }), "select");
    const visible = async (sel: string) => page.locator(sel).isVisible();
    expect(await visible(".inseq-controls")).toBe(true);
    expect(await visible("#inseq-0")).toBe(true);
    expect(await visible("#inseq-1")).toBe(true);
    expect(await visible("#inseq-v1-0")).toBe(false);
    await page.selectOption(".inseq-select-sequence", "1");
    expect(await visible("#inseq-0")).toBe(false);
    expect(await visible("#inseq-1")).toBe(true);
    await page.selectOption(".inseq-select-view", "1");
    expect(await visible("#inseq-1")).toBe(false);
    expect(await visible("#inseq-v1-0")).toBe(false);
    expect(await visible("#inseq-v1-1")).toBe(true);
    // The raw view shows the stored scores.
    const raw = out.sequenceAttributions[1]!.targetAttributions!;
    const texts = await page.locator("#inseq-v1-1-target td.inseq-cell").allTextContents();
    expect(texts).toEqual(Array.from(raw.data, (v) => formatScore(v, 3)));
    await page.selectOption(".inseq-select-sequence", "all");
    expect(await visible("#inseq-v1-0")).toBe(true);
    await page.selectOption(".inseq-select-view", "0");
    expect(await visible("#inseq-0")).toBe(true);
    expect(await visible("#inseq-v1-0")).toBe(false);
    await page.close();
  });

  it("screenshot: red pixels where scores are positive, blue where negative", async () => {
    const out: FeatureAttributionOutput = bandOutput();
    const page = await openPage(out.show({ format: "html" }), "bands");
    const table = page.locator("#inseq-0-source table");
    const png = await table.screenshot();
    const keep = process.env.INSEQ_KEEP_SCREENSHOTS;
    if (keep) {
      mkdirSync(keep, { recursive: true });
      writeFileSync(path.join(keep, "viz-bands-table.png"), png);
      await page.screenshot({ path: path.join(keep, "viz-bands-page.png"), fullPage: true });
    }
    const img = decodePng(png);
    const box = (await table.boundingBox())!;
    expect(img.width).toBe(Math.round(box.width));
    const kind = (x: number, y: number): "red" | "blue" | "other" => {
      const o = (y * img.width + x) * 4;
      const [r, g, b] = [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
      if (r - b > 30 && r - g > 30) return "red";
      if (b - r > 30) return "blue";
      return "other";
    };
    let red = 0;
    let blue = 0;
    for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
      const k = kind(x, y);
      if (k === "red") red++;
      else if (k === "blue") blue++;
    }
    // Equal magnitudes, three positive and three negative rows: about as many red as blue pixels.
    expect(red).toBeGreaterThan(1000);
    expect(red / blue).toBeGreaterThan(0.85);
    expect(red / blue).toBeLessThan(1.15);
    // Row by row (the colour bands), cell by cell.
    const cells = await page.locator("#inseq-0-source td.inseq-cell").evaluateAll((tds) =>
      tds.map((td) => {
        const r = td.getBoundingClientRect();
        return { x: r.x, y: r.y, w: r.width, h: r.height };
      }),
    );
    expect(cells.length).toBe(BAND_ROWS * BAND_COLS);
    const scores = out.sequenceAttributions[0]!.sourceAttributions!;
    for (let row = 0; row < BAND_ROWS; row++) {
      let rowRed = 0;
      let rowBlue = 0;
      for (let col = 0; col < BAND_COLS; col++) {
        const c = cells[row * BAND_COLS + col]!;
        let cr = 0;
        let cb = 0;
        for (let y = Math.ceil(c.y - box.y + 1); y < Math.floor(c.y - box.y + c.h - 1); y++) {
          for (let x = Math.ceil(c.x - box.x + 1); x < Math.floor(c.x - box.x + c.w - 1); x++) {
            const k = kind(x, y);
            if (k === "red") cr++;
            else if (k === "blue") cb++;
          }
        }
        const positive = at(scores, row, col) > 0;
        // Most of the cell is its colour (the rest is the number's glyphs).
        expect(positive ? cr : cb, `cell ${row},${col}`).toBeGreaterThan(0.6 * c.w * c.h);
        expect(positive ? cb : cr, `cell ${row},${col}`).toBe(0);
        rowRed += cr;
        rowBlue += cb;
      }
      if (row < BAND_ROWS / 2) expect(rowBlue).toBe(0);
      else expect(rowRed).toBe(0);
      expect(rowRed + rowBlue).toBeGreaterThan(0);
    }
    // Above the first cell row (index and token headers) nothing is red or blue.
    const firstCellTop = Math.floor(cells[0]!.y - box.y);
    for (let y = 0; y < firstCellTop; y++) for (let x = 0; x < img.width; x++) expect(kind(x, y)).toBe("other");
    await page.close();
  });

  it("no script errors and no network requests", () => {
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });
});
