#!/usr/bin/env node
// Copies the built addon, its LibTorch-free loader and its build facts into the layout lib/native/load.ts loads
// for consumers of the package: prebuilds/<platform>-<arch>/{inseq.napi.node, inseq-loader.napi.node,
// inseq.build.json} (stripped, no RPATH). Run after `npm run build:native`.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const release = path.join(root, "build/Release");
const files = [["inseq.node", "inseq.napi.node"], ["inseq-loader.node", "inseq-loader.napi.node"], ["inseq.build.json", "inseq.build.json"]];
for (const [from] of files) {
  if (!existsSync(path.join(release, from))) {
    console.error(`make-prebuild: ${path.join(release, from)} is missing; run npm run build:native first`);
    process.exit(1);
  }
}
const build = JSON.parse(readFileSync(path.join(release, "inseq.build.json"), "utf8"));
if (build.libtorchSoname !== "libtorch_cpu.so") {
  console.error(`make-prebuild: build/Release was built against ${build.builtAgainst} (${build.libtorchSoname}); prebuilds are built against the pinned LibTorch (npx inseq setup-torch --dev, then npm run build:native)`);
  process.exit(1);
}
const dir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
for (const [from, to] of files) {
  const dest = path.join(dir, to);
  copyFileSync(path.join(release, from), dest);
  if (dest.endsWith(".node") && spawnSync("strip", ["--strip-unneeded", dest], { stdio: "inherit" }).error) {
    console.warn("make-prebuild: strip not available; shipping unstripped");
  }
}
console.log(`make-prebuild: wrote ${path.relative(root, dir)} (LibTorch ${build.torch})`);
