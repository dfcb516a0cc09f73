#include "models/mean_embedding.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace inseq::models {

at::Tensor mean_embedding(const std::function<at::Tensor(const at::Tensor&)>& embed, int64_t vocab_size, c10::Device device) {
  constexpr int64_t kChunk = 4096;
  at::Tensor sum;  // [hidden] float32
  at::ScalarType dtype = at::kFloat;
  for (int64_t start = 0; start < vocab_size; start += kChunk) {
    const int64_t end = std::min(vocab_size, start + kChunk);
    at::Tensor ids = at::arange(start, end, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0);  // [1, n]
    at::Tensor e = embed(ids);                                                                                   // [1, n, hidden]
    dtype = e.scalar_type();
    at::Tensor part = e.to(at::kFloat).sum(at::IntArrayRef{0, 1});  // [hidden]
    sum = sum.defined() ? sum + part : part;
  }
  return (sum / static_cast<double>(vocab_size)).to(dtype);  // [hidden]
}

at::Tensor replace_with_mean(const at::Tensor& embeds, const at::Tensor& flags, const at::Tensor& mean) {
  at::Tensor where = flags.to(embeds.device()).ne(0).unsqueeze(-1);  // [batch, seq, 1]
  return at::where(where, mean.view({1, 1, -1}).to(embeds.scalar_type()), embeds);  // [batch, seq, hidden]
}

}  // namespace inseq::models
