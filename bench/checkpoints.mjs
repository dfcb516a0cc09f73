// Benchmark checkpoints written on demand into the temp dir (not committed).
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const shared = path.resolve(root, "../shared/fixtures");

/** A GPT-2 small checkpoint (12 x 768, vocab 50257, 1024 positions) with ~N(0, 0.02) weights and GPT-2's real tokenizer. */
export function gpt2SmallRandom() {
  const dir = path.join(os.tmpdir(), "inseq-bench-gpt2-small-random");
  if (existsSync(path.join(dir, "model.safetensors"))) return dir;
  mkdirSync(dir, { recursive: true });
  const [h, layers, vocab, positions] = [768, 12, 50257, 1024];
  const config = { model_type: "gpt2", architectures: ["GPT2LMHeadModel"], n_embd: h, n_layer: layers, n_head: 12, n_positions: positions,
    vocab_size: vocab, layer_norm_epsilon: 1e-5, activation_function: "gelu_new", bos_token_id: 50256, eos_token_id: 50256,
    attn_pdrop: 0.0, resid_pdrop: 0.0, embd_pdrop: 0.0 };
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
  const fd = openSync(path.join(dir, "model.safetensors.tmp"), "w");
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
  // atomic: a killed run never leaves a half-written checkpoint behind
  copyFileSync(path.join(dir, "model.safetensors.tmp"), path.join(dir, "model.safetensors"));
  return dir;
}

export const STORY = "Once upon a time there was a little girl named Lily who loved to play outside in the big green park with her friends and her dog Max every single day after school because the sun was warm and the grass was soft and the birds sang songs";

/** The shortest word prefix of `text` that encodes to exactly `n` tokens. */
export async function prefixWithTokens(encode, text, n) {
  const words = text.split(" ");
  for (let k = 1; k <= words.length; k++) {
    const candidate = words.slice(0, k).join(" ");
    const len = await encode(candidate);
    if (len === n) return candidate;
    if (len > n) break;
  }
  throw new Error(`no ${n}-token prefix`);
}
