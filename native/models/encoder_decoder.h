// The interface every encoder-decoder implements (native BART family, T5, TorchScript bundles): embed source and
// target ids, run the network from embeddings (what attribution differentiates), and decode step by step
// with the encoder run once.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/generate.h"
#include "models/causal_lm.h"
#include "models/lrp_rules.h"

namespace inseq::models {

struct EncoderDecoderInfo {
  std::string model_type;           // marian | bart | mbart | m2m_100 | t5 | a bundle's model_type
  std::string implementation;       // "native" | "torchscript"
  int64_t vocab_size = 0;           // logits (target vocabulary)
  int64_t source_vocab_size = 0;    // source embedding table
  int64_t hidden_size = 0, encoder_layers = 0, decoder_layers = 0, num_heads = 0, encoder_heads = 0;
  int64_t max_positions = 0;        // longest source / target accepted; 0 = unlimited
  int64_t pad_token_id = 0, decoder_start_token_id = 0, bos_token_id = -1, unk_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  double embed_scale = 1.0;         // already included by embed_source / embed_target
  bool has_attentions = true;       // forward can return attention weights
  bool has_internals = false;       // forward honours value_hook / layer_hook / output_final_states
  bool has_dropout = false;         // forward honours EncDecRequest::training (dropout)
  bool has_attention_parts = false; // forward honours EncDecRequest::attention_parts_hook, logit_lens() works (alti_logit)
};

struct EncDecRequest {
  at::Tensor source_embeds;   // [b, s, d]
  at::Tensor source_mask;     // [b, s] int64: 1 = token, 0 = right padding
  at::Tensor target_embeds;   // [b, t, d], starting with the decoder start token
  bool output_attentions = false;
  // [b, P] int64 target positions: logits only there (the LM head is the largest matmul); undefined = all.
  at::Tensor logits_positions;
  // Internals (native models only; bundles refuse them). value_hook: the values [b, heads, n, head_dim] of
  // `block` ("encoder" | "decoder" | "cross") in `layer`, right after their projection; layer_hook: the
  // output [b, n, d] of each block of `stack` ("encoder" | "decoder"). Their return values replace them.
  std::function<at::Tensor(const std::string& block, int64_t layer, const at::Tensor& values)> value_hook;
  std::function<at::Tensor(const std::string& stack, int64_t layer, const at::Tensor& hidden)> layer_hook;
  // ALTI (native BART family): every attention block's parts (AttentionParts, models/causal_lm.h) as it runs, `block`
  // "encoder" | "decoder" | "cross" (cross: queries the target, keys and values the encoder output); and, post-LN
  // decoders only, gamma / sigma [b, t, d] of the LayerNorm after each layer's feed-forward sum.
  std::function<void(const std::string& block, int64_t layer, const AttentionParts& parts)> attention_parts_hook;
  std::function<void(int64_t layer, const at::Tensor& scale)> ffn_norm_scale_hook;
  bool output_final_states = false;  // fill encoder_final / decoder_final
  DeepLiftRule deeplift;             // DeepLIFT's rule (native models; inactive by default)
  LrpRule lrp;                       // AttnLRP / CP-LRP rules (native models; inactive by default): models/lrp_rules.h
  bool training = false;             // dropout as in training mode (models with info().has_dropout)
};

struct EncDecOutput {
  at::Tensor logits;                          // [b, t | P, vocab] float32: row k predicts target token k + 1
  std::vector<at::Tensor> cross_attentions;   // per decoder layer [b, heads, t, s]
  std::vector<at::Tensor> decoder_attentions; // per decoder layer [b, heads, t, t]
  std::vector<at::Tensor> encoder_attentions; // per encoder layer [b, heads, s, s]
  at::Tensor encoder_final;                   // [b, s, d] the encoder output (after its final norm, if any)
  at::Tensor decoder_final;                   // [b, t, d] the decoder output before the LM head
};

// What decoding keeps between steps (encoder output, caches); implementations extend it.
struct DecodingState {
  virtual ~DecodingState() = default;
};

// The self and cross keys/values a native encoder-decoder family's decoder keeps between steps (Seq2SeqLM, T5LM).
struct DecoderCache {
  std::vector<at::Tensor> self_k, self_v;    // per decoder layer [b, heads, past, head_dim]
  std::vector<at::Tensor> cross_k, cross_v;  // per decoder layer [b, heads, src, head_dim], computed once
  int64_t length() const { return self_k.empty() || !self_k[0].defined() ? 0 : self_k[0].size(2); }
  // One (empty) slot per decoder layer, made on the first step.
  void reserve_layers(size_t layers) {
    if (!self_k.empty()) return;
    self_k.resize(layers);
    self_v.resize(layers);
    cross_k.resize(layers);
    cross_v.resize(layers);
  }
};

// One decoder pass of a native encoder-decoder family (Seq2SeqLM, T5LM): their decode() returns it.
struct DecodeResult {
  at::Tensor logits;                          // [b, t | P, vocab] float32
  at::Tensor hidden;                          // [b, t, d] decoder output (after its final norm) before the LM head
  std::vector<at::Tensor> self_attentions;    // per layer [b, heads, t, past + t]
  std::vector<at::Tensor> cross_attentions;   // per layer [b, heads, t, src]
};

class EncoderDecoderLM {
 public:
  virtual ~EncoderDecoderLM() = default;
  const EncoderDecoderInfo& info() const { return info_; }
  c10::Device device() const { return device_; }
  c10::ScalarType dtype() const { return dtype_; }  // of the weights and activations; logits are float32

  virtual at::Tensor embed_source(const at::Tensor& ids) const = 0;  // [b, s] -> [b, s, d]
  virtual at::Tensor embed_target(const at::Tensor& ids) const = 0;  // [b, t] -> [b, t, d]
  virtual EncDecOutput forward(const EncDecRequest& request) const = 0;
  // The decoder's final norm and LM head (models with info().has_attention_parts; others throw kUnsupportedModel).
  virtual LogitLens logit_lens() const;

  // Incremental decoding. The default keeps the embeddings and re-runs forward() (bundles); native models
  // run the encoder once and keep self/cross key-value caches.
  virtual std::unique_ptr<DecodingState> start_decoding(const at::Tensor& source_embeds, const at::Tensor& source_mask) const;
  virtual at::Tensor decode_next(DecodingState& state, const at::Tensor& target_embeds) const;  // [b, 1, d] -> logits [b, vocab]

  // Refuses sources / targets longer than max_positions with kInvalidOption.
  void check_lengths(int64_t source_length, int64_t target_length) const;

 protected:
  EncoderDecoderInfo info_;
  c10::Device device_ = c10::Device(c10::kCPU);
  c10::ScalarType dtype_ = c10::ScalarType::Float;
};

// Greedy or sampled decoding (GenerationOptions as for decoder-only models); sources right-padded with pad.
// Returns the new target tokens of each source (decoder start excluded), up to and including the first EOS.
GenerationResult generate_encoder_decoder(const EncoderDecoderLM& model, const std::vector<std::vector<int64_t>>& sources,
                                          const GenerationOptions& options);

// The EncoderDecoderLM steps of a family whose encode(source_embeds, mask, attentions*, request*) and
// decode(target_embeds, encoder_hidden, mask, DecoderCache*, output_attentions, request*) -> DecodeResult have these
// shapes (Seq2SeqLM, T5LM): forward() is one encode and one decode pass; start_decoding() encodes once and
// decode_next() continues over a DecoderCache.
template <class Model>
EncDecOutput encode_then_decode(const Model& model, const EncDecRequest& r) {
  EncDecOutput out;
  at::Tensor enc = model.encode(r.source_embeds, r.source_mask, r.output_attentions ? &out.encoder_attentions : nullptr, &r);  // [b, s, d]
  DecodeResult dec = model.decode(r.target_embeds, enc, r.source_mask, nullptr, r.output_attentions, &r);
  if (r.output_final_states) {
    out.encoder_final = enc;
    out.decoder_final = dec.hidden;
  }
  out.logits = dec.logits;
  out.cross_attentions = std::move(dec.cross_attentions);
  out.decoder_attentions = std::move(dec.self_attentions);
  return out;
}

struct CachedDecoding : DecodingState {
  at::Tensor encoder_hidden;  // [b, s, d]
  at::Tensor source_mask;     // [b, s]
  DecoderCache cache;
};

template <class Model>
std::unique_ptr<DecodingState> start_cached_decoding(const Model& model, const at::Tensor& source_embeds, const at::Tensor& source_mask) {
  auto state = std::make_unique<CachedDecoding>();
  state->encoder_hidden = model.encode(source_embeds, source_mask);
  state->source_mask = source_mask;
  return state;
}

template <class Model>
at::Tensor decode_next_cached(const Model& model, DecodingState& base, const at::Tensor& target_embeds) {
  auto& state = static_cast<CachedDecoding&>(base);
  return model.decode(target_embeds, state.encoder_hidden, state.source_mask, &state.cache, false).logits.select(1, -1);  // [b, V]
}

}  // namespace inseq::models
