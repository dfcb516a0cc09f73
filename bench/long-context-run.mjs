#!/usr/bin/env node
// One long-context configuration in its own process (so its peak RSS is its own); prints one JSON line.
//   node bench/long-context-run.mjs <method> <promptTokens> [--gen 16] [--layers N] [--threads 1]
//        [--dtype bfloat16] [--model llama1b|tiny] [--memory-budget bytes|auto] [--no-warmup]
//        [--device cpu|cuda] [--dir checkpointDir]
// method: saliency | attention | occlusion | integrated_gradients (nSteps 16). The prompt has exactly
// promptTokens tokens and the forced target exactly gen more (bench/long-context-texts.mjs), so no generation
// runs and Python Inseq (bench/inseq_long_context.py) attributes the same tokens.
//
// Memory: after loading, one warm-up attribution on a 4-token prompt + 2 forced tokens faults in the weights the
// method touches (our safetensors are memory-mapped, so their pages enter RSS on first use, not at load) and sets
// up the allocator; then the peak is reset (/proc/self/clear_refs "5") and `baseRssMb` read. `attrPeakRssMb` is
// the peak of the timed call alone and `extraMb` = attrPeakRssMb - baseRssMb the memory it needed above the
// resident model; `peakRssMb` is the peak of the whole process (load included). --device cuda: `gpuPeakMb` is the
// peak GPU memory LibTorch allocated during the timed call; --dir: any checkpoint (bench/long-context-gpu.mjs).
import path from "node:path";
import { readFileSync, writeFileSync } from "node:fs";

import { cudaMemory, loadModel, resetCudaPeakMemory, setNumThreads } from "../dist/index.js";
import { llama1bRandom, llamaTinyRandom } from "./checkpoints.mjs";
import { exactTexts, textsHash } from "./long-context-texts.mjs";
import { resultChecksum } from "./long-context-checksum.mjs";

const [method, promptTokens] = [process.argv[2], Number(process.argv[3])];
const flag = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const METHODS = ["saliency", "attention", "occlusion", "integrated_gradients"];
if (!METHODS.includes(method) || !(promptTokens > 0)) {
  console.error(`usage: long-context-run.mjs <${METHODS.join("|")}> <promptTokens> [--gen 16] [--layers N] [--threads 1] [--dtype bfloat16] [--model llama1b|tiny]`);
  process.exit(2);
}
const gen = Number(flag("--gen", "16"));
const threads = Number(flag("--threads", "1"));
const dtype = flag("--dtype", "bfloat16");
const modelName = flag("--model", "llama1b");
const budgetFlag = flag("--memory-budget", undefined);
const memoryBudget = budgetFlag === undefined ? undefined : budgetFlag === "auto" ? "auto" : Number(budgetFlag);
const device = flag("--device", "cpu");
const cuda = device.startsWith("cuda");
const given = flag("--dir", undefined);
// With --dir the model is that directory's (its depth and name reported), else a generated one of --layers.
const layers = given ? JSON.parse(readFileSync(path.join(given, "config.json"), "utf8")).num_hidden_layers : Number(flag("--layers", modelName === "tiny" ? "2" : "16"));
const dir = given ?? { llama1b: llama1bRandom, tiny: llamaTinyRandom }[modelName]({ layers });

// VmRSS, VmHWM, RssAnon, RssFile, ... of this process in MB.
const status = () => Object.fromEntries([...readFileSync("/proc/self/status", "utf8").matchAll(/^(Vm\w+|Rss\w+):\s+(\d+) kB/gm)]
  .map((m) => [m[1], Math.round(Number(m[2]) / 1024)]));

if (threads > 0) setNumThreads(threads);
let t0 = performance.now();
const model = await loadModel(dir, { dtype, device });
const loadSeconds = (performance.now() - t0) / 1000;
const tok = model.tokenizer;
const texts = await exactTexts(async (t) => (await tok.encode(t, { addSpecialTokens: false })).ids, (ids) => tok.decode(ids), promptTokens, gen);
const methodArgs = method === "integrated_gradients" ? { nSteps: 16 } : undefined;
const options = { method, generatedTexts: texts.forced, methodArgs, ...(memoryBudget !== undefined ? { memoryBudget } : {}) };

let warmupSeconds = null;
if (!process.argv.includes("--no-warmup")) {
  const w = await exactTexts(async (t) => (await tok.encode(t, { addSpecialTokens: false })).ids, (ids) => tok.decode(ids), 4, 2);
  t0 = performance.now();
  await model.attribute(w.prompt, { ...options, generatedTexts: w.forced, methodArgs: method === "integrated_gradients" ? { nSteps: 2 } : undefined });
  warmupSeconds = (performance.now() - t0) / 1000;
}
const loadPeak = status().VmHWM;
writeFileSync("/proc/self/clear_refs", "5");  // VmHWM := VmRSS (Linux >= 4.0)
const base = status();

if (cuda) resetCudaPeakMemory();
t0 = performance.now();
const out = await model.attribute(texts.prompt, options).catch((err) => {
  // ERR_OUT_OF_MEMORY and the like: one JSON line naming it (exit status 3), as the Python runner does.
  console.log(JSON.stringify({ impl: "ours", method, promptTokens, gen, device, error: err.code ?? String(err), message: String(err.message).slice(0, 300),
    seconds: +((performance.now() - t0) / 1000).toFixed(3), gpuPeakMb: cuda ? Math.round(cudaMemory().peakAllocatedBytes / 2 ** 20) : null }));
  process.exit(3);
});
const seconds = (performance.now() - t0) / 1000;
const after = status();
const a = out.sequenceAttributions[0];
console.log(JSON.stringify({
  impl: "ours", method, promptTokens, gen, layers, model: given ? path.basename(given) : modelName, dtype, threads, memoryBudget: memoryBudget ?? null,
  seconds: +seconds.toFixed(3), loadSeconds: +loadSeconds.toFixed(3), warmupSeconds: warmupSeconds && +warmupSeconds.toFixed(3),
  peakRssMb: Math.max(loadPeak, after.VmHWM), attrPeakRssMb: after.VmHWM, baseRssMb: base.VmRSS, extraMb: after.VmHWM - base.VmRSS,
  steps: a.attrPosEnd - a.attrPosStart, textsSha1: textsHash(texts), textStart: texts.start,
  checksum: resultChecksum(a.targetAttributions), device, gpuPeakMb: cuda ? Math.round(cudaMemory().peakAllocatedBytes / 2 ** 20) : null,
}));
await model.dispose();
