#include "models/concat_seq2seq.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;

ConcatenatedSeq2Seq::ConcatenatedSeq2Seq(std::shared_ptr<const EncoderDecoderLM> model) : model_(std::move(model)) {
  const EncoderDecoderInfo& i = model_->info();
  device_ = model_->device();
  config_.model_type = i.model_type;
  config_.family = i.implementation == "torchscript" ? "torchscript" : "seq2seq";
  config_.vocab_size = std::max(i.vocab_size, i.source_vocab_size);  // ids of either segment are checked against it
  config_.hidden_size = i.hidden_size;
  config_.num_layers = i.encoder_layers + i.decoder_layers;  // the engine's activation-memory estimate
  config_.num_heads = std::max(i.num_heads, i.encoder_heads);
  config_.num_kv_heads = config_.num_heads;
  config_.head_dim = config_.num_heads > 0 ? i.hidden_size / config_.num_heads : 0;
  config_.intermediate_size = 4 * i.hidden_size;
  config_.max_position_embeddings = i.max_positions;
}

ModelCapabilities ConcatenatedSeq2Seq::capabilities() const {
  const EncoderDecoderInfo& i = model_->info();
  ModelCapabilities c;
  c.block_hooks = i.has_internals;  // layer methods at a block: the adapter maps both stacks' block outputs (forward)
  c.dropout = i.has_dropout;  // set_training(true): the request asks the model for dropout
  c.prefix_cache = false;
  c.deeplift_rule = i.implementation != "torchscript";
  c.lrp_rules = i.implementation != "torchscript";  // the native BART family and T5 blocks apply LRP's rules
  c.value_hooks = i.has_internals;
  c.attention_weights = i.has_attentions;
  return c;
}

at::Tensor ConcatenatedSeq2Seq::embed(const at::Tensor&) const {
  throw Error(ErrorCode::kInternal, "Encoder-decoder rows need their source lengths (embed_split)");
}

namespace {

at::Tensor cpu_lengths(const at::Tensor& lengths, int64_t batch, int64_t L) {
  if (!lengths.defined()) throw Error(ErrorCode::kInternal, "Encoder-decoder forward without source lengths");
  at::Tensor l = lengths.to(at::kCPU, at::kLong).contiguous();
  if (l.dim() != 1 || l.size(0) != batch) throw Error(ErrorCode::kInternal, "source_lengths must have one entry per row");
  if (l.min().item<int64_t>() < 1 || l.max().item<int64_t>() >= L) {
    throw Error(ErrorCode::kInternal, "Every row needs a non-empty source and a non-empty target");
  }
  return l;
}

}  // namespace

at::Tensor ConcatenatedSeq2Seq::embed_split(const at::Tensor& ids, const at::Tensor& source_lengths) const {
  const EncoderDecoderInfo& i = model_->info();
  const int64_t B = ids.size(0), L = ids.size(1);
  at::Tensor lens = cpu_lengths(source_lengths, B, L).to(device_);
  at::Tensor x = ids.to(device_, at::kLong);                                              // [B, L]
  at::Tensor is_source = at::arange(L, x.options()).unsqueeze(0).lt(lens.unsqueeze(1));  // [B, L]
  // Each table sees only its own segment's ids; the other segment's positions read id 0 and are dropped.
  at::Tensor src = model_->embed_source(at::where(is_source, x, at::zeros_like(x)).clamp_max(i.source_vocab_size - 1));
  at::Tensor tgt = model_->embed_target(at::where(is_source, at::zeros_like(x), x).clamp_max(i.vocab_size - 1));
  return at::where(is_source.unsqueeze(-1), src, tgt);  // [B, L, d]
}

ForwardResult ConcatenatedSeq2Seq::forward(const ForwardRequest& r) const {
  if (r.layer_output_hook && !model_->info().has_internals) {
    throw Error(ErrorCode::kUnsupportedModel, "This encoder-decoder exposes no per-block hooks: layer methods attribute the embedding layer only");
  }
  if (r.cache) throw Error(ErrorCode::kUnsupportedModel, "Encoder-decoder adapters do not decode with a KV cache; use generate");
  const at::Tensor& E = r.inputs_embeds;  // [B, L, d]
  const int64_t B = E.size(0), L = E.size(1), d = E.size(2);
  at::Tensor lens_cpu = cpu_lengths(r.source_lengths, B, L);
  const int64_t S = lens_cpu.max().item<int64_t>();
  const int64_t T = L - lens_cpu.min().item<int64_t>();
  model_->check_lengths(S, T);
  auto lopt = at::TensorOptions().dtype(at::kLong).device(device_);
  at::Tensor lens = lens_cpu.to(device_).unsqueeze(1);                 // [B, 1]
  at::Tensor k_src = at::arange(S, lopt).unsqueeze(0);                 // [1, S]
  at::Tensor src_mask = k_src.lt(lens);                                // [B, S]
  at::Tensor src_idx = at::where(src_mask, k_src, at::zeros_like(k_src));                          // [B, S]
  at::Tensor tgt_idx = at::arange(T, lopt).unsqueeze(0).add(lens).clamp_max(L - 1);               // [B, T]
  // Gathers keep the graph: gradients flow back to the concatenated embeddings.
  at::Tensor src = E.gather(1, src_idx.unsqueeze(-1).expand({B, S, d}));  // [B, S, d]
  at::Tensor tgt = E.gather(1, tgt_idx.unsqueeze(-1).expand({B, T, d}));  // [B, T, d]
  // Concatenated positions whose logits are wanted: [B, P] -> target rows (< 0 = a source position)
  at::Tensor positions;
  if (r.logits_positions.defined()) {
    positions = r.logits_positions.to(device_, at::kLong);
  } else {
    const int64_t keep = r.logits_to_keep > 0 ? std::min(r.logits_to_keep, L) : L;
    positions = at::arange(L - keep, L, lopt).unsqueeze(0).expand({B, keep});
  }
  at::Tensor tpos = positions.sub(lens);                  // [B, P]
  at::Tensor valid = tpos.ge(0).logical_and(tpos.lt(T));  // [B, P]
  EncDecRequest req;
  req.source_embeds = src;
  req.source_mask = src_mask.to(at::kLong);
  req.target_embeds = tgt;
  req.output_attentions = r.output_attentions;
  req.deeplift = r.deeplift;
  req.lrp = r.lrp;
  req.training = training();
  // Block outputs in the concatenated layout: encoder block l is hook index l, decoder block l index
  // encoder_layers + l; each is passed as [B, L, d] with its own segment filled (the other one zero) and the
  // returned tensor's segment continues (gathers both ways, so gradients reach whatever the hook returned).
  if (r.layer_output_hook) {
    // [B, L] index into [source (S rows) ; target (T rows)]: position p < S_b reads source row p, else target row p - S_b
    at::Tensor p_all = at::arange(L, lopt).unsqueeze(0);  // [1, L]
    at::Tensor cat_idx = at::where(p_all.lt(lens), p_all, p_all.sub(lens).add(S)).expand({B, L});
    const int64_t enc_layers = model_->info().encoder_layers;
    req.layer_hook = [&r, cat_idx, src_idx, tgt_idx, B, L, S, T, enc_layers](const std::string& stack, int64_t layer, const at::Tensor& h) {
      const bool encoder = stack == "encoder";
      const int64_t d = h.size(2);
      at::Tensor both = encoder ? at::cat({h, at::zeros({B, T, d}, h.options())}, 1) : at::cat({at::zeros({B, S, d}, h.options()), h}, 1);
      at::Tensor out = r.layer_output_hook(encoder ? layer : enc_layers + layer, both.gather(1, cat_idx.unsqueeze(-1).expand({B, L, d})));
      const at::Tensor& idx = encoder ? src_idx : tgt_idx;  // [B, S] | [B, T]
      return out.gather(1, idx.unsqueeze(-1).expand({B, idx.size(1), d}));
    };
  }
  // The LM head only where logits are wanted; asked for every position, it runs on the T target rows (as a
  // plain decoder forward does) and the source positions read zeros below.
  const bool every_position = !r.logits_positions.defined() && r.logits_to_keep <= 0;
  if (!every_position) req.logits_positions = tpos.clamp(0, T - 1);
  if (r.output_attentions && !model_->info().has_attentions) {
    throw Error(ErrorCode::kUnsupportedModel, "This model does not return attention weights (its bundle has no forward_attentions)");
  }
  EncDecOutput out = model_->forward(req);
  at::Tensor picked = out.logits;  // [B, P, V]
  if (every_position) picked = picked.gather(1, tpos.clamp(0, T - 1).unsqueeze(-1).expand({B, tpos.size(1), picked.size(2)}));
  ForwardResult res;
  res.logits = picked.mul(valid.unsqueeze(-1).to(picked.scalar_type()));

  if (r.output_attentions) {
    for (size_t l = 0; l < out.cross_attentions.size(); ++l) {
      const at::Tensor& cross = out.cross_attentions[l];   // [B, h, T, S]
      const at::Tensor& self = out.decoder_attentions[l];  // [B, h, T, T]
      const int64_t h = cross.size(1);
      at::Tensor a = at::zeros({B, h, L, L}, cross.options().dtype(at::kFloat));  // [B, h, L, L]
      for (int64_t b = 0; b < B; ++b) {
        const int64_t s = lens_cpu[b].item<int64_t>(), t = L - s;
        at::Tensor rows = a[b].slice(1, s, L);  // [h, t, L]
        rows.slice(2, 0, s).copy_(cross[b].slice(1, 0, t).slice(2, 0, s));
        rows.slice(2, s, L).copy_(self[b].slice(1, 0, t).slice(2, 0, t));
      }
      res.attentions.push_back(a);
    }
    res.encoder_attentions = std::move(out.encoder_attentions);
  }
  return res;
}

}  // namespace inseq::models
