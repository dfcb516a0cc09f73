// The internals family: attention weights, value zeroing (glue to value_zeroing.cc), attention rollout and flow
// (attention_graph.cc) and ALTI-logit (alti.cc). One pass per example.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "attribution/alti.h"
#include "attribution/attention_graph.h"
#include "attribution/engine_context.h"
#include "attribution/value_zeroing.h"
#include "core/error.h"

namespace inseq::attribution::detail {

namespace {

// Queries per attention block: the transient scores of one block (scores, softmax, bias, mask: ~4 x 4 bytes per
// head and key) fit the memory budget, and at most kMaxQueryBlock (enough rows for efficient matmuls).
constexpr int64_t kMaxQueryBlock = 256;
int64_t attention_query_block(const EngineContext& ctx, int64_t n) {
  const double per_query = 16.0 * static_cast<double>(ctx.model.config().num_heads) * static_cast<double>(n);
  const double fit = ctx.budget_bytes / per_query;
  return std::clamp<int64_t>(static_cast<int64_t>(fit), 1, kMaxQueryBlock);
}

}  // namespace

// Only the query rows of the generated steps are ever kept ([heads, steps, n] per layer), and the scores are
// computed over query blocks: memory O(steps x n) per layer and head plus one block, never layers x heads x n^2.
at::Tensor attention(EngineContext& ctx, Example& e, std::map<std::string, at::Tensor>& sequence_scores) {
  c10::InferenceMode guard;
  models::ForwardRequest fr;
  fr.source_lengths = ctx.lengths(e.src, 1);
  fr.inputs_embeds = ctx.embed(e.ids.unsqueeze(0), fr.source_lengths);
  fr.output_attentions = true;
  fr.logits_positions = e.positions.unsqueeze(0);
  fr.attention_rows = e.positions;  // [S]
  fr.attention_query_block = attention_query_block(ctx, e.n);
  ctx.tokens_forwarded += e.n;
  auto out = ctx.model.forward(fr);
  if (!out.encoder_attentions.empty()) {  // encoder self-attention as a sequence score: [src (key), src (query), layers, heads]
    std::vector<at::Tensor> layers;
    for (const auto& a : out.encoder_attentions) layers.push_back(a.squeeze(0));  // [h, q, k]
    sequence_scores["encoder_self_attentions"] = at::stack(layers).permute({3, 2, 0, 1}).to(at::kCPU, at::kFloat).contiguous();
  }
  // Only the query rows of the generated steps: [layers, heads, S, n]
  std::vector<at::Tensor> rows;
  for (const auto& a : out.attentions)  // models that ignore attention_rows return every row [1, h, n, n]
    rows.push_back(a.size(2) == e.steps() ? a.squeeze(0) : a.squeeze(0).index_select(1, e.positions));
  at::Tensor att = at::stack(rows).permute({3, 2, 0, 1}).to(at::kCPU, at::kFloat).contiguous();  // [n, S, L, Hd]
  const int64_t S = e.steps();
  for (int64_t j = 0; j < S; ++j) {
    const int64_t t = e.start + j;
    if (t < e.n) att.select(1, j).slice(0, t).fill_(kNaN);  // keys at or after the target are not causal
  }
  ctx.progress(static_cast<double>(S));
  return att;
}

namespace {

// The columns [n, S] of one example from rows [S, n] (row j: the query of step j over every position): keys at or
// after the step's target are NaN (not causal).
at::Tensor step_columns(EngineContext& ctx, const Example& e, const at::Tensor& rows) {
  const int64_t S = e.steps();
  at::Tensor res = ctx.host_result({e.n, S}, kNaN);
  at::Tensor host = rows.to(at::kCPU, at::kFloat);  // [S, n]
  for (int64_t j = 0; j < S; ++j) {
    const int64_t t = e.start + j;
    res.select(1, j).slice(0, 0, t).copy_(host[j].slice(0, 0, t));
  }
  return res;
}

}  // namespace

// Rollout and flow need every query row of every layer. Native decoder-only blocks hand each layer's weights to the
// attention parts hook, reduced at once to the head-averaged mixing layer: rollout keeps one running [n, n] product,
// flow the L mixing layers [n, n] (float64). Other models return every layer's weights (L x heads x n^2 floats).
at::Tensor attention_graph(EngineContext& ctx, Example& e, bool max_flow) {
  c10::InferenceMode guard;
  models::ForwardRequest fr;
  fr.source_lengths = ctx.lengths(e.src, 1);
  fr.inputs_embeds = ctx.embed(e.ids.unsqueeze(0), fr.source_lengths);
  fr.logits_positions = e.positions.unsqueeze(0);
  std::vector<int64_t> queries;
  for (int64_t j = 0; j < e.steps(); ++j) queries.push_back(e.start + j - 1);
  MixingLayers layers;
  at::Tensor rolled;  // [n, n] rollout of the blocks so far (hooked rollout)
  const bool hooked = ctx.caps.attention_parts && !ctx.seq2seq;
  if (hooked) {
    fr.attention_parts_hook = [&](int64_t, const models::AttentionParts& p) {
      at::Tensor m = residual_mixing(p.probs[0]);  // [n, n]
      if (max_flow) layers.push_back(m);
      else rolled = rolled.defined() ? m.matmul(rolled) : m;
    };
  } else {
    fr.output_attentions = true;
  }
  ctx.tokens_forwarded += e.n;
  auto out = ctx.model.forward(fr);
  if (!hooked) {
    std::vector<at::Tensor> dec, enc;
    for (const auto& a : out.attentions) dec.push_back(a.squeeze(0));          // [h, n, n]
    for (const auto& a : out.encoder_attentions) enc.push_back(a.squeeze(0));  // [h, src, src]
    layers = ctx.seq2seq ? encoder_decoder_mixing(enc, dec, e.src) : decoder_mixing(dec);
  }
  at::Tensor rows;  // [S, n]
  if (max_flow) rows = flow(layers, queries);
  else rows = hooked ? rolled.index_select(0, ctx.long_tensor(queries).to(rolled.device())) : rollout(layers, queries);
  ctx.progress(static_cast<double>(e.steps()));
  return step_columns(ctx, e, rows);
}

// ALTI-logit of each step's target logit (contrast_logits_diff: the logit difference with the contrast token, read
// on the same prefix); the other attributed functions are refused.
at::Tensor alti_logit(EngineContext& ctx, Example& e) {
  c10::InferenceMode guard;
  const std::string& fn = ctx.req.attributed_fn;
  const bool contrast = fn == "contrast_logits_diff";
  if (!contrast && fn != "logit" && fn != "logits" && fn != "probability") {
    throw core::Error(core::ErrorCode::kInvalidOption, "Expected \"logit\" or \"contrast_logits_diff\" for attributedFn of alti_logit (it decomposes a logit) but received \"" + fn + "\"");
  }
  if (contrast && e.host_contrast_targets.empty()) {
    throw core::Error(core::ErrorCode::kInvalidOption, "alti_logit with contrast_logits_diff needs contrastTargets");
  }
  const double block_bytes = std::max(1.0, ctx.budget_bytes / 8.0);
  at::Tensor rows;  // [S, n]
  if (ctx.seq2seq) {
    AltiSeq2SeqRequest r;
    r.source_embeds = ctx.seq2seq->embed_source(e.ids.slice(0, 0, e.src).unsqueeze(0));  // [1, s, h]
    r.target_embeds = ctx.seq2seq->embed_target(e.ids.slice(0, e.src).unsqueeze(0));     // [1, t, h]
    r.positions = e.positions.sub(e.src);                                                // [S] decoder positions
    r.targets = e.targets;
    if (contrast) r.contrast = ctx.long_tensor(e.host_contrast_targets);
    r.block_bytes = block_bytes;
    rows = attribution::alti_logit_seq2seq(*ctx.seq2seq, r).logit;
  } else {
    const models::LogitLens lens = ctx.model.logit_lens();
    AltiLogitRequest r;
    r.embeds = ctx.embed(e.ids.unsqueeze(0), at::Tensor());  // [1, n, h]
    r.positions = e.positions;                               // [S]
    r.directions = lens.unembedding.index_select(0, e.targets.to(lens.unembedding.device()));  // [S, h]
    if (contrast) {
      r.directions = r.directions.sub(lens.unembedding.index_select(0, ctx.long_tensor(e.host_contrast_targets).to(lens.unembedding.device())));
    }
    r.block_bytes = block_bytes;
    rows = attribution::alti_logit(ctx.model, r).logit;
  }
  ctx.tokens_forwarded += e.n;
  ctx.progress(static_cast<double>(e.steps()));
  return step_columns(ctx, e, rows);
}

// Value zeroing: one clean forward plus one forward per batch of zeroed tokens over the prefix ids[:end-1]
// (decoder-only: from the batch's first zeroed token on, over the clean run's KV cache); column j reads the
// query row of step j (its target's predecessor).
at::Tensor value_zeroing(EngineContext& ctx, Example& e, std::map<std::string, at::Tensor>& sequence_scores) {
  const AttributionRequest& req = ctx.req;
  ValueZeroingOptions o;
  o.similarity_metric = req.similarity_metric;
  o.decoder_heads = req.decoder_zeroed_heads;
  o.encoder_heads = req.encoder_zeroed_heads;
  o.cross_heads = req.cross_zeroed_heads;
  o.rows_per_batch = ctx.rows_per_batch(e.end - 1) * 4;
  o.check_cancel = [&ctx] { ctx.check_cancel(); };
  o.prefix_cache = req.prefix_cache;
  o.tokens_forwarded = &ctx.tokens_forwarded;
  const int64_t S = e.steps();
  // Zeroed tokens over every sweep: decoder-only n_in; encoder-decoders cross (src) + decoder self + encoder self (src).
  const int64_t sweep_rows = ctx.seq2seq ? 2 * e.src + (e.end - 1 - e.src) : e.end - 1;
  const ChunkPacer pacer = ctx.pacer();
  double reported = 0;
  o.batch_rows = [&](int64_t by_memory) { return pacer.rows(by_memory, ctx.row_seconds(e.end - 1, 1.0, S)); };
  o.batch_done = [&](int64_t rows) {
    const double share = static_cast<double>(S) * static_cast<double>(rows) / static_cast<double>(std::max<int64_t>(sweep_rows, 1));
    reported += share;
    ctx.progress(share);
  };
  at::Tensor res;
  if (!ctx.seq2seq) {
    at::Tensor z = value_zeroing_decoder_only(ctx.model, e.ids.slice(0, 0, e.end - 1), o);  // [n_in, n_in, L]
    res = ctx.host_result({e.n, S, z.size(2)}, kNaN);
    for (int64_t j = 0; j < S; ++j) {
      const int64_t q = e.start + j - 1;
      res.select(1, j).slice(0, 0, q + 1).copy_(z.select(1, q).slice(0, 0, q + 1));
    }
  } else {
    const int64_t src = e.src;
    Seq2SeqValueZeroing z = value_zeroing_seq2seq(*ctx.seq2seq, e.ids.slice(0, 0, src), e.ids.slice(0, src, e.end - 1), o);
    const int64_t T_in = e.end - 1 - src;
    res = ctx.host_result({e.n, S, z.cross.size(2)}, kNaN);
    for (int64_t j = 0; j < S; ++j) {
      const int64_t q = e.start + j - 1 - src;  // the decoder query of step j
      res.select(1, j).slice(0, 0, src).copy_(z.cross.select(1, q));
      res.select(1, j).slice(0, src, src + T_in).copy_(z.decoder_self.select(1, q));
    }
    sequence_scores["encoder_self_scores"] = z.encoder_self;
  }
  ctx.progress(std::max(0.0, static_cast<double>(S) - reported));  // what the batches did not cover
  return res;
}

}  // namespace inseq::attribution::detail
