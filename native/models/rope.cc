#include "models/rope.h"

#include <ATen/ATen.h>

#include <cmath>

#include "models/layers.h"

namespace inseq::models {

namespace {

// 1 / (factors * theta^(arange(0, dim, 2) / dim)) in float32, as _compute_longrope_parameters.
at::Tensor longrope_inv_freq(const std::vector<double>& factors, double theta, int64_t dim) {
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor ext = at::tensor(std::vector<float>(factors.begin(), factors.end()), f32);            // [dim / 2]
  at::Tensor shape = at::arange(0, dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat).div(static_cast<double>(dim));
  return ext.mul(at::pow(theta, shape)).reciprocal();  // [dim / 2]
}

}  // namespace

RopeTables rope_tables(const ModelConfig& c) {
  RopeTables t;
  const int64_t dim = rope_dim(c);
  if (c.rope.type == "longrope") {
    t.inv_freq = longrope_inv_freq(c.rope.short_factor, c.rope.theta, dim);
    t.long_inv_freq = longrope_inv_freq(c.rope.long_factor, c.rope.theta, dim);
    t.switch_length = c.rope.original_max_position_embeddings;
    t.attention_factor = c.rope.attention_factor;
  } else {
    t.inv_freq = rope_inv_freq(c.rope, dim);
  }
  return t;
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin_for(const RopeTables& t, const at::Tensor& pos, c10::ScalarType dtype,
                                                   const at::Tensor& row_lengths) {
  at::Tensor inv = t.inv_freq;  // [d/2], or [b, 1, d/2] per row
  if (t.long_inv_freq.defined() && row_lengths.defined()) {
    at::Tensor is_long = row_lengths.to(pos.device(), at::kLong).gt(t.switch_length).view({-1, 1, 1});  // [b, 1, 1]
    inv = at::where(is_long, t.long_inv_freq.to(pos.device()), t.inv_freq.to(pos.device()));               // [b, 1, d/2]
  } else if (t.long_inv_freq.defined() && pos.numel() > 0 && pos.max().item<int64_t>() + 1 > t.switch_length) {
    inv = t.long_inv_freq;
  }
  if (t.attention_factor == 1.0 && inv.dim() == 1) return rope_cos_sin(inv, pos, dtype);  // bit-identical to the plain tables
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1).mul(inv.to(pos.device()));  // [b, s, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                                     // [b, s, d]
  if (t.attention_factor == 1.0) return {emb.cos().to(dtype).unsqueeze(1), emb.sin().to(dtype).unsqueeze(1)};
  return {emb.cos().mul(t.attention_factor).to(dtype).unsqueeze(1),                  // [b, 1, s, d]
          emb.sin().mul(t.attention_factor).to(dtype).unsqueeze(1)};
}

at::Tensor apply_partial_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t rot = cos.size(-1);
  if (rot >= x.size(-1)) return apply_rope(x, cos, sin);
  return at::cat({apply_rope(x.slice(-1, 0, rot), cos, sin), x.slice(-1, rot)}, -1);  // [b, h, s, d]
}

}  // namespace inseq::models
