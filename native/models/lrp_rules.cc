#include "models/lrp_rules.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "models/layers.h"

namespace inseq::models {

namespace {

// Forward: y (a detached value of the same shape as x); backward: grad * m to x. m is a tensor broadcastable to
// x (identity rule: f(x) / x) or a 0-dim factor (uniform rule).
struct GradientTimes : public torch::autograd::Function<GradientTimes> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y, const at::Tensor& m) {
    (void)x;
    ctx->saved_data["m"] = m;
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const at::Tensor m = ctx->saved_data["m"].toTensor();
    return {grads[0].mul(m), at::Tensor(), at::Tensor()};
  }
};

// The identity rule's stabiliser (LXT's epsilon in f(x) / (x + eps)).
constexpr double kIdentityEpsilon = 1e-10;

}  // namespace

LrpRule lrp_rule_for(const std::string& method) {
  if (method == "attn_lrp") return {LrpMode::kAttnLrp};
  if (method == "cp_lrp") return {LrpMode::kCpLrp};
  return {};
}

at::Tensor scale_gradient(const at::Tensor& x, double factor) {
  if (!x.requires_grad()) return x;
  at::Tensor m = at::scalar_tensor(factor, x.options());  // []
  return GradientTimes::apply(x, x.detach(), m);
}

at::Tensor identity_rule(const at::Tensor& x, const at::Tensor& fx) {
  if (!x.requires_grad()) return fx;
  at::Tensor y = fx.detach();
  // f(x) / (x + eps) in float32 at least: in float16 the epsilon would round to 0 and 0 / 0 make NaN (padding rows).
  const c10::ScalarType acc = accum_type(x.scalar_type());
  at::Tensor m = y.to(acc).div(x.detach().to(acc).add(kIdentityEpsilon)).to(x.scalar_type());  // [.., n]: f(x) / x
  return GradientTimes::apply(x, y, m);
}

at::Tensor lrp_activation(const at::Tensor& x, const std::string& name, const LrpRule& lrp, const DeepLiftRule& deeplift) {
  if (!lrp.active()) return activation(x, name, deeplift);
  at::Tensor fx;
  {
    at::NoGradGuard no_grad;
    fx = activation(x, name);  // [.., n]
  }
  return identity_rule(x, fx);
}

void lrp_attention_inputs(at::Tensor& q, at::Tensor& k, at::Tensor& v, const LrpRule& lrp) {
  if (lrp.attn_lrp()) {
    q = scale_gradient(q, 0.25);
    k = scale_gradient(k, 0.25);
    v = scale_gradient(v, 0.5);
  } else if (lrp.cp_lrp()) {
    q = q.detach();
    k = k.detach();
  }
}

at::Tensor lrp_soft_cap(const at::Tensor& x, double cap, const LrpRule& lrp) {
  if (!lrp.active()) return soft_cap(x, cap);
  at::Tensor fx;
  {
    at::NoGradGuard no_grad;
    fx = soft_cap(x, cap);  // [b, h, s, t]
  }
  return identity_rule(x, fx);
}

at::Tensor lrp_gated_product(const at::Tensor& gate, const at::Tensor& up, const std::string& act, const LrpRule& lrp,
                             const DeepLiftRule& deeplift) {
  if (lrp.attn_lrp()) return scale_gradient(lrp_activation(gate, act, lrp).mul(up), 0.5);  // [.., inter]
  if (lrp.cp_lrp()) return activation(gate.detach(), act).mul(up);
  return activation(gate, act, deeplift).mul(up);
}

at::Tensor lrp_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const LrpRule& lrp) {
  if (!lrp.active()) return rms_norm(x, weight, eps);
  at::Tensor xf = x.to(accum_type(x.scalar_type()));  // [.., h]
  return weight.mul(xf.mul(inverse_rms(xf, eps, lrp)).to(x.scalar_type()));
}

at::Tensor lrp_gemma_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const LrpRule& lrp) {
  const c10::ScalarType acc = accum_type(x.scalar_type());
  at::Tensor xf = x.to(acc);                                                                   // [.., h]
  return xf.mul(inverse_rms(xf, eps, lrp)).mul(weight.to(acc).add(1.0)).to(x.scalar_type());
}

at::Tensor lrp_layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps, const LrpRule& lrp) {
  const int64_t h = x.size(-1);
  if (!lrp.active()) return at::layer_norm(x, {h}, weight, bias, eps);
  at::Tensor centred = x.sub(x.mean(-1, true));                                  // [.., h]
  at::Tensor std = centred.detach().pow(2).mean(-1, true).add(eps).sqrt();      // [.., 1] constant
  at::Tensor y = centred.div(std);
  if (weight.defined()) y = y.mul(weight);
  if (bias.defined()) y = y.add(bias);
  return y;
}

}  // namespace inseq::models
