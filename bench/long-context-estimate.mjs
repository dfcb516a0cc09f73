#!/usr/bin/env node
// How long would bench/long-context.mjs's plan take here? A multiply-add count per configuration (below),
// divided by the rate of one probe of ours: saliency, 1B width, 1 layer, 512 tokens + 2 forced (about 10 s).
//   node bench/long-context-estimate.mjs [--probe] [--rate GMAC/s] [--layers 16,8,4,2] [--gen 16]
// --probe runs the probe (pinned to core 1, 1 thread, after its warm-up call; check `uptime` first); --rate
// uses a rate measured before.
// The count is a model, not a measurement: good to a factor of about 2. It assumes Python runs at our MAC rate
// (the same PyTorch 2.15 kernels) and leaves out interpreter overhead, allocation, gradient checkpointing's extra
// forward and the memory-bound softmax of eager attention.
import { execFileSync } from "node:child_process";
import path from "node:path";

import { llama1bRandom, root } from "./checkpoints.mjs";
import { arg } from "./args.mjs";

const [h, kv, mlp, V] = [2048, 512, 8192, 128256];
const B = 2 * h * h + 2 * h * kv + 3 * h * mlp;  // projections + MLP, per token per layer (60.8 M)
const VH = V * h;                                  // LM head, per position whose logits are computed

// Attention scores + values of the last `queries` of c tokens: causal, query t has t + 1 keys, so
// Σ 2·h·(t + 1) ≈ 2·h·q·(c − q/2); eager attention computes the full square, 2·h·c² (queries = c).
const attn = (c, queries, eager) => (eager ? 2 * h * c * c : 2 * h * queries * (c - queries / 2));
// Forward of c tokens through L blocks (or of its last `queries` tokens, from a KV cache), logits at k positions.
const fwd = (c, L, k, { eager = false, queries = c } = {}) => L * (queries * B + attn(c, queries, eager)) + k * VH;
const sum = (from, to, f) => { let s = 0; for (let i = from; i < to; i++) s += f(i); return s; };

// MACs of one configuration. Gradient rows: forward + backward ≈ 3 forwards of the body; Python's backward also
// goes through its all-position LM head ([c, V] logits: 2 more c·V·h).
export function work(impl, method, n, g, L) {
  const P = n + g;
  const ours = impl === "ours";
  switch (method) {
    case "saliency":
    case "integrated_gradients": {
      const steps = method === "saliency" ? 1 : 16;
      return steps * sum(0, g, (j) => (ours ? 3 * fwd(n + j, L, 1) : 3 * fwd(n + j, L, 0, { eager: true }) + 2 * (n + j) * VH));
    }
    case "attention":
      return ours ? fwd(P, L, 0) : fwd(P, L, P, { eager: true });
    case "occlusion":  // ours: the clean run, then each occluded token j re-runs positions j.. from the KV cache
      return ours ? fwd(P, L, g) + sum(0, P - 1, (j) => fwd(P, L, g, { queries: P - j }))
        : sum(0, g, (j) => (n + j + 1) * fwd(n + j, L, n + j, { eager: true }));  // Inseq: every step, every token, whole forward
    default: throw new Error(method);
  }
}

const PLAN = [["saliency", 512], ["saliency", 2048], ["saliency", 8192], ["attention", 512], ["attention", 2048], ["attention", 8192],
  ["occlusion", 512], ["occlusion", 2048], ["integrated_gradients", 512]];
const gen = Number(arg("--gen", "16"));
let rate = Number(arg("--rate", "0")) * 1e9;
if (process.argv.includes("--probe")) {
  llama1bRandom({ layers: 1 });
  const out = execFileSync("taskset", ["-c", "1", process.execPath, path.join(root, "bench/long-context-run.mjs"), "saliency", "512", "--gen", "2", "--layers", "1"],
    { cwd: root, encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" }, stdio: ["ignore", "pipe", "inherit"] });
  const probe = JSON.parse(out.trim().split("\n").at(-1));
  rate = work("ours", "saliency", 512, 2, 1) / probe.seconds;
  console.log(`probe: ${JSON.stringify(probe)}`);
}
if (!(rate > 0)) throw new Error("give --rate GMAC/s or --probe");
console.log(`rate: ${(rate / 1e9).toFixed(1)} GMAC/s (ours, bf16, 1 thread)\n`);
const hms = (s) => (s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : s < 48 * 3600 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(0)} days`);
for (const L of arg("--layers", "16,8,4,2").split(",").map(Number)) {
  console.log(`${L} layers:`);
  let [to, tp] = [0, 0];
  for (const [m, n] of PLAN) {
    const [o, p] = [work("ours", m, n, gen, L) / rate, work("python", m, n, gen, L) / rate];
    [to, tp] = [to + o, tp + p];
    console.log(`  ${m.padEnd(21)} ${String(n).padStart(5)}  ours ${hms(o).padStart(8)}   python ${hms(p).padStart(8)}`);
  }
  console.log(`  total: ours ${hms(to)}, python ${hms(tp)} (before out-of-memory kills and --max-seconds)\n`);
}
