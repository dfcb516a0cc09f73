#!/usr/bin/env node
// One benchmark configuration in its own process (so peak RSS / GPU memory is its own):
//   node bench/attribute-run.mjs <method> <threads> <batched|per_step> [--model gpt2|llama1b|pythia160m|gemma2b] [--device cpu|cuda]
//                                [--dtype float32|bfloat16|float16] [--warmup]      -> one JSON line
// threads 0 keeps LibTorch's default. --warmup runs one short attribution first (CUDA context, cuBLAS handles).
// --args '{"n_steps": 8}' replaces the method's arguments (Inseq's snake_case keys; default nSteps 50 for
// integrated_gradients); --steps K attributes only the first K generated steps (attrPosEnd).
import { cudaMemory, loadModel, resetCudaPeakMemory, setNumThreads } from "../dist/index.js";
import { gemma2bRandom, gpt2SmallRandom, llama1bRandom, prefixWithTokens, pythia160mRandom, STORY } from "./checkpoints.mjs";

const [method, threads, schedule] = [process.argv[2], Number(process.argv[3]), process.argv[4] ?? "batched"];
const flag = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const [modelName, device, dtype] = [flag("--model", "gpt2"), flag("--device", "cpu"), flag("--dtype", "float32")];
const dir = { gpt2: gpt2SmallRandom, llama1b: llama1bRandom, pythia160m: pythia160mRandom, gemma2b: gemma2bRandom }[modelName]();
const model = await loadModel(dir, { device, dtype });
if (threads > 0) setNumThreads(threads);
const count = async (t) => (await model.encode(t))[0].ids.length;
const prompt = await prefixWithTokens(count, STORY, 20);
const forced = await prefixWithTokens(count, STORY, 40);
const camel = (k) => k.replace(/_([a-z])/g, (_m, c) => c.toUpperCase());
const userArgs = JSON.parse(flag("--args", "null"));
const methodArgs = userArgs ? Object.fromEntries(Object.entries(userArgs).map(([k, v]) => [camel(k), v])) : method === "integrated_gradients" ? { nSteps: 50 } : undefined;
const steps = flag("--steps", undefined);
const cuda = device.startsWith("cuda");
if (process.argv.includes("--warmup")) {
  // The timed run's arguments (fewer integration steps for integrated gradients), on 2 generated tokens.
  await model.attribute(prompt, { method, generatedTexts: await prefixWithTokens(count, STORY, 22), methodArgs: method === "integrated_gradients" ? { nSteps: 2 } : methodArgs, schedule });
}
if (cuda) resetCudaPeakMemory();
const t0 = performance.now();
const attrPosEnd = steps === undefined ? undefined : (await count(prompt)) + Number(steps);
const out = await model.attribute(prompt, { method, generatedTexts: forced, methodArgs, schedule, ...(attrPosEnd ? { attrPosEnd } : {}) });
const seconds = (performance.now() - t0) / 1000;
const a = out.sequenceAttributions[0];
console.log(JSON.stringify({
  engine: schedule === "per_step" ? "inseq-node per-step schedule" : "inseq-node", model: modelName, device, dtype, method, threads, seconds: +seconds.toFixed(3),
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), ...(cuda ? { peakGpuMb: Math.round(cudaMemory().peakAllocatedBytes / 2 ** 20) } : {}),
  steps: a.attrPosEnd - a.attrPosStart, shape: a.targetAttributions?.shape,
}));
await model.dispose();
