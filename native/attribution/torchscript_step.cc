// The only TU that includes torch/script.h (the heaviest LibTorch header).
#include "attribution/torchscript_step.h"

#include <torch/jit.h>
#include <torch/script.h>

#include <memory>

#include "core/error.h"

namespace inseq::attribution {

StepFunctionInfo compile_step_function(const std::string& id, const std::string& source) {
  std::shared_ptr<torch::jit::CompilationUnit> cu;
  try {
    cu = torch::jit::compile(source.empty() || source.back() != '\n' ? source + "\n" : source);  // the parser wants a final newline
  } catch (const c10::Error& e) {
    throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript step function \"" + id + "\" does not compile: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript step function \"" + id + "\" does not compile: " + e.what());
  }
  if (!cu->find_function("step")) {
    throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript step function \"" + id + "\" must define def step(logits, targets, contrast_logits, contrast_targets)");
  }
  StepFunctionInfo info;
  info.id = id;
  info.contrastive = true;  // receives the contrast inputs when the call has them (else the originals)
  info.span_aggregate = "absmax";
  info.description = "TorchScript step function";
  info.fn = [cu, id](const StepInputs& in, const StepFunctionArgs&) -> at::Tensor {
    const at::Tensor& cl = in.contrast_logits.defined() ? in.contrast_logits : in.logits;
    const at::Tensor& ct = in.contrast_targets.defined() ? in.contrast_targets : in.targets;
    c10::IValue out;
    try {
      out = cu->run_method("step", in.logits, in.targets, cl, ct);
    } catch (...) {
      core::Failure f = core::classify_current_exception();  // an allocation failure stays ERR_OUT_OF_MEMORY
      throw core::Error(f.out_of_memory ? core::ErrorCode::kOutOfMemory : core::ErrorCode::kInvalidOption,
                        f.out_of_memory ? f.message : "TorchScript step function \"" + id + "\" failed: " + f.message);
    }
    if (!out.isTensor()) throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript step function \"" + id + "\" must return a Tensor");
    at::Tensor t = out.toTensor();
    if (t.dim() != 1 || t.size(0) != in.logits.size(0)) {
      throw core::Error(core::ErrorCode::kInvalidOption, "TorchScript step function \"" + id + "\" must return one score per row");
    }
    return t;
  };
  return info;
}

}  // namespace inseq::attribution
