#include "core/device.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/Context.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "core/cuda_runtime.h"
#include "core/error.h"

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

namespace inseq::core {

bool cuda_available() { return cuda_status().available && at::hasCUDA(); }
int cuda_device_count() { return cuda_available() ? cuda_status().devices : 0; }

std::string cuda_unavailable_reason() {
  const CudaStatus& s = cuda_status();
  if (!s.available) return s.reason;
  if (!at::hasCUDA()) return "ATen set up its CUDA hooks before libtorch_cuda.so was loaded";
  return "";
}

c10::Device parse_device(const std::string& name) {
  if (name.empty() || name == "auto") return cuda_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!cuda_available()) {
      throw Error(ErrorCode::kDevice, "Expected a device this LibTorch can use for device but received \"" + name +
                                          "\": CUDA is unavailable (" + cuda_unavailable_reason() + "); use \"cpu\" or \"auto\"");
    }
    c10::Device d(name == "cuda" ? "cuda:0" : name);
    if (d.index() >= cuda_device_count()) throw Error(ErrorCode::kDevice, "CUDA device index out of range in \"" + name + "\"");
    return d;
  }
  throw Error(ErrorCode::kInvalidOption, "Expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\" for device but received \"" + name + "\"");
}

c10::ScalarType parse_dtype(const std::string& name, c10::Device device) {
  if (name.empty() || name == "auto" || name == "float32" || name == "f32") return c10::ScalarType::Float;
  c10::ScalarType t;
  if (name == "float16" || name == "f16") {
    t = c10::ScalarType::Half;
  } else if (name == "bfloat16" || name == "bf16") {
    t = c10::ScalarType::BFloat16;
  } else {
    throw Error(ErrorCode::kInvalidOption, "Expected \"float32\", \"float16\" or \"bfloat16\" for dtype but received \"" + name + "\"");
  }
  if (!device.is_cuda() && !cpu_half_precision()) {
    throw Error(ErrorCode::kInvalidOption, "Expected \"float32\" for dtype on the CPU with LibTorch 1.x but received \"" + name + "\" (half precision needs device \"cuda\" or LibTorch 2)");
  }
  return t;
}

bool cpu_half_precision() {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
  return true;
#else
  return false;  // LibTorch 1.13 lacks CPU kernels for several half-precision ops
#endif
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    default: return "float32";
  }
}

int64_t default_memory_budget_mb(c10::Device device) {
  constexpr uint64_t kMb = 1024 * 1024;
  if (device.is_cuda()) {
    const uint64_t free_b = cuda_free_bytes(device.index() < 0 ? 0 : device.index());
    if (free_b > 0) return std::max<int64_t>(256, static_cast<int64_t>(free_b / 2 / kMb));
  }
  const uint64_t avail = host_available_bytes();
  if (avail == 0) return 1024;
  return std::clamp<int64_t>(static_cast<int64_t>(avail / 4 / kMb), 64, 1024);
}

namespace {
std::atomic<int> g_threads{0};        // 0 = LibTorch's default
std::atomic<int> g_generation{0};     // bumped on every set_num_threads
thread_local int t_generation = -1;
}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw Error(ErrorCode::kInvalidOption, "Expected a positive integer for threads but received " + std::to_string(n));
  g_threads = n;
  ++g_generation;
  at::set_num_threads(n);
}

int num_threads() { return g_threads > 0 ? g_threads.load() : at::get_num_threads(); }

void ensure_threads() {
  const int gen = g_generation.load();
  if (gen == t_generation) return;
  t_generation = gen;
  if (g_threads > 0 && at::get_num_threads() != g_threads) at::set_num_threads(g_threads);
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
#ifdef TORCH_VERSION
  info.torch_version = TORCH_VERSION;
#else
  info.torch_version = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                       std::to_string(TORCH_VERSION_PATCH);
#endif
  info.cuda = cuda_available();
  info.cuda_devices = cuda_device_count();
  info.cuda_reason = cuda_unavailable_reason();
  info.threads = at::get_num_threads();
  info.interop_threads = at::get_num_interop_threads();
  info.parallel_info = at::get_parallel_info();
  info.config = at::show_config();
  return info;
}

}  // namespace inseq::core
