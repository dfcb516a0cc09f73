// ALTI-logit (Ferrando et al. 2023): each attention block's output decomposed into per-source-token vectors
// (ALTI, Ferrando et al. 2022), the logit update of each projected onto the target's unembedding through the
// final norm (logit lens), and carried back to the input tokens by ALTI's contribution rollout. N-API free.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "models/causal_lm.h"
#include "models/encoder_decoder.h"

namespace inseq::attribution {

struct AltiLogitRequest {
  at::Tensor embeds;      // [1, n, hidden] the input embeddings of one sequence
  at::Tensor positions;   // [S] int64: the query rows whose next-token logits are explained (distinct)
  at::Tensor directions;  // [S, hidden]: the unembedding direction of each row (U[y], or U[y] - U[y'] for a contrast)
  double block_bytes = 64.0 * 1024 * 1024;  // memory for one block of query rows of the [rows, n, hidden] decomposition
};

struct AltiLogitResult {
  at::Tensor logit;          // [S, n] float64: the logit contribution of each input position to each row's logit
  at::Tensor contributions;  // [n, n] float64: ALTI's rollout after the last block (row i: shares of the inputs in i)
};

// One forward of a model with ModelCapabilities::attention_parts (kUnsupportedModel otherwise).
AltiLogitResult alti_logit(const models::CausalLM& model, const AltiLogitRequest& request);

// Encoder-decoders of the native BART family: one sequence's source and target.
struct AltiSeq2SeqRequest {
  at::Tensor source_embeds;  // [1, s, hidden]
  at::Tensor target_embeds;  // [1, t, hidden], starting with the decoder start token
  at::Tensor positions;      // [S] int64: decoder positions whose next-token logits are explained (distinct)
  at::Tensor targets;        // [S] int64: the token each position's logit is explained for
  at::Tensor contrast;       // [S] int64 or undefined: the logit difference U[target] - U[contrast] instead
  double block_bytes = 64.0 * 1024 * 1024;
};

// ALTI-logit over source ++ target ([S, s + t] float64; contributions: the decoder's rollout [t, s + t]):
// encoder blocks roll out the source; each decoder layer's self-attention (target x target) and cross-attention
// (target query x encoder outputs, mapped to the source by the encoder's rollout) add their logit updates,
// carried back by the rollout below them. kUnsupportedModel for models other than the native BART family.
AltiLogitResult alti_logit_seq2seq(const models::EncoderDecoderLM& model, const AltiSeq2SeqRequest& request);

// Which keys a block's queries see and where the residual goes: kCausal (decoder self-attention, key i is the
// query's own position: the residual joins T_i(x_i), keys after i are 0), kAll (encoder self-attention), kCross
// (keys of another sequence: the residual is a source of its own, column 0 of the contributions).
enum class AltiKeys { kCausal, kAll, kCross };

// ALTI's contributions of one block, [n, n] float64 (row i over the sources j, sums to 1; 0 where j > i), and the
// logit updates [n, n] float64 of its attention output, (T_i(x_j) . g_i) where g [n, hidden] is each row's
// direction through the linearised final norm before its 1/sigma (zero rows: not asked).
// kCross: contributions [n, 1 + k] (column 0 the residual), logit updates [n, k]. A LayerNorm after the residual sum
// (AttentionParts::sum_scale) is linearised at each query: every term, residual included, centred and scaled.
std::pair<at::Tensor, at::Tensor> alti_block(const models::AttentionParts& parts, const at::Tensor& g, double block_bytes,
                                             AltiKeys keys = AltiKeys::kCausal);

}  // namespace inseq::attribution
