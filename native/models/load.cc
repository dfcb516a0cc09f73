// Family dispatch: config.json model_type -> native implementation.
#include <ATen/ATen.h>

#include <cstdint>

#include "core/error.h"
#include "core/files.h"
#include "models/causal_lm.h"
#include "models/gemma.h"
#include "models/gpt2.h"
#include "models/gpt_neox.h"
#include "models/layers.h"
#include "models/llama.h"

namespace inseq::models {

void KVCache::select_rows(const at::Tensor& rows) {
  for (auto& k : keys) k = k.index_select(0, rows);
  for (auto& v : values) v = v.index_select(0, rows);
}

KVCache KVCache::prefix(int64_t length, int64_t rows) const {
  KVCache out;
  for (size_t l = 0; l < keys.size(); ++l) {
    out.keys.push_back(keys[l].slice(2, 0, length).expand({rows, -1, -1, -1}));      // [rows, kv, length, hd]
    out.values.push_back(values[l].slice(2, 0, length).expand({rows, -1, -1, -1}));  // [rows, kv, length, hd]
  }
  return out;
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, int64_t num_layers, const at::Tensor& k, const at::Tensor& v) {
  if (keys.empty()) {
    keys.resize(num_layers);
    values.resize(num_layers);
  }
  keys[layer] = keys[layer].defined() ? at::cat({keys[layer], k}, 2) : k;
  values[layer] = values[layer].defined() ? at::cat({values[layer], v}, 2) : v;
  return {keys[layer], values[layer]};
}

at::Tensor request_mask(const ForwardRequest& req, int64_t batch, int64_t seq, c10::Device device) {
  const int64_t total = (req.cache ? req.cache->length() : 0) + seq;
  if (!req.attention_mask.defined()) return full_mask(batch, total, device);
  if (req.attention_mask.size(0) != batch || req.attention_mask.size(1) != total) {
    throw core::Error(core::ErrorCode::kInvalidOption, "attention_mask has " + std::to_string(req.attention_mask.size(1)) +
                                                           " columns but past + seq = " + std::to_string(total));
  }
  return req.attention_mask;
}

at::Tensor rotary_positions(const CausalLM& model, const ForwardRequest& req, const at::Tensor& mask, int64_t seq) {
  at::Tensor pos = req.position_ids.defined() ? req.position_ids : position_ids_from_mask(mask, seq);  // [batch, seq]
  if (mask.size(1) > model.config().max_position_embeddings && seq > 0) check_context(model, pos.max().item<int64_t>() + 1, "This sequence");
  return pos;
}

AttentionPlan attention_plan(const ForwardRequest& req, int64_t seq, int64_t sliding_window, bool dropout_active) {
  // Every query row's weights are wanted by output_attentions without attention_rows, and by the attention parts hook.
  const bool weights_as_rows = (!req.output_attentions && !req.attention_parts_hook) || req.attention_rows.defined();
  if (fused_attention_available() && seq >= kFusedAttentionMinTokens && !req.attention_mask.defined() && !req.cache &&
      weights_as_rows && !req.deeplift.active() && !dropout_active && (sliding_window <= 0 || sliding_window >= seq)) {
    return AttentionPlan::kFused;
  }
  return req.attention_rows.defined() ? AttentionPlan::kQueryBlocks : AttentionPlan::kExplicit;
}

std::pair<at::Tensor, at::Tensor> planned_attention(AttentionPlan plan, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const at::Tensor& mask, const at::Tensor& bias, int64_t sliding_window,
                                                    double scale, double dropout, bool training, const ForwardRequest& req) {
  switch (plan) {
    case AttentionPlan::kFused:
      return {fused_causal_attention(q, k, v, scale),
              req.attention_rows.defined() ? causal_rows_probs(q, k, scale, req.attention_rows) : at::Tensor()};
    case AttentionPlan::kQueryBlocks:
      return blocked_attention(q, k, v, mask, sliding_window, scale, dropout, training, req.deeplift, req.attention_query_block,
                               req.attention_rows);
    case AttentionPlan::kExplicit:
      break;
  }
  return scaled_attention(q, k, v, bias, scale, dropout, training, req.deeplift);
}

LogitLens CausalLM::logit_lens() const {
  throw core::Error(core::ErrorCode::kUnsupportedModel, "This model does not expose its final norm and unembedding (the logit lens of alti_logit)");
}

void check_context(const CausalLM& model, int64_t length, const std::string& what) {
  const int64_t limit = model.config().max_position_embeddings;
  if (limit > 0 && length > limit) {
    const char* key = model.config().family == "gpt2" ? "n_positions" : "max_position_embeddings";
    throw core::Error(core::ErrorCode::kInvalidOption, what + " needs " + std::to_string(length) + " positions but the model's context is " +
                                                           std::to_string(limit) + " (" + key + ")");
  }
}

void check_checkpointable(const ForwardRequest& req, bool training) {
  const char* bad = req.cache ? "a KV cache" : req.value_hook ? "a value hook" : req.output_attentions ? "attention weights"
                    : req.deeplift.active() ? "the DeepLIFT rule" : training ? "dropout" : nullptr;
  if (bad) throw core::Error(core::ErrorCode::kInternal, std::string("checkpoint_blocks cannot recompute blocks with ") + bad);
}

at::Tensor select_logit_positions(const ForwardRequest& req, const at::Tensor& x) {
  if (req.logits_positions.defined()) {
    at::Tensor idx = req.logits_positions.to(x.device(), at::kLong).unsqueeze(-1).expand({-1, -1, x.size(2)});  // [b, P, h]
    return x.gather(1, idx);
  }
  if (req.logits_to_keep > 0) return x.slice(1, std::max<int64_t>(0, x.size(1) - req.logits_to_keep));
  return x;
}

at::Tensor load_lm_head(const WeightStore& w, const ModelConfig& config, const at::Tensor& embeddings, const std::string& name,
                        c10::Device device, c10::ScalarType dtype) {
  if (config.tie_word_embeddings) return embeddings;
  if (!w.contains(name)) {
    throw core::Error(core::ErrorCode::kBadCheckpoint, "config.json says tie_word_embeddings is false but the checkpoint has no " + name);
  }
  return w.load(name, {config.vocab_size, config.hidden_size}, dtype, device);
}

int64_t CausalLM::num_parameters() const {
  int64_t n = 0;
  for (const auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

std::shared_ptr<CausalLM> load_causal_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype,
                                         const LoadProgress& progress) {
  if (!core::is_directory(dir)) throw core::Error(core::ErrorCode::kNotFound, "Model directory not found: " + dir);
  ModelConfig config = read_model_config(dir);
  WeightStore weights = WeightStore::open_dir(dir);
  weights.set_progress(progress);
  std::shared_ptr<CausalLM> model;
  if (config.family == "gpt2") {
    model = std::make_shared<Gpt2Model>(config, weights, device, dtype);
  } else if (config.family == "gpt_neox") {
    model = std::make_shared<GptNeoxModel>(config, weights, device, dtype);
  } else if (config.family == "gemma") {
    model = std::make_shared<GemmaModel>(config, weights, device, dtype);
  } else {
    model = std::make_shared<LlamaModel>(config, weights, device, dtype);
  }
  // Buffers older checkpoints carry (rotary inverse frequencies, GPT-2's and GPT-NeoX's causal masks) and an
  // lm_head (GPT-NeoX: embed_out) that tie_word_embeddings replaces are skipped as transformers skips them.
  const bool gpt2 = config.family == "gpt2", neox = config.family == "gpt_neox";
  auto ignorable = [neox](const std::string& n) {
    auto ends = [&](const std::string& suffix) { return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0; };
    if (neox && (n == "embed_out.weight" || ends(".attention.bias") || ends(".attention.masked_bias"))) return true;
    return n == "lm_head.weight" || ends("rotary_emb.inv_freq") || ends(".attn.bias") || ends(".attn.masked_bias");
  };
  weights.reject_unused(core::join_path(dir, "config.json"), ignorable,
                        {{gpt2 ? "transformer.h." : neox ? "gpt_neox.layers." : "model.layers.", gpt2 ? "n_layer" : "num_hidden_layers", config.num_layers},
                         {"h.", "n_layer", gpt2 ? config.num_layers : INT64_MAX}});
  weights.finish_progress();
  return model;
}

std::shared_ptr<CausalLM> init_causal_lm(const ModelConfig& config, uint64_t seed, c10::Device device) {
  if (config.family != "llama") {
    throw core::Error(core::ErrorCode::kUnsupportedModel, "Random initialisation is implemented for the llama family only");
  }
  return std::make_shared<LlamaModel>(config, seed, device);
}

}  // namespace inseq::models
