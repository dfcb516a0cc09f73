// The attribution engine for decoder-only models. The schedule is teacher forcing: one causal forward over
// prompt + target yields every step's logits, so
//  - gradient methods build one row per (example, generated step, integration step), truncated to that
//    step's prefix, and pack rows into batches under a memory budget: one forward + one backward per batch;
//  - perturbation methods score every generated step with each perturbed forward;
//  - internals (attention) come from one forward per example, keeping only the rows needed.
// No per-step round trip to JS, no fallback to batch size 1.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "attribution/request.h"
#include "models/causal_lm.h"

namespace inseq::attribution {

struct MethodInfo {
  std::string id;
  std::string family;       // "gradient" | "layer" | "perturbation" | "internals" | "none"
  bool uses_baselines;
  std::string kind;         // result kind, see AttributionResult
  std::string description;
  // Defaults of the method's numeric options (camelCase ids as in methodArgs), documented in docs/attribution.md;
  // a request leaves an option unset (n_steps / n_samples 0, stdevs / mask_prob < 0) to get these.
  std::vector<std::pair<std::string, double>> defaults = {};
};

const std::vector<MethodInfo>& list_methods();
const MethodInfo& get_method(const std::string& id);  // throws kInvalidOption listing the ids

// The method's default for `option`, or `fallback` when it has none.
double method_default(const MethodInfo& method, const std::string& option, double fallback);

AttributionResult attribute(models::CausalLM& model, const AttributionRequest& request);

}  // namespace inseq::attribution
