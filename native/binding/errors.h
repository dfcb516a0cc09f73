// Maps native exceptions to {code, message} pairs, and those to JS errors with a `code` property.
#pragma once

#include <napi.h>

#include <exception>
#include <memory>
#include <string>

namespace inseq::binding {

struct NativeFailure {
  std::string code;     // ERR_TORCH, ERR_OUT_OF_MEMORY, ERR_BAD_CHECKPOINT, ...
  std::string message;  // one line, without the C++ backtrace
};

// Classifies the exception currently being handled (call inside a catch block).
NativeFailure classify_current_exception();

Napi::Error make_error(Napi::Env env, const NativeFailure& failure);
[[noreturn]] void throw_type_error(Napi::Env env, const std::string& message);

// The native model behind a JS wrapper, or a JS error with code ERR_DISPOSED after dispose().
template <typename M>
std::shared_ptr<M> alive_or_throw(Napi::Env env, const std::shared_ptr<M>& model) {
  if (!model) {
    Napi::Error err = Napi::Error::New(env, "The model has been disposed");
    err.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
    throw err;
  }
  return model;
}

}  // namespace inseq::binding
