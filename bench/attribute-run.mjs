#!/usr/bin/env node
// One benchmark configuration in its own process (so peak RSS is its own):
//   node bench/attribute-run.mjs <method> <threads> <batched|per_step>   -> one JSON line
import { loadModel, setNumThreads } from "../dist/index.js";
import { gpt2SmallRandom, prefixWithTokens, STORY } from "./checkpoints.mjs";

const [method, threads, schedule] = [process.argv[2], Number(process.argv[3]), process.argv[4] ?? "batched"];
const model = await loadModel(gpt2SmallRandom(), { device: "cpu" });
setNumThreads(threads);
const count = async (t) => (await model.encode(t))[0].ids.length;
const prompt = await prefixWithTokens(count, STORY, 20);
const forced = await prefixWithTokens(count, STORY, 40);
const methodArgs = method === "integrated_gradients" ? { nSteps: 50 } : undefined;
const t0 = performance.now();
const out = await model.attribute(prompt, { method, generatedTexts: forced, methodArgs, schedule });
const seconds = (performance.now() - t0) / 1000;
const a = out.sequenceAttributions[0];
console.log(JSON.stringify({
  engine: schedule === "per_step" ? "inseq-node per-step schedule" : "inseq-node", method, threads, seconds: +seconds.toFixed(3),
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), steps: a.attrPosEnd - a.attrPosStart, shape: a.targetAttributions?.shape,
}));
await model.dispose();
