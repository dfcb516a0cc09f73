// The perturbation family: occlusion and LIME. One teacher-forced forward per perturbed input scores every
// attributed step at once; occlusion runs each perturbed input only from the occluded token on.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "attribution/engine_context.h"
#include "core/error.h"

namespace inseq::attribution::detail {

using core::Error;
using core::ErrorCode;

namespace {

// Inseq's schedule: for each step, one forward per occluded prefix token, LM head over every position.
at::Tensor occlusion_per_step(EngineContext& ctx, Example& e) {
  const int64_t n = e.n, S = e.steps();
  at::Tensor x = ctx.embed(e.ids.unsqueeze(0), ctx.lengths(e.src, 1)).squeeze(0);       // [n, H]
  at::Tensor b = ctx.embed(e.base_ids.unsqueeze(0), ctx.lengths(e.src, 1)).squeeze(0);  // [n, H]
  at::Tensor res = ctx.host_result({n, S}, kNaN);
  for (int64_t j = 0; j < S; ++j) {
    ctx.check_cancel();
    const int64_t t = e.start + j;
    at::Tensor batch = x.slice(0, 0, t).unsqueeze(0).repeat({t + 1, 1, 1});  // [t+1, t, H]: row 0 unoccluded
    for (int64_t k = 0; k < t; ++k) batch[k + 1][k].copy_(b[k]);
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(e.src, t + 1);
    fr.inputs_embeds = batch;
    ctx.tokens_forwarded += (t + 1) * t;
    at::Tensor logits = ctx.model.forward(fr).logits.select(1, t - 1);  // [t+1, V]
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets[j].repeat({t + 1}) : at::Tensor();
    at::Tensor f = ctx.attributed_values(logits, e.targets[j].repeat({t + 1}), at::Tensor(), ct);  // [t+1]
    res.select(1, j).slice(0, 0, t).copy_(f[0].sub(f.slice(0, 1)).abs().to(at::kCPU, at::kFloat));
    ctx.progress(1);
  }
  return res;
}

}  // namespace

// Everything before an occluded position p is unchanged (causal masking: no query before p sees p), so a
// decoder-only model runs the clean sequence once into a KV cache and each occluded input from its first
// occluded position on. A batch holds neighbouring occluded positions and starts at the first of them; the other
// rows re-run the few positions between (at most (n - p_min) / 8 rows per batch: under ~6% extra tokens).
at::Tensor occlusion(EngineContext& ctx, Example& e) {
  if (!e.base_ids.defined()) throw Error(ErrorCode::kInvalidOption, "occlusion needs baselines");
  c10::InferenceMode guard;
  if (ctx.req.per_step_schedule) return occlusion_per_step(ctx, e);
  const int64_t n = e.n, S = e.steps();
  at::Tensor x = ctx.embed(e.ids.unsqueeze(0), ctx.lengths(e.src, 1)).squeeze(0);       // [n, H]
  at::Tensor b = ctx.embed(e.base_ids.unsqueeze(0), ctx.lengths(e.src, 1)).squeeze(0);  // [n, H]
  // Tokens at positions >= end - 1 never precede an attributed target; tokens equal to their baseline
  // (kept EOS, a target that is not attributed) score exactly 0 and need no forward.
  std::vector<int64_t> occluded;  // ascending
  for (int64_t p = 0; p < e.end - 1; ++p)
    if (e.host_ids[static_cast<size_t>(p)] != e.host_base_ids[static_cast<size_t>(p)]) occluded.push_back(p);
  const int64_t n_occ = static_cast<int64_t>(occluded.size());
  const bool reuse = ctx.req.prefix_cache && !ctx.seq2seq && ctx.caps.prefix_cache;
  // f over k rows that start at position `from` (the positions before it come from `cache`): [k, n - from, H] -> [k, S]
  // (steps whose logits sit before `from` are unchanged by these rows: 0 there, never read).
  auto f_of = [&](const at::Tensor& embeds, int64_t from, models::KVCache* cache) {
    const int64_t k = embeds.size(0), j0 = std::clamp<int64_t>(from - (e.start - 1), 0, S);
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(e.src, k);
    fr.inputs_embeds = embeds;
    fr.cache = cache;
    fr.logits_positions = e.positions.slice(0, j0).sub(from).unsqueeze(0).expand({k, S - j0});
    ctx.tokens_forwarded += k * embeds.size(1);
    at::Tensor logits = ctx.model.forward(fr).logits;  // [k, S - j0, V]
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets.slice(0, j0).repeat({k}) : at::Tensor();
    at::Tensor f = ctx.attributed_values(logits.reshape({k * (S - j0), -1}), e.targets.slice(0, j0).repeat({k}), at::Tensor(), ct);
    return j0 == 0 ? f.view({k, S}) : at::cat({at::zeros({k, j0}, f.options()), f.view({k, S - j0})}, 1);
  };
  models::KVCache prefix;  // the clean sequence's keys and values (reuse only): per layer [1, kv_heads, n, head_dim]
  at::Tensor fx = f_of(x.unsqueeze(0), 0, reuse ? &prefix : nullptr).squeeze(0);  // [S]
  at::Tensor scores = at::zeros({e.end - 1, S}, fx.options());  // [occludable, S]
  const ChunkPacer pacer = ctx.pacer();
  for (int64_t j0 = 0; j0 < n_occ;) {
    ctx.check_cancel();
    int64_t k = std::min<int64_t>(n_occ - j0, pacer.rows(ctx.rows_per_batch(n) * 4, ctx.row_seconds(n, 1.0, S)));
    const int64_t from = reuse ? occluded[j0] : 0;  // the batch starts at its first occluded position
    if (reuse) k = std::min<int64_t>(k, 1 + (n - from) / 8);
    at::Tensor batch = x.slice(0, from).unsqueeze(0).repeat({k, 1, 1});  // [k, n - from, H]
    for (int64_t r = 0; r < k; ++r) batch[r][occluded[j0 + r] - from].copy_(b[occluded[j0 + r]]);
    models::KVCache cache = prefix.prefix(from, k);  // the clean prefix [0, from) for each of the k rows
    at::Tensor delta = fx.unsqueeze(0).sub(f_of(batch, from, from > 0 ? &cache : nullptr));  // [k, S]
    for (int64_t r = 0; r < k; ++r) scores[occluded[j0 + r]].copy_(delta[r]);
    j0 += k;
    ctx.progress(static_cast<double>(S) * static_cast<double>(k) / static_cast<double>(n_occ));
  }
  if (n_occ == 0) ctx.progress(static_cast<double>(S));
  at::Tensor res = ctx.host_result({n, S}, kNaN);
  at::Tensor abs_scores = scores.abs().to(at::kCPU, at::kFloat);
  for (int64_t j = 0; j < S; ++j) {
    const int64_t t = e.start + j;  // rows 0..t-1 precede target t
    res.select(1, j).slice(0, 0, t).copy_(abs_scores.select(1, j).slice(0, 0, t));
  }
  return res;
}

// LIME (Ribeiro et al. 2016) with masks in token space (Inseq masks embedding vectors with the token id, a bug).
// No prefix-cache reuse: a sample's unchanged prefix ends at its first masked token, on average after
// (1 - maskProb) / maskProb tokens (2.3 at 0.3), so a cache would save a few tokens per sample of n.
at::Tensor lime(EngineContext& ctx, Example& e) {
  const AttributionRequest& req = ctx.req;
  if (!e.base_ids.defined()) throw Error(ErrorCode::kInvalidOption, "lime needs baselines");
  c10::InferenceMode guard;
  const int64_t n = e.n, S = e.steps(), N = req.n_samples;
  if (N < 2) throw Error(ErrorCode::kInvalidOption, "lime needs nSamples >= 2");
  // Seeded by the request seed and the example's tokens, so batched and single runs draw the same masks.
  uint64_t content = 1469598103934665603ULL;  // FNV-1a over the token ids
  for (int64_t k = 0; k < n; ++k) content = (content ^ static_cast<uint64_t>(e.host_ids[static_cast<size_t>(k)])) * 1099511628211ULL;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(req.seed * 1000003ULL + content);
  // keep[s, j] = 1 keeps token j in sample s; position 0 (BOS) is always kept.
  at::Tensor keep = at::bernoulli(at::full({N, n}, 1.0 - req.mask_prob, at::kFloat), gen);  // [N, n]
  if (e.src == 0) keep.select(1, 0).fill_(1);  // decoder-only: BOS is always kept
  at::Tensor ids = at::where(keep.to(ctx.dev).to(at::kBool), e.ids.unsqueeze(0).expand({N, n}), e.base_ids.unsqueeze(0).expand({N, n}));
  at::Tensor fvals = at::empty({N, S}, at::kFloat);  // f_t of every sample
  const ChunkPacer pacer = ctx.pacer();
  for (int64_t s0 = 0; s0 < N;) {
    ctx.check_cancel();
    const int64_t k = std::min<int64_t>(N - s0, pacer.rows(ctx.rows_per_batch(n) * 4, ctx.row_seconds(n, 1.0, S)));
    models::ForwardRequest fr;
    fr.source_lengths = ctx.lengths(e.src, k);
    fr.inputs_embeds = ctx.embed(ids.slice(0, s0, s0 + k), fr.source_lengths);
    fr.logits_positions = e.positions.unsqueeze(0).expand({k, S});
    ctx.tokens_forwarded += k * n;
    at::Tensor logits = ctx.model.forward(fr).logits.reshape({k * S, -1});  // [k*S, V]
    at::Tensor ct = e.contrast_targets.defined() ? e.contrast_targets.repeat({k}) : at::Tensor();
    fvals.slice(0, s0, s0 + k).copy_(ctx.attributed_values(logits, e.targets.repeat({k}), at::Tensor(), ct).view({k, S}).to(at::kCPU, at::kFloat));
    s0 += k;
    ctx.progress(static_cast<double>(S) * static_cast<double>(k) / static_cast<double>(N));
  }
  at::Tensor res = ctx.host_result({n, S}, kNaN);
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

}  // namespace inseq::attribution::detail
