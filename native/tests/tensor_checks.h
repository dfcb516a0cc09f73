// Tensor comparisons shared by the native tests.
#pragma once

#include <ATen/ATen.h>

#include <limits>

namespace inseq::testing {

// max |x - y| over cells where both are numbers; -1 when the NaN layouts differ, +inf when the shapes do.
inline double nan_aware_diff(const at::Tensor& x, const at::Tensor& y) {
  if (!x.sizes().equals(y.sizes())) return std::numeric_limits<double>::infinity();
  at::Tensor xn = x.isnan(), yn = y.isnan();
  if (!at::equal(xn, yn)) return -1;
  at::Tensor d = x.sub(y).abs().masked_fill(xn, 0);
  return d.numel() ? d.max().item<double>() : 0.0;
}

}  // namespace inseq::testing
