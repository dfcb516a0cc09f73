// Step functions: a score per (example, generated step) from the model's logits at that step. Every one can
// be a step score (no grad) or the attributed function (differentiable torch ops). Ids as Python Inseq's.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace inseq::attribution {

struct StepFunctionArgs {
  bool logprob = false;       // probability / contrast_prob / contrast_prob_diff: log-probabilities
  double top_p = 1.0;         // kl_divergence filtering, top_p_size
  int64_t top_k = 0;          // kl_divergence filtering
  int64_t min_tokens_to_keep = 1;
  bool perplexity_base2 = false;  // Inseq computes 2 ** (natural-log cross-entropy); we default to exp
  int64_t n_mcd_steps = 5;
};

// What a step function sees for R rows (one row = one example at one generated step).
struct StepInputs {
  at::Tensor logits;           // [R, vocab] float32: logits predicting the target token
  at::Tensor targets;          // [R] int64: the target token ids
  at::Tensor contrast_logits;  // [R, vocab] or undefined: logits of the contrastive input at the aligned step
  at::Tensor contrast_targets; // [R] or undefined: contrastive target ids
  // Logits of extra stochastic forwards (mc_dropout_prob_avg): [n, R, vocab]
  at::Tensor dropout_logits;
};

struct StepFunctionInfo {
  std::string id;
  bool contrastive = false;     // reads contrast_logits / contrast_targets
  bool needs_dropout = false;   // needs dropout_logits
  std::string span_aggregate;   // default span aggregation (Inseq's aggregate map)
  std::string description;
  std::function<at::Tensor(const StepInputs&, const StepFunctionArgs&)> fn;  // -> [R]
};

const std::map<std::string, StepFunctionInfo>& step_function_registry();
const StepFunctionInfo& get_step_function(const std::string& id);  // throws kInvalidOption listing ids

// Nucleus filtering mask as transformers' TopPLogitsWarper/TopKLogitsWarper: true = removed. [R, V]
at::Tensor filter_mask(const at::Tensor& logits, int64_t top_k, double top_p, int64_t min_tokens_to_keep);

}  // namespace inseq::attribution
