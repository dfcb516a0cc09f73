#!/usr/bin/env node
// Long-context benchmark (issue 12, item 4): ours vs Python Inseq 0.7.1 on a Llama-3.2-1B-shaped random bf16
// checkpoint, one process per (method, prompt length, implementation), each under a memory cap (20 GiB,
// bench/memory-cap.mjs), pinned to one core with 1 thread. Every finished row is appended at once to a JSON-lines
// file, so an interrupted run keeps what it measured (--resume skips those rows). Then prints the figures and a
// scaling table (bench/long-context-report.mjs).
//   node bench/long-context.mjs [--methods saliency,attention] [--lengths 512,2048] [--layers 16] [--gen 16]
//        [--threads 1] [--cpu 1] [--max-seconds S] [--max-seconds-python S] [--cap-gb 20] [--no-python] [--resume]
//        [--out file.jsonl]
//        [--model llama1b|tiny] [--memory-budget bytes|auto] [--python-attn sdpa] [--report]
// Default plan: saliency and attention at 512, 2048, 8192; occlusion at 512, 2048; integrated_gradients (16
// steps) at 512. --lengths replaces every method's lengths. --report only prints the tables of --out.
// --python-attn sdpa: a diagnostic, Python with SDPA attention instead of the "eager" that Inseq 0.7.1 sets.
// Python is $INSEQ_PYTHON or /opt/inseq-py/venv/bin/python.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { llama1bRandom, llamaTinyRandom, root } from "./checkpoints.mjs";
import { report } from "./long-context-report.mjs";
import { runCapped } from "./memory-cap.mjs";
import { arg } from "./args.mjs";

const has = (name) => process.argv.includes(name);
const PLAN = { saliency: [512, 2048, 8192], attention: [512, 2048, 8192], occlusion: [512, 2048], integrated_gradients: [512] };
const methods = arg("--methods", Object.keys(PLAN).join(",")).split(",");
for (const m of methods) if (!PLAN[m]) throw new Error(`unknown method ${m} (${Object.keys(PLAN).join(", ")})`);
const lengths = arg("--lengths", null)?.split(",").map(Number);
const modelName = arg("--model", "llama1b");
const layers = Number(arg("--layers", modelName === "tiny" ? "2" : "16"));
const gen = Number(arg("--gen", "16"));
const threads = Number(arg("--threads", "1"));
// taskset core list ("" = not pinned): core 1 for one thread (as the other benchmarks' 1-thread runs), cores 0.. for more.
const cpu = arg("--cpu", threads > 1 ? `0-${threads - 1}` : "1");
// Per child, wall time (start-up, load and warm-up included); 0 = none. Python's occlusion re-runs the whole
// prefix for every occluded token of every step (days at 2,048 tokens and 16 layers), hence a limit of its own.
const maxSeconds = Number(arg("--max-seconds", "0"));
const maxSecondsPython = Number(arg("--max-seconds-python", String(maxSeconds)));
const capBytes = Number(arg("--cap-gb", "20")) * 2 ** 30;
const budget = arg("--memory-budget", null);
const pythonAttn = arg("--python-attn", "eager");  // Inseq 0.7.1's own choice
const python = process.env.INSEQ_PYTHON ?? "/opt/inseq-py/venv/bin/python";
const withPython = !has("--no-python");
if (withPython && !existsSync(python)) throw new Error(`no Python at ${python} (set INSEQ_PYTHON, or pass --no-python)`);
const date = new Date().toISOString().slice(0, 10);
const out = path.resolve(arg("--out", path.join(root, "bench", "results", `long-context-${date}.jsonl`)));
mkdirSync(path.dirname(out), { recursive: true });

// A row's identity: --resume skips a configuration whose row (any status) is already in the file.
const config = { model: modelName, layers, gen, threads };
const key = (r) => [r.impl, r.method, r.promptTokens, r.model, r.layers, r.gen, r.threads, r.impl === "ours" ? "" : r.pythonAttn ?? "eager"].join("|");
const readRows = () => (existsSync(out) ? readFileSync(out, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)) : []);

if (!has("--report")) {
  // Written here, before any timed child, so no child pays for (or races on) writing the checkpoint.
  const dir = { llama1b: llama1bRandom, tiny: llamaTinyRandom }[modelName]({ layers });
  const done = new Set(has("--resume") ? readRows().map(key) : []);
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads), TOKENIZERS_PARALLELISM: "false" };
  const common = ["--gen", String(gen), "--threads", String(threads), "--layers", String(layers), "--model", modelName];
  for (const method of methods) {
    for (const n of lengths ?? PLAN[method]) {
      const impls = [["ours", process.execPath, [path.join(root, "bench/long-context-run.mjs"), method, String(n), ...common, ...(budget ? ["--memory-budget", budget] : [])]]];
      if (withPython) impls.push(["python-inseq-0.7.1", python, [path.join(root, "bench/inseq_long_context.py"), dir, method, String(n), ...common, "--attn", pythonAttn]]);
      for (const [impl, cmd, args] of impls) {
        const row0 = { impl, method, promptTokens: n, ...config, ...(impl === "ours" ? {} : { pythonAttn }) };
        if (done.has(key(row0))) { console.error(`skip (in ${path.basename(out)}): ${impl} ${method} ${n}`); continue; }
        console.error(`${new Date().toISOString().slice(11, 19)} ${impl} ${method} ${n} tokens + ${gen}, ${layers} layers ...`);
        const r = await runCapped(cmd, args, { limit: capBytes, timeoutS: impl === "ours" ? maxSeconds : maxSecondsPython, cpu, env, cwd: root });
        let result = null;
        try { result = JSON.parse(r.stdout.trim().split("\n").at(-1)); } catch { /* no JSON line: failed / killed */ }
        const row = {
          ...row0, ...(result ?? {}), ...row0, status: r.status === "ok" && !result ? "failed" : r.status, capMechanism: r.mechanism,
          capGb: capBytes / 2 ** 30, wallSeconds: +r.wallSeconds.toFixed(1), sampledPeakMb: r.sampledPeakMb, date: new Date().toISOString(),
          ...(r.status !== "ok" || !result ? { exit: r.code, signal: r.signal, stderrTail: r.stderr.slice(-1500) } : {}),
        };
        appendFileSync(out, JSON.stringify(row) + "\n");
        console.error(`  -> ${row.status}${row.seconds !== undefined ? `: ${row.seconds} s, peak ${row.peakRssMb} MB (+${row.extraMb} MB)` : ""} [${r.mechanism}]`);
      }
    }
  }
}
const mine = (r) => r.model === modelName && r.layers === layers && r.gen === gen && r.threads === threads && (r.impl === "ours" || (r.pythonAttn ?? "eager") === pythonAttn);
console.log(report(readRows().filter(mine), { out }));
