#!/usr/bin/env node
// The methods issue 14 added (SIG, DIG, ReAGent) vs Python Inseq 0.7.1 on the GPT-2-small shape (12 x 768, vocab
// 50257, random weights, GPT-2's tokenizer), 20-token prompt + 20 forced tokens, at 1 and 2 threads, same run.
// Each configuration runs in its own process (bench/attribute-run.mjs, bench/inseq_attribute.py) with the same
// method arguments (bench/inseq07-configs.mjs; SIG's attributed steps from --steps, default 4 of 20). DIG's and
// ReAGent's one-off costs (the kNN graph, the part-of-speech table) are paid by a warm-up run on both sides and not
// timed.
//   npm run build && taskset -c 1 node bench/inseq07-methods.mjs [--methods sig,dig,reagent] [--threads 1,2] [--no-python]
//   -> a table on stdout and bench/results/inseq07-methods-<date>.json
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { gpt2SmallRandom, root, STORY } from "./checkpoints.mjs";
import { arg } from "./args.mjs";
import { INSEQ07_METHODS, runFlags } from "./inseq07-configs.mjs";

const CONFIGS = { ...INSEQ07_METHODS, sig: { ...INSEQ07_METHODS.sig, steps: Number(arg("--steps", "4")) } };
const names = arg("--methods", "sig,dig,reagent").split(",");
const threadCounts = arg("--threads", "1,2").split(",").map(Number);
const python = process.env.INSEQ_PYTHON ?? "/opt/inseq-py/venv/bin/python";
const withPython = !process.argv.includes("--no-python") && existsSync(python);
const timeoutS = Number(arg("--timeout", "900"));
const dir = gpt2SmallRandom();

/** The last stdout line as JSON, or { error } (a timeout or a failure is reported, not fatal). */
function run(cmd, args) {
  try {
    const out = execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: timeoutS * 1000 });
    return JSON.parse(out.trim().split("\n").at(-1));
  } catch (err) {
    return { error: err.signal === "SIGTERM" ? `stopped at ${timeoutS} s` : String(err.message).split("\n")[0] };
  }
}

const rows = [];
const date = new Date().toISOString().slice(0, 10);
mkdirSync(path.join(root, "bench/results"), { recursive: true });
const file = path.join(root, arg("--out", `bench/results/inseq07-methods-${date}.json`));
const save = () => writeFileSync(file, JSON.stringify({ date, checkpoint: "GPT-2-small shape, random weights", prompt: 20, forced: 20, rows }, null, 2) + "\n");
for (const threads of threadCounts) {
  for (const name of names) {
    const c = CONFIGS[name];
    if (!c) throw new Error(`unknown method ${name}: ${Object.keys(CONFIGS).join(", ")}`);
    const common = [...runFlags(c), "--warmup"];
    const ours = run(process.execPath, [path.join(root, "bench/attribute-run.mjs"), c.method, String(threads), "batched", ...common]);
    const py = withPython ? run(python, [path.join(root, "bench/inseq_attribute.py"), dir, c.method, String(threads), STORY, ...common]) : null;
    const ratio = ours.seconds && py?.seconds ? +(py.seconds / ours.seconds).toFixed(2) : null;
    rows.push({ method: c.method, args: c.args, steps: c.steps ?? 20, threads, ours, python: py, ratio });
    console.log(`${c.method.padEnd(34)} ${threads} thr  ours ${ours.seconds ?? ours.error} s  python ${py ? py.seconds ?? py.error : "-"} s  ${ratio ? ratio + "x" : ""}`);
    save(); // after every row: an interrupted run keeps what it measured
  }
}
console.log(`wrote ${path.relative(root, file)}`);
