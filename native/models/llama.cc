#include "models/llama.h"

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

// Olmo2RMSNorm: like rms_norm, but the weight multiplies the float32 normalised values before the cast. Under an
// active LRP rule the denominator is a constant (identity rule, models/lrp_rules.h).
at::Tensor olmo2_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const LrpRule& lrp = {}) {
  at::Tensor xf = x.to(accum_type(x.scalar_type()));  // [.., h]
  return weight.mul(xf.mul(inverse_rms(xf, eps, lrp))).to(x.scalar_type());
}

}  // namespace

LlamaModel::LlamaModel(const ModelConfig& config, const WeightStore& w, c10::Device device, c10::ScalarType dtype) {
  config_ = config;
  device_ = device;
  dtype_ = dtype;
  const int64_t h = config.hidden_size, hd = config.head_dim, nh = config.num_heads, kv = config.num_kv_heads;
  const int64_t inter = config.intermediate_size, vocab = config.vocab_size;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return w.load(name, shape, dtype, device); };
  auto load_opt = [&](const std::string& name, std::vector<int64_t> shape, bool present) {
    return present ? load(name, shape) : at::Tensor();
  };
  embed_tokens_ = load("model.embed_tokens.weight", {vocab, h});
  for (int64_t i = 0; i < config.num_layers; ++i) {
    LlamaLayer l;
    if (!config.post_norm_blocks) l.input_norm = load(layer_name(i, "input_layernorm.weight"), {h});
    if (config.fused_projections) {
      l.qkv_w = load(layer_name(i, "self_attn.qkv_proj.weight"), {(nh + 2 * kv) * hd, h});
      l.gate_up_w = load(layer_name(i, "mlp.gate_up_proj.weight"), {2 * inter, h});
    } else {
      l.q_w = load(layer_name(i, "self_attn.q_proj.weight"), {nh * hd, h});
      l.k_w = load(layer_name(i, "self_attn.k_proj.weight"), {kv * hd, h});
      l.v_w = load(layer_name(i, "self_attn.v_proj.weight"), {kv * hd, h});
      l.gate_w = load(layer_name(i, "mlp.gate_proj.weight"), {inter, h});
      l.up_w = load(layer_name(i, "mlp.up_proj.weight"), {inter, h});
    }
    if (config.qk_norm_per_head || config.qk_norm_full) {
      l.q_norm = load(layer_name(i, "self_attn.q_norm.weight"), {config.qk_norm_full ? nh * hd : hd});
      l.k_norm = load(layer_name(i, "self_attn.k_norm.weight"), {config.qk_norm_full ? kv * hd : hd});
    }
    if (config.post_norm_blocks) l.post_ffn_norm = load(layer_name(i, "post_feedforward_layernorm.weight"), {h});
    l.o_w = load(layer_name(i, "self_attn.o_proj.weight"), {h, nh * hd});
    l.q_b = load_opt(layer_name(i, "self_attn.q_proj.bias"), {nh * hd}, config.qkv_bias);
    l.k_b = load_opt(layer_name(i, "self_attn.k_proj.bias"), {kv * hd}, config.qkv_bias);
    l.v_b = load_opt(layer_name(i, "self_attn.v_proj.bias"), {kv * hd}, config.qkv_bias);
    l.o_b = load_opt(layer_name(i, "self_attn.o_proj.bias"), {h}, config.o_bias);
    l.post_norm = load(layer_name(i, "post_attention_layernorm.weight"), {h});
    l.down_w = load(layer_name(i, "mlp.down_proj.weight"), {h, inter});
    l.gate_b = load_opt(layer_name(i, "mlp.gate_proj.bias"), {inter}, config.mlp_bias);
    l.up_b = load_opt(layer_name(i, "mlp.up_proj.bias"), {inter}, config.mlp_bias);
    l.down_b = load_opt(layer_name(i, "mlp.down_proj.bias"), {h}, config.mlp_bias);
    layers_.push_back(std::move(l));
  }
  final_norm_ = load("model.norm.weight", {h});
  lm_head_ = load_lm_head(w, config, embed_tokens_, "lm_head.weight", device, dtype);
  finish_init();
}

LlamaModel::LlamaModel(const ModelConfig& config, uint64_t seed, c10::Device device) {
  config_ = config;
  device_ = device;
  dtype_ = at::kFloat;
  at::manual_seed(seed);
  const int64_t h = config.hidden_size, hd = config.head_dim, nh = config.num_heads, kv = config.num_kv_heads;
  const int64_t inter = config.intermediate_size;
  auto opts = at::TensorOptions().dtype(at::kFloat);
  auto normal = [&](std::vector<int64_t> shape) { return at::randn(shape, opts).mul(0.02).to(device); };
  auto ones = [&](int64_t n) { return at::ones({n}, opts).to(device); };
  auto zeros_if = [&](int64_t n, bool present) { return present ? at::zeros({n}, opts).to(device) : at::Tensor(); };
  embed_tokens_ = normal({config.vocab_size, h});
  for (int64_t i = 0; i < config.num_layers; ++i) {
    LlamaLayer l;
    if (!config.post_norm_blocks) l.input_norm = ones(h);
    if (config.fused_projections) {
      l.qkv_w = normal({(nh + 2 * kv) * hd, h});
      l.gate_up_w = normal({2 * inter, h});
    } else {
      l.q_w = normal({nh * hd, h});
      l.k_w = normal({kv * hd, h});
      l.v_w = normal({kv * hd, h});
      l.gate_w = normal({inter, h});
      l.up_w = normal({inter, h});
    }
    if (config.qk_norm_per_head || config.qk_norm_full) {
      l.q_norm = ones(config.qk_norm_full ? nh * hd : hd);
      l.k_norm = ones(config.qk_norm_full ? kv * hd : hd);
    }
    if (config.post_norm_blocks) l.post_ffn_norm = ones(h);
    l.o_w = normal({h, nh * hd});
    l.q_b = zeros_if(nh * hd, config.qkv_bias);
    l.k_b = zeros_if(kv * hd, config.qkv_bias);
    l.v_b = zeros_if(kv * hd, config.qkv_bias);
    l.o_b = zeros_if(h, config.o_bias);
    l.post_norm = ones(h);
    l.down_w = normal({h, inter});
    l.gate_b = zeros_if(inter, config.mlp_bias);
    l.up_b = zeros_if(inter, config.mlp_bias);
    l.down_b = zeros_if(h, config.mlp_bias);
    layers_.push_back(std::move(l));
  }
  final_norm_ = ones(h);
  lm_head_ = config.tie_word_embeddings ? embed_tokens_ : normal({config.vocab_size, h});
  finish_init();
}

void LlamaModel::finish_init() {
  rope_ = rope_tables(config_);
  const int64_t nh = config_.num_heads, kv = config_.num_kv_heads, hd = config_.head_dim, inter = config_.intermediate_size;
  for (LlamaLayer& l : layers_) {
    if (!l.qkv_w.defined()) continue;
    l.q_w = l.qkv_w.slice(0, 0, nh * hd);                     // [heads*hd, hidden]
    l.k_w = l.qkv_w.slice(0, nh * hd, (nh + kv) * hd);        // [kv*hd, hidden]
    l.v_w = l.qkv_w.slice(0, (nh + kv) * hd);                 // [kv*hd, hidden]
    l.gate_w = l.gate_up_w.slice(0, 0, inter);                // [inter, hidden]
    l.up_w = l.gate_up_w.slice(0, inter);                     // [inter, hidden]
  }
}

at::Tensor LlamaModel::embed(const at::Tensor& ids) const {
  return at::embedding(embed_tokens_, ids.to(device_, at::kLong));  // [batch, seq, hidden]
}

ForwardResult LlamaModel::forward(const ForwardRequest& req) const {
  const ModelConfig& c = config_;
  at::Tensor x = req.inputs_embeds.to(dtype_);  // [batch, seq, hidden]
  const int64_t batch = x.size(0), seq = x.size(1);
  at::Tensor mask = request_mask(req, batch, seq, device_);  // [batch, past + seq]
  at::Tensor pos = rotary_positions(*this, req, mask, seq);  // [batch, seq]
  // c.sliding_window is the narrowest window of any layer (qwen3 windows some layers only).
  const AttentionPlan plan = attention_plan(req, seq, c.sliding_window, training_ && c.attention_dropout > 0);
  std::map<int64_t, at::Tensor> biases;  // window -> [batch, 1, seq, past+seq] (kExplicit only)
  if (plan == AttentionPlan::kExplicit) {
    for (int64_t i = 0; i < c.num_layers; ++i) {
      if (!biases.count(window(i))) biases[window(i)] = causal_attention_bias(mask, seq, window(i), dtype_);
    }
  }
  // OLMo 2 keeps cos/sin in float32 and rotates q/k in float32 (cast back after).
  const c10::ScalarType rope_dtype = c.post_norm_blocks ? accum_type(dtype_) : dtype_;
  auto [cos, sin] = rope_cos_sin_for(rope_, pos, rope_dtype, req.rope_lengths);  // [batch, 1, seq, rotary dims]
  ForwardResult out;
  x = run_blocks(x, c.num_layers, req, training_, out,
                 [this, mask, biases, plan, cos = cos, sin = sin](int64_t i, const at::Tensor& in, const ForwardRequest& r, ForwardResult* o) {
                   const at::Tensor bias = plan == AttentionPlan::kExplicit ? biases.at(window(i)) : at::Tensor();
                   return block(i, in, mask, bias, plan, cos, sin, r, o);
                 });
  x = c.post_norm_blocks ? olmo2_rms_norm(x, final_norm_, c.norm_eps, req.lrp) : lrp_rms_norm(x, final_norm_, c.norm_eps, req.lrp);
  if (req.output_hidden_states) out.hidden_states.push_back(x);
  at::Tensor kept = select_logit_positions(req, x);  // [b, s', h]
  out.logits = at::linear(kept, lm_head_).to(accum_type(dtype_));  // [b, kept, vocab] float32 (float64 models: float64)
  return out;
}

at::Tensor LlamaModel::block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan,
                             const at::Tensor& cos, const at::Tensor& sin,
                             const ForwardRequest& req, ForwardResult* out) const {
  const ModelConfig& c = config_;
  const LlamaLayer& l = layers_[i];
  const int64_t batch = x.size(0), seq = x.size(1);
  const int64_t nh = c.num_heads, kv = c.num_kv_heads, hd = c.head_dim, groups = nh / kv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor hn = c.post_norm_blocks ? x : lrp_rms_norm(x, l.input_norm, c.norm_eps, req.lrp);  // [b, s, h]
  at::Tensor q, k, v;  // [b, s, heads*hd], [b, s, kv*hd], [b, s, kv*hd]
  if (l.qkv_w.defined()) {  // phi3: one projection, sliced as transformers slices it
    at::Tensor qkv = at::linear(hn, l.qkv_w);  // [b, s, (heads + 2 kv) * hd]
    q = qkv.slice(-1, 0, nh * hd);
    k = qkv.slice(-1, nh * hd, (nh + kv) * hd);
    v = qkv.slice(-1, (nh + kv) * hd);
  } else {
    q = linear(hn, l.q_w, l.q_b);
    k = linear(hn, l.k_w, l.k_b);
    v = linear(hn, l.v_w, l.v_b);
  }
  if (c.qk_norm_full) {  // olmo2: over the whole projection, before the head split
    q = olmo2_rms_norm(q, l.q_norm, c.norm_eps, req.lrp);
    k = olmo2_rms_norm(k, l.k_norm, c.norm_eps, req.lrp);
  }
  q = q.view({batch, seq, nh, hd});  // [b, s, nh, hd]
  k = k.view({batch, seq, kv, hd});  // [b, s, kv, hd]
  if (c.qk_norm_per_head) {  // qwen3: on every head
    q = lrp_rms_norm(q, l.q_norm, c.norm_eps, req.lrp);
    k = lrp_rms_norm(k, l.k_norm, c.norm_eps, req.lrp);
  }
  q = q.transpose(1, 2);                                          // [b, nh, s, hd]
  k = k.transpose(1, 2);                                          // [b, kv, s, hd]
  v = v.view({batch, seq, kv, hd}).transpose(1, 2);               // [b, kv, s, hd]
  if (req.value_hook) v = req.value_hook(i, v);
  q = apply_partial_rope(q, cos, sin).to(x.scalar_type());
  k = apply_partial_rope(k, cos, sin).to(x.scalar_type());
  if (req.cache) std::tie(k, v) = req.cache->append(i, c.num_layers, k, v);  // [b, kv, past+s, hd]
  at::Tensor k_full = groups == 1 ? k : k.repeat_interleave(groups, 1);  // [b, nh, past+s, hd]
  at::Tensor v_full = groups == 1 ? v : v.repeat_interleave(groups, 1);
  lrp_attention_inputs(q, k_full, v_full, req.lrp);
  auto [ctx, probs] = planned_attention(plan, q, k_full, v_full, mask, bias, window(i), scale, c.attention_dropout, training_, req);
  if (req.output_attentions) out->attentions.push_back(probs);
  at::Tensor attn_out = linear(ctx.transpose(1, 2).reshape({batch, seq, nh * hd}), l.o_w, l.o_b);  // [b, s, h]
  at::Tensor post_scale;  // [b, s, h] the post norm linearised at each query (ALTI)
  if (c.post_norm_blocks && req.attention_parts_hook) post_scale = rms_post_scale(attn_out, l.post_norm, c.norm_eps);
  if (c.post_norm_blocks) attn_out = olmo2_rms_norm(attn_out, l.post_norm, c.norm_eps, req.lrp);
  if (req.attention_parts_hook) req.attention_parts_hook(i, {x, probs, v_full, l.o_w.t().reshape({nh, hd, x.size(2)}), post_scale, attn_out, at::Tensor(), at::Tensor()});
  if (training_ && c.hidden_dropout > 0) attn_out = at::dropout(attn_out, c.hidden_dropout, true);
  x = x.add(attn_out);
  cancel_point(x);  // between attention and MLP too: half a block of latency
  at::Tensor hm = c.post_norm_blocks ? x : lrp_rms_norm(x, l.post_norm, c.norm_eps, req.lrp);  // [b, s, h]
  at::Tensor mlp;  // [b, s, h]
  if (l.gate_up_w.defined()) {  // phi3: up * act(gate) from one projection
    at::Tensor gate_up = at::linear(hm, l.gate_up_w);  // [b, s, 2 inter]
    const int64_t inter = c.intermediate_size;
    mlp = at::linear(lrp_gated_product(gate_up.slice(-1, 0, inter), gate_up.slice(-1, inter), c.hidden_act, req.lrp, req.deeplift), l.down_w);
  } else {
    mlp = linear(lrp_gated_product(linear(hm, l.gate_w, l.gate_b), linear(hm, l.up_w, l.up_b), c.hidden_act, req.lrp, req.deeplift),
                 l.down_w, l.down_b);
  }
  if (c.post_norm_blocks) mlp = olmo2_rms_norm(mlp, l.post_ffn_norm, c.norm_eps, req.lrp);
  if (training_ && c.hidden_dropout > 0) mlp = at::dropout(mlp, c.hidden_dropout, true);
  return x.add(mlp);
}

LogitLens LlamaModel::logit_lens() const { return {true, final_norm_, config_.norm_eps, lm_head_}; }

std::map<std::string, at::Tensor> LlamaModel::named_parameters() const {
  std::map<std::string, at::Tensor> p;
  p["model.embed_tokens.weight"] = embed_tokens_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LlamaLayer& l = layers_[i];
    const int64_t li = static_cast<int64_t>(i);
    if (l.input_norm.defined()) p[layer_name(li, "input_layernorm.weight")] = l.input_norm;
    if (l.qkv_w.defined()) {
      p[layer_name(li, "self_attn.qkv_proj.weight")] = l.qkv_w;
      p[layer_name(li, "mlp.gate_up_proj.weight")] = l.gate_up_w;
    } else {
      p[layer_name(li, "self_attn.q_proj.weight")] = l.q_w;
      p[layer_name(li, "self_attn.k_proj.weight")] = l.k_w;
      p[layer_name(li, "self_attn.v_proj.weight")] = l.v_w;
      p[layer_name(li, "mlp.gate_proj.weight")] = l.gate_w;
      p[layer_name(li, "mlp.up_proj.weight")] = l.up_w;
    }
    if (l.q_norm.defined()) p[layer_name(li, "self_attn.q_norm.weight")] = l.q_norm;
    if (l.k_norm.defined()) p[layer_name(li, "self_attn.k_norm.weight")] = l.k_norm;
    if (l.post_ffn_norm.defined()) p[layer_name(li, "post_feedforward_layernorm.weight")] = l.post_ffn_norm;
    p[layer_name(li, "self_attn.o_proj.weight")] = l.o_w;
    if (l.q_b.defined()) p[layer_name(li, "self_attn.q_proj.bias")] = l.q_b;
    if (l.k_b.defined()) p[layer_name(li, "self_attn.k_proj.bias")] = l.k_b;
    if (l.v_b.defined()) p[layer_name(li, "self_attn.v_proj.bias")] = l.v_b;
    if (l.o_b.defined()) p[layer_name(li, "self_attn.o_proj.bias")] = l.o_b;
    p[layer_name(li, "post_attention_layernorm.weight")] = l.post_norm;
    p[layer_name(li, "mlp.down_proj.weight")] = l.down_w;
    if (l.gate_b.defined()) p[layer_name(li, "mlp.gate_proj.bias")] = l.gate_b;
    if (l.up_b.defined()) p[layer_name(li, "mlp.up_proj.bias")] = l.up_b;
    if (l.down_b.defined()) p[layer_name(li, "mlp.down_proj.bias")] = l.down_b;
  }
  p["model.norm.weight"] = final_norm_;
  if (!config_.tie_word_embeddings) p["lm_head.weight"] = lm_head_;
  return p;
}

}  // namespace inseq::models
