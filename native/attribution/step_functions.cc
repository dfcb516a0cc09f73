#include "attribution/step_functions.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

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
  auto add = [&](StepFunctionInfo info) { r[info.id] = std::move(info); };
  add({"logit", false, false, "absmax", "Logit of the target token: z[y].",
       [](const StepInputs& in, const StepFunctionArgs&) { return gather(in.logits, in.targets); }});
  add({"probability", false, false, "prod", "Probability of the target token p(y) (log p(y) with logprob).",
       [](const StepInputs& in, const StepFunctionArgs& a) { return prob(in.logits, in.targets, a.logprob); }});
  add({"entropy", false, false, "sum", "Entropy of the next-token distribution in nats: -sum p log p.",
       [](const StepInputs& in, const StepFunctionArgs&) {
         at::Tensor lp = in.logits.log_softmax(-1);
         return lp.exp().mul(lp).sum(-1).neg();
       }});
  add({"crossentropy", false, false, "sum", "Cross-entropy of the target token in nats: -log p(y).",
       [](const StepInputs& in, const StepFunctionArgs&) { return crossentropy(in.logits, in.targets); }});
  add({"perplexity", false, false, "prod",
       "Perplexity of the target token: exp(crossentropy). Inseq computes 2 ** crossentropy (nats); set perplexityBase2 for that.",
       [](const StepInputs& in, const StepFunctionArgs& a) {
         at::Tensor ce = crossentropy(in.logits, in.targets);
         return a.perplexity_base2 ? at::pow(2.0, ce) : ce.exp();
       }});
  add({"contrast_logits", true, false, "absmax", "Logit of the contrastive target: z'[y'].",
       [](const StepInputs& in, const StepFunctionArgs&) { return gather(c_logits(in), c_targets(in)); }});
  add({"contrast_prob", true, false, "prod", "Probability of the contrastive target p'(y') (or log).",
       [](const StepInputs& in, const StepFunctionArgs& a) { return prob(c_logits(in), c_targets(in), a.logprob); }});
  add({"contrast_logits_diff", true, false, "absmax", "Logit difference z[y] - z'[y'] (Yin & Neubig 2022).",
       [](const StepInputs& in, const StepFunctionArgs&) {
         return gather(in.logits, in.targets).sub(gather(c_logits(in), c_targets(in)));
       }});
  add({"contrast_prob_diff", true, false, "prod", "Probability difference p(y) - p'(y') (or of log-probabilities).",
       [](const StepInputs& in, const StepFunctionArgs& a) {
         return prob(in.logits, in.targets, a.logprob).sub(prob(c_logits(in), c_targets(in), a.logprob));
       }});
  add({"pcxmi", true, false, "sum", "Pointwise contextual cross-mutual information: -log2(p(y) / p'(y')).",
       [](const StepInputs& in, const StepFunctionArgs&) {
         at::Tensor lp = gather(in.logits.log_softmax(-1), in.targets);
         at::Tensor lc = gather(c_logits(in).log_softmax(-1), c_targets(in));
         return lp.sub(lc).div(std::log(2.0)).neg();
       }});
  add({"kl_divergence", true, false, "sum",
       "KL(P || P') between the original and contrastive next-token distributions, optionally top-k/top-p filtered on z + z'.",
       [](const StepInputs& in, const StepFunctionArgs& a) {
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
       }});
  add({"in_context_pvi", true, false, "absmax", "In-context pointwise V-information: -log p(y) + log p'(y') (Lu et al. 2023).",
       [](const StepInputs& in, const StepFunctionArgs&) {
         return crossentropy(in.logits, in.targets).add(gather(c_logits(in).log_softmax(-1), c_targets(in)));
       }});
  add({"mc_dropout_prob_avg", false, true, "prod",
       "(p(y) - mean_k p_k(y)) / std_k p_k(y) over n_mcd_steps forwards with the config's dropout active.",
       [](const StepInputs& in, const StepFunctionArgs& a) {
         at::Tensor p = prob(in.logits, in.targets, a.logprob);  // [R]
         at::Tensor idx = in.targets.unsqueeze(0).unsqueeze(-1).expand({in.dropout_logits.size(0), -1, 1});
         at::Tensor probs = a.logprob ? in.dropout_logits.log_softmax(-1) : in.dropout_logits.softmax(-1);
         at::Tensor pk = probs.gather(2, idx).squeeze(-1);  // [n, R]
         return p.sub(pk.mean(0)).div(pk.std(0));
       }});
  add({"top_p_size", false, false, "absmax", "Number of tokens kept by nucleus (top-p) filtering of the next-token distribution (per row).",
       [](const StepInputs& in, const StepFunctionArgs& a) {
         return filter_mask(in.logits, 0, a.top_p, 1).logical_not().sum(-1).to(at::kFloat);
       }});
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
  auto it = r.find(id == "logits" ? "logit" : id == "logprob" ? "probability" : id);
  if (it == r.end()) {
    std::string list;
    for (const auto& kv : r) list += (list.empty() ? "" : ", ") + kv.first;
    throw core::Error(core::ErrorCode::kInvalidOption, "Unknown step function \"" + id + "\"; available: " + list);
  }
  return it->second;
}

}  // namespace inseq::attribution
