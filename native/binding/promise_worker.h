// An AsyncWorker that settles a Promise: Execute() runs `compute` on the libuv pool (no JS values there),
// OnOK converts the result on the JS thread; every C++ exception becomes a rejection with a code.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "binding/errors.h"
#include "core/device.h"

namespace inseq::binding {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Compute = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  // Queues the work and returns its Promise. `keep_alive` objects (wrappers, typed arrays) stay referenced
  // until the worker is done.
  static Napi::Promise Run(Napi::Env env, Compute compute, Convert convert, std::vector<Napi::Object> keep_alive = {}) {
    auto* worker = new PromiseWorker(env, std::move(compute), std::move(convert));
    for (const auto& obj : keep_alive) worker->keep_alive_.push_back(Napi::Persistent(obj));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  PromiseWorker(Napi::Env env, Compute compute, Convert convert)
      : Napi::AsyncWorker(env, "inseq:native"), deferred_(Napi::Promise::Deferred::New(env)),
        compute_(std::move(compute)), convert_(std::move(convert)) {}

  void Execute() override {
    try {
      core::ensure_threads();
      result_.emplace(compute_());
    } catch (...) {
      failure_ = classify_current_exception();
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (failure_) {
      deferred_.Reject(make_error(env, *failure_).Value());
      return;
    }
    try {
      deferred_.Resolve(convert_(env, *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(make_error(env, classify_current_exception()).Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Compute compute_;
  Convert convert_;
  std::optional<Result> result_;
  std::optional<NativeFailure> failure_;
  std::vector<Napi::ObjectReference> keep_alive_;  // released with the worker, on the JS thread
};

}  // namespace inseq::binding
