// Streaming reduction of attributions: finished (example, step) columns are reduced over the hidden dimension
// on the device as each batch completes and reach the host in one copy per batch, so host result buffers are
// O(steps x n) unless the caller asked for granular outputs. Also the per-step L1 normalisation TS applied.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace inseq::attribution::detail {

// Inseq's default reduction of the hidden dimension: the L2 norm over the last axis (NaN rows stay NaN).
at::Tensor reduce_hidden(const at::Tensor& a);  // [.., hidden] -> [..]

// Columns finished in one batch, gathered on the device and written into the host results with one copy.
class ColumnBatch {
 public:
  // `column`: [t, *extra] float32 on the device, destined for host[e].select(1, j).slice(0, 0, t).
  void add(size_t e, int64_t j, const at::Tensor& column);
  // host: per example [n, steps, *extra] float32 CPU. Empties the batch.
  void flush(std::vector<at::Tensor>& host);
  bool empty() const { return columns_.empty(); }

 private:
  struct Entry {
    size_t e;
    int64_t j;
  };
  std::vector<Entry> entries_;
  std::vector<at::Tensor> columns_;
};

// L1 normalisation of each generated-step column of `attributions` [n, steps] float32 CPU over rows
// [row_begin, row_end), in place, bit for bit as lib/aggregators/scores.ts normalizeJoint: NaN counted as 0,
// the sum of |x| accumulated in float64 row by row, each value divided in float64 by max(sum, 1e-12), NaN kept.
void normalize_l1(at::Tensor& attributions, int64_t row_begin, int64_t row_end);

}  // namespace inseq::attribution::detail
