#!/usr/bin/env node
// One encoder-decoder benchmark configuration in its own process (so peak RSS is its own):
//   node bench/attribute-seq2seq-run.mjs <method> <threads> <batched|per_step> [reps] [maxSeconds] [vocab]   -> one JSON line
// One warm-up call on a 4-token target (3 words + </s>; integrated_gradients with nSteps 5): the first call of a
// process pays a one-time cost of seconds whatever its size, the warm-up takes it. Then up to `reps` timed calls
// on the full example, stopping early once they add up to `maxSeconds`. `seconds` is their median.
import { loadSeq2SeqModel, setNumThreads } from "../dist/index.js";
import { MARIAN_SOURCE, MARIAN_TARGET, marianBaseRandom } from "./checkpoints.mjs";

const [method, threads, schedule] = [process.argv[2], Number(process.argv[3]), process.argv[4] ?? "batched"];
const reps = Number(process.argv[5] ?? 3);
const maxSeconds = Number(process.argv[6] ?? 30);
const model = await loadSeq2SeqModel(marianBaseRandom(Number(process.argv[7] ?? 58101)), { device: "cpu" });
setNumThreads(threads);
for (const [name, text] of [["source", MARIAN_SOURCE], ["target", MARIAN_TARGET]]) {
  const n = (await model.tokenizer.encode(text)).ids.length;
  if (n !== 20) throw new Error(`${name} encodes to ${n} tokens, expected 20`);
}
const options = (nSteps, target = MARIAN_TARGET) => ({
  method, generatedTexts: target, schedule, methodArgs: method === "integrated_gradients" ? { nSteps } : undefined,
});
let t0 = performance.now();
await model.attribute(MARIAN_SOURCE, options(5, MARIAN_TARGET.split(" ").slice(0, 3).join(" ")));
const warmup = (performance.now() - t0) / 1000;
const times = [];
let out;
while (times.length < reps && times.reduce((a, b) => a + b, 0) < maxSeconds) {
  t0 = performance.now();
  out = await model.attribute(MARIAN_SOURCE, options(50));
  times.push((performance.now() - t0) / 1000);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
const a = out.sequenceAttributions[0];
console.log(JSON.stringify({
  engine: schedule === "per_step" ? "inseq-node per-step schedule" : "inseq-node", method, threads, seconds: +median.toFixed(3),
  min: +sorted[0].toFixed(3), reps: times.length, warmup: +warmup.toFixed(3),
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), cpuSeconds: +((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(1), steps: a.attrPosEnd - a.attrPosStart, shape: a.sourceAttributions?.shape,
}));
await model.dispose();
