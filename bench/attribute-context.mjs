#!/usr/bin/env node
// attribute-context (PECoRe) vs Python Inseq 0.7.1 in the same run: GPT-2-small shape (random weights, GPT-2's
// tokenizer), a 10-token input context + 10-token current input (20) and a forced 20-token output; CTI with
// kl_divergence, CCI with saliency on contrast_prob_diff (each selected token: one contextless greedy step for
// its alternative, one attribution). 1 and 2 threads, after a warm-up on each side.
//   npm run build && taskset -c 1 node bench/attribute-context.mjs [--threads 1,2] [--no-python]
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";

import { gpt2SmallRandom, root } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

// 10 + 10 + 20 tokens with GPT-2's tokenizer (the current input and the output start with a space).
const TEXTS = ["Once upon a time there was a little girl named", "Lily who loved to play outside in the big green",
  "park with her friends and her dog Max every single day after school because the sun was warm and the"];
const threadCounts = arg("--threads", "1,2").split(",").map(Number);
const python = process.env.INSEQ_PYTHON ?? "/opt/inseq-py/venv/bin/python";
const withPython = !process.argv.includes("--no-python") && existsSync(python);
const dir = gpt2SmallRandom();
const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1));

const rows = [];
for (const threads of threadCounts) {
  const ours = run(process.execPath, [path.join(root, "bench/attribute-context-run.mjs"), String(threads), ...TEXTS]);
  const py = withPython ? run(python, [path.join(root, "bench/inseq_attribute_context.py"), dir, String(threads), ...TEXTS]) : null;
  const ratio = py ? +(py.seconds / ours.seconds).toFixed(2) : null;
  rows.push({ threads, ours, python: py, ratio });
  console.log(`attribute-context ${threads} thr: ours ${ours.seconds} s (${ours.cciTokens} CCI)  python ${py?.seconds ?? "-"} s (${py?.cciTokens ?? "-"} CCI)  ${ratio ? ratio + "x" : ""}`);
}
const date = new Date().toISOString().slice(0, 10);
const file = path.join(root, `bench/results/attribute-context-${date}.json`);
writeFileSync(file, JSON.stringify({ date, checkpoint: "GPT-2-small shape, random weights", texts: TEXTS, rows }, null, 2) + "\n");
console.log(`wrote ${path.relative(root, file)}`);
