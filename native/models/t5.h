// T5 / T5 v1.1 / Flan-T5 (model_type "t5") read from Hugging Face checkpoints, as transformers' modeling_t5.py
// computes it: one shared token embedding (no scale, no position embeddings), a relative position bias in each
// stack's block 0 (bidirectional buckets in the encoder, causal ones in the decoder) added to the unscaled
// q.k scores of every self-attention layer, pre-norm blocks with T5LayerNorm (RMS, no mean, no bias) and a final
// norm per stack, head width d_kv independent of d_model, a ReLU (v1.0) or gated-GELU (v1.1) feed-forward, and
// the decoder output rescaled by d_model^-0.5 before a tied LM head (scale_decoder_outputs).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/encoder_decoder.h"
#include "models/safetensors.h"

namespace inseq::core { class Json; }

namespace inseq::models {

struct T5Config {
  int64_t vocab_size = 0, d_model = 0, d_kv = 0, d_ff = 0, num_heads = 0;
  int64_t encoder_layers = 0, decoder_layers = 0;  // num_layers, num_decoder_layers (default num_layers)
  int64_t num_buckets = 32, max_distance = 128;    // relative_attention_num_buckets / _max_distance
  double eps = 1e-6;                               // layer_norm_epsilon
  double dropout = 0.1;                            // dropout_rate (training mode only)
  bool gated = false;                              // feed_forward_proj "gated-<act>": act(wi_0 x) * wi_1 x
  std::string activation = "relu";                 // "relu" | "gelu_new" (gated-gelu) | "gelu" | "silu"
  bool scale_decoder_outputs = true;               // decoder output * d_model^-0.5 before the LM head
  int64_t pad_token_id = 0, eos_token_id = 1, decoder_start_token_id = 0;
};

// Validates config.json (kBadCheckpoint naming the key; kUnsupportedModel for a feed_forward_proj not implemented).
T5Config parse_t5_config(const core::Json& json, const std::string& source);

struct T5Block {
  at::Tensor sa_norm, q, k, v, o;      // self attention: [d], [heads * d_kv, d] x3, [d, heads * d_kv]
  at::Tensor ca_norm, cq, ck, cv, co;  // cross attention (decoder only)
  at::Tensor ff_norm, wi, wi_1, wo;    // wi = wi_0 when gated: [d_ff, d] (x2), [d, d_ff]
};

class T5LM : public EncoderDecoderLM {
 public:
  T5LM(const T5Config& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype = c10::ScalarType::Float);
  const T5Config& config() const { return config_; }

  at::Tensor embed_source(const at::Tensor& ids) const override;  // [b, s] -> [b, s, d]: shared(ids)
  at::Tensor embed_target(const at::Tensor& ids) const override;  // [b, t] -> [b, t, d]: shared(ids)
  // attentions (optional): per encoder layer [b, heads, s, s]; request (optional): hooks, DeepLIFT rule, training
  at::Tensor encode(const at::Tensor& source_embeds, const at::Tensor& source_mask, std::vector<at::Tensor>* attentions = nullptr,
                    const EncDecRequest* request = nullptr) const;  // -> [b, s, d]
  // cache (optional): self/cross keys and values, extended by t; request->logits_positions: the LM head only there
  DecodeResult decode(const at::Tensor& target_embeds, const at::Tensor& encoder_hidden, const at::Tensor& source_mask, DecoderCache* cache,
                        bool output_attentions, const EncDecRequest* request = nullptr) const;

  EncDecOutput forward(const EncDecRequest& request) const override;
  // The decoder's final RMSNorm and LM head (scale d_model^-0.5 where scale_decoder_outputs), for alti_logit.
  LogitLens logit_lens() const override;
  std::unique_ptr<DecodingState> start_decoding(const at::Tensor& source_embeds, const at::Tensor& source_mask) const override;
  at::Tensor decode_next(DecodingState& state, const at::Tensor& target_embeds) const override;

  // The relative position bias [1, heads, q, k] of query positions past..past+q over keys 0..k (decoder: causal
  // buckets, keys after the query not masked here).
  at::Tensor position_bias(int64_t past, int64_t queries, int64_t keys, bool decoder) const;

 private:
  void report_parts(const EncDecRequest& r, const char* block, int64_t layer, const at::Tensor& x, const at::Tensor& probs, const at::Tensor& values,
                    const at::Tensor& o_w, const at::Tensor& a) const;  // EncDecRequest::attention_parts_hook (pre-norm blocks)
  at::Tensor attention(const at::Tensor& x, const at::Tensor& kv, const at::Tensor& bias, const at::Tensor& q_w, const at::Tensor& k_w,
                       const at::Tensor& v_w, const at::Tensor& o_w, at::Tensor* cached_k, at::Tensor* cached_v, bool append,
                       at::Tensor* probs, const std::function<at::Tensor(const at::Tensor&)>& value_hook, const DeepLiftRule& deeplift,
                       bool training, const LrpRule& lrp = {}, at::Tensor* values = nullptr) const;
  at::Tensor feed_forward(const T5Block& l, const at::Tensor& h, const DeepLiftRule& deeplift, bool training, const LrpRule& lrp = {}) const;
  // T5LayerNorm; an active LRP rule makes its denominator a constant
  at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const LrpRule& lrp = {}) const;

  T5Config config_;
  at::Tensor shared_;                  // [vocab, d]
  at::Tensor enc_rel_bias_, dec_rel_bias_;  // [buckets, heads]
  std::vector<T5Block> enc_blocks_, dec_blocks_;
  at::Tensor enc_final_, dec_final_;   // [d]
  at::Tensor lm_head_;                 // [vocab, d] (shared_ when tied)
};

std::shared_ptr<T5LM> load_t5_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype = c10::ScalarType::Float,
                                 const LoadProgress& progress = {});

}  // namespace inseq::models
