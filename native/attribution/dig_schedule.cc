// Discretized integrated gradients in the gradient schedule: the path points of every token of every example,
// built once per call for all tokens together (dig_paths.h), before gradient_methods.cc packs its rows. A row
// (example, step, point k) runs the prefix at path point k of each token; its gradient is multiplied by the step
// to point k + 1 (dig_step) and summed over k = 0 .. n_steps - 2. The last point (the input) has no next point:
// Inseq runs it and multiplies its gradient by 0; we do not run it.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <functional>
#include <map>
#include <tuple>

#include "attribution/dig_paths.h"
#include "attribution/engine_context.h"
#include "core/error.h"
#include "models/encoder_decoder.h"

namespace inseq::attribution::detail {

namespace {

// The scaled embedding table of one side: [V, H] in the model's dtype on the device.
at::Tensor vocabulary_table(const EngineContext& ctx, bool source) {
  const auto& info = ctx.model.config();
  if (ctx.seq2seq) {
    const auto& s = ctx.seq2seq->info();
    const int64_t V = source ? s.source_vocab_size : s.vocab_size;
    at::Tensor ids = at::arange(V, at::TensorOptions().dtype(at::kLong).device(ctx.dev)).unsqueeze(0);  // [1, V]
    return (source ? ctx.seq2seq->embed_source(ids) : ctx.seq2seq->embed_target(ids)).squeeze(0);
  }
  at::Tensor ids = at::arange(info.vocab_size, at::TensorOptions().dtype(at::kLong).device(ctx.dev)).unsqueeze(0);
  return ctx.model.embed(ids).squeeze(0);
}

// Path points of the distinct (word, baseline, special) tokens of one side: [n_steps, U, H] float32.
at::Tensor side_points(EngineContext& ctx, const at::Tensor& vocab, const dig::KnnGraph& graph,
                       const std::vector<std::tuple<int64_t, int64_t, bool>>& tokens) {
  const AttributionRequest& r = ctx.req;
  std::vector<int64_t> words, bases;
  std::vector<uint8_t> special;
  for (const auto& [w, b, s] : tokens) {
    words.push_back(w);
    bases.push_back(b);
    special.push_back(s ? 1 : 0);
  }
  at::Tensor W = ctx.long_tensor(words), B = ctx.long_tensor(bases);
  at::Tensor S = at::tensor(std::vector<int64_t>(special.begin(), special.end()), at::kLong).to(ctx.dev).to(at::kBool);
  const std::function<void()> poll = [&ctx] {
    ctx.check_cancel();
    ctx.heartbeat();
  };
  at::Tensor paths = dig::word_paths(graph, vocab, W, B, S, r.n_steps, dig::parse_strategy(r.dig_strategy), poll);  // [U, n_steps - 1]
  return dig::path_embeddings(vocab.to(at::kFloat), paths, B, r.n_steps);                                  // [n_steps, U, H]
}

}  // namespace

std::vector<at::Tensor> dig_paths(EngineContext& ctx) {
  const AttributionRequest& r = ctx.req;
  auto& ex = ctx.ex;
  dig::parse_strategy(r.dig_strategy);  // an unknown strategy fails before any work
  if (r.n_steps < 2) throw core::Error(core::ErrorCode::kInvalidOption, "Expected an integer >= 2 for nSteps but received " + std::to_string(r.n_steps));
  c10::InferenceMode guard;
  const std::vector<int64_t>& sp = r.special_token_ids;
  auto is_special = [&](int64_t id) { return std::find(sp.begin(), sp.end(), id) != sp.end(); };
  // Distinct tokens per side (0 = target / decoder-only, 1 = source): a token's path depends on nothing else, so
  // each is built once and every example, batched or alone, reads the same points.
  using Key = std::tuple<int64_t, int64_t, bool>;
  std::map<Key, int64_t> index[2];
  std::vector<Key> tokens[2];
  std::vector<std::vector<std::pair<int, int64_t>>> slot(ex.size());  // per example and position: (side, token)
  for (size_t i = 0; i < ex.size(); ++i) {
    const Example& e = ex[i];
    if (e.host_base_ids.empty()) throw core::Error(core::ErrorCode::kInvalidOption, "discretized_integrated_gradients needs baselines");
    for (int64_t p = 0; p < e.n; ++p) {
      const int side = p < e.src ? 1 : 0;
      const int64_t w = e.host_ids[static_cast<size_t>(p)], b = e.host_base_ids[static_cast<size_t>(p)];
      const Key key{w, b, is_special(w)};
      auto it = index[side].find(key);
      if (it == index[side].end()) {
        it = index[side].emplace(key, static_cast<int64_t>(tokens[side].size())).first;
        tokens[side].push_back(key);
      }
      slot[i].push_back({side, it->second});
    }
  }
  dig::KnnOptions ko;
  ko.k = r.n_neighbors > 0 ? r.n_neighbors : 50;
  ko.cache_dir = r.dig_cache_dir;
  ko.save = r.dig_save_cache;
  ko.overwrite = r.dig_overwrite_cache;
  ko.poll = [&ctx] {
    ctx.check_cancel();
    ctx.heartbeat();
  };
  at::Tensor points[2];  // [n_steps, U, H] per side
  at::Tensor tables[2];
  dig::KnnGraph graphs[2];
  for (int side = 0; side < 2; ++side) {
    if (tokens[side].empty()) continue;
    tables[side] = vocabulary_table(ctx, side == 1);
    // encoder-decoders with one shared table (Marian, BART) use one graph for both sides
    const int other = 1 - side;
    if (tables[other].defined() && tables[other].sizes() == tables[side].sizes() && at::equal(tables[other], tables[side])) {
      graphs[side] = graphs[other];
    } else {
      graphs[side] = dig::load_or_build(tables[side].to(at::kFloat), ko);
    }
    points[side] = side_points(ctx, tables[side], graphs[side], tokens[side]);
  }
  std::vector<at::Tensor> out(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) {
    std::vector<at::Tensor> cols;  // per position [n_steps, H]
    // consecutive positions of one side as one index_select
    std::vector<int64_t> idx;
    int cur_side = -1;
    auto flush = [&] {
      if (idx.empty()) return;
      cols.push_back(points[cur_side].index_select(1, ctx.long_tensor(idx)));  // [n_steps, m, H]
      idx.clear();
    };
    for (const auto& [side, u] : slot[i]) {
      if (side != cur_side) {
        flush();
        cur_side = side;
      }
      idx.push_back(u);
    }
    flush();
    out[i] = at::cat(cols, 1).to(ctx.ex[i].ids.device());  // [n_steps, n, H] float32
  }
  return out;
}

}  // namespace inseq::attribution::detail
