#!/usr/bin/env node
// Copies the built addon into the prebuildify layout that node-gyp-build loads for consumers of the
// package: prebuilds/<platform>-<arch>/inseq.napi.node (stripped). Run after `npm run build:native`.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const built = path.join(root, "build/Release/inseq.node");
if (!existsSync(built)) {
  console.error(`make-prebuild: ${built} is missing; run npm run build:native first`);
  process.exit(1);
}
const dir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
const dest = path.join(dir, "inseq.napi.node");
copyFileSync(built, dest);
const strip = spawnSync("strip", ["--strip-unneeded", dest], { stdio: "inherit" });
if (strip.error) console.warn("make-prebuild: strip not available; shipping unstripped");
console.log(`make-prebuild: wrote ${path.relative(root, dest)}`);
