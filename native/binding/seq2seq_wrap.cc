// Encoder-decoder models in JS: load, info, greedy generation (the encoder runs once per batch).
#include <ATen/ATen.h>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "core/device.h"
#include "core/error.h"

namespace inseq::binding {

Napi::Function Seq2SeqModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeSeq2SeqModel",
                     {InstanceMethod("info", &Seq2SeqModelWrap::Info), InstanceMethod("generate", &Seq2SeqModelWrap::Generate),
                      InstanceMethod("dispose", &Seq2SeqModelWrap::Dispose)});
}

Seq2SeqModelWrap::Seq2SeqModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Seq2SeqModelWrap>(info) {}

Napi::Object Seq2SeqModelWrap::NewInstance(Napi::Env env, std::shared_ptr<models::Seq2SeqLM> model) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->seq2seq_ctor.New({});
  Unwrap(obj)->model_ = std::move(model);
  return obj;
}

std::shared_ptr<models::Seq2SeqLM> Seq2SeqModelWrap::checked_model(Napi::Env env) const {
  return alive_or_throw(env, model_);
}

Napi::Value Seq2SeqModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const models::Seq2SeqConfig& c = checked_model(env)->config();
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("family", "seq2seq");
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.d_model));
  o.Set("numLayers", static_cast<double>(c.decoder_layers));
  o.Set("numEncoderLayers", static_cast<double>(c.encoder_layers));
  o.Set("numHeads", static_cast<double>(c.decoder_heads));
  o.Set("padTokenId", static_cast<double>(c.pad_token_id));
  o.Set("eosTokenId", static_cast<double>(c.eos_token_id));
  o.Set("decoderStartTokenId", static_cast<double>(c.decoder_start_token_id));
  o.Set("device", model_->device().str());
  o.Set("dtype", "float32");
  return o;
}

Napi::Value Seq2SeqModelWrap::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  if (info.Length() < 3 || !info[2].IsObject()) throw_type_error(env, "generate(ids, lengths, options) expects an options object");
  auto sources = ragged_from_js(info[0], info[1], "generate sources");
  Napi::Object o = info[2].As<Napi::Object>();
  const int64_t max_new = get_int(o, "maxNewTokens", 20);
  if (max_new < 0) throw_type_error(env, "Expected a non-negative integer for maxNewTokens");
  const std::vector<int64_t> eos = get_int_list(o, "eosTokenIds");
  return PromiseWorker<std::vector<std::vector<int64_t>>>::Run(
      env, [model, sources, max_new, eos]() { return models::generate_seq2seq(*model, sources, max_new, eos); },
      [](Napi::Env env, std::vector<std::vector<int64_t>>& rows) -> Napi::Value { return ragged_to_js(env, rows); },
      {info.This().As<Napi::Object>()});
}

Napi::Value Seq2SeqModelWrap::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  return info.Env().Undefined();
}

Napi::Value LoadSeq2SeqModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "Expected a directory path for loadSeq2SeqModel");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  std::string device = get_string(o, "device", "auto");
  std::string dtype = get_string(o, "dtype", "float32");
  return PromiseWorker<std::shared_ptr<models::Seq2SeqLM>>::Run(
      env,
      [dir, device, dtype]() {
        c10::Device d = core::parse_device(device);
        if (core::parse_dtype(dtype, d) != c10::ScalarType::Float) {
          throw core::Error(core::ErrorCode::kInvalidOption, "Encoder-decoder models load in float32 only for now");
        }
        return models::load_seq2seq_lm(dir, d);
      },
      [](Napi::Env env, std::shared_ptr<models::Seq2SeqLM>& model) -> Napi::Value { return Seq2SeqModelWrap::NewInstance(env, model); });
}

}  // namespace inseq::binding
