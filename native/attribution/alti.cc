#include "attribution/alti.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"

namespace inseq::attribution {

using core::Error;
using core::ErrorCode;

std::pair<at::Tensor, at::Tensor> alti_block(const models::AttentionParts& p, const at::Tensor& g, double block_bytes) {
  const auto f64 = at::kDouble;
  at::Tensor x = p.residual[0].to(f64);                   // [n, h]
  at::Tensor A = p.probs[0].to(f64);                      // [H, n, n]
  at::Tensor U = p.values[0].to(f64).matmul(p.out_weight.to(x.device(), f64));  // [H, n, h]: each source's value through its head's output projection
  at::Tensor y = x.add(p.output[0].to(f64));              // [n, h] the block's residual sum
  at::Tensor post = p.post_scale.defined() ? p.post_scale[0].to(f64) : at::Tensor();  // [n, h]
  const int64_t n = x.size(0), h = x.size(1), H = A.size(0);
  const int64_t rows = std::clamp<int64_t>(static_cast<int64_t>(block_bytes / (8.0 * static_cast<double>(n * h) * 3.0)), 1, n);
  at::Tensor C = at::zeros({n, n}, x.options());  // [n, n] contributions
  at::Tensor D = at::zeros({n, n}, x.options());  // [n, n] logit updates (before the final norm's 1/sigma)
  for (int64_t i0 = 0; i0 < n; i0 += rows) {
    const int64_t i1 = std::min(n, i0 + rows), r = i1 - i0;
    at::Tensor T = at::zeros({r, n, h}, x.options());  // [r, n, h] T_i(x_j): the attention output of query i from source j
    for (int64_t hh = 0; hh < H; ++hh) T.add_(A[hh].slice(0, i0, i1).unsqueeze(-1).mul(U[hh].unsqueeze(0)));  // [r, n, 1] x [1, n, h]
    if (post.defined()) T.mul_(post.slice(0, i0, i1).unsqueeze(1));
    D.slice(0, i0, i1).copy_(T.mul(g.slice(0, i0, i1).to(f64).unsqueeze(1)).sum(-1));  // [r, n]
    at::Tensor q = at::arange(r, at::TensorOptions().dtype(at::kLong).device(x.device()));  // [r]
    T.index_put_({q, q.add(i0)}, T.index({q, q.add(i0)}).add(x.slice(0, i0, i1)));  // the residual: T_i(x_i) += x_i
    at::Tensor yb = y.slice(0, i0, i1).unsqueeze(1);                               // [r, 1, h]
    at::Tensor c = yb.abs().sum(-1).sub(yb.sub(T).abs().sum(-1)).clamp_min(0);     // [r, n]: max(0, |y_i|_1 - |y_i - T_i(x_j)|_1)
    c = c.mul(at::ones({r, n}, c.options()).tril(i0));                             // sources after the query: 0
    at::Tensor sums = c.sum(-1, true);                                             // [r, 1]
    C.slice(0, i0, i1).copy_(c.div(at::where(sums.gt(0), sums, at::ones_like(sums))));
  }
  return {C, D};
}

AltiLogitResult alti_logit(const models::CausalLM& model, const AltiLogitRequest& r) {
  if (!model.capabilities().attention_parts || model.encoder_decoder()) {
    throw Error(ErrorCode::kUnsupportedModel,
                "alti_logit decomposes each attention block inside the model's own code: native decoder-only models (gpt2, gpt_neox, "
                "the llama family, gemma) only; this model does not expose its attention blocks' parts");
  }
  const models::LogitLens lens = model.logit_lens();
  const auto f64 = at::kDouble;
  const int64_t n = r.embeds.size(1), L = model.config().num_layers;
  at::Tensor pos = r.positions.to(model.device(), at::kLong);                      // [S]
  at::Tensor u = r.directions.to(model.device(), f64).mul(lens.weight.to(f64));    // [S, h] gamma * u
  if (!lens.rms) u = u.sub(u.mean(-1, true));                                       // LayerNorm centres its input
  at::Tensor g = at::zeros({n, u.size(1)}, u.options()).index_copy(0, pos, u);      // [n, h] per query row
  at::Tensor R = at::eye(n, u.options());                                           // [n, n] ALTI rollout below the block
  at::Tensor acc = at::zeros({pos.size(0), n}, u.options());                        // [S, n]
  at::Tensor final_x;                                                               // [1, n, h] the last block's output
  models::ForwardRequest fr;
  fr.inputs_embeds = r.embeds;
  fr.logits_positions = pos.unsqueeze(0);
  fr.attention_parts_hook = [&](int64_t, const models::AttentionParts& parts) {
    auto [C, D] = alti_block(parts, g, r.block_bytes);  // [n, n], [n, n]
    acc.add_(D.index_select(0, pos).matmul(R));         // the block's logit updates, carried to the inputs
    R = C.matmul(R);
  };
  fr.layer_output_hook = [&](int64_t layer, const at::Tensor& hidden) {
    if (layer == L - 1) final_x = hidden;
    return hidden;
  };
  model.forward(fr);
  at::Tensor xf = final_x[0].index_select(0, pos).to(f64);  // [S, h]
  at::Tensor var = lens.rms ? xf.pow(2).mean(-1, true) : xf.sub(xf.mean(-1, true)).pow(2).mean(-1, true);  // [S, 1]
  return {acc.div(var.add(lens.eps).sqrt()), R};
}

}  // namespace inseq::attribution
