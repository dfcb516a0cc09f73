#include "train/trainer.h"

#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "models/causal_lm.h"

namespace inseq::train {

using core::Error;
using core::ErrorCode;

TrainResult train_causal_lm(const TrainOptions& o) {
  if (o.sequences.empty()) throw Error(ErrorCode::kInvalidOption, "Expected at least one training sequence");
  if (o.steps < 1 || o.batch_size < 1) throw Error(ErrorCode::kInvalidOption, "Expected positive steps and batchSize");
  for (const auto& s : o.sequences) {
    if (s.size() < 2) throw Error(ErrorCode::kInvalidOption, "Every training sequence needs at least two tokens");
    for (int64_t id : s) {
      if (id < 0 || id >= o.config.vocab_size) throw Error(ErrorCode::kInvalidOption, "Training token id " + std::to_string(id) + " is outside the vocabulary");
    }
  }
  auto model = models::init_causal_lm(o.config, o.seed, c10::Device(c10::kCPU));
  std::map<std::string, at::Tensor> params = model->named_parameters();
  std::vector<at::Tensor> decay, no_decay;
  for (auto& [name, p] : params) {
    p.requires_grad_(true);
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  std::vector<at::Tensor> all_params = decay;
  all_params.insert(all_params.end(), no_decay.begin(), no_decay.end());
  torch::optim::AdamW optimizer(
      {torch::optim::OptimizerParamGroup(decay,
                                         std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay))),
       torch::optim::OptimizerParamGroup(no_decay,
                                         std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.learning_rate).weight_decay(0.0)))},
      torch::optim::AdamWOptions(o.learning_rate));
  model->set_training(true);
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<size_t> pick(0, o.sequences.size() - 1);
  TrainResult result;
  for (int64_t step = 0; step < o.steps; ++step) {
    if (o.cancel && o.cancel->load()) throw Error(ErrorCode::kAborted, "Training was aborted");
    // Learning rate: linear warmup, then cosine decay to min_learning_rate.
    double lr;
    if (step < o.warmup_steps) {
      lr = o.learning_rate * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
    } else {
      const double t = static_cast<double>(step - o.warmup_steps) / std::max<double>(1.0, static_cast<double>(o.steps - o.warmup_steps));
      lr = o.min_learning_rate + 0.5 * (o.learning_rate - o.min_learning_rate) * (1 + std::cos(M_PI * t));
    }
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

    std::vector<const std::vector<int64_t>*> rows;
    size_t max_len = 0;
    for (int64_t b = 0; b < o.batch_size; ++b) {
      rows.push_back(&o.sequences[pick(rng)]);
      max_len = std::max(max_len, rows.back()->size());
    }
    const int64_t B = o.batch_size, T = static_cast<int64_t>(max_len);
    at::Tensor ids = at::full({B, T}, o.pad_token_id, at::kLong);  // [B, T] right-padded
    at::Tensor mask = at::zeros({B, T}, at::kLong);                // [B, T]
    at::Tensor labels = at::full({B, T}, -100, at::kLong);        // [B, T] next token or -100
    for (int64_t b = 0; b < B; ++b) {
      const auto& s = *rows[b];
      for (size_t j = 0; j < s.size(); ++j) {
        ids[b][static_cast<int64_t>(j)] = s[j];
        mask[b][static_cast<int64_t>(j)] = 1;
        if (j + 1 < s.size()) labels[b][static_cast<int64_t>(j)] = s[j + 1];
      }
    }
    models::ForwardRequest req;
    req.inputs_embeds = model->embed(ids);
    req.attention_mask = mask;
    models::ForwardResult out = model->forward(req);  // logits [B, T, V]
    at::Tensor loss = at::cross_entropy_loss(out.logits.reshape({B * T, -1}), labels.reshape({B * T}), {}, at::Reduction::Mean, -100);
    optimizer.zero_grad();
    loss.backward();
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(all_params, o.grad_clip);  // one global norm
    optimizer.step();
    const double l = loss.item<double>();
    result.losses.push_back(l);
    if (o.on_step) o.on_step(step + 1, o.steps, l);
  }
  for (auto& [name, p] : params) result.parameters[name] = p.detach().clone();
  result.num_parameters = model->num_parameters();
  return result;
}

}  // namespace inseq::train
