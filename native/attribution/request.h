// The plain C++ request and result of one attribution call (built by the binding on the JS thread).
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attribution/step_functions.h"

namespace inseq::attribution {

struct AttributionRequest {
  std::string method = "saliency";
  // Per example: the full token ids (decoder-only: prompt + continuation), the baseline ids (same length;
  // empty = no baseline), and the target positions [attr_start, attr_end) whose tokens are attributed.
  std::vector<std::vector<int64_t>> sequences;
  std::vector<std::vector<int64_t>> baselines;
  std::vector<int64_t> attr_start;
  std::vector<int64_t> attr_end;
  // Encoder-decoders: per example the source length; each sequence is source ++ target (the target starts
  // with the decoder start token), so attr_start >= source length + 1. Empty = decoder-only.
  std::vector<int64_t> source_lengths;

  std::string attributed_fn = "probability";
  StepFunctionArgs attributed_fn_args;
  std::vector<std::string> step_scores;
  StepFunctionArgs step_scores_args;
  std::map<std::string, std::string> custom_step_functions;  // id -> TorchScript source (differentiable)

  // Contrastive targets: per example the contrast ids and, per attributed step, the aligned contrast
  // position c (its target is contrast[c], predicted from contrast[:c]). Empty = no contrast.
  std::vector<std::vector<int64_t>> contrast_sequences;
  std::vector<std::vector<int64_t>> contrast_positions;
  std::vector<int64_t> contrast_source_lengths;  // encoder-decoders: the contrast sequence's source length
  bool contrast_force_inputs = false;

  // Method options (Inseq/Captum names in the comments).
  // Unset values (0 / negative) take the method's own default (MethodInfo::defaults, docs/attribution.md).
  int64_t n_steps = 0;                       // n_steps (integrated gradients: 50)
  std::string integration = "gausslegendre";  // method
  int64_t internal_batch_size = 0;           // internal_batch_size: max rows per forward (0 = by memory)
  bool return_convergence_delta = false;
  int64_t n_samples = 0;                     // gradient_shap: 5, lime: 50
  double stdevs = -1.0;                      // gradient_shap noise: 0
  double mask_prob = -1.0;                   // lime: 0.3
  uint64_t seed = 0;
  // discretized_integrated_gradients (dig_paths.h): the path strategy (Inseq's `method`: "greedy" | "maxcount"),
  // the kNN size (n_neighbors; 0 = 50), the kNN cache directory (empty = no cache file), Inseq's save_cache /
  // overwrite_cache, and the special token ids whose paths stay at the token (Inseq: tokenizer.all_special_ids).
  // Its multiply_by_inputs default is false (Inseq's); the binding passes what lib/ resolved.
  std::string dig_strategy = "greedy";
  int64_t n_neighbors = 0;
  std::string dig_cache_dir;
  bool dig_save_cache = true;
  bool dig_overwrite_cache = false;
  std::vector<int64_t> special_token_ids;
  bool multiply_by_inputs = true;
  // attn_lrp / cp_lrp on decoder-only models: also the relevance of every block's output (the residual stream after
  // block l), summed over hidden, from the same backward: sequence score "lrp_latent_relevance" [n, steps, layers].
  bool latent_relevance = false;
  int64_t layer = -1;                        // layer methods: -1 = the embedding layer, N = output of block N, -2 = every block
                                             // (encoder-decoders: encoder block N, and decoder block N with attribute_target)
  // Encoder-decoders: whether the target prefix is attributed (Inseq's attribute_target). Layer methods at a block
  // then also take the decoder's block; the baselines say which positions are features for every other method.
  bool attribute_target = false;
  // value_zeroing: "cosine" | "euclidean"; per layer, the heads whose values are zeroed (empty = all)
  std::string similarity_metric = "cosine";
  std::vector<std::vector<int64_t>> decoder_zeroed_heads, encoder_zeroed_heads, cross_zeroed_heads;
  // reagent (reagent.cc; unset values take the method table's defaults): keep_top_n (0 = ceil(keep_ratio x features)),
  // keep_ratio, invert_keep, stopping_condition_top_k, replacing_ratio, max_probe_steps, num_probes; the POS group of
  // every vocabulary id (< 0: special, never replaced; ids past the table: special), built once per tokenizer in TS
  // (lib/attribution/pos-groups.ts); source_pos_groups: the source side of encoder-decoders (empty = pos_groups).
  int64_t keep_top_n = -1;
  double keep_ratio = -1.0;
  bool invert_keep = false;
  int64_t stopping_top_k = 0;
  double replacing_ratio = -1.0;
  int64_t max_probe_steps = 0;
  int64_t num_probes = 0;
  std::vector<int32_t> pos_groups, source_pos_groups;
  // Result shaping, the defaults declared once here (the binding and TS leave unset fields alone):
  bool granular = false;          // keep the hidden dimension; false = L2 norm over it on the device as each batch finishes
  bool normalize = false;         // reduced (granular off) results: L1-normalise each generated step's column, as
                                  // lib/aggregators/scores.ts normalizeJoint (Inseq's default aggregation); the
                                  // result's kind becomes "coarse"
  bool normalize_target = true;   // encoder-decoders: the target rows take part in the normalisation (false = source only)
  bool return_step_logits = false;  // SequenceAttribution::step_logits: the logits predicting each attributed target
  // ---- memory budget and gradient checkpointing (docs/attribution.md "Memory budget") -------------------------
  // memoryBudget: activation memory for one batch of rows, in bytes; kBudgetAuto = half the free RAM
  // (/proc/meminfo MemAvailable) or half the free memory of the CUDA device. A budget given this way is strict:
  // when even one row cannot fit it (with gradient checkpointing where the method allows), the call fails
  // with ERR_OUT_OF_MEMORY naming the bytes one row needs. 0 = unset: memory_budget_mb.
  static constexpr int64_t kBudgetAuto = -1;
  int64_t memory_budget_bytes = 0;
  // memoryBudgetMb (the older form, kept as an alias): MiB; a row that does not fit runs alone (never an
  // error). 0 = from the device's free memory (core::default_memory_budget_mb).
  int64_t memory_budget_mb = 0;
  // Gradient checkpointing of saliency / input x gradient / integrated gradients / GradientSHAP at the
  // embeddings: the forward keeps only each block's input and the backward recomputes the block.
  // "auto": when one row's activations exceed the budget; "on": always (tests); "off": never.
  std::string checkpointing = "auto";
  // Benchmark baseline: Inseq's schedule (one batch per generated step, LM head over every position,
  // occlusion re-run per step on the prefix). Results are identical; only the cost differs.
  bool per_step_schedule = false;
  // Internal (tests, benchmarks): false runs every occluded input (occlusion) and every zeroed token (value zeroing,
  // decoder-only) from position 0 instead of from that token on over the clean prefix's KV cache, and every
  // step of saliency / input x gradient on a long prompt as its own row instead of sharing one forward of the
  // example (gradient_methods.cc). Results agree to float tolerance; only the cost differs.
  bool prefix_cache = true;

  const std::atomic<bool>* cancel = nullptr;
  std::function<void(int64_t done, int64_t total)> on_progress;
};

struct SequenceAttribution {
  at::Tensor attributions;                    // [len, steps, *extra] float32 CPU, NaN where not causal; undefined for dummy
  std::map<std::string, at::Tensor> step_scores;  // name -> [steps] float32 CPU
  // Per-sequence matrices beside the attributions (Inseq's sequence_scores), e.g. encoder self-attention
  // [src, src, layers, heads].
  std::map<std::string, at::Tensor> sequence_scores;
  at::Tensor step_logits;  // [steps, vocab] float32 CPU with return_step_logits (what custom step scores read); else undefined
  at::Tensor delta_scales; // [steps] float32 CPU with return_convergence_delta: f(x) - f(baseline), what step_scores["deltas"] is relative to
};

struct AttributionResult {
  std::vector<SequenceAttribution> sequences;
  std::string kind;                     // "granular" | "coarse" | "multidimensional" | "base"
  std::vector<std::string> extra_dims;  // e.g. {"hidden"}, {"layer", "head"}
  int64_t host_peak_bytes = 0;          // bytes of host result buffers allocated (O(steps x n) unless granular)
  int64_t tokens_forwarded = 0;         // token positions run through the model (batch x seq of each forward of the
                                        // attribution itself; backward passes not counted): a cost counter
};

}  // namespace inseq::attribution
