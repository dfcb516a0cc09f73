#!/usr/bin/env node
// npm install hook: use the shipped prebuild (prebuilds/<platform>-<arch>) when it loads; otherwise build
// the addon from source with cmake-js. A failed build does not fail the install: loading the addon later
// reports what is missing (see `npx inseq doctor`).
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
try {
  require(require("node-gyp-build").resolve(root));
  process.exit(0);
} catch (err) {
  console.log(`inseq: no loadable prebuilt addon (${String(err.message).split("\n")[0]}); building from source`);
}
const result = spawnSync(process.execPath, [path.join(__dirname, "cmake-js-as-node-gyp.cjs")], { cwd: root, stdio: "inherit" });
if (result.status !== 0) {
  console.warn("inseq: building the native addon failed; install LibTorch (Debian: apt-get install libtorch-dev libopenblas0-openmp) and run `npm run build:native` in the inseq package");
}
