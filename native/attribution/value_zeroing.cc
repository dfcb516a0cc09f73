#include "attribution/value_zeroing.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace inseq::attribution {

using core::Error;
using core::ErrorCode;

namespace {

// Multiplier for values [k, heads, n, hd]: 0 at (row r, selected heads, position zeroed[r]).
at::Tensor zero_mask(const at::Tensor& values, const std::vector<int64_t>& zeroed, const std::vector<int64_t>& heads) {
  at::Tensor mask = at::ones({values.size(0), values.size(1), values.size(2), 1}, values.options());
  for (size_t r = 0; r < zeroed.size(); ++r) {
    if (heads.empty()) {
      mask[static_cast<int64_t>(r)].select(1, zeroed[r]).zero_();
    } else {
      for (int64_t h : heads) {
        if (h < 0 || h >= values.size(1)) throw Error(ErrorCode::kInvalidOption, "Zeroed head " + std::to_string(h) + " is out of range");
        mask[static_cast<int64_t>(r)][h][zeroed[r]].zero_();
      }
    }
  }
  return mask;
}

const std::vector<int64_t>& heads_of(const std::vector<std::vector<int64_t>>& per_layer, int64_t layer) {
  static const std::vector<int64_t> kAll;
  return layer < static_cast<int64_t>(per_layer.size()) ? per_layer[layer] : kAll;
}

// Similarity of clean [1, Q, d] and corrupted [k, Q, d] states: [k, Q]
at::Tensor dissimilarity(const at::Tensor& clean, const at::Tensor& corrupted, const std::string& metric) {
  at::Tensor c = clean.to(at::kFloat).expand_as(corrupted), x = corrupted.to(at::kFloat);
  if (metric == "euclidean") return c.sub(x).norm(2, {-1});
  return at::cosine_similarity(c, x, -1, 1e-8).neg().add(1.0);
}

// Thresholds and normalises scores [K, Q, L] over the zeroed tokens; NaN where causal and key > query.
at::Tensor finish(at::Tensor z, bool causal) {
  z = z.masked_fill(z.lt(1e-5), 0.0);
  if (causal) {
    at::Tensor k = at::arange(z.size(0)).view({-1, 1, 1}), q = at::arange(z.size(1)).view({1, -1, 1});
    z = z.masked_fill(k.gt(q).expand_as(z), std::numeric_limits<float>::quiet_NaN());
  }
  at::Tensor sum = at::nansum(z, 0, true);  // [1, Q, L]
  return z.div(sum.masked_fill(sum.eq(0), 1.0));
}

void check_metric(const ValueZeroingOptions& o) {
  if (o.similarity_metric != "cosine" && o.similarity_metric != "euclidean") {
    throw Error(ErrorCode::kInvalidOption, "Expected \"cosine\" or \"euclidean\" for similarityMetric but received \"" + o.similarity_metric + "\"");
  }
}

// Runs `corrupted(batch of zeroed positions)` -> per-layer states [k, Q, d] for every position in
// [0, K) and compares with `clean` per layer [1, Q, d]: [K, Q, L] before finish().
// `from_first`: a batch runs from its first zeroed position on (prefix cache), so it holds at most
// (K - p0) / 8 + 1 neighbouring positions: the rows re-run under ~6% extra positions.
template <typename Run>
at::Tensor sweep(int64_t K, const std::vector<at::Tensor>& clean, const ValueZeroingOptions& o, Run corrupted, bool from_first = false) {
  const int64_t L = static_cast<int64_t>(clean.size()), Q = clean[0].size(1);
  at::Tensor z = at::empty({K, Q, L}, at::kFloat);
  for (int64_t p0 = 0; p0 < K;) {
    if (o.check_cancel) o.check_cancel();
    const int64_t cap = std::max<int64_t>(o.rows_per_batch, 1);
    int64_t k = std::min<int64_t>(K - p0, std::max<int64_t>(o.batch_rows ? o.batch_rows(cap) : cap, 1));
    if (from_first) k = std::min<int64_t>(k, 1 + (K - p0) / 8);
    std::vector<int64_t> zeroed(k);
    for (int64_t r = 0; r < k; ++r) zeroed[r] = p0 + r;
    std::vector<at::Tensor> states = corrupted(zeroed);  // per layer [k, Q, d]
    for (int64_t l = 0; l < L; ++l) z.slice(0, p0, p0 + k).select(2, l).copy_(dissimilarity(clean[l], states[l], o.similarity_metric).to(at::kCPU));
    p0 += k;
    if (o.batch_done) o.batch_done(k);
  }
  return z;
}

}  // namespace

at::Tensor value_zeroing_decoder_only(const models::CausalLM& model, const at::Tensor& ids, const ValueZeroingOptions& o) {
  check_metric(o);
  c10::InferenceMode guard;
  const int64_t L = model.config().num_layers, n = ids.size(0);
  at::Tensor x = model.embed(ids.to(model.device()).unsqueeze(0));  // [1, n, d]
  const bool reuse = o.prefix_cache && model.capabilities().prefix_cache;
  auto count = [&](int64_t tokens) {
    if (o.tokens_forwarded) *o.tokens_forwarded += tokens;
  };
  // Clean states: each block's output, the last one after the final norm; with reuse, the clean keys and values.
  std::vector<at::Tensor> clean(L);
  models::KVCache prefix;  // per layer [1, kv_heads, n, head_dim]
  {
    models::ForwardRequest fr;
    fr.inputs_embeds = x;
    fr.output_hidden_states = true;
    fr.logits_to_keep = 1;
    fr.cache = reuse ? &prefix : nullptr;
    fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
      if (l < L - 1) clean[l] = h;
      return h;
    };
    count(n);
    clean[L - 1] = model.forward(fr).hidden_states.back();
  }
  at::Tensor z = sweep(n, clean, o, [&](const std::vector<int64_t>& zeroed) {
    const int64_t k = static_cast<int64_t>(zeroed.size());
    // Positions before the batch's first zeroed token are the clean run's: from the cache, states copied.
    const int64_t from = reuse ? zeroed[0] : 0;
    std::vector<int64_t> local(zeroed);
    for (int64_t& p : local) p -= from;
    models::KVCache cache = prefix.prefix(from, k);  // the clean prefix [0, from) for each of the k rows
    std::vector<at::Tensor> states(L);
    models::ForwardRequest fr;
    fr.inputs_embeds = x.slice(1, from).expand({k, n - from, x.size(2)});
    fr.cache = from > 0 ? &cache : nullptr;
    fr.output_hidden_states = true;
    fr.logits_to_keep = 1;
    fr.value_hook = [&](int64_t l, const at::Tensor& v) { return v.mul(zero_mask(v, local, heads_of(o.decoder_heads, l))); };
    fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
      if (l == L - 1) return h;
      states[l] = h;                                  // corrupted by this layer alone
      return clean[l].slice(1, from).expand_as(h);    // the next layer sees clean inputs
    };
    count(k * (n - from));
    states[L - 1] = model.forward(fr).hidden_states.back();
    for (int64_t l = 0; from > 0 && l < L; ++l)  // [k, n - from, d] -> [k, n, d]: the unchanged prefix
      states[l] = at::cat({clean[l].slice(1, 0, from).expand({k, -1, -1}), states[l]}, 1);
    return states;
  }, reuse);
  return finish(z, true);
}

Seq2SeqValueZeroing value_zeroing_seq2seq(const models::EncoderDecoderLM& model, const at::Tensor& source, const at::Tensor& target,
                                          const ValueZeroingOptions& o) {
  check_metric(o);
  if (!model.info().has_internals) {
    throw Error(ErrorCode::kUnsupportedModel, "value_zeroing needs the attention values and per-block states, which TorchScript bundles do not expose");
  }
  c10::InferenceMode guard;
  const c10::Device dev = model.device();
  const int64_t S = source.size(0), T = target.size(0);
  const int64_t Le = model.info().encoder_layers, Ld = model.info().decoder_layers;
  at::Tensor src = model.embed_source(source.to(dev).unsqueeze(0));  // [1, S, d]
  at::Tensor tgt = model.embed_target(target.to(dev).unsqueeze(0));  // [1, T, d]
  at::Tensor mask = at::ones({1, S}, at::TensorOptions().dtype(at::kLong).device(dev));

  std::vector<at::Tensor> clean_enc(Le), clean_dec(Ld);
  {
    models::EncDecRequest r;
    r.source_embeds = src;
    r.source_mask = mask;
    r.target_embeds = tgt;
    r.output_final_states = true;
    r.layer_hook = [&](const std::string& stack, int64_t l, const at::Tensor& h) {
      (stack == "encoder" ? clean_enc : clean_dec)[l] = h;
      return h;
    };
    models::EncDecOutput out = model.forward(r);
    clean_enc[Le - 1] = out.encoder_final;
    clean_dec[Ld - 1] = out.decoder_final;
  }
  // One corrupted run: zero `block` values at the given positions; compare the states of `stack`.
  auto run = [&](const std::string& block, const std::string& stack, const std::vector<std::vector<int64_t>>& heads,
                 const std::vector<int64_t>& zeroed) {
    const int64_t k = static_cast<int64_t>(zeroed.size());
    const bool enc = stack == "encoder";
    std::vector<at::Tensor>& clean = enc ? clean_enc : clean_dec;
    const int64_t L = enc ? Le : Ld;
    std::vector<at::Tensor> states(L);
    models::EncDecRequest r;
    r.source_embeds = src.expand({k, S, src.size(2)});
    r.source_mask = mask.expand({k, S});
    r.target_embeds = enc ? tgt.slice(1, 0, 1).expand({k, 1, tgt.size(2)}) : tgt.expand({k, T, tgt.size(2)});  // the encoder needs no target
    r.output_final_states = true;
    r.value_hook = [&](const std::string& b, int64_t l, const at::Tensor& v) {
      return b == block ? v.mul(zero_mask(v, zeroed, heads_of(heads, l))) : v;
    };
    r.layer_hook = [&](const std::string& s, int64_t l, const at::Tensor& h) {
      if (s != stack || l == L - 1) return h;
      states[l] = h;
      return clean[l].expand_as(h);
    };
    models::EncDecOutput out = model.forward(r);
    states[L - 1] = enc ? out.encoder_final : out.decoder_final;
    return states;
  };
  Seq2SeqValueZeroing res;
  res.cross = finish(sweep(S, clean_dec, o, [&](const std::vector<int64_t>& z) { return run("cross", "decoder", o.cross_heads, z); }), false);
  res.decoder_self = finish(sweep(T, clean_dec, o, [&](const std::vector<int64_t>& z) { return run("decoder", "decoder", o.decoder_heads, z); }), true);
  res.encoder_self = finish(sweep(S, clean_enc, o, [&](const std::vector<int64_t>& z) { return run("encoder", "encoder", o.encoder_heads, z); }), false);
  return res;
}

}  // namespace inseq::attribution
