// The interface every decoder-only model implements: embed ids, then run the network from embeddings.
// Attribution methods differentiate with respect to the embeddings, so forward() starts there.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/attention_plan.h"
#include "models/config.h"
#include "models/deeplift_rule.h"
#include "models/lrp_rules.h"
#include "models/safetensors.h"

namespace inseq::models {

class EncoderDecoderLM;

// Keys and values of every layer, grown by each forward that is given the cache.
struct KVCache {
  std::vector<at::Tensor> keys;    // per layer [batch, kv_heads, past, head_dim]
  std::vector<at::Tensor> values;  // per layer [batch, kv_heads, past, head_dim]
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
  // Appends this forward's keys/values [batch, kv_heads, seq, head_dim] of `layer` and returns the full
  // ones [batch, kv_heads, past + seq, head_dim].
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, int64_t num_layers, const at::Tensor& k, const at::Tensor& v);
  // Keeps only the given batch rows (finished sequences can be dropped).
  void select_rows(const at::Tensor& rows);
  // The first `length` positions of a one-row cache, repeated for `rows` rows (views, no copy): the clean
  // prefix that perturbed rows starting at `length` continue from (occlusion, value zeroing).
  KVCache prefix(int64_t length, int64_t rows) const;
};

// One block's self-attention as ALTI decomposes it (ForwardRequest::attention_parts_hook): the attention output of
// query i is sum_j sum_heads probs[h, i, j] * (values[h, j] @ out_weight[h]) (plus the output bias), times
// post_scale[i] where a norm follows the attention (linearised at the query), and is added to `residual`.
struct AttentionParts {
  at::Tensor residual;    // [batch, seq, hidden] what the attention output is added to (the block's input)
  at::Tensor probs;       // [batch, heads, seq, seq] attention weights (soft-capped scores already in them)
  at::Tensor values;      // [batch, heads, seq, head_dim] values after their projection and bias, kv heads repeated
  at::Tensor out_weight;  // [heads, head_dim, hidden] each head's slice of the output projection
  at::Tensor post_scale;  // [batch, seq, hidden] or undefined: the norm after the attention (Gemma 2/3, OLMo 2) at each
                          // query, linearised: weight / rms(o_i)
  at::Tensor output;      // [batch, seq, hidden] the attention output as added to the residual (bias, post norm included)
  // Post-LN blocks (BART, Marian): a LayerNorm after the residual sum, linearised at each query: every term
  // (residual included) is centred and scaled by sum_scale = gamma / sigma(x_i + o_i); block_output is the norm's
  // output. Both undefined elsewhere (the block's output is residual + output).
  at::Tensor sum_scale;     // [batch, seq, hidden] or undefined
  at::Tensor block_output;  // [batch, seq, hidden] or undefined
};

// The final norm and unembedding, for the logit lens (alti_logit): logits = norm(x) @ unembedding^T, the norm
// linearised per token (its scale 1 / sigma(x) or 1 / rms(x) taken from the final residual stream).
struct LogitLens {
  bool rms = false;        // RMSNorm (Llama, Gemma, OLMo 2) or LayerNorm (GPT-2, GPT-NeoX)
  at::Tensor weight;       // [hidden] the norm's effective scale (Gemma: 1 + w)
  double eps = 0;
  at::Tensor unembedding;  // [vocab, hidden]
  double scale = 1.0;      // a factor before the head (T5's d_model^-0.5 with a tied head)
};

struct ForwardRequest {
  at::Tensor inputs_embeds;   // [batch, seq, hidden]
  at::Tensor attention_mask;  // [batch, past + seq] 1 = token, 0 = padding; undefined = all ones
  at::Tensor position_ids;    // [batch, seq] int64; undefined = derived from attention_mask
  KVCache* cache = nullptr;   // when set, past keys/values are read from it and the new ones appended
  bool output_attentions = false;
  bool output_hidden_states = false;
  at::Tensor source_lengths;  // [batch] int64 CPU: encoder-decoder adapters only (the first source_lengths[b] positions are the source)
  int64_t logits_to_keep = 0;  // 0 = logits at every position, k = only the last k positions
  at::Tensor logits_positions; // [batch, P] int64: logits only at these positions (overrides logits_to_keep)
  // Called with the output of every block [batch, seq, hidden]; its return value replaces that output
  // (layer attribution methods read or substitute a layer's activations here).
  std::function<at::Tensor(int64_t layer, const at::Tensor& hidden)> layer_output_hook;
  // Called with every block's self-attention values [batch, kv_heads, seq, head_dim] right after their
  // projection; its return value replaces them (value zeroing).
  std::function<at::Tensor(int64_t layer, const at::Tensor& values)> value_hook;
  // Called with every block's self-attention parts (ALTI, rollout; models that declare
  // ModelCapabilities::attention_parts): the forward then computes every query row's weights (no fused attention,
  // no attention_rows) without keeping them unless output_attentions asks.
  std::function<void(int64_t layer, const AttentionParts& parts)> attention_parts_hook;
  // DeepLIFT's rule (inactive by default): rows [0, half) are inputs, [half, 2 half) their references.
  DeepLiftRule deeplift;
  // LRP's rules (AttnLRP / CP-LRP, models/lrp_rules.h; inactive by default): the blocks change the backward of their
  // norms, activations, attention products and gated products so that gradient x input is the relevance.
  LrpRule lrp;
  // With output_attentions: keep the attention weights of these query rows only ([P] int64, positions within this
  // forward's seq), and compute attention over blocks of attention_query_block queries (<= 0: one block), so no
  // [seq, past + seq] score matrix is ever whole. Undefined = every row in one block (the plain path). Native
  // families honour it; models that do not return every row ([batch, heads, seq, past + seq]).
  at::Tensor attention_rows;
  int64_t attention_query_block = 0;
  // Gradient checkpointing (ModelCapabilities::block_recompute): each block keeps only its input for the
  // backward pass and runs again there (models/checkpoint.h). Not with a cache, value hooks, attentions,
  // DeepLIFT or dropout.
  bool checkpoint_blocks = false;
  // LongRoPE only (models/rope.h): [batch] int64, the forward length each row's factor set is chosen for (long
  // beyond original_max_position_embeddings), so that a row gets the set of the forward Python Inseq runs it in.
  // Undefined = the batch's largest position id + 1 for every row, as transformers decides it.
  at::Tensor rope_lengths;
};

struct ForwardResult {
  at::Tensor logits;                       // [batch, seq | logits_to_keep | P, vocab] float32
  std::vector<at::Tensor> attentions;      // per layer [batch, heads, seq | P (attention_rows), past + seq]
  std::vector<at::Tensor> encoder_attentions;  // encoder-decoder adapters with output_attentions: per encoder
                                               // layer [batch, heads, src, src] (rows padded to the longest source)
  std::vector<at::Tensor> hidden_states;   // num_layers + 1 entries [batch, seq, hidden]: the embeddings
                                           // (with positions for gpt2), each layer's output, and the
                                           // last entry after the final norm (as transformers returns them)
};

// What a model can do beyond logits from embeddings; the attribution engine checks a method's needs here.
struct ModelCapabilities {
  bool block_hooks = true;        // ForwardRequest::layer_output_hook at every block (layer methods at a block)
  bool deeplift_rule = true;      // ForwardRequest::deeplift honoured by the blocks' nonlinearities
  bool lrp_rules = false;         // ForwardRequest::lrp honoured by every block (native families that implement it)
  bool attention_weights = true;  // ForwardRequest::output_attentions
  bool value_hooks = true;        // ForwardRequest::value_hook (value zeroing)
  bool dropout = true;            // set_training(true) applies dropout (mc_dropout_prob_avg)
  bool prefix_cache = true;       // ForwardRequest::cache skips the cached prefix (occlusion reuses it); TorchScript
                                  // bundles re-run it and encoder-decoder adapters refuse a cache
  bool block_recompute = false;   // ForwardRequest::checkpoint_blocks (native GPT-2, GPT-NeoX and Llama blocks)
  bool attention_parts = false;   // ForwardRequest::attention_parts_hook and logit_lens() (native decoder-only families: alti_logit)
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  const ModelConfig& config() const { return config_; }
  c10::Device device() const { return device_; }
  c10::ScalarType dtype() const { return dtype_; }

  // Token embeddings only (no position embeddings): what attribution perturbs, as transformers'
  // get_input_embeddings()(ids) returns them, i.e. scaled where that module scales them (Gemma: x sqrt(hidden)).
  // forward() takes them as they are (transformers' forward(inputs_embeds=...) does not scale them again).
  virtual at::Tensor embed(const at::Tensor& ids) const = 0;  // [batch, seq] int64 -> [batch, seq, hidden]
  // Rows that start with a source segment (encoder-decoder adapters: source_lengths [batch] int64 CPU);
  // decoder-only models have none and embed every position alike.
  virtual at::Tensor embed_split(const at::Tensor& ids, const at::Tensor& source_lengths) const { return embed(ids); }
  virtual ForwardResult forward(const ForwardRequest& request) const = 0;
  // Embeddings forward() adds to the token embeddings at position ids [batch, seq] int64 (GPT-2's learned
  // positions) -> [batch, seq, hidden]; undefined for models that add none. LRP gives them relevance of their own.
  virtual at::Tensor position_embeddings(const at::Tensor& /*position_ids*/) const { return at::Tensor(); }
  // Whether forward() honours position_ids (derived from the mask for left-padded batches). TorchScript
  // bundles cannot: batched generation then runs row by row.
  virtual bool takes_position_ids() const { return true; }
  virtual ModelCapabilities capabilities() const { return {}; }
  // The final norm and unembedding (models with ModelCapabilities::attention_parts; others throw kUnsupportedModel).
  virtual LogitLens logit_lens() const;
  // Encoder-decoders seen as one causal LM over source ++ target (ConcatenatedSeq2Seq): the model underneath;
  // decoder-only models: nullptr.
  virtual const EncoderDecoderLM* encoder_decoder() const { return nullptr; }

  // Named parameters (HF names) for training and inspection.
  virtual std::map<std::string, at::Tensor> named_parameters() const = 0;
  int64_t num_parameters() const;
  // Training: dropout is applied only while this is true (the model is in eval mode by default).
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

 protected:
  ModelConfig config_;
  c10::Device device_ = c10::Device(c10::kCPU);
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  bool training_ = false;
};

// The final hidden states the LM head is applied to: all, the last k, or the requested positions.
at::Tensor select_logit_positions(const ForwardRequest& request, const at::Tensor& hidden);  // [b, s, h] -> [b, s', h]

// Refuses `length` positions beyond the model's context (config max_position_embeddings; 0 = unknown):
// kInvalidOption "<what> needs <length> positions but ...". Positions past the context give garbage in
// RoPE models and index errors in learned-position ones.
void check_context(const CausalLM& model, int64_t length, const std::string& what);

// Refuses checkpoint_blocks together with what a recomputed block cannot reproduce (kInternal: a caller bug).
void check_checkpointable(const ForwardRequest& request, bool training);

// The padding mask of a request, checked against past + seq: [batch, past + seq] (ones when not given).
at::Tensor request_mask(const ForwardRequest& request, int64_t batch, int64_t seq, c10::Device device);
// The position ids of a rotary model's forward over `mask` [batch, past + seq]: the request's, else derived from the
// mask (left padding); refused past the model's context (check_context), where left padding may keep the real
// positions inside it. -> [batch, seq] int64
at::Tensor rotary_positions(const CausalLM& model, const ForwardRequest& request, const at::Tensor& mask, int64_t seq);

// How a forward of `seq` tokens computes its self-attention (models/layers.h AttentionPlan). kFused where this
// LibTorch has the kernel, the sequence is long enough for the [seq, seq] scores to matter
// (kFusedAttentionMinTokens) and the attention is plain causal: no padding mask, no KV cache, no sliding window
// shorter than the sequence, no DeepLIFT rule, no dropout, and attention weights asked for only as
// attention_rows (those rows are then computed on their own). Else kQueryBlocks when attention_rows asks for
// rows, else kExplicit.
AttentionPlan attention_plan(const ForwardRequest& request, int64_t seq, int64_t sliding_window, bool dropout_active);

// One block's self-attention under its forward's `plan`: q [b, h, s, d], k/v [b, h, past+s, d] (kv heads already
// repeated), the padding mask [b, past+s], the additive bias [b, 1, s, past+s] (kExplicit only), and the request's
// attention rows, query block and DeepLIFT rule. Returns the context [b, h, s, d] and the attention weights
// [b, h, s | P (attention_rows), past+s] (undefined under kFused when no rows are asked for).
std::pair<at::Tensor, at::Tensor> planned_attention(AttentionPlan plan, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const at::Tensor& mask, const at::Tensor& bias, int64_t sliding_window,
                                                    double scale, double dropout, bool training, const ForwardRequest& request);

// The LM head [vocab, hidden]: `embeddings` when config.json ties them, else the checkpoint's `name` (kBadCheckpoint
// when tie_word_embeddings is false and the checkpoint has none).
at::Tensor load_lm_head(const WeightStore& weights, const ModelConfig& config, const at::Tensor& embeddings, const std::string& name,
                        c10::Device device, c10::ScalarType dtype);

// Loads a Hugging Face checkpoint directory with a native implementation (weights memory-mapped, shard by
// shard: models/safetensors.h), reporting `progress` per tensor when given.
std::shared_ptr<CausalLM> load_causal_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype,
                                         const LoadProgress& progress = {});
// Builds a randomly initialised model from a config (used by the trainer and tests).
std::shared_ptr<CausalLM> init_causal_lm(const ModelConfig& config, uint64_t seed, c10::Device device);

}  // namespace inseq::models
