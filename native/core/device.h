// Device and dtype selection, thread settings, and facts about the LibTorch build (for `inseq doctor`).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace inseq::core {

// "auto" -> cuda when available, else cpu; "cpu"; "cuda"; "cuda:N". Errors name the option.
c10::Device parse_device(const std::string& name);
// "float32" | "float16" | "bfloat16" ("auto" = float32). Half precision on the CPU needs LibTorch 2 (slow: it is
// for small models and for checking the half-precision paths without a GPU).
c10::ScalarType parse_dtype(const std::string& name, c10::Device device);
std::string dtype_name(c10::ScalarType dtype);
// float16 / bfloat16 models on the CPU: LibTorch 2 (parse_dtype refuses them on 1.x).
bool cpu_half_precision();

// CUDA needs libtorch_cuda.so loaded (core/cuda_runtime.h) and a visible GPU.
bool cuda_available();
int cuda_device_count();
std::string cuda_unavailable_reason();  // empty when CUDA is available

// Activation memory for one batch of attribution rows when the caller sets none: half the free memory of a
// CUDA device (what it has free plus what LibTorch's cache holds unused), at least 256 MB; on the CPU 1024 MB,
// or a quarter of the available RAM when that is less (at least 64 MB).
int64_t default_memory_budget_mb(c10::Device device);

// Intra-op threads for torch work. Applies to the calling thread lazily: call ensure_threads() at the start
// of every job (it only touches OpenMP when the wanted count changed since this thread last ran a job).
void set_num_threads(int n);
int num_threads();
void ensure_threads();

struct RuntimeInfo {
  std::string torch_version;
  bool cuda = false;
  int cuda_devices = 0;
  std::string cuda_reason;
  int threads = 0;
  int interop_threads = 0;
  std::string parallel_info;  // at::get_parallel_info()
  std::string config;         // at::show_config(): BLAS, compiler flags
};
RuntimeInfo runtime_info();

}  // namespace inseq::core
