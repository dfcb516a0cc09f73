// Gemma decoders, as transformers' modeling_gemma.py / modeling_gemma2.py / modeling_gemma3.py (Gemma3ForCausalLM)
// compute them; ModelConfig::gemma_generation switches between the three:
//   all: token embeddings scaled by sqrt(hidden_size) (in the model dtype), (1 + weight) RMSNorms in float32,
//        rotary attention with grouped KV heads and an explicit head_dim, GeGLU MLP (hidden_act), tied head;
//   gemma2: attention scores scaled by query_pre_attn_scalar^-0.5 and soft-capped (attn_logit_softcapping), a
//        norm after the attention and around the MLP (4 per block), sliding-window / full layers (layer_types),
//        soft-capped final logits (final_logit_softcapping);
//   gemma3_text: gemma2's blocks without attention soft-capping, plus q/k RMSNorms per head (QK-norm) and a
//        separate RoPE for the sliding layers (local base, the full layers keep their scaling).
#pragma once

#include "models/causal_lm.h"
#include "models/safetensors.h"

namespace inseq::models {

struct GemmaLayer {
  at::Tensor input_norm;                  // [hidden]
  at::Tensor q_w, k_w, v_w, o_w;          // [heads*hd, hidden], [kv*hd, hidden], [kv*hd, hidden], [hidden, heads*hd]
  at::Tensor q_b, k_b, v_b, o_b;          // attention_bias, or undefined
  at::Tensor q_norm, k_norm;              // [hd] (gemma3), or undefined
  at::Tensor post_attn_norm;              // [hidden]: gemma: before the MLP; gemma2/3: on the attention output
  at::Tensor pre_ff_norm, post_ff_norm;   // [hidden] (gemma2/3), or undefined
  at::Tensor gate_w, up_w, down_w;        // [inter, hidden], [inter, hidden], [hidden, inter]
  bool sliding = false;                   // "sliding_attention": keys within config sliding_window of the query
};

class GemmaModel : public CausalLM {
 public:
  GemmaModel(const ModelConfig& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype);

  // The token embeddings times sqrt(hidden_size), as transformers' Gemma*TextScaledWordEmbedding returns them:
  // what transformers' forward(inputs_embeds=...) and Python Inseq take (and perturb).
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
  // What the blocks of one forward share: the padding mask [b, past+s], the attention plan, the additive biases
  // [b, 1, s, past+s] of the full and sliding layers (kExplicit only), the RoPE tables [b, 1, s, hd] of both.
  struct Shared {
    at::Tensor mask;
    AttentionPlan plan = AttentionPlan::kExplicit;
    at::Tensor full_bias, sliding_bias;
    at::Tensor cos, sin, local_cos, local_sin;
  };
  // Block i on x [b, s, h]; `out` (optional) receives attentions.
  at::Tensor block(int64_t i, at::Tensor x, const Shared& shared, const ForwardRequest& req, ForwardResult* out) const;
  // (1 + weight) RMSNorm in float32; under an active LRP rule its denominator is a constant (models/lrp_rules.h)
  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight, const LrpRule& lrp) const;
  at::Tensor embed_tokens_;  // [vocab, hidden]
  at::Tensor embed_scale_;   // [] sqrt(hidden_size) rounded to float32, then to the model dtype
  std::vector<GemmaLayer> layers_;
  at::Tensor final_norm_;    // [hidden]
  at::Tensor lm_head_;       // [vocab, hidden] (aliases embed_tokens_ when tied)
  at::Tensor inv_freq_;      // [hd / 2] float32: the full layers' RoPE (gemma, gemma2: every layer's)
  at::Tensor local_inv_freq_;  // [hd / 2] float32: gemma3's sliding layers' RoPE (else inv_freq_)
  double scale_ = 1.0;       // attention score scale: head_dim^-0.5 (gemma), query_pre_attn_scalar^-0.5 (gemma2/3)
};

}  // namespace inseq::models
