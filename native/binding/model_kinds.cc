// The kind-specific half of the one model wrap: info, generation and forward for decoder-only models
// (CausalLM) and encoder-decoders (EncoderDecoderLM, attributed through the concatenated-sequence adapter).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "core/device.h"
#include "models/generate.h"
#include "models/mean_embedding.h"
#include "models/seq2seq.h"

namespace inseq::binding {

namespace {

// Runs generation on a worker thread with the options' cancel token and progress callback.
template <typename Generate>
Napi::Value run_generation(const Napi::CallbackInfo& info, models::GenerationOptions opts, const Napi::Object& o, Generate gen) {
  return run_cancellable<models::GenerationResult>(info.Env(), o, std::move(opts), &models::GenerationOptions::on_step, gen,
                                                   generation_result_to_js, info.This().As<Napi::Object>());
}

// The info fields both kinds report, under the same names; each kind adds its own.
struct CommonInfo {
  std::string model_type, family;
  int64_t vocab_size, hidden_size, num_layers, num_heads, pad_token_id, bos_token_id;
  const std::vector<int64_t>& eos_token_ids;
  c10::Device device;
  at::ScalarType dtype;
};

Napi::Object common_info(Napi::Env env, const CommonInfo& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("family", c.family);
  for (const auto& [key, v] : {std::pair<const char*, int64_t>{"vocabSize", c.vocab_size}, {"hiddenSize", c.hidden_size},
                               {"numLayers", c.num_layers}, {"numHeads", c.num_heads}, {"padTokenId", c.pad_token_id},
                               {"bosTokenId", c.bos_token_id}}) {
    o.Set(key, static_cast<double>(v));
  }
  o.Set("eosTokenIds", ints_to_js(env, c.eos_token_ids));
  o.Set("device", c.device.str());
  o.Set("dtype", core::dtype_name(c.dtype));
  return o;
}

// generate(ids, lengths, options): the prompt / source rows and the options object.
std::pair<std::vector<std::vector<int64_t>>, Napi::Object> generate_args(const Napi::CallbackInfo& info, const char* what) {
  if (info.Length() < 3 || !info[2].IsObject()) throw_type_error(info.Env(), "generate(ids, lengths, options) expects an options object");
  return {ragged_from_js(info[0], info[1], what), info[2].As<Napi::Object>()};
}

// A forward's result for JS: {logits, <name>: [tensor per layer], ...}.
Napi::Object forward_to_js(Napi::Env env, const at::Tensor& logits,
                           std::initializer_list<std::pair<const char*, const std::vector<at::Tensor>*>> per_layer) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("logits", tensor_to_js(env, logits));
  for (const auto& [name, tensors] : per_layer) out.Set(name, tensors_to_js(env, *tensors));
  return out;
}

// ---- decoder-only ----------------------------------------------------------------------------------

struct DecoderForwardResult {
  at::Tensor logits;                      // [batch, seq, vocab]
  std::vector<at::Tensor> attentions;     // per layer [batch, heads, seq, seq]
  std::vector<at::Tensor> hidden_states;  // num_layers + 1 of [batch, seq, hidden]
};

class DecoderOnlyOps final : public ModelKindOps {
 public:
  explicit DecoderOnlyOps(std::shared_ptr<models::CausalLM> model) : model_(std::move(model)) {}

  std::shared_ptr<models::CausalLM> attributable() const override { return model_; }

  Napi::Object info(Napi::Env env) const override {
    const models::ModelConfig& c = model_->config();
    Napi::Object o = common_info(env, {c.model_type, c.family, c.vocab_size, c.hidden_size, c.num_layers, c.num_heads,
                                       c.pad_token_id, c.bos_token_id, c.eos_token_ids, model_->device(), model_->dtype()});
    o.Set("numKvHeads", static_cast<double>(c.num_kv_heads));
    o.Set("headDim", static_cast<double>(c.head_dim));
    o.Set("maxPositionEmbeddings", static_cast<double>(c.max_position_embeddings));
    o.Set("numParameters", static_cast<double>(model_->num_parameters()));
    return o;
  }

  Napi::Value generate(const Napi::CallbackInfo& info) const override {
    auto [prompts, o] = generate_args(info, "generate prompts");
    auto model = model_;
    return run_generation(info, parse_generation_options(o), o,
                          [model, prompts](models::GenerationOptions& opts) { return models::generate(*model, prompts, opts); });
  }

  Napi::Value forward(const Napi::CallbackInfo& info) const override {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[2].IsObject()) throw_type_error(env, "forward(ids, lengths, options) expects an options object");
    auto rows = ragged_from_js(info[0], info[1], "forward ids");
    Napi::Object o = info[2].As<Napi::Object>();
    const bool attentions = get_bool(o, "outputAttentions", false);
    const bool hidden = get_bool(o, "outputHiddenStates", false);
    const int64_t keep = get_int(o, "logitsToKeep", 0);
    const int64_t pad = get_int(o, "padTokenId", 0);
    // meanEmbeddingFlags: one 0/1 per token, laid out as ids; flagged tokens get the mean token embedding.
    std::vector<std::vector<int64_t>> flags;
    if (o.Has("meanEmbeddingFlags") && !o.Get("meanEmbeddingFlags").IsUndefined()) {
      flags = ragged_from_js(o.Get("meanEmbeddingFlags"), info[1], "forward meanEmbeddingFlags");
    }
    auto model = model_;
    auto means = means_;
    return PromiseWorker<DecoderForwardResult>::Run(
        env,
        [model, means, rows, flags, attentions, hidden, keep, pad]() {
          c10::InferenceMode guard;
          auto [ids, mask] = models::pad_left(rows, pad, model->config().vocab_size, "sequence for forward");  // [B, T]
          models::ForwardRequest req;
          req.inputs_embeds = model->embed(ids);  // [B, T, hidden]
          if (!flags.empty()) {
            const int64_t vocab = model->config().vocab_size;
            at::Tensor mean = means->get([&](const at::Tensor& i) { return model->embed(i); }, vocab, model->device());  // [hidden]
            at::Tensor f = models::pad_left(flags, 0, 2, "meanEmbeddingFlags (0 or 1 per token)").ids;  // [B, T]
            req.inputs_embeds = models::replace_with_mean(req.inputs_embeds, f, mean);                    // [B, T, hidden]
          }
          req.attention_mask = mask.to(model->device());
          req.output_attentions = attentions;
          req.output_hidden_states = hidden;
          req.logits_to_keep = keep;
          models::ForwardResult out = model->forward(req);
          return DecoderForwardResult{out.logits, out.attentions, out.hidden_states};
        },
        [](Napi::Env env, DecoderForwardResult& r) -> Napi::Value {
          return forward_to_js(env, r.logits, {{"attentions", &r.attentions}, {"hiddenStates", &r.hidden_states}});
        },
        {info.This().As<Napi::Object>()});
  }

 private:
  std::shared_ptr<models::CausalLM> model_;
  std::shared_ptr<models::MeanEmbeddingCache> means_ = std::make_shared<models::MeanEmbeddingCache>();
};

// ---- encoder-decoder -------------------------------------------------------------------------------

class EncoderDecoderOps final : public ModelKindOps {
 public:
  explicit EncoderDecoderOps(std::shared_ptr<models::EncoderDecoderLM> model)
      : model_(model), adapter_(std::make_shared<models::ConcatenatedSeq2Seq>(std::move(model))) {}

  std::shared_ptr<models::CausalLM> attributable() const override { return adapter_; }

  Napi::Object info(Napi::Env env) const override {
    const models::EncoderDecoderInfo& c = model_->info();
    Napi::Object o = common_info(env, {c.model_type, "seq2seq", c.vocab_size, c.hidden_size, c.decoder_layers, c.num_heads,
                                       c.pad_token_id, c.bos_token_id, c.eos_token_ids, model_->device(), model_->dtype()});
    o.Set("implementation", c.implementation);
    o.Set("sourceVocabSize", static_cast<double>(c.source_vocab_size));
    o.Set("numEncoderLayers", static_cast<double>(c.encoder_layers));
    o.Set("maxPositions", static_cast<double>(c.max_positions));
    o.Set("unkTokenId", static_cast<double>(c.unk_token_id));
    o.Set("eosTokenId", c.eos_token_ids.empty() ? -1.0 : static_cast<double>(c.eos_token_ids[0]));
    o.Set("decoderStartTokenId", static_cast<double>(c.decoder_start_token_id));
    o.Set("embedScale", c.embed_scale);
    o.Set("hasAttentions", c.has_attentions);
    return o;
  }

  // The encoder runs once per batch; sources are right-padded with the model's pad token.
  Napi::Value generate(const Napi::CallbackInfo& info) const override {
    auto [sources, o] = generate_args(info, "generate sources");
    models::GenerationOptions opts = parse_generation_options(o);
    opts.pad_token_id = model_->info().pad_token_id;
    auto model = model_;
    return run_generation(info, opts, o, [model, sources](models::GenerationOptions& g) {
      return models::generate_encoder_decoder(*model, sources, g);
    });
  }

  // logits [B, T, V] (rows right-padded), attentions per layer when asked.
  Napi::Value forward(const Napi::CallbackInfo& info) const override {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[4].IsObject()) {
      throw_type_error(env, "forward(sourceIds, sourceLengths, targetIds, targetLengths, options) expects an options object");
    }
    auto sources = ragged_from_js(info[0], info[1], "forward sources");
    auto targets = ragged_from_js(info[2], info[3], "forward targets");
    if (sources.size() != targets.size()) throw_type_error(env, "forward expects one target per source");
    Napi::Object o = info[4].As<Napi::Object>();
    const bool attentions = get_bool(o, "outputAttentions", false);
    // meanEmbeddingFlags: one 0/1 per source token, laid out as the sources; flagged ones get the mean source embedding.
    std::vector<std::vector<int64_t>> flags;
    if (o.Has("meanEmbeddingFlags") && !o.Get("meanEmbeddingFlags").IsUndefined()) {
      flags = ragged_from_js(o.Get("meanEmbeddingFlags"), info[1], "forward meanEmbeddingFlags");
    }
    auto model = model_;
    auto means = means_;
    return PromiseWorker<models::EncDecOutput>::Run(
        env,
        [model, means, sources, targets, flags, attentions]() {
          c10::InferenceMode guard;
          const models::EncoderDecoderInfo& i = model->info();
          auto [src, src_mask] = models::pad_right(sources, i.pad_token_id, i.source_vocab_size, "source");  // [B, S]
          auto [tgt, tgt_mask] = models::pad_right(targets, i.pad_token_id, i.vocab_size, "target");         // [B, T]
          model->check_lengths(src.size(1), tgt.size(1));
          models::EncDecRequest r;
          r.source_embeds = model->embed_source(src);  // [B, S, hidden]
          if (!flags.empty()) {
            at::Tensor mean = means->get([&](const at::Tensor& ids) { return model->embed_source(ids); }, i.source_vocab_size, model->device());
            at::Tensor f = models::pad_right(flags, 0, 2, "meanEmbeddingFlags (0 or 1 per token)").ids;  // [B, S]
            r.source_embeds = models::replace_with_mean(r.source_embeds, f, mean);                         // [B, S, hidden]
          }
          r.source_mask = src_mask.to(model->device());
          r.target_embeds = model->embed_target(tgt);  // [B, T, hidden]
          r.output_attentions = attentions;
          return model->forward(r);
        },
        [](Napi::Env env, models::EncDecOutput& out) -> Napi::Value {
          return forward_to_js(env, out.logits, {{"crossAttentions", &out.cross_attentions},
                                                 {"decoderAttentions", &out.decoder_attentions},
                                                 {"encoderAttentions", &out.encoder_attentions}});
        },
        {info.This().As<Napi::Object>()});
  }

 private:
  std::shared_ptr<models::EncoderDecoderLM> model_;
  std::shared_ptr<models::MeanEmbeddingCache> means_ = std::make_shared<models::MeanEmbeddingCache>();
  std::shared_ptr<models::ConcatenatedSeq2Seq> adapter_;  // what the attribution engine runs on
};

}  // namespace

std::shared_ptr<ModelKindOps> decoder_only_ops(std::shared_ptr<models::CausalLM> model) {
  return std::make_shared<DecoderOnlyOps>(std::move(model));
}

std::shared_ptr<ModelKindOps> encoder_decoder_ops(std::shared_ptr<models::EncoderDecoderLM> model) {
  return std::make_shared<EncoderDecoderOps>(std::move(model));
}

}  // namespace inseq::binding
