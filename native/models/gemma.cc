#include "models/gemma.h"

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

std::string layer_name(int64_t i, const std::string& rest) { return "model.layers." + std::to_string(i) + "." + rest; }

}  // namespace

GemmaModel::GemmaModel(const ModelConfig& config, const WeightStore& w, c10::Device device, c10::ScalarType dtype) {
  config_ = config;
  device_ = device;
  dtype_ = dtype;
  const int64_t h = config.hidden_size, hd = config.head_dim, nh = config.num_heads, kv = config.num_kv_heads;
  const int64_t inter = config.intermediate_size, vocab = config.vocab_size;
  const int generation = config.gemma_generation;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return w.load(name, shape, dtype, device); };
  auto load_if = [&](const std::string& name, std::vector<int64_t> shape, bool present) {
    return present ? load(name, shape) : at::Tensor();
  };
  embed_tokens_ = load("model.embed_tokens.weight", {vocab, h});
  for (int64_t i = 0; i < config.num_layers; ++i) {
    GemmaLayer l;
    l.input_norm = load(layer_name(i, "input_layernorm.weight"), {h});
    l.q_w = load(layer_name(i, "self_attn.q_proj.weight"), {nh * hd, h});
    l.k_w = load(layer_name(i, "self_attn.k_proj.weight"), {kv * hd, h});
    l.v_w = load(layer_name(i, "self_attn.v_proj.weight"), {kv * hd, h});
    l.o_w = load(layer_name(i, "self_attn.o_proj.weight"), {h, nh * hd});
    l.q_b = load_if(layer_name(i, "self_attn.q_proj.bias"), {nh * hd}, config.qkv_bias);
    l.k_b = load_if(layer_name(i, "self_attn.k_proj.bias"), {kv * hd}, config.qkv_bias);
    l.v_b = load_if(layer_name(i, "self_attn.v_proj.bias"), {kv * hd}, config.qkv_bias);
    l.o_b = load_if(layer_name(i, "self_attn.o_proj.bias"), {h}, config.o_bias);
    l.q_norm = load_if(layer_name(i, "self_attn.q_norm.weight"), {hd}, generation == 3);
    l.k_norm = load_if(layer_name(i, "self_attn.k_norm.weight"), {hd}, generation == 3);
    l.post_attn_norm = load(layer_name(i, "post_attention_layernorm.weight"), {h});
    l.pre_ff_norm = load_if(layer_name(i, "pre_feedforward_layernorm.weight"), {h}, generation >= 2);
    l.post_ff_norm = load_if(layer_name(i, "post_feedforward_layernorm.weight"), {h}, generation >= 2);
    l.gate_w = load(layer_name(i, "mlp.gate_proj.weight"), {inter, h});
    l.up_w = load(layer_name(i, "mlp.up_proj.weight"), {inter, h});
    l.down_w = load(layer_name(i, "mlp.down_proj.weight"), {h, inter});
    l.sliding = !config.sliding_layers.empty() && config.sliding_layers[static_cast<size_t>(i)];
    layers_.push_back(std::move(l));
  }
  final_norm_ = load("model.norm.weight", {h});
  lm_head_ = load_lm_head(w, config, embed_tokens_, "lm_head.weight", device, dtype);
  // torch.tensor(hidden_size ** 0.5) is float32; the embedding casts it to the weights' dtype (bf16: 55.4256 -> 55.5).
  embed_scale_ = at::scalar_tensor(static_cast<float>(std::pow(static_cast<double>(h), 0.5)), at::kFloat).to(device, dtype);
  inv_freq_ = rope_inv_freq(config.rope, hd);
  local_inv_freq_ = generation == 3 ? rope_inv_freq(config.local_rope, hd) : inv_freq_;
  scale_ = std::pow(generation == 1 ? static_cast<double>(hd) : config.query_pre_attn_scalar, -0.5);
}

at::Tensor GemmaModel::embed(const at::Tensor& ids) const {
  return at::embedding(embed_tokens_, ids.to(device_, at::kLong)).mul(embed_scale_);  // [batch, seq, hidden]
}

at::Tensor GemmaModel::norm(const at::Tensor& x, const at::Tensor& weight, const LrpRule& lrp) const {
  return lrp_gemma_rms_norm(x, weight, config_.norm_eps, lrp);  // [.., d]
}

ForwardResult GemmaModel::forward(const ForwardRequest& req) const {
  const ModelConfig& c = config_;
  at::Tensor x = req.inputs_embeds.to(dtype_);  // [batch, seq, hidden] (already scaled: embed())
  const int64_t batch = x.size(0), seq = x.size(1);
  Shared sh;
  sh.mask = request_mask(req, batch, seq, device_);  // [batch, past + seq]
  at::Tensor pos = rotary_positions(*this, req, sh.mask, seq);  // [batch, seq]
  bool any_sliding = false;
  for (const auto& l : layers_) any_sliding = any_sliding || l.sliding;
  const int64_t window = any_sliding ? c.sliding_window : 0;
  sh.plan = attention_plan(req, seq, window, training_ && c.attention_dropout > 0);
  // The fused kernel has no soft-capping: capped scores run the explicit or blocked path.
  if (sh.plan == AttentionPlan::kFused && c.attn_logit_softcapping > 0) {
    sh.plan = req.attention_rows.defined() ? AttentionPlan::kQueryBlocks : AttentionPlan::kExplicit;
  }
  if (sh.plan == AttentionPlan::kExplicit) {
    sh.full_bias = causal_attention_bias(sh.mask, seq, 0, dtype_);                                  // [b, 1, s, past+s]
    if (any_sliding) sh.sliding_bias = causal_attention_bias(sh.mask, seq, c.sliding_window, dtype_);  // [b, 1, s, past+s]
  }
  std::tie(sh.cos, sh.sin) = rope_cos_sin(inv_freq_, pos, dtype_);  // [batch, 1, seq, hd]
  if (local_inv_freq_.is_same(inv_freq_)) {
    sh.local_cos = sh.cos, sh.local_sin = sh.sin;
  } else {
    std::tie(sh.local_cos, sh.local_sin) = rope_cos_sin(local_inv_freq_, pos, dtype_);  // [batch, 1, seq, hd]
  }
  ForwardResult out;
  x = run_blocks(x, c.num_layers, req, training_, out, [this, sh](int64_t i, const at::Tensor& in, const ForwardRequest& r, ForwardResult* o) {
    return block(i, in, sh, r, o);
  });
  x = norm(x, final_norm_, req.lrp);
  if (req.output_hidden_states) out.hidden_states.push_back(x);
  at::Tensor kept = select_logit_positions(req, x);  // [b, s', h]
  at::Tensor logits = at::linear(kept, lm_head_);    // [b, s', vocab] in the model dtype
  if (c.final_logit_softcapping > 0) {
    logits = req.lrp.active() ? lrp_soft_cap(logits, c.final_logit_softcapping, req.lrp)
                               : soft_cap(logits, c.final_logit_softcapping, req.deeplift);
  }
  out.logits = logits.to(accum_type(dtype_));  // float32 (float64 models: float64)
  return out;
}

at::Tensor GemmaModel::block(int64_t i, at::Tensor x, const Shared& sh, const ForwardRequest& req, ForwardResult* out) const {
  const ModelConfig& c = config_;
  const GemmaLayer& l = layers_[i];
  const int64_t batch = x.size(0), seq = x.size(1);
  const int64_t nh = c.num_heads, kv = c.num_kv_heads, hd = c.head_dim, groups = nh / kv;
  const bool sandwich = c.gemma_generation >= 2;  // gemma2/3: norms after the attention and around the MLP
  at::Tensor hn = norm(x, l.input_norm, req.lrp);                                      // [b, s, h]
  at::Tensor q = linear(hn, l.q_w, l.q_b).view({batch, seq, nh, hd}).transpose(1, 2);  // [b, nh, s, hd]
  at::Tensor k = linear(hn, l.k_w, l.k_b).view({batch, seq, kv, hd}).transpose(1, 2);  // [b, kv, s, hd]
  at::Tensor v = linear(hn, l.v_w, l.v_b).view({batch, seq, kv, hd}).transpose(1, 2);  // [b, kv, s, hd]
  if (req.value_hook) v = req.value_hook(i, v);
  if (l.q_norm.defined()) {  // gemma3 QK-norm, per head over head_dim
    q = norm(q, l.q_norm, req.lrp);
    k = norm(k, l.k_norm, req.lrp);
  }
  const at::Tensor& cos = l.sliding ? sh.local_cos : sh.cos;
  const at::Tensor& sin = l.sliding ? sh.local_sin : sh.sin;
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  if (req.cache) std::tie(k, v) = req.cache->append(i, c.num_layers, k, v);  // [b, kv, past+s, hd]
  at::Tensor k_full = groups == 1 ? k : k.repeat_interleave(groups, 1);  // [b, nh, past+s, hd]
  at::Tensor v_full = groups == 1 ? v : v.repeat_interleave(groups, 1);
  lrp_attention_inputs(q, k_full, v_full, req.lrp);
  const int64_t window = l.sliding ? c.sliding_window : 0;
  const double softcap = c.attn_logit_softcapping;
  auto [ctx, probs] =
      sh.plan == AttentionPlan::kFused
          ? std::make_pair(fused_causal_attention(q, k_full, v_full, scale_),
                           req.attention_rows.defined() ? causal_rows_probs(q, k_full, scale_, req.attention_rows) : at::Tensor())
      : sh.plan == AttentionPlan::kQueryBlocks
          ? blocked_attention(q, k_full, v_full, sh.mask, window, scale_, c.attention_dropout, training_, req.deeplift,
                              req.attention_query_block, req.attention_rows, softcap, req.lrp)
          : scaled_attention(q, k_full, v_full, l.sliding ? sh.sliding_bias : sh.full_bias, scale_, c.attention_dropout, training_,
                             req.deeplift, softcap, req.lrp);
  if (req.output_attentions) out->attentions.push_back(probs);
  at::Tensor attn_out = linear(ctx.transpose(1, 2).reshape({batch, seq, nh * hd}), l.o_w, l.o_b);  // [b, s, h]
  at::Tensor post_scale;  // [b, s, h] the post norm linearised at each query (ALTI)
  if (sandwich && req.attention_parts_hook) post_scale = rms_post_scale(attn_out, l.post_attn_norm.add(1.0), c.norm_eps);
  if (sandwich) attn_out = norm(attn_out, l.post_attn_norm, req.lrp);
  if (req.attention_parts_hook) req.attention_parts_hook(i, {x, probs, v_full, l.o_w.t().reshape({nh, hd, x.size(2)}), post_scale, attn_out, at::Tensor(), at::Tensor()});
  x = x.add(attn_out);
  cancel_point(x);  // between attention and MLP too: half a block of latency
  at::Tensor hm = norm(x, sandwich ? l.pre_ff_norm : l.post_attn_norm, req.lrp);  // [b, s, h]
  at::Tensor mlp = at::linear(lrp_gated_product(at::linear(hm, l.gate_w), at::linear(hm, l.up_w), c.hidden_act, req.lrp, req.deeplift),
                              l.down_w);  // [b, s, h]: GeGLU
  if (sandwich) mlp = norm(mlp, l.post_ff_norm, req.lrp);
  return x.add(mlp);
}

LogitLens GemmaModel::logit_lens() const { return {true, final_norm_.add(1.0), config_.norm_eps, lm_head_}; }

std::map<std::string, at::Tensor> GemmaModel::named_parameters() const {
  std::map<std::string, at::Tensor> p;
  p["model.embed_tokens.weight"] = embed_tokens_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const GemmaLayer& l = layers_[i];
    const int64_t li = static_cast<int64_t>(i);
    auto put = [&](const std::string& name, const at::Tensor& t) {
      if (t.defined()) p[layer_name(li, name)] = t;
    };
    put("input_layernorm.weight", l.input_norm);
    put("self_attn.q_proj.weight", l.q_w);
    put("self_attn.k_proj.weight", l.k_w);
    put("self_attn.v_proj.weight", l.v_w);
    put("self_attn.o_proj.weight", l.o_w);
    put("self_attn.q_proj.bias", l.q_b);
    put("self_attn.k_proj.bias", l.k_b);
    put("self_attn.v_proj.bias", l.v_b);
    put("self_attn.o_proj.bias", l.o_b);
    put("self_attn.q_norm.weight", l.q_norm);
    put("self_attn.k_norm.weight", l.k_norm);
    put("post_attention_layernorm.weight", l.post_attn_norm);
    put("pre_feedforward_layernorm.weight", l.pre_ff_norm);
    put("post_feedforward_layernorm.weight", l.post_ff_norm);
    put("mlp.gate_proj.weight", l.gate_w);
    put("mlp.up_proj.weight", l.up_w);
    put("mlp.down_proj.weight", l.down_w);
  }
  p["model.norm.weight"] = final_norm_;
  if (!config_.tie_word_embeddings) p["lm_head.weight"] = lm_head_;
  return p;
}

}  // namespace inseq::models
