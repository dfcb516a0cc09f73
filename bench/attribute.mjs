#!/usr/bin/env node
// Attribution cost per example on a GPT-2-small-shaped random checkpoint (12 x 768, vocab 50257, GPT-2's
// tokenizer), 20-token prompt + 20 forced tokens: seconds and peak RSS per method at 1 and 2 LibTorch threads,
// for this engine, for the Inseq-style per-step schedule run by the same binary, and for Python Inseq 0.7.1
// (when a Python with inseq is found: $INSEQ_PYTHON or /opt/inseq-py/venv/bin/python). Prints figures and ratios.
//   npm run build && node bench/attribute.mjs [--methods saliency,occlusion] [--threads 1,2] [--no-python]
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

import { gpt2SmallRandom, root, STORY } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

const methods = arg("--methods", "saliency,input_x_gradient,integrated_gradients,occlusion,attention").split(",");
const threadCounts = arg("--threads", "1,2").split(",").map(Number);
const python = process.env.INSEQ_PYTHON ?? "/opt/inseq-py/venv/bin/python";
const withPython = !process.argv.includes("--no-python") && existsSync(python);
const dir = gpt2SmallRandom();

const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1));
const rows = [];
for (const threads of threadCounts) {
  for (const method of methods) {
    const ours = run(process.execPath, [path.join(root, "bench/attribute-run.mjs"), method, String(threads), "batched"]);
    const perStep = method === "attention" ? null : run(process.execPath, [path.join(root, "bench/attribute-run.mjs"), method, String(threads), "per_step"]);
    const py = withPython ? run(python, [path.join(root, "bench/inseq_attribute.py"), dir, method, String(threads), STORY]) : null;
    const row = { method, threads, ours, perStep, python: py };
    rows.push(row);
    const f = (r) => (r ? `${r.seconds.toFixed(2)} s / ${r.peakRssMb} MB` : "-");
    const ratio = (r) => (r ? `${(r.seconds / ours.seconds).toFixed(1)}x` : "-");
    console.log(`${method.padEnd(22)} threads ${threads}  ours ${f(ours).padEnd(20)} per-step ${f(perStep).padEnd(20)} (${ratio(perStep)})  python inseq ${f(py).padEnd(20)} (${ratio(py)})`);
  }
}
console.log(JSON.stringify(rows));
