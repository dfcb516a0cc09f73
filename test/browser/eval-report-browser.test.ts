/**
 * The evaluation report page (renderEvaluationHtml) in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; never downloaded): no request leaves the file, no script error, the tables and charts as laid
 * out (bar lengths follow the values, baselines hatched, methods in the Okabe-Ito colours), and the keyboard
 * reaches only the scroll regions of wide tables. Skipped when Chromium is missing, except in CI. INSEQ_CHROMIUM
 * overrides the browser path.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";

import { renderEvaluationHtml } from "../../lib/evaluation/report-html.js";
import { sampleReport } from "../fixtures/evaluation/report.js";
import { tempDir } from "../helpers.js";

const CHROMIUM = process.env.INSEQ_CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium`);

describe.skipIf(!available)("evaluation report page in headless Chromium", () => {
  let browser: Browser;
  let page: Page;
  const tmp = tempDir("eval-report-browser");
  const errors: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const report = sampleReport();
    report.methods[1]!.label = "<script>window.__pwned = 1</script>";
    const file = path.join(tmp, "eval.html");
    writeFileSync(file, renderEvaluationHtml(report));
    page = await browser.newPage({ viewport: { width: 900, height: 800 }, deviceScaleFactor: 1 });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("request", (r) => !r.url().startsWith("file:") && requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("loads offline, without errors; the label with a script tag is text", async () => {
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator("table[data-group='all'] tbody th").allTextContents()).toEqual([
      "integrated_gradients:nSteps=8", "<script>window.__pwned = 1</script>", "random (baseline)", "oracle (baseline)",
    ]);
  });

  it("tables: one per group with its caption; the best cells bold", async () => {
    expect(await page.locator("table.inseq-eval caption").count()).toBe(6);
    const bold = await page.locator("table[data-group='all'] tbody:not(.inseq-baselines) tr:first-child td").evaluateAll((tds) =>
      tds.map((td) => Number(getComputedStyle(td.querySelector("strong") ?? td).fontWeight) >= 700),
    );
    // top-1, rank, ev>dis, AUPRC, comp@1, comp@2, suff@1, suff@2, AOPC comp, AOPC suff, flip@1, flip@2, ms/item
    expect(bold).toEqual([true, true, true, true, true, false, true, false, true, false, true, true, false]);
  });

  it("bars: lengths follow the values, methods in Okabe-Ito colours, baselines hatched grey", async () => {
    const bars = await page.locator("figure[data-column='top1'] .inseq-bar-track").evaluateAll((tracks) =>
      tracks.map((t) => {
        const bar = t.querySelector(".inseq-bar") as HTMLElement;
        const style = getComputedStyle(bar);
        return {
          share: bar.getBoundingClientRect().width / t.getBoundingClientRect().width,
          color: style.backgroundColor,
          image: style.backgroundImage,
          label: t.getAttribute("aria-label"),
        };
      }),
    );
    expect(bars.map((b) => b.share.toFixed(2))).toEqual(["0.83", "0.50", "0.17", "1.00"]);
    expect(bars[0]!.color).toBe("rgb(0, 114, 178)");
    expect(bars[1]!.color).toBe("rgb(230, 159, 0)");
    for (const b of bars.slice(2)) expect(b.image).toMatch(/^repeating-linear-gradient/);
    expect(bars[2]!.label).toBe("random (baseline): top-1 16.7%");
  });

  it("the keyboard reaches only the scroll regions of the group tables", async () => {
    const focused: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press("Tab");
      focused.push(await page.evaluate(() => `${document.activeElement?.tagName}:${document.activeElement?.getAttribute("aria-label")}`));
    }
    expect(focused).toEqual([
      "DIV:results for all", "DIV:results for pronoun_gender", "DIV:results for subject_verb", "DIV:results for verified", "BODY:null",
    ]);
  });
});
