// How a forward computes its self-attention, chosen once per forward (attention_plan, models/causal_lm.h).
#pragma once

namespace inseq::models {

//   kExplicit     softmax(q k^T * scale + bias) v (scaled_attention), every weight available;
//   kQueryBlocks  the same over blocks of queries, keeping only the requested rows' weights (blocked_attention);
//   kFused        fused_causal_attention, plus causal_rows_probs for the requested rows' weights (models/layers.h).
enum class AttentionPlan { kExplicit, kQueryBlocks, kFused };

}  // namespace inseq::models
