// The scheduler of one attribution call: resolves the method's defaults, checks what the method needs
// against the model's capabilities, dispatches on the method's family, paces rows under the memory budget,
// carries cancellation and progress, and finishes the result (rows up to attr_end, the hidden dimension
// reduced when not granular, L1 normalisation, step scores and step logits).
#include "attribution/engine.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "attribution/engine_context.h"
#include "attribution/reduction.h"
#include "attribution/torchscript_step.h"
#include "core/cuda_runtime.h"
#include "core/device.h"
#include "core/error.h"
#include "models/encoder_decoder.h"
#include "models/layers.h"

namespace inseq::attribution {

using core::Error;
using core::ErrorCode;

namespace detail {

namespace {
constexpr double kMiB = 1024.0 * 1024.0;

// memoryBudget "auto": half the free memory of the CUDA device, else half the available RAM (MemAvailable).
double auto_budget_bytes(c10::Device dev) {
  if (dev.is_cuda()) {
    const uint64_t free_b = core::cuda_free_bytes(dev.index() < 0 ? 0 : dev.index());
    if (free_b > 0) return static_cast<double>(free_b) / 2.0;
  }
  const uint64_t avail = core::host_available_bytes();
  return avail > 0 ? static_cast<double>(avail) / 2.0 : 1024.0 * kMiB;
}

// The budget of a request in bytes: memoryBudget (bytes or "auto"), else memoryBudgetMb, else the device default.
double budget_bytes_of(const AttributionRequest& r, c10::Device dev) {
  if (r.memory_budget_bytes > 0) return static_cast<double>(r.memory_budget_bytes);
  if (r.memory_budget_bytes == AttributionRequest::kBudgetAuto) return auto_budget_bytes(dev);
  if (r.memory_budget_bytes != 0) {
    throw Error(ErrorCode::kInvalidOption, "Expected a positive number of bytes or \"auto\" for memoryBudget but received " +
                                               std::to_string(r.memory_budget_bytes));
  }
  return static_cast<double>(r.memory_budget_mb > 0 ? r.memory_budget_mb : core::default_memory_budget_mb(dev)) * kMiB;
}

std::string size_text(double bytes) {
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.1f", bytes / kMiB);
  return std::to_string(static_cast<int64_t>(std::ceil(bytes))) + " bytes (" + mib + " MiB)";
}
}  // namespace

EngineContext::EngineContext(models::CausalLM& m, const AttributionRequest& r)
    : model(m),
      req(r),
      dev(m.device()),
      caps(m.capabilities()),
      seq2seq(m.encoder_decoder()),
      budget_bytes(budget_bytes_of(r, dev)),
      strict_budget(r.memory_budget_bytes != 0) {}

void EngineContext::check_cancel() const {
  if (req.cancel && req.cancel->load()) throw Error(ErrorCode::kAborted, "Attribution was aborted");
}

void EngineContext::heartbeat() {
  if (req.on_progress && std::chrono::steady_clock::now() - last_report_ >= kHeartbeat) report();
}

void EngineContext::progress(double steps) {
  steps_done_ = std::min(steps_done_ + steps, steps_total_);
  report();
}

void EngineContext::report() {
  last_report_ = std::chrono::steady_clock::now();
  if (req.on_progress) req.on_progress(static_cast<int64_t>(std::floor(steps_done_ + 1e-9)), static_cast<int64_t>(steps_total_));
}

at::Tensor EngineContext::host_result(at::IntArrayRef sizes, float value) {
  at::Tensor t = at::full(sizes, value, at::TensorOptions().dtype(at::kFloat));
  host_bytes_ += static_cast<int64_t>(t.nbytes());
  host_peak_bytes_ = std::max(host_peak_bytes_, host_bytes_);
  return t;
}

void EngineContext::release_host(const at::Tensor& t) { host_bytes_ -= static_cast<int64_t>(t.nbytes()); }

ChunkPacer EngineContext::pacer() const { return ChunkPacer(req.internal_batch_size > 0, model.config().num_layers); }

bool EngineContext::hooks_layer(int64_t layer, int64_t hook_index) const {
  if (layer < 0) return false;
  if (!seq2seq) return hook_index == layer;
  return hook_index == layer || (req.attribute_target && hook_index == seq2seq->info().encoder_layers + layer);
}

int64_t EngineContext::attributable_layers() const {
  if (!seq2seq) return model.config().num_layers;
  const auto& i = seq2seq->info();
  if (req.attribute_target && req.layer == kAllLayers && i.encoder_layers != i.decoder_layers) {
    throw Error(ErrorCode::kInvalidOption, "layer \"all\" with attributeTarget pairs encoder block N with decoder block N, but this model has " +
                                               std::to_string(i.encoder_layers) + " encoder and " + std::to_string(i.decoder_layers) +
                                               " decoder blocks; name one encoder block or attribute the source only");
  }
  return i.encoder_layers;
}

void EngineContext::check_layer(int64_t layer) const {
  if (layer < 0) return;
  if (layer >= attributable_layers()) {
    throw Error(ErrorCode::kInvalidOption, "layer " + std::to_string(layer) + " is out of range (" + std::to_string(attributable_layers()) +
                                               (seq2seq ? " encoder" : "") + " blocks)");
  }
  if (seq2seq && req.attribute_target && layer >= seq2seq->info().decoder_layers) {
    throw Error(ErrorCode::kInvalidOption, "layer " + std::to_string(layer) + " with attributeTarget also names decoder block " + std::to_string(layer) +
                                               ", but the decoder has " + std::to_string(seq2seq->info().decoder_layers) + " blocks");
  }
}

namespace {
// Activation bytes kept for backward by one row of `length` tokens: about 20 hidden-sized vectors plus one
// attention row per head, per token and layer, and the logits of a few positions.
double row_bytes(const models::ModelConfig& c, int64_t length) {
  const double per_token = 4.0 * static_cast<double>(c.num_layers) * (20.0 * c.hidden_size + 2.0 * c.num_heads * length);
  return per_token * static_cast<double>(length) + 4.0 * 3.0 * static_cast<double>(c.vocab_size);
}

// The same row with gradient checkpointing: every block's input (one hidden vector per token and layer), plus
// the activations of the one block being recomputed, and the logits.
double checkpointed_row_bytes(const models::ModelConfig& c, int64_t length) {
  const double inputs = 4.0 * static_cast<double>(c.num_layers) * static_cast<double>(c.hidden_size);
  const double one_block = 4.0 * (20.0 * c.hidden_size + 2.0 * c.num_heads * length);
  return (inputs + one_block) * static_cast<double>(length) + 4.0 * 3.0 * static_cast<double>(c.vocab_size);
}

// One gradient row's activation bytes, whole or checkpointed.
double gradient_row_bytes(const models::ModelConfig& c, int64_t length, bool checkpointed) {
  return checkpointed ? checkpointed_row_bytes(c, length) : row_bytes(c, length);
}

[[noreturn]] void out_of_memory(double needed, double budget, int64_t length, const std::string& what) {
  throw Error(ErrorCode::kOutOfMemory, "One row of " + std::to_string(length) + " tokens needs " + size_text(needed) + " of activation memory (" +
                                           what + "), more than the memoryBudget of " + size_text(budget));
}
}  // namespace

int64_t EngineContext::rows_per_batch(int64_t length, bool checkpointed, double extra_bytes) const {
  const double one = gradient_row_bytes(model.config(), length, checkpointed) + extra_bytes;
  if (strict_budget && one / 4.0 > budget_bytes) out_of_memory(one / 4.0, budget_bytes, length, req.method + ", forward only");
  int64_t rows = static_cast<int64_t>(budget_bytes / one);
  rows = std::max<int64_t>(rows, 1);
  if (req.internal_batch_size > 0) rows = std::min(rows, req.internal_batch_size);
  return rows;
}

bool EngineContext::checkpoint_rows(int64_t length, int64_t memory_factor, bool allowed) const {
  if (!allowed || req.checkpointing == "off") return false;
  if (req.checkpointing == "on") return true;
  return row_bytes(model.config(), length) * static_cast<double>(memory_factor) > budget_bytes;
}

double EngineContext::row_seconds(int64_t length, double passes, int64_t head_positions) const {
  const auto& c = model.config();
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
  if (dev.is_cuda()) {
    flops_per_s = 1.0e13;
    bytes_per_s = 2.0e11;
  } else {
    const double threads = static_cast<double>(std::max(1, at::get_num_threads()));
    flops_per_s *= threads;
    bytes_per_s *= threads;
  }
  return flops / flops_per_s + bytes / bytes_per_s;
}

size_t EngineContext::batch_size_at(const std::vector<GradRow>& rows, size_t pos, int64_t memory_factor, const ChunkPacer& pacer,
                                    bool checkpointed) const {
  const int64_t L = rows[pos].t;
  if (strict_budget) {
    const double one = gradient_row_bytes(model.config(), L, checkpointed) * static_cast<double>(memory_factor);
    if (one > budget_bytes) out_of_memory(one, budget_bytes, L, req.method + (checkpointed ? ", with gradient checkpointing" : ", forward + backward"));
  }
  // Forward + backward (x2 for DeepLIFT's baseline pass, or every layer's activations kept), logits at one
  // position; checkpointed rows run each block's forward twice.
  const double passes = (checkpointed ? 4.0 : 3.0) * static_cast<double>(memory_factor);
  const int64_t by_memory = pacer.rows(std::max<int64_t>(1, rows_per_batch(L, checkpointed) / memory_factor), row_seconds(L, passes, 1));
  size_t take = std::min<size_t>(rows.size() - pos, static_cast<size_t>(by_memory));
  // Keep padding low: rows are sorted by length, so stop at rows much shorter than the first.
  size_t same = 1;
  while (same < take && rows[pos + same].t * 5 >= L * 4) ++same;
  return same;
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
  if (r.keep_top_n < 0) r.keep_top_n = static_cast<int64_t>(method_default(m, "keepTopN", 5));
  if (r.stopping_top_k <= 0) r.stopping_top_k = static_cast<int64_t>(method_default(m, "stoppingConditionTopK", 3));
  if (r.replacing_ratio < 0) r.replacing_ratio = method_default(m, "replacingRatio", 0.3);
  if (r.max_probe_steps <= 0) r.max_probe_steps = static_cast<int64_t>(method_default(m, "maxProbeSteps", 3000));
  if (r.num_probes <= 0) r.num_probes = static_cast<int64_t>(method_default(m, "numProbes", 16));
  return r;
}

// What the method needs of the model, against what the model can do.
void check_capabilities(const EngineContext& ctx, const MethodInfo& info) {
  if (!ctx.caps.lrp_rules && models::lrp_rule_for(info.id).active()) {
    throw Error(ErrorCode::kUnsupportedModel, info.id + " applies its rules inside every block, which only the native model families "
                                              "do (a TorchScript bundle does not expose its blocks)");
  }
  if (!ctx.caps.deeplift_rule && (info.id == "deeplift" || info.id == "layer_deeplift")) {
    throw Error(ErrorCode::kUnsupportedModel, info.id + " applies its rules at the model's activations and softmax, which a TorchScript bundle does not expose");
  }
  if (!ctx.caps.attention_weights && (info.id == "attention_rollout" || info.id == "attention_flow")) {
    throw Error(ErrorCode::kUnsupportedModel, info.id + " needs every layer's attention weights, which this model does not return");
  }
  if (info.id == "alti_logit" && (ctx.seq2seq ? !ctx.seq2seq->info().has_attention_parts : !ctx.caps.attention_parts)) {
    throw Error(ErrorCode::kUnsupportedModel, "alti_logit decomposes each attention block inside the model's own code: native decoder-only "
                                              "models (gpt2, gpt_neox, the llama family, gemma) and native encoder-decoders (bart, marian, mbart, "
                                              "m2m_100, t5) only; TorchScript bundles are refused");
  }
  // Encoder-decoders without block hooks (TorchScript bundles) attribute the embedding layer only; decoder-only
  // models without them refuse the per-block request in their forward, naming what they expose.
  if (ctx.seq2seq && !ctx.caps.block_hooks && info.family == MethodFamily::kLayer && ctx.req.layer != -1) {
    throw Error(ErrorCode::kUnsupportedModel, info.id + " on an encoder-decoder attributes the embedding layer only (layer -1); layer " +
                                                  std::to_string(ctx.req.layer) + " is not available");
  }
}

// gradientCheckpointing: "auto" | "on" | "off"; "on" only where blocks can be recomputed (gradient_methods.cc).
void check_checkpointing(const EngineContext& ctx, const MethodInfo& info) {
  const std::string& mode = ctx.req.checkpointing;
  if (mode != "auto" && mode != "on" && mode != "off") {
    throw Error(ErrorCode::kInvalidOption, "Expected \"auto\", \"on\" or \"off\" for gradientCheckpointing but received " + mode);
  }
  if (mode != "on") return;
  if (info.family != MethodFamily::kGradient || info.id == "deeplift") {
    throw Error(ErrorCode::kInvalidOption, "gradientCheckpointing \"on\" applies to saliency, input_x_gradient, integrated_gradients, "
                                           "sequential_integrated_gradients and gradient_shap; " + info.id + " does not recompute blocks");
  }
  if (!ctx.caps.block_recompute) {
    throw Error(ErrorCode::kUnsupportedModel, "gradientCheckpointing \"on\" needs native GPT-2, GPT-NeoX or Llama-family blocks; this model cannot recompute its blocks");
  }
}

AttributionResult run(EngineContext& ctx) {
  ctx.prepare();
  const AttributionRequest& req = ctx.req;
  const MethodInfo& info = get_method(req.method);
  for (const auto& [id, source] : req.custom_step_functions) ctx.custom.emplace(id, compile_step_function(id, source));
  ctx.step_fn(req.attributed_fn);
  for (const auto& id : req.step_scores) ctx.step_fn(id);
  check_capabilities(ctx, info);
  check_checkpointing(ctx, info);
  auto& ex = ctx.ex;
  AttributionResult result;
  result.kind = info.kind;
  result.sequences.resize(ex.size());
  std::vector<at::Tensor> attrs(ex.size());
  std::map<size_t, at::Tensor> deltas;
  std::map<size_t, std::map<std::string, at::Tensor>> lrp_scores;  // attn_lrp / cp_lrp: conservation (gradient_methods.cc)
  switch (info.family) {
    case MethodFamily::kNone: break;
    case MethodFamily::kGradient:
    case MethodFamily::kLayer:
      if (info.family == MethodFamily::kLayer && req.layer == kAllLayers) {
        // Every block's output: gradient x activation in one forward + backward; the path methods run each
        // layer's rows through the same batched schedule.
        // Encoder-decoders attributing the target too cut the graph at encoder and decoder block N together, which
        // one forward capturing every block cannot do: gradient x activation then runs layer by layer as well.
        result.extra_dims = {"layer", "hidden"};
        if (info.id == "layer_gradient_x_activation" && !(ctx.seq2seq && req.attribute_target)) {
          attrs = all_layers_gradient_x_activation(ctx);
        } else {
          const int64_t layers = ctx.attributable_layers();
          std::vector<std::vector<at::Tensor>> per_layer;
          for (int64_t l = 0; l < layers; ++l) per_layer.push_back(gradient_attributions(ctx, info, l, nullptr, 1.0 / static_cast<double>(layers)));
          for (size_t i = 0; i < ex.size(); ++i) {
            std::vector<at::Tensor> ls;
            for (auto& pl : per_layer) ls.push_back(pl[i]);
            attrs[i] = at::stack(ls, 2);  // [n, S, layers(, H)]
            for (auto& l : ls) ctx.release_host(l);
          }
        }
      } else if (models::lrp_rule_for(info.id).active()) {
        attrs = gradient_attributions(ctx, info, -1, nullptr, 1.0, &lrp_scores);  // [n, steps]: summed over hidden
      } else {
        result.extra_dims = {"hidden"};
        attrs = gradient_attributions(ctx, info, req.layer, req.return_convergence_delta ? &deltas : nullptr);
      }
      break;
    case MethodFamily::kPerturbation:
      if (info.id == "reagent") {
        std::vector<at::Tensor> converged;
        attrs = reagent(ctx, converged);
        for (size_t i = 0; i < ex.size(); ++i) result.sequences[i].sequence_scores["reagent_converged_probes"] = converged[i];
        break;
      }
      for (size_t i = 0; i < ex.size(); ++i) attrs[i] = info.id == "lime" ? lime(ctx, ex[i]) : occlusion(ctx, ex[i]);
      break;
    case MethodFamily::kInternals:
      // One forward of each example (a forward-only row) must fit a strict budget; value zeroing also packs
      // its zeroed tokens under it (rows_per_batch).
      if (ctx.strict_budget) for (const Example& e : ex) ctx.rows_per_batch(e.n);
      if (info.id == "attention") result.extra_dims = {"layer", "head"};
      if (info.id == "value_zeroing") result.extra_dims = {"layer"};
      for (size_t i = 0; i < ex.size(); ++i) {
        auto& scores = result.sequences[i].sequence_scores;
        if (info.id == "attention") attrs[i] = attention(ctx, ex[i], scores);
        else if (info.id == "value_zeroing") attrs[i] = value_zeroing(ctx, ex[i], scores);
        else if (info.id == "alti_logit") attrs[i] = alti_logit(ctx, ex[i]);
        else attrs[i] = attention_graph(ctx, ex[i], info.id == "attention_flow");
      }
      break;
  }
  for (size_t i = 0; i < ex.size(); ++i) {
    ctx.check_cancel();
    auto& seq = result.sequences[i];
    seq.attributions = attrs[i];
    seq.step_scores = ctx.compute_step_scores(ex[i], req.return_step_logits ? &seq.step_logits : nullptr);
    for (auto& [name, t] : lrp_scores[i]) {  // [steps] step scores; latent relevance [n, steps, layers]
      (name == "lrp_latent_relevance" ? seq.sequence_scores : seq.step_scores)[name] = t.contiguous();
    }
    if (deltas.count(i)) {
      seq.step_scores["deltas"] = deltas[i][0].contiguous();  // [steps]
      seq.delta_scales = deltas[i][1].contiguous();          // [steps]
    }
  }
  ctx.progress(ctx.steps_total());  // every step done (methods without chunks report here only)
  // As Inseq: rows are the target positions before attr_end (later tokens never precede an attributed step).
  for (size_t i = 0; i < ex.size(); ++i) {
    at::Tensor& a = result.sequences[i].attributions;
    if (a.defined()) a = a.slice(0, 0, ex[i].end).contiguous();
  }
  // The gradient families reduced the hidden dimension on the device already (L2 norm, NaN rows stay NaN).
  if (!req.granular && !result.extra_dims.empty() && result.extra_dims.back() == "hidden") {
    result.extra_dims.pop_back();
    result.kind = "granular_reduced";
  }
  // Inseq's default aggregation ends with an L1 normalisation per generated step (over source + target rows);
  // done here, the result is final: "coarse", which no one aggregates by default again.
  if (req.normalize && result.kind == "granular_reduced" && result.extra_dims.empty()) {
    for (size_t i = 0; i < ex.size(); ++i) {
      at::Tensor& a = result.sequences[i].attributions;
      normalize_l1(a, 0, req.normalize_target || ex[i].src == 0 ? a.size(0) : ex[i].src);
    }
    result.kind = "coarse";
  }
  int64_t bytes = ctx.host_peak_bytes();
  for (const auto& s : result.sequences) {
    for (const auto& [name, t] : s.step_scores) bytes += static_cast<int64_t>(t.nbytes());
    for (const auto& [name, t] : s.sequence_scores) bytes += static_cast<int64_t>(t.nbytes());
    if (s.step_logits.defined()) bytes += static_cast<int64_t>(s.step_logits.nbytes());
  }
  result.host_peak_bytes = bytes;
  result.tokens_forwarded = ctx.tokens_forwarded;
  return result;
}

}  // namespace
}  // namespace detail

AttributionResult attribute(models::CausalLM& model, const AttributionRequest& request) {
  const AttributionRequest resolved = detail::with_method_defaults(request);
  detail::EngineContext ctx(model, resolved);
  // The cancellation flag is checked at every block of the forward and backward passes; the same points send
  // progress heartbeats (inside a long batch the current count is repeated at least every 100 ms; time decides
  // only when a report is sent, never how rows are grouped).
  const std::function<void()> on_block = [&ctx] { ctx.heartbeat(); };
  models::CancelScope cancel_scope(request.cancel, &on_block);
  return detail::run(ctx);
}

}  // namespace inseq::attribution
