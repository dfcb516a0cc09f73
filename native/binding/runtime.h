// Module-level functions about the native runtime (registered by addon.cc): LibTorch facts, CUDA status and
// GPUs, thread settings, device memory figures.
#pragma once

#include <napi.h>

namespace inseq::binding {

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info);
Napi::Value SetNumThreads(const Napi::CallbackInfo& info);
// [{ index, name, freeBytes, totalBytes }] for each visible GPU (creates a CUDA context on each).
Napi::Value ListGpus(const Napi::CallbackInfo& info);
// (deviceIndex) -> { freeBytes, peakAllocatedBytes } of a CUDA device; resetGpuPeak(deviceIndex).
Napi::Value GpuMemory(const Napi::CallbackInfo& info);
Napi::Value ResetGpuPeak(const Napi::CallbackInfo& info);

}  // namespace inseq::binding
