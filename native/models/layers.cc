#include "models/layers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "core/error.h"

#include <torch/version.h>

// at::scaled_dot_product_attention with a `scale` argument: LibTorch >= 2.1 (not Debian's 1.13).
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#define INSEQ_FUSED_ATTENTION 1
#else
#define INSEQ_FUSED_ATTENTION 0
#endif

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace inseq::models {

at::Tensor full_mask(int64_t batch, int64_t total, c10::Device device) {
  return at::ones({batch, total}, at::TensorOptions().dtype(at::kLong).device(device));
}

at::Tensor causal_attention_bias(const at::Tensor& attention_mask, int64_t seq, int64_t sliding_window,
                                 c10::ScalarType dtype) {
  return causal_attention_bias_rows(attention_mask, seq, 0, seq, sliding_window, dtype);
}

at::Tensor causal_attention_bias_rows(const at::Tensor& attention_mask, int64_t seq, int64_t q0, int64_t q1,
                                      int64_t sliding_window, c10::ScalarType dtype) {
  const int64_t total = attention_mask.size(1);
  const int64_t past = total - seq;
  auto opts = at::TensorOptions().dtype(at::kLong).device(attention_mask.device());
  at::Tensor q_pos = at::arange(past + q0, past + q1, opts).unsqueeze(1);  // [q1 - q0, 1]
  at::Tensor k_pos = at::arange(0, total, opts).unsqueeze(0);     // [1, total]
  at::Tensor visible = k_pos.le(q_pos);                           // [seq, total]
  if (sliding_window > 0) visible = visible.logical_and(q_pos.sub(k_pos).lt(sliding_window));
  visible = visible.unsqueeze(0).logical_and(attention_mask.to(at::kBool).unsqueeze(1));  // [batch, q1 - q0, total]
  const double lowest = dtype == at::kHalf       ? static_cast<double>(std::numeric_limits<c10::Half>::lowest())
                        : dtype == at::kBFloat16 ? static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest())
                        : dtype == at::kDouble   ? std::numeric_limits<double>::lowest()
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
                                                   const at::Tensor& bias, double scale, double dropout, bool training,
                                                   const DeepLiftRule& deeplift, double softcap, const LrpRule& lrp) {
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).mul(scale);  // [b, h, s, t]
  if (softcap > 0) {  // before the mask, as transformers
    scores = lrp.active() ? lrp_soft_cap(scores, softcap, lrp) : soft_cap(scores, softcap, deeplift);
  }
  scores = scores.add(bias);
  at::Tensor probs = deeplift.active() ? deeplift_softmax(scores, deeplift) : at::softmax(scores, -1, accum_type(q.scalar_type())).to(q.scalar_type());  // [b, h, s, t]
  at::Tensor used = (training && dropout > 0) ? at::dropout(probs, dropout, true) : probs;
  return {at::matmul(used, v), probs};  // [b, h, s, d]
}

bool fused_attention_available() {
#if INSEQ_FUSED_ATTENTION
  return true;
#else
  return false;
#endif
}

at::Tensor fused_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
#if INSEQ_FUSED_ATTENTION
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true, scale);  // [b, h, s, d]
#else
  (void)q, (void)k, (void)v, (void)scale;
  throw core::Error(core::ErrorCode::kInternal, "fused_causal_attention needs LibTorch >= 2.1");
#endif
}

at::Tensor causal_rows_probs(const at::Tensor& q, const at::Tensor& k, double scale, const at::Tensor& rows) {
  at::Tensor idx = rows.to(q.device(), at::kLong);                                        // [P]
  at::Tensor scores = at::matmul(q.index_select(2, idx), k.transpose(-1, -2)).mul(scale);  // [b, h, P, t]
  at::Tensor later = at::arange(k.size(2), idx.options()).unsqueeze(0).gt(idx.unsqueeze(1));  // [P, t]: keys after the query
  scores = scores.to(accum_type(q.scalar_type())).masked_fill(later, -std::numeric_limits<double>::infinity());
  return at::softmax(scores, -1).to(q.scalar_type());  // [b, h, P, t]
}

std::pair<at::Tensor, at::Tensor> blocked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const at::Tensor& attention_mask, int64_t sliding_window, double scale,
                                                    double dropout, bool training, const DeepLiftRule& deeplift,
                                                    int64_t block, const at::Tensor& rows, double softcap, const LrpRule& lrp) {
  const int64_t b = q.size(0), h = q.size(1), s = q.size(2), t = k.size(2);
  const int64_t blk = block > 0 ? std::min(block, std::max<int64_t>(s, 1)) : std::max<int64_t>(s, 1);
  at::Tensor host_rows = rows.defined() ? rows.to(at::kCPU, at::kLong).contiguous() : at::Tensor();  // [P]
  const int64_t P = host_rows.defined() ? host_rows.numel() : 0;
  at::Tensor ctx = at::empty({b, h, s, v.size(3)}, v.options());  // [b, h, s, d]
  at::Tensor kept = at::empty({b, h, P, t}, q.options());          // [b, h, P, t]
  const int64_t* r = P ? host_rows.data_ptr<int64_t>() : nullptr;
  for (int64_t s0 = 0; s0 < s; s0 += blk) {
    const int64_t s1 = std::min(s, s0 + blk);
    at::Tensor bias = causal_attention_bias_rows(attention_mask, s, s0, s1, sliding_window, q.scalar_type());  // [b, 1, s1-s0, t]
    auto [c, p] = scaled_attention(q.slice(2, s0, s1), k, v, bias, scale, dropout, training, deeplift, softcap, lrp);  // [b, h, s1-s0, d|t]
    ctx.slice(2, s0, s1).copy_(c);
    std::vector<int64_t> local, out;  // rows inside this block: their row in p, their slot in kept
    for (int64_t i = 0; i < P; ++i)
      if (r[i] >= s0 && r[i] < s1) local.push_back(r[i] - s0), out.push_back(i);
    if (local.empty()) continue;
    kept.index_copy_(2, at::tensor(out, at::kLong).to(q.device()), p.index_select(2, at::tensor(local, at::kLong).to(q.device())));
  }
  return {ctx, kept};
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(accum_type(x.scalar_type()));
  at::Tensor normed = xf.mul(inverse_rms(xf, eps));
  return weight.mul(normed.to(x.scalar_type()));
}

at::Tensor inverse_rms(const at::Tensor& xf, double eps, const LrpRule& lrp) {
  return at::rsqrt((lrp.active() ? xf.detach() : xf).pow(2).mean(-1, true).add(eps));  // [.., 1]
}

at::Tensor rms_post_scale(const at::Tensor& o, const at::Tensor& weight, double eps) {
  at::Tensor of = o.to(accum_type(o.scalar_type()));                          // [b, s, h]
  return inverse_rms(of, eps).mul(weight.to(of.scalar_type()));  // [b, s, h]
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

namespace {

// y = f(z) forward; backward multiplies the incoming gradient by the precomputed DeepLIFT multiplier.
struct MultiplierFunction : public torch::autograd::Function<MultiplierFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& z, const at::Tensor& y,
                            const at::Tensor& multiplier) {
    (void)z;
    ctx->saved_data["m"] = multiplier;
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    at::Tensor m = ctx->saved_data["m"].toTensor();
    return {grads[0].mul(m), at::Tensor(), at::Tensor()};
  }
};

// Captum's softmax rule: grad_in = grad_out * ratio, then centred over the visible keys of each row.
struct SoftmaxRuleFunction : public torch::autograd::Function<SoftmaxRuleFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& z, const at::Tensor& y,
                            const at::Tensor& ratio, const at::Tensor& visible) {
    (void)z;
    ctx->saved_data["ratio"] = ratio;
    ctx->saved_data["visible"] = visible;
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    at::Tensor ratio = ctx->saved_data["ratio"].toTensor(), visible = ctx->saved_data["visible"].toTensor();
    at::Tensor g = grads[0].to(at::kDouble).mul(ratio).mul(visible);
    at::Tensor mean = g.sum(-1, true).div(visible.sum(-1, true).clamp_min(1));
    return {g.sub(mean).mul(visible).to(grads[0].scalar_type()), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor plain_activation(const at::Tensor& x, const std::string& name);

// Rescale rule for an elementwise f on a paired batch: rows [0, h) inputs, [h, 2h) references.
at::Tensor rescale_elementwise(const at::Tensor& z, const std::function<at::Tensor(const at::Tensor&)>& f, int64_t h) {
  at::Tensor y = f(z);
  if (!z.requires_grad()) return y;
  at::Tensor zi = z.slice(0, 0, h), yr = y.slice(0, h).detach();
  // Multipliers in float64: a float32 secant over a small difference is mostly rounding noise.
  at::Tensor zd = zi.detach().to(at::kDouble), zrd = z.slice(0, h).detach().to(at::kDouble);
  at::Tensor dz = zd.sub(zrd);
  at::Tensor deriv;
  {  // f'(z) where the inputs coincide
    at::AutoGradMode enable(true);
    at::Tensor zz = zd.clone().requires_grad_(true);
    deriv = torch::autograd::grad({f(zz).sum()}, {zz})[0];
  }
  at::Tensor secant = f(zd).sub(f(zrd)).div(dz);
  at::Tensor m = at::where(dz.abs().gt(1e-7), secant, deriv).to(z.scalar_type());
  at::Tensor out_i = MultiplierFunction::apply(zi, y.slice(0, 0, h).detach(), m);
  return at::cat({out_i, yr}, 0);
}

}  // namespace

namespace {
thread_local const std::atomic<bool>* t_cancel = nullptr;
thread_local const std::function<void()>* t_on_block = nullptr;
[[noreturn]] void throw_aborted() { throw core::Error(core::ErrorCode::kAborted, "Attribution was aborted"); }
}  // namespace

CancelScope::CancelScope(const std::atomic<bool>* flag, const std::function<void()>* on_block)
    : previous_(t_cancel), previous_on_block_(t_on_block) {
  t_cancel = flag;
  t_on_block = on_block;
}
CancelScope::~CancelScope() {
  t_cancel = previous_;
  t_on_block = previous_on_block_;
}

const at::Tensor& cancel_point(const at::Tensor& x) {
  const std::atomic<bool>* flag = t_cancel;
  const std::function<void()>* on_block = t_on_block;
  if (flag == nullptr && on_block == nullptr) return x;
  if (flag && flag->load()) throw_aborted();
  if (on_block) (*on_block)();
  if (x.requires_grad()) {
    x.register_hook([flag, on_block](const at::Tensor&) {
      if (flag && flag->load()) throw_aborted();
      if (on_block) (*on_block)();
    });
  }
  return x;
}

at::Tensor deeplift_softmax(const at::Tensor& scores, const DeepLiftRule& deeplift) {
  const int64_t h = deeplift.half;
  at::Tensor probs = at::softmax(scores, -1, accum_type(scores.scalar_type())).to(scores.scalar_type());
  if (h == 0 || !scores.requires_grad()) return probs;
  at::Tensor zi = scores.slice(0, 0, h), pr = probs.slice(0, h).detach();
  // Captum's softmax rule, in float64: elementwise ratio (the local derivative p(1 - p) where the inputs
  // coincide), centred over the keys the query can see so that a row's multipliers sum to zero (softmax is
  // shift invariant). Masked keys carry the dtype's lowest score.
  at::Tensor zd = zi.detach().to(at::kDouble), zrd = scores.slice(0, h).detach().to(at::kDouble);
  at::Tensor visible = zd.gt(-1e30).to(at::kDouble);
  at::Tensor pd = zd.softmax(-1), prd = zrd.softmax(-1);
  at::Tensor dz = zd.sub(zrd);
  // The ratio is not elementwise (p_j moves with every score of the row), so it blows up as z_j - z'_j -> 0;
  // below 1e-3, where float32 scores are barely apart, the local derivative is used instead.
  at::Tensor apart = dz.abs().gt(1e-3);
  at::Tensor ratio = at::where(apart, pd.sub(prd).div(dz.where(apart, at::ones_like(dz))), pd.mul(pd.neg().add(1)));
  at::Tensor out_i = SoftmaxRuleFunction::apply(zi, probs.slice(0, 0, h).detach(), ratio, visible);
  return at::cat({out_i, pr}, 0);
}

at::Tensor activation(const at::Tensor& x, const std::string& name, const DeepLiftRule& deeplift) {
  if (deeplift.active()) return rescale_elementwise(x, [&name](const at::Tensor& z) { return plain_activation(z, name); }, deeplift.half);
  return plain_activation(x, name);
}

at::Tensor soft_cap(const at::Tensor& x, double cap, const DeepLiftRule& deeplift) {
  auto f = [cap](const at::Tensor& z) { return z.div(cap).tanh().mul(cap); };
  return deeplift.active() ? rescale_elementwise(x, f, deeplift.half) : f(x);
}

namespace {
at::Tensor plain_activation(const at::Tensor& x, const std::string& name) {
  if (name == "silu") return at::silu(x);
  if (name == "relu") return at::relu(x);
  if (name == "gelu") return at::gelu(x);
  // transformers' NewGELUActivation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = LibTorch's fused tanh GELU;
  // FastGELUActivation (gelu_fast, GPT-NeoX-20B) is the same function with sqrt(2/pi) rounded to 0.7978845608
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return at::gelu(x, "tanh");
  throw core::Error(core::ErrorCode::kUnsupportedModel, "Unsupported activation " + name);
}
}  // namespace

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
                                               c10::ScalarType dtype) {
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
