// DeepLIFT's rule as a hook a forward request carries (ForwardRequest::deeplift, EncDecRequest::deeplift).
#pragma once

#include <cstdint>

namespace inseq::models {

// DeepLIFT (Rescale rule, Shrikumar et al. 2017). When active, the batch holds input rows [0, half) followed by
// their reference rows [half, 2 * half), and the nonlinearities of the blocks back-propagate multipliers
// (f(z) - f(z')) / (z - z') instead of f'(z): the MLP activations elementwise, and the attention softmax with
// Captum's rule (elementwise ratio, then centred over the row). Norms and the q.k / attention.v products keep
// their ordinary gradients (linearised at the input).
struct DeepLiftRule {
  int64_t half = 0;  // 0 = inactive
  bool active() const { return half > 0; }
};

}  // namespace inseq::models
