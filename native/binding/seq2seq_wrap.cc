// Encoder-decoder models in JS (native or TorchScript bundles): load, info, generation (the encoder runs once
// per batch), attribution through the concatenated-sequence adapter.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "core/device.h"
#include "core/error.h"
#include "models/seq2seq.h"
#include "models/torchscript_bundle.h"

namespace inseq::binding {

Napi::Function Seq2SeqModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeSeq2SeqModel",
                     {InstanceMethod("info", &Seq2SeqModelWrap::Info), InstanceMethod("generate", &Seq2SeqModelWrap::Generate),
                      InstanceMethod("attribute", &Seq2SeqModelWrap::Attribute),
                      InstanceMethod("forward", &Seq2SeqModelWrap::Forward),
                      InstanceMethod("dispose", &Seq2SeqModelWrap::Dispose)});
}

Seq2SeqModelWrap::Seq2SeqModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Seq2SeqModelWrap>(info) {}

Napi::Object Seq2SeqModelWrap::NewInstance(Napi::Env env, std::shared_ptr<models::EncoderDecoderLM> model) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->seq2seq_ctor.New({});
  Seq2SeqModelWrap* self = Unwrap(obj);
  self->adapter_ = std::make_shared<models::ConcatenatedSeq2Seq>(model);
  self->model_ = std::move(model);
  return obj;
}

std::shared_ptr<models::EncoderDecoderLM> Seq2SeqModelWrap::checked_model(Napi::Env env) const {
  return alive_or_throw(env, model_);
}

Napi::Value Seq2SeqModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  const models::EncoderDecoderInfo& c = model->info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("family", "seq2seq");
  o.Set("implementation", c.implementation);
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("sourceVocabSize", static_cast<double>(c.source_vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("numLayers", static_cast<double>(c.decoder_layers));
  o.Set("numEncoderLayers", static_cast<double>(c.encoder_layers));
  o.Set("numHeads", static_cast<double>(c.num_heads));
  o.Set("maxPositions", static_cast<double>(c.max_positions));
  o.Set("padTokenId", static_cast<double>(c.pad_token_id));
  o.Set("bosTokenId", static_cast<double>(c.bos_token_id));
  o.Set("unkTokenId", static_cast<double>(c.unk_token_id));
  o.Set("eosTokenIds", ints_to_js(env, c.eos_token_ids));
  o.Set("eosTokenId", c.eos_token_ids.empty() ? -1.0 : static_cast<double>(c.eos_token_ids[0]));
  o.Set("decoderStartTokenId", static_cast<double>(c.decoder_start_token_id));
  o.Set("embedScale", c.embed_scale);
  o.Set("hasAttentions", c.has_attentions);
  o.Set("device", model->device().str());
  o.Set("dtype", core::dtype_name(model->dtype()));
  return o;
}

Napi::Value Seq2SeqModelWrap::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  if (info.Length() < 3 || !info[2].IsObject()) throw_type_error(env, "generate(ids, lengths, options) expects an options object");
  auto sources = ragged_from_js(info[0], info[1], "generate sources");
  Napi::Object o = info[2].As<Napi::Object>();
  models::GenerationOptions opts = parse_generation_options(o);
  opts.pad_token_id = model->info().pad_token_id;
  auto cancel = CancelTokenWrap::from_options(o);
  auto progress = ProgressReporter::from_options(env, o);
  return PromiseWorker<models::GenerationResult>::Run(
      env,
      [model, sources, opts, cancel, progress]() mutable {
        opts.cancel = cancel.get();
        if (progress) opts.on_step = [progress](int64_t d, int64_t t) { progress->report(d, t, 0); };
        return models::generate_encoder_decoder(*model, sources, opts);
      },
      generation_result_to_js, {info.This().As<Napi::Object>()});
}

// forward(sourceIds, sourceLengths, targetIds, targetLengths, {outputAttentions}) -> logits [B, T, V] (rows
// right-padded), attentions per layer when asked.
Napi::Value Seq2SeqModelWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  if (info.Length() < 5 || !info[4].IsObject()) throw_type_error(env, "forward(sourceIds, sourceLengths, targetIds, targetLengths, options) expects an options object");
  auto sources = ragged_from_js(info[0], info[1], "forward sources");
  auto targets = ragged_from_js(info[2], info[3], "forward targets");
  if (sources.size() != targets.size()) throw_type_error(env, "forward expects one target per source");
  const bool attentions = get_bool(info[4].As<Napi::Object>(), "outputAttentions", false);
  return PromiseWorker<models::EncDecOutput>::Run(
      env,
      [model, sources, targets, attentions]() {
        c10::InferenceMode guard;
        const models::EncoderDecoderInfo& i = model->info();
        auto [src, src_mask] = models::pad_right(sources, i.pad_token_id, i.source_vocab_size, "source");  // [B, S]
        auto [tgt, tgt_mask] = models::pad_right(targets, i.pad_token_id, i.vocab_size, "target");         // [B, T]
        model->check_lengths(src.size(1), tgt.size(1));
        models::EncDecRequest r;
        r.source_embeds = model->embed_source(src);
        r.source_mask = src_mask.to(model->device());
        r.target_embeds = model->embed_target(tgt);
        r.output_attentions = attentions;
        return model->forward(r);
      },
      [](Napi::Env env, models::EncDecOutput& out) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("logits", tensor_to_js(env, out.logits));
        o.Set("crossAttentions", tensors_to_js(env, out.cross_attentions));
        o.Set("decoderAttentions", tensors_to_js(env, out.decoder_attentions));
        o.Set("encoderAttentions", tensors_to_js(env, out.encoder_attentions));
        return o;
      },
      {info.This().As<Napi::Object>()});
}

Napi::Value Seq2SeqModelWrap::Attribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checked_model(env);
  if (info.Length() < 1 || !info[0].IsObject()) throw_type_error(env, "attribute(request) expects a request object");
  return run_attribution(env, adapter_, info[0].As<Napi::Object>(), info.This().As<Napi::Object>());
}

Napi::Value Seq2SeqModelWrap::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  adapter_.reset();
  return info.Env().Undefined();
}

Napi::Value LoadSeq2SeqModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "Expected a directory path for loadSeq2SeqModel");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  std::string device = get_string(o, "device", "auto");
  std::string dtype = get_string(o, "dtype", "float32");
  return PromiseWorker<std::shared_ptr<models::EncoderDecoderLM>>::Run(
      env,
      [dir, device, dtype]() -> std::shared_ptr<models::EncoderDecoderLM> {
        c10::Device d = core::parse_device(device);
        const c10::ScalarType t = core::parse_dtype(dtype, d);
        if (models::is_torchscript_bundle(dir)) {
          if (t != c10::ScalarType::Float) throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript bundles run in float32 only");
          return models::load_torchscript_encoder_decoder(dir, d);
        }
        return models::load_seq2seq_lm(dir, d, t);
      },
      [](Napi::Env env, std::shared_ptr<models::EncoderDecoderLM>& model) -> Napi::Value { return Seq2SeqModelWrap::NewInstance(env, model); });
}

}  // namespace inseq::binding
