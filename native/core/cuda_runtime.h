// CUDA at run time. The addon and the C++ tests link only libtorch_cpu + libc10, so one build serves CPU-only
// and CUDA hosts: load_torch_cuda() dlopens libtorch_cuda.so from the directory libtorch_cpu.so was loaded from
// (its static initialisers register the CUDA kernels and hooks), and says why when it cannot. It must run before
// anything asks LibTorch about CUDA: ATen decides once, at the first query, whether CUDA exists.
// The CUDA runtime (libcudart, a dependency of libtorch_cpu in PyPI's wheels) answers the diagnostics through
// dlsym, so no CUDA header or library is needed to build this.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inseq::core {

struct GpuInfo {
  int index = 0;
  std::string name;
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

struct CudaStatus {
  bool attempted = false;     // load_torch_cuda() ran
  bool torch_cuda = false;    // libtorch_cuda.so is loaded: this LibTorch can run CUDA kernels
  bool available = false;     // ... and at least one GPU is visible
  int devices = 0;
  std::string libtorch_dir;   // where libtorch_cpu.so was loaded from
  std::string reason;         // why CUDA is unavailable (empty when available)
  std::string cudart;         // path of the CUDA runtime library in this process, if any
  int runtime_version = 0;    // cudaRuntimeGetVersion, e.g. 13020
  int driver_version = 0;     // cudaDriverGetVersion (0: no driver)
};

// Loads libtorch_cuda.so once (later calls return the first result). INSEQ_CUDA=0 skips it.
const CudaStatus& load_torch_cuda();
const CudaStatus& cuda_status();

// Visible GPUs with free / total memory (creates a CUDA context on each: for `inseq doctor`, not hot paths).
std::vector<GpuInfo> list_gpus();

// Bytes a new allocation on `device_index` can use: free device memory plus what LibTorch's caching allocator
// holds unused. 0 when unknown.
uint64_t cuda_free_bytes(int device_index);
// Peak bytes allocated by LibTorch on a CUDA device since the last reset (0 when unknown), and the reset.
uint64_t cuda_peak_allocated_bytes(int device_index);
void cuda_reset_peak(int device_index);
// Returns cached, unused device memory to the driver (after an out-of-memory error).
void cuda_empty_cache();

// MemAvailable of /proc/meminfo (0 when unknown).
uint64_t host_available_bytes();

}  // namespace inseq::core
