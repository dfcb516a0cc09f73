#include "binding/errors.h"

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace inseq::binding {

NativeFailure classify_current_exception() {
  core::Failure f = core::classify_current_exception();  // must run inside the caller's catch block
  if (f.out_of_memory) core::cuda_empty_cache();  // what the failed call had cached goes back, so the next call can work
  return {f.code, f.message};
}

Napi::Error make_error(Napi::Env env, const NativeFailure& failure) {
  Napi::Error err = Napi::Error::New(env, failure.message);
  err.Set("code", Napi::String::New(env, failure.code));
  return err;
}

void throw_type_error(Napi::Env env, const std::string& message) {
  Napi::TypeError err = Napi::TypeError::New(env, message);
  err.Set("code", Napi::String::New(env, "ERR_INVALID_OPTION"));
  throw err;
}

}  // namespace inseq::binding
