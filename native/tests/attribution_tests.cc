// The batched teacher-forced schedule against a naive per-step loop written here (one forward per step on
// the prefix, as Inseq runs it), plus invariants: batched == one by one, IG completeness, contrast == 0.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <functional>
#include <iostream>

#include "attribution/engine.h"
#include "attribution/integration.h"
#include "core/error.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/layers.h"
#include "tests/test.h"

namespace a = inseq::attribution;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

const std::vector<int64_t> kSeq = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};  // "Once upon a time, there was a"
const std::vector<int64_t> kSeq2 = {1, 365, 259, 266, 272, 268};

std::shared_ptr<m::CausalLM> stories() { return m::load_causal_lm(t::shared_fixtures() + "/hf-stories260K", t::test_device(), at::kFloat); }

std::vector<int64_t> unk_baseline(const std::vector<int64_t>& ids) {
  std::vector<int64_t> b;
  for (int64_t id : ids) b.push_back(id == 2 ? 2 : 0);  // UNK everywhere, EOS kept
  return b;
}

a::AttributionRequest request(const std::string& method, std::vector<std::vector<int64_t>> seqs, std::vector<int64_t> start) {
  a::AttributionRequest r;
  r.method = method;
  r.granular = true;  // these tests read the hidden dimension
  r.sequences = seqs;
  for (size_t i = 0; i < seqs.size(); ++i) {
    r.baselines.push_back(unk_baseline(seqs[i]));
    r.attr_start.push_back(start[i]);
    r.attr_end.push_back(static_cast<int64_t>(seqs[i].size()));
  }
  return r;
}

// f(prefix embeddings) = p(target | prefix), forward on the prefix only.
at::Tensor prob_of(m::CausalLM& model, const at::Tensor& embeds, int64_t target) {
  m::ForwardRequest fr;
  fr.inputs_embeds = embeds.unsqueeze(0);
  at::Tensor logits = model.forward(fr).logits[0][-1];  // [V]
  return logits.softmax(-1)[target];
}

// The embeddings of `ids` on the model's device (a copy made outside inference mode's reach).
at::Tensor embed_cpu(m::CausalLM& model, const std::vector<int64_t>& ids) {
  c10::InferenceMode guard;
  return model.embed(at::tensor(ids, at::kLong).unsqueeze(0)).squeeze(0).clone();  // [n, H]
}

double max_diff(const at::Tensor& x, const at::Tensor& y) { return (x.to(at::kCPU) - y.to(at::kCPU)).abs().max().item<double>(); }

}  // namespace

TEST(integration_grids_match_captum) {
  auto [x, w] = a::integration_grid("gausslegendre", 3);
  ASSERT_NEAR(x[0], 0.5 * (1 - std::sqrt(0.6)), 1e-15);
  ASSERT_NEAR(x[1], 0.5, 1e-15);
  ASSERT_NEAR(w[0], 5.0 / 18.0, 1e-15);
  ASSERT_NEAR(w[1], 8.0 / 18.0, 1e-15);
  auto [x50, w50] = a::integration_grid("gausslegendre", 50);
  double s = 0;
  for (double v : w50) s += v;
  ASSERT_NEAR(s, 1.0, 1e-13);
  ASSERT_NEAR(x50[0], 0.5 * (1 - 0.9988664044200710501854594), 1e-14);  // numpy leggauss(50)[0][-1]
  auto [tx, tw] = a::integration_grid("riemann_trapezoid", 5);
  ASSERT_NEAR(tx[4], 1.0, 0);
  ASSERT_NEAR(tw[0], 1.0 / 10.0, 1e-15);  // Captum: 1/n with the ends halved
  ASSERT_NEAR(tw[2], 1.0 / 5.0, 1e-15);
  auto [rx, rw] = a::integration_grid("riemann_middle", 4);
  ASSERT_NEAR(rx[0], 0.125, 1e-15);
  ASSERT_THROWS_CODE(a::integration_grid("simpson", 4), inseq::core::ErrorCode::kInvalidOption, "riemann_trapezoid");
}

TEST(saliency_and_ig_equal_a_naive_per_step_loop) {
  auto model = stories();
  const int64_t start = 5, n = static_cast<int64_t>(kSeq.size());
  at::Tensor x = embed_cpu(*model, kSeq), b = embed_cpu(*model, unk_baseline(kSeq));
  auto sal = a::attribute(*model, request("saliency", {kSeq}, {start})).sequences[0].attributions;  // [n, S, H]
  auto req = request("integrated_gradients", {kSeq}, {start});
  req.n_steps = 6;
  req.integration = "riemann_trapezoid";
  auto ig = a::attribute(*model, req).sequences[0].attributions;
  auto [alphas, weights] = a::integration_grid("riemann_trapezoid", 6);
  c10::AutoGradMode grad_mode(true);
  for (int64_t tpos = start; tpos < n; ++tpos) {
    const int64_t j = tpos - start;
    at::Tensor xe = x.slice(0, 0, tpos).clone().requires_grad_(true);
    at::Tensor g = torch::autograd::grad({prob_of(*model, xe, kSeq[tpos])}, {xe})[0];
    ASSERT_TRUE(max_diff(sal.select(1, j).slice(0, 0, tpos), g.abs()) < 1e-5);
    ASSERT_TRUE(sal.select(1, j).slice(0, tpos).isnan().all().item<bool>());  // NaN outside the causal prefix
    at::Tensor total = at::zeros_like(g);
    for (size_t k = 0; k < alphas.size(); ++k) {
      at::Tensor p = (b.slice(0, 0, tpos) + (x.slice(0, 0, tpos) - b.slice(0, 0, tpos)) * alphas[k]).detach().requires_grad_(true);
      total += torch::autograd::grad({prob_of(*model, p, kSeq[tpos])}, {p})[0] * weights[k];
    }
    at::Tensor naive = total * (x.slice(0, 0, tpos) - b.slice(0, 0, tpos));
    ASSERT_TRUE(max_diff(ig.select(1, j).slice(0, 0, tpos), naive) < 1e-5);
  }
}

// Sequential integrated gradients against its definition, one path per (step, position): only position p moves
// from its baseline, the rest of the prefix stays at the input, and p's attribution is read from its own path. The
// kept EOS-free sequence moves every position; a second run with position 3 at its own id checks that a token
// equal to its baseline scores 0, and without multiplyByInputs sum(w) x the gradient at the input.
TEST(sequential_integrated_gradients_equal_a_naive_per_position_loop) {
  auto model = stories();
  const int64_t start = 6, n = static_cast<int64_t>(kSeq.size());
  auto req = request("sequential_integrated_gradients", {kSeq}, {start});
  req.n_steps = 3;
  req.integration = "riemann_middle";
  req.baselines[0][3] = kSeq[3];  // position 3 keeps its token: a constant path
  auto sig = a::attribute(*model, req).sequences[0].attributions;  // [n, S, H]
  req.multiply_by_inputs = false;
  auto grads = a::attribute(*model, req).sequences[0].attributions;
  at::Tensor x = embed_cpu(*model, kSeq), b = embed_cpu(*model, req.baselines[0]);
  auto [alphas, weights] = a::integration_grid("riemann_middle", 3);
  c10::AutoGradMode grad_mode(true);
  for (int64_t tpos = start; tpos < n; ++tpos) {
    const int64_t j = tpos - start;
    for (int64_t p = 0; p < tpos; ++p) {
      at::Tensor total = at::zeros({x.size(1)}, x.options());  // [H] on the model's device
      for (size_t k = 0; k < alphas.size(); ++k) {
        at::Tensor point = x.slice(0, 0, tpos).clone();
        point[p] = b[p] + (x[p] - b[p]) * alphas[k];
        point.requires_grad_(true);
        total += torch::autograd::grad({prob_of(*model, point, kSeq[tpos])}, {point})[0][p] * weights[k];
      }
      ASSERT_TRUE(max_diff(grads.select(1, j)[p], total) < 1e-5);
      ASSERT_TRUE(max_diff(sig.select(1, j)[p], total * (x[p] - b[p])) < 1e-5);
      if (p == 3) ASSERT_TRUE(sig.select(1, j)[p].abs().max().item<double>() == 0.0);
    }
    ASSERT_TRUE(sig.select(1, j).slice(0, tpos).isnan().all().item<bool>());  // NaN outside the causal prefix
  }
}

// Its convergence delta is per position: sum of attributions - sum over positions of (f(x) - f(x with p at its
// baseline)), small at enough steps; the scale is the sum of |f(x) - f(x with p at its baseline)|.
TEST(sequential_integrated_gradients_delta_is_per_position) {
  auto model = stories();
  auto req = request("sequential_integrated_gradients", {kSeq}, {7});
  req.n_steps = 48;
  req.return_convergence_delta = true;
  auto out = a::attribute(*model, req).sequences[0];
  at::Tensor attr = out.attributions.nan_to_num(0).sum(at::IntArrayRef{0, 2});  // [S]
  ASSERT_TRUE(out.step_scores["deltas"].abs().max().item<double>() < 1e-3 * attr.abs().max().item<double>() + 1e-6);
  const int64_t n = static_cast<int64_t>(kSeq.size());
  c10::InferenceMode guard;
  for (int64_t tpos = 7; tpos < n; ++tpos) {
    at::Tensor x = embed_cpu(*model, kSeq).slice(0, 0, tpos), b = embed_cpu(*model, req.baselines[0]);
    const double fx = prob_of(*model, x, kSeq[tpos]).item<double>();
    double scale = 0;
    for (int64_t p = 0; p < tpos; ++p) {
      at::Tensor moved = x.clone();
      moved[p] = b[p];
      scale += std::fabs(fx - prob_of(*model, moved, kSeq[tpos]).item<double>());
    }
    ASSERT_NEAR(out.delta_scales[tpos - 7].item<double>(), scale, 1e-5);
  }
}

TEST(occlusion_and_attention_equal_a_naive_per_step_loop) {
  auto model = stories();
  const int64_t start = 4, n = static_cast<int64_t>(kSeq.size());
  auto occ = a::attribute(*model, request("occlusion", {kSeq}, {start})).sequences[0].attributions;  // [n, S]
  auto att = a::attribute(*model, request("attention", {kSeq}, {start})).sequences[0].attributions;  // [n, S, L, Hd]
  at::Tensor x = embed_cpu(*model, kSeq), b = embed_cpu(*model, unk_baseline(kSeq));
  c10::InferenceMode guard;
  for (int64_t tpos = start; tpos < n; ++tpos) {
    const int64_t j = tpos - start;
    at::Tensor fx = prob_of(*model, x.slice(0, 0, tpos), kSeq[tpos]);
    for (int64_t k = 0; k < tpos; ++k) {
      at::Tensor occluded = x.slice(0, 0, tpos).clone();
      occluded[k] = b[k];
      double expected = (fx - prob_of(*model, occluded, kSeq[tpos])).abs().item<double>();
      ASSERT_NEAR(occ[k][j].item<double>(), expected, 1e-5);
    }
    ASSERT_TRUE(occ.select(1, j).slice(0, tpos).isnan().all().item<bool>());
    m::ForwardRequest fr;
    fr.inputs_embeds = x.slice(0, 0, tpos).unsqueeze(0);
    fr.output_attentions = true;
    auto out = model->forward(fr);
    for (size_t l = 0; l < out.attentions.size(); ++l) {
      at::Tensor row = out.attentions[l][0].select(1, tpos - 1);  // [heads, tpos]
      ASSERT_TRUE(max_diff(att.select(1, j).slice(0, 0, tpos).select(1, static_cast<int64_t>(l)).transpose(0, 1), row) < 1e-5);
    }
  }
}

TEST(batched_examples_equal_one_by_one) {
  auto model = stories();
  for (const std::string method : {"saliency", "integrated_gradients", "occlusion", "attention", "layer_gradient_x_activation", "deeplift", "lime"}) {
    auto req = request(method, {kSeq, kSeq2}, {5, 2});
    req.n_steps = 5;
    req.step_scores = {"probability", "entropy"};
    req.memory_budget_mb = 1;  // force several row batches
    auto both = a::attribute(*model, req);
    for (size_t i = 0; i < 2; ++i) {
      auto single_req = request(method, {i == 0 ? kSeq : kSeq2}, {i == 0 ? 5 : 2});
      single_req.n_steps = 5;
      single_req.step_scores = {"probability", "entropy"};
      auto single = a::attribute(*model, single_req);
      at::Tensor x = both.sequences[i].attributions, y = single.sequences[0].attributions;
      ASSERT_TRUE(x.sizes() == y.sizes());
      ASSERT_TRUE(x.isnan().equal(y.isnan()));
      // DeepLIFT's softmax rule divides by score differences, which amplifies float32 rounding (different
      // batch shapes round differently): 1e-3 of the scale there, 1e-5 absolute elsewhere.
      const double tol = method == "deeplift" ? 1e-3 * y.nan_to_num(0).abs().max().item<double>() : 1e-5;
      if (!(max_diff(x.nan_to_num(0), y.nan_to_num(0)) < tol)) throw t::Failure(method + ": batched differs by " + std::to_string(max_diff(x.nan_to_num(0), y.nan_to_num(0))));
      ASSERT_TRUE(max_diff(both.sequences[i].step_scores["probability"], single.sequences[0].step_scores["probability"]) < 1e-6);
    }
  }
}

TEST(integrated_gradients_completeness) {
  auto model = stories();
  auto req = request("integrated_gradients", {kSeq}, {5});
  req.n_steps = 64;
  req.return_convergence_delta = true;
  auto out = a::attribute(*model, req).sequences[0];
  at::Tensor attr = out.attributions.nan_to_num(0).sum(at::IntArrayRef{0, 2});  // [S]
  at::Tensor delta = out.step_scores["deltas"];                  // sum(attr) - (f(x) - f(b))
  ASSERT_TRUE(delta.abs().max().item<double>() < 2e-3);
  ASSERT_TRUE(attr.abs().min().item<double>() > 0.1);  // the attributions are not trivially small
  // delta_scales is f(x) - f(b): the sum of the attributions minus the delta.
  ASSERT_TRUE(out.delta_scales.defined() && out.delta_scales.numel() == delta.numel());
  ASSERT_TRUE((out.delta_scales - (attr - delta)).abs().max().item<double>() < 1e-4);
}

TEST(contrast_equal_to_target_gives_zero_contrast_prob_diff) {
  auto model = stories();
  auto req = request("saliency", {kSeq}, {5});
  req.attributed_fn = "contrast_prob_diff";
  req.contrast_sequences = {kSeq};
  req.contrast_positions = {{5, 6, 7, 8, 9}};
  req.step_scores = {"contrast_prob_diff", "pcxmi", "kl_divergence"};
  auto out = a::attribute(*model, req).sequences[0];
  ASSERT_EQ(out.attributions.nan_to_num(0).abs().max().item<double>(), 0.0);
  ASSERT_EQ(out.step_scores["contrast_prob_diff"].abs().max().item<double>(), 0.0);
  ASSERT_TRUE(out.step_scores["kl_divergence"].abs().max().item<double>() < 1e-6);
  // A different contrast token makes it non-zero.
  auto other = kSeq;
  other[6] = 300;
  req.contrast_sequences = {other};
  auto out2 = a::attribute(*model, req).sequences[0];
  ASSERT_TRUE(out2.attributions.nan_to_num(0).abs().max().item<double>() > 0);
}

TEST(attribution_bad_input_is_rejected) {
  auto model = stories();
  auto req = request("saliency", {kSeq}, {0});
  ASSERT_THROWS_CODE(a::attribute(*model, req), inseq::core::ErrorCode::kInvalidOption, "attrPosStart");
  req = request("bogus", {kSeq}, {5});
  ASSERT_THROWS_CODE(a::attribute(*model, req), inseq::core::ErrorCode::kInvalidOption, "integrated_gradients");
  req = request("saliency", {kSeq}, {5});
  req.attributed_fn = "nope";
  ASSERT_THROWS_CODE(a::attribute(*model, req), inseq::core::ErrorCode::kInvalidOption, "probability");
  std::atomic<bool> cancelled{true};
  req = request("integrated_gradients", {kSeq}, {5});
  req.cancel = &cancelled;
  ASSERT_THROWS_CODE(a::attribute(*model, req), inseq::core::ErrorCode::kAborted, "aborted");
}

TEST(per_step_schedule_gives_the_same_numbers) {
  auto model = stories();
  for (const std::string method : {"saliency", "integrated_gradients", "occlusion"}) {
    auto req = request(method, {kSeq, kSeq2}, {5, 2});
    req.n_steps = 4;
    auto batched = a::attribute(*model, req);
    req.per_step_schedule = true;
    auto per_step = a::attribute(*model, req);
    for (size_t i = 0; i < 2; ++i) {
      at::Tensor x = batched.sequences[i].attributions, y = per_step.sequences[i].attributions;
      ASSERT_TRUE(x.isnan().equal(y.isnan()));
      ASSERT_TRUE(max_diff(x.nan_to_num(0), y.nan_to_num(0)) < 1e-5);
    }
  }
}

TEST(deeplift_rescale_multipliers) {
  // Elementwise rule on a paired batch [inputs; references]: d y_in / d z_in = (f(z) - f(z')) / (z - z').
  at::Tensor z = at::tensor({1.5, -0.7, 2.0, 0.3}, at::kFloat).view({1, 4});
  at::Tensor zr = at::tensor({0.1, 0.4, 2.0, -1.0}, at::kFloat).view({1, 4});
  at::Tensor zi = z.clone().requires_grad_(true);
  const m::DeepLiftRule rule{1};  // rows [0, 1) inputs, [1, 2) references
  at::Tensor y = m::activation(at::cat({zi, zr}, 0), "silu", rule);
  at::Tensor g = torch::autograd::grad({y[0].sum()}, {zi})[0][0];
  at::Tensor silu_z = at::silu(z[0]), silu_r = at::silu(zr[0]);
  for (int64_t k : {0, 1, 3}) ASSERT_NEAR(g[k].item<double>(), ((silu_z[k] - silu_r[k]) / (z[0][k] - zr[0][k])).item<double>(), 1e-6);
  at::Tensor zz = z[0][2].clone().requires_grad_(true);  // equal inputs: the local derivative
  ASSERT_NEAR(g[2].item<double>(), torch::autograd::grad({at::silu(zz)}, {zz})[0].item<double>(), 1e-6);
  // Softmax rule: the multipliers of a row sum to zero (shift invariance).
  at::Tensor s = at::randn({2, 5}).requires_grad_(true);
  at::Tensor p = m::deeplift_softmax(s, rule);
  at::Tensor gs = torch::autograd::grad({p[0].mul(at::arange(5, at::kFloat)).sum()}, {s})[0];
  ASSERT_TRUE(gs[1].abs().max().item<double>() == 0.0);  // references get no gradient
}

TEST(deeplift_is_closer_to_summation_to_delta_than_gradient_x_input) {
  auto model = stories();
  auto req = request("deeplift", {kSeq}, {5});
  req.return_convergence_delta = true;
  auto dl = a::attribute(*model, req).sequences[0];
  // (x - x') * grad f(x): what Captum's DeepLift returns for these models (no rule applies)
  auto plain = request("input_x_gradient", {kSeq}, {5});
  plain.multiply_by_inputs = false;  // the raw gradient
  auto grad = a::attribute(*model, plain).sequences[0].attributions;  // [n, S, H]
  at::Tensor x = embed_cpu(*model, kSeq).to(at::kCPU), b = embed_cpu(*model, unk_baseline(kSeq)).to(at::kCPU);
  at::Tensor gxb = grad.mul((x - b).slice(0, 0, grad.size(0)).unsqueeze(1));  // grad * (x - x')
  at::Tensor fd = dl.attributions.nan_to_num(0).sum(at::IntArrayRef{0, 2}) - dl.step_scores["deltas"];  // f(x) - f(x')
  double dl_err = dl.step_scores["deltas"].abs().mean().item<double>();
  double gx_err = (gxb.nan_to_num(0).sum(at::IntArrayRef{0, 2}) - fd).abs().mean().item<double>();
  std::cout << "    mean |summation-to-delta error|: deeplift " << dl_err << ", grad x (x - x') " << gx_err << "\n";
  ASSERT_TRUE(dl_err < gx_err);
}

TEST(all_layers_in_one_pass_equal_each_layer_alone) {
  auto model = stories();
  auto req = request("layer_gradient_x_activation", {kSeq, kSeq2}, {5, 2});
  req.layer = -2;  // every block, one forward + backward
  auto all = a::attribute(*model, req);
  ASSERT_TRUE(all.extra_dims == (std::vector<std::string>{"layer", "hidden"}));
  for (int64_t l = 0; l < model->config().num_layers; ++l) {
    auto one_req = request("layer_gradient_x_activation", {kSeq, kSeq2}, {5, 2});
    one_req.layer = l;
    auto one = a::attribute(*model, one_req);
    for (size_t i = 0; i < 2; ++i) {
      at::Tensor x = all.sequences[i].attributions.select(2, l), y = one.sequences[i].attributions;
      ASSERT_TRUE(x.isnan().equal(y.isnan()));
      ASSERT_TRUE(max_diff(x.nan_to_num(0), y.nan_to_num(0)) < 1e-5);
    }
  }
}

TEST(saliency_and_input_x_gradient_equal_float64_finite_differences) {
  for (const std::string name : {"gpt2", "llama", "gpt_neox", "gpt_neox-sequential"}) {
    const std::string dir = t::repo_dir() + "/test/fixtures/reference/" + name;
    auto model = m::load_causal_lm(dir, c10::Device(c10::kCPU), at::kDouble);
    inseq::core::Json g = inseq::core::Json::parse(t::read_file(dir + "/golden.json"));
    std::vector<int64_t> seq;
    for (const auto& v : g["prompts"][2]["ids"].as_array()) seq.push_back(v.as_int());
    const int64_t start = static_cast<int64_t>(seq.size()) - 3;
    a::AttributionRequest sal = request("saliency", {seq}, {start});
    a::AttributionRequest ixg = request("input_x_gradient", {seq}, {start});
    at::Tensor s = a::attribute(*model, sal).sequences[0].attributions;  // [n, S, H]
    at::Tensor q = a::attribute(*model, ixg).sequences[0].attributions;
    at::Tensor x;
    {
      c10::InferenceMode guard;
      x = model->embed(at::tensor(seq, at::kLong).unsqueeze(0)).squeeze(0).clone();  // [n, H] float64
    }
    const double h = 1e-5;
    int checked = 0;
    for (int64_t j = 0; j < 3; ++j) {
      const int64_t tpos = start + j;
      for (int64_t k : {int64_t(0), tpos / 2, tpos - 1}) {
        for (int64_t d : {int64_t(0), int64_t(5), int64_t(17), int64_t(31)}) {
          at::Tensor plus = x.slice(0, 0, tpos).clone(), minus = x.slice(0, 0, tpos).clone();
          plus[k][d] += h;
          minus[k][d] -= h;
          double fd;
          {
            c10::InferenceMode guard;
            fd = (prob_of(*model, plus, seq[tpos]) - prob_of(*model, minus, seq[tpos])).item<double>() / (2 * h);
          }
          const double sv = s[k][j][d].item<double>(), qv = q[k][j][d].item<double>();
          const double ref_q = fd * x[k][d].item<double>();
          if (std::fabs(sv - std::fabs(fd)) > 1e-4 * std::fabs(fd) + 1e-9 || std::fabs(qv - ref_q) > 1e-4 * std::fabs(ref_q) + 1e-9) {
            throw t::Failure(name + ": gradient differs from finite differences at step " + std::to_string(j) + " token " +
                             std::to_string(k) + " dim " + std::to_string(d) + ": " + std::to_string(sv) + " vs " + std::to_string(fd));
          }
          ++checked;
        }
      }
    }
    ASSERT_EQ(checked, 36);
  }
}

TEST(integrated_gradients_delta_below_one_percent_at_50_gauss_legendre_steps) {
  auto model = stories();
  auto req = request("integrated_gradients", {kSeq}, {5});
  req.n_steps = 50;
  req.return_convergence_delta = true;
  auto out = a::attribute(*model, req).sequences[0];
  at::Tensor delta = out.step_scores["deltas"];                                                  // [S]
  at::Tensor diff = out.attributions.nan_to_num(0).sum(at::IntArrayRef{0, 2}).sub(delta);  // f(x) - f(x')
  for (int64_t j = 0; j < delta.size(0); ++j) {
    ASSERT_TRUE(std::fabs(delta[j].item<double>()) < 0.01 * std::fabs(diff[j].item<double>()));
  }
}

TEST(integration_grids_match_a_reference_of_captums) {
  // Reference: Gauss-Legendre nodes/weights from the eigen-decomposition of the Jacobi matrix (Golub-Welsch),
  // the Riemann grids written out as Captum's approximation_parameters define them.
  for (int64_t n : {2, 5, 17, 50}) {
    at::Tensor J = at::zeros({n, n}, at::kDouble);
    for (int64_t k = 1; k < n; ++k) {
      const double b = k / std::sqrt(4.0 * k * k - 1.0);
      J[k - 1][k] = b;
      J[k][k - 1] = b;
    }
    auto [evals, evecs] = at::linalg_eigh(J);
    auto [alphas, weights] = a::integration_grid("gausslegendre", n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(alphas[i], 0.5 * (evals[i].item<double>() + 1.0), 1e-12);
      ASSERT_NEAR(weights[i], evecs[0][i].item<double>() * evecs[0][i].item<double>(), 1e-12);  // 2 v0^2 / 2
    }
    const double dn = static_cast<double>(n);
    struct Grid { const char* name; std::function<double(int64_t)> alpha, weight; };
    std::vector<Grid> grids = {
        {"riemann_left", [&](int64_t i) { return i / dn; }, [&](int64_t) { return 1 / dn; }},
        {"riemann_right", [&](int64_t i) { return (i + 1) / dn; }, [&](int64_t) { return 1 / dn; }},
        {"riemann_middle", [&](int64_t i) { return (i + 0.5) / dn; }, [&](int64_t) { return 1 / dn; }},
        {"riemann_trapezoid", [&](int64_t i) { return i / (dn - 1); },
         [&](int64_t i) { return (i == 0 || i == n - 1) ? 0.5 / dn : 1 / dn; }},
    };
    for (const auto& grid : grids) {
      auto [ga, gw] = a::integration_grid(grid.name, n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(ga[i], grid.alpha(i), 1e-15);
        ASSERT_NEAR(gw[i], grid.weight(i), 1e-15);
      }
    }
  }
}

TEST(input_x_gradient_layer_and_deeplift_equal_a_naive_per_step_loop) {
  auto model = stories();
  const int64_t start = 5, n = static_cast<int64_t>(kSeq.size());
  at::Tensor x = embed_cpu(*model, kSeq), b = embed_cpu(*model, unk_baseline(kSeq));
  auto ixg = a::attribute(*model, request("input_x_gradient", {kSeq}, {start})).sequences[0].attributions;
  auto dl = a::attribute(*model, request("deeplift", {kSeq}, {start})).sequences[0].attributions;
  auto layer_req = request("layer_gradient_x_activation", {kSeq}, {start});
  layer_req.layer = 2;
  auto lgx = a::attribute(*model, layer_req).sequences[0].attributions;
  c10::AutoGradMode grad_mode(true);
  for (int64_t tpos = start; tpos < n; ++tpos) {
    const int64_t j = tpos - start;
    at::Tensor xe = x.slice(0, 0, tpos).clone().requires_grad_(true);
    at::Tensor g = torch::autograd::grad({prob_of(*model, xe, kSeq[tpos])}, {xe})[0];
    ASSERT_TRUE(max_diff(ixg.select(1, j).slice(0, 0, tpos), g * x.slice(0, 0, tpos)) < 1e-5);
    // DeepLIFT: the prefix next to its reference, multipliers from the rescale rules
    at::Tensor xi = x.slice(0, 0, tpos).clone().requires_grad_(true);
    at::Tensor pair = at::stack({xi, b.slice(0, 0, tpos)});
    at::Tensor p;
    {
      m::ForwardRequest fr;
      fr.inputs_embeds = pair;
      fr.deeplift.half = 1;  // the forward request carries DeepLIFT's rule
      p = model->forward(fr).logits[0][-1].softmax(-1)[kSeq[tpos]];
    }
    at::Tensor m_dl = torch::autograd::grad({p}, {xi})[0];
    // the softmax rule amplifies float32 rounding of other batch shapes (see batched_examples_equal_one_by_one)
    at::Tensor naive_dl = m_dl * (x.slice(0, 0, tpos) - b.slice(0, 0, tpos));
    const double dl_diff = max_diff(dl.select(1, j).slice(0, 0, tpos), naive_dl);
    if (!(dl_diff < 1e-3 * naive_dl.abs().max().item<double>())) throw t::Failure("deeplift differs by " + std::to_string(dl_diff));
    // gradient x activation at block 2
    at::Tensor captured;
    m::ForwardRequest fr;
    fr.inputs_embeds = x.slice(0, 0, tpos).unsqueeze(0).clone().requires_grad_(true);
    fr.layer_output_hook = [&](int64_t l, const at::Tensor& hs) {
      if (l == 2) captured = hs;
      return hs;
    };
    at::Tensor f = model->forward(fr).logits[0][-1].softmax(-1)[kSeq[tpos]];
    at::Tensor gl = torch::autograd::grad({f}, {captured})[0][0];
    ASSERT_TRUE(max_diff(lgx.select(1, j).slice(0, 0, tpos), gl * captured[0].detach()) < 1e-5);
  }
}

TEST(cancellation_reaches_inside_forward_and_backward_passes) {
  // A cancelled flag is seen at the next block of a forward pass, and, for a graph recorded before the
  // cancellation, inside its backward pass (the error keeps its type through the autograd engine).
  m::ModelConfig c = m::parse_model_config(inseq::core::Json::parse(R"({"model_type": "llama", "vocab_size": 16, "hidden_size": 8,
    "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12})"), "config.json");
  auto model = m::init_causal_lm(c, 1, c10::Device(c10::kCPU));
  std::atomic<bool> cancel{false};
  m::CancelScope scope(&cancel);
  c10::AutoGradMode grad(true);
  m::ForwardRequest fr;
  fr.inputs_embeds = model->embed(at::tensor(std::vector<int64_t>{1, 2, 3}, at::kLong).unsqueeze(0)).detach().requires_grad_(true);  // [1, 3, 8]
  at::Tensor loss = model->forward(fr).logits.sum();
  cancel.store(true);
  ASSERT_THROWS_CODE(torch::autograd::grad({loss}, {fr.inputs_embeds}), inseq::core::ErrorCode::kAborted, "aborted");
  ASSERT_THROWS_CODE(model->forward(fr), inseq::core::ErrorCode::kAborted, "aborted");
  cancel.store(false);
  model->forward(fr);  // no longer cancelled
}
