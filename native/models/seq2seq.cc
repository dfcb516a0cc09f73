#include "models/seq2seq.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "models/config.h"
#include "models/layers.h"
#include "models/lrp_rules.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;
using core::Json;

bool is_seq2seq_model_type(const std::string& t) {
  for (const auto& m : native_model_types())
    if (t == m.id) return std::string(m.kind) == "encoder-decoder";
  return false;
}

Seq2SeqConfig parse_seq2seq_config(const Json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorCode::kBadCheckpoint, source + " is not a JSON object");
  Seq2SeqConfig c;
  c.model_type = config_model_type(j, source);
  if (!is_seq2seq_model_type(c.model_type)) throw Error(ErrorCode::kUnsupportedModel, source + ": model_type \"" + c.model_type + "\" is not a native encoder-decoder");
  if (c.model_type == "t5") throw Error(ErrorCode::kUnsupportedModel, source + ": model_type \"t5\" is not of the BART family (load it with load_encoder_decoder_lm)");
  auto required = [&](const char* key) {
    if (!j.has(key)) throw Error(ErrorCode::kBadCheckpoint, source + " has no " + key);
    return j.get_int(key, 0);
  };
  try {
    c.vocab_size = required("vocab_size");
    c.d_model = required("d_model");
    c.encoder_layers = required("encoder_layers");
    c.decoder_layers = required("decoder_layers");
    c.encoder_heads = required("encoder_attention_heads");
    c.decoder_heads = required("decoder_attention_heads");
    c.encoder_ffn = required("encoder_ffn_dim");
    c.decoder_ffn = required("decoder_ffn_dim");
    c.max_positions = j.get_int("max_position_embeddings", 1024);
    c.activation = j.get_string("activation_function", "gelu");
    if (c.activation == "swish") c.activation = "silu";
    c.embed_scale = j.get_bool("scale_embedding", false) ? std::sqrt(static_cast<double>(c.d_model)) : 1.0;
    c.pad_token_id = j.get_int("pad_token_id", 1);
    const Json& eos = j["eos_token_id"];
    c.eos_token_id = eos.is_array() && eos.size() > 0 ? eos[0].as_int() : j.get_int("eos_token_id", 2);
    c.decoder_start_token_id = j.get_int("decoder_start_token_id", c.model_type == "marian" ? c.pad_token_id : c.eos_token_id);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": " + e.what());
  }
  c.pre_norm = c.model_type == "mbart" || c.model_type == "m2m_100";
  c.layernorm_embedding = c.model_type == "bart" || c.model_type == "mbart";
  c.positions = c.model_type == "marian" ? "sinusoidal_marian" : c.model_type == "m2m_100" ? "sinusoidal_m2m" : "learned";
  auto bad = [&](const std::string& key, const std::string& what) { return Error(ErrorCode::kBadCheckpoint, source + ": " + key + " " + what); };
  const std::pair<const char*, int64_t> sizes[] = {{"vocab_size", c.vocab_size}, {"d_model", c.d_model}, {"encoder_layers", c.encoder_layers},
                                                   {"decoder_layers", c.decoder_layers}, {"encoder_attention_heads", c.encoder_heads},
                                                   {"decoder_attention_heads", c.decoder_heads}, {"encoder_ffn_dim", c.encoder_ffn},
                                                   {"decoder_ffn_dim", c.decoder_ffn}};
  for (const auto& [key, v] : sizes) {
    if (v <= 0) throw bad(key, "must be a positive integer but is " + std::to_string(v));
  }
  if (c.max_positions <= 1) throw bad("max_position_embeddings", "must be at least 2 but is " + std::to_string(c.max_positions));
  if (c.activation != "gelu" && c.activation != "relu" && c.activation != "silu" && c.activation != "gelu_new" && c.activation != "gelu_pytorch_tanh") {
    throw Error(ErrorCode::kUnsupportedModel, source + ": activation_function \"" + c.activation + "\" is not supported (gelu, gelu_new, relu, silu, swish)");
  }
  if (c.d_model % c.encoder_heads != 0) throw bad("encoder_attention_heads", std::to_string(c.encoder_heads) + " does not divide d_model = " + std::to_string(c.d_model));
  if (c.d_model % c.decoder_heads != 0) throw bad("decoder_attention_heads", std::to_string(c.decoder_heads) + " does not divide d_model = " + std::to_string(c.d_model));
  std::vector<std::pair<const char*, int64_t>> ids = {{"pad_token_id", c.pad_token_id}, {"eos_token_id", c.eos_token_id},
                                                       {"decoder_start_token_id", c.decoder_start_token_id}};
  try {  // ids the tokenizer and generation read from config.json too
    for (const char* key : {"bos_token_id", "forced_bos_token_id", "forced_eos_token_id"}) {
      if (j.has(key)) ids.emplace_back(key, j.get_int(key, 0));
    }
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": " + e.what());
  }
  for (const auto& [key, id] : ids) {
    if (id < 0 || id >= c.vocab_size) {
      throw bad(key, std::to_string(id) + " is outside the vocabulary of " + std::to_string(c.vocab_size) + " tokens (vocab_size)");
    }
  }
  return c;
}

namespace {

// Marian: sin of the even-indexed angles in the first half, cos of the odd-indexed ones in the second.
at::Tensor marian_table(int64_t n, int64_t dim) {
  at::Tensor pos = at::arange(n, at::kDouble).unsqueeze(1);                  // [n, 1]
  at::Tensor j = at::arange(dim, at::kLong).div(2, "floor").mul(2).to(at::kDouble);  // 2 * (j // 2)
  at::Tensor angle = pos.div(at::pow(10000.0, j.div(static_cast<double>(dim))).unsqueeze(0));  // [n, dim]
  const int64_t half = dim % 2 == 0 ? dim / 2 : dim / 2 + 1;
  at::Tensor out = at::empty({n, dim}, at::kDouble);
  out.slice(1, 0, half).copy_(angle.slice(1, 0, dim, 2).sin());
  out.slice(1, half).copy_(angle.slice(1, 1, dim, 2).cos());
  return out.to(at::kFloat);
}

// M2M100: fairseq's sinusoidal embedding, row padding_idx zeroed.
at::Tensor m2m_table(int64_t n, int64_t dim, int64_t padding_idx) {
  const int64_t half = dim / 2;
  const double step = std::log(10000.0) / static_cast<double>(half - 1);
  at::Tensor freq = at::arange(half, at::kFloat).mul(-step).exp();                       // [half]
  at::Tensor emb = at::arange(n, at::kFloat).unsqueeze(1).mul(freq.unsqueeze(0));         // [n, half]
  at::Tensor out = at::cat({emb.sin(), emb.cos()}, 1);
  if (dim % 2 == 1) out = at::cat({out, at::zeros({n, 1})}, 1);
  if (padding_idx >= 0 && padding_idx < n) out[padding_idx].zero_();
  return out;
}

// LayerNorm (eps 1e-5); under an active LRP rule its standard deviation is a constant (models/lrp_rules.h).
at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const LrpRule& lrp = {}) {
  return lrp_layer_norm(x, w, b, 1e-5, lrp);  // [.., d]
}

at::Tensor padding_bias(const at::Tensor& mask, int64_t queries) {  // [b, k] -> [b, 1, q, k]
  at::Tensor bias = at::zeros({mask.size(0), 1, queries, mask.size(1)}, at::TensorOptions().dtype(at::kFloat).device(mask.device()));
  bias.masked_fill_(mask.to(at::kBool).logical_not().view({mask.size(0), 1, 1, mask.size(1)}).expand_as(bias), std::numeric_limits<float>::lowest());
  return bias;
}

// gamma / sigma(z) [b, n, d]: a LayerNorm at z linearised (its centring aside), in float64.
at::Tensor ln_scale(const at::Tensor& z, const at::Tensor& w) {
  at::Tensor z64 = z.to(at::kDouble);  // [b, n, d]
  at::Tensor sigma = z64.var(-1, /*unbiased=*/false, /*keepdim=*/true).add(1e-5).sqrt();  // [b, n, 1]
  return w.to(at::kDouble).div(sigma);
}

}  // namespace

void Seq2SeqLM::report_parts(const EncDecRequest& hooks, const char* block, int64_t layer, const at::Tensor& x, const at::Tensor& probs,
                             const at::Tensor& values, const at::Tensor& o_w, int64_t heads, const at::Tensor& a, const at::Tensor& y,
                             const at::Tensor& norm_w) const {
  const int64_t d = o_w.size(0);
  AttentionParts p;
  p.residual = x;                                                  // [b, q, d]
  p.probs = probs;                                                 // [b, h, q, k]
  p.values = values;                                               // [b, h, k, hd]
  p.out_weight = o_w.t().reshape({heads, d / heads, d});           // [h, hd, d]: linear's weight is [out, in]
  p.output = a;                                                    // [b, q, d]
  if (norm_w.defined()) {
    p.sum_scale = ln_scale(x.add(a), norm_w);  // [b, q, d]
    p.block_output = y;
  }
  hooks.attention_parts_hook(block, layer, p);
}

LogitLens Seq2SeqLM::logit_lens() const {
  LogitLens lens;
  lens.rms = false;
  lens.weight = dec_final_w_;  // [d] or undefined (post-LN)
  lens.eps = 1e-5;
  lens.unembedding = lm_head_;  // [V, d]
  return lens;
}

Seq2SeqLM::Seq2SeqLM(const Seq2SeqConfig& c, const WeightStore& w, c10::Device device, c10::ScalarType dtype) : config_(c) {
  device_ = device;
  dtype_ = dtype;
  info_.model_type = c.model_type;
  info_.implementation = "native";
  info_.vocab_size = info_.source_vocab_size = c.vocab_size;
  info_.hidden_size = c.d_model;
  info_.encoder_layers = c.encoder_layers;
  info_.decoder_layers = c.decoder_layers;
  info_.num_heads = c.decoder_heads;
  info_.encoder_heads = c.encoder_heads;
  info_.max_positions = c.max_positions;
  info_.pad_token_id = c.pad_token_id;
  info_.decoder_start_token_id = c.decoder_start_token_id;
  info_.eos_token_ids = {c.eos_token_id};
  info_.embed_scale = c.embed_scale;
  info_.has_internals = true;
  info_.has_attention_parts = true;
  const int64_t d = c.d_model, V = c.vocab_size;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return w.load(name, shape, dtype, device); };
  auto first = [&](std::initializer_list<std::string> names, std::vector<int64_t> shape) -> at::Tensor {
    for (const auto& n : names)
      if (w.contains(n)) return load(n, shape);
    throw Error(ErrorCode::kBadCheckpoint, "Checkpoint has no " + *names.begin());
  };
  enc_embed_ = first({"model.encoder.embed_tokens.weight", "model.shared.weight"}, {V, d});
  dec_embed_ = first({"model.decoder.embed_tokens.weight", "model.shared.weight"}, {V, d});
  lm_head_ = w.contains("lm_head.weight") ? load("lm_head.weight", {V, d}) : dec_embed_;
  if (w.contains("final_logits_bias")) final_logits_bias_ = load("final_logits_bias", {1, V}).squeeze(0);
  if (c.positions == "learned") {
    enc_pos_ = load("model.encoder.embed_positions.weight", {c.max_positions + 2, d});
    dec_pos_ = load("model.decoder.embed_positions.weight", {c.max_positions + 2, d});
  } else if (c.positions == "sinusoidal_marian") {
    enc_pos_ = dec_pos_ = marian_table(c.max_positions, d).to(device, dtype);
  } else {
    enc_pos_ = dec_pos_ = m2m_table(c.max_positions + 2, d, c.pad_token_id).to(device, dtype);
  }
  if (c.layernorm_embedding) {
    enc_ln_emb_w_ = load("model.encoder.layernorm_embedding.weight", {d});
    enc_ln_emb_b_ = load("model.encoder.layernorm_embedding.bias", {d});
    dec_ln_emb_w_ = load("model.decoder.layernorm_embedding.weight", {d});
    dec_ln_emb_b_ = load("model.decoder.layernorm_embedding.bias", {d});
  }
  auto load_layer = [&](const std::string& p, bool decoder, int64_t ffn) {
    Seq2SeqLayer l;
    auto lin = [&](const std::string& n, at::Tensor& wt, at::Tensor& bs, std::vector<int64_t> shape) {
      wt = load(p + n + ".weight", shape);
      bs = load(p + n + ".bias", {shape[0]});
    };
    lin("self_attn.q_proj", l.q_w, l.q_b, {d, d});
    lin("self_attn.k_proj", l.k_w, l.k_b, {d, d});
    lin("self_attn.v_proj", l.v_w, l.v_b, {d, d});
    lin("self_attn.out_proj", l.o_w, l.o_b, {d, d});
    lin("self_attn_layer_norm", l.sa_norm_w, l.sa_norm_b, {d});
    if (decoder) {
      lin("encoder_attn.q_proj", l.cq_w, l.cq_b, {d, d});
      lin("encoder_attn.k_proj", l.ck_w, l.ck_b, {d, d});
      lin("encoder_attn.v_proj", l.cv_w, l.cv_b, {d, d});
      lin("encoder_attn.out_proj", l.co_w, l.co_b, {d, d});
      lin("encoder_attn_layer_norm", l.ca_norm_w, l.ca_norm_b, {d});
    }
    lin("fc1", l.fc1_w, l.fc1_b, {ffn, d});
    lin("fc2", l.fc2_w, l.fc2_b, {d, ffn});
    lin("final_layer_norm", l.ff_norm_w, l.ff_norm_b, {d});
    return l;
  };
  for (int64_t i = 0; i < c.encoder_layers; ++i) enc_layers_.push_back(load_layer("model.encoder.layers." + std::to_string(i) + ".", false, c.encoder_ffn));
  for (int64_t i = 0; i < c.decoder_layers; ++i) dec_layers_.push_back(load_layer("model.decoder.layers." + std::to_string(i) + ".", true, c.decoder_ffn));
  if (c.pre_norm) {
    enc_final_w_ = load("model.encoder.layer_norm.weight", {d});
    enc_final_b_ = load("model.encoder.layer_norm.bias", {d});
    dec_final_w_ = load("model.decoder.layer_norm.weight", {d});
    dec_final_b_ = load("model.decoder.layer_norm.bias", {d});
  }
}

at::Tensor Seq2SeqLM::embed_source(const at::Tensor& ids) const {
  return at::embedding(enc_embed_, ids.to(device_, at::kLong)).mul(config_.embed_scale);  // [b, s, d]
}

at::Tensor Seq2SeqLM::embed_target(const at::Tensor& ids) const {
  return at::embedding(dec_embed_, ids.to(device_, at::kLong)).mul(config_.embed_scale);  // [b, t, d]
}

at::Tensor Seq2SeqLM::positions(int64_t past, int64_t length, bool decoder) const {
  // learned: offset 2; m2m_100: padding_idx + 1 offset (sequential positions, as for inputs_embeds); marian: none
  const int64_t offset = config_.positions == "learned" ? 2 : config_.positions == "sinusoidal_m2m" ? config_.pad_token_id + 1 : 0;
  const at::Tensor& table = decoder ? dec_pos_ : enc_pos_;
  if (past + length + offset > table.size(0)) {
    throw Error(ErrorCode::kInvalidOption, "Sequence of " + std::to_string(past + length) + " tokens exceeds max_position_embeddings");
  }
  return table.slice(0, past + offset, past + offset + length);  // [length, d]
}

at::Tensor Seq2SeqLM::attention(const at::Tensor& x, const at::Tensor& kv, const at::Tensor& bias, const at::Tensor& q_w, const at::Tensor& q_b,
                                const at::Tensor& k_w, const at::Tensor& k_b, const at::Tensor& v_w, const at::Tensor& v_b, const at::Tensor& o_w,
                                const at::Tensor& o_b, int64_t heads, at::Tensor* cached_k, at::Tensor* cached_v, bool append,
                                at::Tensor* probs, const std::function<at::Tensor(const at::Tensor&)>& value_hook,
                                const DeepLiftRule& deeplift, const LrpRule& lrp, at::Tensor* values) const {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), hd = d / heads;
  auto split = [&](const at::Tensor& y) { return y.view({b, -1, heads, hd}).transpose(1, 2); };  // [b, h, n, hd]
  at::Tensor q = split(at::linear(x, q_w, q_b).mul(1.0 / std::sqrt(static_cast<double>(hd))));
  at::Tensor k, v;
  if (cached_k && !append && cached_k->defined()) {  // cross attention: keys/values of the encoder, once
    k = *cached_k;
    v = *cached_v;
  } else {
    k = split(at::linear(kv, k_w, k_b));
    v = split(at::linear(kv, v_w, v_b));  // [b, h, n, hd]
    if (value_hook) v = value_hook(v);
    if (cached_k && append && cached_k->defined()) {
      k = at::cat({*cached_k, k}, 2);
      v = at::cat({*cached_v, v}, 2);
    }
    if (cached_k) {
      *cached_k = k;
      *cached_v = v;
    }
  }
  if (values) *values = v;  // [b, h, k, hd]
  lrp_attention_inputs(q, k, v, lrp);
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).add(bias);  // [b, h, t, k]; float32 (the bias is)
  at::Tensor p = deeplift.active() ? deeplift_softmax(scores, deeplift) : at::softmax(scores, -1, at::kFloat);
  if (probs) *probs = p;
  return at::linear(at::matmul(p.to(v.scalar_type()), v).transpose(1, 2).reshape({b, t, d}), o_w, o_b);
}

at::Tensor Seq2SeqLM::encode(const at::Tensor& source_embeds, const at::Tensor& source_mask, std::vector<at::Tensor>* attentions,
                             const EncDecRequest* hooks) const {
  const Seq2SeqConfig& c = config_;
  const DeepLiftRule deeplift = hooks ? hooks->deeplift : DeepLiftRule{};
  const LrpRule lrp = hooks ? hooks->lrp : LrpRule{};
  at::Tensor x = source_embeds.add(positions(0, source_embeds.size(1), false));  // [b, s, d]
  if (c.layernorm_embedding) x = layer_norm(x, enc_ln_emb_w_, enc_ln_emb_b_, lrp);
  at::Tensor bias = padding_bias(source_mask.to(device_), x.size(1));
  for (size_t i = 0; i < enc_layers_.size(); ++i) {
    const Seq2SeqLayer& l = enc_layers_[i];
    cancel_point(x);
    at::Tensor probs;
    std::function<at::Tensor(const at::Tensor&)> vh;
    if (hooks && hooks->value_hook) vh = [&](const at::Tensor& v) { return hooks->value_hook("encoder", static_cast<int64_t>(i), v); };
    const bool parts = hooks && hooks->attention_parts_hook;
    at::Tensor values;  // [b, h, s, hd] with parts
    auto block = [&](const at::Tensor& h) {
      return attention(h, h, bias, l.q_w, l.q_b, l.k_w, l.k_b, l.v_w, l.v_b, l.o_w, l.o_b, c.encoder_heads, nullptr, nullptr, false,
                       attentions || parts ? &probs : nullptr, vh, deeplift, lrp, parts ? &values : nullptr);
    };
    auto ffn = [&](const at::Tensor& h) {
      cancel_point(h);  // between attention and the feed-forward too: part of a block of latency
      return at::linear(lrp_activation(at::linear(h, l.fc1_w, l.fc1_b), c.activation, lrp, deeplift), l.fc2_w, l.fc2_b);
    };
    if (c.pre_norm) {
      at::Tensor a = block(layer_norm(x, l.sa_norm_w, l.sa_norm_b, lrp));  // [b, s, d]
      if (parts) report_parts(*hooks, "encoder", static_cast<int64_t>(i), x, probs, values, l.o_w, c.encoder_heads, a, x.add(a), at::Tensor());
      x = x.add(a);
      x = x.add(ffn(layer_norm(x, l.ff_norm_w, l.ff_norm_b, lrp)));
    } else {
      at::Tensor a = block(x);  // [b, s, d]
      at::Tensor y = layer_norm(x.add(a), l.sa_norm_w, l.sa_norm_b, lrp);
      if (parts) report_parts(*hooks, "encoder", static_cast<int64_t>(i), x, probs, values, l.o_w, c.encoder_heads, a, y, l.sa_norm_w);
      x = y;
      x = layer_norm(x.add(ffn(x)), l.ff_norm_w, l.ff_norm_b, lrp);
    }
    if (attentions) attentions->push_back(probs);
    if (hooks && hooks->layer_hook) x = hooks->layer_hook("encoder", static_cast<int64_t>(i), x);
  }
  if (c.pre_norm) x = layer_norm(x, enc_final_w_, enc_final_b_, lrp);
  return x;
}

DecodeResult Seq2SeqLM::decode(const at::Tensor& target_embeds, const at::Tensor& encoder_hidden, const at::Tensor& source_mask,
                                      DecoderCache* cache, bool output_attentions, const EncDecRequest* hooks) const {
  const Seq2SeqConfig& c = config_;
  const int64_t t = target_embeds.size(1);
  const int64_t past = cache ? cache->length() : 0;
  const DeepLiftRule deeplift = hooks ? hooks->deeplift : DeepLiftRule{};
  const LrpRule lrp = hooks ? hooks->lrp : LrpRule{};
  at::Tensor x = target_embeds.add(positions(past, t, true));  // [b, t, d]
  if (c.layernorm_embedding) x = layer_norm(x, dec_ln_emb_w_, dec_ln_emb_b_, lrp);
  // causal bias over past + t keys: query past+i sees keys <= past+i
  at::Tensor qpos = at::arange(past, past + t, at::TensorOptions().dtype(at::kLong).device(device_)).unsqueeze(1);
  at::Tensor kpos = at::arange(0, past + t, at::TensorOptions().dtype(at::kLong).device(device_)).unsqueeze(0);
  at::Tensor self_bias = at::zeros({1, 1, t, past + t}, at::TensorOptions().dtype(at::kFloat).device(device_));
  self_bias.masked_fill_(kpos.gt(qpos).view({1, 1, t, past + t}), std::numeric_limits<float>::lowest());
  at::Tensor cross_bias = padding_bias(source_mask.to(device_), t);
  if (cache) cache->reserve_layers(dec_layers_.size());
  DecodeResult out;
  for (size_t i = 0; i < dec_layers_.size(); ++i) {
    const Seq2SeqLayer& l = dec_layers_[i];
    cancel_point(x);
    at::Tensor sp, cp;
    std::function<at::Tensor(const at::Tensor&)> self_vh, cross_vh;
    if (hooks && hooks->value_hook) {
      self_vh = [&](const at::Tensor& v) { return hooks->value_hook("decoder", static_cast<int64_t>(i), v); };
      cross_vh = [&](const at::Tensor& v) { return hooks->value_hook("cross", static_cast<int64_t>(i), v); };
    }
    const bool parts = hooks && hooks->attention_parts_hook;
    at::Tensor self_values, cross_values;  // [b, h, t, hd], [b, h, s, hd] with parts
    auto self_block = [&](const at::Tensor& h) {
      return attention(h, h, self_bias, l.q_w, l.q_b, l.k_w, l.k_b, l.v_w, l.v_b, l.o_w, l.o_b, c.decoder_heads,
                       cache ? &cache->self_k[i] : nullptr, cache ? &cache->self_v[i] : nullptr, true, output_attentions || parts ? &sp : nullptr,
                       self_vh, deeplift, lrp, parts ? &self_values : nullptr);
    };
    auto cross_block = [&](const at::Tensor& h) {
      return attention(h, encoder_hidden, cross_bias, l.cq_w, l.cq_b, l.ck_w, l.ck_b, l.cv_w, l.cv_b, l.co_w, l.co_b, c.decoder_heads,
                       cache ? &cache->cross_k[i] : nullptr, cache ? &cache->cross_v[i] : nullptr, false, output_attentions || parts ? &cp : nullptr,
                       cross_vh, deeplift, lrp, parts ? &cross_values : nullptr);
    };
    const int64_t li = static_cast<int64_t>(i);
    auto ffn = [&](const at::Tensor& h) {
      cancel_point(h);  // between attention and the feed-forward too: part of a block of latency
      return at::linear(lrp_activation(at::linear(h, l.fc1_w, l.fc1_b), c.activation, lrp, deeplift), l.fc2_w, l.fc2_b);
    };
    if (c.pre_norm) {
      at::Tensor a = self_block(layer_norm(x, l.sa_norm_w, l.sa_norm_b, lrp));  // [b, t, d]
      if (parts) report_parts(*hooks, "decoder", li, x, sp, self_values, l.o_w, c.decoder_heads, a, x.add(a), at::Tensor());
      x = x.add(a);
      a = cross_block(layer_norm(x, l.ca_norm_w, l.ca_norm_b, lrp));
      if (parts) report_parts(*hooks, "cross", li, x, cp, cross_values, l.co_w, c.decoder_heads, a, x.add(a), at::Tensor());
      x = x.add(a);
      x = x.add(ffn(layer_norm(x, l.ff_norm_w, l.ff_norm_b, lrp)));
    } else {
      at::Tensor a = self_block(x);  // [b, t, d]
      at::Tensor y = layer_norm(x.add(a), l.sa_norm_w, l.sa_norm_b, lrp);
      if (parts) report_parts(*hooks, "decoder", li, x, sp, self_values, l.o_w, c.decoder_heads, a, y, l.sa_norm_w);
      x = y;
      a = cross_block(x);
      y = layer_norm(x.add(a), l.ca_norm_w, l.ca_norm_b, lrp);
      if (parts) report_parts(*hooks, "cross", li, x, cp, cross_values, l.co_w, c.decoder_heads, a, y, l.ca_norm_w);
      x = y;
      at::Tensor z = x.add(ffn(x));  // [b, t, d]
      if (hooks && hooks->ffn_norm_scale_hook) hooks->ffn_norm_scale_hook(li, ln_scale(z, l.ff_norm_w));
      x = layer_norm(z, l.ff_norm_w, l.ff_norm_b, lrp);
    }
    if (output_attentions) {
      out.self_attentions.push_back(sp);
      out.cross_attentions.push_back(cp);
    }
    if (hooks && hooks->layer_hook) x = hooks->layer_hook("decoder", static_cast<int64_t>(i), x);
  }
  if (c.pre_norm) x = layer_norm(x, dec_final_w_, dec_final_b_, lrp);
  out.hidden = x;
  if (hooks && hooks->logits_positions.defined()) {  // [b, P]: only the rows whose logits are wanted
    const at::Tensor& pos = hooks->logits_positions;
    x = x.gather(1, pos.to(device_, at::kLong).unsqueeze(-1).expand({x.size(0), pos.size(1), x.size(2)}));  // [b, P, d]
  }
  at::Tensor logits = at::linear(x, lm_head_);  // [b, t | P, V]
  if (final_logits_bias_.defined()) logits = logits.add(final_logits_bias_);
  out.logits = logits.to(at::kFloat);
  return out;
}

std::shared_ptr<Seq2SeqLM> load_seq2seq_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype,
                                           const LoadProgress& progress) {
  if (!core::is_directory(dir)) throw Error(ErrorCode::kNotFound, "Model directory not found: " + dir);
  const std::string path = core::join_path(dir, "config.json");
  const Json j = read_config_json(dir);
  const Seq2SeqConfig config = parse_seq2seq_config(j, path);
  WeightStore weights = WeightStore::open_dir(dir);
  weights.set_progress(progress);
  auto model = std::make_shared<Seq2SeqLM>(config, weights, device, dtype);
  // Embedding aliases (shared / per side / lm_head) and stored sinusoidal tables are skipped as transformers does.
  auto ignorable = [&](const std::string& n) {
    if (n == "model.shared.weight" || n == "model.encoder.embed_tokens.weight" || n == "model.decoder.embed_tokens.weight" || n == "lm_head.weight") return true;
    return config.positions != "learned" && (n.rfind("model.encoder.embed_positions.", 0) == 0 || n.rfind("model.decoder.embed_positions.", 0) == 0);
  };
  weights.reject_unused(path, ignorable, {{"model.encoder.layers.", "encoder_layers", config.encoder_layers},
                                          {"model.decoder.layers.", "decoder_layers", config.decoder_layers}});
  weights.finish_progress();
  return model;
}

EncDecOutput Seq2SeqLM::forward(const EncDecRequest& r) const { return encode_then_decode(*this, r); }

std::unique_ptr<DecodingState> Seq2SeqLM::start_decoding(const at::Tensor& source_embeds, const at::Tensor& source_mask) const {
  return start_cached_decoding(*this, source_embeds, source_mask);
}

at::Tensor Seq2SeqLM::decode_next(DecodingState& base, const at::Tensor& target_embeds) const {
  return decode_next_cached(*this, base, target_embeds);
}

std::vector<std::vector<int64_t>> generate_seq2seq(const Seq2SeqLM& model, const std::vector<std::vector<int64_t>>& sources,
                                                   int64_t max_new_tokens, const std::vector<int64_t>& eos_token_ids) {
  GenerationOptions o;
  o.max_new_tokens = max_new_tokens;
  o.eos_token_ids = eos_token_ids;
  o.pad_token_id = model.config().pad_token_id;
  return generate_encoder_decoder(model, sources, o).sequences;
}

}  // namespace inseq::models
