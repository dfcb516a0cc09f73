// The gradient family: saliency, input x gradient, integrated gradients, sequential integrated gradients,
// GradientSHAP, DeepLIFT, AttnLRP / CP-LRP (their rules live in the model's blocks) and the layer_* variants. Each
// (example, generated step, integration point) is one row truncated to the step's prefix (sequential integrated
// gradients: each (example, step, attributed position, integration point)); rows are packed into batches under the
// memory budget and run as one forward + one backward per batch. A step's attribution is finished (and, unless
// granular, reduced over the hidden dimension) on the device as soon as its last row is done, and reaches the host
// with the rest of its batch in one copy.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <random>

#include "attribution/engine_context.h"
#include "attribution/integration.h"
#include "attribution/reduction.h"
#include "core/error.h"
#include "models/lrp_rules.h"

namespace inseq::attribution::detail {

using core::Error;
using core::ErrorCode;

namespace {

// Prompts from this length on share one forward between the steps of saliency / input x gradient (share_forward
// in gradient_attributions): below it, batches of short rows are faster than one row's k sequential backwards.
constexpr int64_t kSharedForwardMinTokens = 256;

enum class Rule { kSaliency, kInputXGradient, kIntegratedGradients, kSequentialIntegratedGradients, kGradientShap, kDeepLift, kDiscretized, kLrp };

// The rule of a gradient-family method; layer_* methods apply their base rule to a layer's activations
// (gradient_x_activation is input x gradient there).
Rule rule_of(const MethodInfo& method) {
  const std::string base = method.family == MethodFamily::kLayer ? method.id.substr(6) : method.id;
  if (base == "saliency") return Rule::kSaliency;
  if (base == "input_x_gradient" || base == "gradient_x_activation") return Rule::kInputXGradient;
  if (base == "integrated_gradients") return Rule::kIntegratedGradients;
  if (base == "sequential_integrated_gradients") return Rule::kSequentialIntegratedGradients;
  if (base == "gradient_shap") return Rule::kGradientShap;
  if (base == "deeplift") return Rule::kDeepLift;
  if (base == "discretized_integrated_gradients") return Rule::kDiscretized;
  if (base == "attn_lrp" || base == "cp_lrp") return Rule::kLrp;
  throw Error(ErrorCode::kInternal, "No gradient rule for " + method.id);
}

}  // namespace

std::vector<at::Tensor> gradient_attributions(EngineContext& ctx, const MethodInfo& method, int64_t layer_arg,
                                              std::map<size_t, at::Tensor>* deltas, double share,
                                              std::map<size_t, std::map<std::string, at::Tensor>>* lrp_scores) {
  const AttributionRequest& req = ctx.req;
  auto& ex = ctx.ex;
  const bool is_layer = method.family == MethodFamily::kLayer;
  const int64_t layer = is_layer ? layer_arg : -1;
  ctx.check_layer(layer);
  const Rule rule = rule_of(method);
  const bool deeplift = rule == Rule::kDeepLift;
  const bool shap = rule == Rule::kGradientShap;
  const bool dig = rule == Rule::kDiscretized;
  const bool sequential = rule == Rule::kSequentialIntegratedGradients;
  const bool integrated = rule == Rule::kIntegratedGradients || sequential;
  const bool path = integrated || shap || deeplift || dig;
  // LRP: the blocks apply the method's rules (models/lrp_rules.h); relevance = gradient x input, summed over hidden.
  const models::LrpRule lrp = models::lrp_rule_for(method.id);
  if (lrp.active() && layer >= 0) throw Error(ErrorCode::kInternal, method.id + " attributes the embeddings only");
  // Latent relevance: every block's output captured in the forward, its gradient x output from the same backward.
  const bool latent = lrp.active() && req.latent_relevance;
  if (latent && ctx.seq2seq) throw Error(ErrorCode::kInvalidOption, "latentRelevance is available for decoder-only models only");
  const int64_t latent_layers = latent ? ctx.model.config().num_layers : 0;

  // Inputs and baselines in the attributed space: embeddings, or the chosen layer's activations.
  std::vector<at::Tensor> X(ex.size()), Bx(ex.size());  // [n, H]
  {
    c10::InferenceMode guard;
    for (size_t i = 0; i < ex.size(); ++i) {
      auto space = [&](const at::Tensor& ids) -> at::Tensor {
        at::Tensor lens = ctx.lengths(ex[i].src, 1);
        if (layer < 0) return ctx.embed(ids.unsqueeze(0), lens).squeeze(0);
        at::Tensor captured;
        models::ForwardRequest fr;
        fr.source_lengths = lens;
        fr.inputs_embeds = ctx.embed(ids.unsqueeze(0), lens);
        fr.logits_positions = at::zeros({1, 1}, at::TensorOptions().dtype(at::kLong).device(ctx.dev));
        fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
          // encoder-decoders: encoder and decoder block each fill their own segment (the other one is zero)
          if (ctx.hooks_layer(layer, l)) captured = captured.defined() ? captured.add(h) : h;
          return h;
        };
        ctx.model.forward(fr);
        return captured.squeeze(0);
      };
      X[i] = space(ex[i].ids).clone();
      if (path) {
        if (!ex[i].base_ids.defined()) throw Error(ErrorCode::kInvalidOption, method.id + " needs baselines");
        Bx[i] = space(ex[i].base_ids).clone();
      }
    }
  }

  // Rows: (example, step, integration point); sequential integrated gradients: (example, step, position, point).
  std::vector<double> alphas = {1.0}, weights = {1.0};
  if (integrated) std::tie(alphas, weights) = integration_grid(req.integration, req.n_steps);
  // DIG: row k is path point k (k = 0 .. n_steps - 2; alpha holds k), weight 1 (dig_schedule.cc).
  std::vector<at::Tensor> dig_points;  // per example [n_steps, n, H] float32
  if (dig) {
    dig_points = dig_paths(ctx);
    alphas.clear();
    weights.clear();
    for (int64_t k = 0; k + 1 < req.n_steps; ++k) {
      alphas.push_back(static_cast<double>(k));
      weights.push_back(1.0);
    }
  }
  double weight_sum = 0;
  for (double w : weights) weight_sum += w;
  std::mt19937_64 rng(req.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  // Saliency and input x gradient on a long prompt share one forward per example (see share_forward below).
  auto shares_forward = [&](const Example& e) {
    return req.prefix_cache && ctx.caps.prefix_cache && !path && layer < 0 && !ctx.seq2seq && !req.per_step_schedule && !ctx.model.training() &&
           e.steps() >= 2 && e.start >= kSharedForwardMinTokens;
  };
  // Gradient checkpointing (recompute blocks in the backward) is possible at the embeddings, without DeepLIFT's
  // paired rows, on models whose blocks can run again (native GPT-2 / GPT-NeoX / Llama) in eval mode.
  const bool can_checkpoint = layer < 0 && !deeplift && ctx.caps.block_recompute && !ctx.model.training();
  // Sequential integrated gradients on a decoder-only model with a KV cache: an example's moving-position rows
  // run from their position over the clean prefix, one forward for all steps (sequential_prefix_rows); the rest
  // (encoder-decoders, layer inputs, rows that need checkpointing, Inseq's schedule) as rows of the schedule below.
  auto over_prefix = [&](const Example& e) {
    return sequential && req.prefix_cache && ctx.caps.prefix_cache && !ctx.seq2seq && layer < 0 && !req.per_step_schedule &&
           !ctx.model.training() && !ctx.checkpoint_rows(e.start + e.steps() - 1, 1, can_checkpoint);
  };
  std::vector<GradRow> rows;
  // Sequential integrated gradients: position p of step t's prefix runs its own path, p alone moving from its
  // baseline; a position equal to its baseline (kept EOS, a target prefix that is not attributed) has a constant
  // path: its attribution is 0 x its integrated gradient, and without multiplyByInputs sum(w) x grad f(x), from
  // one row at the input shared by all such positions of the step.
  std::vector<std::vector<int64_t>> step_rows(ex.size());  // rows per (example, step)
  for (size_t i = 0; i < ex.size(); ++i) {
    step_rows[i].assign(ex[i].steps(), 0);
    if (shares_forward(ex[i])) continue;
    const bool prefix_rows = over_prefix(ex[i]);
    for (int64_t j = 0; j < ex[i].steps(); ++j) {
      const int64_t t = ex[i].start + j;
      const size_t before = rows.size();
      if (shap) {
        for (int64_t s = 0; s < req.n_samples; ++s) rows.push_back({i, j, t, uniform(rng), 1.0 / static_cast<double>(req.n_samples), s});
      } else if (sequential) {
        bool unchanged = false;
        for (int64_t p = 0; p < t; ++p) {
          if (ex[i].host_ids[static_cast<size_t>(p)] == ex[i].host_base_ids[static_cast<size_t>(p)]) {
            unchanged = true;
            continue;
          }
          if (prefix_rows) {
            step_rows[i][j] += static_cast<int64_t>(alphas.size());  // counted here, run by sequential_prefix_rows
            continue;
          }
          for (size_t k = 0; k < alphas.size(); ++k) rows.push_back({i, j, t, alphas[k], weights[k], 0, p});
        }
        if (unchanged && !req.multiply_by_inputs) rows.push_back({i, j, t, 1.0, weight_sum, 0, kUnchangedPositions});
      } else {
        for (size_t k = 0; k < alphas.size(); ++k) rows.push_back({i, j, t, alphas[k], weights[k], 0});
      }
      step_rows[i][j] += static_cast<int64_t>(rows.size() - before);
    }
  }
  // GradientSHAP noise per (example, sample), as Captum's NoiseTunnel draws it per input copy.
  std::map<std::pair<size_t, int64_t>, at::Tensor> noise;
  if (shap && req.stdevs > 0) {
    for (size_t i = 0; i < ex.size(); ++i)
      for (int64_t s = 0; s < req.n_samples; ++s) {
        at::manual_seed(req.seed * 1000003ULL + i * 131ULL + static_cast<uint64_t>(s));
        noise[{i, s}] = at::randn(X[i].sizes(), at::TensorOptions().dtype(X[i].scalar_type())).mul(req.stdevs).to(ctx.dev);
      }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const GradRow& a, const GradRow& b) { return a.t > b.t; });
  const ChunkPacer pacer = ctx.pacer();

  // Accumulated gradients per (example, step) while the step has rows left: [t, H] float32 on the device.
  std::vector<std::vector<at::Tensor>> acc(ex.size());
  std::vector<std::vector<int64_t>> rows_left(ex.size());
  std::vector<std::vector<at::Tensor>> sums(ex.size());  // convergence deltas: sum of each step's attributions (device scalars)
  for (size_t i = 0; i < ex.size(); ++i) {
    acc[i].resize(ex[i].steps());
    rows_left[i] = step_rows[i];
    sums[i].resize(ex[i].steps());
  }
  const int64_t H = ctx.model.config().hidden_size;
  const bool want_deltas = deltas && (integrated || deeplift || dig);
  // Sequential integrated gradients: per example 1 where a position equals its baseline, [n, 1] float32.
  std::vector<at::Tensor> unchanged(ex.size());
  if (sequential) {
    for (size_t i = 0; i < ex.size(); ++i) unchanged[i] = ex[i].ids.eq(ex[i].base_ids).to(at::kFloat).unsqueeze(1);
  }
  // Host results: [n, steps, H] when granular, else [n, steps] (the hidden dimension reduced on the device).
  std::vector<at::Tensor> out(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) {
    out[i] = req.granular && !lrp.active() ? ctx.host_result({ex[i].n, ex[i].steps(), H}, kNaN) : ctx.host_result({ex[i].n, ex[i].steps()}, kNaN);
  }
  // LRP: the attributed value of each (example, step) (device scalars, set before the step finishes), the relevance
  // sums of each step ([steps] per example: input relevance - f(x); position embeddings' relevance), and the
  // position embeddings the model adds (GPT-2: [longest prefix, H] float32, undefined for the others).
  std::vector<std::vector<at::Tensor>> lrp_f(ex.size()), lrp_error(ex.size()), lrp_positions(ex.size());
  std::vector<at::Tensor> latent_out(ex.size());  // per example [n, steps, layers] float32 CPU, NaN past each prefix
  for (size_t i = 0; latent && i < ex.size(); ++i) latent_out[i] = at::full({ex[i].n, ex[i].steps(), latent_layers}, kNaN, at::TensorOptions().dtype(at::kFloat));
  // The block outputs one forward captured (per layer [rows, L, H]) and the request hook that captures them.
  std::vector<at::Tensor> captured(static_cast<size_t>(latent_layers));
  auto capture_blocks = [&](models::ForwardRequest& fr) {
    if (!latent) return;
    fr.layer_output_hook = [&captured](int64_t l, const at::Tensor& h) {
      captured[static_cast<size_t>(l)] = h;
      return h;
    };
  };
  // Gradients of `f` w.r.t. `point` (detached) and, with latent relevance, the captured block outputs too: their
  // gradient x output summed over hidden -> `latent_rel` [rows, L, layers] float32 (untouched otherwise).
  auto input_gradients = [&](const at::Tensor& f, const at::Tensor& point, bool keep_graph, at::Tensor* latent_rel) {
    std::vector<at::Tensor> inputs = {point};
    inputs.insert(inputs.end(), captured.begin(), captured.end());
    auto grads = torch::autograd::grad({f}, inputs, {}, keep_graph);
    if (latent) {
      std::vector<at::Tensor> per_layer;
      for (int64_t l = 0; l < latent_layers; ++l) {
        per_layer.push_back(grads[l + 1].mul(captured[l].detach()).to(at::kFloat).sum(-1));  // [rows, L]
      }
      *latent_rel = at::stack(per_layer, -1);  // [rows, L, layers]
    }
    return grads[0].detach();
  };
  auto put_latent = [&](size_t i, int64_t j, int64_t t, const at::Tensor& rel) {  // rel [>= t, layers]
    latent_out[i].select(1, j).slice(0, 0, t).copy_(rel.slice(0, 0, t).to(at::kCPU));
  };
  at::Tensor position_embeds;
  if (lrp.active()) {
    int64_t longest = 0;
    for (size_t i = 0; i < ex.size(); ++i) {
      lrp_f[i].resize(ex[i].steps());
      lrp_error[i].resize(ex[i].steps());
      lrp_positions[i].resize(ex[i].steps());
      longest = std::max(longest, ex[i].start + ex[i].steps());
    }
    c10::InferenceMode guard;
    at::Tensor pe = ctx.model.position_embeddings(at::arange(longest, at::TensorOptions().dtype(at::kLong).device(ctx.dev)).unsqueeze(0));
    if (pe.defined()) position_embeds = pe.squeeze(0).to(at::kFloat).clone();  // [longest, H]
  }
  // Finishes each method's formula for step j of example i once its last row is accumulated.
  ColumnBatch finished;
  auto finish_step = [&](size_t i, int64_t j) {
    const int64_t t = ex[i].start + j;
    at::Tensor g = acc[i][j];                            // [t, H] float32
    at::Tensor x = X[i].slice(0, 0, t).to(at::kFloat);   // [t, H]
    at::Tensor a;
    switch (rule) {
      case Rule::kSaliency: a = g.abs(); break;
      case Rule::kInputXGradient: a = req.multiply_by_inputs ? g.mul(x) : g; break;
      case Rule::kIntegratedGradients:
      case Rule::kSequentialIntegratedGradients:
      case Rule::kDiscretized:
      case Rule::kDeepLift: a = req.multiply_by_inputs ? g.mul(x.sub(Bx[i].slice(0, 0, t).to(at::kFloat))) : g; break;
      case Rule::kGradientShap: a = g; break;  // already multiplied per sample
      case Rule::kLrp: a = g.mul(x); break;     // relevance of each embedding unit
    }
    if (want_deltas) sums[i][j] = a.sum();
    if (lrp.active()) {
      at::Tensor relevance = a.sum(-1);  // [t]: signed, summed over hidden
      at::Tensor total = relevance.sum();
      if (position_embeds.defined()) {
        lrp_positions[i][j] = g.mul(position_embeds.slice(0, 0, t)).sum();  // the same gradient reaches them
        total = total.add(lrp_positions[i][j]);
      }
      lrp_error[i][j] = total.sub(lrp_f[i][j].to(at::kFloat));
      finished.add(i, j, relevance);
      acc[i][j] = at::Tensor();
      return;
    }
    finished.add(i, j, req.granular ? a : reduce_hidden(a));  // [t, H] | [t]
    acc[i][j] = at::Tensor();
  };
  // Sequential integrated gradients: `count` rows of step j of example i are done; their summed gradient g is added
  // at position p ([H] float32), or for kUnchangedPositions over the whole prefix ([t, H], already masked). Returns
  // the share of the step they were.
  auto add_sequential = [&](size_t i, int64_t j, int64_t p, const at::Tensor& g, int64_t count) {
    at::Tensor& a = acc[i][j];
    if (!a.defined()) a = at::zeros({ex[i].start + j, H}, g.options());  // [t, H] float32
    if (p >= 0) {
      a[p].add_(g);
    } else {
      a.add_(g);
    }
    rows_left[i][j] -= count;
    if (rows_left[i][j] == 0) finish_step(i, j);
    return static_cast<double>(count) / static_cast<double>(step_rows[i][j]);
  };

  const StepFunctionInfo& fn = ctx.step_fn(req.attributed_fn);
  std::vector<at::Tensor> forced_contrast(ex.size());  // contrast logits when contrast inputs are forced: [steps, V]
  if (fn.contrastive && req.contrast_force_inputs) {
    c10::InferenceMode guard;
    for (size_t i = 0; i < ex.size(); ++i)
      if (ex[i].contrast_ids.defined()) forced_contrast[i] = ctx.contrast_step_logits(ex[i]).clone();
  }

  // Every step of an example reads the same inputs, and a causal model's logits at position t - 1 do not depend
  // on later tokens: one forward of the example's longest row gives the logits of all its steps, and one
  // backward per step (the graph kept between them) its gradient, zero past the step's prefix. k steps then cost
  // 1 forward + k backwards of one row instead of k forwards + k backwards, in the activation memory of one row
  // instead of a batch of k. Worth it when the prompt dominates the rows (short rows batch better).
  auto share_forward = [&](size_t i) {
    const Example& e = ex[i];
    const int64_t k = e.steps(), L = e.start + k - 1;  // the last step's prefix: every step's inputs
    const bool checkpointed = ctx.checkpoint_rows(L, 1, can_checkpoint);
    ctx.batch_size_at({GradRow{i, k - 1, L, 1.0, 1.0, 0}}, 0, 1, pacer, checkpointed);  // a strict budget: one row must fit
    c10::AutoGradMode grad_mode(true);
    at::Tensor point = X[i].slice(0, 0, L).unsqueeze(0).clone().requires_grad_(true);  // [1, L, H]
    std::vector<int64_t> logit_pos(k), targets(k), contrast_targets(k, 0);
    for (int64_t j = 0; j < k; ++j) {
      logit_pos[j] = e.start + j - 1;
      targets[j] = e.host_ids[static_cast<size_t>(e.start + j)];
      if (e.contrast_ids.defined()) contrast_targets[j] = e.host_contrast_targets[static_cast<size_t>(j)];
    }
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(e.src, 1);
    fr.inputs_embeds = point;
    fr.lrp = lrp;
    capture_blocks(fr);
    fr.checkpoint_blocks = checkpointed;
    fr.logits_positions = ctx.long_tensor(logit_pos).unsqueeze(0);  // [1, k]
    at::Tensor logits = ctx.model.forward(fr).logits.squeeze(0);     // [k, V]
    ctx.tokens_forwarded += L;
    at::Tensor ct = e.contrast_ids.defined() ? ctx.long_tensor(contrast_targets) : at::Tensor();
    at::Tensor cl = forced_contrast[i].defined() ? forced_contrast[i] : at::Tensor();  // [k, V]
    at::Tensor f = ctx.attributed_values(logits, ctx.long_tensor(targets), cl, ct);      // [k]
    for (int64_t j = 0; j < k; ++j) {
      ctx.check_cancel();
      const bool keep_graph = j + 1 < k;
      at::Tensor latent_rel;  // [1, L, layers]
      at::Tensor grad = input_gradients(f[j], point, keep_graph, &latent_rel);  // [1, L, H]
      if (latent) put_latent(i, j, e.start + j, latent_rel[0]);
      acc[i][j] = grad[0].slice(0, 0, e.start + j).to(at::kFloat);                           // [t, H]
      if (lrp.active()) lrp_f[i][j] = f[j].detach();
      finish_step(i, j);
      finished.flush(out);
      ctx.progress(share);
    }
  };
  for (size_t i = 0; i < ex.size(); ++i)
    if (shares_forward(ex[i])) share_forward(i);
  // Sequential integrated gradients: a step without a moving position (every token at its baseline) attributes 0.
  for (size_t i = 0; sequential && i < ex.size(); ++i) {
    for (int64_t j = 0; j < ex[i].steps(); ++j) {
      if (step_rows[i][j] > 0) continue;
      acc[i][j] = at::zeros({ex[i].start + j, H}, X[i].options().dtype(at::kFloat));
      finish_step(i, j);
      ctx.progress(share);
    }
    finished.flush(out);
  }

  for (size_t i = 0; i < ex.size(); ++i) {
    if (!over_prefix(ex[i])) continue;
    double steps_done = 0;
    SequentialSink sink;
    sink.add = [&](int64_t j, int64_t p, const at::Tensor& g, int64_t count) { steps_done += add_sequential(i, j, p, g, count); };
    sink.batch_done = [&] {
      finished.flush(out);
      ctx.progress(share * steps_done);
      steps_done = 0;
    };
    sequential_prefix_rows(ctx, i, X[i], Bx[i], alphas, weights, forced_contrast[i], sink);
  }

  // LongRoPE (models/rope.h) picks its factors from a forward's length: a row gets those of the forward Python
  // Inseq runs its step in, over the step's prefix (its batches are right-padded: the prefix length for every row).
  auto inseq_rope_length = [&](const GradRow& row) { return row.t; };
  size_t pos = 0;
  while (pos < rows.size()) {
    ctx.check_cancel();
    const int64_t L = rows[pos].t;
    const int64_t memory_factor = deeplift ? 2 : 1;
    const bool checkpointed = ctx.checkpoint_rows(L, memory_factor, can_checkpoint);
    size_t take = ctx.batch_size_at(rows, pos, memory_factor, pacer, checkpointed);
    if (req.per_step_schedule) {  // Inseq: one (example, step) per batch
      size_t same = 0;
      while (same < take && rows[pos + same].e == rows[pos].e && rows[pos + same].j == rows[pos].j) ++same;
      take = same;
    }
    const int64_t B = static_cast<int64_t>(take);
    c10::AutoGradMode grad_mode(true);
    at::Tensor point = at::zeros({B, L, H}, X[0].options());                                    // [B, L, H]
    at::Tensor ids = at::zeros({B, L}, at::TensorOptions().dtype(at::kLong).device(ctx.dev));  // [B, L] (layer methods)
    std::vector<int64_t> logit_pos(B), targets(B), contrast_targets(B, 0), srcs(B);
    std::vector<at::Tensor> contrast_rows;
    bool any_contrast = false;
    for (int64_t r = 0; r < B; ++r) {
      ctx.poll(r);
      const GradRow& row = rows[pos + r];
      const Example& e = ex[row.e];
      srcs[r] = e.src;
      at::Tensor x = X[row.e].slice(0, 0, row.t);  // [t, H]
      if (shap && req.stdevs > 0) x = x.add(noise[{row.e, row.sample}].slice(0, 0, row.t));
      if (sequential) {  // the input, position row.pos on its path
        point[r].slice(0, 0, row.t).copy_(x);
        if (row.pos >= 0) point[r][row.pos].copy_(Bx[row.e][row.pos].add(X[row.e][row.pos].sub(Bx[row.e][row.pos]).mul(row.alpha)));
      } else {
        at::Tensor p = dig    ? dig_points[row.e][static_cast<int64_t>(row.alpha)].slice(0, 0, row.t)
                       : path ? Bx[row.e].slice(0, 0, row.t).add(x.sub(Bx[row.e].slice(0, 0, row.t)).mul(row.alpha))
                              : x;
        point[r].slice(0, 0, row.t).copy_(p);
      }
      if (layer >= 0) ids[r].slice(0, 0, row.t).copy_(e.ids.slice(0, 0, row.t));
      logit_pos[r] = row.t - 1;
      targets[r] = e.host_ids[static_cast<size_t>(row.t)];  // host copy: no device read per row
      if (e.contrast_ids.defined()) {
        any_contrast = true;
        contrast_targets[r] = e.host_contrast_targets[static_cast<size_t>(row.j)];
        if (forced_contrast[row.e].defined()) contrast_rows.push_back(forced_contrast[row.e][row.j]);
      }
    }
    point.requires_grad_(true);
    // DeepLIFT runs each row next to its reference row: batch [inputs; references], and the forward request
    // carries the rule's hook (the blocks' nonlinearities back-propagate the Rescale multipliers).
    at::Tensor input = point, batch_ids = ids;
    models::DeepLiftRule deeplift_rule;
    if (deeplift) {
      at::Tensor ref = at::zeros_like(point);
      at::Tensor ref_ids = at::zeros_like(ids);
      for (int64_t r = 0; r < B; ++r) {
        ctx.poll(r);
        const GradRow& row = rows[pos + r];
        ref[r].slice(0, 0, row.t).copy_(Bx[row.e].slice(0, 0, row.t));
        if (layer >= 0) ref_ids[r].slice(0, 0, row.t).copy_(ex[row.e].base_ids.slice(0, 0, row.t));
      }
      input = at::cat({point, ref}, 0);
      batch_ids = at::cat({ids, ref_ids}, 0);
      const std::vector<int64_t> input_pos = logit_pos, input_srcs = srcs;
      logit_pos.insert(logit_pos.end(), input_pos.begin(), input_pos.end());
      srcs.insert(srcs.end(), input_srcs.begin(), input_srcs.end());
      deeplift_rule.half = B;
    }
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(srcs);
    fr.deeplift = deeplift_rule;
    fr.lrp = lrp;
    capture_blocks(fr);
    fr.checkpoint_blocks = checkpointed;
    if (ctx.model.config().rope.type == "longrope" && !ctx.seq2seq) {
      std::vector<int64_t> lengths(static_cast<size_t>(input.size(0)));
      for (size_t r = 0; r < lengths.size(); ++r) lengths[r] = inseq_rope_length(rows[pos + r % static_cast<size_t>(B)]);
      fr.rope_lengths = ctx.long_tensor(lengths);  // [B'] (DeepLIFT: inputs, then their references)
    }
    if (layer < 0) {
      fr.inputs_embeds = input;
    } else {
      fr.inputs_embeds = ctx.embed(batch_ids, fr.source_lengths);
      fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) { return ctx.hooks_layer(layer, l) ? input : h; };
    }
    at::Tensor logits;  // [B, V]
    ctx.tokens_forwarded += input.size(0) * L;
    if (req.per_step_schedule) {  // LM head over every position, then pick the step's row (as Inseq)
      at::Tensor all = ctx.model.forward(fr).logits;  // [B', L, V]
      const int64_t rows_in = all.size(0);
      logits = all.gather(1, ctx.long_tensor(logit_pos).view({rows_in, 1, 1}).expand({rows_in, 1, all.size(2)})).squeeze(1);
    } else {
      fr.logits_positions = ctx.long_tensor(logit_pos).unsqueeze(1);  // [B', 1]
      logits = ctx.model.forward(fr).logits.squeeze(1);
    }
    logits = logits.slice(0, 0, B);  // DeepLIFT: the inputs' half; its gradient flows through the multipliers
    at::Tensor ct = any_contrast ? ctx.long_tensor(contrast_targets) : at::Tensor();
    at::Tensor cl = contrast_rows.empty() ? at::Tensor() : at::stack(contrast_rows);
    at::Tensor f = ctx.attributed_values(logits, ctx.long_tensor(targets), cl, ct);  // [B]
    std::vector<double> w(B);
    for (int64_t r = 0; r < B; ++r) w[r] = rows[pos + r].weight;
    at::Tensor loss = f.mul(at::tensor(w, at::kDouble).to(ctx.dev, f.scalar_type())).sum();
    at::Tensor latent_rel;  // latent relevance: [B, L, layers]
    at::Tensor grad = input_gradients(loss, point, false, &latent_rel);  // [B, L, H], the model's dtype
    double steps_done = 0;
    if (sequential) {
      // Only the moving position's gradient belongs to a row's path: one gather picks it for every row, and the
      // integration points of one (example, step, position), adjacent in the batch, are summed in one reduction.
      std::vector<int64_t> moving(B);
      for (int64_t r = 0; r < B; ++r) moving[r] = std::max<int64_t>(rows[pos + r].pos, 0);
      at::Tensor moving_t = ctx.long_tensor(moving);                                                  // [B]
      at::Tensor picked = grad.index({at::arange(B, moving_t.options()), moving_t}).to(at::kFloat);  // [B, H]
      for (int64_t r0 = 0; r0 < B;) {
        ctx.poll(r0);
        const GradRow& row = rows[pos + r0];
        int64_t r1 = r0 + 1;
        while (r1 < B && rows[pos + r1].e == row.e && rows[pos + r1].j == row.j && rows[pos + r1].pos == row.pos) ++r1;
        // kUnchangedPositions (one row per step): the gradient at the input where the path is constant
        at::Tensor g = row.pos >= 0 ? (r1 - r0 == 1 ? picked[r0] : picked.slice(0, r0, r1).sum(0))
                                    : grad[r0].slice(0, 0, row.t).to(at::kFloat).mul(unchanged[row.e].slice(0, 0, row.t));
        steps_done += add_sequential(row.e, row.j, row.pos, g, r1 - r0);
        r0 = r1;
      }
    }
    for (int64_t r = 0; r < B && !sequential; ++r) {
      ctx.poll(r);
      const GradRow& row = rows[pos + r];
      steps_done += 1.0 / static_cast<double>(step_rows[row.e][row.j]);
      at::Tensor g = grad[r].slice(0, 0, row.t).to(at::kFloat);  // [t, H]: accumulated in float32 for half models
      if (shap) {  // per-sample (input - baseline) factor: noise differs between samples
        at::Tensor x = X[row.e].slice(0, 0, row.t);
        if (req.stdevs > 0) x = x.add(noise[{row.e, row.sample}].slice(0, 0, row.t));
        g = g.mul(x.sub(Bx[row.e].slice(0, 0, row.t)).to(at::kFloat));
      }
      if (dig) {  // times the step to the next path point
        const int64_t k = static_cast<int64_t>(row.alpha);
        g = g.mul(dig_points[row.e][k + 1].slice(0, 0, row.t).sub(dig_points[row.e][k].slice(0, 0, row.t)));
      }
      at::Tensor& a = acc[row.e][row.j];
      if (lrp.active()) lrp_f[row.e][row.j] = f[r].detach();  // one row per step
      if (latent) put_latent(row.e, row.j, row.t, latent_rel[r]);
      const bool last = --rows_left[row.e][row.j] == 0;
      // clone a step that waits for more rows: no view into the batch's gradient buffer outlives the batch
      a = a.defined() ? a.add(g) : last ? g : g.clone();
      if (last) finish_step(row.e, row.j);
    }
    finished.flush(out);  // the batch's finished steps: one device -> host copy
    pos += take;
    ctx.progress(share * steps_done);
  }

  if (lrp.active() && lrp_scores) {
    for (size_t i = 0; i < ex.size(); ++i) {
      auto& scores = (*lrp_scores)[i];
      if (lrp_error[i].empty()) continue;
      scores["lrp_conservation_error"] = at::stack(lrp_error[i]).to(at::kCPU);  // [steps]
      if (position_embeds.defined()) scores["lrp_position_relevance"] = at::stack(lrp_positions[i]).to(at::kCPU);  // [steps]
      if (latent) scores["lrp_latent_relevance"] = latent_out[i].slice(0, 0, ex[i].end);  // [end, steps, layers]: a sequence score
    }
  }

  if (want_deltas) {
    for (size_t i = 0; i < ex.size(); ++i) {
      const Example& e = ex[i];
      // Convergence delta: sum of attributions - (f(x) - f(baseline)), as Captum.
      c10::InferenceMode guard;
      auto f_at = [&](int64_t which) {  // 1 = input, 0 = baseline
        at::Tensor lg = layer < 0 ? ctx.step_logits(which ? e.ids : e.base_ids, e.positions, e.src)
                                  : ctx.step_logits(e.ids, e.positions, e.src, layer, which ? X[i] : Bx[i]);
        at::Tensor cl = forced_contrast[i].defined() ? forced_contrast[i] : at::Tensor();
        return ctx.attributed_values(lg, e.targets, cl, e.contrast_targets);
      };
      at::Tensor step_sums = at::stack(sums[i]).to(at::kCPU, at::kDouble);  // [steps]: one copy per example
      if (sequential) {  // delta: sum of attributions - sum over positions of D_p; scale: sum of |D_p|
        at::Tensor d = sequential_differences(ctx, e, forced_contrast[i]);
        (*deltas)[i] = at::stack({step_sums.sub(d[0]), d[1]}).to(at::kFloat);
        continue;
      }
      at::Tensor diff = f_at(1).sub(f_at(0)).to(at::kCPU, at::kDouble);
      (*deltas)[i] = at::stack({step_sums.sub(diff), diff}).to(at::kFloat);  // [2, steps]: delta, f(x) - f(baseline)
    }
  }
  return out;
}

std::vector<at::Tensor> all_layers_gradient_x_activation(EngineContext& ctx) {
  const AttributionRequest& req = ctx.req;
  auto& ex = ctx.ex;
  // Encoder-decoders (source attributions): the encoder's blocks, hook indices 0 .. encoder layers - 1.
  const int64_t nL = ctx.attributable_layers(), H = ctx.model.config().hidden_size;
  std::vector<GradRow> rows;
  for (size_t i = 0; i < ex.size(); ++i)
    for (int64_t j = 0; j < ex[i].steps(); ++j) rows.push_back({i, j, ex[i].start + j, 1.0, 1.0, 0});
  std::stable_sort(rows.begin(), rows.end(), [](const GradRow& a, const GradRow& b) { return a.t > b.t; });
  const ChunkPacer pacer = ctx.pacer();
  // Host results: [n, steps, layers, H] when granular, else [n, steps, layers].
  std::vector<at::Tensor> out(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) {
    out[i] = req.granular ? ctx.host_result({ex[i].n, ex[i].steps(), nL, H}, kNaN) : ctx.host_result({ex[i].n, ex[i].steps(), nL}, kNaN);
  }
  ColumnBatch finished;
  // LongRoPE (models/rope.h) picks its factors from a forward's length: a row gets those of the forward Python
  // Inseq runs its step in, over the step's prefix (its batches are right-padded: the prefix length for every row).
  auto inseq_rope_length = [&](const GradRow& row) { return row.t; };
  size_t pos = 0;
  while (pos < rows.size()) {
    ctx.check_cancel();
    const int64_t L = rows[pos].t;
    const size_t take = ctx.batch_size_at(rows, pos, 2, pacer);  // activations of every layer are kept
    const int64_t B = static_cast<int64_t>(take);
    c10::AutoGradMode grad_mode(true);
    at::Tensor ids = at::zeros({B, L}, at::TensorOptions().dtype(at::kLong).device(ctx.dev));  // [B, L]
    std::vector<int64_t> logit_pos(B), targets(B), contrast_targets(B, 0), srcs(B);
    bool any_contrast = false;
    for (int64_t r = 0; r < B; ++r) {
      ctx.poll(r);
      const GradRow& row = rows[pos + r];
      const Example& e = ex[row.e];
      srcs[r] = e.src;
      ids[r].slice(0, 0, row.t).copy_(e.ids.slice(0, 0, row.t));
      logit_pos[r] = row.t - 1;
      targets[r] = e.host_ids[static_cast<size_t>(row.t)];
      if (e.contrast_ids.defined()) {
        any_contrast = true;
        contrast_targets[r] = e.host_contrast_targets[static_cast<size_t>(row.j)];
      }
    }
    std::vector<at::Tensor> captured(nL);  // each [B, L, H], part of the graph
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(srcs);
    at::Tensor embeds = ctx.embed(ids, fr.source_lengths).detach().requires_grad_(true);  // a leaf, so the graph is recorded
    fr.inputs_embeds = embeds;
    fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
      if (l < nL) captured[l] = h;
      return h;
    };
    fr.logits_positions = ctx.long_tensor(logit_pos).unsqueeze(1);
    if (ctx.model.config().rope.type == "longrope" && !ctx.seq2seq) {
      std::vector<int64_t> lengths(static_cast<size_t>(B));
      for (int64_t r = 0; r < B; ++r) lengths[static_cast<size_t>(r)] = inseq_rope_length(rows[pos + r]);
      fr.rope_lengths = ctx.long_tensor(lengths);  // [B]
    }
    at::Tensor logits = ctx.model.forward(fr).logits.squeeze(1);  // [B, V]
    at::Tensor f = ctx.attributed_values(logits, ctx.long_tensor(targets), at::Tensor(), any_contrast ? ctx.long_tensor(contrast_targets) : at::Tensor());
    auto grads = torch::autograd::grad({f.sum()}, captured);  // one backward for every layer
    for (int64_t r = 0; r < B; ++r) {
      ctx.poll(r);
      const GradRow& row = rows[pos + r];
      std::vector<at::Tensor> per_layer(nL);
      for (int64_t l = 0; l < nL; ++l) {
        at::Tensor a = grads[l][r].slice(0, 0, row.t).to(at::kFloat);  // [t, H]
        if (req.multiply_by_inputs) a = a.mul(captured[l][r].slice(0, 0, row.t).detach().to(at::kFloat));
        per_layer[l] = req.granular ? a : reduce_hidden(a);  // [t, H] | [t]
      }
      finished.add(row.e, row.j, at::stack(per_layer, 1));  // [t, layers(, H)]
    }
    finished.flush(out);
    pos += take;
    ctx.progress(static_cast<double>(B));
  }
  return out;
}

}  // namespace inseq::attribution::detail
