#include "core/error.h"

#include <c10/util/Exception.h>

#include <new>

namespace inseq::core {

bool is_out_of_memory_message(const std::string& m) {
  for (const char* needle : {"out of memory", "Out of Memory", "OutOfMemory", "can't allocate memory", "not enough memory",
                             "Cannot allocate memory", "std::bad_alloc"}) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

Failure classify_current_exception() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.code_name(), e.what(), e.code() == ErrorCode::kOutOfMemory};
  } catch (const c10::OutOfMemoryError& e) {
    return {"ERR_OUT_OF_MEMORY", e.what_without_backtrace(), true};
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    const bool oom = is_out_of_memory_message(msg);
    return {oom ? "ERR_OUT_OF_MEMORY" : "ERR_TORCH", msg, oom};
  } catch (const std::bad_alloc&) {
    return {"ERR_OUT_OF_MEMORY", "out of memory (std::bad_alloc)", true};
  } catch (const std::exception& e) {
    std::string msg = e.what();
    const bool oom = is_out_of_memory_message(msg);
    return {oom ? "ERR_OUT_OF_MEMORY" : "ERR_NATIVE", msg, oom};
  } catch (...) {
    return {"ERR_NATIVE", "unknown native error", false};
  }
}

}  // namespace inseq::core
