// Private to native/attribution: what one attribution call shares between the scheduler (engine.cc), the
// examples it builds (examples.cc), the step values (step_values.cc) and the method families
// (gradient_methods.cc, perturbation_methods.cc, internals_methods.cc).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "attribution/method_table.h"
#include "attribution/request.h"
#include "attribution/step_functions.h"
#include "models/causal_lm.h"

namespace inseq::models {
class EncoderDecoderLM;
}

namespace inseq::attribution::detail {

inline const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int64_t kAllLayers = -2;  // request.layer: every block

struct Example {
  at::Tensor ids;          // [n] int64 on the model device
  at::Tensor base_ids;     // [n] or undefined
  std::vector<int64_t> host_ids;       // [n] the same ids on the host (no device reads per row)
  std::vector<int64_t> host_base_ids;  // [n] or empty
  int64_t n = 0, start = 0, end = 0;
  int64_t src = 0;           // encoder-decoders: the first src positions are the source (0 = decoder-only)
  int64_t contrast_src = 0;  // the contrast sequence's source length
  int64_t steps() const { return end - start; }
  at::Tensor targets;      // [steps] int64: ids[start..end)
  at::Tensor positions;    // [steps] int64: start-1 .. end-2 (where the logits predicting each target are)
  at::Tensor contrast_ids;        // [m] or undefined
  at::Tensor contrast_positions;  // [steps] the aligned contrast position c (target contrast[c])
  at::Tensor contrast_targets;    // [steps]
  std::vector<int64_t> host_contrast_targets;  // [steps] or empty
};

// Bounds the work of a chunk (one batch of rows): with a large memory budget one batch could hold minutes of
// work, and each block of it would delay an abort (cancellation is checked at every block, forward and
// backward: models::CancelScope) and progress heartbeats. A chunk takes the rows that an estimated
// kBlockSeconds of work per block pass holds (one forward and one backward pass through every block, plus
// the embeddings and the head: 2 x layers + 2 passes; 3 GPT-2-small rows of 40 tokens on one CPU thread), never
// more than memory allows. Blocks check twice (before attention and before the MLP), so an abort lands within
// about half of kBlockSeconds of estimated work. The price: GPT-2-small saliency on one thread takes 4.0 s
// instead of 3.2 s with memory-sized batches (internal_batch_size restores those). The estimate
// (EngineContext::row_seconds) depends on the model, the row, the device kind and the thread count only, never
// on measured time, so two runs group rows the same way and agree bit for bit. An explicit internal_batch_size
// turns the budget off (chunks of that many rows).
class ChunkPacer {
 public:
  static constexpr double kBlockSeconds = 0.05;
  ChunkPacer(bool fixed, int64_t layers) : fixed_(fixed), chunk_seconds_(kBlockSeconds * static_cast<double>(2 * layers + 2)) {}
  int64_t rows(int64_t by_memory, double row_seconds) const {
    if (fixed_ || !(row_seconds > 0)) return by_memory;
    const double fit = chunk_seconds_ / row_seconds;
    return std::max<int64_t>(1, fit >= static_cast<double>(by_memory) ? by_memory : static_cast<int64_t>(fit));
  }

 private:
  bool fixed_;
  double chunk_seconds_;
};

struct GradRow {
  size_t e;       // example
  int64_t j;      // step index (target position t = start + j)
  int64_t t;      // prefix length
  double alpha;   // interpolation point between baseline (0) and input (1)
  double weight;  // integration weight
  int64_t sample; // gradient_shap sample index (noise)
  // sequential_integrated_gradients: the one position whose embedding moves along the path (the others stay
  // at the input); kEveryPosition: the whole row moves (integrated gradients); kUnchangedPositions: the row at
  // the input, whose gradient is kept at the positions equal to their baseline (multiplyByInputs false).
  int64_t pos = -1;
};
constexpr int64_t kEveryPosition = -1;
constexpr int64_t kUnchangedPositions = -2;

class EngineContext {
 public:
  EngineContext(models::CausalLM& model, const AttributionRequest& req);

  models::CausalLM& model;
  const AttributionRequest& req;  // every method option resolved (with_method_defaults)
  const c10::Device dev;
  const models::ModelCapabilities caps;
  const models::EncoderDecoderLM* seq2seq;  // non-null for encoder-decoders
  const double budget_bytes;                // activation memory for one batch of rows
  const bool strict_budget;                 // memoryBudget given: a row that cannot fit is ERR_OUT_OF_MEMORY
  std::vector<Example> ex;
  std::map<std::string, StepFunctionInfo> custom;  // compiled TorchScript step functions

  // ---- the scheduler (engine.cc) --------------------------------------------------------------------
  void check_cancel() const;
  // Inside per-row loops of a batch: every 64th row checks the cancellation flag and sends a heartbeat.
  void poll(int64_t r) {
    if ((r & 63) != 63) return;
    check_cancel();
    heartbeat();
  }
  void heartbeat();
  void progress(double steps);  // generated steps done (chunks add the share of a step their rows cover)
  void report();
  double steps_total() const { return steps_total_; }
  void add_steps(double steps) { steps_total_ += steps; }
  // Rows of `length` tokens per batch under the budget (at least 1); `checkpointed`: rows that keep only the
  // blocks' inputs (gradient checkpointing). A strict budget that not even one forward row fits (a quarter of a
  // gradient row, as the forward-only families pack 4 per gradient row) is ERR_OUT_OF_MEMORY.
  // `extra_bytes`: memory a row holds beyond its activations (sequential integrated gradients' chunked keys and values).
  int64_t rows_per_batch(int64_t length, bool checkpointed = false, double extra_bytes = 0) const;
  // Whether gradient rows of `length` tokens recompute their blocks in the backward pass: req.checkpointing
  // "on", or "auto" when one row (x memory_factor) would exceed the budget; never where `allowed` is false.
  bool checkpoint_rows(int64_t length, int64_t memory_factor, bool allowed) const;
  // Estimated seconds of one row of `length` tokens: `passes` 1 (forward) or 3 (forward + backward), logits at
  // `head_positions` positions.
  double row_seconds(int64_t length, double passes, int64_t head_positions) const;
  // Rows of the next batch starting at `pos` (rows sorted by decreasing length), for a memory cost factor.
  // With a strict budget, a row that does not fit (x memory_factor, checkpointed or not) is ERR_OUT_OF_MEMORY.
  size_t batch_size_at(const std::vector<GradRow>& rows, size_t pos, int64_t memory_factor, const ChunkPacer& pacer,
                       bool checkpointed = false) const;
  ChunkPacer pacer() const;
  // Layer methods at a block: encoder-decoders hook encoder block `layer` (forward-hook index layer) and, when the
  // target is attributed, decoder block `layer` (index encoder layers + layer), each on its own segment of the
  // concatenated row; decoder-only models hook block `layer`.
  bool hooks_layer(int64_t layer, int64_t hook_index) const;
  // Blocks a layer index may name (decoder-only: the blocks; encoder-decoders: the encoder's, which must equal the
  // decoder's when the target is attributed); refuses an index out of range.
  int64_t attributable_layers() const;
  void check_layer(int64_t layer) const;
  // A host result buffer of `sizes` filled with `value` (NaN: not causal), counted in host_peak_bytes.
  at::Tensor host_result(at::IntArrayRef sizes, float value);
  void release_host(const at::Tensor& t);  // a counted buffer that is no longer part of the result
  int64_t host_peak_bytes() const { return host_peak_bytes_; }
  int64_t tokens_forwarded = 0;  // AttributionResult::tokens_forwarded

  // ---- examples (examples.cc) ----------------------------------------------------------------------
  void prepare();
  // Source lengths of k rows of example e (undefined for decoder-only models), and embeddings of such rows.
  at::Tensor lengths(int64_t src, int64_t k) const { return seq2seq ? at::full({k}, src, at::kLong) : at::Tensor(); }
  at::Tensor lengths(const std::vector<int64_t>& srcs) const { return seq2seq ? at::tensor(srcs, at::kLong) : at::Tensor(); }
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& lens) const {
    return lens.defined() ? model.embed_split(ids, lens) : model.embed(ids);
  }
  at::Tensor long_tensor(const std::vector<int64_t>& v) const {
    return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(dev);
  }

  // ---- step values (step_values.cc) ----------------------------------------------------------------
  const StepFunctionInfo& step_fn(const std::string& id) const;
  // Logits predicting each attributed target: [steps, V], for the given ids of example e (no grad).
  at::Tensor step_logits(const at::Tensor& ids, const at::Tensor& positions, int64_t src, int64_t hook_layer = -1,
                         const at::Tensor& replacement = at::Tensor());
  at::Tensor contrast_step_logits(const Example& e) { return step_logits(e.contrast_ids, e.contrast_positions.sub(1), e.contrast_src); }
  // The attributed function on rows (differentiable when logits are).
  at::Tensor attributed_values(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& contrast_logits,
                               const at::Tensor& contrast_targets) const;
  // Step scores of example e; `step_logits_out` (optional) receives the logits [steps, V] float32 CPU.
  std::map<std::string, at::Tensor> compute_step_scores(Example& e, at::Tensor* step_logits_out);

 private:
  static constexpr std::chrono::milliseconds kHeartbeat{100};
  double steps_done_ = 0, steps_total_ = 0;
  std::chrono::steady_clock::time_point last_report_ = std::chrono::steady_clock::now();
  int64_t host_bytes_ = 0, host_peak_bytes_ = 0;
};

// ---- method families: each returns per example the attributions laid out [n, steps, *extra] float32 CPU
// (NaN where not causal), the hidden dimension already reduced on the device when the request is not granular.

// gradient_methods.cc: saliency, input_x_gradient, integrated_gradients, gradient_shap, deeplift and the layer_*
// variants at one layer (`layer` -1 = embeddings). `share`: the part of each step's work these rows are.
// `deltas` (optional): IG / DeepLIFT convergence deltas per example, [2, steps]: row 0 the delta (sum of the
// attributions - (f(x) - f(baseline))), row 1 f(x) - f(baseline) (what the delta is relative to).
// attn_lrp / cp_lrp (rules in the model's blocks, models/lrp_rules.h) return the relevance of each token embedding
// summed over the hidden dimension ([n, steps], signed); `lrp_scores` (optional) receives per example the step scores
// "lrp_conservation_error" (sum of the input relevance - f(x), [steps]) and, for models that add position embeddings
// (GPT-2), "lrp_position_relevance" (their relevance summed over the prefix, [steps], included in that sum); with
// latent_relevance also "lrp_latent_relevance" [n, steps, layers] (every block output's relevance, summed over hidden).
std::vector<at::Tensor> gradient_attributions(EngineContext& ctx, const MethodInfo& method, int64_t layer,
                                              std::map<size_t, at::Tensor>* deltas, double share = 1.0,
                                              std::map<size_t, std::map<std::string, at::Tensor>>* lrp_scores = nullptr);
// dig_schedule.cc: discretized_integrated_gradients' path points per example, [n_steps, n, H] float32 on the
// device (point 0 = the baselines, point n_steps - 1 = the inputs).
std::vector<at::Tensor> dig_paths(EngineContext& ctx);
// layer_gradient_x_activation at every block in one forward + backward: [n, steps, layers(, hidden)].
std::vector<at::Tensor> all_layers_gradient_x_activation(EngineContext& ctx);
// sequential_ig.cc: what sequential integrated gradients' attributions of each step add up to, [2, steps] float64
// CPU: row 0 the sum over positions p of f(x) - f(x with p at its baseline), row 1 the sum of their |.|.
// `forced_contrast`: the contrast logits [steps, V] when contrast inputs are forced, else undefined.
at::Tensor sequential_differences(EngineContext& ctx, const Example& e, const at::Tensor& forced_contrast);
// sequential_ig.cc: sequential integrated gradients of example i over the clean prefix's KV cache (decoder-only
// models with a cache, no checkpointing): every (moving position p, integration point) row runs from p on, one
// forward for all its steps. `X`, `Bx` [n, H] inputs and baselines; `alphas` / `weights` the integration grid;
// `forced_contrast` as above. For each step j and position p, `add(j, p, grad, rows)` receives the weighted sum of
// the gradients at p [H] float32 of `rows` rows (those whose position precedes step j's target); `batch_done()`
// follows each batch.
struct SequentialSink {
  std::function<void(int64_t j, int64_t p, const at::Tensor& grad, int64_t rows)> add;
  std::function<void()> batch_done;
};
void sequential_prefix_rows(EngineContext& ctx, size_t i, const at::Tensor& X, const at::Tensor& Bx, const std::vector<double>& alphas,
                            const std::vector<double>& weights, const at::Tensor& forced_contrast, const SequentialSink& sink);

// perturbation_methods.cc: [n, steps]
at::Tensor occlusion(EngineContext& ctx, Example& e);
at::Tensor lime(EngineContext& ctx, Example& e);
// reagent.cc: every example at once, [n, steps] each; `converged_probes` per example [steps]: probes that converged
// (0: the step's score is the mean over all probes).
std::vector<at::Tensor> reagent(EngineContext& ctx, std::vector<at::Tensor>& converged_probes);

// internals_methods.cc: attention [n, steps, layers, heads]; value zeroing [n, steps, layers].
at::Tensor attention(EngineContext& ctx, Example& e, std::map<std::string, at::Tensor>& sequence_scores);
at::Tensor value_zeroing(EngineContext& ctx, Example& e, std::map<std::string, at::Tensor>& sequence_scores);
// attention_rollout (max_flow false) / attention_flow: [n, steps]; alti_logit: [n, steps].
at::Tensor attention_graph(EngineContext& ctx, Example& e, bool max_flow);
at::Tensor alti_logit(EngineContext& ctx, Example& e);

}  // namespace inseq::attribution::detail
