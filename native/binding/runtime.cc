#include "binding/runtime.h"

#include "binding/errors.h"
#include "core/cuda_runtime.h"
#include "core/device.h"
#include "models/config.h"

namespace inseq::binding {

namespace {
int device_index_arg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type_error(info.Env(), "Expected a CUDA device index");
  const int index = info[0].As<Napi::Number>().Int32Value();
  if (index < 0 || index >= core::cuda_device_count()) {
    throw_type_error(info.Env(), "Expected a visible CUDA device index but received " + std::to_string(index));
  }
  return index;
}
}  // namespace

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  core::RuntimeInfo r = core::runtime_info();
  const core::CudaStatus& cuda = core::cuda_status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("torchVersion", r.torch_version);
  o.Set("libtorchDir", cuda.libtorch_dir);
  o.Set("cuda", r.cuda);
  o.Set("cudaDevices", r.cuda_devices);
  o.Set("cudaReason", r.cuda_reason);
  o.Set("torchCuda", cuda.torch_cuda);
  o.Set("cudaRuntime", cuda.cudart);
  o.Set("cudaRuntimeVersion", cuda.runtime_version);
  o.Set("cudaDriverVersion", cuda.driver_version);
  o.Set("threads", core::num_threads());
  o.Set("interopThreads", r.interop_threads);
  o.Set("parallelInfo", r.parallel_info);
  o.Set("buildConfig", r.config);
  o.Set("hostAvailableBytes", static_cast<double>(core::host_available_bytes()));
  o.Set("cpuHalfPrecision", core::cpu_half_precision());
  Napi::Object types = Napi::Object::New(env);  // kind -> [model_type...]
  for (const auto& t : models::native_model_types()) {
    if (!types.Has(t.kind)) types.Set(t.kind, Napi::Array::New(env));
    Napi::Array list = types.Get(t.kind).As<Napi::Array>();
    list.Set(list.Length(), t.id);
  }
  o.Set("modelTypes", types);
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type_error(env, "Expected a positive integer for threads");
  try {
    core::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  } catch (...) {
    throw make_error(env, classify_current_exception());
  }
  return env.Undefined();
}

Napi::Value ListGpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (const auto& g : core::list_gpus()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", g.index);
    o.Set("name", g.name);
    o.Set("freeBytes", static_cast<double>(g.free_bytes));
    o.Set("totalBytes", static_cast<double>(g.total_bytes));
    out.Set(out.Length(), o);
  }
  return out;
}

Napi::Value GpuMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int index = device_index_arg(info);
  Napi::Object o = Napi::Object::New(env);
  o.Set("freeBytes", static_cast<double>(core::cuda_free_bytes(index)));
  o.Set("peakAllocatedBytes", static_cast<double>(core::cuda_peak_allocated_bytes(index)));
  return o;
}

Napi::Value ResetGpuPeak(const Napi::CallbackInfo& info) {
  core::cuda_reset_peak(device_index_arg(info));
  return info.Env().Undefined();
}

}  // namespace inseq::binding
