// config.json values that cannot be right are refused at load with ERR_BAD_CHECKPOINT naming the field as
// written (issue 10, item 2; item 12: no ERR_NATIVE for a non-string model_type or a non-dividing head count),
// and so is a checkpoint with tensors the config would silently ignore (fewer layers, a bias switched off).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { InseqError, loadModel, loadSeq2SeqModel } from "../../lib/index.js";
import { copyModel, readJson, referenceDir, repoRoot } from "../helpers.js";

const seq2seqDir = (name: string) => path.join(repoRoot, "test/fixtures/reference-seq2seq", name);

/** A copy of `dir` whose config.json is changed by `edit` (or replaced by raw text). */
function withConfig(dir: string, edit: ((c: Record<string, any>) => void) | string): string {
  const copy = copyModel(dir);
  const file = path.join(copy, "config.json");
  if (typeof edit === "string") {
    writeFileSync(file, edit);
  } else {
    const config = readJson(file);
    edit(config);
    writeFileSync(file, JSON.stringify(config));
  }
  return copy;
}

async function loadError(p: Promise<{ dispose(): Promise<void> }>): Promise<InseqError> {
  let loaded: { dispose(): Promise<void> } | undefined;
  try {
    loaded = await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InseqError);
    return e as InseqError;
  }
  await loaded.dispose();
  throw new Error("expected the load to be refused");
}

// [case, reference model, edit, field the message must name]
const DECODER_ONLY: Array<[string, string, (c: Record<string, any>) => void, string]> = [
  ["no layers", "llama", (c) => { c.num_hidden_layers = 0; }, "num_hidden_layers"],
  ["negative layers", "gpt2", (c) => { c.n_layer = -1; }, "n_layer"],
  ["rope_theta 0", "llama", (c) => { c.rope_parameters.rope_theta = 0; }, "rope_theta"],
  ["negative rope_theta", "mistral", (c) => { c.rope_theta = -10000; delete c.rope_parameters; delete c.rope_scaling; }, "rope_theta"],
  ["negative rms_norm_eps", "llama", (c) => { c.rms_norm_eps = -1e-6; }, "rms_norm_eps"],
  ["negative layer_norm_epsilon", "gpt2", (c) => { c.layer_norm_epsilon = -1e-5; }, "layer_norm_epsilon"],
  ["n_head not dividing the width", "gpt2", (c) => { c.n_head = 3; }, "n_head"],
  ["num_attention_heads not dividing hidden_size", "qwen2", (c) => { c.num_attention_heads = 3; c.num_key_value_heads = 3; delete c.head_dim; }, "num_attention_heads"],
  ["pad id outside the vocabulary", "llama", (c) => { c.pad_token_id = c.vocab_size; }, "pad_token_id"],
  ["negative bos id", "gpt2", (c) => { c.bos_token_id = -2; }, "bos_token_id"],
  ["an eos id outside the vocabulary", "mistral", (c) => { c.eos_token_id = [0, 100000]; }, "eos_token_id"],
  ["max_position_embeddings 1", "llama", (c) => { c.max_position_embeddings = 1; }, "max_position_embeddings"],
  ["n_positions 0", "gpt2", (c) => { c.n_positions = 0; }, "n_positions"],
  ["model_type a number", "llama", (c) => { c.model_type = 123; }, "model_type"],
  ["a fractional size", "llama", (c) => { c.intermediate_size = 64.5; }, "intermediate_size"],
  ["a huge size", "gpt2", (c) => { c.n_embd = 1e300; }, "n_embd"],
  ["fewer layers than the checkpoint (llama)", "llama", (c) => { c.num_hidden_layers = 1; }, "num_hidden_layers"],
  ["fewer layers than the checkpoint (gpt2)", "gpt2", (c) => { c.n_layer = 1; }, "n_layer"],
  ["qwen3 layer_types of the wrong length", "qwen3", (c) => { c.layer_types = ["full_attention"]; }, "layer_types"],
  ["qwen3 sliding layers without a window", "qwen3", (c) => { c.use_sliding_window = false; }, "layer_types[1]"],
  ["longrope long_factor of the wrong length", "phi3-longrope", (c) => { c.rope_parameters.long_factor = [1, 2]; }, "long_factor"],
  ["partial_rotary_factor above 1", "phi3", (c) => { c.rope_parameters.partial_rotary_factor = 2; }, "partial_rotary_factor"],
  ["fewer layers than the checkpoint (gpt_neox)", "gpt_neox", (c) => { c.num_hidden_layers = 1; }, "num_hidden_layers"],
  ["negative layer_norm_eps", "gpt_neox", (c) => { c.layer_norm_eps = -1e-5; }, "layer_norm_eps"],
  ["partial_rotary_factor above 1 (gpt_neox)", "gpt_neox", (c) => { c.rope_parameters.partial_rotary_factor = 2; }, "rope_parameters.partial_rotary_factor"],
  ["rotary_pct above 1 (transformers 4 spelling)", "gpt_neox-sequential", (c) => { delete c.rope_parameters; c.rotary_pct = 1.5; }, "rotary_pct"],
  ["rotary_emb_base 0 (transformers 4 spelling)", "gpt_neox", (c) => { delete c.rope_parameters; c.rotary_emb_base = 0; }, "rotary_emb_base"],
];

describe("config.json sanity: decoder-only", () => {
  for (const [name, model, edit, field] of DECODER_ONLY) {
    it(`${name} -> ERR_BAD_CHECKPOINT naming ${field}`, async () => {
      const dir = withConfig(referenceDir(model), edit);
      const e = await loadError(loadModel(dir, { device: "cpu" }));
      expect(e.code).toBe("ERR_BAD_CHECKPOINT");
      expect(e.message).toContain(field);
      expect(e.message).toContain(path.join(dir, "config.json"));
    });
  }

  it("a layer count below the checkpoint's names the first block the config leaves out", async () => {
    const e = await loadError(loadModel(withConfig(referenceDir("llama"), (c) => { c.num_hidden_layers = 1; }), { device: "cpu" }));
    expect(e.message).toContain("num_hidden_layers is 1 but the checkpoint has block 1");
    expect(e.message).toMatch(/model\.layers\.1\.\w+/);
  });

  it("bias tensors the config switches off are refused, not ignored", async () => {
    // qwen2's checkpoint has q/k/v biases; as "llama" with attention_bias false they would be dropped.
    const e = await loadError(loadModel(withConfig(referenceDir("qwen2"), (c) => { c.model_type = "llama"; c.attention_bias = false; }), { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toMatch(/model\.layers\.0\.self_attn\.[kqv]_proj\.bias/);
    expect(e.message).toContain("does not use");
    // gpt_neox's query_key_value / dense biases, with attention_bias switched off.
    const n = await loadError(loadModel(withConfig(referenceDir("gpt_neox"), (c) => { c.attention_bias = false; }), { device: "cpu" }));
    expect(n.code).toBe("ERR_BAD_CHECKPOINT");
    expect(n.message).toMatch(/gpt_neox\.layers\.0\.attention\.(dense|query_key_value)\.bias/);
  });

  it("qwen3 q/k/v/o biases with attention_bias switched off are refused", async () => {
    const e = await loadError(loadModel(withConfig(referenceDir("qwen3-bias"), (c) => { c.attention_bias = false; }), { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toMatch(/model\.layers\.0\.self_attn\.[kqvo]_proj\.bias/);
  });

  it("NaN rms_norm_eps (as Python's json writes it) names the field", async () => {
    const config = readJson(path.join(referenceDir("llama"), "config.json"));
    const text = JSON.stringify({ ...config, rms_norm_eps: "__NAN__" }).replace('"__NAN__"', "NaN");
    const e = await loadError(loadModel(withConfig(referenceDir("llama"), text), { device: "cpu" }));
    expect(e.code).toBe("ERR_BAD_CHECKPOINT");
    expect(e.message).toContain("rms_norm_eps");
  });

  it("every reference checkpoint still loads", async () => {
    for (const name of ["llama", "llama-bf16", "llama-sharded", "gpt2", "gpt2-f16", "mistral", "qwen2", "gemma", "gemma2", "gemma2-nocap", "gemma3", "gemma3-hd12", "qwen3", "qwen3-bias", "olmo2", "phi3", "phi3-longrope", "gpt_neox", "gpt_neox-sequential"]) {
      const m = await loadModel(referenceDir(name), { device: "cpu" });
      await m.dispose();
    }
  });
});

const SEQ2SEQ: Array<[string, string, (c: Record<string, any>) => void, string]> = [
  ["no decoder layers", "bart", (c) => { c.decoder_layers = 0; }, "decoder_layers"],
  ["fewer encoder layers than the checkpoint", "marian", (c) => { c.encoder_layers = 1; }, "encoder_layers"],
  ["fewer decoder layers than the checkpoint", "mbart", (c) => { c.decoder_layers = 1; }, "decoder_layers"],
  ["zero attention heads", "bart", (c) => { c.encoder_attention_heads = 0; }, "encoder_attention_heads"],
  ["heads not dividing d_model", "m2m_100", (c) => { c.decoder_attention_heads = 3; }, "decoder_attention_heads"],
  ["pad id outside the vocabulary", "marian", (c) => { c.pad_token_id = c.vocab_size + 5; }, "pad_token_id"],
  ["decoder start id outside the vocabulary", "bart", (c) => { c.decoder_start_token_id = -3; }, "decoder_start_token_id"],
  ["max_position_embeddings 0", "bart", (c) => { c.max_position_embeddings = 0; }, "max_position_embeddings"],
  ["bos id outside the vocabulary", "bart", (c) => { c.bos_token_id = c.vocab_size; }, "bos_token_id"],
  ["fewer encoder blocks than the checkpoint", "t5", (c) => { c.num_layers = 1; c.num_decoder_layers = 2; }, "num_layers"],
  ["fewer decoder blocks than the checkpoint", "t5-v1_1", (c) => { c.num_decoder_layers = 1; }, "num_decoder_layers"],
  ["d_kv 0", "t5", (c) => { c.d_kv = 0; }, "d_kv"],
  ["d_kv not matching the stored q/k/v", "t5", (c) => { c.d_kv = 8; }, "q.weight"],
  ["relative_attention_max_distance at the bucket limit", "t5-v1_1", (c) => { c.relative_attention_max_distance = 8; }, "relative_attention_max_distance"],
  ["eos id outside the vocabulary", "t5", (c) => { c.eos_token_id = c.vocab_size; }, "eos_token_id"],
  ["gated feed-forward over a relu checkpoint", "t5", (c) => { c.feed_forward_proj = "gated-gelu"; }, "wi_0"],
];

describe("config.json sanity: encoder-decoders", () => {
  for (const [name, model, edit, field] of SEQ2SEQ) {
    it(`${model}: ${name} -> ERR_BAD_CHECKPOINT naming ${field}`, async () => {
      const dir = withConfig(seq2seqDir(model), edit);
      const e = await loadError(loadSeq2SeqModel(dir, { device: "cpu" }));
      expect(e.code).toBe("ERR_BAD_CHECKPOINT");
      expect(e.message).toContain(field);
    });
  }

  it("an activation we do not implement is refused at load (it failed at the first forward)", async () => {
    const dir = withConfig(seq2seqDir("bart"), (c) => { c.activation_function = "tanh"; });
    const e = await loadError(loadSeq2SeqModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_UNSUPPORTED_MODEL");
    expect(e.message).toContain('activation_function "tanh"');
  });

  it("a feed_forward_proj we do not implement is refused at load", async () => {
    const dir = withConfig(seq2seqDir("t5"), (c) => { c.feed_forward_proj = "gated-tanh"; });
    const e = await loadError(loadSeq2SeqModel(dir, { device: "cpu" }));
    expect(e.code).toBe("ERR_UNSUPPORTED_MODEL");
    expect(e.message).toContain('feed_forward_proj "gated-tanh"');
  });

  it("every reference encoder-decoder still loads", async () => {
    for (const name of ["bart", "marian", "mbart", "m2m_100", "t5", "t5-v1_1"]) {
      const m = await loadSeq2SeqModel(seq2seqDir(name), { device: "cpu" });
      await m.dispose();
    }
  });
});
