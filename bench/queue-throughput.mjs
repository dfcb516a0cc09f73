#!/usr/bin/env node
// Queue throughput: `attribute-dataset --queue` over WinoMT rows (all 3,888 of en.txt by default; saliency, the
// bundled default model, 12 new tokens) with 1 worker pinned to core 0 (`taskset -c 0`), then 2 workers pinned to
// cores 0 and 1, OMP_NUM_THREADS=1 each, against a redis-server of its own on a loopback port. Reports rows/s
// (producer start to its last record, the workers' model loads included) and the 2-worker / 1-worker ratio
// (target >= 1.7 on a quiet machine with two free cores; the producer and Redis are not pinned and use about a
// tenth of a core). Writes bench/results/queue-throughput-<date>.json with the load average at the end. Needs
// /usr/bin/redis-server, taskset and the built dist/.
//   node bench/queue-throughput.mjs [--rows 3888] [--new-tokens 12] [--job-rows 16]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { arg } from "./args.mjs";

const rows = Number(arg("--rows", 3888));
const newTokens = Number(arg("--new-tokens", 12));
const jobRows = Number(arg("--job-rows", 16));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist/cli/index.js");
const winomt = path.resolve(root, "../shared/fixtures/winomt/en.txt");
const env = { ...process.env, OMP_NUM_THREADS: "1" };

const freePort = () =>
  new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

/** Spawns a command; resolves `ready` once stderr contains `readyText`. */
function start(cmd, args, readyText) {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  child.stdout.resume();
  const exited = new Promise((resolve) => child.on("close", (code) => resolve(code)));
  const ready = !readyText ? Promise.resolve() : new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (err.includes(readyText)) {
        clearInterval(t);
        resolve();
      }
      if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(`${cmd} ${args.join(" ")} exited: ${err}`));
      }
    }, 10);
  });
  return { child, exited, ready, stderr: () => err };
}

const port = await freePort();
const redis = spawn("/usr/bin/redis-server", ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--daemonize", "no"], { stdio: "ignore" });
const url = `redis://127.0.0.1:${port}`;
await new Promise((r) => setTimeout(r, 300));
const dir = mkdtempSync(path.join(os.tmpdir(), "inseq-bench-queue-"));

async function measure(cores) {
  const queueName = `bench-${cores.length}`;
  const workers = cores.map((c) => start("taskset", ["-c", String(c), process.execPath, cli, "worker", "--queue", url, "--queue-name", queueName, "--device", "cpu"], "waiting for jobs"));
  await Promise.all(workers.map((w) => w.ready));
  const t0 = performance.now();
  const producer = start(process.execPath, [
    cli, "attribute-dataset", "--dataset", winomt, "--no-header", "--column-names", "gender,index,sentence,noun", "--input-text-field", "sentence",
    "--dataset-split", `train[:${rows}]`, "--model", "default", "--attribution-method", "saliency", "--generation-kwargs", JSON.stringify({ max_new_tokens: newTokens }),
    "--queue", url, "--queue-name", queueName, "--job-rows", String(jobRows), "-o", path.join(dir, `${queueName}.jsonl`),
  ]);
  const code = await producer.exited;
  const seconds = (performance.now() - t0) / 1000;
  for (const w of workers) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => w.exited));
  if (code !== 0) throw new Error(`producer failed: ${producer.stderr()}`);
  const jobs = workers.map((w) => (w.stderr().match(/: done in/g) ?? []).length);
  return { workers: cores.length, cores, seconds: +seconds.toFixed(2), rowsPerSecond: +(rows / seconds).toFixed(1), jobsPerWorker: jobs };
}

try {
  const one = await measure([0]);
  const two = await measure([0, 1]);
  const ratio = +(two.rowsPerSecond / one.rowsPerSecond).toFixed(2);
  const loadavg = os.loadavg().map((x) => +x.toFixed(2));
  console.log(`queue throughput: ${rows} WinoMT rows, saliency, model "default", ${newTokens} new tokens, ${jobRows} rows per job, OMP_NUM_THREADS=1, ${os.cpus().length} CPUs, load average ${loadavg.join(" ")}`);
  for (const r of [one, two]) console.log(`${r.workers} worker${r.workers === 1 ? " " : "s"} (cores ${r.cores.join(",")}): ${r.rowsPerSecond} rows/s (${r.seconds} s; jobs per worker ${r.jobsPerWorker.join(", ")})`);
  console.log(`ratio 2/1: ${ratio} (target >= 1.7)`);
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  const file = path.join(root, `bench/results/queue-throughput-${date}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), rows, newTokens, jobRows, cpus: os.cpus().length, loadavg, runs: [one, two], ratio }, null, 2) + "\n");
  console.log(`wrote ${path.relative(root, file)}`);
} finally {
  redis.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
