#!/usr/bin/env node
// Greedy generation throughput (tokens/s) with 20-token prompts, batch 1 and 8, for hf-stories260K and a
// GPT-2-small-shaped model with random weights (12 layers, 768 wide, vocab 50257), at 1 and 2 LibTorch
// threads. Prints figures, not pass/fail.   node bench/generate.mjs [--new-tokens 64]
import { existsSync, mkdirSync, copyFileSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadModel, runtimeInfo, setNumThreads } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const shared = path.resolve(root, "../shared/fixtures");
const newTokens = Number(process.argv[process.argv.indexOf("--new-tokens") + 1] || 64) || 64;

/** A GPT-2 small checkpoint with N(0, 0.02) weights, written once into the temp dir. */
function gpt2SmallRandom() {
  const dir = path.join(os.tmpdir(), "inseq-bench-gpt2-small-random");
  if (existsSync(path.join(dir, "model.safetensors"))) return dir;
  mkdirSync(dir, { recursive: true });
  const [h, layers, vocab, positions] = [768, 12, 50257, 1024];
  const config = { model_type: "gpt2", architectures: ["GPT2LMHeadModel"], n_embd: h, n_layer: layers, n_head: 12, n_positions: positions,
    vocab_size: vocab, layer_norm_epsilon: 1e-5, activation_function: "gelu_new", bos_token_id: 50256, eos_token_id: 50256 };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) copyFileSync(path.join(shared, "hf-gpt2-tokenizer", f), path.join(dir, f));
  const tensors = [["transformer.wte.weight", [vocab, h], "n"], ["transformer.wpe.weight", [positions, h], "n"]];
  for (let i = 0; i < layers; i++) {
    const p = `transformer.h.${i}.`;
    tensors.push([p + "ln_1.weight", [h], "1"], [p + "ln_1.bias", [h], "0"], [p + "attn.c_attn.weight", [h, 3 * h], "n"],
      [p + "attn.c_attn.bias", [3 * h], "0"], [p + "attn.c_proj.weight", [h, h], "n"], [p + "attn.c_proj.bias", [h], "0"],
      [p + "ln_2.weight", [h], "1"], [p + "ln_2.bias", [h], "0"], [p + "mlp.c_fc.weight", [h, 4 * h], "n"],
      [p + "mlp.c_fc.bias", [4 * h], "0"], [p + "mlp.c_proj.weight", [4 * h, h], "n"], [p + "mlp.c_proj.bias", [h], "0"]);
  }
  tensors.push(["transformer.ln_f.weight", [h], "1"], ["transformer.ln_f.bias", [h], "0"]);
  tensors.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const header = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += " ";
  const fd = openSync(path.join(dir, "model.safetensors"), "w");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  let seed = 1;
  const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
  for (const [, shape, init] of tensors) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (init === "1") data.fill(1);
    else if (init === "n") for (let i = 0; i < data.length; i++) data[i] = (rand() + rand() + rand() - 1.5) * 0.04; // ~N(0, 0.02)
    writeSync(fd, Buffer.from(data.buffer));
  }
  closeSync(fd);
  return dir;
}

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

const STORY = "Once upon a time there was a little girl named Lily who loved to play outside in the big green park with her friends and her dog Max every single day";
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
