// Sequential integrated gradients over the clean prefix's KV cache, and its convergence deltas
// (gradient_methods.cc runs the method's other rows in the gradient family's batched schedule).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "attribution/engine_context.h"

namespace inseq::attribution::detail {

// Sequential integrated gradients' completeness: position p's run integrates from the input with only p at its
// baseline, so its attributions add up to f(x) - f(x with p replaced) = D_p. Returns [2, steps] float64 CPU: the
// sum over positions of D_p (what the attributions of a step add up to) and of |D_p| (the scale the delta is
// read against: a signed sum can cancel). One forward of the whole example per position scores every step at
// once (its logits at step t depend only on positions before t: D_p is 0 for steps at or before p).
at::Tensor sequential_differences(EngineContext& ctx, const Example& e, const at::Tensor& forced_contrast) {
  c10::InferenceMode guard;
  const int64_t S = e.steps(), n = e.n;
  std::vector<int64_t> moved;  // positions that differ from their baseline and precede an attributed target
  for (int64_t p = 0; p < e.end - 1; ++p)
    if (e.host_ids[static_cast<size_t>(p)] != e.host_base_ids[static_cast<size_t>(p)]) moved.push_back(p);
  auto f_rows = [&](const at::Tensor& ids) {  // [k, n] -> [k, S]
    const int64_t k = ids.size(0);
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(e.src, k);
    fr.inputs_embeds = ctx.embed(ids, fr.source_lengths);
    fr.logits_positions = e.positions.unsqueeze(0).expand({k, S});
    ctx.tokens_forwarded += k * n;
    at::Tensor logits = ctx.model.forward(fr).logits;  // [k, S, V]
    at::Tensor cl = forced_contrast.defined() ? forced_contrast.repeat({k, 1}) : at::Tensor();
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets.repeat({k}) : at::Tensor();
    return ctx.attributed_values(logits.reshape({k * S, -1}), e.targets.repeat({k}), cl, ct).view({k, S}).to(at::kDouble);
  };
  at::Tensor fx = f_rows(e.ids.unsqueeze(0));  // [1, S]
  at::Tensor sum = at::zeros({S}, fx.options()), abs_sum = at::zeros({S}, fx.options());
  at::Tensor step_t = at::arange(e.start, e.end, at::TensorOptions().dtype(at::kLong).device(ctx.dev));  // [S] each step's prefix length
  const ChunkPacer pacer = ctx.pacer();
  const int64_t count = static_cast<int64_t>(moved.size());
  for (int64_t p0 = 0; p0 < count;) {
    ctx.check_cancel();
    const int64_t k = std::min<int64_t>(count - p0, pacer.rows(ctx.rows_per_batch(n) * 4, ctx.row_seconds(n, 1.0, S)));
    std::vector<int64_t> pos(moved.begin() + p0, moved.begin() + p0 + k), base(k);
    for (int64_t r = 0; r < k; ++r) base[r] = e.host_base_ids[static_cast<size_t>(pos[r])];
    at::Tensor p_t = ctx.long_tensor(pos);                                      // [k]
    at::Tensor ids = e.ids.unsqueeze(0).repeat({k, 1});                         // [k, n]
    ids.scatter_(1, p_t.unsqueeze(1), ctx.long_tensor(base).unsqueeze(1));      // position p at its baseline
    at::Tensor d = fx.sub(f_rows(ids)).mul(step_t.unsqueeze(0).gt(p_t.unsqueeze(1)).to(at::kDouble));  // [k, S]
    sum.add_(d.sum(0));
    abs_sum.add_(d.abs().sum(0));
    p0 += k;
  }
  return at::stack({sum, abs_sum}).to(at::kCPU);
}

// Position p's path moves p alone, and no position before p sees it (causal masking): a row (p, integration
// point) runs from p on over the clean sequence's cached keys and values, (T - p) tokens instead of T. Its steps
// all read the same inputs, so one forward serves them: the forward runs in chunks (the first up to at least the
// first step's logits, then a few tokens each), each chunk reading the keys and values of those before it, and the
// backward from step j's logits walks only the chunks up to its own (autograd visits what an output depends on).
// A row then costs (T - p) tokens forward and, per step j, about (t_j - p) backward, where one row per step (the
// plain schedule) costs t_j forward and t_j backward. A batch holds neighbouring positions and starts at the first
// of them; its other rows re-run the few clean tokens between (at most a quarter of the row).
namespace {
// What one pass over a chunk costs beyond its arithmetic (reading every weight, launching every operation), in
// token rows of arithmetic: about 16 on one CPU thread for GPT-2-small (sequential_prefix_rows sizes its chunks
// with it).
constexpr int64_t kChunkPassRows = 16;
}  // namespace

void sequential_prefix_rows(EngineContext& ctx, size_t i, const at::Tensor& X, const at::Tensor& Bx, const std::vector<double>& alphas,
                            const std::vector<double>& weights, const at::Tensor& forced_contrast, const SequentialSink& sink) {
  const Example& e = ctx.ex[i];
  const int64_t S = e.steps(), start = e.start, T = start + S - 1;  // T: the last step's prefix, every step's inputs
  const auto& c = ctx.model.config();
  std::vector<std::pair<int64_t, size_t>> rows;  // (moving position, integration point), by position
  for (int64_t p = 0; p < T; ++p) {
    if (e.host_ids[static_cast<size_t>(p)] == e.host_base_ids[static_cast<size_t>(p)]) continue;  // a constant path: no row
    for (size_t k = 0; k < alphas.size(); ++k) rows.emplace_back(p, k);
  }
  if (rows.empty()) return;
  const at::TensorOptions long_opts = at::TensorOptions().dtype(at::kLong).device(ctx.dev);
  models::KVCache clean;  // per layer [1, kv_heads, T, head_dim]
  {
    at::NoGradGuard no_grad;  // plain tensors (not inference ones): the rows' graphs read them
    models::ForwardRequest fr;
    fr.inputs_embeds = X.slice(0, 0, T).unsqueeze(0);  // [1, T, H]
    fr.cache = &clean;
    fr.logits_positions = at::zeros({1, 1}, long_opts);
    ctx.model.forward(fr);
    ctx.tokens_forwarded += T;
  }
  const ChunkPacer pacer = ctx.pacer();
  const double element = static_cast<double>(X.element_size());
  for (size_t r0 = 0; r0 < rows.size();) {
    ctx.check_cancel();
    const int64_t from = rows[r0].first, len = T - from;
    const int64_t first_end = std::max<int64_t>(start, from + 1);  // the first chunk [from, >= first_end) ends at step logits
    const int64_t steps_here = T - first_end + 1;                    // steps whose logits these rows reach
    // Chunk length for a batch of b rows: each pass over a chunk costs about kChunkPassRows token rows on top of
    // its arithmetic, and step j's backward walks every chunk up to its own, whose tokens past j's logits are
    // waste (chunk - 1 at most per row). Over the batch's steps that is steps x chunk-pass count / chunk +
    // steps x b x (chunk - 1) / 2: least at chunk = sqrt(steps x kChunkPassRows / b).
    auto chunk_of = [&](int64_t b) {
      return std::max<int64_t>(1, std::llround(std::sqrt(static_cast<double>(steps_here * kChunkPassRows) / static_cast<double>(b))));
    };
    // Beyond its activations a row keeps each chunk's keys and values over the positions before it (at most T of
    // every layer; as many again where grouped-query attention repeats them).
    auto kv_bytes = [&](int64_t chunk) {
      const int64_t chunks = 1 + (T - first_end + chunk - 1) / chunk;
      return static_cast<double>(chunks * T) * 4.0 * static_cast<double>(c.hidden_size * c.num_layers) * element;
    };
    // The batch checks cancellation before each pass (a chunk's forward, a step's backward), at most len tokens
    // per row: paced as one pass.
    const double seconds = ctx.row_seconds(len, 1.0, 1);
    int64_t take = pacer.rows(ctx.rows_per_batch(len), seconds);
    take = std::min(take, pacer.rows(ctx.rows_per_batch(len, false, kv_bytes(chunk_of(take))), seconds));
    // Rows at later positions re-run the clean tokens from `from` to theirs: at most a quarter of the row apart.
    size_t r1 = r0;
    while (r1 < rows.size() && static_cast<int64_t>(r1 - r0) < take && rows[r1].first <= from + std::max<int64_t>(len / 4, 2)) ++r1;
    const int64_t B = static_cast<int64_t>(r1 - r0);

    c10::AutoGradMode grad_mode(true);
    at::Tensor point = X.slice(0, from, T).unsqueeze(0).repeat({B, 1, 1});  // [B, len, H]
    std::vector<int64_t> moving(B);
    std::vector<double> w(B);
    for (int64_t r = 0; r < B; ++r) {
      ctx.poll(r);
      const auto [p, k] = rows[r0 + r];
      moving[r] = p - from;
      w[r] = weights[k];
      point[r][p - from].copy_(Bx[p].add(X[p].sub(Bx[p]).mul(alphas[k])));
    }
    point.requires_grad_(true);
    at::Tensor wt = at::tensor(w, at::kDouble).to(ctx.dev, at::kFloat);  // [B]
    models::KVCache cache = from > 0 ? clean.prefix(from, B) : models::KVCache();
    const int64_t chunk = chunk_of(B);
    std::vector<at::Tensor> f;  // per step from first_end - start on: the weighted sum over rows of the attributed function
    for (int64_t a = from; a < T;) {
      ctx.check_cancel();
      const int64_t b = std::min<int64_t>(T, a == from ? std::max<int64_t>(first_end, from + chunk) : a + chunk);
      const int64_t l0 = std::max<int64_t>(a, start - 1), P = b - l0;  // logits at positions l0 .. b - 1: P steps
      models::ForwardRequest fr;
      fr.inputs_embeds = point.slice(1, a - from, b - from);  // [B, b - a, H]
      fr.cache = &cache;
      fr.logits_positions = at::arange(l0 - a, b - a, long_opts).unsqueeze(0).expand({B, P});  // [B, P]
      at::Tensor logits = ctx.model.forward(fr).logits;  // [B, P, V]
      for (int64_t k = 0; k < P; ++k) {
        const int64_t j = l0 + k - (start - 1);  // logits at position start - 1 + j predict step j's target
        at::Tensor targets = at::full({B}, e.host_ids[static_cast<size_t>(start + j)], long_opts);
        at::Tensor cl = forced_contrast.defined() ? forced_contrast[j].unsqueeze(0).expand({B, -1}) : at::Tensor();  // [B, V]
        at::Tensor ct = e.contrast_ids.defined() ? at::full({B}, e.host_contrast_targets[static_cast<size_t>(j)], long_opts) : at::Tensor();
        f.push_back(ctx.attributed_values(logits.select(1, k), targets, cl, ct).mul(wt).sum());
      }
      a = b;
    }
    ctx.tokens_forwarded += B * len;
    at::Tensor rows_t = at::arange(B, long_opts), moving_t = ctx.long_tensor(moving);  // [B], [B]
    for (size_t q = 0; q < f.size(); ++q) {
      ctx.check_cancel();
      const int64_t j = first_end - start + static_cast<int64_t>(q), t = start + j;  // chunks cover steps in order
      at::Tensor grad = torch::autograd::grad({f[q]}, {point}, {}, q + 1 < f.size())[0].detach();  // [B, len, H]
      at::Tensor picked = grad.index({rows_t, moving_t}).to(at::kFloat);                          // [B, H] at each row's position
      // rows at or after t: their position is past step j's prefix (gradient 0, not part of the step)
      for (int64_t q0 = 0; q0 < B;) {
        const int64_t p = rows[r0 + q0].first;
        int64_t q1 = q0 + 1;
        while (q1 < B && rows[r0 + q1].first == p) ++q1;
        if (p < t) sink.add(j, p, q1 - q0 == 1 ? picked[q0] : picked.slice(0, q0, q1).sum(0), q1 - q0);
        q0 = q1;
      }
    }
    sink.batch_done();
    r0 = r1;
  }
}

}  // namespace inseq::attribution::detail
