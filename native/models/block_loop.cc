#include "models/block_loop.h"

#include <memory>

#include "models/checkpoint.h"
#include "models/layers.h"

namespace inseq::models {

at::Tensor run_blocks(at::Tensor x, int64_t num_layers, const ForwardRequest& req, bool training, ForwardResult& out, BlockStep step) {
  if (req.checkpoint_blocks) check_checkpointable(req, training);
  auto shared = std::make_shared<const BlockStep>(std::move(step));  // outlives forward() when the backward recomputes
  // What a recomputed block reads of the request: the LRP rules its backward applies (nothing else: hooks, caches and
  // attention outputs are refused with checkpointing).
  auto recompute_req = std::make_shared<ForwardRequest>();
  recompute_req->lrp = req.lrp;
  for (int64_t i = 0; i < num_layers; ++i) {
    cancel_point(x);
    if (req.output_hidden_states) out.hidden_states.push_back(x);
    if (req.checkpoint_blocks) {
      x = checkpointed_block(x, std::make_shared<const BlockFn>([shared, i, recompute_req](const at::Tensor& in) {
            return (*shared)(i, in, *recompute_req, nullptr);
          }));
    } else {
      x = (*shared)(i, x, req, &out);
    }
    if (req.layer_output_hook) x = req.layer_output_hook(i, x);
  }
  return x;
}

}  // namespace inseq::models
