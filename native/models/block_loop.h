// The loop over a decoder-only model's blocks, one for every native family (GPT-2, GPT-NeoX, Llama and its
// variants, Gemma): what happens between blocks is the same everywhere, only the block differs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "models/causal_lm.h"

namespace inseq::models {

// Block `layer` on its input x [batch, seq, hidden] -> [batch, seq, hidden]. Under checkpoint_blocks the backward
// calls it again after forward() returned, with a plain request (no hooks, cache or attentions) and out = nullptr:
// it must own what it reads besides its arguments (capture by value).
using BlockStep = std::function<at::Tensor(int64_t layer, const at::Tensor& x, const ForwardRequest& req, ForwardResult* out)>;

// Runs blocks 0 .. num_layers - 1 on x [batch, seq, hidden]: a cancel point before each, its input kept in
// out.hidden_states when asked, the block recomputed in the backward under req.checkpoint_blocks (refused with
// what a recomputed block cannot reproduce: check_checkpointable), req.layer_output_hook after each.
at::Tensor run_blocks(at::Tensor x, int64_t num_layers, const ForwardRequest& req, bool training, ForwardResult& out, BlockStep step);

}  // namespace inseq::models
