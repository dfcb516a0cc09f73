#include "core/cuda_runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 10))
#include <c10/core/CachingDeviceAllocator.h>
#define INSEQ_HAS_DEVICE_ALLOCATOR 1
#endif

#include "core/files.h"

namespace inseq::core {

namespace {

CudaStatus g_status;
std::once_flag g_once;

// The CUDA runtime API functions we call, by name (signatures from cuda_runtime_api.h; int = cudaError_t).
struct Cudart {
  std::string path;  // the loaded libcudart.so.N
  void* handle = nullptr;
  int (*get_device_count)(int*) = nullptr;
  int (*runtime_get_version)(int*) = nullptr;
  int (*driver_get_version)(int*) = nullptr;
  int (*set_device)(int) = nullptr;
  int (*get_device)(int*) = nullptr;
  int (*mem_get_info)(size_t*, size_t*) = nullptr;
  int (*get_device_properties)(void*, int) = nullptr;
  const char* (*get_error_string)(int) = nullptr;
  explicit operator bool() const { return handle && get_device_count && get_error_string; }
};

// The first loaded object whose file name starts with `prefix` (libcudart.so.13, libcudart.so.12, ...).
std::string loaded_library(const char* prefix) {
  struct Search {
    const char* prefix;
    std::string found;
  } search{prefix, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* s = static_cast<Search*>(data);
        const char* name = info->dlpi_name;
        if (!name || !*name) return 0;
        const char* base = std::strrchr(name, '/');
        base = base ? base + 1 : name;
        if (std::strncmp(base, s->prefix, std::strlen(s->prefix)) == 0) {
          s->found = name;
          return 1;
        }
        return 0;
      },
      &search);
  return search.found;
}

template <typename F>
void bind(void* handle, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
}

const Cudart& cudart() {
  static Cudart rt = [] {
    Cudart r;
    r.path = loaded_library("libcudart.so");
    if (r.path.empty()) return r;
    r.handle = dlopen(r.path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!r.handle) return r;
    bind(r.handle, r.get_device_count, "cudaGetDeviceCount");
    bind(r.handle, r.runtime_get_version, "cudaRuntimeGetVersion");
    bind(r.handle, r.driver_get_version, "cudaDriverGetVersion");
    bind(r.handle, r.set_device, "cudaSetDevice");
    bind(r.handle, r.get_device, "cudaGetDevice");
    bind(r.handle, r.mem_get_info, "cudaMemGetInfo");
    bind(r.handle, r.get_device_properties, "cudaGetDeviceProperties_v2");  // CUDA >= 12
    if (!r.get_device_properties) bind(r.handle, r.get_device_properties, "cudaGetDeviceProperties");
    bind(r.handle, r.get_error_string, "cudaGetErrorString");
    return r;
  }();
  return rt;
}

std::string directory_of_libtorch() {
  Dl_info info{};
  // at::get_num_threads lives in libtorch_cpu (ATen).
  if (!dladdr(reinterpret_cast<void*>(&at::get_num_threads), &info) || !info.dli_fname) return {};
  std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

void load_once() {
  CudaStatus& s = g_status;
  s.attempted = true;
  s.libtorch_dir = directory_of_libtorch();
  // The CUDA runtime is a dependency of libtorch_cpu in PyPI's wheels: its versions are known even when
  // libtorch_cuda cannot load.
  const Cudart& rt = cudart();
  s.cudart = rt.path;
  if (rt && rt.runtime_get_version) rt.runtime_get_version(&s.runtime_version);
  if (rt && rt.driver_get_version) rt.driver_get_version(&s.driver_version);
  const char* flag = std::getenv("INSEQ_CUDA");
  if (flag && std::strcmp(flag, "0") == 0) {
    s.reason = "disabled by INSEQ_CUDA=0";
    return;
  }
  const std::string lib = s.libtorch_dir + "/libtorch_cuda.so";
  if (!path_exists(lib)) {
    s.reason = "this LibTorch has no CUDA libraries (no libtorch_cuda.so in " + s.libtorch_dir + ")";
    return;
  }
  dlerror();
  if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    const char* err = dlerror();
    s.reason = std::string("libtorch_cuda.so could not be loaded: ") + (err ? err : "unknown dlopen error");
    return;
  }
  s.torch_cuda = true;
  if (!rt) {
    s.reason = "the CUDA runtime (libcudart) is not loaded";
    return;
  }
  int n = 0;
  const int err = rt.get_device_count(&n);
  if (err != 0) {
    s.reason = std::string("no visible GPU: ") + rt.get_error_string(err);
    if (s.driver_version == 0) s.reason += " (no NVIDIA driver: libcuda.so.1 not found)";
    return;
  }
  if (n == 0) {
    s.reason = "no visible GPU";
    return;
  }
  s.devices = n;
  s.available = true;
}

}  // namespace

const CudaStatus& load_torch_cuda() {
  std::call_once(g_once, load_once);
  return g_status;
}

const CudaStatus& cuda_status() { return load_torch_cuda(); }

std::vector<GpuInfo> list_gpus() {
  std::vector<GpuInfo> out;
  const CudaStatus& s = cuda_status();
  const Cudart& rt = cudart();
  if (!s.available || !rt || !rt.set_device || !rt.mem_get_info) return out;
  int current = 0;
  if (rt.get_device) rt.get_device(&current);
  for (int i = 0; i < s.devices; ++i) {
    GpuInfo g;
    g.index = i;
    if (rt.get_device_properties) {
      // cudaDeviceProp starts with `char name[256]` in every CUDA version; the buffer is larger than the struct.
      std::vector<char> prop(16384, 0);
      if (rt.get_device_properties(prop.data(), i) == 0) g.name.assign(prop.data(), strnlen(prop.data(), 256));
    }
    size_t free_b = 0, total_b = 0;
    if (rt.set_device(i) == 0 && rt.mem_get_info(&free_b, &total_b) == 0) {
      g.free_bytes = free_b;
      g.total_bytes = total_b;
    }
    out.push_back(g);
  }
  rt.set_device(current);
  return out;
}

uint64_t cuda_free_bytes(int device_index) {
  const Cudart& rt = cudart();
  if (!cuda_status().available || !rt || !rt.mem_get_info || !rt.set_device) return 0;
  int current = 0;
  if (rt.get_device) rt.get_device(&current);
  size_t free_b = 0, total_b = 0;
  const bool ok = rt.set_device(device_index) == 0 && rt.mem_get_info(&free_b, &total_b) == 0;
  rt.set_device(current);
  if (!ok) return 0;
  uint64_t cached = 0;
#ifdef INSEQ_HAS_DEVICE_ALLOCATOR
  const auto stats = c10::getDeviceAllocator(c10::DeviceType::CUDA)->getDeviceStats(static_cast<c10::DeviceIndex>(device_index));
  const auto agg = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  const int64_t unused = stats.reserved_bytes[agg].current - stats.allocated_bytes[agg].current;
  if (unused > 0) cached = static_cast<uint64_t>(unused);
#endif
  return static_cast<uint64_t>(free_b) + cached;
}

uint64_t cuda_peak_allocated_bytes(int device_index) {
#ifdef INSEQ_HAS_DEVICE_ALLOCATOR
  if (!cuda_status().available) return 0;
  const auto stats = c10::getDeviceAllocator(c10::DeviceType::CUDA)->getDeviceStats(static_cast<c10::DeviceIndex>(device_index));
  return static_cast<uint64_t>(stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak);
#else
  return 0;
#endif
}

void cuda_reset_peak(int device_index) {
#ifdef INSEQ_HAS_DEVICE_ALLOCATOR
  if (cuda_status().available) c10::getDeviceAllocator(c10::DeviceType::CUDA)->resetPeakStats(static_cast<c10::DeviceIndex>(device_index));
#endif
}

void cuda_empty_cache() {
#ifdef INSEQ_HAS_DEVICE_ALLOCATOR
  if (cuda_status().available) c10::getDeviceAllocator(c10::DeviceType::CUDA)->emptyCache();
#endif
}

uint64_t host_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) return std::strtoull(line.c_str() + 13, nullptr, 10) * 1024;  // "... kB"
  }
  return 0;
}

}  // namespace inseq::core
