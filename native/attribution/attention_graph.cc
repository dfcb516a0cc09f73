#include "attribution/attention_graph.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

namespace inseq::attribution {

namespace {

// Rows scaled to sum 1 (rows that sum to 0 stay 0).
at::Tensor normalize_rows(const at::Tensor& m) {  // [n, n]
  at::Tensor sums = m.sum(-1, true);               // [n, 1]
  return m.div(at::where(sums.gt(0), sums, at::ones_like(sums)));
}

at::Tensor eye_like(int64_t n, const at::Tensor& like) { return at::eye(n, like.options().dtype(at::kDouble)); }

}  // namespace

at::Tensor residual_mixing(const at::Tensor& attention) {
  at::Tensor a = attention.to(at::kDouble).mean(0);  // [n, n]
  return normalize_rows(a.mul(0.5).add(eye_like(a.size(0), a).mul(0.5)));
}

MixingLayers decoder_mixing(const std::vector<at::Tensor>& attentions) {
  MixingLayers layers;
  for (const auto& a : attentions) layers.push_back(residual_mixing(a));  // [n, n]
  return layers;
}

MixingLayers encoder_decoder_mixing(const std::vector<at::Tensor>& encoder_attentions, const std::vector<at::Tensor>& decoder_attentions,
                                    int64_t src) {
  MixingLayers layers;
  const at::Tensor& like = decoder_attentions.at(0);
  const int64_t n = like.size(-1);
  for (const auto& a : encoder_attentions) {  // [heads, src, src]
    at::Tensor m = eye_like(n, like);          // [n, n]
    m.slice(0, 0, src).slice(1, 0, src).copy_(residual_mixing(a.slice(1, 0, src).slice(2, 0, src)));
    layers.push_back(m);
  }
  for (const auto& a : decoder_attentions) {  // [heads, n, n]
    at::Tensor self = eye_like(n, like);       // [n, n]
    self.slice(0, src).slice(1, src).copy_(residual_mixing(a.slice(1, src).slice(2, src)));
    layers.push_back(self);
    at::Tensor cross = eye_like(n, like);  // [n, n]
    cross.slice(0, src).slice(1, src).mul_(0.5);
    cross.slice(0, src).slice(1, 0, src).copy_(a.slice(1, src).slice(2, 0, src).to(at::kDouble).mean(0).mul(0.5));  // [tgt, src]
    layers.push_back(normalize_rows(cross));
  }
  return layers;
}

at::Tensor rollout(const MixingLayers& layers, const std::vector<int64_t>& queries) {
  const at::Tensor& like = layers.at(0);
  const int64_t n = like.size(0);
  at::Tensor idx = at::tensor(queries, at::kLong).to(like.device());
  at::Tensor v = eye_like(n, like).index_select(0, idx);  // [Q, n]: the top nodes
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) v = v.matmul(*it);  // down one layer: [Q, n]
  return v;
}

namespace {

// A flow network with edges in pairs (e: forward, e ^ 1: its reverse) and Dinic's algorithm on a copy of the
// capacities, so one network serves many (source, sink) runs at once.
struct FlowNetwork {
  std::vector<std::vector<int32_t>> adj;  // node -> its edges
  std::vector<int32_t> to;
  std::vector<double> cap;
  explicit FlowNetwork(int64_t nodes) : adj(static_cast<size_t>(nodes)) {}
  void add(int32_t u, int32_t v, double c) {
    adj[u].push_back(static_cast<int32_t>(to.size()));
    to.push_back(v), cap.push_back(c);
    adj[v].push_back(static_cast<int32_t>(to.size()));
    to.push_back(u), cap.push_back(0.0);
  }
};

// Residual capacities below this count as saturated (float64 sums of attention weights).
constexpr double kFlowEps = 1e-13;

class Dinic {
 public:
  explicit Dinic(const FlowNetwork& net) : net_(net), res_(net.cap), level_(net.adj.size()), next_(net.adj.size()) {}

  double run(int32_t s, int32_t t) {
    double total = 0;
    while (levels(s, t)) {
      std::fill(next_.begin(), next_.end(), 0);
      while (true) {
        const double f = push(s, t, std::numeric_limits<double>::infinity());
        if (f <= kFlowEps) break;
        total += f;
      }
    }
    return total;
  }

 private:
  bool levels(int32_t s, int32_t t) {
    std::fill(level_.begin(), level_.end(), -1);
    std::vector<int32_t> queue{s};
    level_[s] = 0;
    for (size_t h = 0; h < queue.size(); ++h) {
      const int32_t u = queue[h];
      for (int32_t e : net_.adj[u]) {
        const int32_t v = net_.to[e];
        if (res_[e] > kFlowEps && level_[v] < 0) {
          level_[v] = level_[u] + 1;
          queue.push_back(v);
        }
      }
    }
    return level_[t] >= 0;
  }
  double push(int32_t u, int32_t t, double limit) {
    if (u == t) return limit;
    for (size_t& i = next_[u]; i < net_.adj[u].size(); ++i) {
      const int32_t e = net_.adj[u][i], v = net_.to[e];
      if (res_[e] <= kFlowEps || level_[v] != level_[u] + 1) continue;
      const double f = push(v, t, std::min(limit, res_[e]));
      if (f > kFlowEps) {
        res_[e] -= f;
        res_[e ^ 1] += f;
        return f;
      }
    }
    return 0;
  }
  const FlowNetwork& net_;
  std::vector<double> res_;
  std::vector<int32_t> level_;
  std::vector<size_t> next_;
};

}  // namespace

at::Tensor flow(const MixingLayers& layers, const std::vector<int64_t>& queries) {
  const int64_t L = static_cast<int64_t>(layers.size()), n = layers.at(0).size(0), Q = static_cast<int64_t>(queries.size());
  std::vector<at::Tensor> host;  // [n, n] float64 CPU, contiguous
  for (const auto& m : layers) host.push_back(m.to(at::kCPU).contiguous());
  at::Tensor out = at::zeros({Q, n}, at::TensorOptions().dtype(at::kDouble));  // [Q, n]
  auto node = [n](int64_t l, int64_t i) { return static_cast<int32_t>(l * n + i); };
  for (int64_t qi = 0; qi < Q; ++qi) {
    // The nodes that reach the top node: reach[l][i].
    std::vector<std::vector<char>> reach(L + 1, std::vector<char>(n, 0));
    reach[L][queries[qi]] = 1;
    for (int64_t l = L; l >= 1; --l) {
      const double* m = host[l - 1].data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) {
        if (!reach[l][i]) continue;
        for (int64_t k = 0; k < n; ++k) if (m[i * n + k] > 0) reach[l - 1][k] = 1;
      }
    }
    FlowNetwork net((L + 1) * n);
    for (int64_t l = 1; l <= L; ++l) {
      const double* m = host[l - 1].data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) {
        if (!reach[l][i]) continue;
        for (int64_t k = 0; k < n; ++k) if (reach[l - 1][k] && m[i * n + k] > 0) net.add(node(l - 1, k), node(l, i), m[i * n + k]);
      }
    }
    double* row = out[qi].data_ptr<double>();
    const int32_t sink = node(L, queries[qi]);
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        if (!reach[0][j]) continue;
        Dinic d(net);
        row[j] = d.run(node(0, j), sink);
      }
    });
  }
  return out;
}

}  // namespace inseq::attribution
