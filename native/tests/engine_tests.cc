// The engine's streaming reduction and result shaping: host result buffers stay O(steps x n) for a long
// granular-off attribution, the reduced result equals the granular one reduced afterwards, the L1
// normalisation matches lib/aggregators/scores.ts, and step logits match a plain forward.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

#include "attribution/engine.h"
#include "attribution/method_table.h"
#include "core/error.h"
#include "models/causal_lm.h"
#include "tests/tensor_checks.h"
#include "tests/test.h"

namespace a = inseq::attribution;
namespace m = inseq::models;
namespace t = inseq::testing;
using inseq::testing::nan_aware_diff;

namespace {

// A cheap causal LM with a wide hidden dimension: the logits at position p are x_p W (no blocks, no mixing), so a
// 2,000-token row costs the engine's own memory traffic only.
class UnigramLM : public m::CausalLM {
 public:
  UnigramLM(int64_t vocab, int64_t hidden, int64_t context) {
    config_.model_type = config_.family = "test";
    config_.vocab_size = vocab;
    config_.hidden_size = hidden;
    config_.num_layers = 1;
    config_.num_heads = config_.num_kv_heads = 1;
    config_.head_dim = hidden;
    config_.intermediate_size = 1;
    config_.max_position_embeddings = context;
    at::manual_seed(7);
    table_ = at::randn({vocab, hidden}).mul(0.1);   // [vocab, hidden]
    head_ = at::randn({vocab, hidden}).mul(0.1);    // [vocab, hidden]
  }
  at::Tensor embed(const at::Tensor& ids) const override { return at::embedding(table_, ids); }  // [b, n, hidden]
  m::ForwardResult forward(const m::ForwardRequest& r) const override {
    m::ForwardResult out;
    out.logits = at::linear(m::select_logit_positions(r, r.inputs_embeds), head_);  // [b, n, hidden] -> [b, P, vocab]
    return out;
  }
  m::ModelCapabilities capabilities() const override {
    m::ModelCapabilities c;
    c.block_hooks = c.deeplift_rule = c.attention_weights = c.value_hooks = c.dropout = false;
    return c;
  }
  std::map<std::string, at::Tensor> named_parameters() const override { return {{"table", table_}, {"head", head_}}; }

 private:
  at::Tensor table_, head_;
};

std::shared_ptr<m::CausalLM> stories() { return m::load_causal_lm(t::shared_fixtures() + "/hf-stories260K", t::test_device(), at::kFloat); }

const std::vector<int64_t> kSeq = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

a::AttributionRequest request(const std::string& method, const std::vector<int64_t>& seq, int64_t start) {
  a::AttributionRequest r;
  r.method = method;
  r.sequences = {seq};
  std::vector<int64_t> base;
  for (int64_t id : seq) base.push_back(id == 2 ? 2 : 0);
  r.baselines = {base};
  r.attr_start = {start};
  r.attr_end = {static_cast<int64_t>(seq.size())};
  return r;
}

}  // namespace

TEST(granular_off_host_buffers_stay_O_steps_x_n) {
  // hidden 4096, 2,000 tokens, 200 attributed steps: a [n, steps, hidden] host tensor would be 6.5 GB.
  UnigramLM model(32, 4096, 4096);
  std::vector<int64_t> seq(2000);
  for (size_t i = 0; i < seq.size(); ++i) seq[i] = static_cast<int64_t>(1 + (i * 7) % 31);
  a::AttributionRequest r = request("saliency", seq, 1800);
  r.baselines.clear();
  r.internal_batch_size = 8;
  ASSERT_TRUE(!r.granular);  // the default, declared in request.h
  a::AttributionResult res = a::attribute(model, r);
  ASSERT_EQ(res.kind, std::string("granular_reduced"));
  ASSERT_TRUE(res.extra_dims.empty());
  const at::Tensor& attr = res.sequences[0].attributions;  // [n, steps]
  ASSERT_EQ(attr.dim(), 2);
  ASSERT_EQ(attr.size(0), 2000);
  ASSERT_EQ(attr.size(1), 200);
  if (!(res.host_peak_bytes > 0 && res.host_peak_bytes < 100LL * 1000 * 1000)) {
    throw t::Failure("host result buffers peaked at " + std::to_string(res.host_peak_bytes) + " bytes");
  }
  // The last step's column: every prefix token scored, nothing after the target.
  at::Tensor last = attr.select(1, 199);
  ASSERT_TRUE(!last.slice(0, 0, 1999).isnan().any().item<bool>());
  ASSERT_TRUE(last.slice(0, 1999).isnan().all().item<bool>());
}

TEST(reduced_on_the_device_equals_granular_then_reduced) {
  auto model = stories();
  for (const std::string method : {"saliency", "integrated_gradients", "input_x_gradient", "layer_gradient_x_activation", "gradient_shap"}) {
    a::AttributionRequest r = request(method, kSeq, 4);
    r.n_steps = 4;
    r.granular = true;
    a::AttributionResult granular = a::attribute(*model, r);
    r.granular = false;
    a::AttributionResult reduced = a::attribute(*model, r);
    ASSERT_EQ(reduced.kind, std::string("granular_reduced"));
    const double d = nan_aware_diff(reduced.sequences[0].attributions, granular.sequences[0].attributions.norm(2, {-1}));
    if (!(d >= 0 && d <= 1e-6)) throw t::Failure(method + ": reduced differs from granular then reduced by " + std::to_string(d));
    ASSERT_TRUE(reduced.host_peak_bytes < granular.host_peak_bytes);
  }
  // Every block's output: [n, steps, layers] against [n, steps, layers, hidden] reduced.
  a::AttributionRequest r = request("layer_gradient_x_activation", kSeq, 4);
  r.layer = -2;
  r.granular = true;
  at::Tensor g = a::attribute(*model, r).sequences[0].attributions.norm(2, {-1});
  r.granular = false;
  a::AttributionResult all = a::attribute(*model, r);
  ASSERT_TRUE(all.extra_dims == std::vector<std::string>{"layer"});
  const double d = nan_aware_diff(all.sequences[0].attributions, g);
  if (!(d >= 0 && d <= 1e-6)) throw t::Failure("all layers: reduced differs by " + std::to_string(d));
}

TEST(normalize_matches_the_l1_normalisation_of_lib_aggregators) {
  auto model = stories();
  a::AttributionRequest r = request("saliency", kSeq, 4);
  at::Tensor plain = a::attribute(*model, r).sequences[0].attributions;  // [n, steps]
  r.normalize = true;
  a::AttributionResult normed_result = a::attribute(*model, r);
  ASSERT_EQ(normed_result.kind, std::string("coarse"));  // final: the default aggregation is done
  at::Tensor normed = normed_result.sequences[0].attributions;
  // normalizeJoint: NaN counted as 0, each column divided by max(sum |x|, 1e-12) in float64.
  at::Tensor pd = plain.to(at::kDouble);
  at::Tensor sums = pd.abs().nan_to_num(0).sum(0, true).clamp_min(1e-12);
  at::Tensor expected = pd.div(sums).to(at::kFloat);
  const double d = nan_aware_diff(normed, expected);
  if (!(d >= 0 && d <= 1e-7)) throw t::Failure("normalised saliency differs by " + std::to_string(d));
  at::Tensor col_sums = normed.nan_to_num(0).abs().sum(0);
  for (int64_t j = 0; j < col_sums.size(0); ++j) ASSERT_NEAR(col_sums[j].item<double>(), 1.0, 1e-5);
  // Only reduced (granular off) outputs are normalised; granular and coarse ones are left as they are.
  r.method = "occlusion";
  r.normalize = false;
  at::Tensor occ = a::attribute(*model, r).sequences[0].attributions;
  r.normalize = true;
  ASSERT_TRUE(nan_aware_diff(a::attribute(*model, r).sequences[0].attributions, occ) == 0.0);
}

TEST(step_logits_match_a_plain_forward) {
  auto model = stories();
  a::AttributionRequest r = request("dummy", kSeq, 4);
  r.return_step_logits = true;
  r.step_scores = {"probability"};
  a::AttributionResult res = a::attribute(*model, r);
  const at::Tensor& logits = res.sequences[0].step_logits;  // [steps, vocab]
  ASSERT_EQ(logits.size(0), 6);
  ASSERT_EQ(logits.size(1), model->config().vocab_size);
  c10::InferenceMode guard;
  m::ForwardRequest fr;
  at::Tensor ids = at::tensor(std::vector<int64_t>(kSeq.begin(), kSeq.end() - 1), at::kLong).unsqueeze(0).to(model->device());
  fr.inputs_embeds = model->embed(ids);
  at::Tensor plain = model->forward(fr).logits.squeeze(0).slice(0, 3, 9).to(at::kCPU, at::kFloat);  // positions start-1 .. end-2
  ASSERT_TRUE(nan_aware_diff(logits, plain) <= 1e-5);
  // The probability step score is the softmax of those logits at the targets.
  at::Tensor targets = at::tensor(std::vector<int64_t>(kSeq.begin() + 4, kSeq.end()), at::kLong);
  at::Tensor p = logits.softmax(-1).gather(1, targets.unsqueeze(1)).squeeze(1);
  ASSERT_TRUE(nan_aware_diff(p, res.sequences[0].step_scores.at("probability")) <= 1e-6);
  // Without the option no logits are returned.
  r.return_step_logits = false;
  ASSERT_TRUE(!a::attribute(*model, r).sequences[0].step_logits.defined());
}

TEST(method_table_declares_every_method_once_with_its_family) {
  std::vector<std::string> ids;
  for (const auto& mi : a::list_methods()) {
    for (const auto& seen : ids) ASSERT_TRUE(seen != mi.id);
    ids.push_back(mi.id);
    const bool gradient = mi.family == a::MethodFamily::kGradient || mi.family == a::MethodFamily::kLayer;
    ASSERT_EQ(mi.needs.gradients, gradient);
  }
  ASSERT_EQ(std::string(a::family_name(a::get_method("occlusion").family)), std::string("perturbation"));
  ASSERT_EQ(a::method_default(a::get_method("integrated_gradients"), "nSteps", 0), 50.0);
  // Every declared step function has an implementation, and every implementation a declaration.
  for (const auto& f : a::step_function_table()) {
    const a::StepFunctionInfo& impl = a::get_step_function(f.id);
    ASSERT_EQ(impl.contrastive, f.contrastive);
    ASSERT_EQ(impl.needs_dropout, f.needs_dropout);
    ASSERT_EQ(impl.span_aggregate, f.span_aggregate);
  }
  ASSERT_EQ(a::step_function_table().size(), a::step_function_registry().size());
}
