#include "attribution/method_table.h"

#include "core/error.h"

namespace inseq::attribution {

using core::Error;
using core::ErrorCode;

const char* family_name(MethodFamily family) {
  switch (family) {
    case MethodFamily::kNone: return "none";
    case MethodFamily::kGradient: return "gradient";
    case MethodFamily::kLayer: return "layer";
    case MethodFamily::kPerturbation: return "perturbation";
    case MethodFamily::kInternals: return "internals";
  }
  return "none";
}

namespace {

// Needs: {gradients, block internals, baselines, supports contrast}.
constexpr MethodNeeds kPlainGradient{true, false, false, true};
constexpr MethodNeeds kPathGradient{true, false, true, true};
constexpr MethodNeeds kRuleGradient{true, true, true, true};  // DeepLIFT: its rule lives in the blocks
constexpr MethodNeeds kLayerGradient{true, true, false, true};
constexpr MethodNeeds kLrpGradient{true, true, false, true};  // AttnLRP / CP-LRP: their rules live in the blocks
constexpr MethodNeeds kLayerPath{true, true, true, true};
constexpr MethodNeeds kPerturbation{false, false, true, true};
constexpr MethodNeeds kInternals{false, true, false, false};
constexpr MethodNeeds kAltiLogit{false, true, false, true};  // a logit difference with the contrast token
constexpr MethodNeeds kReagent{false, false, false, false};  // forwards only, own replacements, no attributed function

std::vector<std::string> integration_options(std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"nSteps", "method", "internalBatchSize", "returnConvergenceDelta", "multiplyByInputs"};
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

}  // namespace

const std::vector<MethodInfo>& list_methods() {
  using F = MethodFamily;
  static const std::vector<MethodInfo> kMethods = {
      {"dummy", F::kNone, "base", {}, {}, {}, "No attributions; computes only step scores."},
      {"saliency", F::kGradient, "granular", kPlainGradient, {"internalBatchSize"}, {},
       "Absolute gradient of the attributed function w.r.t. the input embeddings (Simonyan et al. 2013; Captum Saliency with abs=True)."},
      {"input_x_gradient", F::kGradient, "granular", kPlainGradient, {"internalBatchSize", "multiplyByInputs"}, {},
       "Gradient times input embedding (Shrikumar et al. 2016)."},
      {"integrated_gradients", F::kGradient, "granular", kPathGradient, integration_options(), {{"nSteps", 50}},
       "Integrated gradients (Sundararajan et al. 2017) from the UNK baseline with Captum's integration grids: gausslegendre (default), riemann_left/right/middle/trapezoid."},
      {"discretized_integrated_gradients", F::kGradient, "granular", kPathGradient,
       {"nSteps", "method", "nNeighbors", "internalBatchSize", "returnConvergenceDelta", "multiplyByInputs", "saveCache", "overwriteCache", "cacheDir"},
       {{"nSteps", 50}, {"nNeighbors", 50}, {"multiplyByInputs", 0}},  // Inseq's DIG defaults
       "Discretized integrated gradients (Sanyal & Ren 2021) from the UNK baseline: per token a monotonic path of nSteps points through its nearest vocabulary embeddings (kNN graph of nNeighbors, cached on disk per embedding table), method \"greedy\" (default) or \"maxcount\"; gradients at each point times the step to the next, summed."},
      {"sequential_integrated_gradients", F::kGradient, "granular", kPathGradient, integration_options(), {{"nSteps", 50}},
       "Sequential integrated gradients (Enguehard 2023): integrated gradients for each attributed token on its own path, from the input with only that token at its baseline (UNK; kept EOS and a target prefix that is not attributed stay) to the input; Captum's grids as integrated_gradients. Every (token, integration point, step) is one row of the batched schedule (Inseq: one call per token); decoder-only models with a KV cache run each (token, point) from its token on over the clean prefix's cached keys and values, one forward for all steps. Convergence deltas: sum of attributions - sum over tokens of (f(x) - f(x with the token at its baseline))."},
      {"gradient_shap", F::kGradient, "granular", kPathGradient, {"nSamples", "stdevs", "seed", "internalBatchSize"},
       {{"nSamples", 5}, {"stdevs", 0}},  // Captum's GradientShap defaults
       "GradientSHAP (Lundberg & Lee 2017): gradients at random points between the baseline and noisy inputs, times (input - baseline)."},
      {"deeplift", F::kGradient, "granular", kRuleGradient, {"internalBatchSize", "returnConvergenceDelta", "multiplyByInputs"}, {},
       "DeepLIFT with the Rescale rule (Shrikumar et al. 2017) from the UNK baseline: multipliers (f(z) - f(z'))/(z - z') at the MLP activations and Captum's softmax rule at the attention softmax; norms and the q.k/attention.v products keep ordinary gradients. (Inseq/Captum apply no rule to these models and return (x - x') * grad f(x).)"},
      {"attn_lrp", F::kGradient, "coarse", kLrpGradient, {"internalBatchSize", "latentRelevance"}, {},
       "AttnLRP (Achtibat et al. 2024) in LXT 2.1's gradient x input form: epsilon rule on linear layers, identity rule on activations and norm denominators, the softmax's own rule, the q.k and attention.v products split with the uniform rule (gradient through q and k / 4, v / 2), gated MLP products halved. Signed relevance of each token embedding summed over the hidden dimension, one backward per step, batched; step score lrp_conservation_error = sum of relevance - f(x) (bias terms absorb the rest), lrp_position_relevance on GPT-2; latentRelevance: true (decoder-only) adds every block output's relevance as the sequence score lrp_latent_relevance [target, generated, layer], same backward. Every native family (BART family and T5: source and target embeddings).", "logit"},
      {"cp_lrp", F::kGradient, "coarse", kLrpGradient, {"internalBatchSize", "latentRelevance"}, {},
       "CP-LRP (Ali et al. 2022) in LXT 2.1's gradient x input form: attention weights (and the gate of gated MLPs) treated as constants, identity rule on activations and norm denominators, epsilon rule on linear layers. Signed relevance of each token embedding summed over the hidden dimension; conservation error and latentRelevance as attn_lrp. Every native family.", "logit"},
      {"layer_integrated_gradients", F::kLayer, "granular", kLayerPath, integration_options({"layer"}), {{"nSteps", 50}},
       "Integrated gradients on a layer's activations; `layer` = block index or name (\"model.layers.3\", \"transformer.h.3\", encoder-decoders \"model.encoder.layers.3\"), \"all\" for every block, default the embedding layer. Encoder-decoders: encoder block N for the source, and decoder block N for the target with attributeTarget."},
      {"layer_gradient_x_activation", F::kLayer, "granular", kLayerGradient, {"layer", "internalBatchSize", "multiplyByInputs"}, {},
       "Gradient times activation of a layer; `layer` = block index or name, or \"all\": every block in one forward + backward; default the embedding layer. Encoder-decoders: encoder block N for the source, and decoder block N for the target with attributeTarget."},
      {"layer_deeplift", F::kLayer, "granular", kLayerPath, {"layer", "internalBatchSize", "returnConvergenceDelta", "multiplyByInputs"}, {},
       "DeepLIFT (Rescale) on a layer's activations; `layer` = block index or name, or \"all\" (default: the embedding layer). Encoder-decoders as layer_integrated_gradients."},
      {"occlusion", F::kPerturbation, "coarse", kPerturbation, {}, {},
       "|f(x) - f(x with token j replaced by the baseline)| for each attributed token j (Zeiler & Fergus 2014); one teacher-forced forward per occluded token scores every step."},
      {"lime", F::kPerturbation, "coarse", kPerturbation, {"nSamples", "maskProb", "seed"},
       {{"nSamples", 50}, {"maskProb", 0.3}},  // Captum's Lime: 50 samples (5 leave the ridge problem underdetermined)
       "LIME (Ribeiro et al. 2016) in token space: random keep-masks replace tokens by the baseline token (Inseq masks embeddings with the token id, a bug), one forward per sample scores every step, weighted ridge per step (alpha 1, intercept; similarity = kept tokens). BOS is never masked. Signed token-level coefficients."},
      {"reagent", F::kPerturbation, "coarse", kReagent,
       {"keepTopN", "keepRatio", "invertKeep", "stoppingConditionTopK", "replacingRatio", "maxProbeSteps", "numProbes", "seed", "posGroups"},
       {{"keepTopN", 5}, {"stoppingConditionTopK", 3}, {"replacingRatio", 0.3}, {"maxProbeSteps", 3000}, {"numProbes", 16}},  // Inseq's Reagent
       "ReAGent (Zhao et al. 2024): probes replace random tokens by tokens of the same part of speech and score each token by the change in p(y) (logit-scale updates, softmax importance) until the target stays in the top stoppingConditionTopK predictions with only the keepTopN most important tokens kept. Mean importance of the converged probes; scores sum to 1 per step. Replacement tokens come from a part-of-speech table of the vocabulary (wink-pos-tagger, built once per tokenizer; posGroups gives your own: a group index per id, -1 = never replaced). Every probe of every step and example batched; seeded per probe (batched == single); special tokens never replaced (score 0); NaN-safe. Ignores attributedFn."},
      {"attention", F::kInternals, "multidimensional", kInternals, {}, {},
       "Attention weights of every layer and head from each generated token's query row to the attributed tokens."},
      {"value_zeroing", F::kInternals, "multidimensional", kInternals,
       {"similarityMetric", "decoderZeroedUnitsIndices", "encoderZeroedUnitsIndices", "crossZeroedUnitsIndices"}, {},
       "Value Zeroing (Mohebbi et al. 2023): for each token, zero its attention value vectors in every layer and score 1 - cos(clean, corrupted) of each layer's state of the generated token's query (\"euclidean\": the L2 distance); each layer measured on its own, scores < 1e-5 -> 0, rows normalised to sum 1. Zeroed heads per layer: a head index, a list, {start, end}, or {layer: spec}. Encoder-decoders: cross scores as source attributions, decoder self as target attributions, encoder self as a sequence score. One forward per batch of zeroed tokens."},
      {"attention_rollout", F::kInternals, "coarse", kInternals, {}, {},
       "Attention rollout (Abnar & Zuidema 2020): per layer the head-averaged attention with the residual identity, 0.5 A + 0.5 I (rows renormalised), multiplied from the top layer down; each generated step's column is the rolled-out row of its query (sums to 1 over the attributed positions). Encoder-decoders: encoder layers, then per decoder block its self-attention and its cross-attention (0.5 the target node + 0.5 A_cross over the encoder output). One forward per example holding every layer's attention weights."},
      {"attention_flow", F::kInternals, "coarse", kInternals, {}, {},
       "Attention flow (Abnar & Zuidema 2020): the maximum flow from each input position to the generated step's query node through the layered graph of attention_rollout's mixing layers (capacities 0.5 A + 0.5 I, head-averaged). One max-flow problem (Dinic) per (step, position), run in parallel; cost grows as steps x n x (layers x n^2) edges per problem: meant for short sequences."},
      {"alti_logit", F::kInternals, "coarse", kAltiLogit, {}, {},
       "ALTI-Logit (Ferrando et al. 2023): each attention block's output at the query split into per-source vectors (heads x values x output projection), their logit updates through the final norm (linearised at the query) onto the target's unembedding, carried to the input tokens by ALTI's contribution rollout (Ferrando et al. 2022: L1 distance contributions of the residual sum, rows normalised). Signed logit units. attributedFn logit (default probability is read as logit) or contrast_logits_diff (U[y] - U[y'] on the same prefix: 0 when contrast == target). Native decoder-only families and native encoder-decoders (bart, marian, mbart, m2m_100, t5: encoder, decoder self- and cross-attention, cross-attention carried to the source by the encoder's rollout; post-LN norms linearised at each query); TorchScript bundles are refused.", "logit"},
  };
  return kMethods;
}

const MethodInfo& get_method(const std::string& id) {
  for (const auto& m : list_methods()) {
    if (m.id == id) return m;
  }
  std::string list;
  for (const auto& m : list_methods()) list += (list.empty() ? "" : ", ") + m.id;
  throw Error(ErrorCode::kInvalidOption, "Unknown attribution method \"" + id + "\"; available: " + list);
}

double method_default(const MethodInfo& method, const std::string& option, double fallback) {
  for (const auto& [name, value] : method.defaults) {
    if (name == option) return value;
  }
  return fallback;
}

const std::vector<std::string>& contrast_options() {
  static const std::vector<std::string> kContrast = {"contrastTargets", "contrastTargetsAlignments", "contrastForceInputs"};
  return kContrast;
}

const std::vector<StepFunctionDecl>& step_function_table() {
  static const std::vector<StepFunctionDecl> kTable = [] {
    auto c = [](std::vector<std::string> extra = {}) {
      std::vector<std::string> o = contrast_options();
      o.insert(o.end(), extra.begin(), extra.end());
      return o;
    };
    return std::vector<StepFunctionDecl>{
        {"logit", false, false, "absmax", {}, "Logit of the target token z[y]. Alias: logits."},
        {"probability", false, false, "prod", {"logprob"}, "Probability p(y) of the target token (log p(y) with logprob). Alias: logprob."},
        {"entropy", false, false, "sum", {}, "Entropy (nats) of the next-token distribution."},
        {"crossentropy", false, false, "sum", {}, "Cross-entropy -log p(y) (nats)."},
        {"perplexity", false, false, "prod", {"perplexityBase2"},
         "exp(crossentropy). Python Inseq returns 2 ** crossentropy (nats); perplexityBase2: true reproduces that."},
        {"contrast_logits", true, false, "absmax", c(), "Logit of the contrastive target z'[y']."},
        {"contrast_prob", true, false, "prod", c({"logprob"}), "Probability of the contrastive target p'(y')."},
        {"contrast_logits_diff", true, false, "absmax", c(), "z[y] - z'[y'] (Yin & Neubig 2022)."},
        {"contrast_prob_diff", true, false, "prod", c({"logprob"}), "p(y) - p'(y') (Yin & Neubig 2022)."},
        {"pcxmi", true, false, "sum", c(), "Pointwise contextual cross-mutual information -log2(p(y) / p'(y')) (Fernandes et al. 2023)."},
        {"kl_divergence", true, false, "sum", c({"topK", "topP", "minTokensToKeep"}),
         "KL(P || P') between the original and contrastive distributions, optionally top-k/top-p filtered."},
        {"in_context_pvi", true, false, "absmax", c(), "In-context pointwise V-information -log p(y) + log p'(y') (Lu et al. 2023)."},
        {"mc_dropout_prob_avg", false, true, "prod", {"nMcdSteps", "logprob"},
         "(p(y) - mean p_k(y)) / std p_k(y) over nMcdSteps forwards with dropout active (Gal & Ghahramani 2016); the model stays in eval mode afterwards."},
        {"top_p_size", false, false, "absmax", {"topP"},
         "Number of tokens kept by nucleus filtering at topP (per row, unlike Inseq's batch-flattened value)."},
    };
  }();
  return kTable;
}

const std::vector<StepAlias>& step_aliases() {
  static const std::vector<StepAlias> kAliases = {
      {"logits", "logit", {}},
      {"logprob", "probability", {{"logprob", true}}},
  };
  return kAliases;
}

const std::vector<StepArgDecl>& step_args() {
  // Defaults as StepFunctionArgs declares them (step_functions.h).
  static const std::vector<StepArgDecl> kArgs = {
      {"logprob", "boolean", 0, "probability / contrast_prob / contrast_prob_diff: log-probabilities"},
      {"topP", "number", 1.0, "kl_divergence filtering, top_p_size"},
      {"topK", "integer", 0, "kl_divergence filtering"},
      {"minTokensToKeep", "integer", 1, "kl_divergence filtering: tokens always kept"},
      {"perplexityBase2", "boolean", 0, "perplexity: 2 ** crossentropy (nats) as Python Inseq"},
      {"nMcdSteps", "integer", 5, "mc_dropout_prob_avg: forwards with dropout"},
  };
  return kArgs;
}

}  // namespace inseq::attribution
