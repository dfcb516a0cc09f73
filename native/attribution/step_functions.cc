#include "attribution/step_functions.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "attribution/method_table.h"
#include "core/error.h"

namespace inseq::attribution {

namespace {

at::Tensor gather(const at::Tensor& values, const at::Tensor& ids) {  // [R, V], [R] -> [R]
  return values.gather(1, ids.unsqueeze(1)).squeeze(1);
}

// The contrastive pair (logits, target) of a row: the contrast inputs when given, else the originals
// (Inseq: with no contrast arguments the contrast_* functions equal their plain counterparts).
const at::Tensor& c_logits(const StepInputs& in) { return in.contrast_logits.defined() ? in.contrast_logits : in.logits; }
const at::Tensor& c_targets(const StepInputs& in) { return in.contrast_targets.defined() ? in.contrast_targets : in.targets; }

at::Tensor prob(const at::Tensor& logits, const at::Tensor& targets, bool logprob) {
  return logprob ? gather(logits.log_softmax(-1), targets) : gather(logits.softmax(-1), targets);
}

at::Tensor crossentropy(const at::Tensor& logits, const at::Tensor& targets) {
  return gather(logits.log_softmax(-1), targets).neg();
}

std::map<std::string, StepFunctionInfo> build() {
  std::map<std::string, StepFunctionInfo> r;
  // What each function is (contrastive, dropout, span aggregation, description) comes from its declaration in
  // method_table.cc; here only the implementation.
  auto add = [&](const std::string& id, std::function<at::Tensor(const StepInputs&, const StepFunctionArgs&)> fn) {
    const StepFunctionDecl* decl = nullptr;
    for (const auto& d : step_function_table())
      if (d.id == id) decl = &d;
    if (!decl) throw core::Error(core::ErrorCode::kInternal, "Step function " + id + " is not declared in the method table");
    r[id] = StepFunctionInfo{id, decl->contrastive, decl->needs_dropout, decl->span_aggregate, decl->description, std::move(fn)};
  };
  add("logit", [](const StepInputs& in, const StepFunctionArgs&) { return gather(in.logits, in.targets); });
  add("probability", [](const StepInputs& in, const StepFunctionArgs& a) { return prob(in.logits, in.targets, a.logprob); });
  add("entropy", [](const StepInputs& in, const StepFunctionArgs&) {
    at::Tensor lp = in.logits.log_softmax(-1);
    return lp.exp().mul(lp).sum(-1).neg();
  });
  add("crossentropy", [](const StepInputs& in, const StepFunctionArgs&) { return crossentropy(in.logits, in.targets); });
  add("perplexity", [](const StepInputs& in, const StepFunctionArgs& a) {
    at::Tensor ce = crossentropy(in.logits, in.targets);
    return a.perplexity_base2 ? at::pow(2.0, ce) : ce.exp();
  });
  add("contrast_logits", [](const StepInputs& in, const StepFunctionArgs&) { return gather(c_logits(in), c_targets(in)); });
  add("contrast_prob", [](const StepInputs& in, const StepFunctionArgs& a) { return prob(c_logits(in), c_targets(in), a.logprob); });
  add("contrast_logits_diff", [](const StepInputs& in, const StepFunctionArgs&) {
    return gather(in.logits, in.targets).sub(gather(c_logits(in), c_targets(in)));
  });
  add("contrast_prob_diff", [](const StepInputs& in, const StepFunctionArgs& a) {
    return prob(in.logits, in.targets, a.logprob).sub(prob(c_logits(in), c_targets(in), a.logprob));
  });
  add("pcxmi", [](const StepInputs& in, const StepFunctionArgs&) {
    at::Tensor lp = gather(in.logits.log_softmax(-1), in.targets);
    at::Tensor lc = gather(c_logits(in).log_softmax(-1), c_targets(in));
    return lp.sub(lc).div(std::log(2.0)).neg();
  });
  add("kl_divergence", [](const StepInputs& in, const StepFunctionArgs& a) {
    at::Tensor z = in.logits, zc = c_logits(in);
    if (a.top_k > 0 || a.top_p < 1.0) {
      at::Tensor removed = filter_mask(z.add(zc), a.top_k, a.top_p, a.min_tokens_to_keep);
      const float ninf = -std::numeric_limits<float>::infinity();
      z = z.masked_fill(removed, ninf);
      zc = zc.masked_fill(removed, ninf);
    }
    at::Tensor lp = z.log_softmax(-1), lq = zc.log_softmax(-1);
    at::Tensor terms = lp.exp().mul(lp.sub(lq));
    return terms.masked_fill(lp.isinf(), 0).sum(-1);  // 0 * (-inf) -> 0 for filtered entries
  });
  add("in_context_pvi", [](const StepInputs& in, const StepFunctionArgs&) {
    return crossentropy(in.logits, in.targets).add(gather(c_logits(in).log_softmax(-1), c_targets(in)));
  });
  add("mc_dropout_prob_avg", [](const StepInputs& in, const StepFunctionArgs& a) {
    at::Tensor p = prob(in.logits, in.targets, a.logprob);  // [R]
    at::Tensor idx = in.targets.unsqueeze(0).unsqueeze(-1).expand({in.dropout_logits.size(0), -1, 1});
    at::Tensor probs = a.logprob ? in.dropout_logits.log_softmax(-1) : in.dropout_logits.softmax(-1);
    at::Tensor pk = probs.gather(2, idx).squeeze(-1);  // [n, R]
    return p.sub(pk.mean(0)).div(pk.std(0));
  });
  add("top_p_size", [](const StepInputs& in, const StepFunctionArgs& a) {
    return filter_mask(in.logits, 0, a.top_p, 1).logical_not().sum(-1).to(at::kFloat);
  });
  if (r.size() != step_function_table().size()) throw core::Error(core::ErrorCode::kInternal, "A declared step function has no implementation");
  return r;
}

}  // namespace

at::Tensor filter_mask(const at::Tensor& logits, int64_t top_k, double top_p, int64_t min_tokens_to_keep) {
  at::Tensor removed = at::zeros(logits.sizes(), logits.options().dtype(at::kBool));  // [R, V]
  if (top_p < 1.0) {
    auto sorted = logits.sort(-1, false);
    at::Tensor cum = std::get<0>(sorted).softmax(-1).cumsum(-1);
    at::Tensor rm = cum.le(1.0 - top_p);
    const int64_t keep = std::max<int64_t>(min_tokens_to_keep, 1);
    rm.slice(-1, rm.size(-1) - keep).fill_(false);
    removed = removed.logical_or(rm.scatter(-1, std::get<1>(sorted), rm));
  }
  if (top_k > 0 && top_k < logits.size(-1)) {
    const int64_t k = std::max(top_k, min_tokens_to_keep);
    at::Tensor kth = std::get<0>(logits.topk(k, -1)).select(-1, k - 1).unsqueeze(-1);
    removed = removed.logical_or(logits.lt(kth));
  }
  return removed;
}

const std::map<std::string, StepFunctionInfo>& step_function_registry() {
  static const std::map<std::string, StepFunctionInfo> kRegistry = build();
  return kRegistry;
}

const StepFunctionInfo& get_step_function(const std::string& id) {
  const auto& r = step_function_registry();
  std::string resolved = id;
  for (const auto& a : step_aliases())
    if (a.alias == id) resolved = a.id;
  auto it = r.find(resolved);
  if (it == r.end()) {
    std::string list;
    for (const auto& kv : r) list += (list.empty() ? "" : ", ") + kv.first;
    throw core::Error(core::ErrorCode::kInvalidOption, "Unknown step function \"" + id + "\"; available: " + list);
  }
  return it->second;
}

}  // namespace inseq::attribution
