// Attention rollout and flow on hand-made layers whose answers are known in closed form.
#include <ATen/ATen.h>

#include "attribution/attention_graph.h"
#include "tests/test.h"

using namespace inseq::attribution;

namespace {
at::Tensor mat(std::vector<double> v, int64_t n) { return at::tensor(v, at::kDouble).view({n, n}); }
}  // namespace

TEST(rollout_is_the_product_of_the_residual_mixing_layers) {
  // Two layers on 3 tokens, one head each: A1 = uniform causal, A2 = attend to token 0.
  at::Tensor a1 = mat({1, 0, 0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 3).unsqueeze(0);  // [1, 3, 3]
  at::Tensor a2 = mat({1, 0, 0, 1, 0, 0, 1, 0, 0}, 3).unsqueeze(0);
  MixingLayers layers = decoder_mixing({a1, a2});
  at::Tensor m1 = a1[0].mul(0.5).add(at::eye(3, at::kDouble).mul(0.5)), m2 = a2[0].mul(0.5).add(at::eye(3, at::kDouble).mul(0.5));
  ASSERT_TRUE(at::allclose(layers[0], m1) && at::allclose(layers[1], m2));
  at::Tensor r = rollout(layers, {2, 1});  // [2, 3]
  ASSERT_TRUE(at::allclose(r, m2.matmul(m1).index_select(0, at::tensor({2, 1}, at::kLong))));
  ASSERT_TRUE(at::allclose(r.sum(-1), at::ones({2}, at::kDouble)));
}

TEST(flow_is_the_max_flow_of_a_known_graph) {
  // One layer: the flow from input k to the top node q is the capacity Ã[q, k] itself.
  at::Tensor a = mat({1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5}, 3).unsqueeze(0);
  MixingLayers one = decoder_mixing({a});
  ASSERT_TRUE(at::allclose(flow(one, {2}), one[0][2].unsqueeze(0)));
  // Two layers: input 0 reaches top node 1 through (1, 0) [cap 1 then 0.25] and (1, 1) [cap 0.25 then 0.75]:
  // max flow = min(1, 0.25) + min(0.25, 0.75) = 0.5. Input 1 only through (1, 1): min(0.75, 0.75) = 0.75.
  MixingLayers two = decoder_mixing({a, a});
  at::Tensor f = flow(two, {1});  // [1, 3]
  ASSERT_TRUE(std::abs(f[0][0].item<double>() - 0.5) < 1e-12);
  ASSERT_TRUE(std::abs(f[0][1].item<double>() - 0.75) < 1e-12);
  ASSERT_TRUE(f[0][2].item<double>() == 0.0);  // after the query: no path
}

TEST(encoder_decoder_mixing_rows_are_distributions) {
  // 2 source + 2 target positions, one encoder and one decoder block, 2 heads.
  at::Tensor enc = at::softmax(at::randn({2, 2, 2}, at::kDouble), -1);
  at::Tensor dec = at::zeros({2, 4, 4}, at::kDouble);
  dec.slice(1, 2).slice(2, 0, 2).copy_(at::softmax(at::randn({2, 2, 2}, at::kDouble), -1));  // cross
  dec.slice(1, 2).slice(2, 2).copy_(at::tensor({1.0, 0.0, 0.4, 0.6}, at::kDouble).view({1, 2, 2}).expand({2, 2, 2}));  // self
  MixingLayers layers = encoder_decoder_mixing({enc}, {dec}, 2);
  ASSERT_EQ(layers.size(), size_t{3});
  at::Tensor r = rollout(layers, {2, 3});  // [2, 4]
  ASSERT_TRUE(at::allclose(r.sum(-1), at::ones({2}, at::kDouble)));
  // half of every decoder state comes from the source (the cross layer's 0.5 over the encoder output)
  ASSERT_TRUE(at::allclose(r.slice(1, 0, 2).sum(-1), at::full({2}, 0.5, at::kDouble)));
  at::Tensor f = flow(layers, {3});  // [1, 4]
  ASSERT_TRUE((f.ge(0).all().item<bool>()) && (f.le(1 + 1e-12).all().item<bool>()));
}
