// ReAGent (Zhao et al. 2024), in the perturbation family: for each attributed step, `num_probes` probes each
// keep a score per feature (logit scale), and repeat until every probe has converged or `max_probe_steps`:
//  1. update: replace a random `replacing_ratio` share of the features by random tokens of the same part-of-speech
//     group; delta = p(y | x) - p(y | x~); every replaced feature gains logit(0.5 + 0.5 delta), every kept one
//     logit(0.5 - 0.5 delta);
//  2. stopping test: keep the top `keep_top_n` (or ceil(keep_ratio x features)) features by softmax(scores),
//     replace the others (invert_keep: the reverse); the probe has converged when y is among the top
//     `stopping_top_k` predictions.
// The score of a step is the mean of softmax(scores) over the converged probes (none converged: over all probes,
// and the step is reported in `converged` as 0). As Python Inseq, but:
//  - every probe of every step of every example runs in the same forwards (rows of varying prefix length are
//    right-padded: causal masking keeps the padding out of the logits read at the last prefix position);
//  - each probe draws from its own generator, seeded by the request seed, the example's tokens, the step and the
//    probe index, so a probe draws the same numbers whatever else is batched with it (batched == single);
//  - NaN-safe (Inseq #304): log-probabilities in float32, delta in double, the logit argument clamped to
//    [1e-7, 1 - 1e-7], softmax with the maximum subtracted;
//  - special tokens (POS group < 0) are never replaced and are no features: score 0, outside the softmax and the
//    top-n ranking;
//  - encoder-decoders: source features only, or source + target prefix with attribute_target (Inseq's
//    source-only branch is broken).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attribution/engine_context.h"
#include "attribution/reagent_sampler.h"
#include "core/error.h"

namespace inseq::attribution::detail {

using core::Error;
using core::ErrorCode;

namespace {

struct Probe {
  ProbeRng rng;
  std::vector<double> scores;  // [features] logit scale
  bool converged = false;
};

// One attributed step of one example: its prefix, its replaceable features and its probes.
struct Task {
  size_t e;
  int64_t j, t;                   // step, prefix length (target position)
  std::vector<int64_t> features;  // replaceable positions (ascending)
  double logp = 0;                // log p(y | clean prefix)
  std::vector<Probe> probes;
  bool done = false;
};

// A row to forward: the prefix of task `task` with some features replaced.
struct Row {
  size_t task, probe;
  std::vector<int64_t> ids;     // [t]
  std::vector<uint8_t> mask;    // [features] 1 = replaced
};

void softmax(const std::vector<double>& s, std::vector<double>& out) {
  out.resize(s.size());
  if (s.empty()) return;
  const double m = *std::max_element(s.begin(), s.end());
  double z = 0;
  for (size_t k = 0; k < s.size(); ++k) z += (out[k] = std::exp(s[k] - m));
  for (double& v : out) v /= z;
}

}  // namespace

std::vector<at::Tensor> reagent(EngineContext& ctx, std::vector<at::Tensor>& converged_probes) {
  const AttributionRequest& req = ctx.req;
  c10::InferenceMode guard;
  if (req.pos_groups.empty()) throw Error(ErrorCode::kInvalidOption, "reagent needs the vocabulary's part-of-speech groups (posGroups)");
  if (req.num_probes < 1) throw Error(ErrorCode::kInvalidOption, "Expected an integer >= 1 for numProbes but received " + std::to_string(req.num_probes));
  if (req.stopping_top_k < 1) throw Error(ErrorCode::kInvalidOption, "Expected an integer >= 1 for stoppingConditionTopK");
  if (!(req.replacing_ratio > 0 && req.replacing_ratio <= 1)) throw Error(ErrorCode::kInvalidOption, "Expected a number in (0, 1] for replacingRatio");
  if (req.keep_top_n == 0 && !(req.keep_ratio > 0 && req.keep_ratio <= 1)) {
    throw Error(ErrorCode::kInvalidOption, "keepTopN 0 keeps ceil(keepRatio x features): expected keepRatio in (0, 1]");
  }
  const PosTable target_pos(req.pos_groups);
  const PosTable source_pos(req.source_pos_groups.empty() ? req.pos_groups : req.source_pos_groups);
  auto& ex = ctx.ex;
  const int64_t P = req.num_probes;

  // ---- tasks: one per (example, step); probes seeded by (seed, tokens, step, probe) ----
  std::vector<Task> tasks;
  for (size_t i = 0; i < ex.size(); ++i) {
    Example& e = ex[i];
    at::Tensor logp = at::log_softmax(ctx.step_logits(e.ids, e.positions, e.src).to(at::kFloat), -1)
                          .gather(1, e.targets.unsqueeze(1)).squeeze(1).to(at::kCPU, at::kDouble);  // [steps]
    ctx.tokens_forwarded += e.n;
    for (int64_t j = 0; j < e.steps(); ++j) {
      Task task{i, j, e.start + j, {}, logp[j].item<double>(), {}, false};
      const int64_t feature_end = e.src > 0 && !req.attribute_target ? e.src : task.t;
      for (int64_t p = 0; p < feature_end; ++p) {
        const PosTable& pos = p < e.src ? source_pos : target_pos;
        if (pos.replaceable(e.host_ids[static_cast<size_t>(p)])) task.features.push_back(p);
      }
      for (int64_t k = 0; k < P; ++k) {
        Probe probe{ProbeRng{probe_seed(req.seed, e.host_ids, task.t, k)}, {}, false};
        for (size_t f = 0; f < task.features.size(); ++f) probe.scores.push_back(probe.rng.uniform());  // Inseq: U(0, 1)
        task.probes.push_back(std::move(probe));
      }
      task.done = task.features.empty();  // nothing to replace: every score is 0
      if (task.done) {
        for (auto& probe : task.probes) probe.converged = true;
        ctx.progress(1);
      }
      tasks.push_back(std::move(task));
    }
  }

  auto replace = [&](const Task& task, size_t f, Probe& probe, Row& row) {
    const int64_t p = task.features[f];
    const PosTable& pos = p < ex[task.e].src ? source_pos : target_pos;
    row.ids[static_cast<size_t>(p)] = pos.sample(row.ids[static_cast<size_t>(p)], probe.rng);
    row.mask[f] = 1;
  };
  auto new_row = [&](size_t ti, size_t k) {
    const Task& task = tasks[ti];
    const auto& ids = ex[task.e].host_ids;
    return Row{ti, k, std::vector<int64_t>(ids.begin(), ids.begin() + task.t), std::vector<uint8_t>(task.features.size(), 0)};
  };

  // Forwards rows (longest first, right-padded per batch) and returns per row log p(y) and the number of
  // tokens with a strictly larger logit than y.
  auto run_rows = [&](const std::vector<Row>& rows, std::vector<double>& logp, std::vector<int64_t>& rank) {
    const size_t R = rows.size();
    logp.assign(R, 0);
    rank.assign(R, 0);
    std::vector<size_t> order(R);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].ids.size() > rows[b].ids.size(); });
    const ChunkPacer pacer = ctx.pacer();
    for (size_t r0 = 0; r0 < R;) {
      ctx.check_cancel();
      const int64_t L = static_cast<int64_t>(rows[order[r0]].ids.size());
      const int64_t k = std::min<int64_t>(static_cast<int64_t>(R - r0), pacer.rows(ctx.rows_per_batch(L) * 4, ctx.row_seconds(L, 1.0, 1)));
      std::vector<int64_t> flat(static_cast<size_t>(k * L), 0), last(static_cast<size_t>(k)), targets(static_cast<size_t>(k)), srcs;
      for (int64_t b = 0; b < k; ++b) {
        const Row& row = rows[order[r0 + static_cast<size_t>(b)]];
        const Task& task = tasks[row.task];
        std::copy(row.ids.begin(), row.ids.end(), flat.begin() + b * L);
        last[static_cast<size_t>(b)] = task.t - 1;
        targets[static_cast<size_t>(b)] = ex[task.e].host_ids[static_cast<size_t>(task.t)];
        srcs.push_back(ex[task.e].src);
      }
      models::ForwardRequest fr;
      fr.source_lengths = ctx.lengths(srcs);
      fr.inputs_embeds = ctx.embed(ctx.long_tensor(flat).view({k, L}), fr.source_lengths);  // [k, L, H]
      fr.logits_positions = ctx.long_tensor(last).unsqueeze(1);                             // [k, 1]
      if (ctx.model.config().rope.type == "longrope" && !ctx.seq2seq) {
        std::vector<int64_t> lengths(static_cast<size_t>(k));
        for (int64_t b = 0; b < k; ++b) lengths[static_cast<size_t>(b)] = tasks[rows[order[r0 + static_cast<size_t>(b)]].task].t;
        fr.rope_lengths = ctx.long_tensor(lengths);  // [k] each row's prefix (models/rope.h, as Inseq forwards a step)
      }
      ctx.tokens_forwarded += k * L;
      at::Tensor logits = ctx.model.forward(fr).logits.squeeze(1).to(at::kFloat);  // [k, V]
      at::Tensor y = ctx.long_tensor(targets).unsqueeze(1);                        // [k, 1]
      at::Tensor ly = logits.gather(1, y);                                         // [k, 1]
      at::Tensor lp = at::log_softmax(logits, -1).gather(1, y).squeeze(1).to(at::kCPU, at::kDouble);  // [k]
      at::Tensor above = logits.gt(ly).sum(1).to(at::kCPU, at::kLong);                                 // [k]
      for (int64_t b = 0; b < k; ++b) {
        logp[order[r0 + static_cast<size_t>(b)]] = lp[b].item<double>();
        rank[order[r0 + static_cast<size_t>(b)]] = above[b].item<int64_t>();
      }
      r0 += static_cast<size_t>(k);
    }
  };

  constexpr double kEps = 1e-7;  // logit argument clamp: |logit| <= 16.1, never inf (Inseq #304)
  std::vector<double> importance, logp;
  std::vector<int64_t> rank;
  for (int64_t step = 0; step < req.max_probe_steps; ++step) {
    ctx.check_cancel();
    // 1. update every probe that has not converged
    std::vector<Row> rows;
    for (size_t ti = 0; ti < tasks.size(); ++ti) {
      Task& task = tasks[ti];
      if (task.done) continue;
      for (size_t k = 0; k < task.probes.size(); ++k) {
        Probe& probe = task.probes[k];
        if (probe.converged) continue;
        Row row = new_row(ti, k);
        for (size_t f = 0; f < task.features.size(); ++f) {
          if (probe.rng.uniform() < req.replacing_ratio) replace(task, f, probe, row);
        }
        rows.push_back(std::move(row));
      }
    }
    if (rows.empty()) break;
    run_rows(rows, logp, rank);
    for (size_t r = 0; r < rows.size(); ++r) {
      Task& task = tasks[rows[r].task];
      Probe& probe = task.probes[rows[r].probe];
      const double delta = std::exp(task.logp) - std::exp(logp[r]);  // p(y | x) - p(y | x~), in [-1, 1]
      for (size_t f = 0; f < task.features.size(); ++f) {
        const double s = rows[r].mask[f] ? delta : -delta;
        const double v = std::clamp(0.5 * s + 0.5, kEps, 1.0 - kEps);
        probe.scores[f] += std::log(v) - std::log1p(-v);
      }
    }
    // 2. stopping test on the updated scores: keep the top features, replace the rest
    for (Row& row : rows) {
      Task& task = tasks[row.task];
      Probe& probe = task.probes[row.probe];
      const size_t m = task.features.size();
      const size_t top = std::min(m, req.keep_top_n > 0 ? static_cast<size_t>(req.keep_top_n)
                                                       : static_cast<size_t>(std::ceil(req.keep_ratio * static_cast<double>(m))));
      std::vector<size_t> order(m);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return probe.scores[a] > probe.scores[b]; });
      const auto& ids = ex[task.e].host_ids;
      std::copy(ids.begin(), ids.begin() + task.t, row.ids.begin());
      std::fill(row.mask.begin(), row.mask.end(), 0);
      for (size_t q = 0; q < m; ++q) {
        if ((q < top) == req.invert_keep) replace(task, order[q], probe, row);
      }
    }
    run_rows(rows, logp, rank);
    for (size_t r = 0; r < rows.size(); ++r) {
      if (rank[r] < req.stopping_top_k) tasks[rows[r].task].probes[rows[r].probe].converged = true;
    }
    for (Task& task : tasks) {
      if (task.done) continue;
      task.done = std::all_of(task.probes.begin(), task.probes.end(), [](const Probe& p) { return p.converged; });
      if (task.done) ctx.progress(1);
    }
  }

  // ---- mean importance over the converged probes (none: over all probes) ----
  std::vector<at::Tensor> out(ex.size());
  converged_probes.assign(ex.size(), at::Tensor());
  for (size_t i = 0; i < ex.size(); ++i) {
    out[i] = ctx.host_result({ex[i].n, ex[i].steps()}, kNaN);
    converged_probes[i] = at::zeros({ex[i].steps()}, at::kFloat);
  }
  for (Task& task : tasks) {
    const Example& e = ex[task.e];
    int64_t n_conv = 0;
    for (const Probe& p : task.probes) n_conv += p.converged ? 1 : 0;
    const bool all = n_conv == 0;
    std::vector<double> mean(task.features.size(), 0.0);
    for (const Probe& p : task.probes) {
      if (!all && !p.converged) continue;
      softmax(p.scores, importance);
      for (size_t f = 0; f < mean.size(); ++f) mean[f] += importance[f];
    }
    const double count = static_cast<double>(all ? P : n_conv);
    at::Tensor col = out[task.e].select(1, task.j);  // [n]
    const int64_t feature_end = e.src > 0 && !req.attribute_target ? e.src : task.t;
    col.slice(0, 0, feature_end).fill_(0);
    auto acc = col.accessor<float, 1>();
    for (size_t f = 0; f < mean.size(); ++f) acc[task.features[f]] = static_cast<float>(mean[f] / count);
    converged_probes[task.e][task.j] = static_cast<float>(task.features.empty() ? P : n_conv);
    if (!task.done) ctx.progress(1);
  }
  return out;
}

}  // namespace inseq::attribution::detail
