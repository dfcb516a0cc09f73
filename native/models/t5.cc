#include "models/t5.h"

#include <ATen/ATen.h>

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

T5Config parse_t5_config(const Json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorCode::kBadCheckpoint, source + " is not a JSON object");
  T5Config c;
  std::string ff;
  auto bad = [&](const std::string& key, const std::string& what) { return Error(ErrorCode::kBadCheckpoint, source + ": " + key + " " + what); };
  try {
    // T5Config's defaults (transformers 5.24 configuration_t5.py) for the keys a config.json may leave out.
    c.vocab_size = j.get_int("vocab_size", 32128);
    c.d_model = j.get_int("d_model", 512);
    c.d_kv = j.get_int("d_kv", 64);
    c.d_ff = j.get_int("d_ff", 2048);
    c.encoder_layers = j.get_int("num_layers", 6);
    c.decoder_layers = j["num_decoder_layers"].is_null() ? c.encoder_layers : j.get_int("num_decoder_layers", c.encoder_layers);
    c.num_heads = j.get_int("num_heads", 8);
    c.num_buckets = j.get_int("relative_attention_num_buckets", 32);
    c.max_distance = j.get_int("relative_attention_max_distance", 128);
    c.eps = j.get_double("layer_norm_epsilon", 1e-6);
    c.dropout = j.get_double("dropout_rate", 0.1);
    ff = j.get_string("feed_forward_proj", "relu");
    // transformers 5 writes scale_decoder_outputs (and always tie_word_embeddings: true); older configs say
    // tie_word_embeddings: false for an untied head, which then gets no rescale. The key itself wins when present.
    c.scale_decoder_outputs = j.has("scale_decoder_outputs") ? j.get_bool("scale_decoder_outputs", true)
                                                             : j.get_bool("tie_word_embeddings", true);
    c.pad_token_id = j.get_int("pad_token_id", 0);
    const Json& eos = j["eos_token_id"];
    c.eos_token_id = eos.is_array() && eos.size() > 0 ? eos[0].as_int() : j.get_int("eos_token_id", 1);
    // T5 starts decoding with the pad token (config.json of the released checkpoints says so explicitly).
    c.decoder_start_token_id = j["decoder_start_token_id"].is_null() ? c.pad_token_id : j.get_int("decoder_start_token_id", c.pad_token_id);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": " + e.what());
  }
  // feed_forward_proj: "<act>" or "gated-<act>"; gated-gelu means gelu_new (T5Config.__post_init__).
  const size_t dash = ff.find('-');
  std::string act = ff;
  if (dash != std::string::npos) {
    if (ff.substr(0, dash) != "gated" || ff.find('-', dash + 1) != std::string::npos) {
      throw bad("feed_forward_proj", "\"" + ff + "\" is not of the form \"gated-<act>\" or \"<act>\"");
    }
    c.gated = true;
    act = ff.substr(dash + 1);
  }
  c.activation = ff == "gated-gelu" ? "gelu_new" : act;
  if (c.activation != "relu" && c.activation != "gelu" && c.activation != "gelu_new" && c.activation != "silu" &&
      c.activation != "gelu_pytorch_tanh") {
    throw Error(ErrorCode::kUnsupportedModel, source + ": feed_forward_proj \"" + ff +
                                                  "\" is not supported (relu, gelu, gelu_new, silu, gelu_pytorch_tanh, each optionally gated-)");
  }
  const std::pair<const char*, int64_t> sizes[] = {{"vocab_size", c.vocab_size}, {"d_model", c.d_model}, {"d_kv", c.d_kv}, {"d_ff", c.d_ff},
                                                   {"num_layers", c.encoder_layers}, {"num_decoder_layers", c.decoder_layers},
                                                   {"num_heads", c.num_heads}, {"relative_attention_num_buckets", c.num_buckets},
                                                   {"relative_attention_max_distance", c.max_distance}};
  for (const auto& [key, v] : sizes) {
    if (v <= 0) throw bad(key, "must be a positive integer but is " + std::to_string(v));
  }
  // The log buckets start at max_exact (half the buckets: num_buckets / 2 in the causal decoder, num_buckets / 4 per
  // direction in the encoder) and divide by log(max_distance / max_exact): transformers computes inf / NaN buckets
  // (an index error) once a distance reaches max_exact unless max_distance > num_buckets / 2.
  if (c.num_buckets < 4) throw bad("relative_attention_num_buckets", "must be at least 4 but is " + std::to_string(c.num_buckets));
  if (c.max_distance <= c.num_buckets / 2) {
    throw bad("relative_attention_max_distance", std::to_string(c.max_distance) + " must exceed relative_attention_num_buckets / 2 = " +
                                                     std::to_string(c.num_buckets / 2));
  }
  if (!std::isfinite(c.eps) || c.eps < 0) throw bad("layer_norm_epsilon", "must be a finite non-negative number");
  if (!std::isfinite(c.dropout) || c.dropout < 0 || c.dropout >= 1) throw bad("dropout_rate", "must be in [0, 1)");
  std::vector<std::pair<const char*, int64_t>> ids = {{"pad_token_id", c.pad_token_id}, {"eos_token_id", c.eos_token_id},
                                                       {"decoder_start_token_id", c.decoder_start_token_id}};
  for (const auto& [key, id] : ids) {
    if (id < 0 || id >= c.vocab_size) {
      throw bad(key, std::to_string(id) + " is outside the vocabulary of " + std::to_string(c.vocab_size) + " tokens (vocab_size)");
    }
  }
  return c;
}

namespace {

// transformers' T5Attention._relative_position_bucket on the CPU in float32 (the log buckets truncate a float32
// quotient, so the arithmetic is copied op for op). relative = key - query: [q, k] int64 -> bucket [q, k] int64.
at::Tensor relative_bucket(const at::Tensor& relative, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
  at::Tensor buckets = at::zeros_like(relative);
  at::Tensor rp = relative;
  if (bidirectional) {
    num_buckets /= 2;
    buckets = buckets.add(rp.gt(0).to(at::kLong).mul(num_buckets));
    rp = rp.abs();
  } else {
    rp = at::min(rp, at::zeros_like(rp)).neg();
  }
  const int64_t max_exact = num_buckets / 2;
  at::Tensor is_small = rp.lt(max_exact);
  at::Tensor large = at::log(rp.to(at::kFloat).div(static_cast<double>(max_exact)))
                         .div(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)))
                         .mul(static_cast<double>(num_buckets - max_exact));
  // log(0) = -inf at the small distances: replaced before the cast (only the is_small branch is kept there).
  large = at::where(is_small, at::zeros_like(large), large).to(at::kLong).add(max_exact);
  large = at::min(large, at::full_like(large, num_buckets - 1));
  return buckets.add(at::where(is_small, rp, large));
}

at::Tensor padding_bias(const at::Tensor& mask, int64_t queries) {  // [b, k] -> [b, 1, q, k] float32
  at::Tensor bias = at::zeros({mask.size(0), 1, queries, mask.size(1)}, at::TensorOptions().dtype(at::kFloat).device(mask.device()));
  bias.masked_fill_(mask.to(at::kBool).logical_not().view({mask.size(0), 1, 1, mask.size(1)}).expand_as(bias), std::numeric_limits<float>::lowest());
  return bias;
}

}  // namespace

T5LM::T5LM(const T5Config& c, const WeightStore& w, c10::Device device, c10::ScalarType dtype) : config_(c) {
  device_ = device;
  dtype_ = dtype;
  info_.model_type = "t5";
  info_.implementation = "native";
  info_.vocab_size = info_.source_vocab_size = c.vocab_size;
  info_.hidden_size = c.d_model;
  info_.encoder_layers = c.encoder_layers;
  info_.decoder_layers = c.decoder_layers;
  info_.num_heads = info_.encoder_heads = c.num_heads;
  info_.max_positions = 0;  // relative positions: no limit
  info_.pad_token_id = c.pad_token_id;
  info_.decoder_start_token_id = c.decoder_start_token_id;
  info_.eos_token_ids = {c.eos_token_id};
  info_.embed_scale = 1.0;
  info_.has_internals = true;
  info_.has_attention_parts = true;
  info_.has_dropout = true;
  const int64_t d = c.d_model, V = c.vocab_size, inner = c.num_heads * c.d_kv;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return w.load(name, shape, dtype, device); };
  // shared.weight is the one table (encoder / decoder embed_tokens are tied to it); a checkpoint holding only
  // the per-stack aliases is read from the encoder's.
  shared_ = w.contains("shared.weight") ? load("shared.weight", {V, d}) : load("encoder.embed_tokens.weight", {V, d});
  // transformers 5 ties lm_head to shared unless the checkpoint stores a different lm_head.weight.
  lm_head_ = w.contains("lm_head.weight") ? load("lm_head.weight", {V, d}) : shared_;
  enc_rel_bias_ = load("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {c.num_buckets, c.num_heads});
  dec_rel_bias_ = load("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {c.num_buckets, c.num_heads});
  auto load_block = [&](const std::string& p, bool decoder) {
    T5Block b;
    const std::string sa = p + "layer.0.SelfAttention.";
    b.sa_norm = load(p + "layer.0.layer_norm.weight", {d});
    b.q = load(sa + "q.weight", {inner, d});
    b.k = load(sa + "k.weight", {inner, d});
    b.v = load(sa + "v.weight", {inner, d});
    b.o = load(sa + "o.weight", {d, inner});
    if (decoder) {
      const std::string ca = p + "layer.1.EncDecAttention.";
      b.ca_norm = load(p + "layer.1.layer_norm.weight", {d});
      b.cq = load(ca + "q.weight", {inner, d});
      b.ck = load(ca + "k.weight", {inner, d});
      b.cv = load(ca + "v.weight", {inner, d});
      b.co = load(ca + "o.weight", {d, inner});
    }
    const std::string ffp = p + (decoder ? "layer.2." : "layer.1.");
    b.ff_norm = load(ffp + "layer_norm.weight", {d});
    if (c.gated) {
      b.wi = load(ffp + "DenseReluDense.wi_0.weight", {c.d_ff, d});
      b.wi_1 = load(ffp + "DenseReluDense.wi_1.weight", {c.d_ff, d});
    } else {
      b.wi = load(ffp + "DenseReluDense.wi.weight", {c.d_ff, d});
    }
    // transformers keeps wo in float32 when the model is loaded in float16 (_keep_in_fp32_modules, fp16 only): the
    // feed-forward output, and from there the residual stream, is float32.
    b.wo = w.load(ffp + "DenseReluDense.wo.weight", {d, c.d_ff}, dtype == at::kHalf ? at::kFloat : dtype, device);
    return b;
  };
  for (int64_t i = 0; i < c.encoder_layers; ++i) enc_blocks_.push_back(load_block("encoder.block." + std::to_string(i) + ".", false));
  for (int64_t i = 0; i < c.decoder_layers; ++i) dec_blocks_.push_back(load_block("decoder.block." + std::to_string(i) + ".", true));
  enc_final_ = load("encoder.final_layer_norm.weight", {d});
  dec_final_ = load("decoder.final_layer_norm.weight", {d});
}

at::Tensor T5LM::embed_source(const at::Tensor& ids) const {
  return at::embedding(shared_, ids.to(device_, at::kLong));  // [b, s, d]
}

at::Tensor T5LM::embed_target(const at::Tensor& ids) const {
  return at::embedding(shared_, ids.to(device_, at::kLong));  // [b, t, d]
}

at::Tensor T5LM::norm(const at::Tensor& x, const at::Tensor& w, const LrpRule& lrp) const {
  // T5LayerNorm: x * rsqrt(mean(x^2) + eps) with a float32 variance, no mean, no bias; as rms_norm (float64 stays float64).
  // Under an active LRP rule the denominator is a constant (identity rule, models/lrp_rules.h).
  at::Tensor xf = x.to(accum_type(x.scalar_type()));
  at::Tensor normed = x.mul(inverse_rms(xf, config_.eps, lrp));  // [.., d] in float32 (promoted)
  return w.mul(normed.to(w.scalar_type()));
}

at::Tensor T5LM::position_bias(int64_t past, int64_t queries, int64_t keys, bool decoder) const {
  at::Tensor context = at::arange(queries, at::kLong).unsqueeze(1).add(past);  // [q, 1]
  at::Tensor memory = at::arange(keys, at::kLong).unsqueeze(0);                // [1, k]
  at::Tensor bucket = relative_bucket(memory.sub(context), !decoder, config_.num_buckets, config_.max_distance);  // [q, k]
  const at::Tensor& table = decoder ? dec_rel_bias_ : enc_rel_bias_;  // [buckets, heads]
  return at::embedding(table, bucket.to(device_)).permute({2, 0, 1}).unsqueeze(0);  // [1, heads, q, k]
}

at::Tensor T5LM::attention(const at::Tensor& x, const at::Tensor& kv, const at::Tensor& bias, const at::Tensor& q_w, const at::Tensor& k_w,
                           const at::Tensor& v_w, const at::Tensor& o_w, at::Tensor* cached_k, at::Tensor* cached_v, bool append,
                           at::Tensor* probs, const std::function<at::Tensor(const at::Tensor&)>& value_hook, const DeepLiftRule& deeplift,
                           bool training, const LrpRule& lrp, at::Tensor* values) const {
  const int64_t b = x.size(0), t = x.size(1), heads = config_.num_heads, hd = config_.d_kv;
  auto split = [&](const at::Tensor& y) { return y.view({b, -1, heads, hd}).transpose(1, 2); };  // [b, h, n, d_kv]
  at::Tensor q = split(at::linear(x, q_w));  // no 1/sqrt(d_kv): T5 folds it into the initialisation
  at::Tensor k, v;
  if (cached_k && !append && cached_k->defined()) {  // cross attention: keys/values of the encoder, once
    k = *cached_k;
    v = *cached_v;
  } else {
    k = split(at::linear(kv, k_w));
    v = split(at::linear(kv, v_w));  // [b, h, n, d_kv]
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
  if (values) *values = v;  // [b, h, k, d_kv]
  lrp_attention_inputs(q, k, v, lrp);
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).add(bias);  // [b, h, t, k]: + position bias + mask (float32)
  at::Tensor p = deeplift.active() ? deeplift_softmax(scores, deeplift) : at::softmax(scores, -1, accum_type(scores.scalar_type()));
  if (probs) *probs = p;
  at::Tensor used = training && config_.dropout > 0 ? at::dropout(p, config_.dropout, true) : p;
  return at::linear(at::matmul(used.to(v.scalar_type()), v).transpose(1, 2).reshape({b, t, heads * hd}), o_w);  // [b, t, d]
}

at::Tensor T5LM::feed_forward(const T5Block& l, const at::Tensor& h, const DeepLiftRule& deeplift, bool training, const LrpRule& lrp) const {
  cancel_point(h);  // between attention and the feed-forward too: part of a block of latency
  // DeepLIFT: the Rescale rule at the activation; the gated product keeps its ordinary gradient (as SwiGLU in llama).
  // LRP: the identity rule at the activation, the gated product under the rule (models/lrp_rules.h).
  at::Tensor a = config_.gated ? lrp_gated_product(at::linear(h, l.wi), at::linear(h, l.wi_1), config_.activation, lrp, deeplift)
                               : lrp_activation(at::linear(h, l.wi), config_.activation, lrp, deeplift);  // [b, n, d_ff]
  if (training && config_.dropout > 0) a = at::dropout(a, config_.dropout, true);
  return at::linear(a.to(l.wo.scalar_type()), l.wo);  // [b, n, d]
}

namespace {

// T5Block's fp16 guard: a float16 residual stream is clamped to +-(65504 - 1000 if it holds an inf, else 65504).
at::Tensor clamp_fp16(const at::Tensor& x) {
  if (x.scalar_type() != at::kHalf) return x;
  const double max = 65504.0;
  at::Tensor limit = at::where(x.isinf().any(), at::scalar_tensor(max - 1000, x.options()), at::scalar_tensor(max, x.options()));
  return at::clamp(x, limit.neg(), limit);  // [.., d]
}

}  // namespace

at::Tensor T5LM::encode(const at::Tensor& source_embeds, const at::Tensor& source_mask, std::vector<at::Tensor>* attentions,
                        const EncDecRequest* r) const {
  const DeepLiftRule deeplift = r ? r->deeplift : DeepLiftRule{};
  const LrpRule lrp = r ? r->lrp : LrpRule{};
  const bool training = r && r->training;
  const double p = training ? config_.dropout : 0.0;
  auto drop = [&](const at::Tensor& y) { return p > 0 ? at::dropout(y, p, true) : y; };
  at::Tensor x = drop(source_embeds);  // [b, s, d]
  const int64_t s = x.size(1);
  at::Tensor bias = position_bias(0, s, s, false).to(at::kFloat).add(padding_bias(source_mask.to(device_), s));  // [b, h, s, s]
  for (size_t i = 0; i < enc_blocks_.size(); ++i) {
    const T5Block& l = enc_blocks_[i];
    cancel_point(x);
    at::Tensor probs;
    std::function<at::Tensor(const at::Tensor&)> vh;
    if (r && r->value_hook) vh = [&](const at::Tensor& v) { return r->value_hook("encoder", static_cast<int64_t>(i), v); };
    const bool parts = r && r->attention_parts_hook;
    at::Tensor values;  // [b, h, s, d_kv] with parts
    at::Tensor h = norm(x, l.sa_norm, lrp);
    at::Tensor a = drop(attention(h, h, bias, l.q, l.k, l.v, l.o, nullptr, nullptr, false, attentions || parts ? &probs : nullptr, vh, deeplift, training,
                                  lrp, parts ? &values : nullptr));  // [b, s, d]
    if (parts) report_parts(*r, "encoder", static_cast<int64_t>(i), x, probs, values, l.o, a);
    x = clamp_fp16(x.add(a));
    x = clamp_fp16(x.add(drop(feed_forward(l, norm(x, l.ff_norm, lrp), deeplift, training, lrp))));
    if (attentions) attentions->push_back(probs);
    if (r && r->layer_hook) x = r->layer_hook("encoder", static_cast<int64_t>(i), x);
  }
  return drop(norm(x, enc_final_, lrp));  // [b, s, d]
}

DecodeResult T5LM::decode(const at::Tensor& target_embeds, const at::Tensor& encoder_hidden, const at::Tensor& source_mask, DecoderCache* cache,
                            bool output_attentions, const EncDecRequest* r) const {
  const int64_t t = target_embeds.size(1);
  const int64_t past = cache ? cache->length() : 0;
  const DeepLiftRule deeplift = r ? r->deeplift : DeepLiftRule{};
  const LrpRule lrp = r ? r->lrp : LrpRule{};
  const bool training = r && r->training;
  const double p = training ? config_.dropout : 0.0;
  auto drop = [&](const at::Tensor& y) { return p > 0 ? at::dropout(y, p, true) : y; };
  at::Tensor x = drop(target_embeds);  // [b, t, d]
  // Causal buckets for the new queries past..past+t over every key, plus the causal mask.
  at::Tensor qpos = at::arange(past, past + t, at::TensorOptions().dtype(at::kLong).device(device_)).unsqueeze(1);
  at::Tensor kpos = at::arange(0, past + t, at::TensorOptions().dtype(at::kLong).device(device_)).unsqueeze(0);
  at::Tensor self_bias = position_bias(past, t, past + t, true).to(at::kFloat).clone();  // [1, h, t, past + t]
  self_bias.masked_fill_(kpos.gt(qpos).view({1, 1, t, past + t}), std::numeric_limits<float>::lowest());
  at::Tensor cross_bias = padding_bias(source_mask.to(device_), t);  // [b, 1, t, s]: no position bias across stacks
  if (cache) cache->reserve_layers(dec_blocks_.size());
  DecodeResult out;
  for (size_t i = 0; i < dec_blocks_.size(); ++i) {
    const T5Block& l = dec_blocks_[i];
    cancel_point(x);
    at::Tensor sp, cp;
    std::function<at::Tensor(const at::Tensor&)> self_vh, cross_vh;
    if (r && r->value_hook) {
      self_vh = [&](const at::Tensor& v) { return r->value_hook("decoder", static_cast<int64_t>(i), v); };
      cross_vh = [&](const at::Tensor& v) { return r->value_hook("cross", static_cast<int64_t>(i), v); };
    }
    const bool parts = r && r->attention_parts_hook;
    const bool keep = output_attentions || parts;
    at::Tensor self_values, cross_values;  // [b, h, t, d_kv], [b, h, s, d_kv] with parts
    at::Tensor h = norm(x, l.sa_norm, lrp);
    at::Tensor a = drop(attention(h, h, self_bias, l.q, l.k, l.v, l.o, cache ? &cache->self_k[i] : nullptr, cache ? &cache->self_v[i] : nullptr, true,
                                  keep ? &sp : nullptr, self_vh, deeplift, training, lrp, parts ? &self_values : nullptr));  // [b, t, d]
    if (parts) report_parts(*r, "decoder", static_cast<int64_t>(i), x, sp, self_values, l.o, a);
    x = clamp_fp16(x.add(a));
    h = norm(x, l.ca_norm, lrp);
    a = drop(attention(h, encoder_hidden, cross_bias, l.cq, l.ck, l.cv, l.co, cache ? &cache->cross_k[i] : nullptr, cache ? &cache->cross_v[i] : nullptr,
                       false, keep ? &cp : nullptr, cross_vh, deeplift, training, lrp, parts ? &cross_values : nullptr));
    if (parts) report_parts(*r, "cross", static_cast<int64_t>(i), x, cp, cross_values, l.co, a);
    x = clamp_fp16(x.add(a));
    x = clamp_fp16(x.add(drop(feed_forward(l, norm(x, l.ff_norm, lrp), deeplift, training, lrp))));
    if (output_attentions) {
      out.self_attentions.push_back(sp);
      out.cross_attentions.push_back(cp);
    }
    if (r && r->layer_hook) x = r->layer_hook("decoder", static_cast<int64_t>(i), x);
  }
  x = drop(norm(x, dec_final_, lrp));  // [b, t, d]
  out.hidden = x;
  if (r && r->logits_positions.defined()) {  // [b, P]: only the rows whose logits are wanted
    const at::Tensor& pos = r->logits_positions;
    x = x.gather(1, pos.to(device_, at::kLong).unsqueeze(-1).expand({x.size(0), pos.size(1), x.size(2)}));  // [b, P, d]
  }
  if (config_.scale_decoder_outputs) x = x.mul(std::pow(static_cast<double>(config_.d_model), -0.5));
  out.logits = at::linear(x, lm_head_).to(at::kFloat);  // [b, t | P, V]
  return out;
}

EncDecOutput T5LM::forward(const EncDecRequest& r) const { return encode_then_decode(*this, r); }

void T5LM::report_parts(const EncDecRequest& r, const char* block, int64_t layer, const at::Tensor& x, const at::Tensor& probs,
                        const at::Tensor& values, const at::Tensor& o_w, const at::Tensor& a) const {
  AttentionParts p;
  p.residual = x;                                                                        // [b, q, d]
  p.probs = probs;                                                                       // [b, h, q, k]
  p.values = values;                                                                     // [b, h, k, d_kv]
  p.out_weight = o_w.t().reshape({config_.num_heads, config_.d_kv, o_w.size(0)});       // [h, d_kv, d]: linear's weight is [d, h * d_kv]
  p.output = a;                                                                          // [b, q, d]
  r.attention_parts_hook(block, layer, p);
}

LogitLens T5LM::logit_lens() const {
  LogitLens lens;
  lens.rms = true;
  lens.weight = dec_final_;  // [d]
  lens.eps = config_.eps;
  lens.unembedding = lm_head_;  // [V, d]
  lens.scale = config_.scale_decoder_outputs ? std::pow(static_cast<double>(config_.d_model), -0.5) : 1.0;
  return lens;
}

std::unique_ptr<DecodingState> T5LM::start_decoding(const at::Tensor& source_embeds, const at::Tensor& source_mask) const {
  return start_cached_decoding(*this, source_embeds, source_mask);
}

at::Tensor T5LM::decode_next(DecodingState& base, const at::Tensor& target_embeds) const {
  return decode_next_cached(*this, base, target_embeds);
}

std::shared_ptr<T5LM> load_t5_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype, const LoadProgress& progress) {
  if (!core::is_directory(dir)) throw Error(ErrorCode::kNotFound, "Model directory not found: " + dir);
  const std::string path = core::join_path(dir, "config.json");
  const Json j = read_config_json(dir);
  const T5Config config = parse_t5_config(j, path);
  WeightStore weights = WeightStore::open_dir(dir);
  weights.set_progress(progress);
  auto model = std::make_shared<T5LM>(config, weights, device, dtype);
  // Embedding aliases and the decoder's unused cross-attention bias are skipped as transformers does
  // (_tied_weights_keys, _keys_to_ignore_on_load_unexpected).
  auto ignorable = [](const std::string& n) {
    return n == "shared.weight" || n == "encoder.embed_tokens.weight" || n == "decoder.embed_tokens.weight" || n == "lm_head.weight" ||
           n == "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight";
  };
  weights.reject_unused(path, ignorable, {{"encoder.block.", "num_layers", config.encoder_layers},
                                          {"decoder.block.", "num_decoder_layers", config.decoder_layers}});
  weights.finish_progress();
  return model;
}

}  // namespace inseq::models
