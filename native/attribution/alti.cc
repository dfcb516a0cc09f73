#include "attribution/alti.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace inseq::attribution {

using core::Error;
using core::ErrorCode;

std::pair<at::Tensor, at::Tensor> alti_block(const models::AttentionParts& p, const at::Tensor& g, double block_bytes, AltiKeys keys) {
  const auto f64 = at::kDouble;
  at::Tensor x = p.residual[0].to(f64);                   // [n, h] the queries' residual
  at::Tensor A = p.probs[0].to(f64);                      // [H, n, k]
  at::Tensor U = p.values[0].to(f64).matmul(p.out_weight.to(x.device(), f64));  // [H, k, h]: each source's value through its head's output projection
  at::Tensor y = p.block_output.defined() ? p.block_output[0].to(f64) : x.add(p.output[0].to(f64));  // [n, h] the block's output
  at::Tensor post = p.post_scale.defined() ? p.post_scale[0].to(f64) : at::Tensor();  // [n, h]
  at::Tensor sum_scale = p.sum_scale.defined() ? p.sum_scale[0].to(f64) : at::Tensor();  // [n, h]
  const int64_t n = x.size(0), h = x.size(1), H = A.size(0), k = A.size(2);
  const bool cross = keys == AltiKeys::kCross;
  const int64_t cols = cross ? k + 1 : k;
  const int64_t rows = std::clamp<int64_t>(static_cast<int64_t>(block_bytes / (8.0 * static_cast<double>(cols * h) * 3.0)), 1, n);
  at::Tensor C = at::zeros({n, cols}, x.options());  // [n, cols] contributions
  at::Tensor D = at::zeros({n, k}, x.options());     // [n, k] logit updates (before the final norm's 1/sigma)
  // A LayerNorm after the residual sum, linearised at the queries [i0, i1): centred, times gamma / sigma_i.
  auto after_sum = [&](const at::Tensor& T, int64_t i0, int64_t i1) {  // [r, m, h]
    return sum_scale.defined() ? T.sub(T.mean(-1, true)).mul(sum_scale.slice(0, i0, i1).unsqueeze(1)) : T;
  };
  for (int64_t i0 = 0; i0 < n; i0 += rows) {
    const int64_t i1 = std::min(n, i0 + rows), r = i1 - i0;
    at::Tensor T = at::zeros({r, k, h}, x.options());  // [r, k, h] T_i(x_j): the attention output of query i from source j
    for (int64_t hh = 0; hh < H; ++hh) T.add_(A[hh].slice(0, i0, i1).unsqueeze(-1).mul(U[hh].unsqueeze(0)));  // [r, k, 1] x [1, k, h]
    if (post.defined()) T.mul_(post.slice(0, i0, i1).unsqueeze(1));
    D.slice(0, i0, i1).copy_(after_sum(T, i0, i1).mul(g.slice(0, i0, i1).to(f64).unsqueeze(1)).sum(-1));  // [r, k]
    if (cross) {
      T = at::cat({x.slice(0, i0, i1).unsqueeze(1), T}, 1);  // [r, 1 + k]: the residual, a source of its own
    } else {
      at::Tensor q = at::arange(r, at::TensorOptions().dtype(at::kLong).device(x.device()));  // [r]
      T.index_put_({q, q.add(i0)}, T.index({q, q.add(i0)}).add(x.slice(0, i0, i1)));  // the residual: T_i(x_i) += x_i
    }
    T = after_sum(T, i0, i1);
    at::Tensor yb = y.slice(0, i0, i1).unsqueeze(1);                               // [r, 1, h]
    at::Tensor c = yb.abs().sum(-1).sub(yb.sub(T).abs().sum(-1)).clamp_min(0);     // [r, cols]: max(0, |y_i|_1 - |y_i - T_i(x_j)|_1)
    if (keys == AltiKeys::kCausal) c = c.mul(at::ones({r, cols}, c.options()).tril(i0));  // sources after the query: 0
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

namespace {

// The direction g [t, h] at the input of a LayerNorm linearised at each row: centre(scale * g) (scale gamma / sigma).
at::Tensor pull_back(const at::Tensor& g, const at::Tensor& scale) {
  at::Tensor s = scale.to(at::kDouble).mul(g);  // [t, h]
  return s.sub(s.mean(-1, true));
}

}  // namespace

AltiLogitResult alti_logit_seq2seq(const models::EncoderDecoderLM& base, const AltiSeq2SeqRequest& r) {
  const models::EncoderDecoderLM* model = &base;
  if (!model->info().has_attention_parts) {
    throw Error(ErrorCode::kUnsupportedModel, "alti_logit decomposes each attention block inside the model's own code: among encoder-decoders, the "
                                              "native families (bart, marian, mbart, m2m_100, t5) only");
  }
  const models::LogitLens lens = model->logit_lens();
  const auto f64 = at::kDouble;
  const int64_t s = r.source_embeds.size(1), t = r.target_embeds.size(1), n = s + t, L = model->info().decoder_layers;
  const auto opts = at::TensorOptions().dtype(f64).device(model->device());
  at::Tensor pos = r.positions.to(model->device(), at::kLong);  // [S] decoder positions
  // Rollouts over source ++ target: the encoder's states [s, n] and the decoder's [t, n].
  at::Tensor R_enc = at::cat({at::eye(s, opts), at::zeros({s, t}, opts)}, 1);
  at::Tensor R_dec = at::cat({at::zeros({t, s}, opts), at::eye(t, opts)}, 1);
  std::vector<models::AttentionParts> self_parts(L), cross_parts(L);
  std::vector<at::Tensor> ffn_scale(L);  // post-LN: [t, h] gamma / sigma after each feed-forward sum (undefined: pre-norm)
  at::Tensor final_x;                    // [1, t, h] the decoder's last layer output (before a final norm)
  models::EncDecRequest er;
  er.source_embeds = r.source_embeds;
  er.source_mask = at::ones({1, s}, at::TensorOptions().dtype(at::kLong).device(model->device()));
  er.target_embeds = r.target_embeds;
  er.logits_positions = pos.unsqueeze(0);
  er.attention_parts_hook = [&](const std::string& block, int64_t layer, const models::AttentionParts& p) {
    if (block == "encoder") {  // the source's rollout, as the encoder runs
      R_enc = alti_block(p, at::zeros({s, p.residual.size(2)}, opts), r.block_bytes, AltiKeys::kAll).first.matmul(R_enc);
    } else {  // the decoder's need each query's direction pulled back through the norms after them: kept
      (block == "decoder" ? self_parts : cross_parts)[layer] = p;
    }
  };
  er.ffn_norm_scale_hook = [&](int64_t layer, const at::Tensor& scale) { ffn_scale[layer] = scale[0]; };
  er.layer_hook = [&](const std::string& stack, int64_t layer, const at::Tensor& hidden) {
    if (stack == "decoder" && layer == L - 1) final_x = hidden;
    return hidden;
  };
  model->forward(er);
  // Each query's direction at the decoder's output: the final norm (pre-LN) linearised there, or the head alone.
  const at::Tensor& W = lens.unembedding;                                      // [V, h]
  at::Tensor u = W.index_select(0, r.targets.to(W.device(), at::kLong)).to(f64);  // [S, h]
  if (r.contrast.defined()) u = u.sub(W.index_select(0, r.contrast.to(W.device(), at::kLong)).to(f64));
  u = u.mul(lens.scale);
  if (lens.weight.defined()) {  // LayerNorm: centred; RMSNorm: w / rms
    at::Tensor xf = final_x[0].index_select(0, pos).to(f64);                                       // [S, h]
    if (!lens.rms) xf = xf.sub(xf.mean(-1, true));
    at::Tensor sigma = xf.pow(2).mean(-1, true).add(lens.eps).sqrt();                              // [S, 1]
    u = lens.rms ? u.mul(lens.weight.to(f64)).div(sigma) : pull_back(u, lens.weight).div(sigma);
  }
  at::Tensor g = at::zeros({t, u.size(1)}, opts).index_copy(0, pos, u);  // [t, h] per query row
  std::vector<at::Tensor> g_self(L), g_cross(L);  // [t, h] the direction at each sub-block's output
  for (int64_t l = L - 1; l >= 0; --l) {
    if (ffn_scale[l].defined()) g = pull_back(g, ffn_scale[l]);
    g_cross[l] = g;
    if (cross_parts[l].sum_scale.defined()) g = pull_back(g, cross_parts[l].sum_scale[0]);
    g_self[l] = g;
    if (self_parts[l].sum_scale.defined()) g = pull_back(g, self_parts[l].sum_scale[0]);
  }
  at::Tensor acc = at::zeros({pos.size(0), n}, opts);  // [S, n]
  for (int64_t l = 0; l < L; ++l) {
    auto [Cs, Ds] = alti_block(self_parts[l], g_self[l], r.block_bytes, AltiKeys::kCausal);  // [t, t], [t, t]
    acc.add_(Ds.index_select(0, pos).matmul(R_dec));
    R_dec = Cs.matmul(R_dec);
    auto [Cc, Dc] = alti_block(cross_parts[l], g_cross[l], r.block_bytes, AltiKeys::kCross);  // [t, 1 + s], [t, s]
    acc.add_(Dc.index_select(0, pos).matmul(R_enc));
    R_dec = Cc.slice(1, 0, 1).mul(R_dec).add(Cc.slice(1, 1).matmul(R_enc));
  }
  return {acc, R_dec};
}

}  // namespace inseq::attribution
