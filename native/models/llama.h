// Llama-family decoder (Llama 1-3, Mistral, Qwen2, SmolLM, TinyLlama): pre-RMSNorm blocks, rotary
// attention with grouped KV heads, SwiGLU MLP; optional q/k/v(/o) and MLP biases, tied or untied head.
// Config switches (models/config.h) make it Qwen3 (per-head QK norm, per-layer sliding windows), OLMo 2
// (post-norm blocks, QK norm over the projections) and Phi-3 (fused qkv_proj / gate_up_proj, partial rotary,
// LongRoPE).
#pragma once

#include "models/causal_lm.h"
#include "models/rope.h"
#include "models/safetensors.h"

namespace inseq::models {

struct LlamaLayer {
  at::Tensor input_norm;                  // [hidden] (undefined with post_norm_blocks)
  at::Tensor q_w, k_w, v_w, o_w;          // [heads*hd, hidden], [kv*hd, hidden], [kv*hd, hidden], [hidden, heads*hd]
  at::Tensor q_b, k_b, v_b, o_b;          // biases or undefined
  at::Tensor post_norm;                   // [hidden]
  at::Tensor gate_w, up_w, down_w;        // [inter, hidden], [inter, hidden], [hidden, inter]
  at::Tensor gate_b, up_b, down_b;        // biases or undefined
  at::Tensor q_norm, k_norm;              // qk_norm_per_head: [hd] each; qk_norm_full: [heads*hd], [kv*hd]; else undefined
  at::Tensor post_ffn_norm;               // post_norm_blocks: [hidden] (post_feedforward_layernorm)
  // fused_projections (phi3): qkv_w [(heads + 2 kv) * hd, hidden] and gate_up_w [2 inter, hidden] hold the
  // weights; q_w, k_w, v_w, gate_w, up_w are row views of them (the checkpoint's tensors stay the parameters).
  at::Tensor qkv_w, gate_up_w;
};

class LlamaModel : public CausalLM {
 public:
  LlamaModel(const ModelConfig& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype);
  LlamaModel(const ModelConfig& config, uint64_t seed, c10::Device device);  // random init (std 0.02)

  at::Tensor embed(const at::Tensor& ids) const override;
  ForwardResult forward(const ForwardRequest& request) const override;
  std::map<std::string, at::Tensor> named_parameters() const override;
  LogitLens logit_lens() const override;
  ModelCapabilities capabilities() const override {
    ModelCapabilities c;
    c.block_recompute = true;
    c.attention_parts = true;
    c.lrp_rules = true;
    // LongRoPE picks its frequencies from a forward's largest position: keys cached by a shorter forward
    // would not be the ones a full forward computes.
    c.prefix_cache = config_.rope.type != "longrope";
    return c;
  }

 private:
  void finish_init();
  // Block i on x [b, s, h]: mask [b, past+s], the forward's attention plan, attention bias [b, 1, s, past+s]
  // (kExplicit only), RoPE cos/sin [b, 1, s, hd]; `out` (optional) receives attentions.
  // The attention of layer i sees keys within this window (0 = all).
  int64_t window(int64_t i) const {
    return config_.layer_sliding_windows.empty() ? config_.sliding_window : config_.layer_sliding_windows[static_cast<size_t>(i)];
  }
  at::Tensor block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan, const at::Tensor& cos,
                   const at::Tensor& sin, const ForwardRequest& req, ForwardResult* out) const;
  at::Tensor embed_tokens_;  // [vocab, hidden]
  std::vector<LlamaLayer> layers_;
  at::Tensor final_norm_;    // [hidden]
  at::Tensor lm_head_;       // [vocab, hidden] (aliases embed_tokens_ when tied)
  RopeTables rope_;          // inverse frequencies [rope_dim / 2] float32 (models/rope.h)
};

}  // namespace inseq::models
