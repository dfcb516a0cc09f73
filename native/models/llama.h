// Llama-family decoder (Llama 1-3, Mistral, Qwen2, SmolLM, TinyLlama): pre-RMSNorm blocks, rotary
// attention with grouped KV heads, SwiGLU MLP; optional q/k/v(/o) and MLP biases, tied or untied head.
#pragma once

#include "models/causal_lm.h"
#include "models/safetensors.h"

namespace inseq::models {

struct LlamaLayer {
  at::Tensor input_norm;                  // [hidden]
  at::Tensor q_w, k_w, v_w, o_w;          // [heads*hd, hidden], [kv*hd, hidden], [kv*hd, hidden], [hidden, heads*hd]
  at::Tensor q_b, k_b, v_b, o_b;          // biases or undefined
  at::Tensor post_norm;                   // [hidden]
  at::Tensor gate_w, up_w, down_w;        // [inter, hidden], [inter, hidden], [hidden, inter]
  at::Tensor gate_b, up_b, down_b;        // biases or undefined
};

class LlamaModel : public CausalLM {
 public:
  LlamaModel(const ModelConfig& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype);
  LlamaModel(const ModelConfig& config, uint64_t seed, c10::Device device);  // random init (std 0.02)

  at::Tensor embed(const at::Tensor& ids) const override;
  ForwardResult forward(const ForwardRequest& request) const override;
  std::map<std::string, at::Tensor> named_parameters() const override;
  ModelCapabilities capabilities() const override {
    ModelCapabilities c;
    c.block_recompute = true;
    return c;
  }

 private:
  void finish_init();
  // Block i on x [b, s, h]: mask [b, past+s], the forward's attention plan, attention bias [b, 1, s, past+s]
  // (kExplicit only), RoPE cos/sin [b, 1, s, hd]; `out` (optional) receives attentions.
  at::Tensor block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan, const at::Tensor& cos,
                   const at::Tensor& sin, const ForwardRequest& req, ForwardResult* out) const;
  at::Tensor embed_tokens_;  // [vocab, hidden]
  std::vector<LlamaLayer> layers_;
  at::Tensor final_norm_;    // [hidden]
  at::Tensor lm_head_;       // [vocab, hidden] (aliases embed_tokens_ when tied)
  at::Tensor inv_freq_;      // [head_dim / 2] float32
};

}  // namespace inseq::models
