#include "attribution/reduction.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace inseq::attribution::detail {

at::Tensor reduce_hidden(const at::Tensor& a) { return a.norm(2, {-1}); }

void ColumnBatch::add(size_t e, int64_t j, const at::Tensor& column) {
  entries_.push_back({e, j});
  columns_.push_back(column);
}

void ColumnBatch::flush(std::vector<at::Tensor>& host) {
  if (columns_.empty()) return;
  std::vector<at::Tensor> flat;
  flat.reserve(columns_.size());
  for (const auto& c : columns_) flat.push_back(c.reshape({-1}));
  const at::Tensor all = at::cat(flat).to(at::kCPU, at::kFloat);  // [sum of column sizes]: the batch's one copy
  int64_t offset = 0;
  for (size_t k = 0; k < columns_.size(); ++k) {
    const Entry& en = entries_[k];
    const at::Tensor& c = columns_[k];
    const int64_t size = c.numel();
    host[en.e].select(1, en.j).slice(0, 0, c.size(0)).copy_(all.slice(0, offset, offset + size).view(c.sizes()));
    offset += size;
  }
  entries_.clear();
  columns_.clear();
}

void normalize_l1(at::Tensor& attributions, int64_t row_begin, int64_t row_end) {
  if (attributions.dim() != 2 || attributions.scalar_type() != at::kFloat || !attributions.device().is_cpu()) {
    throw core::Error(core::ErrorCode::kInternal, "normalize_l1 expects [n, steps] float32 CPU attributions");
  }
  at::Tensor a = attributions.contiguous();
  const int64_t steps = a.size(1);
  float* data = a.data_ptr<float>();
  constexpr double kEps = 1e-12;  // Inseq's F.normalize epsilon (NORMALIZE_EPS)
  std::vector<double> sums(static_cast<size_t>(steps), 0.0);
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t j = 0; j < steps; ++j) {
      const float v = data[r * steps + j];
      if (!std::isnan(v)) sums[j] += std::fabs(static_cast<double>(v));
    }
  }
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t j = 0; j < steps; ++j) {
      float& v = data[r * steps + j];
      if (!std::isnan(v)) v = static_cast<float>(static_cast<double>(v) / std::max(sums[j], kEps));
    }
  }
  if (!a.is_same(attributions)) attributions = a;
}

}  // namespace inseq::attribution::detail
