// The Node.js addon: registers the binding's classes and functions, nothing else.
#include <napi.h>

#include "binding/model_wrap.h"
#include "binding/runtime.h"
#include "core/cuda_runtime.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace inseq::binding;
  inseq::core::load_torch_cuda();  // before anything asks ATen about CUDA (it decides once)
  auto* data = new AddonData();
  Napi::Function model = ModelWrap::Define(env);
  Napi::Function cancel = CancelTokenWrap::Define(env);
  data->model_ctor = Napi::Persistent(model);
  data->cancel_ctor = Napi::Persistent(cancel);
  env.SetInstanceData<AddonData>(data);
  exports.Set("NativeModel", model);
  exports.Set("CancelToken", cancel);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel, "loadModel"));
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfo, "runtimeInfo"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("listGpus", Napi::Function::New(env, ListGpus, "listGpus"));
  exports.Set("gpuMemory", Napi::Function::New(env, GpuMemory, "gpuMemory"));
  exports.Set("resetGpuPeak", Napi::Function::New(env, ResetGpuPeak, "resetGpuPeak"));
  exports.Set("listMethods", Napi::Function::New(env, ListMethods, "listMethods"));
  exports.Set("listStepFunctions", Napi::Function::New(env, ListStepFunctions, "listStepFunctions"));
  exports.Set("methodTable", Napi::Function::New(env, MethodTable, "methodTable"));
  return exports;
}

}  // namespace

NODE_API_MODULE(inseq, Init)
