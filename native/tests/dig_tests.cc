// Discretized integrated gradients: the kNN graph against brute force, its cache (round trip, corrupt files
// rebuilt), the vectorised path builder against a scalar transcription of Inseq's loop (both strategies), path
// invariants (ends, monotonicity), and the method in the engine (batched == single, completeness bookkeeping).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "attribution/dig_paths.h"
#include "attribution/engine.h"
#include "core/error.h"
#include "core/files.h"
#include "models/causal_lm.h"
#include "tests/test.h"

namespace a = inseq::attribution;
namespace dig = inseq::attribution::dig;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

at::Tensor random_table(int64_t V, int64_t H, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn({V, H}, at::kFloat).to(t::test_device());
}

// Brute force: every other row by float64 distance, nearest first, ties by index.
std::vector<std::vector<int64_t>> brute_knn(const at::Tensor& vocab, int64_t k) {
  at::Tensor v = vocab.to(at::kCPU, at::kDouble).contiguous();
  const int64_t V = v.size(0), H = v.size(1);
  const double* p = v.data_ptr<double>();
  std::vector<std::vector<int64_t>> out(V);
  for (int64_t i = 0; i < V; ++i) {
    std::vector<std::pair<double, int64_t>> d;
    for (int64_t j = 0; j < V; ++j) {
      if (j == i) continue;
      double s = 0;
      for (int64_t h = 0; h < H; ++h) s += (p[i * H + h] - p[j * H + h]) * (p[i * H + h] - p[j * H + h]);
      d.push_back({s, j});
    }
    std::sort(d.begin(), d.end());
    for (int64_t q = 0; q < k; ++q) out[i].push_back(d[q].second);
  }
  return out;
}

// Inseq's MonotonicPathBuilder.find_path, one token at a time on float vectors (a transcription of its loop).
using Vec = std::vector<float>;
Vec row(const at::Tensor& vocab_cpu, int64_t i) {
  const int64_t H = vocab_cpu.size(1);
  const float* p = vocab_cpu.data_ptr<float>() + i * H;
  return Vec(p, p + H);
}
bool between(float a, float b, float x) { return (b > x && b >= a && a >= x) || (b < x && b <= a && a <= x) || (b == x && b == a && a == x); }
Vec monotonize(const Vec& a, const Vec& b, const Vec& x, int64_t n) {
  Vec out = a;
  for (size_t h = 0; h < a.size(); ++h)
    if (!between(a[h], b[h], x[h])) out[h] = x[h] - static_cast<float>(1.0 / static_cast<double>(n)) * (x[h] - b[h]);
  return out;
}
std::vector<int64_t> naive_path(const at::Tensor& vocab_cpu, const std::vector<std::vector<int64_t>>& knn, int64_t word, int64_t base, bool special,
                                int64_t n_steps, bool greedy) {
  if (special) return std::vector<int64_t>(n_steps - 1, word);
  std::vector<int64_t> path = {word};
  int64_t cur = word;
  for (int64_t s = 0; s < n_steps - 2; ++s) {
    if (cur == base) {
      path.push_back(base);
      continue;
    }
    const Vec bv = row(vocab_cpu, base), xv = row(vocab_cpu, cur);
    std::vector<std::pair<float, int64_t>> scored;  // in kNN order; stable sort by score
    for (int64_t c : knn[cur]) {
      if (c == base || std::find(path.begin(), path.end(), c) != path.end()) continue;
      const Vec av = row(vocab_cpu, c);
      float score;
      if (greedy) {
        const Vec mv = monotonize(av, bv, xv, n_steps);
        float acc = 0;
        for (size_t h = 0; h < av.size(); ++h) acc += (av[h] - mv[h]) * (av[h] - mv[h]);
        score = std::sqrt(acc);
      } else {
        int count = 0;
        for (size_t h = 0; h < av.size(); ++h) count += between(av[h], bv[h], xv[h]) ? 1 : 0;
        score = static_cast<float>(10000 - count);
      }
      scored.push_back({score, c});
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
    cur = scored.empty() ? base : scored.front().second;
    path.push_back(cur);
  }
  return path;
}

std::string temp_dir() { return inseq::core::make_temp_dir("inseq-dig-test"); }

}  // namespace

TEST(dig_knn_equals_brute_force_on_a_tiny_table) {
  for (int64_t k : {1, 5, 12}) {
    at::Tensor vocab = random_table(37, 6, 11);
    dig::KnnGraph g = dig::build_knn(vocab, k);
    ASSERT_EQ(g.indices.size(0), 37);
    ASSERT_EQ(g.indices.size(1), k);
    const auto want = brute_knn(vocab, k);
    at::Tensor idx = g.indices.to(at::kCPU);
    at::Tensor dist = g.distances.to(at::kCPU);
    at::Tensor v = vocab.to(at::kCPU, at::kDouble);
    for (int64_t i = 0; i < 37; ++i)
      for (int64_t q = 0; q < k; ++q) {
        ASSERT_EQ(idx[i][q].item<int64_t>(), want[i][q]);
        ASSERT_NEAR(dist[i][q].item<double>(), (v[i] - v[want[i][q]]).norm().item<double>(), 1e-5);
      }
  }
  // ties: duplicated rows are at distance 0 and come in index order; the row itself never appears
  at::Tensor vocab = random_table(10, 4, 3).to(at::kCPU);
  vocab[7].copy_(vocab[2]);
  vocab[9].copy_(vocab[2]);
  dig::KnnGraph g = dig::build_knn(vocab.to(t::test_device()), 3);
  at::Tensor idx = g.indices.to(at::kCPU);
  ASSERT_EQ(idx[2][0].item<int64_t>(), 7);
  ASSERT_EQ(idx[2][1].item<int64_t>(), 9);
  ASSERT_EQ(idx[7][0].item<int64_t>(), 2);
  ASSERT_EQ(idx[7][1].item<int64_t>(), 9);
  ASSERT_THROWS_CODE(dig::build_knn(vocab, 10), inseq::core::ErrorCode::kInvalidOption, "nNeighbors");
}

TEST(dig_knn_cache_round_trip_and_corrupt_files_are_rebuilt) {
  const std::string dir = temp_dir() + "/nested/dig-knn";
  at::Tensor vocab = random_table(50, 8, 5);
  dig::KnnOptions o;
  o.k = 6;
  o.cache_dir = dir;
  dig::KnnSource src;
  dig::KnnGraph built = dig::load_or_build(vocab, o, &src);
  ASSERT_TRUE(src == dig::KnnSource::kBuilt);
  const uint64_t fp = dig::fingerprint(vocab);
  const std::string file = dig::cache_file(dir, fp, 6);
  ASSERT_TRUE(inseq::core::path_exists(file));
  dig::KnnGraph cached = dig::load_or_build(vocab, o, &src);
  ASSERT_TRUE(src == dig::KnnSource::kCache);
  ASSERT_TRUE(at::equal(cached.indices.cpu(), built.indices.cpu()));
  ASSERT_TRUE(at::equal(cached.distances.cpu(), built.distances.cpu()));
  // another table (one value changed) has another key; the same file read for it is refused
  at::Tensor other = vocab.clone();
  other[3][2].add_(1e-3);
  ASSERT_TRUE(dig::fingerprint(other) != fp);
  dig::KnnGraph g;
  ASSERT_TRUE(!dig::read_cache(file, dig::fingerprint(other), 50, 6, 8, &g));
  ASSERT_TRUE(!dig::read_cache(file, fp, 50, 5, 8, &g));
  // a flipped payload byte: checksum mismatch, rebuilt and rewritten
  std::string bytes = inseq::core::read_text_file(file);
  bytes[100] = static_cast<char>(bytes[100] ^ 0x5a);
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  ASSERT_TRUE(!dig::read_cache(file, fp, 50, 6, 8, &g));
  dig::KnnGraph rebuilt = dig::load_or_build(vocab, o, &src);
  ASSERT_TRUE(src == dig::KnnSource::kBuilt);
  ASSERT_TRUE(at::equal(rebuilt.indices.cpu(), built.indices.cpu()));
  ASSERT_TRUE(dig::read_cache(file, fp, 50, 6, 8, &g));  // the rewritten file is valid again
  // a truncated file, and a well-formed file whose indices point at the row itself (checksum recomputed)
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size() / 2, f);
    std::fclose(f);
  }
  ASSERT_TRUE(!dig::read_cache(file, fp, 50, 6, 8, &g));
  dig::KnnGraph bad = built;
  bad.indices = built.indices.cpu().clone();
  bad.indices[4][0] = 4;
  dig::write_cache(file, fp, 8, bad);
  ASSERT_TRUE(!dig::read_cache(file, fp, 50, 6, 8, &g));
  // overwrite rebuilds even over a valid file; save=false writes nothing
  dig::write_cache(file, fp, 8, built);
  o.overwrite = true;
  dig::load_or_build(vocab, o, &src);
  ASSERT_TRUE(src == dig::KnnSource::kBuilt);
  o.overwrite = false;
  o.save = false;
  o.k = 7;
  dig::load_or_build(vocab, o, &src);
  ASSERT_TRUE(!inseq::core::path_exists(dig::cache_file(dir, fp, 7)));
  inseq::core::remove_tree(dir);
}

TEST(dig_word_paths_equal_inseqs_loop_for_both_strategies) {
  // a small table with few dimensions: maxcount ties are frequent, so the tie rule is exercised
  at::Tensor vocab = random_table(60, 3, 21);
  const int64_t k = 8, n_steps = 9;
  dig::KnnGraph g = dig::build_knn(vocab, k);
  at::Tensor vcpu = vocab.to(at::kCPU).contiguous();
  const auto knn = brute_knn(vocab, k);
  std::vector<int64_t> words, bases;
  std::vector<int64_t> special;
  for (int64_t w = 0; w < 60; ++w) {
    words.push_back(w);
    bases.push_back(w % 7 == 0 ? w : 0);  // a few tokens are their own baseline
    special.push_back(w == 5 || w == 17 ? 1 : 0);
  }
  at::Tensor W = at::tensor(words, at::kLong), B = at::tensor(bases, at::kLong), S = at::tensor(special, at::kLong).to(at::kBool);
  for (bool greedy : {true, false}) {
    at::Tensor paths = dig::word_paths(g, vocab, W, B, S, n_steps, greedy ? dig::Strategy::kGreedy : dig::Strategy::kMaxCount).cpu();
    ASSERT_EQ(paths.size(1), n_steps - 1);
    for (int64_t i = 0; i < 60; ++i) {
      const auto want = naive_path(vcpu, knn, words[i], bases[i], special[i] != 0, n_steps, greedy);
      for (int64_t h = 0; h < n_steps - 1; ++h) ASSERT_EQ(paths[i][h].item<int64_t>(), want[h]);
    }
  }
}

TEST(dig_path_embeddings_end_at_baseline_and_word_and_are_monotonic) {
  at::Tensor vocab = random_table(80, 16, 7);
  const int64_t n_steps = 12;
  dig::KnnGraph g = dig::build_knn(vocab, 10);
  std::vector<int64_t> words(80), bases(80, 1), special(80, 0);
  std::iota(words.begin(), words.end(), 0);
  special[3] = 1;
  at::Tensor W = at::tensor(words, at::kLong), B = at::tensor(bases, at::kLong), S = at::tensor(special, at::kLong).to(at::kBool);
  for (auto strategy : {dig::Strategy::kGreedy, dig::Strategy::kMaxCount}) {
    at::Tensor paths = dig::word_paths(g, vocab, W, B, S, n_steps, strategy);
    at::Tensor P = dig::path_embeddings(vocab, paths, B, n_steps).cpu();  // [n_steps, T, H]
    at::Tensor v = vocab.cpu();
    ASSERT_EQ(P.size(0), n_steps);
    ASSERT_TRUE(at::equal(P[0], v.index_select(0, B)));                 // the baseline first
    ASSERT_TRUE(at::equal(P[n_steps - 1], v.index_select(0, W)));       // the word last
    at::Tensor word = P[n_steps - 1];
    for (int64_t q = 0; q + 1 < n_steps; ++q) {
      // every next point lies between the point and the word, dimension by dimension (Inseq's check_monotonic)
      ASSERT_TRUE(dig::monotonic_dims(P[q + 1], word, P[q]).all().item<bool>());
      // and every point between the baseline and the word
      ASSERT_TRUE(P[q].ge(at::minimum(P[0], word)).logical_and(P[q].le(at::maximum(P[0], word))).all().item<bool>());
    }
    // a special token: baseline, then the word at every other point
    for (int64_t q = 1; q < n_steps; ++q) ASSERT_TRUE(at::equal(P[q][3], v[3]));
    // the baseline's own path is constant
    for (int64_t q = 0; q < n_steps; ++q) ASSERT_TRUE(at::equal(P[q][1], v[1]));
  }
  ASSERT_THROWS_CODE(dig::parse_strategy("riemann_left"), inseq::core::ErrorCode::kInvalidOption, "greedy");
}

namespace {
std::shared_ptr<m::CausalLM> gpt2() { return m::load_causal_lm(t::repo_dir() + "/test/fixtures/reference/gpt2", t::test_device(), at::kFloat); }

a::AttributionRequest dig_request(const std::vector<std::vector<int64_t>>& seqs, const std::vector<int64_t>& starts, const std::string& cache) {
  a::AttributionRequest r;
  r.method = "discretized_integrated_gradients";
  r.granular = true;
  r.n_steps = 7;
  r.n_neighbors = 10;
  r.multiply_by_inputs = false;
  r.dig_cache_dir = cache;
  r.special_token_ids = {0};
  r.return_convergence_delta = true;
  for (size_t i = 0; i < seqs.size(); ++i) {
    r.sequences.push_back(seqs[i]);
    r.baselines.push_back(std::vector<int64_t>(seqs[i].size(), 0));
    r.attr_start.push_back(starts[i]);
    r.attr_end.push_back(static_cast<int64_t>(seqs[i].size()));
  }
  return r;
}
}  // namespace

TEST(dig_batched_equals_single_exactly) {
  auto model = gpt2();
  const std::string cache = temp_dir();
  const std::vector<std::vector<int64_t>> seqs = {{40, 76, 81, 90, 12, 33}, {5, 77, 120, 9}, {40, 76, 200, 201, 202, 7, 8}};
  const std::vector<int64_t> starts = {2, 1, 3};
  for (const std::string strategy : {"greedy", "maxcount"}) {
    a::AttributionRequest all = dig_request(seqs, starts, cache);
    all.dig_strategy = strategy;
    all.internal_batch_size = 5;  // rows of different examples and steps share batches
    const a::AttributionResult batched = a::attribute(*model, all);
    for (size_t i = 0; i < seqs.size(); ++i) {
      a::AttributionRequest one = dig_request({seqs[i]}, {starts[i]}, cache);
      one.dig_strategy = strategy;
      one.internal_batch_size = 1;
      const a::AttributionResult single = a::attribute(*model, one);
      at::Tensor x = batched.sequences[i].attributions, y = single.sequences[0].attributions;
      ASSERT_TRUE(x.sizes() == y.sizes());
      const double diff = x.sub(y).nan_to_num(0).abs().max().item<double>();
      ASSERT_TRUE(diff <= 1e-6 * std::max(1.0, y.nan_to_num(0).abs().max().item<double>()));
      ASSERT_TRUE(x.isnan().eq(y.isnan()).all().item<bool>());
    }
  }
  inseq::core::remove_tree(cache);
}

TEST(dig_deltas_are_the_sum_minus_the_change_of_f) {
  // Completeness bookkeeping: the deltas are sum(attributions) - (f(x) - f(baseline)), f(baseline) at the path's
  // first point. (Their size is not bounded: DIG is a left Riemann sum along jumps between vocabulary embeddings;
  // on this random tiny model the relative delta is above 1.)
  auto model = gpt2();
  const std::string cache = temp_dir();
  a::AttributionRequest r = dig_request({{40, 76, 81, 90, 12, 33, 61, 70}}, {2}, cache);
  r.n_steps = 30;
  const a::AttributionResult res = a::attribute(*model, r);
  const auto& s = res.sequences[0];
  at::Tensor sums = s.attributions.nan_to_num(0).sum(at::IntArrayRef{0, 2});  // [steps]
  at::Tensor deltas = s.step_scores.at("deltas"), scales = s.delta_scales;
  ASSERT_TRUE(at::allclose(deltas, sums.sub(scales), 1e-4, 1e-6));
  ASSERT_TRUE(scales.abs().min().item<double>() > 0);
  inseq::core::remove_tree(cache);
}

TEST(dig_with_two_points_is_the_first_order_term_of_integrated_gradients) {
  // nSteps = 2: the path is (baseline, input), one row at the baseline: grad f(x') . (x - x'), which is integrated
  // gradients with one riemann_left point (alpha 0, weight 1).
  auto model = gpt2();
  const std::string cache = temp_dir();
  a::AttributionRequest d = dig_request({{40, 76, 81, 90, 12, 33}, {5, 77, 120, 9}}, {2, 1}, cache);
  d.n_steps = 2;
  d.return_convergence_delta = false;
  a::AttributionRequest ig = d;
  ig.method = "integrated_gradients";
  ig.integration = "riemann_left";
  ig.n_steps = 1;
  ig.multiply_by_inputs = true;
  const a::AttributionResult x = a::attribute(*model, d), y = a::attribute(*model, ig);
  for (size_t i = 0; i < 2; ++i) {
    at::Tensor p = x.sequences[i].attributions, q = y.sequences[i].attributions;
    ASSERT_TRUE(p.isnan().eq(q.isnan()).all().item<bool>());
    ASSERT_TRUE(p.nan_to_num(0).sub(q.nan_to_num(0)).abs().max().item<double>() <= 1e-6);
    ASSERT_TRUE(p.nan_to_num(0).abs().max().item<double>() > 1e-6);
  }
  inseq::core::remove_tree(cache);
}

TEST(dig_schedules_agree_per_step_and_with_gradient_checkpointing) {
  // Inseq's schedule (one batch per generated step) and recomputed blocks give the batched schedule's result.
  auto model = gpt2();
  const std::string cache = temp_dir();
  a::AttributionRequest r = dig_request({{40, 76, 81, 90, 12, 33}, {5, 77, 120, 9}}, {2, 1}, cache);
  r.dig_strategy = "maxcount";
  const a::AttributionResult base = a::attribute(*model, r);
  a::AttributionRequest per_step = r;
  per_step.per_step_schedule = true;
  a::AttributionRequest checkpointed = r;
  checkpointed.checkpointing = "on";
  for (const a::AttributionRequest* other : {&per_step, &checkpointed}) {
    const a::AttributionResult res = a::attribute(*model, *other);
    for (size_t i = 0; i < 2; ++i) {
      at::Tensor p = base.sequences[i].attributions, q = res.sequences[i].attributions;
      ASSERT_TRUE(p.isnan().eq(q.isnan()).all().item<bool>());
      ASSERT_TRUE(p.nan_to_num(0).sub(q.nan_to_num(0)).abs().max().item<double>() <= 1e-5 * std::max(1.0, p.nan_to_num(0).abs().max().item<double>()));
    }
  }
  inseq::core::remove_tree(cache);
}

TEST(dig_knn_build_and_path_search_poll_between_blocks) {
  // The caller's poll runs between row blocks of the kNN build (a 5000-row table takes two) and between path hops,
  // so an abort lands inside a long build; what it throws propagates.
  at::Tensor vocab = random_table(5000, 4, 9);
  int calls = 0;
  dig::KnnGraph g = dig::build_knn(vocab, 3, [&] { ++calls; });
  ASSERT_TRUE(calls >= 2);
  ASSERT_THROWS_CODE(dig::build_knn(vocab, 3, [] { throw inseq::core::Error(inseq::core::ErrorCode::kAborted, "aborted"); }),
                     inseq::core::ErrorCode::kAborted, "aborted");
  calls = 0;
  at::Tensor w = at::arange(10, at::kLong), b = at::zeros({10}, at::kLong), s = at::zeros({10}, at::kBool);
  dig::word_paths(g, vocab, w, b, s, 6, dig::Strategy::kGreedy, [&] { ++calls; });
  ASSERT_EQ(calls, 4);  // n_steps - 2 hops
}
