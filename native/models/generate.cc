#include "models/generate.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;

at::Tensor choose_next_tokens(const at::Tensor& logits, const GenerationOptions& o, at::Generator& generator) {
  if (!o.do_sample) return logits.argmax(-1);  // [batch]
  at::Tensor scores = logits.div(o.temperature);  // [batch, vocab]
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (o.top_k > 0 && o.top_k < scores.size(-1)) {
    at::Tensor kth = std::get<0>(scores.topk(o.top_k, -1)).select(-1, o.top_k - 1).unsqueeze(-1);  // [batch, 1]
    scores = scores.masked_fill(scores.lt(kth), neg_inf);
  }
  if (o.top_p < 1.0) {
    // As transformers' TopPLogitsWarper: sort ascending, drop the tokens whose cumulative probability is
    // <= 1 - top_p, always keeping the most likely one.
    auto sorted = scores.sort(-1, false);
    at::Tensor sorted_scores = std::get<0>(sorted), sorted_idx = std::get<1>(sorted);  // [batch, vocab]
    at::Tensor cum = sorted_scores.softmax(-1).cumsum(-1);
    at::Tensor remove_sorted = cum.le(1.0 - o.top_p);
    remove_sorted.select(-1, remove_sorted.size(-1) - 1).fill_(false);
    at::Tensor remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted);
    scores = scores.masked_fill(remove, neg_inf);
  }
  at::Tensor probs = scores.softmax(-1);
  return at::multinomial(probs, 1, false, generator).squeeze(-1);  // [batch]
}

namespace {

PaddedBatch pad_rows(const std::vector<std::vector<int64_t>>& rows, int64_t pad_token_id, int64_t vocab_size, const std::string& what, bool left) {
  if (rows.empty()) throw Error(ErrorCode::kInvalidOption, "Expected at least one " + what);
  size_t max_len = 0;
  for (const auto& r : rows) {
    if (r.empty()) throw Error(ErrorCode::kInvalidOption, "Expected a non-empty " + what + " (at least one token id)");
    for (int64_t id : r) {
      if (id < 0 || id >= vocab_size) {
        throw Error(ErrorCode::kInvalidOption, "Token id " + std::to_string(id) + " is outside the vocabulary (size " + std::to_string(vocab_size) + ")");
      }
    }
    max_len = std::max(max_len, r.size());
  }
  const int64_t batch = static_cast<int64_t>(rows.size()), len = static_cast<int64_t>(max_len);
  PaddedBatch out{at::full({batch, len}, pad_token_id, at::TensorOptions().dtype(at::kLong)),
                  at::zeros({batch, len}, at::TensorOptions().dtype(at::kLong))};
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = static_cast<int64_t>(rows[b].size()), off = left ? len - n : 0;
    out.ids[b].slice(0, off, off + n).copy_(at::tensor(rows[b], at::kLong));
    out.mask[b].slice(0, off, off + n).fill_(1);
  }
  return out;
}

}  // namespace

PaddedBatch pad_left(const std::vector<std::vector<int64_t>>& rows, int64_t pad_token_id, int64_t vocab_size, const std::string& what) {
  return pad_rows(rows, pad_token_id, vocab_size, what, true);
}

PaddedBatch pad_right(const std::vector<std::vector<int64_t>>& rows, int64_t pad_token_id, int64_t vocab_size, const std::string& what) {
  return pad_rows(rows, pad_token_id, vocab_size, what, false);
}

std::pair<at::Tensor, bool> record_next_tokens(const at::Tensor& last, const GenerationOptions& o, int64_t pad_token_id, at::Generator& gen,
                                               std::vector<bool>& finished, GenerationResult& result) {
  at::Tensor next = choose_next_tokens(last, o, gen);  // [batch] int64 CPU
  at::Tensor logprobs = last.log_softmax(-1);          // [batch, vocab]
  auto acc = next.accessor<int64_t, 1>();
  bool all_done = true;
  for (int64_t b = 0; b < next.size(0); ++b) {
    if (finished[b]) {
      acc[b] = pad_token_id;
      continue;
    }
    const int64_t tok = acc[b];
    result.sequences[b].push_back(tok);
    result.token_logprobs[b].push_back(logprobs[b][tok].item<float>());
    if (std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), tok) != o.eos_token_ids.end()) finished[b] = true;
    all_done = all_done && finished[b];
  }
  return {next, all_done};
}

void check_generation_options(const GenerationOptions& o) {
  if (o.max_new_tokens < 0) throw Error(ErrorCode::kInvalidOption, "Expected a non-negative integer for maxNewTokens but received " + std::to_string(o.max_new_tokens));
  if (o.do_sample && !(o.temperature > 0)) throw Error(ErrorCode::kInvalidOption, "Expected a positive number for temperature but received " + std::to_string(o.temperature));
  if (o.top_p <= 0 || o.top_p > 1) throw Error(ErrorCode::kInvalidOption, "Expected a number in (0, 1] for topP but received " + std::to_string(o.top_p));
}

GenerationResult generate(const CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& o) {
  if (prompts.empty()) return {};
  check_generation_options(o);
  if (!model.takes_position_ids() && prompts.size() > 1) {
    // Left padding needs position ids from the mask; a model that cannot take them generates row by row.
    GenerationResult all;
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerationOptions one = o;
      if (o.on_step) one.on_step = [&](int64_t d, int64_t t) { o.on_step(static_cast<int64_t>(i) * t + d, t * static_cast<int64_t>(prompts.size())); };
      GenerationResult r = generate(model, {prompts[i]}, one);
      all.sequences.push_back(std::move(r.sequences[0]));
      all.token_logprobs.push_back(std::move(r.token_logprobs[0]));
    }
    return all;
  }
  c10::InferenceMode guard;
  auto [ids, mask] = pad_left(prompts, o.pad_token_id, model.config().vocab_size, "prompt");  // [batch, plen]
  const int64_t batch = ids.size(0);
  if (o.max_new_tokens > 0) {
    const int64_t longest = ids.size(1);
    check_context(model, longest + o.max_new_tokens,
                  "A prompt of " + std::to_string(longest) + " tokens + maxNewTokens " + std::to_string(o.max_new_tokens));
  }
  const c10::Device device = model.device();
  ids = ids.to(device);
  mask = mask.to(device);

  GenerationResult result;
  result.sequences.resize(batch);
  result.token_logprobs.resize(batch);
  if (o.max_new_tokens == 0) return result;

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  std::vector<bool> finished(batch, false);
  KVCache cache;
  at::Tensor step_ids = ids;  // [batch, seq]: the whole prompt first, then one token per step
  at::Tensor all_ids = ids;   // [batch, prompt + generated so far]
  const int64_t regenerate_after = model.config().regenerate_cache_after;
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    if (o.cancel && o.cancel->load()) throw Error(ErrorCode::kAborted, "Generation was aborted");
    if (regenerate_after > 0 && cache.length() > 0 && all_ids.size(1) >= regenerate_after + 1 && cache.length() <= regenerate_after) {
      cache = KVCache();  // phi3 (ModelConfig::regenerate_cache_after): the whole sequence again
      step_ids = all_ids;
    }
    ForwardRequest req;
    req.inputs_embeds = model.embed(step_ids);
    req.attention_mask = mask;
    req.cache = &cache;
    req.logits_to_keep = 1;
    ForwardResult out = model.forward(req);
    at::Tensor last = out.logits.select(1, -1).to(at::kCPU, at::kFloat);  // [batch, vocab]
    auto [next, all_done] = record_next_tokens(last, o, o.pad_token_id, gen, finished, result);  // [batch] int64 CPU
    if (o.on_step) o.on_step(step + 1, o.max_new_tokens);
    if (all_done) break;
    step_ids = next.unsqueeze(1).to(device);  // [batch, 1]
    if (regenerate_after > 0) all_ids = at::cat({all_ids, step_ids}, 1);
    mask = at::cat({mask, at::ones({batch, 1}, mask.options())}, 1);
  }
  return result;
}

}  // namespace inseq::models
