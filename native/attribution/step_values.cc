// Step values: the logits predicting each attributed target, the attributed function on rows of logits, and
// the step scores of an example (with the step logits custom scores need).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "attribution/engine_context.h"
#include "core/error.h"

namespace inseq::attribution::detail {

using core::Error;
using core::ErrorCode;

const StepFunctionInfo& EngineContext::step_fn(const std::string& id) const {
  auto it = custom.find(id);
  return it != custom.end() ? it->second : get_step_function(id);
}

at::Tensor EngineContext::step_logits(const at::Tensor& ids, const at::Tensor& positions, int64_t src, int64_t hook_layer,
                                      const at::Tensor& replacement) {
  models::ForwardRequest fr;
  fr.source_lengths = lengths(src, 1);
  fr.inputs_embeds = embed(ids.unsqueeze(0), fr.source_lengths);  // [1, n, H]
  fr.logits_positions = positions.unsqueeze(0);                   // [1, steps]
  if (hook_layer >= 0) {
    fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) { return hooks_layer(hook_layer, l) ? replacement.unsqueeze(0) : h; };
  }
  at::Tensor logits = model.forward(fr).logits.squeeze(0);  // [steps, V]
  // LongRoPE (models/rope.h): Python Inseq scores each step in a forward over its prefix, so the steps whose
  // prefix is within original_max_position_embeddings take the short factors; one forward over that many
  // tokens gives their logits (causal attention: the rest of the sequence does not change them).
  const models::RopeConfig& rope = model.config().rope;
  const int64_t limit = rope.original_max_position_embeddings;
  if (rope.type == "longrope" && src == 0 && ids.size(0) > limit) {
    at::Tensor early = positions.lt(limit).nonzero().squeeze(1);  // [k] steps predicted at position p < limit: prefix p + 1 <= limit
    if (early.numel() > 0) {
      models::ForwardRequest short_fr;
      short_fr.inputs_embeds = fr.inputs_embeds.slice(1, 0, limit);             // [1, limit, H]
      short_fr.logits_positions = positions.index_select(0, early).unsqueeze(0);  // [1, k]
      if (hook_layer >= 0) {
        short_fr.layer_output_hook = [&](int64_t l, const at::Tensor& h) {
          return hooks_layer(hook_layer, l) ? replacement.slice(0, 0, limit).unsqueeze(0) : h;
        };
      }
      logits = logits.index_copy(0, early, model.forward(short_fr).logits.squeeze(0).to(logits.scalar_type()));
    }
  }
  return logits;
}

at::Tensor EngineContext::attributed_values(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& contrast_logits,
                                            const at::Tensor& contrast_targets) const {
  const StepFunctionInfo& fn = step_fn(req.attributed_fn);
  StepInputs in;
  in.logits = logits.to(at::kFloat);  // half-precision models: the attributed function in float32 (differentiable cast)
  in.targets = targets;
  if (fn.contrastive && contrast_targets.defined()) {
    in.contrast_targets = contrast_targets;
    // Inseq: unless contrast inputs are forced, the original forward is reused and only the target changes.
    in.contrast_logits = contrast_logits.defined() ? contrast_logits.to(at::kFloat) : in.logits;
  }
  if (fn.needs_dropout) throw Error(ErrorCode::kInvalidOption, "mc_dropout_prob_avg cannot be the attributed function");
  return fn.fn(in, req.attributed_fn_args);
}

std::map<std::string, at::Tensor> EngineContext::compute_step_scores(Example& e, at::Tensor* step_logits_out) {
  std::map<std::string, at::Tensor> out;
  if (req.step_scores.empty() && !step_logits_out) return out;
  c10::InferenceMode guard;
  at::Tensor logits = step_logits(e.ids, e.positions, e.src).to(at::kFloat);  // [steps, V], float32 for half models
  if (step_logits_out) *step_logits_out = logits.to(at::kCPU).contiguous();
  at::Tensor contrast_logits;
  for (const auto& id : req.step_scores) {
    const StepFunctionInfo& fn = step_fn(id);
    StepInputs in;
    in.logits = logits;
    in.targets = e.targets;
    if (fn.contrastive && e.contrast_ids.defined()) {
      if (!contrast_logits.defined()) contrast_logits = contrast_step_logits(e).to(at::kFloat);  // step scores always forward the contrast
      in.contrast_logits = contrast_logits;
      in.contrast_targets = e.contrast_targets;
    }
    if (fn.needs_dropout) {
      if (!caps.dropout) {
        throw Error(ErrorCode::kUnsupportedModel, id + " needs dropout in the forward pass, which this model does not apply (BART-family encoder-decoders, TorchScript bundles)");
      }
      std::vector<at::Tensor> runs;
      model.set_training(true);
      try {
        for (int64_t k = 0; k < req.step_scores_args.n_mcd_steps; ++k) runs.push_back(step_logits(e.ids, e.positions, e.src));
      } catch (...) {
        model.set_training(false);
        throw;
      }
      model.set_training(false);  // unlike Inseq, the model is left in eval mode
      in.dropout_logits = at::stack(runs);  // [n, steps, V]
    }
    out[id] = fn.fn(in, req.step_scores_args).to(at::kCPU, at::kFloat);
  }
  return out;
}

}  // namespace inseq::attribution::detail
