/**
 * What the viewer's browser tests share: Chromium (Debian's, driven by playwright-core; the CI rule of
 * viz-browser.test.ts), the page built fresh from lib/viewer, a page that records script errors, console errors
 * and requests that leave the allowed origin, and the colour of a computed background.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { PALETTES, type Palette } from "../../lib/viz/palette.js";
import { repoRoot } from "../helpers.js";

export const CHROMIUM = process.env.INSEQ_CHROMIUM ?? "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);
if (!chromiumAvailable && process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium`);

export const viewerFile = path.join(repoRoot, "dist", "viewer", "index.html");

/** Builds dist/viewer/index.html from the current sources (esbuild; the type check is `npm run build:ts`'s). */
export function buildViewer(): string {
  return execFileSync(process.execPath, [path.join(repoRoot, "scripts", "build-viewer.mjs"), "--no-check"], { encoding: "utf8" });
}

/** Script errors, console errors and off-origin requests seen by the pages opened with `openRecorded`. */
export interface PageLog {
  errors: string[];
  offOrigin: string[];
}

export async function openRecorded(browser: Browser, url: string, allowed: (url: string) => boolean, log: PageLog, name: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1, acceptDownloads: true });
  page.on("pageerror", (e) => log.errors.push(`${name}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && log.errors.push(`${name}: ${m.text()}`));
  page.on("request", (r) => !allowed(r.url()) && log.offOrigin.push(`${name}: ${r.url()}`));
  await page.goto(url);
  return page;
}

export type Rgba = [number, number, number, number];
export function parseColor(css: string): Rgba {
  const m = /rgba?\(([^)]+)\)/.exec(css);
  if (!m) return [0, 0, 0, 0];
  const [r, g, b, a = 1] = m[1]!.split(",").map((x) => Number(x.trim()));
  return [r!, g!, b!, a];
}

/** "positive", "negative" or "none" (transparent) for a computed background in `palette`; throws on other colours. */
export function colourSign(css: string, palette: Palette = PALETTES.inseq): "positive" | "negative" | "none" {
  const [r, g, b, a] = parseColor(css);
  if (a < 0.0005) return "none";
  const is = (c: readonly number[]) => c[0] === r && c[1] === g && c[2] === b;
  if (is(palette.positive)) return "positive";
  if (is(palette.negative)) return "negative";
  throw new Error(`unexpected colour ${css} for palette ${palette.id}`);
}

export const expectedSign = (v: number) => (Number.isNaN(v) || v === 0 ? "none" : v > 0 ? "positive" : "negative");
