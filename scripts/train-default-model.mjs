#!/usr/bin/env node
// Builds the bundled default model (models/default/): generates the grammar corpus with its ground truth,
// writes a word-level tokenizer (tools/default-model/, compiled to build/ts/), trains a small llama-family model
// with the inseq-train executable (tools/default-model/train/: LibTorch AdamW on the CPU), and saves it in
// Hugging Face format. Deterministic for a given seed and LibTorch build.
//
// Then it measures the gates (tools/default-model/gates.ts) on a held-out gate set drawn from a seed no training
// or eval.jsonl sentence came from (gateSeed), without any training sentence: greedy agreement >= 99 % per
// dependency kind, evidence swaps flip >= 95 % and competitor swaps <= 5 % of the dependencies of every template.
// The numbers go into training.json, and each dependency of eval.jsonl is marked `verified` (its own causal check).
// When a gate fails, nothing in --out is replaced: the run stays in --out/.work and the script exits with 1
// (--allow-failing-gates writes the model anyway, the failures listed in training.json: for short test runs).
//
//   npm run train:default -- [--steps N] [--out DIR]       (= build:ts + build:train, then this script)
//   node scripts/train-default-model.mjs [--steps N] [--out DIR] [--trainer PATH] [--allow-failing-gates]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { TextTokenizer } from "../dist/tokenizers/tokenizer.js";
import { checkSentence } from "../dist/default-model/index.js";
import { loadModel } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const out = path.resolve(arg("--out", path.join(root, "models/default")));
const steps = Number(arg("--steps", 6000));
const trainer = path.resolve(arg("--trainer", path.join(root, "build/inseq-train")));
const allowFailingGates = args.includes("--allow-failing-gates");
const toolsDir = path.join(root, "build/ts/tools/default-model");
const seed = 20261127;
const trainSize = 100000;
const gateSize = 2000;
for (const [file, what] of [[trainer, "the inseq-train executable"], [toolsDir, "the compiled corpus tools"]]) {
  if (!existsSync(file)) throw new Error(`${what} is missing (${file}): run npm run build:train first`);
}
const tool = (name) => import(pathToFileURL(path.join(toolsDir, name)).href);
const { writeCorpusFiles } = await tool("corpus-files.js");
const { gateSeed, gateSet } = await tool("corpus.js");
const { gateSummary, markVerified, measureGates } = await tool("gates.js");

// 1. Corpus + tokenizer. train.txt is regenerated from the seed and not committed; eval.jsonl (ground truth)
//    and the grammar README are kept with the model.
const work = path.join(out, ".work");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const files = writeCorpusFiles(work, { trainSize, evalSize: 1000, seed });
const tokenizer = await TextTokenizer.fromDir(work);
const lines = readFileSync(files.train, "utf8").split("\n").filter(Boolean);
const encoded = await tokenizer.encodeBatch(lines);
const eos = tokenizer.eosTokenId;
const sequences = encoded.map((e) => [...e.ids, eos]);
const maxLen = Math.max(...sequences.map((s) => s.length));

// 2. Model config (Hugging Face LlamaForCausalLM).
const config = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: tokenizer.vocabSize,
  hidden_size: 128,
  intermediate_size: 344,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 32,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  hidden_act: "silu",
  tie_word_embeddings: true,
  attention_bias: false,
  mlp_bias: false,
  attention_dropout: 0.0,
  bos_token_id: tokenizer.bosTokenId,
  eos_token_id: eos,
  pad_token_id: tokenizer.padTokenId,
  torch_dtype: "float32",
  use_cache: true,
};
if (maxLen > config.max_position_embeddings) throw new Error(`corpus sentence of ${maxLen} tokens exceeds max_position_embeddings`);

// 3. Train (one inseq-train process using both cores): the sequences as lines of ids, the config as config.json.
writeFileSync(path.join(work, "config.json"), JSON.stringify(config, null, 2) + "\n");
const sequencesFile = path.join(work, "train.ids");
writeFileSync(sequencesFile, sequences.map((s) => `${s.join(" ")}\n`).join(""));
const t0 = Date.now();
const run = spawnSync(trainer, [
  "--config", path.join(work, "config.json"), "--sequences", sequencesFile, "--out", path.join(work, "model.safetensors"),
  "--steps", String(steps), "--batch-size", "64", "--learning-rate", "3e-3", "--min-learning-rate", "2e-4",
  "--warmup-steps", "100", "--weight-decay", "0.01", "--grad-clip", "1.0", "--seed", String(seed),
  "--pad-token-id", String(tokenizer.padTokenId), "--threads", "2", "--log-every", "100",
], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", maxBuffer: 1 << 28 });
if (run.status !== 0) {
  process.stderr.write(`inseq-train failed (${run.error ?? `exit status ${run.status ?? run.signal}`})\n`);
  process.exit(run.status || 1);
}
const result = JSON.parse(run.stdout);
const seconds = (Date.now() - t0) / 1000;
const losses = result.losses.map(Math.fround);  // float32, as the losses were reported when training ran in the addon
const tail = losses.slice(-100);
const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
rmSync(sequencesFile);

// 4. Write the Hugging Face directory (atomically replace the previous one's files).
writeFileSync(path.join(work, "generation_config.json"),
  JSON.stringify({ bos_token_id: config.bos_token_id, eos_token_id: eos, pad_token_id: config.pad_token_id }, null, 2) + "\n");
rmSync(files.train);
mkdirSync(path.join(work, "grammar"), { recursive: true });
renameSync(files.eval, path.join(work, "grammar", "eval.jsonl"));
renameSync(path.join(work, "README.md"), path.join(work, "grammar", "README.md"));

// 5. Check: greedy continuations of held-out prefixes must be grammatical sentences.
const model = await loadModel(work, { device: "cpu" });
const evalExamples = readFileSync(path.join(work, "grammar", "eval.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const prefixes = evalExamples.slice(0, 200).map((e) => e.words.slice(0, 2).join(" "));
const generations = await model.generate(prefixes, { maxNewTokens: 24 });
const grammatical = generations.filter((g) => checkSentence(g).grammatical).length;

// 6. Gates on the gate set, and the causal check of every dependency of eval.jsonl.
const gates = gateSummary(await measureGates(model, gateSet(new Set(lines), gateSize, seed)));
const evalChecks = await measureGates(model, evalExamples);
await model.dispose();
const verifiedEval = markVerified(evalExamples, evalChecks);
writeFileSync(path.join(work, "grammar", "eval.jsonl"), verifiedEval.map((e) => `${JSON.stringify(e)}\n`).join(""));
const verified = evalChecks.checks.filter((c) => c.verified).length;
const report = {
  seed, steps, batchSize: 64, trainSentences: lines.length, parameters: result.numParameters,
  trainSeconds: Math.round(seconds), finalLoss: Number(finalLoss.toFixed(4)),
  greedyGrammatical: `${grammatical}/${prefixes.length}`, threads: 2,
  evalVerified: `${verified}/${evalChecks.checks.length}`,
  gates: { seed: gateSeed(seed), ...gates },
};
writeFileSync(path.join(work, "training.json"), JSON.stringify(report, null, 2) + "\n");
if (gates.failures.length > 0 && !allowFailingGates) {
  process.stderr.write(`gates failed (the run is kept in ${work}):\n${gates.failures.map((f) => `  ${f}\n`).join("")}`);
  console.log(JSON.stringify(report, null, 2));
  process.exit(1);
}
for (const f of ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
  "special_tokens_map.json", "training.json"]) {
  renameSync(path.join(work, f), path.join(out, f));
}
rmSync(path.join(out, "grammar"), { recursive: true, force: true });
renameSync(path.join(work, "grammar"), path.join(out, "grammar"));
rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify(report, null, 2));
