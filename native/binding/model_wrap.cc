#include "binding/model_wrap.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/promise_worker.h"
#include "core/device.h"
#include "core/error.h"
#include "models/generate.h"
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

Napi::Object ModelWrap::NewInstance(Napi::Env env, std::shared_ptr<models::CausalLM> model) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->model_ctor.New({});
  Unwrap(obj)->model_ = std::move(model);
  return obj;
}

std::shared_ptr<models::CausalLM> ModelWrap::checked_model(Napi::Env env) const {
  return alive_or_throw(env, model_);
}

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  const models::ModelConfig& c = model->config();
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("family", c.family);
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("numLayers", static_cast<double>(c.num_layers));
  o.Set("numHeads", static_cast<double>(c.num_heads));
  o.Set("numKvHeads", static_cast<double>(c.num_kv_heads));
  o.Set("headDim", static_cast<double>(c.head_dim));
  o.Set("maxPositionEmbeddings", static_cast<double>(c.max_position_embeddings));
  o.Set("numParameters", static_cast<double>(model->num_parameters()));
  o.Set("bosTokenId", static_cast<double>(c.bos_token_id));
  o.Set("padTokenId", static_cast<double>(c.pad_token_id));
  o.Set("eosTokenIds", ints_to_js(env, c.eos_token_ids));
  o.Set("device", model->device().str());
  o.Set("dtype", core::dtype_name(model->dtype()));
  return o;
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

Napi::Value ModelWrap::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  if (info.Length() < 3 || !info[2].IsObject()) throw_type_error(env, "generate(ids, lengths, options) expects an options object");
  auto prompts = ragged_from_js(info[0], info[1], "generate prompts");
  Napi::Object o = info[2].As<Napi::Object>();
  models::GenerationOptions opts = parse_generation_options(o);
  auto cancel = CancelTokenWrap::from_options(o);
  auto progress = ProgressReporter::from_options(env, o);
  return PromiseWorker<models::GenerationResult>::Run(
      env,
      [model, prompts, opts, cancel, progress]() mutable {
        opts.cancel = cancel.get();
        if (progress) opts.on_step = [progress](int64_t d, int64_t t) { progress->report(d, t, 0); };
        return models::generate(*model, prompts, opts);
      },
      generation_result_to_js,
      {info.This().As<Napi::Object>()});
}

namespace {
struct ForwardJobResult {
  at::Tensor logits;                      // [batch, seq, vocab]
  std::vector<at::Tensor> attentions;     // per layer [batch, heads, seq, seq]
  std::vector<at::Tensor> hidden_states;  // per layer [batch, seq, hidden]
};
}  // namespace

Napi::Value ModelWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  if (info.Length() < 3 || !info[2].IsObject()) throw_type_error(env, "forward(ids, lengths, options) expects an options object");
  auto rows = ragged_from_js(info[0], info[1], "forward ids");
  Napi::Object o = info[2].As<Napi::Object>();
  const bool attentions = get_bool(o, "outputAttentions", false);
  const bool hidden = get_bool(o, "outputHiddenStates", false);
  const int64_t keep = get_int(o, "logitsToKeep", 0);
  const int64_t pad = get_int(o, "padTokenId", 0);
  return PromiseWorker<ForwardJobResult>::Run(
      env,
      [model, rows, attentions, hidden, keep, pad]() {
        c10::InferenceMode guard;
        auto [ids, mask] = models::pad_left(rows, pad, model->config().vocab_size, "sequence for forward");  // [B, T]
        models::ForwardRequest req;
        req.inputs_embeds = model->embed(ids);
        req.attention_mask = mask.to(model->device());
        req.output_attentions = attentions;
        req.output_hidden_states = hidden;
        req.logits_to_keep = keep;
        models::ForwardResult out = model->forward(req);
        return ForwardJobResult{out.logits, out.attentions, out.hidden_states};
      },
      [](Napi::Env env, ForwardJobResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("logits", tensor_to_js(env, r.logits));
        out.Set("attentions", tensors_to_js(env, r.attentions));
        out.Set("hiddenStates", tensors_to_js(env, r.hidden_states));
        return out;
      },
      {info.This().As<Napi::Object>()});
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();  // running jobs hold their own reference and finish normally
  return info.Env().Undefined();
}

// ---- module functions ------------------------------------------------------------------------------

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type_error(env, "Expected a directory path for loadModel");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  std::string device = get_string(o, "device", "auto");
  std::string dtype = get_string(o, "dtype", "float32");
  return PromiseWorker<std::shared_ptr<models::CausalLM>>::Run(
      env,
      [dir, device, dtype]() {
        c10::Device d = core::parse_device(device);
        const c10::ScalarType t = core::parse_dtype(dtype, d);
        if (models::is_torchscript_bundle(dir)) {
          if (t != c10::ScalarType::Float) throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript bundles run in float32 only");
          return models::load_torchscript_causal_lm(dir, d);
        }
        return models::load_causal_lm(dir, d, t);
      },
      [](Napi::Env env, std::shared_ptr<models::CausalLM>& model) -> Napi::Value { return ModelWrap::NewInstance(env, model); });
}

}  // namespace inseq::binding
