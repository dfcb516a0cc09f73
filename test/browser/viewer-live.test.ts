/**
 * The web viewer against a real `inseq serve` process (bundled default model) in headless Chromium: an
 * attribution run from the page with its progress reaching the end and the heatmap of the server's result; a
 * second method and a contrast target side by side on the same input and output; aggregation on the server;
 * the download is the result shown; Cancel stops a run and the server answers the next one; a server with a token
 * gets it from the page's token form. No console errors (but the browser's own 401 lines before the token is
 * given), no request off the server's origin. Needs dist/ built (`npm run build:ts`); the page is rebuilt here.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseOutputDocument } from "../../lib/results/inseq-json.js";
import type { OutputData } from "../../lib/results/types.js";
import { formatScore } from "../../lib/viz/heatmap.js";
import { tempDir } from "../helpers.js";
import { startServe, type ServeProcess } from "../helpers/serve-process.js";
import { buildViewer, CHROMIUM, chromiumAvailable, colourSign, expectedSign, openRecorded, type PageLog } from "./viewer-helpers.js";

const PROMPT = "the doctor said";
const TARGET = "the doctor said that he was angry";
const CONTRAST = "the doctor said that she was angry";

describe.skipIf(!chromiumAvailable)("web viewer, live mode (inseq serve)", () => {
  let browser: Browser;
  let server: ServeProcess;
  let page: Page;
  const tmp = tempDir("viewer-live");
  const log: PageLog = { errors: [], offOrigin: [] };

  beforeAll(async () => {
    buildViewer();
    server = await startServe([]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await openRecorded(browser, `${server.url}/`, (u) => u.startsWith(`${server.url}/`) || u.startsWith("data:"), log, "live");
    // Every progress value the bar shows, in order.
    await page.evaluate(() => {
      const w = window as unknown as { progress: Array<[number, number]> };
      w.progress = [];
      const bar = document.getElementById("progress")!;
      new MutationObserver(() => w.progress.push([Number(bar.getAttribute("aria-valuenow")), Number(bar.getAttribute("aria-valuemax"))])).observe(bar, {
        attributes: true,
        attributeFilter: ["aria-valuenow"],
      });
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** The server's stored result `id`, decoded. */
  async function serverResult(id: string): Promise<OutputData> {
    const res = await fetch(`${server.url}/v1/results/${id}`);
    expect(res.status).toBe(200);
    return parseOutputDocument(await res.text(), id);
  }

  /** The heatmap of pane `k` equals the server's result: cell texts and colour signs, token view tokens. */
  async function checkPane(k: number): Promise<{ id: string; data: OutputData }> {
    const id = (await page.locator(`#result-${k}`).getAttribute("data-result-id"))!;
    expect(id).toBeTruthy();
    const data = await serverResult(id);
    const seq = data.sequenceAttributions[0]!;
    const t = seq.targetAttributions!; // decoder-only: target attributions
    const cells = await page.locator(`#result-${k} table.heatmap[data-field="target"] td.cell`).evaluateAll((tds) =>
      tds.map((td) => ({ r: Number((td as HTMLElement).dataset.r), c: Number((td as HTMLElement).dataset.c), text: td.textContent, bg: getComputedStyle(td).backgroundColor })),
    );
    expect(cells.length).toBe(t.shape[0]! * t.shape[1]!);
    expect(cells.length).toBeGreaterThan(0);
    for (const cell of cells) {
      const v = t.data[cell.r * t.shape[1]! + cell.c]!;
      expect(cell.text).toBe(formatScore(v, 3));
      expect(colourSign(cell.bg), `${cell.r},${cell.c} = ${v}`).toBe(expectedSign(v));
    }
    const shown = await page.locator(`#result-${k} .token-line[data-field="target"] .tok`).allTextContents();
    expect(shown).toEqual(seq.target.map((x) => x.token));
    return { id, data };
  }

  it("is in live mode with the server's models and methods", async () => {
    await page.locator("#run-form").waitFor();
    expect(await page.locator("#mode").textContent()).toBe("live");
    expect(await page.locator("#model option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toContain("default");
    // Choosing a model loads it on the server.
    await page.locator("#model").selectOption("default");
    await page.locator("#model-status").filter({ hasText: "default loaded (decoder)" }).waitFor({ timeout: 60_000 });
    const models = await (await fetch(`${server.url}/v1/models`)).json();
    expect(models.models.find((m: { id: string }) => m.id === "default")?.loaded).toBe(true);
    expect(await page.locator("#model option:checked").textContent()).toBe("default (loaded)");
    const methods = await page.locator("#method-0 option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(methods).toEqual(expect.arrayContaining(["saliency", "integrated_gradients", "occlusion"]));
    // Method arguments come from /v1/methods: integrated_gradients has nSteps (default 50).
    await page.locator("#method-1").selectOption("integrated_gradients");
    expect(await page.locator("#arg-1-nSteps").getAttribute("placeholder")).toBe("50");
    expect(await page.locator("#aggregator option").allTextContents()).toContain("subwords");
  });

  it("runs an attribution from the page: progress reaches the end, then the heatmap of the server's result", async () => {
    await page.locator("#prompt").fill(PROMPT);
    await page.locator("#target").fill(TARGET);
    await page.locator("#method-0").selectOption("saliency");
    await page.locator("#run-0").click();
    await page.locator("#result-0").waitFor({ timeout: 60_000 });
    expect(await page.locator("#status").textContent()).toBe("done");
    const progress = await page.evaluate(() => (window as unknown as { progress: Array<[number, number]> }).progress);
    const last = progress.at(-1)!;
    expect(last[1]).toBeGreaterThan(0);
    expect(last[0]).toBe(last[1]); // reached the end
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
    const { data } = await checkPane(0);
    expect(data.info.attribution_method).toBe("saliency");
    expect(data.sequenceAttributions[0]!.target.length).toBeGreaterThan(PROMPT.split(" ").length);
  }, 120_000);

  it("compares a second method, then a contrast target, side by side on the same input and output", async () => {
    await page.locator("#method-1").selectOption("integrated_gradients");
    await page.locator("#arg-1-nSteps").fill("8");
    await page.locator("#run-1").click();
    await page.locator("#result-1").waitFor({ timeout: 60_000 });
    const a = await checkPane(0);
    let b = await checkPane(1);
    expect(b.data.info.attribution_method).toBe("integrated_gradients");
    expect(JSON.stringify(b.data.info.attribution_args)).toContain('"n_steps":8');
    expect(b.data.sequenceAttributions[0]!.target).toEqual(a.data.sequenceAttributions[0]!.target);
    expect(await page.locator("#result-1 h2").textContent()).toContain("integrated_gradients");
    const [pa, pb] = [(await page.locator("#pane-0").boundingBox())!, (await page.locator("#pane-1").boundingBox())!];
    expect(pb.x).toBeGreaterThan(pa.x + pa.width - 1);

    // The same method with a contrast target: contrast_prob_diff, other scores, same tokens.
    await page.locator("#method-1").selectOption("saliency");
    await page.locator("#contrast-1").fill(CONTRAST);
    await page.locator("#run-1").click();
    await page.waitForFunction((old) => document.getElementById("result-1")?.dataset.resultId !== old, b.id, { timeout: 60_000 });
    b = await checkPane(1);
    expect(b.data.info.attributed_fn).toBe("contrast_prob_diff");
    expect(b.data.sequenceAttributions[0]!.target).toEqual(a.data.sequenceAttributions[0]!.target);
    expect(Array.from(b.data.sequenceAttributions[0]!.targetAttributions!.data)).not.toEqual(Array.from(a.data.sequenceAttributions[0]!.targetAttributions!.data));
    expect(await page.locator("#result-1 h2").textContent()).toContain(`contrast ${JSON.stringify(CONTRAST)}`);
    await page.locator("#contrast-1").fill("");
  }, 180_000);

  it("aggregates both results on the server and redraws them from the new results", async () => {
    const before = [await page.locator("#result-0").getAttribute("data-result-id"), await page.locator("#result-1").getAttribute("data-result-id")];
    await page.locator("#aggregator").selectOption("subwords");
    await page.locator("#aggregate").click();
    await page.locator("#tools-status").filter({ hasText: "aggregated" }).waitFor({ timeout: 30_000 });
    for (const k of [0, 1]) {
      const { id } = await checkPane(k);
      expect(id).not.toBe(before[k]);
      expect(await page.locator(`#result-${k} h2`).textContent()).toContain("subwords");
    }
    expect(await page.locator("#error").textContent()).toBe("");

    // An aggregator with options: spans merges target tokens 1 and 2 into one row and column label.
    const tokensBefore = (await serverResult((await page.locator("#result-0").getAttribute("data-result-id"))!)).sequenceAttributions[0]!.target;
    await page.locator("#aggregate-options").fill("{not json");
    await page.locator("#aggregator").selectOption("spans");
    await page.locator("#aggregate").click();
    expect(await page.locator("#error").textContent()).toContain("Expected a JSON object for the aggregator options");
    await page.locator("#aggregate-options").fill('{"targetSpans": [[1, 3]]}');
    await page.locator("#aggregate").click();
    await page.locator("#result-0 h2").filter({ hasText: "spans" }).waitFor({ timeout: 30_000 });
    await page.locator("#result-1 h2").filter({ hasText: "spans" }).waitFor({ timeout: 30_000 });
    const { data } = await checkPane(0);
    expect(data.sequenceAttributions[0]!.target.length).toBe(tokensBefore.length - 1);
    expect(await page.locator("#error").textContent()).toBe("");
    await page.locator("#aggregate-options").fill("");
  }, 60_000);

  it("downloads the result shown as Inseq JSON", async () => {
    const id = (await page.locator("#result-0").getAttribute("data-result-id"))!;
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-0").click()]);
    expect(download.suggestedFilename()).toBe(`inseq-${id}.json`);
    const file = path.join(tmp, "download.json");
    await download.saveAs(file);
    const saved = parseOutputDocument(readFileSync(file, "utf8"), file);
    const shown = await page.locator('#result-0 .token-line[data-field="target"] .tok').allTextContents();
    expect(saved.sequenceAttributions[0]!.target.map((t) => t.token)).toEqual(shown);
    expect(saved).toEqual(await serverResult(id));
  });

  it("Cancel stops a running attribution; the next run still works", async () => {
    const before = await page.locator("#result-0").getAttribute("data-result-id");
    await page.locator("#method-0").selectOption("integrated_gradients");
    // A long job (512 integration steps over 40 generated tokens), cancelled once it reports progress.
    await page.locator("#arg-0-nSteps").fill("512");
    await page.locator("#target").fill("");
    await page.locator("#max-new-tokens").fill("40");
    await page.locator("#run-0").click();
    await page.locator("#cancel:not([disabled])").waitFor();
    await page.locator("#status").filter({ hasText: /^\d+ \/ \d+$/ }).waitFor({ timeout: 30_000 });
    const clicked = performance.now();
    await page.locator("#cancel").click();
    await page.locator("#status").filter({ hasText: "cancelled" }).waitFor({ timeout: 10_000 });
    // The server saw the client go and aborted the job.
    const aborted = await server.waitForLog((l) => l.msg === "job aborted: client disconnected", 10_000);
    expect(aborted.receivedAt - clicked).toBeLessThan(5_000);
    await page.locator("#target").fill(TARGET);
    await page.locator("#max-new-tokens").fill("");
    expect(await page.locator("#result-0").getAttribute("data-result-id")).toBe(before);
    expect(await page.locator("#error").textContent()).toBe("");
    await page.locator("#arg-0-nSteps").fill("4");
    await page.locator("#run-0").click();
    await page.waitForFunction((old) => document.getElementById("result-0")?.dataset.resultId !== old, before, { timeout: 60_000 });
    expect((await checkPane(0)).data.info.attribution_method).toBe("integrated_gradients");
  }, 120_000);

  it("keyboard only: Tab to the prompt, type, Tab to Run A, Enter", async () => {
    await page.locator("#run-form").waitFor();
    const before = (await page.locator("#result-0").count()) > 0 ? await page.locator("#result-0").getAttribute("data-result-id") : null;
    await page.locator("#method-0").selectOption("saliency");
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const activeId = () => page.evaluate(() => document.activeElement?.id ?? "");
    const tabTo = async (id: string) => {
      for (let i = 0; i < 60 && (await activeId()) !== id; i++) await page.keyboard.press("Tab");
      expect(await activeId()).toBe(id);
    };
    await tabTo("prompt");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("the teacher said");
    await tabTo("target"); // no forced target: generate
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await tabTo("run-0");
    await page.keyboard.press("Enter");
    await page.locator("#status").filter({ hasText: /^(done|failed)$/ }).waitFor({ timeout: 60_000 });
    expect(await page.locator('[role="alert"]').textContent()).toBe("");
    await page.locator("#result-0").waitFor();
    expect(await page.locator("#result-0").getAttribute("data-result-id")).not.toBe(before);
    const { data } = await checkPane(0);
    expect(data.info.attribution_method).toBe("saliency");
    expect(data.sequenceAttributions[0]!.target.map((t) => t.token).join(" ")).toContain("teacher");
  }, 60_000);

  it("no console errors and no request off the server's origin", () => {
    expect(log.errors).toEqual([]);
    expect(log.offOrigin).toEqual([]);
  });
});

describe.skipIf(!chromiumAvailable)("web viewer, live mode: a refused request", () => {
  let browser: Browser;
  let server: ServeProcess;
  const log: PageLog = { errors: [], offOrigin: [] };

  beforeAll(async () => {
    buildViewer();
    server = await startServe(["--max-n-steps", "16"]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the server's error (code and message) in the alert line and keeps the page usable", async () => {
    const page = await openRecorded(browser, `${server.url}/`, (u) => u.startsWith(`${server.url}/`) || u.startsWith("data:"), log, "refused");
    await page.locator("#run-form").waitFor();
    await page.locator("#prompt").fill(PROMPT);
    await page.locator("#max-new-tokens").fill("2");
    await page.locator("#method-0").selectOption("integrated_gradients");
    await page.locator("#arg-0-nSteps").fill("17");
    await page.locator("#run-0").click();
    await page.locator("#status").filter({ hasText: "failed" }).waitFor({ timeout: 30_000 });
    const alert = (await page.locator('[role="alert"]').textContent())!;
    expect(alert).toMatch(/^ERR_LIMIT: /);
    expect(alert).toContain("16");
    expect(await page.locator("#result-0").count()).toBe(0);
    await page.locator("#arg-0-nSteps").fill("16");
    await page.locator("#run-0").click();
    await page.locator("#result-0").waitFor({ timeout: 60_000 });
    expect(await page.locator('[role="alert"]').textContent()).toBe("");
    await page.close();
    // Only the browser's own line for the refused request.
    expect(log.errors.filter((e) => !/status of 413/.test(e))).toEqual([]);
    expect(log.offOrigin).toEqual([]);
  }, 120_000);
});

describe.skipIf(!chromiumAvailable)("web viewer, live mode with a token", () => {
  const TOKEN = `tok-${randomBytes(12).toString("hex")}`;
  let browser: Browser;
  let server: ServeProcess;
  const tmp = tempDir("viewer-token");
  const log: PageLog = { errors: [], offOrigin: [] };

  beforeAll(async () => {
    buildViewer();
    writeFileSync(path.join(tmp, "token"), `${TOKEN}\n`);
    server = await startServe(["--token-file", path.join(tmp, "token")]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("asks for the token, refuses a wrong one, then runs and downloads with the right one", async () => {
    const page = await openRecorded(browser, `${server.url}/`, (u) => u.startsWith(`${server.url}/`) || u.startsWith("data:"), log, "token");
    const authorizations: string[] = [];
    page.on("request", (r) => r.url().includes("/v1/") && authorizations.push(r.headers().authorization ?? ""));
    await page.locator("#token-form").waitFor();
    expect(await page.locator("#mode").textContent()).toBe("static");
    await page.locator("#token").fill("wrong");
    await page.keyboard.press("Enter");
    await page.locator("#token-status").filter({ hasText: "refused" }).waitFor();
    expect(await page.locator("#run-form").isVisible()).toBe(false);
    await page.locator("#token").fill(TOKEN);
    await page.keyboard.press("Enter");
    await page.locator("#run-form").waitFor();
    expect(await page.locator("#token-form").isVisible()).toBe(false);
    expect(await page.locator("#mode").textContent()).toBe("live");
    await page.locator("#prompt").fill(PROMPT);
    await page.locator("#max-new-tokens").fill("3");
    await page.locator("#run-0").click();
    await page.locator("#result-0").waitFor({ timeout: 60_000 });
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-0").click()]);
    const file = path.join(tmp, "download.json");
    await download.saveAs(file);
    const shown = await page.locator('#result-0 .token-line[data-field="target"] .tok').allTextContents();
    expect(parseOutputDocument(readFileSync(file, "utf8"), file).sequenceAttributions[0]!.target.map((t) => t.token)).toEqual(shown);
    // Every API call after the right token carries it.
    const last = authorizations.slice(authorizations.lastIndexOf("Bearer wrong") + 1);
    expect(last.length).toBeGreaterThanOrEqual(4); // methods, models, attribute, download
    expect(new Set(last)).toEqual(new Set([`Bearer ${TOKEN}`]));
    await page.close();
    // Only the browser's own lines for the refused calls.
    expect(log.errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    expect(log.errors.length).toBeGreaterThan(0);
    expect(log.offOrigin).toEqual([]);
  }, 120_000);
});
