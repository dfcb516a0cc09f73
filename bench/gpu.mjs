#!/usr/bin/env node
// GPU benchmark, run by scripts/gpu-check on a CUDA host: seconds and peak GPU memory per method, ours vs
// Python Inseq 0.7.1 on the same GPU in the same run (when $INSEQ_PYTHON / python3 has inseq), each
// configuration in its own process after one warm-up call (CUDA context, cuBLAS handles, allocator):
//   - GPT-2-small shape (bench/checkpoints.mjs gpt2SmallRandom), float32, 20-token prompt + 20 forced tokens;
//   - Llama-3.2-1B shape (llama1bRandom, random bfloat16 weights), bfloat16, the same texts.
// Methods: saliency, integrated_gradients (50 steps), occlusion, attention; sequential_integrated_gradients and
// reagent with bench/inseq07-configs.mjs's arguments (issue 14: on the CPU both sides are compute-bound; on a GPU
// Inseq's one call per position / probe batch is what batching saves). Python ReAGent needs NLTK's tagger data.
//   node bench/gpu.mjs [--methods saliency,attention] [--models gpt2,llama1b] [--device cuda] [--no-python]
// (--device cpu rehearses it without a GPU.)
import { execFileSync, spawnSync } from "node:child_process";
import path from "node:path";

import { gpt2SmallRandom, llama1bRandom, root, STORY } from "./checkpoints.mjs";
import { arg } from "./args.mjs";
import { INSEQ07_METHODS, runFlags } from "./inseq07-configs.mjs";

const methods = arg("--methods", "saliency,integrated_gradients,occlusion,attention").split(",");
const models = arg("--models", "gpt2,llama1b").split(",");
const deviceName = arg("--device", "cuda");
const python = process.env.INSEQ_PYTHON ?? "python3";
const withPython = !process.argv.includes("--no-python") && spawnSync(python, ["-c", "import inseq"], { stdio: "ignore" }).status === 0;
if (!withPython) console.log(`python inseq: not available through ${python}; ours only`);
const MODELS = { gpt2: { dir: gpt2SmallRandom, dtype: "float32" }, llama1b: { dir: llama1bRandom, dtype: "bfloat16" } };

const run = (cmd, args) => {
  try {
    return JSON.parse(execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1));
  } catch (err) {
    return { error: String(err.message).split("\n")[0] };
  }
};
// Method arguments and attributed steps, both sides, of the methods bench/inseq07-methods.mjs runs on the CPU.
const EXTRA = Object.fromEntries(Object.values(INSEQ07_METHODS).map((c) => [c.method, runFlags(c)]));
const rows = [];
for (const name of models) {
  const { dir: make, dtype } = MODELS[name];
  const dir = make();
  for (const method of methods) {
    const device = ["--model", name, "--device", deviceName, "--dtype", dtype, "--warmup", ...(EXTRA[method] ?? [])];
    const ours = run(process.execPath, [path.join(root, "bench/attribute-run.mjs"), method, "0", "batched", ...device]);
    const py = withPython ? run(python, [path.join(root, "bench/inseq_attribute.py"), dir, method, "0", STORY, "--device", deviceName, "--dtype", dtype, "--warmup", ...(EXTRA[method] ?? [])]) : null;
    rows.push({ model: name, dtype, method, ours, python: py });
    const f = (r) => (!r ? "-" : r.error ? `failed: ${r.error}` : `${r.seconds.toFixed(3)} s / ${r.peakGpuMb ?? r.peakRssMb} MB`);
    const ratio = py && !py.error && !ours.error ? `${(py.seconds / ours.seconds).toFixed(1)}x` : "-";
    console.log(`${name.padEnd(8)} ${dtype.padEnd(9)} ${method.padEnd(32)} ours ${f(ours).padEnd(24)} python inseq ${f(py).padEnd(24)} (${ratio})`);
  }
}
console.log(JSON.stringify(rows));
