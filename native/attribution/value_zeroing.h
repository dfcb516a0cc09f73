// Value Zeroing (Mohebbi et al. 2023): how much each token's value vectors matter to every other token's
// representation. For a zeroed token j, the values of j are zeroed in every block's attention; each block's
// corrupted output is compared with the clean one (then replaced by it, so every layer is measured on its
// own), the last block at the final (normed) hidden state. Score = 1 - cos (or the Euclidean distance);
// below 1e-5 -> 0; each (query, layer) row normalised to sum 1 over the zeroed tokens. Zeroed tokens are
// batched: one forward per batch of them instead of one each.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "models/causal_lm.h"
#include "models/encoder_decoder.h"

namespace inseq::attribution {

struct ValueZeroingOptions {
  std::string similarity_metric = "cosine";  // "cosine" | "euclidean"
  // Per layer, the heads whose values are zeroed; a missing or empty entry = every head.
  std::vector<std::vector<int64_t>> decoder_heads, encoder_heads, cross_heads;
  int64_t rows_per_batch = 8;                // zeroed tokens per forward
  std::function<void()> check_cancel;        // throws to abort
  // Pacing (the engine's): rows of the next batch given the memory cap, and a call after each batch of `rows`.
  std::function<int64_t(int64_t by_memory)> batch_rows;
  std::function<void(int64_t rows)> batch_done;
  // Decoder-only: run each batch from its first zeroed token on over the clean run's KV cache (the positions
  // before a zeroed token are unchanged: no earlier query attends to it, and every block reads clean inputs).
  bool prefix_cache = false;
  int64_t* tokens_forwarded = nullptr;  // when set, batch x seq of every forward is added to it
};

// Decoder-only: ids [n] -> scores [n (zeroed key), n (query), layers]; NaN where key > query.
at::Tensor value_zeroing_decoder_only(const models::CausalLM& model, const at::Tensor& ids, const ValueZeroingOptions& options);

struct Seq2SeqValueZeroing {
  at::Tensor cross;         // [S (zeroed source), T (decoder query), decoder layers]
  at::Tensor decoder_self;  // [T (zeroed target), T (query), decoder layers], NaN where key > query
  at::Tensor encoder_self;  // [S (zeroed source), S (query), encoder layers]
};

// Encoder-decoder (models with internals): source ids [S], decoder input ids [T] (decoder start first).
Seq2SeqValueZeroing value_zeroing_seq2seq(const models::EncoderDecoderLM& model, const at::Tensor& source, const at::Tensor& target,
                                          const ValueZeroingOptions& options);

}  // namespace inseq::attribution
