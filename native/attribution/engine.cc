#include "attribution/engine.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <cmath>
#include <limits>
#include <random>

#include "attribution/integration.h"
#include "attribution/torchscript_step.h"
#include "attribution/value_zeroing.h"
#include "core/device.h"
#include "core/error.h"
#include "models/concat_seq2seq.h"
#include "models/layers.h"

namespace inseq::attribution {

using core::Error;
using core::ErrorCode;

const std::vector<MethodInfo>& list_methods() {
  static const std::vector<MethodInfo> kMethods = {
      {"dummy", "none", false, "base", "No attributions; computes only step scores."},
      {"saliency", "gradient", false, "granular", "Absolute gradient of the attributed function w.r.t. the input embeddings (Captum Saliency, abs=True)."},
      {"input_x_gradient", "gradient", false, "granular", "Gradient times input embedding."},
      {"integrated_gradients", "gradient", true, "granular",
       "Integrated gradients from the UNK baseline: (x - x') * sum_k w_k grad f(x' + a_k (x - x')), Captum's integration grids.",
       {{"nSteps", 50}}},
      {"gradient_shap", "gradient", true, "granular",
       "GradientSHAP: expected gradients at random points between the baseline and (noisy) inputs, times (input - baseline).",
       {{"nSamples", 5}, {"stdevs", 0}}},  // Captum's GradientShap defaults
      {"deeplift", "gradient", true, "granular",
       "DeepLIFT with the Rescale rule from the UNK baseline: (x - x') * multipliers, the multipliers back-propagated through (f(z) - f(z'))/(z - z') at the MLP activations and Captum's rule at the attention softmax."},
      {"layer_integrated_gradients", "layer", true, "granular", "Integrated gradients on a layer's activations (default: the embedding layer).",
       {{"nSteps", 50}}},
      {"layer_deeplift", "layer", true, "granular", "DeepLIFT (Rescale) on a layer's activations (default: the embedding layer)."},
      {"layer_gradient_x_activation", "layer", false, "granular", "Gradient times activation of a layer (default: the embedding layer)."},
      {"occlusion", "perturbation", true, "coarse",
       "|f(x) - f(x with token j replaced by the baseline)| for every attributed token j; one forward per occluded token scores all steps."},
      {"lime", "perturbation", true, "coarse",
       "LIME in token space: random keep-masks (tokens replaced by the baseline token), one forward per sample scores every step, then a weighted ridge regression per step (sklearn Ridge defaults: alpha 1, intercept).",
       {{"nSamples", 50}, {"maskProb", 0.3}}},  // Captum's Lime: 50 samples (5 leave the ridge problem underdetermined)
      {"attention", "internals", false, "multidimensional", "Attention weights of every layer and head from the generated token's query to each attributed token."},
      {"value_zeroing", "internals", false, "multidimensional",
       "Value Zeroing (Mohebbi et al. 2023): 1 - cos between each layer's clean and corrupted states of the generated token's query when a token's attention values are zeroed; batched over zeroed tokens."},
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

namespace {

// The request with every unset method option replaced by the method's default.
AttributionRequest with_method_defaults(const AttributionRequest& request) {
  AttributionRequest r = request;
  const MethodInfo& m = get_method(r.method);
  if (r.n_steps <= 0) r.n_steps = static_cast<int64_t>(method_default(m, "nSteps", 50));
  if (r.n_samples <= 0) r.n_samples = static_cast<int64_t>(method_default(m, "nSamples", 5));
  if (r.stdevs < 0) r.stdevs = method_default(m, "stdevs", 0.0);
  if (r.mask_prob < 0) r.mask_prob = method_default(m, "maskProb", 0.3);
  return r;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int64_t kAllLayers = -2;  // request.layer: every block

struct Example {
  at::Tensor ids;          // [n] int64 on the model device
  at::Tensor base_ids;     // [n] or undefined
  int64_t n = 0, start = 0, end = 0;
  int64_t src = 0;           // encoder-decoders: the first src positions are the source (0 = decoder-only)
  int64_t contrast_src = 0;  // the contrast sequence's source length
  int64_t steps() const { return end - start; }
  at::Tensor targets;      // [steps] int64: ids[start..end)
  at::Tensor positions;    // [steps] int64: start-1 .. end-2 (where the logits predicting each target are)
  at::Tensor contrast_ids;        // [m] or undefined
  at::Tensor contrast_positions;  // [steps] the aligned contrast position c (target contrast[c])
  at::Tensor contrast_targets;    // [steps]
};

// Bounds the work of a chunk (one batch of rows): with a large memory budget one batch could hold minutes of
// work, and each block of it would delay an abort (cancellation is checked at every block, forward and
// backward: models::CancelScope) and progress heartbeats. A chunk takes the rows that an estimated
// kBlockSeconds of work per block pass holds (one forward and one backward pass through every block, plus
// the embeddings and the head: 2 x layers + 2 passes; 3 GPT-2-small rows of 40 tokens on one CPU thread), never
// more than memory allows. Blocks check twice (before attention and before the MLP), so an abort lands within
// about half of kBlockSeconds of estimated work. The price: GPT-2-small saliency on one thread takes 4.0 s
// instead of 3.2 s with memory-sized batches (internal_batch_size restores those). The estimate (Engine::row_seconds) depends on the
// model, the row, the device kind and the thread count only, never on measured time, so two runs group rows the
// same way and agree bit for bit. An explicit internal_batch_size turns the budget off (chunks of that many rows).
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
};

class Engine {
 public:
  Engine(models::CausalLM& model, const AttributionRequest& req)
      : model_(model),
        req_(req),
        dev_(model.device()),
        seq2seq_(dynamic_cast<const models::ConcatenatedSeq2Seq*>(&model)),
        budget_mb_(req.memory_budget_mb > 0 ? req.memory_budget_mb : core::default_memory_budget_mb(dev_)) {}

  AttributionResult run();
  void heartbeat() {
    if (req_.on_progress && std::chrono::steady_clock::now() - last_report_ >= kHeartbeat) report();
  }

 private:
  static constexpr std::chrono::milliseconds kHeartbeat{100};
  models::CausalLM& model_;
  const AttributionRequest& req_;
  c10::Device dev_;
  const models::ConcatenatedSeq2Seq* seq2seq_;  // non-null for encoder-decoders
  const int64_t budget_mb_;                     // activation memory for one batch of rows
  std::vector<Example> ex_;
  std::map<std::string, StepFunctionInfo> custom_;  // compiled TorchScript step functions
  // Progress in generated steps (all examples): chunks advance it by the share of a step their rows cover.
  double steps_done_ = 0, steps_total_ = 0;
  std::chrono::steady_clock::time_point last_report_ = std::chrono::steady_clock::now();

  const StepFunctionInfo& step_fn(const std::string& id) const {
    auto it = custom_.find(id);
    return it != custom_.end() ? it->second : get_step_function(id);
  }

  void check_cancel() const {
    if (req_.cancel && req_.cancel->load()) throw Error(ErrorCode::kAborted, "Attribution was aborted");
  }
  // Inside per-row loops of a batch (thousands of small tensor ops between blocks): every 64th row checks the
  // cancellation flag and sends a heartbeat, as the model's blocks do.
  void poll(int64_t r) {
    if ((r & 63) != 63) return;
    check_cancel();
    heartbeat();
  }
  void progress(double steps) {
    steps_done_ = std::min(steps_done_ + steps, steps_total_);
    report();
  }
  void report() {
    last_report_ = std::chrono::steady_clock::now();
    if (req_.on_progress) req_.on_progress(static_cast<int64_t>(std::floor(steps_done_ + 1e-9)), static_cast<int64_t>(steps_total_));
  }
  void prepare();
  // Source lengths of k rows of example e (undefined for decoder-only models), and embeddings of such rows.
  at::Tensor lengths(int64_t src, int64_t k) const { return seq2seq_ ? at::full({k}, src, at::kLong) : at::Tensor(); }
  at::Tensor lengths(const std::vector<int64_t>& srcs) const { return seq2seq_ ? at::tensor(srcs, at::kLong) : at::Tensor(); }
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& lens) const {
    return lens.defined() ? model_.embed_split(ids, lens) : model_.embed(ids);
  }
  at::Tensor long_tensor(const std::vector<int64_t>& v) const {
    return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(dev_);
  }

  // Logits predicting each attributed target: [steps, V], for the given ids of example e (no grad).
  at::Tensor step_logits(const at::Tensor& ids, const at::Tensor& positions, int64_t src, int64_t hook_layer = -1,
                         const at::Tensor& replacement = at::Tensor());
  at::Tensor contrast_step_logits(const Example& e) { return step_logits(e.contrast_ids, e.contrast_positions.sub(1), e.contrast_src); }
  // The attributed function on rows (differentiable when logits are).
  at::Tensor attributed_values(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& contrast_logits,
                               const at::Tensor& contrast_targets) const;
  std::map<std::string, at::Tensor> compute_step_scores(Example& e);

  // Methods
  // `share`: the part of each step's work these rows are (1 / layers when every layer is attributed in turn).
  std::vector<at::Tensor> gradient_method(const std::string& method, int64_t layer, std::map<size_t, at::Tensor>* deltas, double share = 1.0);
  std::vector<at::Tensor> all_layers_gradient_x_activation();
  at::Tensor occlusion(Example& e);
  at::Tensor occlusion_per_step(Example& e);
  at::Tensor lime(Example& e);
  at::Tensor attention(Example& e, std::map<std::string, at::Tensor>& sequence_scores);
  at::Tensor value_zeroing(Example& e, std::map<std::string, at::Tensor>& sequence_scores);
  int64_t rows_per_batch(int64_t length) const;
  // Estimated seconds of one row of `length` tokens: `passes` 1 (forward) or 3 (forward + backward), logits at
  // `head_positions` positions.
  double row_seconds(int64_t length, double passes, int64_t head_positions) const;
  // Rows of the next batch starting at `pos` (rows sorted by decreasing length), for a memory cost factor.
  size_t batch_size_at(const std::vector<GradRow>& rows, size_t pos, int64_t memory_factor, const ChunkPacer& pacer) const;
};

void Engine::prepare() {
  const auto& r = req_;
  const size_t E = r.sequences.size();
  if (E == 0) throw Error(ErrorCode::kInvalidOption, "Expected at least one sequence to attribute");
  if (r.attr_start.size() != E || r.attr_end.size() != E) throw Error(ErrorCode::kInvalidOption, "attr_start/attr_end must have one entry per sequence");
  const bool contrast = !r.contrast_sequences.empty();
  if (seq2seq_ && r.source_lengths.size() != E) throw Error(ErrorCode::kInvalidOption, "Encoder-decoder attribution needs one source length per sequence");
  if (!seq2seq_ && !r.source_lengths.empty()) throw Error(ErrorCode::kInvalidOption, "Source lengths are for encoder-decoder models only");
  if (seq2seq_ && contrast && r.contrast_source_lengths.size() != E) {
    throw Error(ErrorCode::kInvalidOption, "Encoder-decoder contrast targets need one contrast source length per sequence");
  }
  if (contrast && (r.contrast_sequences.size() != E || r.contrast_positions.size() != E)) {
    throw Error(ErrorCode::kInvalidOption, "contrast targets must have one entry per sequence");
  }
  const int64_t vocab = model_.config().vocab_size;
  auto check_ids = [&](const std::vector<int64_t>& ids, const char* what) {
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab) throw Error(ErrorCode::kInvalidOption, std::string(what) + " token id " + std::to_string(id) + " is outside the vocabulary");
    }
  };
  for (size_t i = 0; i < E; ++i) {
    Example e;
    const auto& seq = r.sequences[i];
    check_ids(seq, "Input");
    e.n = static_cast<int64_t>(seq.size());
    if (!seq2seq_) models::check_context(model_, e.n, "Sequence " + std::to_string(i) + " (prompt + target, " + std::to_string(e.n) + " tokens)");
    e.start = r.attr_start[i];
    e.end = r.attr_end[i];
    if (e.start < 1 || e.end > e.n || e.start >= e.end) {
      throw Error(ErrorCode::kInvalidOption, "Expected 1 <= attrPosStart < attrPosEnd <= " + std::to_string(e.n) + " for sequence " +
                                                 std::to_string(i) + " but received [" + std::to_string(e.start) + ", " + std::to_string(e.end) + ")");
    }
    if (seq2seq_) {
      e.src = r.source_lengths[i];
      if (e.src < 1 || e.src + 1 >= e.n) {
        throw Error(ErrorCode::kInvalidOption, "Sequence " + std::to_string(i) + " needs a non-empty source and a target after it");
      }
      if (e.start < e.src + 1) {
        throw Error(ErrorCode::kInvalidOption, "Expected attrPosStart >= 1 within the target of sequence " + std::to_string(i));
      }
      seq2seq_->model().check_lengths(e.src, e.n - e.src);
    }
    e.ids = long_tensor(seq);
    if (!r.baselines.empty() && !r.baselines[i].empty()) {
      if (r.baselines[i].size() != seq.size()) throw Error(ErrorCode::kInvalidOption, "Baseline length differs from the input length for sequence " + std::to_string(i));
      check_ids(r.baselines[i], "Baseline");
      e.base_ids = long_tensor(r.baselines[i]);
    }
    e.targets = e.ids.slice(0, e.start, e.end);
    e.positions = at::arange(e.start - 1, e.end - 1, at::TensorOptions().dtype(at::kLong).device(dev_));
    if (contrast) {
      const auto& cs = r.contrast_sequences[i];
      const auto& cp = r.contrast_positions[i];
      check_ids(cs, "Contrast");
      if (!seq2seq_) models::check_context(model_, static_cast<int64_t>(cs.size()), "Contrast sequence " + std::to_string(i));
      if (static_cast<int64_t>(cp.size()) != e.steps()) throw Error(ErrorCode::kInvalidOption, "Expected one contrast position per attributed step");
      for (int64_t c : cp) {
        if (c < 1 || c >= static_cast<int64_t>(cs.size())) throw Error(ErrorCode::kInvalidOption, "Contrast position " + std::to_string(c) + " is out of range");
      }
      if (seq2seq_) {
        e.contrast_src = r.contrast_source_lengths[i];
        if (e.contrast_src < 1 || e.contrast_src + 1 >= static_cast<int64_t>(cs.size())) {
          throw Error(ErrorCode::kInvalidOption, "Contrast sequence " + std::to_string(i) + " needs a non-empty source and target");
        }
        for (int64_t c : cp) {
          if (c < e.contrast_src + 1) throw Error(ErrorCode::kInvalidOption, "Contrast position " + std::to_string(c) + " is inside the contrast source");
        }
      }
      e.contrast_ids = long_tensor(cs);
      e.contrast_positions = long_tensor(cp);
      e.contrast_targets = e.contrast_ids.index_select(0, e.contrast_positions);
    }
    steps_total_ += static_cast<double>(e.steps());
    ex_.push_back(std::move(e));
  }
}

at::Tensor Engine::step_logits(const at::Tensor& ids, const at::Tensor& positions, int64_t src, int64_t hook_layer,
                               const at::Tensor& replacement) {
  models::ForwardRequest fr;
  fr.source_lengths = lengths(src, 1);
  fr.inputs_embeds = embed(ids.unsqueeze(0), fr.source_lengths);  // [1, n, H]
  fr.logits_positions = positions.unsqueeze(0);       // [1, steps]
  if (hook_layer >= 0) {
    fr.layer_output_hook = [&](int64_t layer, const at::Tensor& h) { return layer == hook_layer ? replacement.unsqueeze(0) : h; };
  }
  return model_.forward(fr).logits.squeeze(0);  // [steps, V]
}

at::Tensor Engine::attributed_values(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& contrast_logits,
                                     const at::Tensor& contrast_targets) const {
  const StepFunctionInfo& fn = step_fn(req_.attributed_fn);
  StepInputs in;
  in.logits = logits.to(at::kFloat);  // half-precision models: the attributed function in float32 (differentiable cast)
  in.targets = targets;
  if (fn.contrastive && contrast_targets.defined()) {
    in.contrast_targets = contrast_targets;
    // Inseq: unless contrast inputs are forced, the original forward is reused and only the target changes.
    in.contrast_logits = contrast_logits.defined() ? contrast_logits.to(at::kFloat) : in.logits;
  }
  if (fn.needs_dropout) throw Error(ErrorCode::kInvalidOption, "mc_dropout_prob_avg cannot be the attributed function");
  return fn.fn(in, req_.attributed_fn_args);
}

std::map<std::string, at::Tensor> Engine::compute_step_scores(Example& e) {
  std::map<std::string, at::Tensor> out;
  if (req_.step_scores.empty()) return out;
  c10::InferenceMode guard;
  at::Tensor logits = step_logits(e.ids, e.positions, e.src).to(at::kFloat);  // [steps, V], float32 for half models
  at::Tensor contrast_logits;
  for (const auto& id : req_.step_scores) {
    const StepFunctionInfo& fn = step_fn(id);
    StepInputs in;
    in.logits = logits;
    in.targets = e.targets;
    if (fn.contrastive && e.contrast_ids.defined()) {
      if (!contrast_logits.defined()) contrast_logits = contrast_step_logits(e).to(at::kFloat);  // step scores always forward the contrast
      in.contrast_logits = contrast_logits;
      in.contrast_targets = e.contrast_targets;
    }
    if (fn.needs_dropout) {
      if (seq2seq_ || model_.config().family == "torchscript") {
        throw Error(ErrorCode::kUnsupportedModel, id + " needs dropout in the forward pass, which encoder-decoders and TorchScript bundles here do not apply");
      }
      std::vector<at::Tensor> runs;
      model_.set_training(true);
      try {
        for (int64_t k = 0; k < req_.step_scores_args.n_mcd_steps; ++k) runs.push_back(step_logits(e.ids, e.positions, e.src));
      } catch (...) {
        model_.set_training(false);
        throw;
      }
      model_.set_training(false);  // unlike Inseq, the model is left in eval mode
      in.dropout_logits = at::stack(runs);  // [n, steps, V]
    }
    out[id] = fn.fn(in, req_.step_scores_args).to(at::kCPU, at::kFloat);
  }
  return out;
}

namespace {
// Activation bytes kept for backward by one row of `length` tokens: about 20 hidden-sized vectors plus one
// attention row per head, per token and layer, and the logits of a few positions.
double row_bytes(const models::ModelConfig& c, int64_t length) {
  const double per_token = 4.0 * static_cast<double>(c.num_layers) * (20.0 * c.hidden_size + 2.0 * c.num_heads * length);
  return per_token * static_cast<double>(length) + 4.0 * 3.0 * static_cast<double>(c.vocab_size);
}
}  // namespace

int64_t Engine::rows_per_batch(int64_t length) const {
  int64_t rows = static_cast<int64_t>(static_cast<double>(budget_mb_) * 1024.0 * 1024.0 / row_bytes(model_.config(), length));
  rows = std::max<int64_t>(rows, 1);
  if (req_.internal_batch_size > 0) rows = std::min(rows, req_.internal_batch_size);
  return rows;
}

double Engine::row_seconds(int64_t length, double passes, int64_t head_positions) const {
  const auto& c = model_.config();
  const double h = static_cast<double>(c.hidden_size), L = static_cast<double>(length);
  const double inter = c.intermediate_size > 0 ? static_cast<double>(c.intermediate_size) : 4.0 * h;
  // Multiply-adds: projections (4 h^2), the MLP (up to 3 h x inter), attention scores and values (2 L h).
  const double flops = passes * 2.0 *
      (L * static_cast<double>(c.num_layers) * (4.0 * h * h + 3.0 * h * inter + 2.0 * L * h) +
       static_cast<double>(head_positions) * h * static_cast<double>(c.vocab_size));
  const double bytes = passes * row_bytes(c, length);
  // Sustained rates of one CPU thread (fp32 GEMM, measured 87 GFLOP/s on an AVX-512 core; elementwise and
  // autograd traffic), or of one GPU. A slower machine makes chunks longer than intended, a faster one
  // shorter (never different results).
  double flops_per_s = 8.0e10, bytes_per_s = 2.5e9;
  if (dev_.is_cuda()) {
    flops_per_s = 1.0e13;
    bytes_per_s = 2.0e11;
  } else {
    const double threads = static_cast<double>(std::max(1, at::get_num_threads()));
    flops_per_s *= threads;
    bytes_per_s *= threads;
  }
  return flops / flops_per_s + bytes / bytes_per_s;
}

// ---- gradient family ----------------------------------------------------------------------------

size_t Engine::batch_size_at(const std::vector<GradRow>& rows, size_t pos, int64_t memory_factor, const ChunkPacer& pacer) const {
  const int64_t L = rows[pos].t;
  // Forward + backward (x2 for DeepLIFT's baseline pass, or every layer's activations kept), logits at one position.
  const int64_t by_memory = pacer.rows(std::max<int64_t>(1, rows_per_batch(L) / memory_factor), row_seconds(L, 3.0 * memory_factor, 1));
  size_t take = std::min<size_t>(rows.size() - pos, static_cast<size_t>(by_memory));
  // Keep padding low: rows are sorted by length, so stop at rows much shorter than the first.
  size_t same = 1;
  while (same < take && rows[pos + same].t * 5 >= L * 4) ++same;
  return same;
}

std::vector<at::Tensor> Engine::gradient_method(const std::string& method, int64_t layer_arg, std::map<size_t, at::Tensor>* deltas, double share) {
  const bool is_layer = method.rfind("layer_", 0) == 0;
  const int64_t layer = is_layer ? layer_arg : -1;
  if (layer >= model_.config().num_layers) throw Error(ErrorCode::kInvalidOption, "layer " + std::to_string(layer) + " is out of range");
  const std::string base = is_layer ? method.substr(6) : method;  // integrated_gradients | gradient_x_activation
  const bool deeplift = base == "deeplift";
  const bool path = base == "integrated_gradients" || base == "gradient_shap" || deeplift;
  const bool shap = base == "gradient_shap";

  // Inputs and baselines in the attributed space: embeddings, or the chosen layer's activations.
  std::vector<at::Tensor> X(ex_.size()), Bx(ex_.size());  // [n, H]
  {
    c10::InferenceMode guard;
    for (size_t i = 0; i < ex_.size(); ++i) {
      auto space = [&](const at::Tensor& ids) -> at::Tensor {
        at::Tensor lens = lengths(ex_[i].src, 1);
        if (layer < 0) return embed(ids.unsqueeze(0), lens).squeeze(0);
        at::Tensor captured;
        models::ForwardRequest fr;
        fr.source_lengths = lens;
        fr.inputs_embeds = embed(ids.unsqueeze(0), lens);
        fr.logits_positions = at::zeros({1, 1}, at::TensorOptions().dtype(at::kLong).device(dev_));
        fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
          if (l == layer) captured = h;
          return h;
        };
        model_.forward(fr);
        return captured.squeeze(0);
      };
      X[i] = space(ex_[i].ids).clone();
      if (path) {
        if (!ex_[i].base_ids.defined()) throw Error(ErrorCode::kInvalidOption, method + " needs baselines");
        Bx[i] = space(ex_[i].base_ids).clone();
      }
    }
  }

  // Rows: (example, step, integration point).
  std::vector<double> alphas = {1.0}, weights = {1.0};
  if (base == "integrated_gradients") std::tie(alphas, weights) = integration_grid(req_.integration, req_.n_steps);
  std::mt19937_64 rng(req_.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<GradRow> rows;
  for (size_t i = 0; i < ex_.size(); ++i) {
    for (int64_t j = 0; j < ex_[i].steps(); ++j) {
      const int64_t t = ex_[i].start + j;
      if (shap) {
        for (int64_t s = 0; s < req_.n_samples; ++s) rows.push_back({i, j, t, uniform(rng), 1.0 / static_cast<double>(req_.n_samples), s});
      } else {
        for (size_t k = 0; k < alphas.size(); ++k) rows.push_back({i, j, t, alphas[k], weights[k], 0});
      }
    }
  }
  // GradientSHAP noise per (example, sample), as Captum's NoiseTunnel draws it per input copy.
  std::map<std::pair<size_t, int64_t>, at::Tensor> noise;
  if (shap && req_.stdevs > 0) {
    for (size_t i = 0; i < ex_.size(); ++i)
      for (int64_t s = 0; s < req_.n_samples; ++s) {
        at::manual_seed(req_.seed * 1000003ULL + i * 131ULL + static_cast<uint64_t>(s));
        noise[{i, s}] = at::randn(X[i].sizes(), at::TensorOptions().dtype(X[i].scalar_type())).mul(req_.stdevs).to(dev_);
      }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const GradRow& a, const GradRow& b) { return a.t > b.t; });
  const double rows_per_step = static_cast<double>(shap ? req_.n_samples : static_cast<int64_t>(alphas.size()));
  ChunkPacer pacer(req_.internal_batch_size > 0, model_.config().num_layers);

  // Accumulated gradients per (example, step): [t, H].
  std::vector<std::vector<at::Tensor>> acc(ex_.size());
  for (size_t i = 0; i < ex_.size(); ++i) acc[i].resize(ex_[i].steps());
  const int64_t H = model_.config().hidden_size;
  const StepFunctionInfo& fn = step_fn(req_.attributed_fn);
  std::vector<at::Tensor> forced_contrast(ex_.size());  // contrast logits when contrast inputs are forced: [steps, V]
  if (fn.contrastive && req_.contrast_force_inputs) {
    c10::InferenceMode guard;
    for (size_t i = 0; i < ex_.size(); ++i)
      if (ex_[i].contrast_ids.defined()) forced_contrast[i] = contrast_step_logits(ex_[i]).clone();
  }

  size_t pos = 0;
  while (pos < rows.size()) {
    check_cancel();
    const int64_t L = rows[pos].t;
    size_t take = batch_size_at(rows, pos, deeplift ? 2 : 1, pacer);
    if (req_.per_step_schedule) {  // Inseq: one (example, step) per batch
      size_t same = 0;
      while (same < take && rows[pos + same].e == rows[pos].e && rows[pos + same].j == rows[pos].j) ++same;
      take = same;
    }
    const int64_t B = static_cast<int64_t>(take);
    c10::AutoGradMode grad_mode(true);
    at::Tensor point = at::zeros({B, L, H}, X[0].options());                   // [B, L, H]
    at::Tensor ids = at::zeros({B, L}, at::TensorOptions().dtype(at::kLong).device(dev_));  // [B, L] (layer methods)
    std::vector<int64_t> logit_pos(B), targets(B), contrast_targets(B, 0), srcs(B);
    std::vector<at::Tensor> contrast_rows;
    bool any_contrast = false;
    for (int64_t r = 0; r < B; ++r) {
      poll(r);
      const GradRow& row = rows[pos + r];
      const Example& e = ex_[row.e];
      srcs[r] = e.src;
      at::Tensor x = X[row.e].slice(0, 0, row.t);  // [t, H]
      if (shap && req_.stdevs > 0) x = x.add(noise[{row.e, row.sample}].slice(0, 0, row.t));
      at::Tensor p = path ? Bx[row.e].slice(0, 0, row.t).add(x.sub(Bx[row.e].slice(0, 0, row.t)).mul(row.alpha)) : x;
      point[r].slice(0, 0, row.t).copy_(p);
      if (layer >= 0) ids[r].slice(0, 0, row.t).copy_(e.ids.slice(0, 0, row.t));
      logit_pos[r] = row.t - 1;
      targets[r] = e.ids[row.t].item<int64_t>();
      if (e.contrast_ids.defined()) {
        any_contrast = true;
        contrast_targets[r] = e.contrast_targets[row.j].item<int64_t>();
        if (forced_contrast[row.e].defined()) contrast_rows.push_back(forced_contrast[row.e][row.j]);
      }
    }
    point.requires_grad_(true);
    // DeepLIFT runs each row next to its reference row: batch [inputs; references].
    at::Tensor input = point, batch_ids = ids;
    std::unique_ptr<models::DeepLiftScope> deeplift_scope;
    if (deeplift) {
      at::Tensor ref = at::zeros_like(point);
      at::Tensor ref_ids = at::zeros_like(ids);
      for (int64_t r = 0; r < B; ++r) {
        poll(r);
        const GradRow& row = rows[pos + r];
        ref[r].slice(0, 0, row.t).copy_(Bx[row.e].slice(0, 0, row.t));
        if (layer >= 0) ref_ids[r].slice(0, 0, row.t).copy_(ex_[row.e].base_ids.slice(0, 0, row.t));
      }
      input = at::cat({point, ref}, 0);
      batch_ids = at::cat({ids, ref_ids}, 0);
      const std::vector<int64_t> input_pos = logit_pos, input_srcs = srcs;
      logit_pos.insert(logit_pos.end(), input_pos.begin(), input_pos.end());
      srcs.insert(srcs.end(), input_srcs.begin(), input_srcs.end());
      deeplift_scope = std::make_unique<models::DeepLiftScope>(B);
    }
    models::ForwardRequest fr;
    fr.source_lengths = lengths(srcs);
    if (layer < 0) {
      fr.inputs_embeds = input;
    } else {
      fr.inputs_embeds = embed(batch_ids, fr.source_lengths);
      fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) { return l == layer ? input : h; };
    }
    at::Tensor logits;  // [B, V]
    if (req_.per_step_schedule) {  // LM head over every position, then pick the step's row (as Inseq)
      at::Tensor all = model_.forward(fr).logits;  // [B', L, V]
      const int64_t rows_in = all.size(0);
      logits = all.gather(1, long_tensor(logit_pos).view({rows_in, 1, 1}).expand({rows_in, 1, all.size(2)})).squeeze(1);
    } else {
      fr.logits_positions = long_tensor(logit_pos).unsqueeze(1);  // [B', 1]
      logits = model_.forward(fr).logits.squeeze(1);
    }
    logits = logits.slice(0, 0, B);  // DeepLIFT: the inputs' half; its gradient flows through the multipliers
    deeplift_scope.reset();
    at::Tensor ct = any_contrast ? long_tensor(contrast_targets) : at::Tensor();
    at::Tensor cl = contrast_rows.empty() ? at::Tensor() : at::stack(contrast_rows);
    at::Tensor f = attributed_values(logits, long_tensor(targets), cl, ct);  // [B]
    std::vector<double> w(B);
    for (int64_t r = 0; r < B; ++r) w[r] = rows[pos + r].weight;
    at::Tensor loss = f.mul(at::tensor(w, at::kDouble).to(dev_, f.scalar_type())).sum();
    at::Tensor grad = torch::autograd::grad({loss}, {point})[0].detach();  // [B, L, H], the model's dtype
    for (int64_t r = 0; r < B; ++r) {
      poll(r);
      const GradRow& row = rows[pos + r];
      at::Tensor g = grad[r].slice(0, 0, row.t).to(at::kFloat);  // [t, H]: accumulated in float32 for half models
      if (shap) {  // per-sample (input - baseline) factor: noise differs between samples
        at::Tensor x = X[row.e].slice(0, 0, row.t);
        if (req_.stdevs > 0) x = x.add(noise[{row.e, row.sample}].slice(0, 0, row.t));
        g = g.mul(x.sub(Bx[row.e].slice(0, 0, row.t)).to(at::kFloat));
      }
      at::Tensor& a = acc[row.e][row.j];
      a = a.defined() ? a.add(g) : g.clone();  // clone: no view into the batch's gradient buffer
    }
    pos += take;
    progress(share * static_cast<double>(B) / rows_per_step);
  }

  // Finish each method's formula and lay out [n, steps, H] with NaN outside the causal prefix.
  std::vector<at::Tensor> out(ex_.size());
  for (size_t i = 0; i < ex_.size(); ++i) {
    const Example& e = ex_[i];
    at::Tensor res = at::full({e.n, e.steps(), H}, kNaN, at::TensorOptions().dtype(at::kFloat));
    std::vector<double> sums(e.steps());
    for (int64_t j = 0; j < e.steps(); ++j) {
      const int64_t t = e.start + j;
      at::Tensor g = acc[i][j];                                  // [t, H] float32
      at::Tensor x = X[i].slice(0, 0, t).to(at::kFloat);         // [t, H]
      at::Tensor a;
      if (base == "saliency") a = g.abs();
      else if (base == "input_x_gradient" || base == "gradient_x_activation") a = req_.multiply_by_inputs ? g.mul(x) : g;
      else if (base == "integrated_gradients" || deeplift) a = req_.multiply_by_inputs ? g.mul(x.sub(Bx[i].slice(0, 0, t).to(at::kFloat))) : g;
      else a = g;  // gradient_shap: already multiplied per sample
      res.select(1, j).slice(0, 0, t).copy_(a.to(at::kCPU, at::kFloat));
      sums[j] = a.sum().item<double>();
    }
    out[i] = res;
    if (deltas && (base == "integrated_gradients" || deeplift)) {
      // Convergence delta: sum of attributions - (f(x) - f(baseline)), as Captum.
      c10::InferenceMode guard;
      auto f_at = [&](int64_t which) {  // 1 = input, 0 = baseline
        at::Tensor lg = layer < 0 ? step_logits(which ? e.ids : e.base_ids, e.positions, e.src)
                                  : step_logits(e.ids, e.positions, e.src, layer, which ? X[i] : Bx[i]);
        at::Tensor cl = forced_contrast[i].defined() ? forced_contrast[i] : at::Tensor();
        return attributed_values(lg, e.targets, cl, e.contrast_targets);
      };
      at::Tensor diff = f_at(1).sub(f_at(0)).to(at::kCPU, at::kDouble);
      at::Tensor d = at::tensor(sums, at::kDouble).sub(diff).to(at::kFloat);
      (*deltas)[i] = d;
    }
  }
  return out;
}

std::vector<at::Tensor> Engine::all_layers_gradient_x_activation() {
  const int64_t nL = model_.config().num_layers, H = model_.config().hidden_size;
  std::vector<GradRow> rows;
  for (size_t i = 0; i < ex_.size(); ++i)
    for (int64_t j = 0; j < ex_[i].steps(); ++j) rows.push_back({i, j, ex_[i].start + j, 1.0, 1.0, 0});
  std::stable_sort(rows.begin(), rows.end(), [](const GradRow& a, const GradRow& b) { return a.t > b.t; });
  ChunkPacer pacer(req_.internal_batch_size > 0, model_.config().num_layers);
  std::vector<at::Tensor> out(ex_.size());
  for (size_t i = 0; i < ex_.size(); ++i) {
    out[i] = at::full({ex_[i].n, ex_[i].steps(), nL, H}, kNaN, at::TensorOptions().dtype(at::kFloat));
  }
  size_t pos = 0;
  while (pos < rows.size()) {
    check_cancel();
    const int64_t L = rows[pos].t;
    const size_t take = batch_size_at(rows, pos, 2, pacer);  // activations of every layer are kept
    const int64_t B = static_cast<int64_t>(take);
    c10::AutoGradMode grad_mode(true);
    at::Tensor ids = at::zeros({B, L}, at::TensorOptions().dtype(at::kLong).device(dev_));  // [B, L]
    std::vector<int64_t> logit_pos(B), targets(B), contrast_targets(B, 0);
    bool any_contrast = false;
    for (int64_t r = 0; r < B; ++r) {
      poll(r);
      const GradRow& row = rows[pos + r];
      const Example& e = ex_[row.e];
      ids[r].slice(0, 0, row.t).copy_(e.ids.slice(0, 0, row.t));
      logit_pos[r] = row.t - 1;
      targets[r] = e.ids[row.t].item<int64_t>();
      if (e.contrast_ids.defined()) {
        any_contrast = true;
        contrast_targets[r] = e.contrast_targets[row.j].item<int64_t>();
      }
    }
    std::vector<at::Tensor> captured(nL);  // each [B, L, H], part of the graph
    at::Tensor embeds = model_.embed(ids).detach().requires_grad_(true);  // a leaf, so the graph is recorded
    models::ForwardRequest fr;
    fr.inputs_embeds = embeds;
    fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
      captured[l] = h;
      return h;
    };
    fr.logits_positions = long_tensor(logit_pos).unsqueeze(1);
    at::Tensor logits = model_.forward(fr).logits.squeeze(1);  // [B, V]
    at::Tensor f = attributed_values(logits, long_tensor(targets), at::Tensor(), any_contrast ? long_tensor(contrast_targets) : at::Tensor());
    auto grads = torch::autograd::grad({f.sum()}, captured);  // one backward for every layer
    for (int64_t r = 0; r < B; ++r) {
      poll(r);
      const GradRow& row = rows[pos + r];
      for (int64_t l = 0; l < nL; ++l) {
        at::Tensor a = grads[l][r].slice(0, 0, row.t).to(at::kFloat);  // [t, H]
        if (req_.multiply_by_inputs) a = a.mul(captured[l][r].slice(0, 0, row.t).detach().to(at::kFloat));
        out[row.e].select(1, row.j).select(1, l).slice(0, 0, row.t).copy_(a.to(at::kCPU, at::kFloat));
      }
    }
    pos += take;
    progress(static_cast<double>(B));
  }
  return out;
}

// ---- perturbation ---------------------------------------------------------------------------------

at::Tensor Engine::occlusion(Example& e) {
  if (!e.base_ids.defined()) throw Error(ErrorCode::kInvalidOption, "occlusion needs baselines");
  c10::InferenceMode guard;
  if (req_.per_step_schedule) return occlusion_per_step(e);
  const int64_t n = e.n, S = e.steps();
  at::Tensor x = embed(e.ids.unsqueeze(0), lengths(e.src, 1)).squeeze(0);        // [n, H]
  at::Tensor b = embed(e.base_ids.unsqueeze(0), lengths(e.src, 1)).squeeze(0);   // [n, H]
  // Tokens at positions >= end - 1 never precede an attributed target; tokens equal to their baseline
  // (kept EOS, a target that is not attributed) score exactly 0 and need no forward.
  std::vector<int64_t> occluded;
  {
    at::Tensor differs = e.ids.ne(e.base_ids).to(at::kCPU);
    for (int64_t p = 0; p < e.end - 1; ++p)
      if (differs[p].item<bool>()) occluded.push_back(p);
  }
  const int64_t n_occ = static_cast<int64_t>(occluded.size());
  auto f_of = [&](const at::Tensor& embeds) {  // [k, n, H] -> [k, S]
    models::ForwardRequest fr;
    fr.source_lengths = lengths(e.src, embeds.size(0));
    fr.inputs_embeds = embeds;
    fr.logits_positions = e.positions.unsqueeze(0).expand({embeds.size(0), S});
    at::Tensor logits = model_.forward(fr).logits;  // [k, S, V]
    const int64_t k = embeds.size(0);
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets.repeat({k}) : at::Tensor();
    return attributed_values(logits.reshape({k * S, -1}), e.targets.repeat({k}), at::Tensor(), ct).view({k, S});
  };
  at::Tensor fx = f_of(x.unsqueeze(0)).squeeze(0);  // [S]
  at::Tensor scores = at::zeros({e.end - 1, S}, fx.options());  // [occludable, S]
  ChunkPacer pacer(req_.internal_batch_size > 0, model_.config().num_layers);
  for (int64_t j0 = 0; j0 < n_occ;) {
    check_cancel();
    const int64_t k = std::min<int64_t>(n_occ - j0, pacer.rows(rows_per_batch(n) * 4, row_seconds(n, 1.0, S)));
    at::Tensor batch = x.unsqueeze(0).repeat({k, 1, 1});  // [k, n, H]
    for (int64_t r = 0; r < k; ++r) batch[r][occluded[j0 + r]].copy_(b[occluded[j0 + r]]);
    at::Tensor delta = fx.unsqueeze(0).sub(f_of(batch));  // [k, S]
    for (int64_t r = 0; r < k; ++r) scores[occluded[j0 + r]].copy_(delta[r]);
    j0 += k;
    progress(static_cast<double>(S) * static_cast<double>(k) / static_cast<double>(n_occ));
  }
  if (n_occ == 0) progress(static_cast<double>(S));
  at::Tensor res = at::full({n, S}, kNaN, at::TensorOptions().dtype(at::kFloat));
  at::Tensor abs_scores = scores.abs().to(at::kCPU, at::kFloat);
  for (int64_t j = 0; j < S; ++j) {
    const int64_t t = e.start + j;  // rows 0..t-1 precede target t
    res.select(1, j).slice(0, 0, t).copy_(abs_scores.select(1, j).slice(0, 0, t));
  }
  return res;
}

// Inseq's schedule: for each step, one forward per occluded prefix token, LM head over every position.
at::Tensor Engine::occlusion_per_step(Example& e) {
  const int64_t n = e.n, S = e.steps();
  at::Tensor x = embed(e.ids.unsqueeze(0), lengths(e.src, 1)).squeeze(0);       // [n, H]
  at::Tensor b = embed(e.base_ids.unsqueeze(0), lengths(e.src, 1)).squeeze(0);  // [n, H]
  at::Tensor res = at::full({n, S}, kNaN, at::TensorOptions().dtype(at::kFloat));
  for (int64_t j = 0; j < S; ++j) {
    check_cancel();
    const int64_t t = e.start + j;
    at::Tensor batch = x.slice(0, 0, t).unsqueeze(0).repeat({t + 1, 1, 1});  // [t+1, t, H]: row 0 unoccluded
    for (int64_t k = 0; k < t; ++k) batch[k + 1][k].copy_(b[k]);
    models::ForwardRequest fr;
    fr.source_lengths = lengths(e.src, t + 1);
    fr.inputs_embeds = batch;
    at::Tensor logits = model_.forward(fr).logits.select(1, t - 1);  // [t+1, V]
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets[j].repeat({t + 1}) : at::Tensor();
    at::Tensor f = attributed_values(logits, e.targets[j].repeat({t + 1}), at::Tensor(), ct);  // [t+1]
    res.select(1, j).slice(0, 0, t).copy_(f[0].sub(f.slice(0, 1)).abs().to(at::kCPU, at::kFloat));
    progress(1);
  }
  return res;
}

// LIME (Ribeiro et al. 2016) with masks in token space (Inseq masks embedding vectors with the token id, a bug).
at::Tensor Engine::lime(Example& e) {
  if (!e.base_ids.defined()) throw Error(ErrorCode::kInvalidOption, "lime needs baselines");
  c10::InferenceMode guard;
  const int64_t n = e.n, S = e.steps(), N = req_.n_samples;
  if (N < 2) throw Error(ErrorCode::kInvalidOption, "lime needs nSamples >= 2");
  // Seeded by the request seed and the example's tokens, so batched and single runs draw the same masks.
  const at::Tensor cpu_ids = e.ids.to(at::kCPU).contiguous();
  const int64_t* id_ptr = cpu_ids.data_ptr<int64_t>();
  uint64_t content = 1469598103934665603ULL;  // FNV-1a over the token ids
  for (int64_t k = 0; k < n; ++k) content = (content ^ static_cast<uint64_t>(id_ptr[k])) * 1099511628211ULL;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(req_.seed * 1000003ULL + content);
  // keep[s, j] = 1 keeps token j in sample s; position 0 (BOS) is always kept.
  at::Tensor keep = at::bernoulli(at::full({N, n}, 1.0 - req_.mask_prob, at::kFloat), gen);  // [N, n]
  if (e.src == 0) keep.select(1, 0).fill_(1);  // decoder-only: BOS is always kept
  at::Tensor ids = at::where(keep.to(dev_).to(at::kBool), e.ids.unsqueeze(0).expand({N, n}), e.base_ids.unsqueeze(0).expand({N, n}));
  at::Tensor fvals = at::empty({N, S}, at::kFloat);  // f_t of every sample
  ChunkPacer pacer(req_.internal_batch_size > 0, model_.config().num_layers);
  for (int64_t s0 = 0; s0 < N;) {
    check_cancel();
    const int64_t k = std::min<int64_t>(N - s0, pacer.rows(rows_per_batch(n) * 4, row_seconds(n, 1.0, S)));
    models::ForwardRequest fr;
    fr.source_lengths = lengths(e.src, k);
    fr.inputs_embeds = embed(ids.slice(0, s0, s0 + k), fr.source_lengths);
    fr.logits_positions = e.positions.unsqueeze(0).expand({k, S});
    at::Tensor logits = model_.forward(fr).logits.reshape({k * S, -1});  // [k*S, V]
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets.repeat({k}) : at::Tensor();
    fvals.slice(0, s0, s0 + k).copy_(attributed_values(logits, e.targets.repeat({k}), at::Tensor(), ct).view({k, S}).to(at::kCPU, at::kFloat));
    s0 += k;
    progress(static_cast<double>(S) * static_cast<double>(k) / static_cast<double>(N));
  }
  at::Tensor res = at::full({n, S}, kNaN, at::TensorOptions().dtype(at::kFloat));
  at::Tensor X = keep.to(at::kDouble);  // [N, n]
  for (int64_t j = 0; j < S; ++j) {
    const int64_t t = e.start + j;
    at::Tensor Xt = X.slice(1, 0, t);                              // [N, t] features: kept tokens before the target
    at::Tensor w = Xt.sum(1);                                      // similarity: number of unchanged tokens
    at::Tensor y = fvals.select(1, j).to(at::kDouble);             // [N]
    at::Tensor ws = w.div(w.sum());
    at::Tensor xc = Xt.sub(ws.matmul(Xt).unsqueeze(0));            // weighted centring (intercept)
    at::Tensor yc = y.sub(ws.dot(y));
    at::Tensor xtw = xc.t().mul(w.unsqueeze(0));                   // [t, N]
    at::Tensor A = xtw.matmul(xc).add(at::eye(t, at::kDouble));    // X'WX + alpha I (alpha = 1)
    at::Tensor coef = at::linalg_solve(A, xtw.matmul(yc));         // [t]
    res.select(1, j).slice(0, 0, t).copy_(coef.to(at::kFloat));
  }
  return res;
}

// ---- internals ------------------------------------------------------------------------------------

at::Tensor Engine::attention(Example& e, std::map<std::string, at::Tensor>& sequence_scores) {
  c10::InferenceMode guard;
  models::ForwardRequest fr;
  fr.source_lengths = lengths(e.src, 1);
  fr.inputs_embeds = embed(e.ids.unsqueeze(0), fr.source_lengths);
  fr.output_attentions = true;
  fr.logits_positions = e.positions.unsqueeze(0);
  auto out = model_.forward(fr);
  if (!out.encoder_attentions.empty()) {  // encoder self-attention as a sequence score: [src (key), src (query), layers, heads]
    std::vector<at::Tensor> layers;
    for (const auto& a : out.encoder_attentions) layers.push_back(a.squeeze(0));  // [h, q, k]
    sequence_scores["encoder_self_attentions"] = at::stack(layers).permute({3, 2, 0, 1}).to(at::kCPU, at::kFloat).contiguous();
  }
  // Only the query rows of the generated steps: [layers, heads, S, n]
  std::vector<at::Tensor> rows;
  for (const auto& a : out.attentions) rows.push_back(a.squeeze(0).index_select(1, e.positions));
  at::Tensor att = at::stack(rows).permute({3, 2, 0, 1}).to(at::kCPU, at::kFloat).contiguous();  // [n, S, L, Hd]
  const int64_t S = e.steps();
  for (int64_t j = 0; j < S; ++j) {
    const int64_t t = e.start + j;
    if (t < e.n) att.select(1, j).slice(0, t).fill_(kNaN);  // keys at or after the target are not causal
  }
  progress(static_cast<double>(S));
  return att;
}

// Value zeroing: one clean forward plus one forward per batch of zeroed tokens over the prefix ids[:end-1];
// column j reads the query row of step j (its target's predecessor).
at::Tensor Engine::value_zeroing(Example& e, std::map<std::string, at::Tensor>& sequence_scores) {
  ValueZeroingOptions o;
  o.similarity_metric = req_.similarity_metric;
  o.decoder_heads = req_.decoder_zeroed_heads;
  o.encoder_heads = req_.encoder_zeroed_heads;
  o.cross_heads = req_.cross_zeroed_heads;
  o.rows_per_batch = rows_per_batch(e.end - 1) * 4;
  o.check_cancel = [this] { check_cancel(); };
  const int64_t S = e.steps();
  // Zeroed tokens over every sweep: decoder-only n_in; encoder-decoders cross (src) + decoder self + encoder self (src).
  const int64_t sweep_rows = seq2seq_ ? 2 * e.src + (e.end - 1 - e.src) : e.end - 1;
  ChunkPacer pacer(req_.internal_batch_size > 0, model_.config().num_layers);
  double reported = 0;
  o.batch_rows = [&](int64_t by_memory) { return pacer.rows(by_memory, row_seconds(e.end - 1, 1.0, S)); };
  o.batch_done = [&](int64_t rows) {
    const double share = static_cast<double>(S) * static_cast<double>(rows) / static_cast<double>(std::max<int64_t>(sweep_rows, 1));
    reported += share;
    progress(share);
  };
  at::Tensor res;
  if (!seq2seq_) {
    at::Tensor z = value_zeroing_decoder_only(model_, e.ids.slice(0, 0, e.end - 1), o);  // [n_in, n_in, L]
    res = at::full({e.n, S, z.size(2)}, kNaN, at::kFloat);
    for (int64_t j = 0; j < S; ++j) {
      const int64_t q = e.start + j - 1;
      res.select(1, j).slice(0, 0, q + 1).copy_(z.select(1, q).slice(0, 0, q + 1));
    }
  } else {
    const int64_t src = e.src;
    Seq2SeqValueZeroing z = value_zeroing_seq2seq(seq2seq_->model(), e.ids.slice(0, 0, src), e.ids.slice(0, src, e.end - 1), o);
    const int64_t T_in = e.end - 1 - src;
    res = at::full({e.n, S, z.cross.size(2)}, kNaN, at::kFloat);
    for (int64_t j = 0; j < S; ++j) {
      const int64_t q = e.start + j - 1 - src;  // the decoder query of step j
      res.select(1, j).slice(0, 0, src).copy_(z.cross.select(1, q));
      res.select(1, j).slice(0, src, src + T_in).copy_(z.decoder_self.select(1, q));
    }
    sequence_scores["encoder_self_scores"] = z.encoder_self;
  }
  progress(std::max(0.0, static_cast<double>(S) - reported));  // what the batches did not cover
  return res;
}

AttributionResult Engine::run() {
  prepare();
  const MethodInfo& info = get_method(req_.method);
  for (const auto& [id, source] : req_.custom_step_functions) custom_.emplace(id, compile_step_function(id, source));
  step_fn(req_.attributed_fn);
  for (const auto& id : req_.step_scores) step_fn(id);
  if (model_.config().family == "torchscript" && (info.id == "deeplift" || info.id == "layer_deeplift")) {
    throw Error(ErrorCode::kUnsupportedModel, info.id + " applies its rules at the model's activations and softmax, which a TorchScript bundle does not expose");
  }
  if (seq2seq_ && info.family == "layer" && req_.layer != -1) {
    throw Error(ErrorCode::kUnsupportedModel, info.id + " on an encoder-decoder attributes the embedding layer only (layer -1); layer " +
                                                  std::to_string(req_.layer) + " is not available");
  }
  AttributionResult result;
  result.kind = info.kind;
  result.sequences.resize(ex_.size());
  std::map<size_t, at::Tensor> deltas;
  if (info.family == "layer" && req_.layer == kAllLayers) {
    // Every block's output: gradient x activation in one forward + backward; the path methods run each
    // layer's rows through the same batched schedule.
    result.extra_dims = {"layer", "hidden"};
    std::vector<at::Tensor> attrs;
    if (info.id == "layer_gradient_x_activation") {
      attrs = all_layers_gradient_x_activation();
    } else {
      std::vector<std::vector<at::Tensor>> per_layer;
      const double share = 1.0 / static_cast<double>(model_.config().num_layers);
      for (int64_t l = 0; l < model_.config().num_layers; ++l) per_layer.push_back(gradient_method(info.id, l, nullptr, share));
      for (size_t i = 0; i < ex_.size(); ++i) {
        std::vector<at::Tensor> ls;
        for (auto& pl : per_layer) ls.push_back(pl[i]);
        attrs.push_back(at::stack(ls, 2));  // [n, S, layers, H]
      }
    }
    for (size_t i = 0; i < ex_.size(); ++i) result.sequences[i].attributions = attrs[i];
  } else if (info.family == "gradient" || info.family == "layer") {
    result.extra_dims = {"hidden"};
    auto attrs = gradient_method(info.id, req_.layer, req_.return_convergence_delta ? &deltas : nullptr);
    for (size_t i = 0; i < ex_.size(); ++i) result.sequences[i].attributions = attrs[i];
  } else if (info.id == "occlusion") {
    for (size_t i = 0; i < ex_.size(); ++i) result.sequences[i].attributions = occlusion(ex_[i]);
  } else if (info.id == "lime") {
    for (size_t i = 0; i < ex_.size(); ++i) result.sequences[i].attributions = lime(ex_[i]);
  } else if (info.id == "attention") {
    result.extra_dims = {"layer", "head"};
    for (size_t i = 0; i < ex_.size(); ++i) result.sequences[i].attributions = attention(ex_[i], result.sequences[i].sequence_scores);
  }
  if (info.id == "value_zeroing") {
    result.extra_dims = {"layer"};
    for (size_t i = 0; i < ex_.size(); ++i) result.sequences[i].attributions = value_zeroing(ex_[i], result.sequences[i].sequence_scores);
  }
  for (size_t i = 0; i < ex_.size(); ++i) {
    check_cancel();
    result.sequences[i].step_scores = compute_step_scores(ex_[i]);
    if (deltas.count(i)) result.sequences[i].step_scores["deltas"] = deltas[i];
  }
  progress(steps_total_);  // every step done (methods without chunks report here only)
  // As Inseq: rows are the target positions before attr_end (later tokens never precede an attributed step).
  for (size_t i = 0; i < ex_.size(); ++i) {
    at::Tensor& a = result.sequences[i].attributions;
    if (a.defined()) a = a.slice(0, 0, ex_[i].end).contiguous();
  }
  if (!req_.granular && !result.extra_dims.empty() && result.extra_dims.back() == "hidden") {
    for (auto& s : result.sequences) s.attributions = s.attributions.norm(2, {-1});  // NaN rows stay NaN
    result.extra_dims.pop_back();
    result.kind = "granular_reduced";
  }
  return result;
}

}  // namespace

AttributionResult attribute(models::CausalLM& model, const AttributionRequest& request) {
  const AttributionRequest resolved = with_method_defaults(request);
  Engine engine(model, resolved);
  // The cancellation flag is checked at every block of the forward and backward passes; the same points send
  // progress heartbeats (inside a long batch the current count is repeated at least every 100 ms; time decides
  // only when a report is sent, never how rows are grouped).
  const std::function<void()> on_block = [&engine] { engine.heartbeat(); };
  models::CancelScope cancel_scope(request.cancel, &on_block);
  return engine.run();
}

}  // namespace inseq::attribution
