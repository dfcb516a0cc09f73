// The one declaration of every attribution method and step function: ids (the same strings in C++, TS, the
// CLI and saved JSON), families, result kinds, options with their defaults, what each needs of the model,
// step-function arguments and aliases. The engine dispatches on MethodFamily; the binding exposes the table
// (methodTable()), and scripts/gen-method-table.mjs writes lib/attribution/method-table.generated.ts from it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace inseq::attribution {

enum class MethodFamily { kNone, kGradient, kLayer, kPerturbation, kInternals };
const char* family_name(MethodFamily family);  // "none" | "gradient" | "layer" | "perturbation" | "internals"

// What a method needs (documentation for callers; the engine checks the model's capabilities itself).
struct MethodNeeds {
  bool gradients = false;          // forward + backward through the model
  bool block_internals = false;    // per-block internals: layer activations, attention weights, values, DeepLIFT's rule
  bool baselines = false;          // baseline ids (UNK by default)
  bool supports_contrast = false;  // the attributed function may be contrastive
};

struct MethodInfo {
  std::string id;
  MethodFamily family = MethodFamily::kNone;
  std::string kind;  // result kind, see AttributionResult: "base" | "granular" | "coarse" | "multidimensional"
  MethodNeeds needs;
  // Method options (camelCase Inseq/Captum names) accepted in methodArgs.
  std::vector<std::string> options;
  // Defaults of the numeric options, documented in docs/attribution.md; a request leaves an option unset
  // (n_steps / n_samples 0, stdevs / mask_prob < 0) to get these.
  std::vector<std::pair<std::string, double>> defaults;
  std::string description;
  // The step function attributed when a request names none (Inseq's "probability"; the LRP methods and ALTI-logit
  // explain a logit: a probability near 1 has a vanishing gradient, and relevance starts from the logit).
  std::string attributed_fn = "probability";
  bool uses_baselines() const { return needs.baselines; }
};

struct StepFunctionDecl {
  std::string id;
  bool contrastive = false;     // reads the contrast logits / targets
  bool needs_dropout = false;   // forwards with dropout active
  std::string span_aggregate;   // default span aggregation (Inseq's aggregate map)
  std::vector<std::string> options;  // step-function arguments (STEP_ARG_NAMES) and contrast options accepted
  std::string description;
};

// A step-function alias: another id plus the arguments it implies (`logprob` = probability with logprob).
struct StepAlias {
  std::string alias;
  std::string id;
  std::vector<std::pair<std::string, bool>> args;
};

// A step-function argument (StepFunctionArgs field, camelCase as in attributedFnArgs / stepScoresArgs).
struct StepArgDecl {
  std::string name;
  std::string type;  // "boolean" | "number" | "integer"
  double default_value;
  std::string description;
};

const std::vector<MethodInfo>& list_methods();
const MethodInfo& get_method(const std::string& id);  // throws kInvalidOption listing the ids
// The method's default for `option`, or `fallback` when it has none.
double method_default(const MethodInfo& method, const std::string& option, double fallback);

const std::vector<StepFunctionDecl>& step_function_table();
const std::vector<StepAlias>& step_aliases();
const std::vector<StepArgDecl>& step_args();
// Options of contrastive step functions (contrast targets and how they align).
const std::vector<std::string>& contrast_options();

}  // namespace inseq::attribution
