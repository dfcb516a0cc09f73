/**
 * The attribute-context HTML page (renderContextHtml) in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; never downloaded): no request leaves the file, no script error, the context-sensitive tokens in
 * green and the cues in blue, and clicking a token opens its cue map. Skipped when Chromium is missing, except in
 * CI. INSEQ_CHROMIUM overrides the browser path.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";

import { AttributeContextOutput } from "../../lib/context/output.js";
import { readJson, repoRoot, tempDir } from "../helpers.js";

const CHROMIUM = process.env.INSEQ_CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium`);

describe.skipIf(!available)("attribute-context page in headless Chromium", () => {
  let browser: Browser;
  let page: Page;
  const tmp = tempDir("context-browser");
  const errors: string[] = [];
  const requests: string[] = [];
  const out = AttributeContextOutput.fromDict(readJson(path.join(repoRoot, "test/fixtures/inseq-golden-context/gpt2_output_context.json")));

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
    const file = path.join(tmp, "ctx.html");
    writeFileSync(file, out.show({ format: "html" }));
    await page.goto(pathToFileURL(file).href);
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("loads without script errors or outside requests; only the first cue map is open", async () => {
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    const open = await page.evaluate(() => [...document.querySelectorAll("details.inseq-cci")].map((d) => (d as HTMLDetailsElement).open));
    expect(open).toEqual(out.cciScores.map((_, k) => k === 0));
  });

  it("paints context-sensitive tokens green and cues blue", async () => {
    const colors = await page.evaluate(() => ({
      cti: [...document.querySelectorAll(".inseq-cti")].map((e) => getComputedStyle(e).backgroundColor),
      cues: [...document.querySelectorAll("details.inseq-cci span.inseq-tok[style]")].map((e) => getComputedStyle(e).backgroundColor),
    }));
    expect(colors.cti.length).toBe(out.cciScores.length);
    for (const c of colors.cti) expect(c).toMatch(/^rgba?\(0, 170, 70/);
    expect(colors.cues.length).toBeGreaterThan(0);
    for (const c of colors.cues) expect(c).toMatch(/^rgba?\(30, 144, 255/);
  });

  it("opens the cue map of a clicked token", async () => {
    const last = out.cciScores.length - 1;
    await page.click(`.inseq-cti[href="#inseq-cci-${last}"]`);
    expect(await page.evaluate((k) => (document.getElementById(`inseq-cci-${k}`) as HTMLDetailsElement).open, last)).toBe(true);
  });
});
