#include "models/gpt_neox.h"

#include <ATen/ATen.h>

#include <cmath>
#include <memory>
#include <tuple>

#include "core/error.h"
#include "models/block_loop.h"
#include "models/layers.h"
#include "models/lrp_rules.h"

namespace inseq::models {

namespace {

std::string layer_name(int64_t i, const std::string& rest) { return "gpt_neox.layers." + std::to_string(i) + "." + rest; }

// transformers' apply_rotary_pos_emb with partial rotary: the first cos.size(-1) dims of each head rotate, the
// rest pass through. x [b, h, s, d], cos/sin [b, 1, s, rotary dims].
at::Tensor apply_partial_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t rd = cos.size(-1);
  return at::cat({apply_rope(x.slice(-1, 0, rd), cos, sin), x.slice(-1, rd)}, -1);
}

}  // namespace

GptNeoxModel::GptNeoxModel(const ModelConfig& config, const WeightStore& w, c10::Device device, c10::ScalarType dtype) {
  config_ = config;
  device_ = device;
  dtype_ = dtype;
  const int64_t h = config.hidden_size, inter = config.intermediate_size, vocab = config.vocab_size;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return w.load(name, shape, dtype, device); };
  auto load_opt = [&](const std::string& name, std::vector<int64_t> shape, bool present) {
    return present ? load(name, shape) : at::Tensor();
  };
  embed_in_ = load("gpt_neox.embed_in.weight", {vocab, h});
  for (int64_t i = 0; i < config.num_layers; ++i) {
    GptNeoxLayer l;
    l.ln1_w = load(layer_name(i, "input_layernorm.weight"), {h});
    l.ln1_b = load(layer_name(i, "input_layernorm.bias"), {h});
    l.qkv_w = load(layer_name(i, "attention.query_key_value.weight"), {3 * h, h});
    l.qkv_b = load_opt(layer_name(i, "attention.query_key_value.bias"), {3 * h}, config.qkv_bias);
    l.dense_w = load(layer_name(i, "attention.dense.weight"), {h, h});
    l.dense_b = load_opt(layer_name(i, "attention.dense.bias"), {h}, config.o_bias);
    l.ln2_w = load(layer_name(i, "post_attention_layernorm.weight"), {h});
    l.ln2_b = load(layer_name(i, "post_attention_layernorm.bias"), {h});
    l.fc_w = load(layer_name(i, "mlp.dense_h_to_4h.weight"), {inter, h});
    l.fc_b = load(layer_name(i, "mlp.dense_h_to_4h.bias"), {inter});
    l.proj_w = load(layer_name(i, "mlp.dense_4h_to_h.weight"), {h, inter});
    l.proj_b = load(layer_name(i, "mlp.dense_4h_to_h.bias"), {h});
    layers_.push_back(std::move(l));
  }
  final_ln_w_ = load("gpt_neox.final_layer_norm.weight", {h});
  final_ln_b_ = load("gpt_neox.final_layer_norm.bias", {h});
  // transformers 5 names the head lm_head in the module and writes it back as embed_out (its checkpoint rename).
  if (!config.tie_word_embeddings) {
    head_name_ = w.contains("embed_out.weight") || !w.contains("lm_head.weight") ? "embed_out.weight" : "lm_head.weight";
  }
  lm_head_ = load_lm_head(w, config, embed_in_, head_name_, device, dtype);
  inv_freq_ = rope_inv_freq(config.rope, rope_dim(config));
}

at::Tensor GptNeoxModel::embed(const at::Tensor& ids) const {
  return at::embedding(embed_in_, ids.to(device_, at::kLong));  // [batch, seq, hidden]
}

ForwardResult GptNeoxModel::forward(const ForwardRequest& req) const {
  const ModelConfig& c = config_;
  at::Tensor x = req.inputs_embeds.to(dtype_);  // [batch, seq, hidden]
  const int64_t batch = x.size(0), seq = x.size(1);
  at::Tensor mask = request_mask(req, batch, seq, device_);  // [batch, past + seq]
  at::Tensor pos = rotary_positions(*this, req, mask, seq);  // [batch, seq]
  if (training_ && c.hidden_dropout > 0) x = at::dropout(x, c.hidden_dropout, true);  // emb_dropout
  const AttentionPlan plan = attention_plan(req, seq, 0, training_ && c.attention_dropout > 0);
  at::Tensor bias = plan == AttentionPlan::kExplicit ? causal_attention_bias(mask, seq, 0, dtype_) : at::Tensor();  // [b, 1, s, past+s]
  auto [cos, sin] = rope_cos_sin(inv_freq_, pos, dtype_);  // [batch, 1, seq, rotary dims]
  ForwardResult out;
  x = run_blocks(x, c.num_layers, req, training_, out,
                 [this, mask, bias, plan, cos = cos, sin = sin](int64_t i, const at::Tensor& in, const ForwardRequest& r, ForwardResult* o) {
                   return block(i, in, mask, bias, plan, cos, sin, r, o);
                 });
  x = lrp_layer_norm(x, final_ln_w_, final_ln_b_, c.norm_eps, req.lrp);  // [b, s, h]
  if (req.output_hidden_states) out.hidden_states.push_back(x);
  at::Tensor kept = select_logit_positions(req, x);  // [b, s', h]
  out.logits = at::linear(kept, lm_head_).to(accum_type(dtype_));  // [b, kept, vocab] float32 (float64 models: float64)
  return out;
}

at::Tensor GptNeoxModel::block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan,
                               const at::Tensor& cos, const at::Tensor& sin, const ForwardRequest& req, ForwardResult* out) const {
  const ModelConfig& c = config_;
  const GptNeoxLayer& l = layers_[i];
  const int64_t batch = x.size(0), seq = x.size(1);
  const int64_t nh = c.num_heads, hd = c.head_dim, h = c.hidden_size;
  const double scale = std::pow(static_cast<double>(hd), -0.5);
  at::Tensor hn = lrp_layer_norm(x, l.ln1_w, l.ln1_b, c.norm_eps, req.lrp);  // [b, s, h]
  // The fused projection holds each head's q, k and v side by side: [b, s, nh, 3 hd] -> 3 x [b, nh, s, hd].
  auto qkv = linear(hn, l.qkv_w, l.qkv_b).view({batch, seq, nh, 3 * hd}).transpose(1, 2).chunk(3, -1);
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  if (req.value_hook) v = req.value_hook(i, v);
  q = apply_partial_rope(q, cos, sin);
  k = apply_partial_rope(k, cos, sin);
  if (req.cache) std::tie(k, v) = req.cache->append(i, c.num_layers, k, v);  // [b, nh, past+s, hd]
  lrp_attention_inputs(q, k, v, req.lrp);
  auto [ctx, probs] = planned_attention(plan, q, k, v, mask, bias, 0, scale, c.attention_dropout, training_, req);
  if (req.output_attentions) out->attentions.push_back(probs);
  at::Tensor attn_out = linear(ctx.transpose(1, 2).reshape({batch, seq, h}), l.dense_w, l.dense_b);  // [b, s, h]
  if (req.attention_parts_hook) req.attention_parts_hook(i, {x, probs, v, l.dense_w.t().reshape({nh, hd, h}), at::Tensor(), attn_out, at::Tensor(), at::Tensor()});
  if (training_ && c.hidden_dropout > 0) attn_out = at::dropout(attn_out, c.hidden_dropout, true);  // post_attention_dropout
  cancel_point(attn_out);  // between attention and MLP too: half a block of latency
  // Parallel: the MLP reads the block's input; sequential: the attention's residual sum.
  at::Tensor mlp_in = c.parallel_residual ? x : attn_out.add(x);
  at::Tensor hm = lrp_layer_norm(mlp_in, l.ln2_w, l.ln2_b, c.norm_eps, req.lrp);  // [b, s, h]
  at::Tensor mlp = linear(lrp_activation(linear(hm, l.fc_w, l.fc_b), c.hidden_act, req.lrp, req.deeplift), l.proj_w, l.proj_b);  // [b, s, h]
  if (training_ && c.hidden_dropout > 0) mlp = at::dropout(mlp, c.hidden_dropout, true);  // post_mlp_dropout
  // transformers' order of the sums: mlp + attn + x (parallel), mlp + (attn + x) (sequential).
  return c.parallel_residual ? mlp.add(attn_out).add(x) : mlp.add(mlp_in);
}

LogitLens GptNeoxModel::logit_lens() const { return {false, final_ln_w_, config_.norm_eps, lm_head_}; }

std::map<std::string, at::Tensor> GptNeoxModel::named_parameters() const {
  std::map<std::string, at::Tensor> p;
  p["gpt_neox.embed_in.weight"] = embed_in_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const GptNeoxLayer& l = layers_[i];
    const int64_t li = static_cast<int64_t>(i);
    p[layer_name(li, "input_layernorm.weight")] = l.ln1_w;
    p[layer_name(li, "input_layernorm.bias")] = l.ln1_b;
    p[layer_name(li, "attention.query_key_value.weight")] = l.qkv_w;
    if (l.qkv_b.defined()) p[layer_name(li, "attention.query_key_value.bias")] = l.qkv_b;
    p[layer_name(li, "attention.dense.weight")] = l.dense_w;
    if (l.dense_b.defined()) p[layer_name(li, "attention.dense.bias")] = l.dense_b;
    p[layer_name(li, "post_attention_layernorm.weight")] = l.ln2_w;
    p[layer_name(li, "post_attention_layernorm.bias")] = l.ln2_b;
    p[layer_name(li, "mlp.dense_h_to_4h.weight")] = l.fc_w;
    p[layer_name(li, "mlp.dense_h_to_4h.bias")] = l.fc_b;
    p[layer_name(li, "mlp.dense_4h_to_h.weight")] = l.proj_w;
    p[layer_name(li, "mlp.dense_4h_to_h.bias")] = l.proj_b;
  }
  p["gpt_neox.final_layer_norm.weight"] = final_ln_w_;
  p["gpt_neox.final_layer_norm.bias"] = final_ln_b_;
  if (!head_name_.empty()) p[head_name_] = lm_head_;
  return p;
}

}  // namespace inseq::models
