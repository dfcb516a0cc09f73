#include "models/layers.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "core/error.h"

namespace inseq::models {

at::Tensor full_mask(int64_t batch, int64_t total, c10::Device device) {
  return at::ones({batch, total}, at::TensorOptions().dtype(at::kLong).device(device));
}

at::Tensor causal_attention_bias(const at::Tensor& attention_mask, int64_t seq, int64_t sliding_window,
                                 c10::ScalarType dtype) {
  const int64_t total = attention_mask.size(1);
  const int64_t past = total - seq;
  auto opts = at::TensorOptions().dtype(at::kLong).device(attention_mask.device());
  at::Tensor q_pos = at::arange(past, total, opts).unsqueeze(1);  // [seq, 1]
  at::Tensor k_pos = at::arange(0, total, opts).unsqueeze(0);     // [1, total]
  at::Tensor visible = k_pos.le(q_pos);                           // [seq, total]
  if (sliding_window > 0) visible = visible.logical_and(q_pos.sub(k_pos).lt(sliding_window));
  visible = visible.unsqueeze(0).logical_and(attention_mask.to(at::kBool).unsqueeze(1));  // [batch, seq, total]
  const double lowest = dtype == at::kHalf       ? static_cast<double>(std::numeric_limits<c10::Half>::lowest())
                        : dtype == at::kBFloat16 ? static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest())
                                                 : static_cast<double>(std::numeric_limits<float>::lowest());
  at::Tensor bias = at::zeros(visible.sizes(), at::TensorOptions().dtype(dtype).device(attention_mask.device()));
  bias.masked_fill_(visible.logical_not(), lowest);
  return bias.unsqueeze(1);  // [batch, 1, seq, total]
}

at::Tensor position_ids_from_mask(const at::Tensor& attention_mask, int64_t seq) {
  at::Tensor pos = attention_mask.to(at::kLong).cumsum(1).sub(1);  // [batch, total]
  pos.masked_fill_(attention_mask.to(at::kBool).logical_not(), 1);
  return pos.slice(1, pos.size(1) - seq).contiguous();  // [batch, seq]
}

std::pair<at::Tensor, at::Tensor> scaled_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                   const at::Tensor& bias, double scale, double dropout, bool training) {
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).mul(scale).add(bias);  // [b, h, s, t]
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());  // [b, h, s, t]
  at::Tensor used = (training && dropout > 0) ? at::dropout(probs, dropout, true) : probs;
  return {at::matmul(used, v), probs};  // [b, h, s, d]
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf.mul(at::rsqrt(xf.pow(2).mean(-1, true).add(eps)));
  return weight.mul(normed.to(x.scalar_type()));
}

at::Tensor activation(const at::Tensor& x, const std::string& name) {
  if (name == "silu") return at::silu(x);
  if (name == "relu") return at::relu(x);
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as transformers' NewGELUActivation
    const double c = std::sqrt(2.0 / M_PI);
    return x.mul(0.5).mul(at::tanh(x.add(x.pow(3).mul(0.044715)).mul(c)).add(1.0));
  }
  throw core::Error(core::ErrorCode::kUnsupportedModel, "Unsupported activation " + name);
}

at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t head_dim) {
  at::Tensor idx = at::arange(0, head_dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat);
  at::Tensor inv_freq = at::pow(rope.theta, idx.div(static_cast<double>(head_dim))).reciprocal();  // [head_dim/2]
  if (rope.type == "linear") return inv_freq.div(rope.factor);
  if (rope.type == "llama3") {
    const double old_ctx = static_cast<double>(rope.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rope.low_freq_factor;
    const double high_wavelen = old_ctx / rope.high_freq_factor;
    at::Tensor wavelen = inv_freq.reciprocal().mul(2 * M_PI);
    at::Tensor scaled = at::where(wavelen.gt(low_wavelen), inv_freq.div(rope.factor), inv_freq);
    at::Tensor smooth = wavelen.reciprocal().mul(old_ctx).sub(rope.low_freq_factor).div(rope.high_freq_factor - rope.low_freq_factor);
    at::Tensor smoothed = smooth.neg().add(1).mul(scaled).div(rope.factor).add(smooth.mul(scaled));
    at::Tensor medium = wavelen.ge(high_wavelen).logical_and(wavelen.le(low_wavelen));
    return at::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& position_ids,
                                               const RopeConfig& rope, c10::ScalarType dtype) {
  (void)rope;
  at::Tensor freqs = position_ids.to(at::kFloat).unsqueeze(-1).mul(inv_freq.to(position_ids.device()));  // [b, s, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                                                         // [b, s, d]
  return {emb.cos().to(dtype).unsqueeze(1), emb.sin().to(dtype).unsqueeze(1)};                           // [b, 1, s, d]
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.slice(-1, 0, half);
  at::Tensor x2 = x.slice(-1, half);
  at::Tensor rotated = at::cat({x2.neg(), x1}, -1);  // rotate_half
  return x.mul(cos).add(rotated.mul(sin));
}

}  // namespace inseq::models
