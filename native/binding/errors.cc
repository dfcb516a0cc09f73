#include "binding/errors.h"

#include <c10/util/Exception.h>

#include <new>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace inseq::binding {

namespace {
bool mentions_oom(const std::string& s) {
  return s.find("out of memory") != std::string::npos || s.find("OutOfMemory") != std::string::npos;
}
}  // namespace

NativeFailure classify_current_exception() {
  try {
    throw;
  } catch (const core::Error& e) {
    return {e.code_name(), e.what()};
  } catch (const c10::OutOfMemoryError& e) {
    core::cuda_empty_cache();  // what the failed call had cached goes back, so the next call can work
    return {"ERR_OUT_OF_MEMORY", e.what_without_backtrace()};
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    return {mentions_oom(msg) ? "ERR_OUT_OF_MEMORY" : "ERR_TORCH", msg};
  } catch (const std::bad_alloc&) {
    return {"ERR_OUT_OF_MEMORY", "out of memory (std::bad_alloc)"};
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return {mentions_oom(msg) ? "ERR_OUT_OF_MEMORY" : "ERR_NATIVE", msg};
  } catch (...) {
    return {"ERR_NATIVE", "unknown native error"};
  }
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
