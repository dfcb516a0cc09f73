#!/usr/bin/env node
// Loads one checkpoint in this process and prints ONE JSON line: the memory the load took and what the model
// computes (test/model/load-memory.test.ts runs it in a child so that its peak RSS is the load's alone).
// Usage: node test/helpers/load-memory-child.mjs <model dir> <dtype> [prompt]
//   INSEQ_DIST   the dist/ to import (default: this checkout's; another checkout's measures its loader)
//   NO_PROGRESS  set: do not pass onProgress (a dist/ from before the option existed)
// Memory, from /proc/self/status: the baseline is VmRSS after the addon, LibTorch and a warm-up load of the
// default model (code pages, allocator pools, tokenizer) and a GC; then VmHWM is reset (clear_refs 5) when the
// kernel allows, so that peakLoadBytes = VmHWM after loading - that baseline is the load's own peak, and peakBytes
// the same after a forward pass and a 4-token generation (every mapped weight page then resident). Without the
// reset, VmHWM may still hold an earlier peak and both only over-estimate (the bound stays safe).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.INSEQ_DIST ?? path.resolve(here, "../../dist");
const { loadModel, runtimeInfo } = await import(path.join(dist, "index.js"));
const [dir, dtype, prompt = "mary went to the market because"] = process.argv.slice(2);

/** /proc/self/status fields in bytes. */
function status() {
  const out = {};
  for (const line of readFileSync("/proc/self/status", "utf8").split("\n")) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

runtimeInfo();
const warm = await loadModel("default", { device: "cpu", dtype });
await warm.generate("the nurse", { maxNewTokens: 2 });
await warm.dispose();
globalThis.gc?.();
const before = status();
let reset = true;
try {
  writeFileSync("/proc/self/clear_refs", "5");  // VmHWM := VmRSS
} catch {
  reset = false;
}
const progress = [];
const start = performance.now();
const model = await loadModel(dir, { device: "cpu", dtype, ...(process.env.NO_PROGRESS ? {} : { onProgress: (a, b) => progress.push([a, b]) }) });
const seconds = (performance.now() - start) / 1000;
const after = status();

const [encoded] = await model.encode(prompt);
const { logits } = await model.forward([encoded.ids]);
const vocab = logits.shape[2];
const last = Array.from(logits.data.subarray(logits.data.length - vocab));  // [vocab] at the last prompt position
const generated = await model.generate(prompt, { maxNewTokens: 4, returnIds: true });
// Mapped pages are read when first touched, so the weights' full cost shows once a forward pass used them all.
const used = status();
// Attribution on the half-precision model: the engine accumulates in float32 and returns Float32Arrays.
const saliency = (await model.attribute(prompt, { method: "saliency", generationArgs: { maxNewTokens: 2 } })).sequenceAttributions[0].targetAttributions;
process.stdout.write(JSON.stringify({
  reset, seconds,
  baselineBytes: before.VmRSS, peakLoadBytes: after.VmHWM - before.VmRSS, peakBytes: used.VmHWM - before.VmRSS,
  anonBytes: after.RssAnon - before.RssAnon, fileBytes: (after.RssFile + (after.RssShmem ?? 0)) - (before.RssFile + (before.RssShmem ?? 0)),
  progress, lastLogits: last, generatedIds: generated.sequences[0].ids,
  saliency: { float32: saliency.data instanceof Float32Array, shape: saliency.shape, data: Array.from(saliency.data, (v) => (Number.isNaN(v) ? null : v)) },
}) + "\n");
await model.dispose();
