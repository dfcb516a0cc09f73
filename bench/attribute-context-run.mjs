#!/usr/bin/env node
// attributeContext() (PECoRe) on the GPT-2-small shape in its own process: one JSON line.
//   node bench/attribute-context-run.mjs <threads> <context> <current> <output>
import { attributeContext, loadModel, setNumThreads } from "../dist/index.js";
import { gpt2SmallRandom } from "./checkpoints.mjs";

const [threads, context, current, output] = [Number(process.argv[2]), ...process.argv.slice(3, 6)];
const model = await loadModel(gpt2SmallRandom(), { device: "cpu" });
if (threads > 0) setNumThreads(threads);
const options = {
  inputContextText: context, inputCurrentText: current, outputCurrentText: output,
  attributedFn: "contrast_prob_diff", contextSensitivityMetric: "kl_divergence", attributionMethod: "saliency",
};
await attributeContext(model, options); // warm-up
const t0 = performance.now();
const out = await attributeContext(model, options);
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({
  engine: "inseq-node", threads, seconds: +seconds.toFixed(3), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  ctiTokens: out.ctiScores.length, cciTokens: out.cciScores.length,
}));
await model.dispose();
