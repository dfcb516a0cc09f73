// JS objects backed by native state: Model (a loaded decoder-only or encoder-decoder), CancelToken (an AbortSignal's native side)
// and the progress bridge (ThreadSafeFunction) that long jobs report through.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "attribution/request.h"
#include "models/causal_lm.h"
#include "models/concat_seq2seq.h"
#include "models/encoder_decoder.h"
#include "models/generate.h"
#include "binding/promise_worker.h"

namespace inseq::binding {

// Per-environment state (worker_threads safe: no process-global N-API references).
struct AddonData {
  Napi::FunctionReference model_ctor;
  Napi::FunctionReference cancel_ctor;
};

class CancelTokenWrap : public Napi::ObjectWrap<CancelTokenWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelTokenWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }
  // The token passed as `options.cancel`, or nullptr.
  static std::shared_ptr<std::atomic<bool>> from_options(const Napi::Object& options);

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
};

// Calls a JS callback(done, total, value) from any thread without blocking; drops updates when busy.
class ProgressReporter {
 public:
  static std::shared_ptr<ProgressReporter> from_options(Napi::Env env, const Napi::Object& options);
  void report(int64_t done, int64_t total, double value);
  ~ProgressReporter();

 private:
  Napi::ThreadSafeFunction tsfn_;
};

// Runs `run(request)` on a worker thread, the options' cancel token and progress callback wired into the
// request's `cancel` field and its progress field; `keep` stays referenced until the promise settles.
template <typename Result, typename Request, typename Run, typename ToJs>
Napi::Value run_cancellable(Napi::Env env, const Napi::Object& options, Request request,
                            std::function<void(int64_t, int64_t)> Request::*progress_field, Run run, ToJs to_js,
                            Napi::Object keep) {
  auto cancel = CancelTokenWrap::from_options(options);
  auto progress = ProgressReporter::from_options(env, options);
  return PromiseWorker<Result>::Run(
      env,
      [request, progress_field, run, cancel, progress]() mutable {
        request.cancel = cancel.get();
        if (progress) request.*progress_field = [progress](int64_t d, int64_t t) { progress->report(d, t, 0); };
        return run(request);
      },
      to_js, {keep});
}

// The kind-specific half of a loaded model (model_kinds.cc): its info object, generation and forward pass.
// Jobs capture the network itself, so a disposed wrapper's running jobs finish normally.
class ModelKindOps {
 public:
  virtual ~ModelKindOps() = default;
  // What the attribution engine runs on: the CausalLM, or the source ++ target adapter of an encoder-decoder.
  virtual std::shared_ptr<models::CausalLM> attributable() const = 0;
  virtual Napi::Object info(Napi::Env env) const = 0;
  // generate(ids, lengths, options) -> Promise<{ids, lengths, logprobs}>
  virtual Napi::Value generate(const Napi::CallbackInfo& info) const = 0;
  // decoder-only: forward(ids, lengths, options); encoder-decoder: forward(sourceIds, sourceLengths, targetIds, targetLengths, options)
  virtual Napi::Value forward(const Napi::CallbackInfo& info) const = 0;
};

std::shared_ptr<ModelKindOps> decoder_only_ops(std::shared_ptr<models::CausalLM> model);
std::shared_ptr<ModelKindOps> encoder_decoder_ops(std::shared_ptr<models::EncoderDecoderLM> model);

// One JS class for both model kinds (the kind is chosen by loadModel's `kind` option, decided in TS).
class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<ModelKindOps> ops);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<ModelKindOps> checked_ops(Napi::Env env) const;
  // The attributable model (attribute_worker.cc).
  std::shared_ptr<models::CausalLM> checked_model(Napi::Env env) const;
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Attribute(const Napi::CallbackInfo& info);  // attribute_worker.cc
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<ModelKindOps> ops_;
};

// Shared by both model kinds: generation options and results, attribution requests and results.
models::GenerationOptions parse_generation_options(const Napi::Object& options);
Napi::Value generation_result_to_js(Napi::Env env, models::GenerationResult& result);
// Runs the attribution engine on a worker thread; `self` is kept alive until it finishes.
Napi::Value run_attribution(Napi::Env env, std::shared_ptr<models::CausalLM> model, const Napi::Object& request, Napi::Object self);

// Module-level functions (registered by addon.cc). loadModel(dir, {kind, device, dtype}).
Napi::Value LoadModel(const Napi::CallbackInfo& info);
Napi::Value ListMethods(const Napi::CallbackInfo& info);
Napi::Value ListStepFunctions(const Napi::CallbackInfo& info);
Napi::Value MethodTable(const Napi::CallbackInfo& info);

}  // namespace inseq::binding
