#include "binding/model_wrap.h"

#include <ATen/ATen.h>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/promise_worker.h"
#include "core/device.h"
#include "core/error.h"
#include "models/generate.h"
#include "models/seq2seq.h"
#include "models/torchscript_bundle.h"

namespace inseq::binding {

// ---- CancelToken -----------------------------------------------------------------------------------

Napi::Function CancelTokenWrap::Define(Napi::Env env) {
  return DefineClass(env, "CancelToken", {InstanceMethod("cancel", &CancelTokenWrap::Cancel)});
}

CancelTokenWrap::CancelTokenWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelTokenWrap>(info) {}

Napi::Value CancelTokenWrap::Cancel(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

std::shared_ptr<std::atomic<bool>> CancelTokenWrap::from_options(const Napi::Object& options) {
  if (!options.Has("cancel")) return nullptr;
  Napi::Value v = options.Get("cancel");
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  Napi::Env env = options.Env();
  auto* data = env.GetInstanceData<AddonData>();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data->cancel_ctor.Value())) {
    throw_type_error(env, "Expected a CancelToken for cancel");
  }
  return Unwrap(v.As<Napi::Object>())->flag();
}

// ---- Progress --------------------------------------------------------------------------------------

struct ProgressEvent {
  int64_t done, total;
  double value;
};

std::shared_ptr<ProgressReporter> ProgressReporter::from_options(Napi::Env env, const Napi::Object& options) {
  if (!options.Has("onProgress") || !options.Get("onProgress").IsFunction()) return nullptr;
  auto reporter = std::shared_ptr<ProgressReporter>(new ProgressReporter());
  reporter->tsfn_ = Napi::ThreadSafeFunction::New(env, options.Get("onProgress").As<Napi::Function>(), "inseq:progress", 8, 1);
  reporter->tsfn_.Unref(env);  // progress alone must not keep the process alive
  return reporter;
}

void ProgressReporter::report(int64_t done, int64_t total, double value) {
  auto* event = new ProgressEvent{done, total, value};
  napi_status status = tsfn_.NonBlockingCall(event, [](Napi::Env env, Napi::Function fn, ProgressEvent* e) {
    if (env != nullptr && fn != nullptr) {
      fn.Call({Napi::Number::New(env, static_cast<double>(e->done)), Napi::Number::New(env, static_cast<double>(e->total)),
               Napi::Number::New(env, e->value)});
    }
    delete e;
  });
  if (status != napi_ok) delete event;  // queue full: drop this update
}

ProgressReporter::~ProgressReporter() { tsfn_.Release(); }

// ---- Model -----------------------------------------------------------------------------------------

Napi::Function ModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {InstanceMethod("info", &ModelWrap::Info), InstanceMethod("generate", &ModelWrap::Generate),
                      InstanceMethod("forward", &ModelWrap::Forward),
                      InstanceMethod("attribute", &ModelWrap::Attribute), InstanceMethod("dispose", &ModelWrap::Dispose)});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

Napi::Object ModelWrap::NewInstance(Napi::Env env, std::shared_ptr<ModelKindOps> ops) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->model_ctor.New({});
  Unwrap(obj)->ops_ = std::move(ops);
  return obj;
}

std::shared_ptr<ModelKindOps> ModelWrap::checked_ops(Napi::Env env) const { return alive_or_throw(env, ops_); }

std::shared_ptr<models::CausalLM> ModelWrap::checked_model(Napi::Env env) const { return checked_ops(env)->attributable(); }

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) { return checked_ops(info.Env())->info(info.Env()); }

Napi::Value ModelWrap::Generate(const Napi::CallbackInfo& info) { return checked_ops(info.Env())->generate(info); }

Napi::Value ModelWrap::Forward(const Napi::CallbackInfo& info) { return checked_ops(info.Env())->forward(info); }

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  ops_.reset();  // running jobs hold their own reference to the network and finish normally
  return info.Env().Undefined();
}

models::GenerationOptions parse_generation_options(const Napi::Object& o) {
  models::GenerationOptions opts;
  opts.max_new_tokens = get_int(o, "maxNewTokens", 20);
  opts.do_sample = get_bool(o, "doSample", false);
  opts.temperature = get_number(o, "temperature", 1.0);
  opts.top_k = get_int(o, "topK", 0);
  opts.top_p = get_number(o, "topP", 1.0);
  opts.seed = static_cast<uint64_t>(get_int(o, "seed", 0));
  opts.eos_token_ids = get_int_list(o, "eosTokenIds");
  opts.pad_token_id = get_int(o, "padTokenId", 0);
  opts.decoder_prefix = get_int_list(o, "decoderPrefix");
  return opts;
}

Napi::Value generation_result_to_js(Napi::Env env, models::GenerationResult& r) {
  Napi::Object out = ragged_to_js(env, r.sequences);
  size_t total = 0;
  for (const auto& row : r.token_logprobs) total += row.size();
  Napi::Float32Array lp = Napi::Float32Array::New(env, total);
  size_t k = 0;
  for (const auto& row : r.token_logprobs)
    for (float v : row) lp[k++] = v;
  out.Set("logprobs", lp);
  return out;
}

// ---- module functions ------------------------------------------------------------------------------

// loadModel(dir, {kind, device, dtype, onProgress}): `kind` ("decoder-only" | "encoder-decoder") is decided in TS
// (lib/models/model-kind.ts); a Hugging Face checkpoint or a TorchScript bundle of that kind. onProgress(loaded
// bytes, total bytes) per tensor of a checkpoint (TorchScript bundles report nothing).
Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "Expected a directory path for loadModel");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  const std::string kind = get_string(o, "kind", "");
  if (kind != "decoder-only" && kind != "encoder-decoder") {
    throw_type_error(env, "Expected \"decoder-only\" or \"encoder-decoder\" for kind but received \"" + kind + "\"");
  }
  const bool seq2seq = kind == "encoder-decoder";
  std::string device = get_string(o, "device", "auto");
  std::string dtype = get_string(o, "dtype", "float32");
  // Progress per tensor through the (lossy) thread-safe reporter; the final (total, total) is called on the JS
  // thread before the promise resolves, so that it is never dropped nor late.
  auto reporter = ProgressReporter::from_options(env, o);
  auto total_bytes = std::make_shared<std::atomic<int64_t>>(-1);
  std::shared_ptr<Napi::FunctionReference> on_progress;
  models::LoadProgress progress;
  if (reporter) {
    on_progress = std::make_shared<Napi::FunctionReference>(Napi::Persistent(o.Get("onProgress").As<Napi::Function>()));
    progress = [reporter, total_bytes](uint64_t done, uint64_t total) {
      if (done == total) total_bytes->store(static_cast<int64_t>(total));
      reporter->report(static_cast<int64_t>(done), static_cast<int64_t>(total), 0);
    };
  }
  return PromiseWorker<std::shared_ptr<ModelKindOps>>::Run(
      env,
      [dir, device, dtype, seq2seq, progress]() -> std::shared_ptr<ModelKindOps> {
        c10::Device d = core::parse_device(device);
        const c10::ScalarType t = core::parse_dtype(dtype, d);
        if (models::is_torchscript_bundle(dir)) {
          if (t != c10::ScalarType::Float) throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript bundles run in float32 only");
          return seq2seq ? encoder_decoder_ops(models::load_torchscript_encoder_decoder(dir, d))
                         : decoder_only_ops(models::load_torchscript_causal_lm(dir, d));
        }
        return seq2seq ? encoder_decoder_ops(models::load_encoder_decoder_lm(dir, d, t, progress))
                       : decoder_only_ops(models::load_causal_lm(dir, d, t, progress));
      },
      [on_progress, total_bytes](Napi::Env env, std::shared_ptr<ModelKindOps>& ops) -> Napi::Value {
        Napi::Value model = ModelWrap::NewInstance(env, ops);
        if (on_progress && total_bytes->load() >= 0) {
          const double total = static_cast<double>(total_bytes->load());
          on_progress->Call({Napi::Number::New(env, total), Napi::Number::New(env, total), Napi::Number::New(env, 0)});
        }
        return model;
      });
}

}  // namespace inseq::binding
