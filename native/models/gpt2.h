// GPT-2: learned positions, pre-LayerNorm blocks, fused qkv Conv1D ([in, out] weights), GELU (tanh) MLP,
// head tied to the token embeddings.
#pragma once

#include "models/causal_lm.h"
#include "models/safetensors.h"

namespace inseq::models {

struct Gpt2Layer {
  at::Tensor ln1_w, ln1_b;          // [hidden]
  at::Tensor attn_w, attn_b;        // [hidden, 3 * hidden], [3 * hidden]   (Conv1D: x @ W + b)
  at::Tensor proj_w, proj_b;        // [hidden, hidden], [hidden]
  at::Tensor ln2_w, ln2_b;          // [hidden]
  at::Tensor fc_w, fc_b;            // [hidden, inner], [inner]
  at::Tensor fc_proj_w, fc_proj_b;  // [inner, hidden], [hidden]
};

class Gpt2Model : public CausalLM {
 public:
  Gpt2Model(const ModelConfig& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype);

  at::Tensor embed(const at::Tensor& ids) const override;
  ForwardResult forward(const ForwardRequest& request) const override;
  std::map<std::string, at::Tensor> named_parameters() const override;
  LogitLens logit_lens() const override;
  at::Tensor position_embeddings(const at::Tensor& position_ids) const override;
  ModelCapabilities capabilities() const override {
    ModelCapabilities c;
    c.block_recompute = true;
    c.attention_parts = true;
    c.lrp_rules = true;
    return c;
  }

 private:
  // Block i on x [b, s, h] with the mask [b, past+s], the forward's attention plan and the attention bias
  // [b, 1, s, past+s] (kExplicit only); `out` (optional) receives attentions.
  at::Tensor block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan, const ForwardRequest& req,
                   ForwardResult* out) const;
  std::string prefix_;  // "transformer." for GPT2LMHeadModel checkpoints, "" for bare GPT2Model ones
  at::Tensor wte_;      // [vocab, hidden]
  at::Tensor wpe_;      // [positions, hidden]
  std::vector<Gpt2Layer> layers_;
  at::Tensor lnf_w_, lnf_b_;  // [hidden]
  at::Tensor lm_head_;        // [vocab, hidden]
};

}  // namespace inseq::models
