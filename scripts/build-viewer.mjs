#!/usr/bin/env node
/**
 * Builds the web viewer into ONE self-contained file, dist/viewer/index.html (what `inseq serve` answers at `/`
 * and what opens from file:// on saved JSON): type-checks lib/viewer (its own tsconfig: DOM, no Node types),
 * bundles lib/viewer/main.ts with esbuild (browser, minified, one IIFE), and inlines the script and
 * lib/viewer/style.css into lib/viewer/page.html. Prints the size (bytes, gzip bytes). No external requests.
 *
 *   node scripts/build-viewer.mjs [--no-check]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "lib", "viewer");
const outFile = path.join(root, "dist", "viewer", "index.html");

if (!process.argv.includes("--no-check")) {
  execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(src, "tsconfig.json")], { stdio: "inherit" });
}

const result = await build({
  entryPoints: [path.join(src, "main.ts")],
  bundle: true,
  write: false,
  format: "iife",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
// Inside <script>, a "</script" in a string literal would end the element.
const script = result.outputFiles[0].text.replace(/<\/script/gi, "<\\/script");
const style = readFileSync(path.join(src, "style.css"), "utf8").replace(/\s*\n\s*/g, "\n").trim();
const page = readFileSync(path.join(src, "page.html"), "utf8");
if (!page.includes("/*STYLE*/") || !page.includes("/*SCRIPT*/")) throw new Error("lib/viewer/page.html lacks its /*STYLE*/ or /*SCRIPT*/ slot");
// Functions as replacements: the text is inserted as is ("$&" and friends in the script stay literal).
const html = page.replace("/*STYLE*/", () => style).replace("/*SCRIPT*/", () => script.trim());

mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, html);
const bytes = Buffer.byteLength(html);
const gzipBytes = gzipSync(html, { level: 9 }).length;
console.log(`dist/viewer/index.html: ${bytes} bytes, ${gzipBytes} bytes gzip`);
