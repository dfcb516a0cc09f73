#include "models/encoder_decoder.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include "core/error.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;

LogitLens EncoderDecoderLM::logit_lens() const {
  throw Error(ErrorCode::kUnsupportedModel, "This encoder-decoder does not expose its final norm and unembedding (the logit lens of alti_logit)");
}

namespace {

// Default decoding state: re-runs the whole forward over the growing target (bundles have no cache).
struct RecomputeState : DecodingState {
  at::Tensor source_embeds;  // [b, s, d]
  at::Tensor source_mask;    // [b, s]
  at::Tensor target_embeds;  // [b, t, d] so far
};

}  // namespace

std::unique_ptr<DecodingState> EncoderDecoderLM::start_decoding(const at::Tensor& source_embeds, const at::Tensor& source_mask) const {
  auto state = std::make_unique<RecomputeState>();
  state->source_embeds = source_embeds;
  state->source_mask = source_mask;
  return state;
}

at::Tensor EncoderDecoderLM::decode_next(DecodingState& base, const at::Tensor& target_embeds) const {
  auto& state = static_cast<RecomputeState&>(base);
  state.target_embeds = state.target_embeds.defined() ? at::cat({state.target_embeds, target_embeds}, 1) : target_embeds;
  EncDecRequest req;
  req.source_embeds = state.source_embeds;
  req.source_mask = state.source_mask;
  req.target_embeds = state.target_embeds;
  return forward(req).logits.select(1, -1);  // [b, vocab]
}

void EncoderDecoderLM::check_lengths(int64_t source_length, int64_t target_length) const {
  const int64_t limit = info_.max_positions;
  if (limit <= 0) return;
  if (source_length > limit) {
    throw Error(ErrorCode::kInvalidOption, "Source of " + std::to_string(source_length) + " tokens exceeds the model's limit of " +
                                               std::to_string(limit) + " positions");
  }
  if (target_length > limit) {
    throw Error(ErrorCode::kInvalidOption, "Target of " + std::to_string(target_length) + " tokens exceeds the model's limit of " +
                                               std::to_string(limit) + " positions");
  }
}

GenerationResult generate_encoder_decoder(const EncoderDecoderLM& model, const std::vector<std::vector<int64_t>>& sources,
                                          const GenerationOptions& o) {
  check_generation_options(o);
  c10::InferenceMode guard;
  const EncoderDecoderInfo& info = model.info();
  auto [ids, mask] = pad_right(sources, info.pad_token_id, info.source_vocab_size, "source");  // [B, S]
  const int64_t B = ids.size(0);
  const int64_t prefix = static_cast<int64_t>(o.decoder_prefix.size());
  for (int64_t id : o.decoder_prefix) {
    if (id < 0 || id >= info.vocab_size) throw Error(ErrorCode::kInvalidOption, "Target prefix token id " + std::to_string(id) + " is outside the vocabulary");
  }
  const int64_t limit = info.max_positions, target = o.max_new_tokens + prefix + 1;
  if (limit > 0 && target > limit) {
    throw Error(ErrorCode::kInvalidOption, "The decoder start token + a target prefix of " + std::to_string(prefix) + " tokens + maxNewTokens " +
                                               std::to_string(o.max_new_tokens) + " needs " + std::to_string(target) +
                                               " positions but the model's context is " + std::to_string(limit) + " (max_position_embeddings)");
  }
  model.check_lengths(ids.size(1), target);
  const c10::Device dev = model.device();
  mask = mask.to(dev);
  GenerationResult result;
  result.sequences.resize(B);
  result.token_logprobs.resize(B);
  if (o.max_new_tokens == 0) return result;
  auto state = model.start_decoding(model.embed_source(ids.to(dev)), mask);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  std::vector<bool> finished(B, false);
  // The decoder start token, then any forced prefix, in one block: [B, 1 + prefix]
  std::vector<int64_t> first = {info.decoder_start_token_id};
  first.insert(first.end(), o.decoder_prefix.begin(), o.decoder_prefix.end());
  at::Tensor step = at::tensor(first, at::kLong).unsqueeze(0).repeat({B, 1});
  for (int64_t s = 0; s < o.max_new_tokens; ++s) {
    if (o.cancel && o.cancel->load()) throw Error(ErrorCode::kAborted, "Generation was aborted");
    at::Tensor last = model.decode_next(*state, model.embed_target(step.to(dev))).to(at::kCPU, at::kFloat);  // [B, V]
    auto [next, all_done] = record_next_tokens(last, o, info.pad_token_id, gen, finished, result);  // [B]
    if (o.on_step) o.on_step(s + 1, o.max_new_tokens);
    if (all_done) break;
    step = next.unsqueeze(1);
  }
  return result;
}

}  // namespace inseq::models
