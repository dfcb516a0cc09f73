#!/usr/bin/env node
// Load test of `inseq serve` on loopback (autocannon): N attribution requests from C concurrent clients on the
// default model, bounded in count and time. Prints p50/p99 latency, throughput, errors and non-2xx answers, and
// the server's resident memory over the first and the last 50 answers (it should stay flat); writes
// bench/results/serve-load-<date>.json.
//   node bench/serve-load.mjs [--requests 200] [--connections 16] [--queue-size 16] [--max-seconds 300] [--method saliency]
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import autocannon from "autocannon";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WINDOW = 50;

/** Resident memory of `pid` in bytes (Linux /proc), or null elsewhere. */
function rssOf(pid) {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

/** Starts `inseq serve --port 0` with the default model loaded; resolves when it listens. */
export function startServer(args = [], env = {}) {
  const proc = spawn(process.execPath, [path.join(ROOT, "dist", "cli", "index.js"), "serve", "--port", "0", "--model", "default", ...args], {
    cwd: ROOT, env: { OMP_NUM_THREADS: "1", ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (proc.kill("SIGKILL"), reject(new Error(`inseq serve did not listen within 60 s:\n${out}`))), 60_000);
    const onData = (d) => {
      out += d;
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const j = JSON.parse(line);
          if (j.msg === "inseq serve listening") {
            clearTimeout(timer);
            proc.stdout.off("data", onData);
            proc.stdout.resume();
            proc.stderr.resume();
            resolve({ proc, url: j.url, stop: () => new Promise((r) => (proc.once("exit", r), proc.kill("SIGTERM"))) });
          }
        } catch { /* partial line */ }
      }
    };
    proc.stdout.setEncoding("utf8").on("data", onData);
    proc.stderr.setEncoding("utf8").on("data", (d) => (out += d));
    proc.once("exit", (code) => reject(new Error(`inseq serve exited (${code}):\n${out}`)));
  });
}

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/**
 * Runs the load: `requests` POST /v1/attribute from `connections` clients. Resolves to the figures; `statusCodes`
 * counts every answer by status (429s are the queue's deliberate refusals).
 */
export async function runLoad({ requests = 200, connections = 16, queueSize = 16, maxSeconds = 300, method = "saliency", maxNewTokens = 8, serverArgs = [] } = {}) {
  const server = await startServer(["--queue-size", String(queueSize), "--concurrency", "1", ...serverArgs]);
  const body = JSON.stringify({ model: "default", inputs: "mary went to the market because", method, options: { generationArgs: { maxNewTokens } } });
  const rssFirst = [];
  const rssLast = [];
  const statusCodes = {};
  let answered = 0;
  try {
    const instance = autocannon({
      url: `${server.url}/v1/attribute`, method: "POST", headers: { "content-type": "application/json" }, body,
      connections, amount: requests, timeout: Math.max(10, Math.ceil(maxSeconds / 2)), maxOverallRequests: requests,
    });
    const stopper = setTimeout(() => instance.stop(), maxSeconds * 1000);
    instance.on("response", (_client, statusCode) => {
      answered++;
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      const rss = rssOf(server.proc.pid);
      if (rss === null) return;
      if (answered <= WINDOW) rssFirst.push(rss);
      else if (answered > requests - WINDOW) rssLast.push(rss);
    });
    const result = await instance;
    clearTimeout(stopper);
    const first = mean(rssFirst);
    const last = mean(rssLast);
    return {
      date: new Date().toISOString(),
      requests, connections, queueSize, method, maxNewTokens,
      answered,
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.average },
      throughputRps: result.requests.average,
      durationS: result.duration,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      statusCodes,
      rss: { firstWindowMiB: first && first / 2 ** 20, lastWindowMiB: last && last / 2 ** 20, growth: first && last ? (last - first) / first : null },
    };
  } finally {
    await server.stop();
  }
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await runLoad({
    requests: Number(arg("requests", 200)), connections: Number(arg("connections", 16)), queueSize: Number(arg("queue-size", 16)),
    maxSeconds: Number(arg("max-seconds", 300)), method: arg("method", "saliency"),
  });
  const f = figures;
  const other = Object.entries(f.statusCodes).filter(([s]) => s !== "200" && s !== "429").reduce((n, [, c]) => n + c, 0);
  console.log(`inseq serve load: ${f.answered} answers to ${f.requests} requests from ${f.connections} clients (${f.method}, ${f.maxNewTokens} new tokens, queue ${f.queueSize})`);
  console.log(`  latency p50 ${f.latencyMs.p50} ms  p99 ${f.latencyMs.p99} ms  max ${f.latencyMs.max} ms`);
  console.log(`  throughput ${f.throughputRps.toFixed(1)} req/s over ${f.durationS.toFixed(1)} s`);
  console.log(`  errors ${f.errors}  timeouts ${f.timeouts}  non-2xx ${f.non2xx} (429: ${f.statusCodes[429] ?? 0}, other: ${other})  statuses ${JSON.stringify(f.statusCodes)}`);
  console.log(`  server RSS: first ${WINDOW} answers ${f.rss.firstWindowMiB?.toFixed(1)} MiB, last ${WINDOW} ${f.rss.lastWindowMiB?.toFixed(1)} MiB (${f.rss.growth === null ? "n/a" : `${(f.rss.growth * 100).toFixed(1)}%`})`);
  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `serve-load-${f.date.slice(0, 10)}.json`);
  writeFileSync(file, JSON.stringify(f, null, 2) + "\n");
  console.log(`  wrote ${path.relative(ROOT, file)}`);
  if (f.errors > 0 || other > 0) process.exitCode = 1;
}
