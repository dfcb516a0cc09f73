// Discretized integrated gradients (DIG, Sanyal & Ren 2021): the kNN graph over the vocabulary embeddings, its
// on-disk cache, and the monotonic paths from each input token's embedding to its baseline's. No model, no
// engine: the paths depend only on a vocabulary table [V, H] and (word, baseline) ids, so this file is tested on
// its own (native/tests/dig_tests.cc). The engine's use of it is dig_schedule.cc.
//
// Semantics as Python Inseq 0.7.1 (inseq/attr/feat/ops/monotonic_path_builder.py), computed for every token at
// once on the vocabulary table's device:
//   - kNN: for each vocabulary row its k nearest other rows by Euclidean distance, nearest first (sklearn's
//     kneighbors_graph order); rows at equal distance in index order.
//   - word path (n_steps - 1 ids): the word, then n_steps - 2 anchors; each anchor is, among the kNN neighbours of
//     the previous anchor that are neither in the path yet nor the baseline, the one with the lowest score:
//     greedy = |a - monotonize(a)| (Euclidean), maxcount = 10000 - (number of monotonic dimensions). Equal scores
//     go to the neighbour nearest the previous anchor (Inseq's stable sort over the kNN row). No neighbour left,
//     or the previous anchor is the baseline: the baseline. Special tokens: the word n_steps - 1 times.
//   - monotonize(a; b, x): the dimensions where a is not between x and b (inclusive) become x - (x - b) / n_steps.
//   - path embeddings (n_steps points): the baseline embedding, then the monotonized anchors in reverse, each
//     monotonized against the previous point of the chain (starting at the word), the word's embedding last.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>

namespace inseq::attribution::dig {

enum class Strategy { kGreedy, kMaxCount };
// "greedy" | "maxcount" (Inseq's `method` attribution argument); anything else is ERR_INVALID_OPTION.
Strategy parse_strategy(const std::string& name);

struct KnnGraph {
  at::Tensor indices;    // [V, k] int64: neighbours of each row, nearest first
  at::Tensor distances;  // [V, k] float32: their Euclidean distances
};

// Brute force on vocab's device: squared distances in float64 from row blocks (|a|^2 + |b|^2 - 2 a.b), top k + 1,
// the row itself dropped. 1 <= k < V. The result lives on vocab's device.
// `poll` (optional) runs between row blocks: cancellation checks and progress heartbeats of the caller.
KnnGraph build_knn(const at::Tensor& vocab, int64_t k, const std::function<void()>& poll = nullptr);  // vocab [V, H]

// 64-bit hash of the table's shape and float32 values (FNV-1a over 8-byte words): the cache key.
uint64_t fingerprint(const at::Tensor& vocab);

// <dir>/<fingerprint as 16 hex digits>-k<k>.bin
std::string cache_file(const std::string& dir, uint64_t fingerprint, int64_t k);
// A cache file holding the graph of exactly this table (fingerprint, V, k, H) with an intact checksum and valid
// indices, else false (missing, truncated, corrupt, another table): never throws, never trusts a bad file.
bool read_cache(const std::string& path, uint64_t fingerprint, int64_t V, int64_t k, int64_t H, KnnGraph* out);
// Writes a temporary file next to `path` and renames it over `path` (readers see the old or the new file, never
// half of one); creates missing directories. Throws ERR_INVALID_OPTION naming the path when it cannot write.
void write_cache(const std::string& path, uint64_t fingerprint, int64_t H, const KnnGraph& graph);

struct KnnOptions {
  int64_t k = 50;             // nNeighbors (Inseq n_neighbors)
  std::string cache_dir;      // empty: no cache file read or written
  bool save = true;           // saveCache: write the graph after building it
  bool overwrite = false;     // overwriteCache: rebuild even when a valid cache file exists
  std::function<void()> poll; // between blocks of the build (cancellation, heartbeats)
};
enum class KnnSource { kBuilt, kCache };
// The graph of `vocab`: from the cache file when one is valid (unless overwrite), else built (and saved with
// `save`). The result is on vocab's device.
KnnGraph load_or_build(const at::Tensor& vocab, const KnnOptions& options, KnnSource* source = nullptr);

// [..., H] bool: a is between x and b in each dimension (b > x: b >= a >= x; b < x: b <= a <= x; b == x: a == b).
at::Tensor monotonic_dims(const at::Tensor& anchor, const at::Tensor& baseline, const at::Tensor& input);
// [..., H]: anchor with its non-monotonic dimensions set to x - (x - b) / n_steps.
at::Tensor make_monotonic(const at::Tensor& anchor, const at::Tensor& baseline, const at::Tensor& input, int64_t n_steps);

// Word paths of T tokens: [T, n_steps - 1] int64 (column 0 the word). words, baselines [T] int64; special [T] bool.
at::Tensor word_paths(const KnnGraph& graph, const at::Tensor& vocab, const at::Tensor& words, const at::Tensor& baselines,
                      const at::Tensor& special, int64_t n_steps, Strategy strategy, const std::function<void()>& poll = nullptr);
// Path embeddings: [n_steps, T, H] in vocab's dtype; point 0 = vocab[baseline], point n_steps - 1 = vocab[word].
at::Tensor path_embeddings(const at::Tensor& vocab, const at::Tensor& paths, const at::Tensor& baselines, int64_t n_steps);

}  // namespace inseq::attribution::dig
