#!/usr/bin/env node
// Greedy generation throughput (tokens/s) with 20-token prompts, batch 1 and 8, for hf-stories260K and a
// GPT-2-small-shaped model with random weights (12 layers, 768 wide, vocab 50257), at 1 and 2 LibTorch
// threads. Prints figures, not pass/fail.   node bench/generate.mjs [--new-tokens 64]
import path from "node:path";

import { loadModel, runtimeInfo, setNumThreads } from "../dist/index.js";
import { gpt2SmallRandom, shared, STORY } from "./checkpoints.mjs";
const newTokens = Number(process.argv[process.argv.indexOf("--new-tokens") + 1] || 64) || 64;

/** A prompt of exactly 20 tokens (special tokens included) cut from a text. */
async function twentyTokenPrompt(model, text) {
  const words = text.split(" ");
  for (let n = 1; n <= words.length; n++) {
    const candidate = words.slice(0, n).join(" ");
    const [enc] = await model.encode(candidate);
    if (enc.ids.length === 20) return candidate;
    if (enc.ids.length > 20) break;
  }
  throw new Error("no 20-token prefix");
}

const rows = [];
for (const [name, dir] of [["stories260K", path.join(shared, "hf-stories260K")], ["gpt2-small-random", gpt2SmallRandom()]]) {
  const model = await loadModel(dir, { device: "cpu" });
  const prompt = await twentyTokenPrompt(model, STORY);
  for (const threads of [1, 2]) {
    setNumThreads(threads);
    for (const batch of [1, 8]) {
      const prompts = Array(batch).fill(prompt);
      await model.generate(prompts, { maxNewTokens: 4 }); // warm-up
      const runs = name === "stories260K" ? 5 : 2;
      let best = Infinity;
      let tokens = 0;
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const out = await model.generate(prompts, { maxNewTokens: newTokens, returnIds: true });
        const ms = performance.now() - t0;
        tokens = out.sequences.reduce((a, s) => a + s.generatedIds.length, 0);
        best = Math.min(best, ms);
      }
      rows.push({ model: name, params: model.info.numParameters, threads, batch, newTokens, tokensPerSecond: Math.round((tokens / best) * 1000), msPerStep: +(best / newTokens).toFixed(2) });
    }
  }
  await model.dispose();
}
const info = runtimeInfo();
console.log(`LibTorch ${info.torchVersion}, ${info.cpus} CPUs, BLAS ${info.blas.find((b) => /blas/.test(b)) ?? "?"}, default threads ${info.threads}`);
console.log("model               params       threads batch  tokens/s  ms/step");
for (const r of rows) {
  console.log(`${r.model.padEnd(19)} ${String(r.params).padEnd(12)} ${String(r.threads).padEnd(7)} ${String(r.batch).padEnd(6)} ${String(r.tokensPerSecond).padEnd(9)} ${r.msPerStep}`);
}
console.log(JSON.stringify(rows));
