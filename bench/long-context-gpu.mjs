#!/usr/bin/env node
// Long contexts on one GPU (issue 12 item 5, run by scripts/gpu-check --long): a Llama-3.1-8B-shaped random bf16
// checkpoint (bench/make_random_llama.py, 16 GB, written on the GPU host), attention and saliency at 8,192 and
// 16,384 prompt tokens + 32 forced generated tokens: seconds and peak GPU memory, ours vs Python Inseq 0.7.1 on
// the same GPU and input (expected to run out of memory). Each configuration in its own process
// (bench/long-context-run.mjs, bench/inseq_long_context.py), after a warm-up call.
//   node bench/long-context-gpu.mjs [--dir D] [--shape 8b|tiny] [--methods attention,saliency] [--lengths 8192,16384]
//        [--gen 32] [--device cuda] [--no-python] [--max-seconds 300]
// --shape tiny --device cpu --lengths 64 --gen 2 rehearses it without a GPU. Rows also go to $OUT/long-context-gpu.jsonl.
import { appendFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";

import { root } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

const shape = arg("--shape", "8b");
const dir = arg("--dir", path.join(os.tmpdir(), `inseq-bench-llama-${shape}-random`));
const methods = arg("--methods", "attention,saliency").split(",");
const lengths = arg("--lengths", "8192,16384").split(",").map(Number);
const gen = arg("--gen", "32");
const device = arg("--device", "cuda");
const maxSeconds = Number(arg("--max-seconds", "300"));
const python = process.env.INSEQ_PYTHON ?? "python3";
const withPython = !process.argv.includes("--no-python") && spawnSync(python, ["-c", "import inseq"], { stdio: "ignore" }).status === 0;
const log = process.env.OUT ? path.join(process.env.OUT, "long-context-gpu.jsonl") : null;

// The checkpoint: written once with torch on the device (a directory that is complete is kept).
const made = spawnSync(python, [path.join(root, "bench/make_random_llama.py"), dir, "--shape", shape, "--device", device === "cpu" ? "cpu" : "cuda"],
  { stdio: "inherit" });
if (made.status !== 0) throw new Error(`make_random_llama.py failed (${made.status})`);

// One child: its last JSON line ({error} lines included), or what killed it.
function run(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", timeout: maxSeconds * 1000, maxBuffer: 1 << 26 });
  const line = (r.stdout ?? "").trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (line) return JSON.parse(line);
  const tail = (r.stderr ?? "").trim().split("\n").slice(-3).join(" | ");
  return { error: r.error?.code === "ETIMEDOUT" ? `timeout (${maxSeconds} s)` : /out of memory|OutOfMemory/i.test(tail) ? "out of memory" : `exit ${r.status ?? r.signal}`,
    message: tail.slice(0, 300), seconds: +((performance.now() - t0) / 1000).toFixed(1) };
}

const rows = [];
for (const method of methods) {
  for (const n of lengths) {
    const common = [method, String(n), "--gen", gen, "--dtype", "bfloat16", "--device", device, "--threads", "0"];
    const ours = run(process.execPath, [path.join(root, "bench/long-context-run.mjs"), ...common, "--dir", dir]);
    const py = withPython ? run(python, [path.join(root, "bench/inseq_long_context.py"), dir, method, String(n), "--gen", gen, "--dtype", "bfloat16", "--device", device, "--threads", "0"]) : null;
    const row = { method, promptTokens: n, gen: Number(gen), shape, device, ours, python: py };
    rows.push(row);
    if (log) appendFileSync(log, JSON.stringify(row) + "\n");
    const f = (r) => (!r ? "-" : r.error ? `${r.error}${r.gpuPeakMb ? ` (at ${r.gpuPeakMb} MB)` : ""}` : `${r.seconds} s, ${r.gpuPeakMb ?? r.attrPeakRssMb} MB`);
    console.log(`${method} ${n} + ${gen}: ours ${f(ours)} | python inseq ${f(py)}`);
  }
}
console.log(`\n| method | prompt + generated | ours: s | ours: peak MB (GPU on CUDA) | Python Inseq 0.7.1 |`);
console.log(`| --- | --- | --- | --- | --- |`);
for (const r of rows) {
  const o = r.ours;
  const mb = (x) => x.gpuPeakMb ?? x.attrPeakRssMb;  // GPU peak on CUDA; the process's RSS peak in CPU rehearsals
  const p = !r.python ? "not run" : r.python.error ? r.python.error : `${r.python.seconds} s, ${mb(r.python)} MB`;
  console.log(`| ${r.method} | ${r.promptTokens} + ${r.gen} | ${o.error ? o.error : o.seconds} | ${o.error ? "-" : mb(o) ?? "-"} | ${p} |`);
}
