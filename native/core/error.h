// Errors thrown by the native core. Each carries a stable code that the binding maps to a JS error `code`;
// the core never exits or aborts the process.
#pragma once

#include <stdexcept>
#include <string>

namespace inseq::core {

enum class ErrorCode {
  kInvalidOption,    // ERR_INVALID_OPTION: a caller-provided value is out of range
  kNotFound,         // ERR_NOT_FOUND: a file or directory is missing
  kBadCheckpoint,    // ERR_BAD_CHECKPOINT: safetensors/config content is corrupt or inconsistent
  kUnsupportedModel, // ERR_UNSUPPORTED_MODEL: model_type or option we do not implement
  kDevice,           // ERR_DEVICE: device/dtype not available in this LibTorch
  kAborted,          // ERR_ABORTED: cancelled by the caller
  kBadModel,         // ERR_BAD_MODEL: a TorchScript bundle breaks its contract (missing method, wrong sidecar)
  kOutOfMemory,      // ERR_OUT_OF_MEMORY: an allocation failed (CPU or GPU), whichever layer saw it
  kInternal,         // ERR_NATIVE: a broken invariant inside the native core (a bug)
};

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidOption: return "ERR_INVALID_OPTION";
    case ErrorCode::kNotFound: return "ERR_NOT_FOUND";
    case ErrorCode::kBadCheckpoint: return "ERR_BAD_CHECKPOINT";
    case ErrorCode::kUnsupportedModel: return "ERR_UNSUPPORTED_MODEL";
    case ErrorCode::kDevice: return "ERR_DEVICE";
    case ErrorCode::kAborted: return "ERR_ABORTED";
    case ErrorCode::kBadModel: return "ERR_BAD_MODEL";
    case ErrorCode::kOutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::kInternal: return "ERR_NATIVE";
  }
  return "ERR_NATIVE";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }
  const char* code_name() const { return error_code_name(code_); }

 private:
  ErrorCode code_;
};

// Whether an exception message reports a failed allocation: CUDA's "out of memory", c10's "Out of Memory",
// the CPU allocator's "can't allocate memory" / "not enough memory", errno ENOMEM's "Cannot allocate memory".
bool is_out_of_memory_message(const std::string& message);

// The code and one-line message of the exception being handled (call inside a catch block): core::Error keeps
// its code; every allocation failure is ERR_OUT_OF_MEMORY (c10::OutOfMemoryError, std::bad_alloc, or a
// message as above); other LibTorch errors are ERR_TORCH; anything else ERR_NATIVE.
struct Failure {
  std::string code;
  std::string message;
  bool out_of_memory = false;
};
Failure classify_current_exception();

}  // namespace inseq::core
