#include "models/gpt2.h"

#include <ATen/ATen.h>

#include <cmath>
#include <memory>
#include <tuple>

#include "core/error.h"
#include "models/block_loop.h"
#include "models/layers.h"
#include "models/lrp_rules.h"

namespace inseq::models {

Gpt2Model::Gpt2Model(const ModelConfig& config, const WeightStore& w, c10::Device device, c10::ScalarType dtype) {
  config_ = config;
  device_ = device;
  dtype_ = dtype;
  prefix_ = w.contains("transformer.wte.weight") ? "transformer." : "";
  const int64_t h = config.hidden_size, inner = config.intermediate_size;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) {
    return w.load(prefix_ + name, shape, dtype, device);
  };
  wte_ = load("wte.weight", {config.vocab_size, h});
  wpe_ = load("wpe.weight", {config.max_position_embeddings, h});
  for (int64_t i = 0; i < config.num_layers; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    Gpt2Layer l;
    l.ln1_w = load(p + "ln_1.weight", {h});
    l.ln1_b = load(p + "ln_1.bias", {h});
    l.attn_w = load(p + "attn.c_attn.weight", {h, 3 * h});
    l.attn_b = load(p + "attn.c_attn.bias", {3 * h});
    l.proj_w = load(p + "attn.c_proj.weight", {h, h});
    l.proj_b = load(p + "attn.c_proj.bias", {h});
    l.ln2_w = load(p + "ln_2.weight", {h});
    l.ln2_b = load(p + "ln_2.bias", {h});
    l.fc_w = load(p + "mlp.c_fc.weight", {h, inner});
    l.fc_b = load(p + "mlp.c_fc.bias", {inner});
    l.fc_proj_w = load(p + "mlp.c_proj.weight", {inner, h});
    l.fc_proj_b = load(p + "mlp.c_proj.bias", {h});
    layers_.push_back(std::move(l));
  }
  lnf_w_ = load("ln_f.weight", {h});
  lnf_b_ = load("ln_f.bias", {h});
  if (!config.tie_word_embeddings && w.contains("lm_head.weight")) {
    lm_head_ = w.load("lm_head.weight", {config.vocab_size, h}, dtype, device);
  } else {
    lm_head_ = wte_;
  }
}

at::Tensor Gpt2Model::embed(const at::Tensor& ids) const {
  return at::embedding(wte_, ids.to(device_, at::kLong));  // [batch, seq, hidden]
}

at::Tensor Gpt2Model::position_embeddings(const at::Tensor& position_ids) const {
  return at::embedding(wpe_, position_ids.to(device_, at::kLong));  // [batch, seq, hidden]
}

ForwardResult Gpt2Model::forward(const ForwardRequest& req) const {
  const ModelConfig& c = config_;
  const int64_t batch = req.inputs_embeds.size(0), seq = req.inputs_embeds.size(1);
  at::Tensor mask = request_mask(req, batch, seq, device_);  // [batch, past + seq]
  at::Tensor pos = req.position_ids.defined() ? req.position_ids : position_ids_from_mask(mask, seq);  // [batch, seq]
  if (pos.numel() > 0) check_context(*this, pos.max().item<int64_t>() + 1, "This sequence");  // wpe has no row beyond
  at::Tensor x = req.inputs_embeds.to(dtype_).add(position_embeddings(pos));  // [b, s, h]
  if (training_ && c.hidden_dropout > 0) x = at::dropout(x, c.hidden_dropout, true);
  const AttentionPlan plan = attention_plan(req, seq, 0, training_ && c.attention_dropout > 0);
  at::Tensor bias = plan == AttentionPlan::kExplicit ? causal_attention_bias(mask, seq, 0, dtype_) : at::Tensor();  // [b, 1, s, past+s]

  ForwardResult out;
  x = run_blocks(x, c.num_layers, req, training_, out, [this, mask, bias, plan](int64_t i, const at::Tensor& in, const ForwardRequest& r, ForwardResult* o) {
    return block(i, in, mask, bias, plan, r, o);
  });
  x = lrp_layer_norm(x, lnf_w_, lnf_b_, c.norm_eps, req.lrp);  // [b, s, h]
  if (req.output_hidden_states) out.hidden_states.push_back(x);
  at::Tensor kept = select_logit_positions(req, x);  // [b, s', h]
  out.logits = at::linear(kept, lm_head_).to(accum_type(dtype_));  // [b, kept, vocab] float32 (float64 models: float64)
  return out;
}

at::Tensor Gpt2Model::block(int64_t i, at::Tensor x, const at::Tensor& mask, const at::Tensor& bias, AttentionPlan plan,
                            const ForwardRequest& req, ForwardResult* out) const {
  const ModelConfig& c = config_;
  const Gpt2Layer& l = layers_[i];
  const int64_t batch = x.size(0), seq = x.size(1);
  const int64_t nh = c.num_heads, h = c.hidden_size, hd = h / nh;
  at::Tensor hn = lrp_layer_norm(x, l.ln1_w, l.ln1_b, c.norm_eps, req.lrp);  // [b, s, h]
  at::Tensor qkv = at::addmm(l.attn_b, hn.reshape({-1, h}), l.attn_w).view({batch, seq, 3 * h});  // [b, s, 3h]
  auto parts = qkv.split(h, -1);
  at::Tensor q = parts[0].view({batch, seq, nh, hd}).transpose(1, 2);  // [b, nh, s, hd]
  at::Tensor k = parts[1].view({batch, seq, nh, hd}).transpose(1, 2);
  at::Tensor v = parts[2].view({batch, seq, nh, hd}).transpose(1, 2);
  if (req.value_hook) v = req.value_hook(i, v);
  if (req.cache) std::tie(k, v) = req.cache->append(i, c.num_layers, k, v);  // [b, kv, past+s, hd]
  double scale = c.scale_attn_weights ? 1.0 / std::sqrt(static_cast<double>(hd)) : 1.0;
  if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<double>(i + 1);
  lrp_attention_inputs(q, k, v, req.lrp);
  auto [ctx, probs] = planned_attention(plan, q, k, v, mask, bias, 0, scale, c.attention_dropout, training_, req);
  if (req.output_attentions) out->attentions.push_back(probs);
  at::Tensor attn_out = at::addmm(l.proj_b, ctx.transpose(1, 2).reshape({batch * seq, h}), l.proj_w).view({batch, seq, h});
  if (req.attention_parts_hook) req.attention_parts_hook(i, {x, probs, v, l.proj_w.view({nh, hd, h}), at::Tensor(), attn_out, at::Tensor(), at::Tensor()});  // Conv1D: [in, out]
  if (training_ && c.hidden_dropout > 0) attn_out = at::dropout(attn_out, c.hidden_dropout, true);
  x = x.add(attn_out);
  cancel_point(x);  // between attention and MLP too: half a block of latency
  at::Tensor hm = lrp_layer_norm(x, l.ln2_w, l.ln2_b, c.norm_eps, req.lrp);  // [b, s, h]
  // The activation sees [b, s, inner]: the DeepLIFT rule pairs batch rows (input b with reference b + half).
  at::Tensor fc = lrp_activation(at::addmm(l.fc_b, hm.reshape({-1, h}), l.fc_w).view({batch, seq, -1}), c.hidden_act, req.lrp, req.deeplift)
                      .view({batch * seq, -1});  // [b*s, inner]
  at::Tensor mlp = at::addmm(l.fc_proj_b, fc, l.fc_proj_w).view({batch, seq, h});
  if (training_ && c.hidden_dropout > 0) mlp = at::dropout(mlp, c.hidden_dropout, true);
  return x.add(mlp);
}

LogitLens Gpt2Model::logit_lens() const { return {false, lnf_w_, config_.norm_eps, lm_head_}; }

std::map<std::string, at::Tensor> Gpt2Model::named_parameters() const {
  std::map<std::string, at::Tensor> p;
  const std::string t = "transformer.";
  p[t + "wte.weight"] = wte_;
  p[t + "wpe.weight"] = wpe_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Gpt2Layer& l = layers_[i];
    const std::string n = t + "h." + std::to_string(i) + ".";
    p[n + "ln_1.weight"] = l.ln1_w;
    p[n + "ln_1.bias"] = l.ln1_b;
    p[n + "attn.c_attn.weight"] = l.attn_w;
    p[n + "attn.c_attn.bias"] = l.attn_b;
    p[n + "attn.c_proj.weight"] = l.proj_w;
    p[n + "attn.c_proj.bias"] = l.proj_b;
    p[n + "ln_2.weight"] = l.ln2_w;
    p[n + "ln_2.bias"] = l.ln2_b;
    p[n + "mlp.c_fc.weight"] = l.fc_w;
    p[n + "mlp.c_fc.bias"] = l.fc_b;
    p[n + "mlp.c_proj.weight"] = l.fc_proj_w;
    p[n + "mlp.c_proj.bias"] = l.fc_proj_b;
  }
  p[t + "ln_f.weight"] = lnf_w_;
  p[t + "ln_f.bias"] = lnf_b_;
  return p;
}

}  // namespace inseq::models
