#!/usr/bin/env node
// Builds the bundled default model (models/default/): generates the grammar corpus with its ground truth,
// writes a word-level tokenizer, trains a small llama-family model with the native addon (LibTorch AdamW on
// the CPU), and saves it in Hugging Face format. Deterministic for a given seed and LibTorch build.
//
//   npm run build && node scripts/train-default-model.mjs [--steps N] [--out DIR]
import { mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { writeCorpusFiles } from "../dist/default-model/tokenizer-json.js";
import { TextTokenizer } from "../dist/tokenizers/tokenizer.js";
import { native } from "../dist/native/load.js";
import { checkSentence } from "../dist/default-model/grammar.js";
import { loadModel } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const out = path.resolve(arg("--out", path.join(root, "models/default")));
const steps = Number(arg("--steps", 3000));
const seed = 20261127;

// 1. Corpus + tokenizer. train.txt is regenerated from the seed and not committed; eval.jsonl (ground truth)
//    and the grammar README are kept with the model.
const work = path.join(out, ".work");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const files = writeCorpusFiles(work, { trainSize: 60000, evalSize: 1000, seed });
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

// 3. Train (one native job using both cores).
const binding = native();
binding.setNumThreads(2);
const t0 = Date.now();
let last = 0;
const result = await binding.trainCausalLM(
  JSON.stringify(config),
  Int32Array.from(sequences.flat()),
  Int32Array.from(sequences, (s) => s.length),
  {
    steps, batchSize: 64, learningRate: 3e-3, minLearningRate: 2e-4, warmupSteps: 100, weightDecay: 0.01,
    gradClip: 1.0, seed, padTokenId: tokenizer.padTokenId, outputPath: path.join(work, "model.safetensors"),
    onProgress: (step, total, loss) => {
      if (step - last >= 100 || step === total) {
        last = step;
        process.stderr.write(`step ${step}/${total} loss ${loss.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    },
  },
);
const seconds = (Date.now() - t0) / 1000;
const losses = Array.from(result.losses);
const tail = losses.slice(-100);
const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;

// 4. Write the Hugging Face directory (atomically replace the previous one's files).
writeFileSync(path.join(work, "config.json"), JSON.stringify(config, null, 2) + "\n");
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
await model.dispose();
const report = {
  seed, steps, batchSize: 64, trainSentences: lines.length, parameters: result.numParameters,
  trainSeconds: Math.round(seconds), finalLoss: Number(finalLoss.toFixed(4)),
  greedyGrammatical: `${grammatical}/${prefixes.length}`, threads: 2,
};
writeFileSync(path.join(work, "training.json"), JSON.stringify(report, null, 2) + "\n");
for (const f of ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
  "special_tokens_map.json", "training.json"]) {
  renameSync(path.join(work, f), path.join(out, f));
}
rmSync(path.join(out, "grammar"), { recursive: true, force: true });
renameSync(path.join(work, "grammar"), path.join(out, "grammar"));
rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify(report, null, 2));
