#!/usr/bin/env node
// npm install hook. With a prebuilt addon for this platform (prebuilds/<platform>-<arch>/) nothing runs: no
// compiler, no download; LibTorch is found when the addon is first loaded (`npx inseq setup-torch` fetches it,
// `npx inseq doctor` says what was found). Without one (another platform, or a git checkout) the addon is built
// from source with cmake-js when a LibTorch with headers is around; a failed build does not fail the install.
"use strict";
const { existsSync } = require("node:fs");
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const prebuild = path.join(root, "prebuilds", `${process.platform}-${process.arch}`, "inseq.napi.node");
if (existsSync(prebuild) || existsSync(path.join(root, "build/Release/inseq.node"))) process.exit(0);
console.log(`inseq: no prebuilt addon for ${process.platform}-${process.arch}; building from source`);
const result = spawnSync(process.execPath, [path.join(__dirname, "cmake-js-as-node-gyp.cjs")], { cwd: root, stdio: "inherit" });
if (result.status !== 0) {
  console.warn("inseq: building the native addon failed. Get LibTorch with headers (npx inseq setup-torch --dev), " +
    "then run `npm run build:native` in the inseq package; `npx inseq doctor` shows what is found.");
}
