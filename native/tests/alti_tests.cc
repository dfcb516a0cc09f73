// ALTI's per-block contributions and logit updates on a hand-made block whose answers are worked out by hand.
#include <ATen/ATen.h>

#include "attribution/alti.h"
#include "tests/test.h"

using namespace inseq::attribution;

TEST(alti_block_contributions_and_logit_updates_by_hand) {
  // 2 tokens, hidden 2, one head of size 2, W_O = I, no bias.
  inseq::models::AttentionParts p;
  p.residual = at::tensor({1.0, 0.0, 0.0, 1.0}, at::kDouble).view({1, 2, 2});     // x_0 = [1, 0], x_1 = [0, 1]
  p.probs = at::tensor({1.0, 0.0, 0.5, 0.5}, at::kDouble).view({1, 1, 2, 2});
  p.values = at::tensor({1.0, 1.0, 2.0, 0.0}, at::kDouble).view({1, 1, 2, 2});     // v_0 = [1, 1], v_1 = [2, 0]
  p.out_weight = at::eye(2, at::kDouble).view({1, 2, 2});
  p.output = at::tensor({1.0, 1.0, 1.5, 0.5}, at::kDouble).view({1, 2, 2});        // o_0 = v_0, o_1 = (v_0 + v_1) / 2
  at::Tensor g = at::tensor({0.0, 0.0, 1.0, -1.0}, at::kDouble).view({2, 2});      // only row 1 asks for a logit
  for (double block_bytes : {1.0, 1e6}) {  // one query row per block, and all at once
    auto [C, D] = alti_block(p, g, block_bytes);
    // y_1 = [1.5, 1.5]: |y_1 - T~(x_0)| = |[1, 1]| = 2 -> 3 - 2 = 1; |y_1 - T~(x_1)| = |[0.5, 0.5]| = 1 -> 2; row 1 = [1/3, 2/3]
    ASSERT_TRUE(at::allclose(C, at::tensor({1.0, 0.0, 1.0 / 3, 2.0 / 3}, at::kDouble).view({2, 2})));
    // logit updates of row 1 (no residual): [0.5, 0.5] . [1, -1] = 0 and [1, 0] . [1, -1] = 1
    ASSERT_TRUE(at::allclose(D, at::tensor({0.0, 0.0, 0.0, 1.0}, at::kDouble).view({2, 2})));
  }
  // a post-attention norm scale multiplies each query's vectors: row 1 halved halves its logit updates
  p.post_scale = at::tensor({1.0, 1.0, 0.5, 0.5}, at::kDouble).view({1, 2, 2});
  p.output = at::tensor({1.0, 1.0, 0.75, 0.25}, at::kDouble).view({1, 2, 2});
  auto [C, D] = alti_block(p, g, 1e6);
  ASSERT_TRUE(std::abs(D[1][1].item<double>() - 0.5) < 1e-12);
  ASSERT_TRUE(at::allclose(C.sum(-1), at::ones({2}, at::kDouble)));
}

TEST(alti_block_encoder_cross_and_post_norm_by_hand) {
  // Encoder self-attention (kAll): query 0 attends to key 1 only, which the causal layout would mask.
  inseq::models::AttentionParts p;
  p.residual = at::tensor({1.0, 0.0, 0.0, 1.0}, at::kDouble).view({1, 2, 2});  // x_0 = [1, 0], x_1 = [0, 1]
  p.probs = at::tensor({0.0, 1.0, 0.5, 0.5}, at::kDouble).view({1, 1, 2, 2});
  p.values = at::tensor({1.0, 1.0, 2.0, 0.0}, at::kDouble).view({1, 1, 2, 2});  // v_0 = [1, 1], v_1 = [2, 0]
  p.out_weight = at::eye(2, at::kDouble).view({1, 2, 2});
  p.output = at::tensor({2.0, 0.0, 1.5, 0.5}, at::kDouble).view({1, 2, 2});
  at::Tensor g0 = at::zeros({2, 2}, at::kDouble);
  // y_0 = [3, 0]: T~(x_0) = x_0 -> 3 - 2 = 1; T(x_1) = [2, 0] -> 3 - 1 = 2; row 0 = [1/3, 2/3] (causal: [1, 0])
  ASSERT_TRUE(at::allclose(alti_block(p, g0, 1e6, AltiKeys::kAll).first[0], at::tensor({1.0 / 3, 2.0 / 3}, at::kDouble)));
  ASSERT_TRUE(at::allclose(alti_block(p, g0, 1e6, AltiKeys::kCausal).first[0], at::tensor({1.0, 0.0}, at::kDouble)));

  // Cross-attention (kCross): one query x = [1, 0] over two encoder outputs, T_0 = [1, 0], T_1 = [0, 1].
  inseq::models::AttentionParts c;
  c.residual = at::tensor({1.0, 0.0}, at::kDouble).view({1, 1, 2});
  c.probs = at::tensor({0.5, 0.5}, at::kDouble).view({1, 1, 1, 2});
  c.values = at::tensor({2.0, 0.0, 0.0, 2.0}, at::kDouble).view({1, 1, 2, 2});
  c.out_weight = at::eye(2, at::kDouble).view({1, 2, 2});
  c.output = at::tensor({1.0, 1.0}, at::kDouble).view({1, 1, 2});  // y = [2, 1]
  at::Tensor g = at::tensor({1.0, -1.0}, at::kDouble).view({1, 2});
  for (double block_bytes : {1.0, 1e6}) {
    auto [C, D] = alti_block(c, g, block_bytes, AltiKeys::kCross);
    // the residual and each encoder output are at L1 distance 2 from y (|y| = 3): 1 each, normalised
    ASSERT_TRUE(at::allclose(C, at::full({1, 3}, 1.0 / 3, at::kDouble)));
    ASSERT_TRUE(at::allclose(D, at::tensor({1.0, -1.0}, at::kDouble).view({1, 2})));
  }
  // A LayerNorm after the residual sum (post-LN), gamma / sigma = 2, beta = 0: the output is 2 centre([2, 1]) = [1, -1];
  // the terms become 2 centre(.): residual [1, -1] and T_0 [1, -1] (distance 0 -> 2), T_1 [-1, 1] (distance 4 -> 0)
  c.sum_scale = at::full({1, 1, 2}, 2.0, at::kDouble);
  c.block_output = at::tensor({1.0, -1.0}, at::kDouble).view({1, 1, 2});
  auto [C, D] = alti_block(c, g, 1e6, AltiKeys::kCross);
  ASSERT_TRUE(at::allclose(C, at::tensor({0.5, 0.5, 0.0}, at::kDouble).view({1, 3})));
  ASSERT_TRUE(at::allclose(D, at::tensor({2.0, -2.0}, at::kDouble).view({1, 2})));  // [1, -1] . [1, -1], [-1, 1] . [1, -1]
}
