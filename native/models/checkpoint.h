// Gradient checkpointing of one block: the forward keeps only the block's input; the backward runs the block
// again (with grad) to get its activations, then back-propagates through them. Activation memory of a pass
// is then the blocks' inputs plus one block's activations, instead of every block's activations.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace inseq::models {

// A block as a function of its input [batch, seq, hidden] -> [batch, seq, hidden]. It must own everything it
// reads besides its input (capture by value): the backward calls it after the model's forward() returned.
using BlockFn = std::function<at::Tensor(const at::Tensor&)>;

// block(x), differentiable with respect to x only (the weights get no gradient), recomputed in the backward.
at::Tensor checkpointed_block(const at::Tensor& x, std::shared_ptr<const BlockFn> block);

}  // namespace inseq::models
