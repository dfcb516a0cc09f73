#!/usr/bin/env node
// Stands in for node-gyp: prebuildify (and the binding.gyp shim) call `<node-gyp> rebuild ...`; we ignore
// node-gyp's arguments and run the one real build, cmake-js, which writes build/Release/inseq.node.
"use strict";
const { spawnSync } = require("node:child_process");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const cmakeJs = require.resolve("cmake-js/bin/cmake-js", { paths: [root] });
const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const result = spawnSync(process.execPath, [cmakeJs, "rebuild", "-p", jobs], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
