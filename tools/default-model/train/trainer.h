// Next-token training of a native llama-family model with LibTorch's AdamW (used by inseq-train to build the
// bundled default model; small models on CPU). Not part of the addon.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/config.h"
#include <ATen/core/Tensor.h>

namespace inseq::train {

struct TrainOptions {
  models::ModelConfig config;
  std::vector<std::vector<int64_t>> sequences;  // tokenized training examples (with BOS/EOS as wanted)
  int64_t steps = 1000;
  int64_t batch_size = 32;
  double learning_rate = 3e-3;
  double min_learning_rate = 3e-4;  // cosine decay floor
  int64_t warmup_steps = 50;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  uint64_t seed = 0;
  int64_t pad_token_id = 0;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(int64_t step, int64_t total, double loss)> on_step;
};

struct TrainResult {
  std::map<std::string, at::Tensor> parameters;  // HF names -> float32 CPU tensors
  std::vector<double> losses;                    // per step
  int64_t num_parameters = 0;
};

TrainResult train_causal_lm(const TrainOptions& options);

}  // namespace inseq::train
