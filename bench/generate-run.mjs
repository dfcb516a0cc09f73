#!/usr/bin/env node
// Greedy generation speed of one checkpoint in its own process:
//   node bench/generate-run.mjs <pythia160m|gemma2b|gpt2|llama1b> <threads> [--new-tokens 32]   -> one JSON line
// A 20-token prompt cut from STORY, batch 1, up to --new-tokens tokens (random weights rarely pick EOS; the count
// generated is reported), after one 2-token warm-up.
import { loadModel, setNumThreads } from "../dist/index.js";
import { gemma2bRandom, gpt2SmallRandom, llama1bRandom, prefixWithTokens, pythia160mRandom, STORY } from "./checkpoints.mjs";

const [modelName, threads] = [process.argv[2], Number(process.argv[3])];
const newTokens = Number(process.argv[process.argv.indexOf("--new-tokens") + 1] || 32) || 32;
const dir = { gpt2: gpt2SmallRandom, llama1b: llama1bRandom, pythia160m: pythia160mRandom, gemma2b: gemma2bRandom }[modelName]();
const model = await loadModel(dir, { device: "cpu", dtype: "float32" });
setNumThreads(threads);
const prompt = await prefixWithTokens(async (t) => (await model.encode(t))[0].ids.length, STORY, 20);
const args = (n) => ({ maxNewTokens: n, returnIds: true });
await model.generate(prompt, args(2));
const t0 = performance.now();
const out = await model.generate(prompt, args(newTokens));
const seconds = (performance.now() - t0) / 1000;
const generated = out.sequences[0].generatedIds.length;
console.log(JSON.stringify({ engine: "inseq-node", model: modelName, threads, seconds: +seconds.toFixed(3), generated, tokensPerSecond: +(generated / seconds).toFixed(2) }));
await model.dispose();
