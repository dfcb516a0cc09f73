#include "attribution/dig_paths.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "core/files.h"

namespace inseq::attribution::dig {

using core::Error;
using core::ErrorCode;

Strategy parse_strategy(const std::string& name) {
  if (name == "greedy") return Strategy::kGreedy;
  if (name == "maxcount") return Strategy::kMaxCount;
  throw Error(ErrorCode::kInvalidOption, "Expected \"greedy\" or \"maxcount\" for method but received \"" + name + "\"");
}

// ---- kNN graph ------------------------------------------------------------------------------------------------

namespace {
constexpr int64_t kBlockElements = int64_t{1} << 24;  // elements of one block's distance / gather tensors
constexpr int64_t kMargin = 8;                        // extra float32 candidates re-ranked in float64
}  // namespace

KnnGraph build_knn(const at::Tensor& vocab_in, int64_t k, const std::function<void()>& poll) {
  if (vocab_in.dim() != 2) throw Error(ErrorCode::kInternal, "DIG: the vocabulary table must be [V, H]");
  const int64_t V = vocab_in.size(0), H = vocab_in.size(1);
  if (k < 1 || k >= V) {
    throw Error(ErrorCode::kInvalidOption, "Expected an integer between 1 and " + std::to_string(V - 1) +
                                               " (the vocabulary size - 1) for nNeighbors but received " + std::to_string(k));
  }
  at::Tensor vocab = vocab_in.to(at::kFloat).contiguous();  // [V, H]
  // [V] |b|^2 in float64, by blocks (no float64 copy of the whole table)
  std::vector<at::Tensor> sq_blocks;
  const int64_t sq_rows = std::max<int64_t>(1, kBlockElements / H);
  for (int64_t r0 = 0; r0 < V; r0 += sq_rows) sq_blocks.push_back(vocab.slice(0, r0, std::min(V, r0 + sq_rows)).to(at::kDouble).pow(2).sum(1));
  at::Tensor sq = at::cat(sq_blocks, 0);
  const int64_t c = std::min(V, k + 1 + kMargin);           // candidates per row
  const int64_t block = std::max<int64_t>(1, std::min(kBlockElements / V, kBlockElements / (c * H)));
  std::vector<at::Tensor> idx_blocks, dist_blocks;
  for (int64_t r0 = 0; r0 < V; r0 += block) {
    if (poll) poll();
    const int64_t r1 = std::min(V, r0 + block), b = r1 - r0;
    at::Tensor rows = vocab.slice(0, r0, r1);  // [b, H]
    // float32 screen: |a|^2 + |b|^2 - 2 a.b, the c smallest per row (self included)
    at::Tensor d32 = sq.slice(0, r0, r1).to(at::kFloat).unsqueeze(1).add(sq.to(at::kFloat).unsqueeze(0)).sub(rows.matmul(vocab.t()).mul(2.0));  // [b, V]
    at::Tensor cand = std::get<1>(d32.topk(c, 1, /*largest=*/false, /*sorted=*/false));  // [b, c]
    // index order first, so that the stable sort by distance below breaks ties by the lower index
    cand = std::get<0>(cand.sort(1));
    // exact float64 distances of the candidates
    at::Tensor diff = vocab.index_select(0, cand.reshape(-1)).view({b, c, H}).to(at::kDouble).sub(rows.to(at::kDouble).unsqueeze(1));  // [b, c, H]
    at::Tensor d64 = diff.pow(2).sum(2);                                                                                              // [b, c]
    at::Tensor self = cand.eq(at::arange(r0, r1, cand.options()).unsqueeze(1));
    d64 = d64.masked_fill(self, std::numeric_limits<double>::infinity());
    auto sorted = at::sort(d64, /*stable=*/true, /*dim=*/1, /*descending=*/false);
    at::Tensor order = std::get<1>(sorted).slice(1, 0, k);  // [b, k]
    idx_blocks.push_back(cand.gather(1, order));
    dist_blocks.push_back(std::get<0>(sorted).slice(1, 0, k).sqrt().to(at::kFloat));
  }
  return {at::cat(idx_blocks, 0), at::cat(dist_blocks, 0)};
}

uint64_t fingerprint(const at::Tensor& vocab) {
  at::Tensor t = vocab.to(at::kCPU, at::kFloat).contiguous();  // [V, H]
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t h = 14695981039346656037ULL;
  auto mix = [&](uint64_t w) {
    h ^= w;
    h *= kPrime;
    h ^= h >> 29;
  };
  for (int64_t d = 0; d < t.dim(); ++d) mix(static_cast<uint64_t>(t.size(d)));
  const auto* bytes = static_cast<const unsigned char*>(t.data_ptr());
  const size_t n = t.nbytes();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  if (i < n) std::memcpy(&tail, bytes + i, n - i);
  mix(tail);
  return h;
}

// ---- cache file -------------------------------------------------------------------------------------------------
// Layout (little-endian, as written by this host): "INSEQKNN" | u32 version | u32 0 | u64 fingerprint | i64 V |
// i64 k | i64 H | i64 indices [V, k] | f32 distances [V, k] | u64 checksum of the two arrays.

namespace {
constexpr char kMagic[8] = {'I', 'N', 'S', 'E', 'Q', 'K', 'N', 'N'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8 + 8 + 8;

uint64_t checksum(const unsigned char* p, size_t n, uint64_t h = 1469598103934665603ULL) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

void make_dirs(const std::string& dir) {
  if (dir.empty() || core::is_directory(dir)) return;
  const size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(dir.substr(0, slash));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    throw Error(ErrorCode::kInvalidOption, "Cannot create the DIG kNN cache directory " + dir + ": " + std::strerror(errno));
  }
}
}  // namespace

std::string cache_file(const std::string& dir, uint64_t fp, int64_t k) {
  char name[64];
  std::snprintf(name, sizeof name, "%016llx-k%lld.bin", static_cast<unsigned long long>(fp), static_cast<long long>(k));
  return core::join_path(dir, name);
}

bool read_cache(const std::string& path, uint64_t fp, int64_t V, int64_t k, int64_t H, KnnGraph* out) {
  try {
    if (!core::path_exists(path)) return false;
    const size_t n = static_cast<size_t>(V * k);
    const size_t expected = kHeaderBytes + n * 8 + n * 4 + 8;
    if (core::file_size(path) != expected) return false;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    std::vector<unsigned char> buf(expected);
    const size_t got = std::fread(buf.data(), 1, expected, f);
    std::fclose(f);
    if (got != expected) return false;
    const unsigned char* p = buf.data();
    if (std::memcmp(p, kMagic, 8) != 0) return false;
    uint32_t version;
    uint64_t file_fp;
    int64_t fV, fk, fH;
    std::memcpy(&version, p + 8, 4);
    std::memcpy(&file_fp, p + 16, 8);
    std::memcpy(&fV, p + 24, 8);
    std::memcpy(&fk, p + 32, 8);
    std::memcpy(&fH, p + 40, 8);
    if (version != kVersion || file_fp != fp || fV != V || fk != k || fH != H) return false;
    const unsigned char* payload = p + kHeaderBytes;
    uint64_t sum;
    std::memcpy(&sum, payload + n * 12, 8);
    if (checksum(payload, n * 12) != sum) return false;
    at::Tensor idx = at::empty({V, k}, at::kLong);
    at::Tensor dist = at::empty({V, k}, at::kFloat);
    std::memcpy(idx.data_ptr(), payload, n * 8);
    std::memcpy(dist.data_ptr(), payload + n * 8, n * 4);
    // indices in range and never the row itself; distances finite, non-negative and ascending
    if (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= V) return false;
    if (idx.eq(at::arange(V, at::kLong).unsqueeze(1)).any().item<bool>()) return false;
    if (!dist.isfinite().all().item<bool>() || dist.lt(0).any().item<bool>()) return false;
    if (k > 1 && dist.slice(1, 1, k).lt(dist.slice(1, 0, k - 1)).any().item<bool>()) return false;
    *out = {idx, dist};
    return true;
  } catch (...) {
    return false;
  }
}

void write_cache(const std::string& path, uint64_t fp, int64_t H, const KnnGraph& graph) {
  at::Tensor idx = graph.indices.to(at::kCPU, at::kLong).contiguous();
  at::Tensor dist = graph.distances.to(at::kCPU, at::kFloat).contiguous();
  const int64_t V = idx.size(0), k = idx.size(1);
  const size_t n = static_cast<size_t>(V * k);
  std::vector<unsigned char> buf(kHeaderBytes + n * 12 + 8, 0);
  unsigned char* p = buf.data();
  std::memcpy(p, kMagic, 8);
  std::memcpy(p + 8, &kVersion, 4);
  std::memcpy(p + 16, &fp, 8);
  std::memcpy(p + 24, &V, 8);
  std::memcpy(p + 32, &k, 8);
  std::memcpy(p + 40, &H, 8);
  unsigned char* payload = p + kHeaderBytes;
  std::memcpy(payload, idx.data_ptr(), n * 8);
  std::memcpy(payload + n * 8, dist.data_ptr(), n * 4);
  const uint64_t sum = checksum(payload, n * 12);
  std::memcpy(payload + n * 12, &sum, 8);

  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) make_dirs(path.substr(0, slash));
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." + std::to_string(counter++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(ErrorCode::kInvalidOption, "Cannot write the DIG kNN cache file " + tmp + ": " + std::strerror(errno));
  const size_t put = std::fwrite(buf.data(), 1, buf.size(), f);
  const bool ok = put == buf.size() && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  std::fclose(f);
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kInvalidOption, "Cannot write the DIG kNN cache file " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kInvalidOption, "Cannot move the DIG kNN cache file into place at " + path + ": " + std::strerror(errno));
  }
}

KnnGraph load_or_build(const at::Tensor& vocab, const KnnOptions& o, KnnSource* source) {
  const int64_t V = vocab.size(0), H = vocab.size(1);
  if (o.k < 1 || o.k >= V) {
    throw Error(ErrorCode::kInvalidOption, "Expected an integer between 1 and " + std::to_string(V - 1) +
                                               " (the vocabulary size - 1) for nNeighbors but received " + std::to_string(o.k));
  }
  std::string path;
  uint64_t fp = 0;
  if (!o.cache_dir.empty()) {
    fp = fingerprint(vocab);
    path = cache_file(o.cache_dir, fp, o.k);
    KnnGraph g;
    if (!o.overwrite && read_cache(path, fp, V, o.k, H, &g)) {
      if (source) *source = KnnSource::kCache;
      return {g.indices.to(vocab.device()), g.distances.to(vocab.device())};
    }
  }
  KnnGraph g = build_knn(vocab, o.k, o.poll);
  if (!path.empty() && o.save) write_cache(path, fp, H, g);
  if (source) *source = KnnSource::kBuilt;
  return g;
}

// ---- monotonic paths --------------------------------------------------------------------------------------------

at::Tensor monotonic_dims(const at::Tensor& a, const at::Tensor& b, const at::Tensor& x) {
  at::Tensor up = b.gt(x).logical_and(b.ge(a)).logical_and(a.ge(x));
  at::Tensor down = b.lt(x).logical_and(b.le(a)).logical_and(a.le(x));
  at::Tensor flat = b.eq(x).logical_and(b.eq(a)).logical_and(a.eq(x));
  return up.logical_or(down).logical_or(flat);
}

at::Tensor make_monotonic(const at::Tensor& a, const at::Tensor& b, const at::Tensor& x, int64_t n_steps) {
  // x - (1 / n) * (x - b), in that order (Inseq's float32 arithmetic)
  at::Tensor step = x.sub(x.sub(b).mul(1.0 / static_cast<double>(n_steps)));
  return at::where(monotonic_dims(a, b, x), a, step);
}

at::Tensor word_paths(const KnnGraph& graph, const at::Tensor& vocab_in, const at::Tensor& words_in, const at::Tensor& baselines_in,
                      const at::Tensor& special_in, int64_t n_steps, Strategy strategy, const std::function<void()>& poll) {
  if (n_steps < 2) throw Error(ErrorCode::kInvalidOption, "Expected an integer >= 2 for nSteps but received " + std::to_string(n_steps));
  const c10::Device dev = vocab_in.device();
  at::Tensor vocab = vocab_in.to(at::kFloat);                       // [V, H]
  at::Tensor knn = graph.indices.to(dev, at::kLong);               // [V, k]
  at::Tensor words = words_in.to(dev, at::kLong);                  // [T]
  at::Tensor bases = baselines_in.to(dev, at::kLong);              // [T]
  at::Tensor special = special_in.to(dev, at::kBool);              // [T]
  const int64_t T = words.size(0), k = knn.size(1), H = vocab.size(1), P = n_steps - 1;
  at::Tensor out = at::empty({T, P}, words.options());  // [T, P]
  if (T == 0) return out;
  const int64_t chunk = std::max<int64_t>(1, kBlockElements / (k * H));
  at::Tensor rank = at::arange(k, 0, -1, words.options());  // [k]: k .. 1, the first of equal scores wins
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    const int64_t t1 = std::min(T, t0 + chunk), n = t1 - t0;
    at::Tensor w = words.slice(0, t0, t1), b = bases.slice(0, t0, t1), sp = special.slice(0, t0, t1);
    at::Tensor path = out.slice(0, t0, t1);  // [n, P] view
    path.select(1, 0).copy_(w);
    at::Tensor bv = vocab.index_select(0, b).unsqueeze(1);  // [n, 1, H]
    at::Tensor cur = w;
    for (int64_t h = 1; h < P; ++h) {
      if (poll) poll();
      at::Tensor cand = knn.index_select(0, cur);                                                   // [n, k]
      at::Tensor taken = cand.unsqueeze(2).eq(path.slice(1, 0, h).unsqueeze(1)).any(2).logical_or(cand.eq(b.unsqueeze(1)));  // [n, k]
      at::Tensor av = vocab.index_select(0, cand.reshape(-1)).view({n, k, H});                     // [n, k, H]
      at::Tensor xv = vocab.index_select(0, cur).unsqueeze(1);                                     // [n, 1, H]
      at::Tensor score;                                                                            // [n, k] float32
      if (strategy == Strategy::kGreedy) {
        score = av.sub(make_monotonic(av, bv, xv, n_steps)).pow(2).sum(2).sqrt();
      } else {
        score = monotonic_dims(av, bv, xv).sum(2).neg().add(10000).to(at::kFloat);
      }
      score = score.masked_fill(taken, std::numeric_limits<float>::infinity());
      at::Tensor best = std::get<0>(score.min(1, /*keepdim=*/true));                         // [n, 1]
      at::Tensor is_best = score.eq(best).logical_and(taken.logical_not());                   // [n, k]
      at::Tensor first = is_best.to(at::kLong).mul(rank).argmax(1, /*keepdim=*/true);         // [n, 1]
      at::Tensor next = cand.gather(1, first).squeeze(1);                                      // [n]
      next = at::where(is_best.any(1), next, b);       // no neighbour left: the baseline
      next = at::where(cur.eq(b), b, next);            // the baseline reached: it stays
      next = at::where(sp, w, next);                   // special tokens: constant
      path.select(1, h).copy_(next);
      cur = next;
    }
  }
  return out;
}

at::Tensor path_embeddings(const at::Tensor& vocab_in, const at::Tensor& paths, const at::Tensor& baselines, int64_t n_steps) {
  const c10::Device dev = vocab_in.device();
  at::Tensor vocab = vocab_in.to(at::kFloat);                                      // [V, H]
  at::Tensor p = paths.to(dev, at::kLong);                                         // [T, n_steps - 1]
  at::Tensor bv = vocab.index_select(0, baselines.to(dev, at::kLong));             // [T, H]
  std::vector<at::Tensor> points(static_cast<size_t>(n_steps));
  at::Tensor prev = vocab.index_select(0, p.select(1, 0));                         // [T, H] the word
  points[static_cast<size_t>(n_steps - 1)] = prev;
  for (int64_t h = 1; h < n_steps - 1; ++h) {
    prev = make_monotonic(vocab.index_select(0, p.select(1, h)), bv, prev, n_steps);
    points[static_cast<size_t>(n_steps - 1 - h)] = prev;
  }
  points[0] = bv;
  return at::stack(points, 0).to(vocab_in.scalar_type());  // [n_steps, T, H]
}

}  // namespace inseq::attribution::dig
