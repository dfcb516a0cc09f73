// ALTI-logit (Ferrando et al. 2023): each attention block's output decomposed into per-source-token vectors
// (ALTI, Ferrando et al. 2022), the logit update of each projected onto the target's unembedding through the
// final norm (logit lens), and carried back to the input tokens by ALTI's contribution rollout. N-API free.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "models/causal_lm.h"

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

// ALTI's contributions of one block, [n, n] float64 (row i over the sources j, sums to 1; 0 where j > i), and the
// logit updates [n, n] float64 of its attention output, (T_i(x_j) . g_i) where g [n, hidden] is each row's
// direction through the linearised final norm before its 1/sigma (zero rows: not asked).
std::pair<at::Tensor, at::Tensor> alti_block(const models::AttentionParts& parts, const at::Tensor& g, double block_bytes);

}  // namespace inseq::attribution
