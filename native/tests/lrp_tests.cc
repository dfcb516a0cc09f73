// LRP's rules (models/lrp_rules.h): each rule function keeps its forward value and changes its backward as stated,
// every native decoder-only family gives the same logits with an active rule (the rules touch the backward only),
// and CP-LRP on the bias-free reference Llama conserves: sum of gradient x input = the logit.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>
#include <vector>

#include "models/causal_lm.h"
#include "models/layers.h"
#include "models/lrp_rules.h"
#include "tests/test.h"

namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

const m::LrpRule kAttn{m::LrpMode::kAttnLrp};
const m::LrpRule kCp{m::LrpMode::kCpLrp};

double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

// d sum(w * y(x)) / dx for a fixed random w. [same shape as x]
at::Tensor grad_of(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x0, const at::Tensor& w) {
  at::Tensor x = x0.clone().requires_grad_(true);
  return torch::autograd::grad({f(x).mul(w).sum()}, {x})[0];
}

std::string reference_dir(const std::string& name) { return t::repo_dir() + "/test/fixtures/reference/" + name; }

}  // namespace

TEST(lrp_rule_functions_keep_forward_values_and_change_backward) {
  at::manual_seed(3);
  at::Tensor x = at::randn({2, 5, 8}, at::kFloat);  // [b, s, h]
  at::Tensor w = at::randn({2, 5, 8}, at::kFloat);
  at::Tensor gw = at::rand({8}, at::kFloat).add(0.5), gb = at::randn({8}, at::kFloat);
  // uniform rule: identity forward, gradient x factor
  ASSERT_EQ(max_abs(m::scale_gradient(x.clone().requires_grad_(true), 0.25).sub(x)), 0.0);
  ASSERT_NEAR(max_abs(grad_of([](const at::Tensor& z) { return m::scale_gradient(z, 0.25); }, x, w).sub(w.mul(0.25))), 0.0, 1e-7);
  // identity rule: activation forward, backward f(x) / x
  for (const std::string act : {"silu", "gelu", "gelu_new", "relu"}) {
    at::Tensor y = m::lrp_activation(x.clone().requires_grad_(true), act, kAttn);
    ASSERT_EQ(max_abs(y.sub(m::activation(x, act))), 0.0);
    at::Tensor g = grad_of([&](const at::Tensor& z) { return m::lrp_activation(z, act, kCp); }, x, w);
    ASSERT_NEAR(max_abs(g.sub(w.mul(m::activation(x, act).div(x.add(1e-10))))), 0.0, 1e-5);
  }
  // soft-capping (Gemma 2): identity rule as the activations
  ASSERT_EQ(max_abs(m::lrp_soft_cap(x.clone().requires_grad_(true), 3.0, kAttn).sub(m::soft_cap(x, 3.0))), 0.0);
  at::Tensor g_cap = grad_of([](const at::Tensor& z) { return m::lrp_soft_cap(z, 3.0, kAttn); }, x, w);
  ASSERT_NEAR(max_abs(g_cap.sub(w.mul(m::soft_cap(x, 3.0).div(x.add(1e-10))))), 0.0, 1e-5);
  // norms: same values; the denominator's gradient is gone
  ASSERT_NEAR(max_abs(m::lrp_rms_norm(x, gw, 1e-6, kAttn).sub(m::rms_norm(x, gw, 1e-6))), 0.0, 1e-6);
  ASSERT_NEAR(max_abs(m::lrp_layer_norm(x, gw, gb, 1e-5, kAttn).sub(at::layer_norm(x, {8}, gw, gb, 1e-5))), 0.0, 1e-5);
  at::Tensor inv = at::rsqrt(x.pow(2).mean(-1, true).add(1e-6));  // [b, s, 1]
  at::Tensor g_rms = grad_of([&](const at::Tensor& z) { return m::lrp_rms_norm(z, gw, 1e-6, kAttn); }, x, w);
  ASSERT_NEAR(max_abs(g_rms.sub(w.mul(gw).mul(inv))), 0.0, 1e-5);
  // layer norm: gradient x input sums to (output - bias) . w, the centring keeps its gradient
  at::Tensor g_ln = grad_of([&](const at::Tensor& z) { return m::lrp_layer_norm(z, gw, gb, 1e-5, kCp); }, x, w);
  at::Tensor out = at::layer_norm(x, {8}, gw, gb, 1e-5).sub(gb).mul(w).sum(-1);  // [b, s]
  ASSERT_NEAR(max_abs(g_ln.mul(x).sum(-1).sub(out)), 0.0, 1e-4);
  // gated product: AttnLRP halves it, CP-LRP detaches the gate
  at::Tensor gate = at::randn({2, 5, 8}), up = at::randn({2, 5, 8});
  ASSERT_EQ(max_abs(m::lrp_gated_product(gate, up, "silu", kAttn).sub(at::silu(gate).mul(up))), 0.0);
  at::Tensor up_g = grad_of([&](const at::Tensor& u) { return m::lrp_gated_product(gate, u, "silu", kAttn); }, up, w);
  ASSERT_NEAR(max_abs(up_g.sub(w.mul(at::silu(gate)).mul(0.5))), 0.0, 1e-6);
  ASSERT_TRUE(!m::lrp_gated_product(gate.clone().requires_grad_(true), up, "silu", kCp).requires_grad());  // the gate is a constant
  at::Tensor up_cp = grad_of([&](const at::Tensor& u) { return m::lrp_gated_product(gate, u, "silu", kCp); }, up, w);
  ASSERT_NEAR(max_abs(up_cp.sub(w.mul(at::silu(gate)))), 0.0, 1e-6);
  // attention inputs: q, k / 4 and v / 2 (AttnLRP); q, k constant (CP-LRP)
  at::Tensor q = x.clone().requires_grad_(true), k = x.clone().requires_grad_(true), v = x.clone().requires_grad_(true);
  at::Tensor q2 = q, k2 = k, v2 = v;
  m::lrp_attention_inputs(q2, k2, v2, kAttn);
  auto g = torch::autograd::grad({q2.mul(w).sum().add(k2.mul(w).sum()).add(v2.mul(w).sum())}, {q, k, v});
  ASSERT_NEAR(max_abs(g[0].sub(w.mul(0.25))), 0.0, 1e-7);
  ASSERT_NEAR(max_abs(g[1].sub(w.mul(0.25))), 0.0, 1e-7);
  ASSERT_NEAR(max_abs(g[2].sub(w.mul(0.5))), 0.0, 1e-7);
  at::Tensor q3 = q, k3 = k, v3 = v;
  m::lrp_attention_inputs(q3, k3, v3, kCp);
  ASSERT_TRUE(!q3.requires_grad() && !k3.requires_grad() && v3.requires_grad());
}

TEST(lrp_rules_leave_every_family_logits_unchanged) {
  const std::vector<std::string> names = {"gpt2", "llama", "qwen2", "mistral", "gemma", "gemma2", "gemma3", "qwen3", "olmo2", "phi3", "gpt_neox",
                                          "gpt_neox-sequential"};
  for (const auto& name : names) {
    auto model = m::load_causal_lm(reference_dir(name), t::test_device(), at::kFloat);
    if (!model->capabilities().lrp_rules) throw t::Failure(name + ": capabilities().lrp_rules is false");
    at::Tensor ids = at::tensor(std::vector<int64_t>{34, 292, 280, 267, 288, 290}, at::kLong).unsqueeze(0);  // [1, 6]
    m::ForwardRequest plain;
    plain.inputs_embeds = model->embed(ids);
    at::Tensor want = model->forward(plain).logits;  // [1, 6, vocab]
    for (const m::LrpRule& rule : {kAttn, kCp}) {
      m::ForwardRequest r = plain;
      r.inputs_embeds = plain.inputs_embeds.clone().requires_grad_(true);
      r.lrp = rule;
      at::Tensor got = model->forward(r).logits;
      if (max_abs(got.detach().sub(want)) > 1e-5) throw t::Failure(name + ": logits change under an LRP rule by " + std::to_string(max_abs(got.detach().sub(want))));
    }
  }
}

TEST(cp_lrp_conserves_on_the_bias_free_llama) {
  auto model = m::load_causal_lm(reference_dir("llama"), t::test_device(), at::kFloat);
  at::Tensor ids = at::tensor(std::vector<int64_t>{34, 292, 280, 267, 288, 290}, at::kLong).unsqueeze(0);  // [1, 6]
  m::ForwardRequest r;
  r.inputs_embeds = model->embed(ids).clone().requires_grad_(true);
  r.lrp = kCp;
  at::Tensor logit = model->forward(r).logits[0][5][40];
  at::Tensor g = torch::autograd::grad({logit}, {r.inputs_embeds})[0];  // [1, 6, h]
  const double total = g.mul(r.inputs_embeds).sum().item<double>();
  ASSERT_NEAR(total, logit.item<double>(), 1e-4 * std::max(1.0, std::fabs(logit.item<double>())));
  // plain gradient x input does not conserve on the same model (the rules matter)
  m::ForwardRequest p = r;
  p.lrp = {};
  at::Tensor logit_p = model->forward(p).logits[0][5][40];
  at::Tensor gp = torch::autograd::grad({logit_p}, {p.inputs_embeds})[0];
  ASSERT_TRUE(std::fabs(gp.mul(p.inputs_embeds).sum().item<double>() - logit_p.item<double>()) > 1e-3);
}
