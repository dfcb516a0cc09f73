// An encoder-decoder seen as a causal LM over the concatenation source ++ target, so the attribution engine
// runs unchanged on it: row b holds source_lengths[b] source tokens, then the target starting with the
// decoder start token. Every target position sees the whole source and the target prefix, exactly the
// causal prefix of the concatenation, so the engine's prefix rows, NaN layout and logit positions carry
// over; the adapter splits each row, runs encoder and decoder, and maps logits / attentions back.
#pragma once

#include <memory>
#include <vector>

#include "models/causal_lm.h"
#include "models/encoder_decoder.h"

namespace inseq::models {

class ConcatenatedSeq2Seq : public CausalLM {
 public:
  explicit ConcatenatedSeq2Seq(std::shared_ptr<const EncoderDecoderLM> model);
  const EncoderDecoderLM& model() const { return *model_; }

  at::Tensor embed(const at::Tensor& ids) const override;  // refuses: rows need their source length
  at::Tensor embed_split(const at::Tensor& ids, const at::Tensor& source_lengths) const override;  // [b, L] -> [b, L, d]
  // Logits at concatenated positions (source positions give zeros); attentions per decoder layer
  // [b, heads, L, L] whose target rows hold [cross | decoder self] weights (source rows are zero), and the
  // encoder's self-attention in ForwardResult::encoder_attentions.
  ForwardResult forward(const ForwardRequest& request) const override;
  std::map<std::string, at::Tensor> named_parameters() const override { return {}; }
  // Block hooks (ForwardRequest::layer_output_hook: encoder block l is index l, decoder block l index
  // encoder_layers + l, each in the concatenated layout), DeepLIFT's rule and value hooks where the model
  // underneath is native; dropout in training mode where the model has it (info().has_dropout: T5).
  ModelCapabilities capabilities() const override;
  const EncoderDecoderLM* encoder_decoder() const override { return model_.get(); }


 private:
  std::shared_ptr<const EncoderDecoderLM> model_;
};

}  // namespace inseq::models
