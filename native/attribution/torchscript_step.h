// Differentiable custom step functions written in TorchScript and compiled natively (torch::jit::compile).
// The source defines `def step(logits: Tensor, targets: Tensor, contrast_logits: Tensor,
// contrast_targets: Tensor) -> Tensor` returning one score per row; gradients flow through it.
#pragma once

#include <string>

#include "attribution/step_functions.h"

namespace inseq::attribution {

// Compiles `source` (throws kInvalidOption with the compiler's message) into a StepFunctionInfo.
StepFunctionInfo compile_step_function(const std::string& id, const std::string& source);

}  // namespace inseq::attribution
