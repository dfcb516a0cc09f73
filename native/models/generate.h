// KV-cached generation for decoder-only models: greedy or sampling (temperature, top-k, top-p, seed),
// several EOS ids, left-padded batches with position ids derived from the padding mask.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "models/causal_lm.h"

namespace inseq::models {

struct GenerationOptions {
  int64_t max_new_tokens = 20;
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 0;    // 0 = off
  double top_p = 1.0;   // 1 = off
  uint64_t seed = 0;
  std::vector<int64_t> eos_token_ids;  // empty = never stop early
  int64_t pad_token_id = 0;            // fills left padding and finished rows
  std::vector<int64_t> decoder_prefix; // encoder-decoders: target tokens forced after the decoder start (every row)
  const std::atomic<bool>* cancel = nullptr;             // set -> core::Error kAborted between steps
  std::function<void(int64_t done, int64_t total)> on_step;  // called after each generated position
};

struct GenerationResult {
  // New tokens per sequence (prompt excluded), up to and including the first EOS.
  std::vector<std::vector<int64_t>> sequences;
  // Scores of the chosen tokens under the processed distribution (log-softmax of the final logits).
  std::vector<std::vector<float>> token_logprobs;
};

// Left-padded batch [pad ... pad, row] of non-empty rows of in-vocabulary ids (errors name `what`).
struct PaddedBatch {
  at::Tensor ids;   // [batch, max_len] int64 (CPU)
  at::Tensor mask;  // [batch, max_len] int64: 1 = token, 0 = padding
};
PaddedBatch pad_left(const std::vector<std::vector<int64_t>>& rows, int64_t pad_token_id, int64_t vocab_size, const std::string& what);
// Right-padded [row ... row, pad ... pad] (encoder-decoder sources and targets), same checks.
PaddedBatch pad_right(const std::vector<std::vector<int64_t>>& rows, int64_t pad_token_id, int64_t vocab_size, const std::string& what);

// One decoding step's bookkeeping, shared by both model kinds: chooses each row's next token from the last
// logits [batch, vocab] (float32, CPU), appends it and its log-probability to `result` and marks rows that hit
// an EOS id; finished rows get `pad_token_id`. Returns the next tokens [batch] and whether every row finished.
std::pair<at::Tensor, bool> record_next_tokens(const at::Tensor& last, const GenerationOptions& options, int64_t pad_token_id,
                                               at::Generator& generator, std::vector<bool>& finished, GenerationResult& result);

// Throws kInvalidOption for out-of-range maxNewTokens / temperature / topP.
void check_generation_options(const GenerationOptions& options);

GenerationResult generate(const CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& options);

// Next-token choice from logits [batch, vocab] (float32, CPU) with the processors applied in transformers'
// order: temperature, top-k, top-p. Greedy when !do_sample.
at::Tensor choose_next_tokens(const at::Tensor& logits, const GenerationOptions& options, at::Generator& generator);

}  // namespace inseq::models
