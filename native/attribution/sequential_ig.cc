// Sequential integrated gradients' convergence deltas (gradient_methods.cc runs the method itself: its rows are
// part of the gradient family's batched schedule).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

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

}  // namespace inseq::attribution::detail
