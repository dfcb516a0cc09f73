// Layer-wise relevance propagation as a hook a forward request carries (ForwardRequest::lrp, EncDecRequest::lrp),
// and the rule functions every native family calls in its blocks.
//
// Relevance is computed as gradient x input at the embeddings: each rule below changes only the backward of one
// operation so that the gradient times the input of the model is the relevance the rule propagates (the
// "Gradient x Input" form of LRP, Achtibat et al. 2024). The forward values never change.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "models/deeplift_rule.h"

namespace inseq::models {

// Which rule set the blocks apply (inactive by default).
//   kAttnLrp: AttnLRP (Achtibat et al., ICML 2024): epsilon rule on linear layers (their plain gradient), identity
//             rule on elementwise activations and norm denominators, the softmax's own gradient (its rule in the
//             gradient x input form), the q.k and attention.v products split with the uniform rule (the gradient
//             through q and k divided by 4, through v by 2), gated products halved (uniform rule).
//   kCpLrp:   CP-LRP (Ali et al., ICML 2022): the attention weights are constants (no gradient through q and k),
//             norm denominators constant, activations with the identity rule; gated MLPs also treat the gate as a
//             constant (its projection gets no relevance) and keep the whole product (no halving), as LXT 2.1.
enum class LrpMode { kNone, kAttnLrp, kCpLrp };

struct LrpRule {
  LrpMode mode = LrpMode::kNone;
  bool active() const { return mode != LrpMode::kNone; }
  bool attn_lrp() const { return mode == LrpMode::kAttnLrp; }
  bool cp_lrp() const { return mode == LrpMode::kCpLrp; }
};

// The rule for the method ids "attn_lrp" / "cp_lrp" (kNone for any other id).
LrpRule lrp_rule_for(const std::string& method);

// x unchanged in the forward; the backward multiplies the incoming gradient by `factor` (uniform rule: 1 / inputs).
at::Tensor scale_gradient(const at::Tensor& x, double factor);

// f(x) in the forward; the backward passes grad * f(x) / (x + 1e-10) (identity rule: an elementwise nonlinearity
// hands its output's relevance to its input unchanged).
at::Tensor identity_rule(const at::Tensor& x, const at::Tensor& fx);

// The named activation under the rule: identity rule when active, otherwise activation() of layers.h (with the
// request's DeepLIFT rule, if any).
at::Tensor lrp_activation(const at::Tensor& x, const std::string& name, const LrpRule& lrp, const DeepLiftRule& deeplift = {});

// q, k, v of one attention under the rule, before the scores (q [b, h, s, d], k/v [b, h, t, d]):
// AttnLRP scales the gradient through q and k by 1/4 and through v by 1/2, CP-LRP detaches q and k.
void lrp_attention_inputs(at::Tensor& q, at::Tensor& k, at::Tensor& v, const LrpRule& lrp);

// Attention scores of a softcapped model (Gemma 2) under the rule: the identity rule on cap * tanh(x / cap)
// (soft_cap in layers.h otherwise). [b, h, s, t]
at::Tensor lrp_soft_cap(const at::Tensor& x, double cap, const LrpRule& lrp);

// act(gate) * up, the gated MLP's product (gate [.., inter] before the activation, up [.., inter]):
// AttnLRP: identity rule on the activation, the product's gradient halved (uniform rule); CP-LRP: the gate
// detached and the product kept whole; inactive: the plain product (the activation with the DeepLIFT rule, if any).
at::Tensor lrp_gated_product(const at::Tensor& gate, const at::Tensor& up, const std::string& act, const LrpRule& lrp,
                             const DeepLiftRule& deeplift = {});

// Norms with the identity rule when the rule is active: the normalising denominator is a constant in the backward
// (the centring of layer norm keeps its gradient). Inactive: the plain norm.
// rms_norm: weight * (x / rms(x)) computed in float32 as layers.h rms_norm; [.., hidden]
at::Tensor lrp_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const LrpRule& lrp);
// Gemma's (1 + weight) RMS norm (float32 throughout, cast at the end). [.., hidden]
at::Tensor lrp_gemma_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const LrpRule& lrp);
// layer norm over the last dim with optional weight / bias (undefined = none). [.., hidden]
at::Tensor lrp_layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps, const LrpRule& lrp);

}  // namespace inseq::models
