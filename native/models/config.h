// config.json of a Hugging Face checkpoint, normalised into one struct for every native family.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inseq::core { class Json; }

namespace inseq::models {

struct RopeConfig {
  std::string type = "default";  // "default" | "linear" | "llama3" | "longrope"
  double theta = 10000.0;
  double factor = 1.0;
  // llama3 only
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;  // llama3; longrope: the short/long switch (models/rope.h)
  // longrope only (phi3): per-frequency divisors [rotary_dim / 2] for forwards whose largest position id + 1 is
  // at most original_max_position_embeddings (short) or beyond it (long), and the factor cos/sin are scaled by.
  std::vector<double> short_factor, long_factor;
  double attention_factor = 1.0;
  // phi3, gpt_neox: RoPE turns the first int(head_dim * partial_rotary_factor) channels of each head only (rope_dim).
  double partial_rotary_factor = 1.0;
};

struct ModelConfig {
  std::string model_type;  // as in config.json: "llama", "mistral", "qwen2", "gpt2", ...
  std::string family;      // the native implementation: "llama" | "gpt2" | "gpt_neox" | "gemma"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-5;
  std::string hidden_act = "silu";  // llama: "silu"; gpt2: "gelu_new" | "gelu" | "relu"; gpt_neox: "gelu", ...
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // llama attention_bias / Qwen2's always-on q/k/v bias; gpt_neox attention_bias (query_key_value)
  bool o_bias = false;         // llama attention_bias (o_proj too); gpt_neox attention_bias (attention.dense)
  bool mlp_bias = false;
  int64_t sliding_window = 0;  // 0 = none (Mistral sets it)
  RopeConfig rope;
  // --- Llama variants (qwen3, olmo2, phi3): switches of the llama family (models/llama.h) ---
  bool qk_norm_per_head = false;   // qwen3: RMSNorm q_norm/k_norm [head_dim] on every head, before RoPE
  bool qk_norm_full = false;       // olmo2: RMSNorm q_norm [heads*hd] / k_norm [kv*hd] over the projections, before the head split
  bool post_norm_blocks = false;   // olmo2: x + post_attention_layernorm(attn(x)), x + post_feedforward_layernorm(mlp(x)),
                                   // no input norm; norms multiply their weight in float32 and RoPE runs in float32
  bool fused_projections = false;  // phi3: one qkv_proj [(heads + 2 kv) * hd, hidden] and gate_up_proj [2 inter, hidden]
  // qwen3: each layer's sliding window (0 = full attention), from layer_types; empty = sliding_window in every layer.
  std::vector<int64_t> layer_sliding_windows;
  // phi3: generate() drops its KV cache when the sequence first reaches this length + 1 with a cache of at most
  // this length, and runs the whole sequence again (Phi3ForCausalLM.prepare_inputs_for_generation: LongRoPE's
  // long factors then apply to every key). The top-level original_max_position_embeddings (default 4096); 0 = never.
  int64_t regenerate_cache_after = 0;
  // --- end of Llama variants ---
  // gpt2
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  // gpt_neox (GPT-NeoX, Pythia; attention_bias sets qkv_bias and o_bias above, rotary_emb_base goes to rope.theta).
  // head_dim is always hidden_size / num_attention_heads there, as transformers computes it.
  bool parallel_residual = true;       // use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)); false: sequential
  // gpt_neox rotates rope_dim() channels of each head: rope.partial_rotary_factor (rotary_pct in older configs)
  // special tokens (-1 = absent)
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = -1;
  double attention_dropout = 0.0;
  double hidden_dropout = 0.0;
  // gemma, gemma2, gemma3_text (family "gemma", models/gemma.h). Token embeddings are scaled by sqrt(hidden_size),
  // norms are (1 + weight) RMSNorms in float32, the MLP is GeGLU (hidden_act), attention scales by
  // query_pre_attn_scalar^-0.5 (gemma: head_dim^-0.5). sliding_window (above) applies to the layers marked here.
  int64_t gemma_generation = 0;             // 1 gemma, 2 gemma2, 3 gemma3_text (0: not a Gemma)
  double query_pre_attn_scalar = 0;         // gemma2/3; 0 = head_dim
  double attn_logit_softcapping = 0;        // gemma2: cap * tanh(scores / cap) before the mask; 0 = none
  double final_logit_softcapping = 0;       // gemma2/3: cap * tanh(logits / cap); 0 = none
  std::vector<bool> sliding_layers;         // gemma2/3: per layer, true = "sliding_attention" (layer_types)
  RopeConfig local_rope;                    // gemma3: RoPE of the sliding layers (`rope` is the full layers')
};

// Parses and validates; `source` names the file in error messages.
ModelConfig parse_model_config(const core::Json& json, const std::string& source);
// The config.json of a checkpoint directory, parsed: read errors as core::read_text_file raises them, invalid JSON
// -> kBadCheckpoint "Malformed <dir>/config.json: ...". Every native loader reads its config through it.
core::Json read_config_json(const std::string& dir);
ModelConfig read_model_config(const std::string& dir);
// config.json's model_type: a non-empty string, else kBadCheckpoint.
std::string config_model_type(const core::Json& json, const std::string& source);
// Values that cannot be right (sizes <= 0, a head count that does not split the width, rope_theta <= 0,
// negative or non-finite norm epsilons, special ids outside the vocabulary, max_position_embeddings <= 1)
// -> kBadCheckpoint naming the field as written in config.json.
void check_model_config(const core::Json& json, const ModelConfig& config, const std::string& source);
// The rotary dimension transformers derives: int(head_dim * partial_rotary_factor) (its inverse frequencies
// number ceil(that / 2), and RoPE turns twice as many channels).
int64_t rope_dim(const ModelConfig& config);

// Model types implemented natively (config.json `model_type` values), by kind: the one C++ table
// (lib/models/model-types.ts holds the same; test/boundary/model-types.test.ts checks they agree).
struct NativeModelType {
  const char* id;
  const char* kind;  // "decoder-only" | "encoder-decoder"
};
const std::vector<NativeModelType>& native_model_types();
// The ids of one kind, in table order.
std::vector<std::string> supported_model_types(const std::string& kind = "decoder-only");

}  // namespace inseq::models
