// Encoder-decoder models of the BART family read from Hugging Face checkpoints: marian (post-norm, sinusoidal
// positions), bart (post-norm, learned positions + layernorm_embedding), mbart (pre-norm, layernorm_embedding,
// final norms), m2m_100 / NLLB (pre-norm, sinusoidal positions with the padding offset, final norms). The
// encoder runs once per example; the decoder is run from embeddings (what attribution differentiates).
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

struct Seq2SeqConfig {
  std::string model_type;           // marian | bart | mbart | m2m_100
  int64_t vocab_size = 0, d_model = 0, encoder_layers = 0, decoder_layers = 0;
  int64_t encoder_heads = 0, decoder_heads = 0, encoder_ffn = 0, decoder_ffn = 0, max_positions = 0;
  bool pre_norm = false;            // mbart, m2m_100
  bool layernorm_embedding = false; // bart, mbart
  std::string positions;            // "learned" (offset 2) | "sinusoidal_marian" | "sinusoidal_m2m"
  double embed_scale = 1.0;         // sqrt(d_model) when scale_embedding
  std::string activation = "gelu";
  int64_t pad_token_id = 1, eos_token_id = 2, decoder_start_token_id = 2;
};

Seq2SeqConfig parse_seq2seq_config(const core::Json& json, const std::string& source);
// Whether model_type is a native encoder-decoder (the config.cc table: the BART family and t5).
bool is_seq2seq_model_type(const std::string& model_type);

struct Seq2SeqLayer {
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;      // self attention: [d, d], [d]
  at::Tensor sa_norm_w, sa_norm_b;                        // [d]
  at::Tensor cq_w, cq_b, ck_w, ck_b, cv_w, cv_b, co_w, co_b;  // cross attention (decoder only)
  at::Tensor ca_norm_w, ca_norm_b;
  at::Tensor fc1_w, fc1_b, fc2_w, fc2_b;                  // [ffn, d], [ffn], [d, ffn], [d]
  at::Tensor ff_norm_w, ff_norm_b;
};

class Seq2SeqLM : public EncoderDecoderLM {
 public:
  Seq2SeqLM(const Seq2SeqConfig& config, const WeightStore& weights, c10::Device device, c10::ScalarType dtype = c10::ScalarType::Float);
  const Seq2SeqConfig& config() const { return config_; }

  // Scaled token embeddings (embed_tokens(ids) * embed_scale), what the encoder/decoder layers receive.
  at::Tensor embed_source(const at::Tensor& ids) const override;  // [b, s] -> [b, s, d]
  at::Tensor embed_target(const at::Tensor& ids) const override;  // [b, t] -> [b, t, d]
  // attentions (optional): per encoder layer [b, heads, s, s]
  // hooks (optional): the request's value_hook / layer_hook
  at::Tensor encode(const at::Tensor& source_embeds, const at::Tensor& source_mask,
                    std::vector<at::Tensor>* attentions = nullptr, const EncDecRequest* hooks = nullptr) const;  // -> [b, s, d]
  // hooks->logits_positions (optional): the LM head runs only at those positions
  DecodeResult decode(const at::Tensor& target_embeds, const at::Tensor& encoder_hidden, const at::Tensor& source_mask,
                             DecoderCache* cache, bool output_attentions, const EncDecRequest* hooks = nullptr) const;

  EncDecOutput forward(const EncDecRequest& request) const override;
  // The decoder's final norm (pre-LN: mbart, m2m_100; post-LN models have none: weight undefined) and LM head, for
  // alti_logit's logit lens; final_logits_bias is not part of it.
  LogitLens logit_lens() const override;
  std::unique_ptr<DecodingState> start_decoding(const at::Tensor& source_embeds, const at::Tensor& source_mask) const override;
  at::Tensor decode_next(DecodingState& state, const at::Tensor& target_embeds) const override;

 private:
  at::Tensor positions(int64_t past, int64_t length, bool decoder) const;  // [length, d]
  at::Tensor attention(const at::Tensor& x, const at::Tensor& kv, const at::Tensor& bias, const at::Tensor& q_w, const at::Tensor& q_b,
                       const at::Tensor& k_w, const at::Tensor& k_b, const at::Tensor& v_w, const at::Tensor& v_b, const at::Tensor& o_w,
                       const at::Tensor& o_b, int64_t heads, at::Tensor* cached_k, at::Tensor* cached_v, bool append, at::Tensor* probs,
                       const std::function<at::Tensor(const at::Tensor&)>& value_hook = {}, const DeepLiftRule& deeplift = {},
                       const LrpRule& lrp = {}, at::Tensor* values = nullptr) const;
  // ALTI's parts of one attention sub-block (EncDecRequest::attention_parts_hook): x the residual, a the attention
  // output, y the sub-block's output (post-LN: the norm of x + a, linearised at each query).
  void report_parts(const EncDecRequest& hooks, const char* block, int64_t layer, const at::Tensor& x, const at::Tensor& probs,
                    const at::Tensor& values, const at::Tensor& o_w, int64_t heads, const at::Tensor& a, const at::Tensor& y,
                    const at::Tensor& norm_w) const;

  Seq2SeqConfig config_;
  at::Tensor enc_embed_, dec_embed_;            // [vocab, d]
  at::Tensor enc_pos_, dec_pos_;                // learned [max + 2, d] or sinusoidal table
  at::Tensor enc_ln_emb_w_, enc_ln_emb_b_, dec_ln_emb_w_, dec_ln_emb_b_;
  std::vector<Seq2SeqLayer> enc_layers_, dec_layers_;
  at::Tensor enc_final_w_, enc_final_b_, dec_final_w_, dec_final_b_;
  at::Tensor lm_head_;                          // [vocab, d]
  at::Tensor final_logits_bias_;                // [vocab] or undefined
};

std::shared_ptr<Seq2SeqLM> load_seq2seq_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype = c10::ScalarType::Float,
                                           const LoadProgress& progress = {});

// Any native encoder-decoder by config.json's model_type: t5 (models/t5.h), else the BART family.
std::shared_ptr<EncoderDecoderLM> load_encoder_decoder_lm(const std::string& dir, c10::Device device,
                                                          c10::ScalarType dtype = c10::ScalarType::Float, const LoadProgress& progress = {});

// Greedy decoding with the encoder run once and a self/cross KV cache; sources right-padded with pad.
std::vector<std::vector<int64_t>> generate_seq2seq(const Seq2SeqLM& model, const std::vector<std::vector<int64_t>>& sources,
                                                   int64_t max_new_tokens, const std::vector<int64_t>& eos_token_ids);

}  // namespace inseq::models
