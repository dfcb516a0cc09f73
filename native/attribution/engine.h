// The attribution engine for decoder-only models (and encoder-decoders seen as one). The schedule is teacher
// forcing: one causal forward over prompt + target yields every step's logits, so
//  - gradient methods build one row per (example, generated step, integration step), truncated to that
//    step's prefix, and pack rows into batches under a memory budget: one forward + one backward per batch;
//  - perturbation methods score every generated step with each perturbed forward;
//  - internals (attention) come from one forward per example, keeping only the rows needed.
// No per-step round trip to JS, no fallback to batch size 1. Files: engine.cc (the scheduler),
// examples.cc, step_values.cc, reduction.cc, and one file per method family (gradient_methods.cc,
// perturbation_methods.cc, internals_methods.cc); the methods are declared in method_table.h.
#pragma once

#include "attribution/method_table.h"
#include "attribution/request.h"
#include "models/causal_lm.h"

namespace inseq::attribution {

AttributionResult attribute(models::CausalLM& model, const AttributionRequest& request);

}  // namespace inseq::attribution
