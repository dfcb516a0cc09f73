// Building blocks shared by the native families (plain ATen functions, no module classes).
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>

#include "models/attention_plan.h"
#include "models/config.h"
#include "models/deeplift_rule.h"
#include "models/lrp_rules.h"

namespace inseq::models {

// Precision for softmax, norms and logits: float64 models (tests: finite differences) stay in float64,
// everything else accumulates in float32.
inline c10::ScalarType accum_type(c10::ScalarType t) { return t == c10::ScalarType::Double ? t : c10::ScalarType::Float; }

// Additive attention bias from a padding mask: 0 where key j is visible to query i (j <= past + i, j is
// not padding, and within the sliding window if any), the dtype's lowest value elsewhere.
at::Tensor causal_attention_bias(const at::Tensor& attention_mask,  // [batch, past + seq]
                                 int64_t seq, int64_t sliding_window, c10::ScalarType dtype);  // -> [batch, 1, seq, past + seq]

// The same bias for the query rows [q0, q1) of seq only: [batch, 1, q1 - q0, past + seq].
at::Tensor causal_attention_bias_rows(const at::Tensor& attention_mask, int64_t seq, int64_t q0, int64_t q1,
                                      int64_t sliding_window, c10::ScalarType dtype);

// Position ids for left-padded batches: cumsum(mask) - 1, padding positions set to 1 (as transformers).
at::Tensor position_ids_from_mask(const at::Tensor& attention_mask, int64_t seq);  // -> [batch, seq] int64

// Ones mask [batch, past + seq] (int64) when the request gives none.
at::Tensor full_mask(int64_t batch, int64_t total, c10::Device device);

// softmax(q k^T * scale + bias) v with fp32 softmax; q [b, h, s, d], k/v [b, h, t, d] -> ([b, h, s, d], probs [b, h, s, t])
// With an active DeepLIFT rule the softmax back-propagates the rule's multipliers (deeplift_softmax).
// softcap > 0 (Gemma 2): the scores q k^T * scale become softcap * tanh(scores / softcap) before the bias (soft_cap;
// under an active LRP rule with the identity rule, lrp_soft_cap).
std::pair<at::Tensor, at::Tensor> scaled_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                   const at::Tensor& bias, double scale, double dropout, bool training,
                                                   const DeepLiftRule& deeplift = {}, double softcap = 0.0, const LrpRule& lrp = {});

// Sequences from this length on may run their attention fused (attention_plan, models/causal_lm.h):
// below it the explicit path's [s, s] scores are small, and its results stay bit-identical to earlier releases.
constexpr int64_t kFusedAttentionMinTokens = 1024;

// Whether this LibTorch has a fused scaled-dot-product attention (LibTorch >= 2.1; not Debian's 1.13).
bool fused_attention_available();



// softmax(q k^T * scale + causal mask) v through LibTorch's fused kernel (flash attention on the CPU and on CUDA):
// the [s, s] scores are never whole, in the forward nor in the backward, so a gradient row keeps O(s) activations
// per head instead of O(s^2). No padding mask, no cache (s == t), fp32 accumulation inside the kernel.
// q, k, v [b, h, s, d] -> [b, h, s, d]. Only where fused_attention_available().
at::Tensor fused_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// The causal attention weights of query rows `rows` ([P] int64 in [0, s)) alone, with no padding mask, cache or
// window (AttentionPlan::kFused): softmax(q[rows] k^T * scale, keys after the query masked) in fp32 ->
// [b, h, P, t] in q's dtype. O(P x t) memory.
at::Tensor causal_rows_probs(const at::Tensor& q, const at::Tensor& k, double scale, const at::Tensor& rows);

// scaled_attention over blocks of `block` queries (<= 0: one block), the bias of each block built from the padding
// mask [batch, past + seq]: the transient scores are [b, h, block, t], never [b, h, s, t]. Returns the context
// [b, h, s, d] and the probabilities of the query rows `rows` ([P] int64 in [0, s)): [b, h, P, t]. `softcap` as
// scaled_attention's.
std::pair<at::Tensor, at::Tensor> blocked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const at::Tensor& attention_mask, int64_t sliding_window, double scale,
                                                    double dropout, bool training, const DeepLiftRule& deeplift,
                                                    int64_t block, const at::Tensor& rows, double softcap = 0.0, const LrpRule& lrp = {});

// A post-attention RMSNorm linearised at each row of o [b, s, h]: weight / rms(o) [b, s, h] float32 (ALTI's decomposition).
at::Tensor rms_post_scale(const at::Tensor& o, const at::Tensor& weight, double eps);
// 1 / sqrt(mean(x^2) + eps) over the last dim of x (the accumulation-dtype input of an RMS norm): [.., 1]. Under an
// active LRP rule the denominator is a constant in the backward (identity rule, models/lrp_rules.h).
at::Tensor inverse_rms(const at::Tensor& xf, double eps, const LrpRule& lrp = {});
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);  // [.., hidden]

// x w^T (+ b where b is defined): x [.., in], w [out, in] -> [.., out]
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// Cancellation inside one forward / backward pass. While a CancelScope is active on this thread, every block of
// the native models passes its input through cancel_point(x): it throws core::Error kAborted once the flag is
// set, and when x takes part in a backward pass it hooks x's gradient to check the flag there too (backward
// may run on other threads, so the hook holds the flag itself). Abort latency is then one block's work,
// whatever the batch. `on_block` (optional, outliving the scope's passes) runs at the same points: progress
// heartbeats inside a batch.
class CancelScope {
 public:
  explicit CancelScope(const std::atomic<bool>* flag, const std::function<void()>* on_block = nullptr);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  const std::atomic<bool>* previous_;
  const std::function<void()>* previous_on_block_;
};
const at::Tensor& cancel_point(const at::Tensor& x);
// Softmax over the last dim; with an active DeepLIFT rule its backward carries the rule's multipliers.
at::Tensor deeplift_softmax(const at::Tensor& scores, const DeepLiftRule& deeplift);
// The named activation; with an active DeepLIFT rule the Rescale multipliers elementwise.
at::Tensor activation(const at::Tensor& x, const std::string& name, const DeepLiftRule& deeplift = {});
// Gemma 2's soft-capping cap * tanh(x / cap) (attention scores, final logits); elementwise, so with an active
// DeepLIFT rule it back-propagates the Rescale multipliers as activation() does.
at::Tensor soft_cap(const at::Tensor& x, double cap, const DeepLiftRule& deeplift = {});

// Rotary embeddings: inverse frequencies with the configured scaling.
at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t head_dim);  // [head_dim / 2] float32 CPU
// cos/sin tables for positions [batch, seq] -> each [batch, 1, seq, head_dim] in `dtype`
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& position_ids,
                                               c10::ScalarType dtype);
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);  // [b, h, s, d]

}  // namespace inseq::models
