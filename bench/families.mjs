#!/usr/bin/env node
// Issue 15's bench: the Pythia-160M and Gemma-2-2B shapes (random weights, bench/checkpoints.mjs) at 1 and 2
// LibTorch threads, each configuration in its own process, ours vs Python in the same run: greedy generation
// tokens/s (20-token prompt, 32 new tokens, batch 1) vs transformers' generate, and saliency seconds (20-token
// prompt + 20 forced tokens) vs Python Inseq 0.7.1. Prints figures and ratios, then one JSON line.
//   npm run build && node bench/families.mjs [--models pythia160m,gemma2b] [--threads 1,2] [--out bench/results/x.json]
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";

import { gemma2bRandom, pythia160mRandom, root, STORY } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

const models = arg("--models", "pythia160m,gemma2b").split(",");
const threadCounts = arg("--threads", "1,2").split(",").map(Number);
const python = process.env.INSEQ_PYTHON ?? "/opt/inseq-py/venv/bin/python";
const dirs = { pythia160m: pythia160mRandom, gemma2b: gemma2bRandom };
const run = (cmd, args, threads) => JSON.parse(execFileSync(cmd, args, {
  cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, OMP_NUM_THREADS: String(threads) },
}).trim().split("\n").at(-1));

const rows = [];
for (const model of models) {
  const dir = dirs[model]();
  for (const threads of threadCounts) {
    const gen = run(process.execPath, [path.join(root, "bench/generate-run.mjs"), model, String(threads)], threads);
    const hfGen = run(python, [path.join(root, "bench/hf_generate.py"), dir, String(threads), STORY], threads);
    const sal = run(process.execPath, [path.join(root, "bench/attribute-run.mjs"), "saliency", String(threads), "batched", "--model", model], threads);
    const pySal = run(python, [path.join(root, "bench/inseq_attribute.py"), dir, "saliency", String(threads), STORY], threads);
    const row = { model, threads, generate: { ours: gen, transformers: hfGen }, saliency: { ours: sal, pythonInseq: pySal } };
    rows.push(row);
    console.log(`${model.padEnd(11)} threads ${threads}  generate ${gen.tokensPerSecond} vs ${hfGen.tokensPerSecond} tok/s (${(gen.tokensPerSecond / hfGen.tokensPerSecond).toFixed(2)}x)` +
      `  saliency ${sal.seconds} s vs ${pySal.seconds} s (${(pySal.seconds / sal.seconds).toFixed(2)}x), peak RSS ${sal.peakRssMb} vs ${pySal.peakRssMb} MB`);
  }
}
const out = arg("--out", null);
if (out) writeFileSync(path.resolve(root, out), JSON.stringify({ date: new Date().toISOString(), rows }, null, 1) + "\n");
console.log(JSON.stringify(rows));
