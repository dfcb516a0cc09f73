// Rotary position embeddings of the Llama variants beyond layers.h's rope_inv_freq / rope_cos_sin / apply_rope:
// LongRoPE (phi3) with its short and long frequency sets and attention factor, and partial rotary heads.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

#include "models/config.h"

namespace inseq::models {

// The inverse frequencies of one model, chosen per forward.
struct RopeTables {
  at::Tensor inv_freq;       // [rope_dim / 2] float32 CPU: default / linear / llama3, and longrope's short set
  at::Tensor long_inv_freq;  // [rope_dim / 2] float32 CPU: longrope's long set (undefined otherwise)
  int64_t switch_length = 0; // longrope: a forward whose largest position id + 1 exceeds this uses the long set
  double attention_factor = 1.0;  // cos and sin are multiplied by it (longrope)
};

// transformers' ROPE_INIT_FUNCTIONS for config.rope over int(head_dim * partial_rotary_factor) channels; for
// longrope inv_freq = 1 / (factor_i * theta^(2i / dim)) with the short and the long factors.
RopeTables rope_tables(const ModelConfig& config);

// cos/sin [batch, 1, seq, 2 * len(inv_freq)] in `dtype` for positions [batch, seq]: like transformers'
// dynamic_rope_update + rotary forward, longrope takes the long set when max(position_ids) + 1 > switch_length
// (one set for the whole batch, as transformers decides it over the batch's position ids), and cos/sin are
// scaled by the attention factor before the cast.
// With `row_lengths` ([batch] int64, ForwardRequest::rope_lengths) each row takes the set for its own length.
std::pair<at::Tensor, at::Tensor> rope_cos_sin_for(const RopeTables& tables, const at::Tensor& position_ids,
                                                   c10::ScalarType dtype, const at::Tensor& row_lengths = {});

// apply_rope on the first cos.size(-1) channels of x [b, h, s, d]; the rest pass through (partial rotary).
at::Tensor apply_partial_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace inseq::models
