// The mean token embedding: a replacement for removed tokens that carries no token's identity (the "mean"
// replacement of the evaluation's faithfulness metrics). Computed once per model and table, in chunks.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <mutex>

namespace inseq::models {

// The mean over ids [0, vocab_size) of embed(ids): [hidden] in the embedding's dtype, accumulated in float32
// over chunks of 4096 ids (never the whole [vocab, hidden] table at once).
at::Tensor mean_embedding(const std::function<at::Tensor(const at::Tensor&)>& embed, int64_t vocab_size, c10::Device device);

// embeds [batch, seq, hidden] with the rows where flags [batch, seq] (int64, nonzero = replace) is set
// replaced by mean [hidden].
at::Tensor replace_with_mean(const at::Tensor& embeds, const at::Tensor& flags, const at::Tensor& mean);

// mean_embedding() computed on first use and kept (thread-safe: forwards run on worker threads).
class MeanEmbeddingCache {
 public:
  at::Tensor get(const std::function<at::Tensor(const at::Tensor&)>& embed, int64_t vocab_size, c10::Device device) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!mean_.defined()) mean_ = mean_embedding(embed, vocab_size, device);
    return mean_;
  }

 private:
  std::mutex mutex_;
  at::Tensor mean_;  // [hidden]
};

}  // namespace inseq::models
