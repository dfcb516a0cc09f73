/**
 * The web viewer as a static page (dist/viewer/index.html from file://, no server) in headless Chromium: a saved
 * Inseq JSON opened with the file picker and a .json.gz dropped on the page, drawn side by side; cell colours
 * follow the signs of the data; a screenshot's colour bands; the colour-blind-safe palette recolours the cells
 * and is remembered; keyboard navigation over the cells drives the token view; the download is the document
 * shown; the bundle stays under its size budget. No console errors, no request other than file://.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../../lib/index.js";
import { loadOutputSync } from "../../lib/results/io.js";
import type { ScoreTensor } from "../../lib/results/tensor.js";
import { formatScore } from "../../lib/viz/heatmap.js";
import { PALETTES } from "../../lib/viz/palette.js";
import { BAND_COLS, BAND_ROWS, bandOutput, twoSequenceOutput } from "../fixtures/viz/outputs.js";
import { tempDir, testDevice } from "../helpers.js";
import { decodePng } from "../png.js";
import { buildViewer, CHROMIUM, chromiumAvailable, colourSign, expectedSign, openRecorded, viewerFile, type PageLog } from "./viewer-helpers.js";

/** Budget of the self-contained page, gzip bytes (docs/viewer.md states the size). */
const GZIP_BUDGET = 60 * 1024;

const at = (t: ScoreTensor, r: number, c: number) => t.data[r * t.shape[1]! + c]!;

describe.skipIf(!chromiumAvailable)("web viewer, static mode (file://)", () => {
  let browser: Browser;
  const tmp = tempDir("viewer-static");
  const log: PageLog = { errors: [], offOrigin: [] };
  const open = (name: string) => openRecorded(browser, pathToFileURL(viewerFile).href, (u) => u.startsWith("file:") || u.startsWith("blob:"), log, name);

  beforeAll(async () => {
    buildViewer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("the page is one self-contained file under its size budget", () => {
    const html = readFileSync(viewerFile, "utf8");
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    // Inline script and style only: nothing to fetch.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|\bsrc="https?:|@import/i);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    expect(style).not.toMatch(/url\((?!data:)/);
    expect(gzipSync(html, { level: 9 }).length).toBeLessThan(GZIP_BUDGET);
  });

  /** Checks every heatmap cell of result `k` against `data`: count, text and colour sign. */
  async function checkCells(page: Page, k: number, file: string, palette = PALETTES.inseq): Promise<number> {
    const out = loadOutputSync(file);
    let checked = 0;
    for (const [i, seq] of out.sequenceAttributions.entries()) {
      for (const [field, t] of [["source", seq.sourceAttributions], ["target", seq.targetAttributions]] as const) {
        const table = page.locator(`#result-${k} .instance[data-sequence="${i}"] table.heatmap[data-field="${field}"]`);
        if (!t) {
          expect(await table.count()).toBe(0);
          continue;
        }
        const cells = await table.locator("td.cell").evaluateAll((tds) =>
          tds.map((td) => ({ r: Number((td as HTMLElement).dataset.r), c: Number((td as HTMLElement).dataset.c), text: td.textContent, bg: getComputedStyle(td).backgroundColor })),
        );
        expect(cells.length).toBe(t.shape[0]! * t.shape[1]!);
        for (const cell of cells) {
          const v = at(t, cell.r, cell.c);
          expect(cell.text, `${field} ${cell.r},${cell.c}`).toBe(formatScore(v, 3));
          expect(colourSign(cell.bg, palette), `${field} ${cell.r},${cell.c} = ${v}`).toBe(expectedSign(v));
          checked++;
        }
      }
    }
    return checked;
  }

  it("opens a saved JSON (file picker) and a .json.gz (drop) side by side; cell colours follow the data's signs", async () => {
    const agg = twoSequenceOutput().aggregate();
    const jsonFile = path.join(tmp, "two.json");
    agg.saveSync(jsonFile);
    const band = bandOutput();
    const gzFile = path.join(tmp, "band.json.gz");
    writeFileSync(gzFile, gzipSync(band.toJSONString()));

    const page = await open("open");
    expect(await page.locator("#mode").textContent()).toBe("static");
    expect(await page.locator("#run-form").isVisible()).toBe(false);
    await page.locator("#file").setInputFiles(jsonFile);
    await page.locator("#result-0").waitFor();
    expect(await page.locator("#result-0 h2").textContent()).toContain("two.json");
    expect(await page.locator("#result-0 .instance").count()).toBe(2);
    // NaN cells are blank: the target heatmap of sequence 0 has NaN above the prefix.
    expect(await page.locator("#result-0 td.cell.nan").count()).toBeGreaterThan(0);
    expect(await checkCells(page, 0, jsonFile)).toBe(3 * 3 + 4 * 3 + 4 * 2);

    // A gzip file dropped on the page, into pane B.
    await page.locator("#open-into").selectOption("1");
    const bytes = readFileSync(gzFile).toString("base64");
    await page.evaluate((b64) => {
      const bin = atob(b64);
      const data = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([data], "band.json.gz", { type: "application/gzip" }));
      document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await page.locator("#result-1").waitFor();
    expect(await checkCells(page, 1, gzFile)).toBe(BAND_ROWS * BAND_COLS);
    const [a, b] = [(await page.locator("#pane-0").boundingBox())!, (await page.locator("#pane-1").boundingBox())!];
    expect(b.x).toBeGreaterThan(a.x + a.width - 1); // side by side
    expect(Math.abs(b.y - a.y)).toBeLessThan(2);
    await page.close();
  });

  it("a result of the bundled default model (saved by the library as .json.gz) with its tokens, scores and signs", async () => {
    const model = await loadModel("default", { device: testDevice });
    const file = path.join(tmp, "default-model.json.gz");
    try {
      const out = await model.attribute("the doctor said", { method: "attn_lrp", stepScores: ["probability"], generationArgs: { maxNewTokens: 4 } });
      await out.save(file, { compress: true });
    } finally {
      await model.dispose();
    }
    expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const saved = loadOutputSync(file);
    const seq = saved.sequenceAttributions[0]!;
    const page = await open("default-model");
    await page.locator("#file").setInputFiles(file);
    await page.locator("#result-0").waitFor();
    const t = seq.targetAttributions!;
    expect(await checkCells(page, 0, file)).toBe(t.shape[0]! * t.shape[1]!);
    // AttnLRP relevances are signed: both colours appear.
    const signs = new Set(Array.from(t.data).filter((v) => !Number.isNaN(v)).map(expectedSign));
    expect(signs).toEqual(new Set(["positive", "negative"]));
    expect(await page.locator('#result-0 .token-line[data-field="target"] .tok').allTextContents()).toEqual(seq.target.map((x) => x.token));
    expect(await page.locator('#result-0 tr.step-score th').nth(1).textContent()).toBe("probability");
    expect(await page.locator("#result-0 h2").textContent()).toContain("attn_lrp");
    await page.close();
  }, 60_000);

  /** Counts pixels per class in a screenshot of each cell of the band heatmap. */
  async function bandPixels(page: Page, classify: (r: number, g: number, b: number) => "positive" | "negative" | "other") {
    const table = page.locator("#result-0 table.heatmap");
    const png = decodePng(await table.screenshot());
    const box = (await table.boundingBox())!;
    const cells = await table.locator("td.cell").evaluateAll((tds) => tds.map((td) => {
      const r = td.getBoundingClientRect();
      return { x: r.x, y: r.y, w: r.width, h: r.height };
    }));
    return cells.map((c) => {
      const n = { positive: 0, negative: 0, other: 0, area: c.w * c.h };
      for (let y = Math.ceil(c.y - box.y + 1); y < Math.floor(c.y - box.y + c.h - 1); y++) {
        for (let x = Math.ceil(c.x - box.x + 1); x < Math.floor(c.x - box.x + c.w - 1); x++) {
          const o = (y * png.width + x) * 4;
          n[classify(png.data[o]!, png.data[o + 1]!, png.data[o + 2]!)]++;
        }
      }
      return n;
    });
  }

  it("screenshot: colour bands follow the data; the colour-blind-safe palette recolours them and is remembered", async () => {
    const band = bandOutput();
    const file = path.join(tmp, "band.json");
    band.saveSync(file);
    const scores = band.sequenceAttributions[0]!.sourceAttributions!;
    const page = await open("palette");
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.locator("#file").setInputFiles(file);
    await page.locator("#result-0").waitFor();

    // Inseq's red (positive) / blue (negative).
    const redBlue = (r: number, g: number, b: number) => (r - b > 30 && r - g > 30 ? "positive" : b - r > 30 ? "negative" : "other");
    const cells = await bandPixels(page, redBlue);
    expect(cells.length).toBe(BAND_ROWS * BAND_COLS);
    cells.forEach((n, i) => {
      const positive = at(scores, Math.floor(i / BAND_COLS), i % BAND_COLS) > 0;
      expect(positive ? n.positive : n.negative, `cell ${i}`).toBeGreaterThan(0.6 * n.area);
      expect(positive ? n.negative : n.positive, `cell ${i}`).toBe(0);
    });

    // Orange (positive) / purple (negative): no cell stays red or blue.
    await page.locator("#palette").selectOption("orange-purple");
    expect(await checkCells(page, 0, file, PALETTES["orange-purple"])).toBe(BAND_ROWS * BAND_COLS);
    const orangePurple = (r: number, g: number, b: number) => (r - b > 60 && g > b ? "positive" : b - g > 30 && r > g ? "negative" : "other");
    const recoloured = await bandPixels(page, orangePurple);
    recoloured.forEach((n, i) => {
      const positive = at(scores, Math.floor(i / BAND_COLS), i % BAND_COLS) > 0;
      expect(positive ? n.positive : n.negative, `cell ${i}`).toBeGreaterThan(0.6 * n.area);
      expect(positive ? n.negative : n.positive, `cell ${i}`).toBe(0);
    });
    const legend = await page.locator("#result-0 .legend-bar").evaluate((e) => getComputedStyle(e).backgroundImage);
    expect(legend).toContain("230, 97, 1");

    // Remembered: a new load starts with the chosen palette.
    await page.reload();
    expect(await page.locator("#palette").inputValue()).toBe("orange-purple");
    await page.locator("#file").setInputFiles(file);
    await page.locator("#result-0").waitFor();
    expect(await checkCells(page, 0, file, PALETTES["orange-purple"])).toBe(BAND_ROWS * BAND_COLS);
    await page.evaluate(() => localStorage.clear());
    await page.close();
  });

  it("keyboard: Tab reaches the heatmap, arrow keys move between cells (one tab stop), the token view follows", async () => {
    const agg = twoSequenceOutput().aggregate();
    const file = path.join(tmp, "keys.json");
    agg.saveSync(file);
    const seq = agg.sequenceAttributions[0]!;
    const page = await open("keys");
    await page.locator("#file").setInputFiles(file);
    await page.locator("#result-0").waitFor();
    const active = () => page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      return { tag: e.tagName, r: e.dataset.r, c: e.dataset.c, field: e.closest("table")?.dataset.field, seq: e.closest(".instance")?.getAttribute("data-sequence") };
    });
    // Every control before the heatmap is reachable; the first cell is the heatmap's one tab stop.
    let presses = 0;
    while ((await active()).tag !== "TD" && presses < 30) {
      await page.keyboard.press("Tab");
      presses++;
    }
    expect(await active()).toEqual({ tag: "TD", r: "0", c: "0", field: "source", seq: "0" });
    expect(await page.locator('#result-0 .instance[data-sequence="0"] table[data-field="source"] td.cell[tabindex="0"]').count()).toBe(1);
    const info = page.locator('#result-0 .instance[data-sequence="0"] .step-info');
    expect(await info.textContent()).toContain(`step 0 (${JSON.stringify(seq.target[seq.attrPosStart]!.token)})`);

    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowDown");
    expect(await active()).toMatchObject({ r: "1", c: "1", field: "source" });
    const cells = page.locator('#result-0 .instance[data-sequence="0"] table[data-field="source"] td.cell');
    expect(await cells.evaluateAll((tds) => tds.filter((td) => (td as HTMLElement).tabIndex === 0).map((td) => `${(td as HTMLElement).dataset.r},${(td as HTMLElement).dataset.c}`))).toEqual(["1,1"]);
    const text = await info.textContent();
    expect(text).toContain(`step 1 (${JSON.stringify(seq.target[seq.attrPosStart + 1]!.token)})`);
    expect(text).toContain(`source token 1 ${JSON.stringify(seq.source[1]!.token)}: ${formatScore(at(seq.sourceAttributions!, 1, 1), 3)}`);
    expect(text).toContain(`probability: ${formatScore(seq.stepScores.probability![1]!, 3)}`);
    // The token view colours the source tokens by step 1's column and marks the generated token.
    const toks = await page.locator('#result-0 .instance[data-sequence="0"] .token-line[data-field="source"] .tok').evaluateAll((ss) => ss.map((s) => getComputedStyle(s).backgroundColor));
    toks.forEach((bg, r) => expect(colourSign(bg), `source token ${r}`).toBe(expectedSign(at(seq.sourceAttributions!, r, 1))));
    expect(await page.locator('#result-0 .instance[data-sequence="0"] .token-line[data-field="target"] .tok.active').getAttribute("data-row")).toBe(String(seq.attrPosStart + 1));
    // End / Home stay on the row; Tab leaves the heatmap for the next one.
    await page.keyboard.press("End");
    expect(await active()).toMatchObject({ r: "1", c: String(seq.sourceAttributions!.shape[1]! - 1) });
    await page.keyboard.press("Home");
    expect(await active()).toMatchObject({ r: "1", c: "0" });
    await page.keyboard.press("Tab");
    expect(await active()).toMatchObject({ tag: "TD", field: "target", seq: "0" });
    // Hovering a cell, or a generated token of the token view, shows that step too.
    await page.locator('#result-0 .instance[data-sequence="0"] table[data-field="target"] td.cell[data-r="0"][data-c="2"]').hover();
    expect(await info.textContent()).toContain(`step 2 (${JSON.stringify(seq.target[seq.attrPosStart + 2]!.token)}) · target token 0`);
    await page.locator(`#result-0 .instance[data-sequence="0"] .token-line[data-field="target"] .tok[data-row="${seq.attrPosStart}"]`).hover();
    const hovered = (await info.textContent())!;
    expect(hovered.startsWith(`step 0 (${JSON.stringify(seq.target[seq.attrPosStart]!.token)}) · `)).toBe(true);
    expect(hovered).not.toContain("token 0"); // a step, no cell
    await page.locator(`#result-0 .instance[data-sequence="0"] td.cell[data-r="1"][data-c="0"]`).first().focus();
    // A visible focus ring.
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe("none");
    await page.close();
  });

  it("download: the document shown, as JSON (a Blob, no server)", async () => {
    const agg = twoSequenceOutput().aggregate();
    const file = path.join(tmp, "dl.json");
    agg.saveSync(file);
    const page = await open("download");
    await page.locator("#file").setInputFiles(file);
    await page.locator("#result-0").waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-0").click()]);
    const saved = path.join(tmp, "downloaded.json");
    await download.saveAs(saved);
    const back = loadOutputSync(saved);
    const shown = await page.locator('#result-0 .instance[data-sequence="0"] .token-line[data-field="source"] .tok').allTextContents();
    expect(shown).toEqual(back.sequenceAttributions[0]!.source.map((t) => t.token));
    expect(readFileSync(saved, "utf8")).toBe(readFileSync(file, "utf8"));
    await page.close();
  });

  it("no console errors and no request other than file:// and blob:", () => {
    expect(log.errors).toEqual([]);
    expect(log.offOrigin).toEqual([]);
  });
});
