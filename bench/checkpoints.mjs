// Benchmark checkpoints written on demand into the temp dir (not committed).
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
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
  writeRandomSafetensors(path.join(dir, "model.safetensors"), tensors, 1);
  return dir;
}

/**
 * A Marian-base-shaped checkpoint (opus-mt-*: 6 + 6 post-norm layers of 512, 8 heads, FFN 2048, swish, vocab
 * 58101 shared by encoder, decoder and LM head, sinusoidal positions) with ~N(0, 0.02) weights, and a WordLevel
 * tokenizer.json: "</s>" = 0, "<unk>" = 1, "w2".."w58099" = 2..58099, "<pad>" = 58100, whitespace-split, "</s>"
 * appended as Marian's tokenizer does. So `n - 1` words "wK" encode to exactly `n` tokens. `vocab` other than 58101
 * (at least 8000, so MARIAN_SOURCE / MARIAN_TARGET stay in it) gives the same model with a smaller / larger
 * vocabulary, in its own directory: a diagnostic for the cost of the LM head.
 */
export function marianBaseRandom(vocab = 58101) {
  if (!Number.isInteger(vocab) || vocab < 8000) throw new Error(`marianBaseRandom: vocab must be an integer >= 8000, got ${vocab}`);
  const dir = path.join(os.tmpdir(), `inseq-bench-marian-base-random${vocab === 58101 ? "" : `-v${vocab}`}`);
  if (existsSync(path.join(dir, "model.safetensors"))) return dir;
  mkdirSync(dir, { recursive: true });
  const [d, layers, heads, ffn, positions] = [512, 6, 8, 2048, 512];
  const [eos, unk, pad] = [0, 1, vocab - 1];
  const config = {
    model_type: "marian", architectures: ["MarianMTModel"], d_model: d, encoder_layers: layers, decoder_layers: layers,
    encoder_attention_heads: heads, decoder_attention_heads: heads, encoder_ffn_dim: ffn, decoder_ffn_dim: ffn, vocab_size: vocab,
    decoder_vocab_size: vocab, max_position_embeddings: positions, scale_embedding: true, activation_function: "swish",
    pad_token_id: pad, eos_token_id: eos, bos_token_id: eos, forced_eos_token_id: eos, decoder_start_token_id: pad,
    share_encoder_decoder_embeddings: true, tie_word_embeddings: true, is_encoder_decoder: true, normalize_embedding: false,
    static_position_embeddings: true, dropout: 0.0, attention_dropout: 0.0, activation_dropout: 0.0, encoder_layerdrop: 0.0,
    decoder_layerdrop: 0.0, init_std: 0.02, use_cache: true, num_beams: 1, max_length: 512,
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  const ids = { "</s>": eos, "<unk>": unk };
  for (let i = 2; i < pad; i++) ids[`w${i}`] = i;
  ids["<pad>"] = pad;
  const special = (content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [special("</s>", eos), special("<unk>", unk), special("<pad>", pad)],
    normalizer: null, pre_tokenizer: { type: "WhitespaceSplit" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
      special_tokens: { "</s>": { id: "</s>", ids: [eos], tokens: ["</s>"] } },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: false },
    model: { type: "WordLevel", vocab: ids, unk_token: "<unk>" },
  };
  writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  const specials = { eos_token: "</s>", unk_token: "<unk>", pad_token: "<pad>" };
  writeFileSync(path.join(dir, "special_tokens_map.json"), JSON.stringify(specials, null, 2));
  writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({
    tokenizer_class: "PreTrainedTokenizerFast", ...specials, model_max_length: positions, clean_up_tokenization_spaces: false,
    model_input_names: ["input_ids", "attention_mask"],
  }, null, 2));
  const tensors = [["model.shared.weight", [vocab, d], "n"], ["final_logits_bias", [1, vocab], "0"]];
  const lin = (p, out, inp) => tensors.push([p + ".weight", [out, inp], "n"], [p + ".bias", [out], "0"]);
  const norm = (p) => tensors.push([p + ".weight", [d], "1"], [p + ".bias", [d], "0"]);
  for (const side of ["encoder", "decoder"]) {
    for (let i = 0; i < layers; i++) {
      const p = `model.${side}.layers.${i}.`;
      for (const m of ["q_proj", "k_proj", "v_proj", "out_proj"]) lin(p + "self_attn." + m, d, d);
      norm(p + "self_attn_layer_norm");
      if (side === "decoder") {
        for (const m of ["q_proj", "k_proj", "v_proj", "out_proj"]) lin(p + "encoder_attn." + m, d, d);
        norm(p + "encoder_attn_layer_norm");
      }
      lin(p + "fc1", ffn, d);
      lin(p + "fc2", d, ffn);
      norm(p + "final_layer_norm");
    }
  }
  writeRandomSafetensors(path.join(dir, "model.safetensors"), tensors, 7);
  return dir;
}

/** 19 words of marianBaseRandom()'s vocabulary each (20 tokens with the appended "</s>"): fixed source and forced target. */
export const MARIAN_SOURCE = Array.from({ length: 19 }, (_, i) => `w${100 + i * 37}`).join(" ");
export const MARIAN_TARGET = Array.from({ length: 19 }, (_, i) => `w${5000 + i * 91}`).join(" ");

/**
 * Writes `tensors` ([name, shape, init] with init "n" ~N(0, 0.02), "1" ones, "0" zeros) as float32 (or, with
 * dtype "BF16", bfloat16) safetensors (8-byte LE header length, JSON header, raw data), sorted by name, from a
 * fixed LCG seed. The file is written to `file`.tmp and copied into place at the end, so a killed run never
 * leaves a half-written one.
 */
export function writeRandomSafetensors(file, tensors, seed = 1, dtype = "F32") {
  const width = dtype === "BF16" ? 2 : 4;
  tensors = [...tensors].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const header = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * width;
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += " ";
  const fd = openSync(file + ".tmp", "w");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
  for (const [, shape, init] of tensors) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (init === "1") data.fill(1);
    else if (init === "n") for (let i = 0; i < data.length; i++) data[i] = (rand() + rand() + rand() - 1.5) * 0.04; // ~N(0, 0.02)
    if (width === 4) {
      writeSync(fd, Buffer.from(data.buffer));
    } else {  // bfloat16: the high half of each float32 (truncation)
      const halves = new Uint16Array(data.buffer), out = new Uint16Array(data.length);
      for (let i = 0; i < out.length; i++) out[i] = halves[2 * i + 1];
      writeSync(fd, Buffer.from(out.buffer));
    }
  }
  closeSync(fd);
  copyFileSync(file + ".tmp", file);
  unlinkSync(file + ".tmp");
}

/**
 * A Llama-3.2-1B-shaped checkpoint (16 x 2048, 32 heads / 8 KV heads, MLP 8192, vocab 128256, tied embeddings,
 * llama3 rope) with ~N(0, 0.02) bfloat16 weights (2.5 GB) and GPT-2's tokenizer (its ids are in the vocabulary):
 * the GPU benchmark's large model. Python Inseq loads the same directory through transformers.
 * `layers` < 16 gives the same width, heads and vocabulary with fewer blocks, in its own directory (the
 * long-context benchmark's reduced depth: the 1B width at a cost that 2 CPU cores can finish).
 */
export function llama1bRandom({ layers = 16 } = {}) {
  return llamaRandom(`inseq-bench-llama-1b-random${layers === 16 ? "" : `-L${layers}`}`, { h: 2048, layers, heads: 32, kv: 8, mlp: 8192 });
}

/**
 * The same architecture, tokenizer and vocabulary (128256, so the LM head keeps its real cost) at test size:
 * 64 wide, 4 heads / 2 KV heads (GQA kept), MLP 256, `layers` blocks (default 2). For checking the long-context
 * pipeline end to end in seconds; its figures say nothing about the 1B shape.
 */
export function llamaTinyRandom({ layers = 2 } = {}) {
  return llamaRandom(`inseq-bench-llama-tiny-random-L${layers}`, { h: 64, layers, heads: 4, kv: 2, mlp: 256 });
}

/** A random bf16 Llama (tied, llama3 rope, vocab 128256, GPT-2's tokenizer) of the given shape in $TMPDIR/`name`. */
function llamaRandom(name, { h, layers, heads, kv, mlp, vocab = 128256 }) {
  if (!Number.isInteger(layers) || layers < 1) throw new Error(`llamaRandom: layers must be a positive integer, got ${layers}`);
  const dir = path.join(os.tmpdir(), name);
  mkdirSync(dir, { recursive: true });
  writeLlamaTokenizer(dir);
  if (existsSync(path.join(dir, "model.safetensors"))) return dir;
  const hd = h / heads;
  const config = {
    model_type: "llama", architectures: ["LlamaForCausalLM"], hidden_size: h, num_hidden_layers: layers, num_attention_heads: heads,
    num_key_value_heads: kv, head_dim: hd, intermediate_size: mlp, vocab_size: vocab, max_position_embeddings: 131072, rms_norm_eps: 1e-5,
    rope_theta: 500000.0, rope_scaling: { rope_type: "llama3", factor: 32.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 },
    hidden_act: "silu", tie_word_embeddings: true, attention_bias: false, mlp_bias: false, bos_token_id: 50256, eos_token_id: 50256,
    torch_dtype: "bfloat16", dtype: "bfloat16",
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  const tensors = [["model.embed_tokens.weight", [vocab, h], "n"], ["model.norm.weight", [h], "1"]];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    tensors.push([p + "input_layernorm.weight", [h], "1"], [p + "post_attention_layernorm.weight", [h], "1"],
      [p + "self_attn.q_proj.weight", [heads * hd, h], "n"], [p + "self_attn.k_proj.weight", [kv * hd, h], "n"],
      [p + "self_attn.v_proj.weight", [kv * hd, h], "n"], [p + "self_attn.o_proj.weight", [h, heads * hd], "n"],
      [p + "mlp.gate_proj.weight", [mlp, h], "n"], [p + "mlp.up_proj.weight", [mlp, h], "n"], [p + "mlp.down_proj.weight", [h, mlp], "n"]);
  }
  writeRandomSafetensors(path.join(dir, "model.safetensors"), tensors, 3, "BF16");
  return dir;
}

/**
 * A Pythia-160M-shaped GPT-NeoX checkpoint (12 x 768, 12 heads, MLP 3072, vocab 50304, rotary over a quarter of each
 * head, parallel residual, untied `embed_out` as the Hub's Pythia files name it) with ~N(0, 0.02) float32 weights
 * and GPT-2's tokenizer (its ids are in the vocabulary), config.json as the Hub's EleutherAI/pythia-160m writes it.
 */
export function pythia160mRandom() {
  const dir = path.join(os.tmpdir(), "inseq-bench-pythia-160m-random");
  mkdirSync(dir, { recursive: true });
  writeLlamaTokenizer(dir);
  if (existsSync(path.join(dir, "model.safetensors"))) return dir;
  const [h, layers, heads, mlp, vocab] = [768, 12, 12, 3072, 50304];
  const config = {
    model_type: "gpt_neox", architectures: ["GPTNeoXForCausalLM"], hidden_size: h, num_hidden_layers: layers, num_attention_heads: heads,
    intermediate_size: mlp, vocab_size: vocab, max_position_embeddings: 2048, layer_norm_eps: 1e-5, hidden_act: "gelu",
    rotary_emb_base: 10000, rotary_pct: 0.25, use_parallel_residual: true, tie_word_embeddings: false, bos_token_id: 0, eos_token_id: 0,
    torch_dtype: "float32",
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  const tensors = [["gpt_neox.embed_in.weight", [vocab, h], "n"], ["gpt_neox.final_layer_norm.weight", [h], "1"],
    ["gpt_neox.final_layer_norm.bias", [h], "0"], ["embed_out.weight", [vocab, h], "n"]];
  for (let i = 0; i < layers; i++) {
    const p = `gpt_neox.layers.${i}.`;
    tensors.push([p + "input_layernorm.weight", [h], "1"], [p + "input_layernorm.bias", [h], "0"],
      [p + "post_attention_layernorm.weight", [h], "1"], [p + "post_attention_layernorm.bias", [h], "0"],
      [p + "attention.query_key_value.weight", [3 * h, h], "n"], [p + "attention.query_key_value.bias", [3 * h], "0"],
      [p + "attention.dense.weight", [h, h], "n"], [p + "attention.dense.bias", [h], "0"],
      [p + "mlp.dense_h_to_4h.weight", [mlp, h], "n"], [p + "mlp.dense_h_to_4h.bias", [mlp], "0"],
      [p + "mlp.dense_4h_to_h.weight", [h, mlp], "n"], [p + "mlp.dense_4h_to_h.bias", [h], "0"]);
  }
  writeRandomSafetensors(path.join(dir, "model.safetensors"), tensors, 5);
  return dir;
}

/**
 * A Gemma-2-2B-shaped checkpoint (26 x 2304, 8 heads / 4 KV heads of 256, GeGLU MLP 9216, vocab 256000, tied,
 * attention and final logit soft-capping, sliding window 4096 on alternate layers) with ~N(0, 0.02) bfloat16
 * weights (5.2 GB; Gemma's (1 + w) norms at w = 0) and GPT-2's tokenizer, config.json as google/gemma-2-2b's.
 */
export function gemma2bRandom() {
  const dir = path.join(os.tmpdir(), "inseq-bench-gemma-2-2b-random");
  mkdirSync(dir, { recursive: true });
  writeLlamaTokenizer(dir);
  const [h, layers, heads, kv, hd, mlp, vocab] = [2304, 26, 8, 4, 256, 9216, 256000];
  const config = {
    model_type: "gemma2", architectures: ["Gemma2ForCausalLM"], hidden_size: h, num_hidden_layers: layers, num_attention_heads: heads,
    num_key_value_heads: kv, head_dim: hd, intermediate_size: mlp, vocab_size: vocab, max_position_embeddings: 8192, rms_norm_eps: 1e-6,
    rope_theta: 10000.0, hidden_activation: "gelu_pytorch_tanh", hidden_act: "gelu_pytorch_tanh", query_pre_attn_scalar: 256,
    sliding_window: 4096, attn_logit_softcapping: 50.0, final_logit_softcapping: 30.0, attention_bias: false, tie_word_embeddings: true,
    bos_token_id: 2, eos_token_id: 1, pad_token_id: 0, torch_dtype: "bfloat16",
  };
  // transformers 5 validates these as floats and refuses 50 / 30 (JSON.stringify drops the ".0" Python writes).
  const floats = /"(attn_logit_softcapping|final_logit_softcapping|rope_theta)": (\d+)(,?)$/gm;
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2).replace(floats, '"$1": $2.0$3'));
  if (existsSync(path.join(dir, "model.safetensors"))) return dir;
  const tensors = [["model.embed_tokens.weight", [vocab, h], "n"], ["model.norm.weight", [h], "0"]];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    tensors.push([p + "input_layernorm.weight", [h], "0"], [p + "post_attention_layernorm.weight", [h], "0"],
      [p + "pre_feedforward_layernorm.weight", [h], "0"], [p + "post_feedforward_layernorm.weight", [h], "0"],
      [p + "self_attn.q_proj.weight", [heads * hd, h], "n"], [p + "self_attn.k_proj.weight", [kv * hd, h], "n"],
      [p + "self_attn.v_proj.weight", [kv * hd, h], "n"], [p + "self_attn.o_proj.weight", [h, heads * hd], "n"],
      [p + "mlp.gate_proj.weight", [mlp, h], "n"], [p + "mlp.up_proj.weight", [mlp, h], "n"], [p + "mlp.down_proj.weight", [h, mlp], "n"]);
  }
  writeRandomSafetensors(path.join(dir, "model.safetensors"), tensors, 7, "BF16");
  return dir;
}

/**
 * GPT-2's tokenizer files, with model_max_length raised to the model's 131072 positions. GPT-2's own 1024 would
 * make Python Inseq truncate long prompts silently: its encode() passes truncation=True with
 * max_length = max_len_single_sentence, from the left for decoder-only models. Rewritten on every call (small), so
 * directories written before this fix get it too.
 */
function writeLlamaTokenizer(dir) {
  for (const f of ["tokenizer.json", "special_tokens_map.json"]) {
    if (!existsSync(path.join(dir, f))) copyFileSync(path.join(shared, "hf-gpt2-tokenizer", f), path.join(dir, f));
  }
  const cfg = JSON.parse(readFileSync(path.join(shared, "hf-gpt2-tokenizer", "tokenizer_config.json"), "utf8"));
  writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ ...cfg, model_max_length: 131072 }, null, 2));
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
