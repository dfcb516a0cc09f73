// GPT-NeoX (Pythia, GPT-NeoX-20B) as transformers 5's modeling_gpt_neox.py computes it: pre-LayerNorm blocks
// (with biases), one fused query_key_value projection laid out per head as [q | k | v], rotary embeddings over the
// first rope_dim() channels of each head (partial rotary), a dense_h_to_4h / dense_4h_to_h MLP, and a parallel residual
// x + attn(ln1(x)) + mlp(ln2(x)) or, with use_parallel_residual false, the sequential one. Untied embed_out head
// unless tie_word_embeddings.
#pragma once

#include "models/causal_lm.h"
#include "models/safetensors.h"

namespace inseq::models {

struct GptNeoxLayer {
  at::Tensor ln1_w, ln1_b;    // input_layernorm [hidden]
  at::Tensor qkv_w, qkv_b;    // attention.query_key_value [3 * hidden, hidden] (rows: head h's q, k, v), [3 * hidden] or undefined
  at::Tensor dense_w, dense_b;  // attention.dense [hidden, hidden], [hidden] or undefined
  at::Tensor ln2_w, ln2_b;    // post_attention_layernorm [hidden]
  at::Tensor fc_w, fc_b;      // mlp.dense_h_to_4h [inter, hidden], [inter]
  at::Tensor proj_w, proj_b;  // mlp.dense_4h_to_h [hidden, inter], [hidden]
};

class GptNeoxModel : public CausalLM {
 public:
  GptNeoxModel(const ModelConfig& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype);

  at::Tensor embed(const at::Tensor& ids) const override;
  ForwardResult forward(const ForwardRequest& request) const override;
  std::map<std::string, at::Tensor> named_parameters() const override;
  LogitLens logit_lens() const override;
  ModelCapabilities capabilities() const override {
    ModelCapabilities c;
    c.block_recompute = true;
    c.attention_parts = true;
    c.lrp_rules = true;
    return c;
  }

 private:
  // Block i on x [b, s, h]: mask [b, past+s], the forward's attention plan, attention bias [b, 1, s, past+s]
  // (kExplicit only), RoPE cos/sin [b, 1, s, rotary dims]; `out` (optional) receives attentions.
  at::Tensor block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan, const at::Tensor& cos,
                   const at::Tensor& sin, const ForwardRequest& req, ForwardResult* out) const;
  at::Tensor embed_in_;  // [vocab, hidden]
  std::vector<GptNeoxLayer> layers_;
  at::Tensor final_ln_w_, final_ln_b_;  // [hidden]
  at::Tensor lm_head_;   // embed_out [vocab, hidden] (aliases embed_in_ when tied)
  std::string head_name_;  // "embed_out.weight" (or "lm_head.weight" where the checkpoint names it so); "" when tied
  at::Tensor inv_freq_;  // [ceil(rotary dims / 2)] float32
};

}  // namespace inseq::models
