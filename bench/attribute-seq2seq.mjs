#!/usr/bin/env node
// Encoder-decoder attribution cost per example on a Marian-base-shaped random checkpoint (opus-mt-*: 6 + 6 layers
// of 512, 8 heads, FFN 2048, shared vocab 58101; bench/checkpoints.mjs marianBaseRandom), 20 source tokens and
// 20 forced target tokens (both ending in </s>, 20 attributed steps): seconds per example (median of the timed
// repetitions after one warm-up) and peak RSS of the process, for the engine's default (batched) schedule, the
// Inseq-style per-step schedule run by the same binary, and Python Inseq 0.7.1 when a Python with inseq is found
// ($INSEQ_PYTHON or /opt/inseq-py/venv/bin/python). Every configuration runs in its own process.
//   npm run build && node bench/attribute-seq2seq.mjs [--methods saliency,attention] [--threads 1,2] [--reps 3]
//     [--max-seconds 30] [--wait-quiet 0] [--no-python] [--vocab 58101]
// --vocab N: the same model with an N-token vocabulary (diagnostic: how much of the time is the LM head).
// The CPU used by other processes is measured (in cores) for 1 s before each configuration and during it (all busy
// CPU time minus the child's own): on a shared machine a busy neighbour inflates the figures, multi-threaded ones
// most. --wait-quiet S waits up to S seconds for < 0.25 busy cores before each configuration.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { MARIAN_SOURCE, MARIAN_TARGET, marianBaseRandom, root } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

const methods = arg("--methods", "saliency,integrated_gradients,attention,value_zeroing").split(",");
const threadCounts = arg("--threads", "1,2").split(",").map(Number);
const reps = arg("--reps", "3");
const maxSeconds = arg("--max-seconds", "30");  // stop repeating once the timed calls of one configuration add up to this
const python = process.env.INSEQ_PYTHON ?? "/opt/inseq-py/venv/bin/python";
const withPython = !process.argv.includes("--no-python") && existsSync(python);
const waitQuiet = Number(arg("--wait-quiet", "0"));
const vocab = Number(arg("--vocab", "58101"));
const dir = marianBaseRandom(vocab);

const cpuTimes = () => {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: f.reduce((a, b) => a + b, 0) - f[3] - (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
};
/** Cores kept busy by other processes over the next second (we are idle meanwhile). */
const background = () => {
  if (!existsSync("/proc/stat")) return null;
  const a = cpuTimes();
  execFileSync("sleep", ["1"]);
  const b = cpuTimes();
  return +(((b.busy - a.busy) / Math.max(1, b.total - a.total)) * os.cpus().length).toFixed(2);
};
const quiet = () => {
  const until = performance.now() + waitQuiet * 1000;
  let bg = background();
  while (bg !== null && bg >= 0.25 && performance.now() < until) bg = background();
  return bg;
};

const run = (cmd, args) => {
  const bg = quiet();
  try {
    const [a, t0] = [cpuTimes(), performance.now()];
    const out = execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
    const [b, wall] = [cpuTimes(), (performance.now() - t0) / 1000];
    const r = JSON.parse(out.trim().split("\n").at(-1));
    // cores busy with other processes during the run: all busy CPU time minus the child's own, over the wall time
    const busy = ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * os.cpus().length * wall;
    const during = r.cpuSeconds !== undefined ? +Math.max(0, (busy - r.cpuSeconds) / wall).toFixed(2) : null;
    return { ...r, bg, bgDuring: during };
  } catch (e) {
    const msg = String(e.stderr ?? e.message).trim().split("\n").filter((l) => l.trim()).at(-1);
    return { error: msg };
  }
};
const ours = (method, threads, schedule) => run(process.execPath, [path.join(root, "bench/attribute-seq2seq-run.mjs"), method, String(threads), schedule, reps, maxSeconds, String(vocab)]);
const inseq = (method, threads) => run(python, [path.join(root, "bench/inseq_attribute_seq2seq.py"), dir, method, String(threads), reps, maxSeconds, MARIAN_SOURCE, MARIAN_TARGET]);

const started = performance.now();
const rows = [];
const f = (r) => (!r ? "-" : r.error ? "error" : `${r.seconds.toFixed(2)} s / ${r.peakRssMb} MB`);
const bgs = (...rs) => rs.filter((r) => r && !r.error && r.bg !== null).map((r) => `${r.bg.toFixed(1)}/${r.bgDuring?.toFixed(1) ?? "?"}`).join(" ");
const ratio = (r, base) => (r && !r.error && !base.error ? `${(r.seconds / base.seconds).toFixed(2)}x` : "-");
for (const threads of threadCounts) {
  for (const method of methods) {
    const batched = ours(method, threads, "batched");
    const perStep = ours(method, threads, "per_step");
    const py = withPython ? inseq(method, threads) : null;
    rows.push({ method, threads, batched, perStep, python: py });
    console.log(`${method.padEnd(22)} threads ${threads}  batched ${f(batched).padEnd(20)} per-step ${f(perStep).padEnd(20)} (${ratio(perStep, batched)})  python inseq ${f(py).padEnd(20)} (${ratio(py, batched)})  bg ${bgs(batched, perStep, py)}`);
    for (const r of [batched, perStep, py]) if (r?.error) console.log(`  error: ${r.error}`);
  }
}
const reps_ = (r) => (r && !r.error ? `${r.reps}` : "-");
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s; seconds = median of the timed repetitions (count in brackets), after one warm-up; MB = peak RSS of the process; bg = cores busy with other processes before/during each run (batched, per-step, Python), of ${os.cpus().length}\n`);
console.log("| method | threads | batched (default) | per-step | per-step / batched | Python Inseq 0.7.1 | Python / batched | bg |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const { method, threads, batched, perStep, python: py } of rows) {
  const cell = (r) => (r ? `${f(r)} (${reps_(r)})` : "-");
  console.log(`| ${method}${method === "integrated_gradients" ? " (50 steps)" : ""} | ${threads} | ${cell(batched)} | ${cell(perStep)} | ${ratio(perStep, batched)} | ${cell(py)} | ${ratio(py, batched)} | ${bgs(batched, perStep, py)} |`);
}
console.log(JSON.stringify(rows));
