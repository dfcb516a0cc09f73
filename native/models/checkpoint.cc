#include "models/checkpoint.h"

#include <ATen/core/ivalue.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace inseq::models {

namespace {

// The block's closure travels in the autograd node's saved data as a capsule (no class registration needed).
struct BlockHolder : torch::CustomClassHolder {
  explicit BlockHolder(std::shared_ptr<const BlockFn> f) : fn(std::move(f)) {}
  std::shared_ptr<const BlockFn> fn;
};

struct RecomputedBlock : torch::autograd::Function<RecomputedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, c10::IValue holder) {
    ctx->save_for_backward({x});  // [batch, seq, hidden]: the only activation this block keeps
    ctx->saved_data["block"] = holder;
    at::Tensor y;
    {
      at::NoGradGuard no_grad;  // nothing of the block's inside is recorded
      const auto capsule = holder.toCapsule();
      y = (*static_cast<const BlockHolder*>(capsule.get())->fn)(x);
    }
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const auto capsule = ctx->saved_data["block"].toCapsule();
    const auto* holder = static_cast<const BlockHolder*>(capsule.get());
    at::Tensor xr = x.detach().requires_grad_(true);  // [batch, seq, hidden]
    at::Tensor gx;
    {
      c10::AutoGradMode grad_mode(true);
      at::Tensor y = (*holder->fn)(xr);  // the block's activations live only inside this scope
      gx = torch::autograd::grad({y}, {xr}, {grads[0]})[0];
    }
    return {gx, at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpointed_block(const at::Tensor& x, std::shared_ptr<const BlockFn> block) {
  c10::IValue holder = c10::IValue::make_capsule(c10::make_intrusive<BlockHolder>(std::move(block)));
  return RecomputedBlock::apply(x, holder);
}

}  // namespace inseq::models
