// config.json of a Hugging Face checkpoint, normalised into one struct for every native family.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inseq::core { class Json; }

namespace inseq::models {

struct RopeConfig {
  std::string type = "default";  // "default" | "linear" | "llama3"
  double theta = 10000.0;
  double factor = 1.0;
  // llama3 only
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type;  // as in config.json: "llama", "mistral", "qwen2", "gpt2", ...
  std::string family;      // the native implementation: "llama" | "gpt2" | "gpt_neox"
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
  // gpt2
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  // gpt_neox (GPT-NeoX, Pythia; attention_bias sets qkv_bias and o_bias above, rotary_emb_base goes to rope.theta).
  // head_dim is always hidden_size / num_attention_heads there, as transformers computes it.
  bool parallel_residual = true;       // use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)); false: sequential
  double partial_rotary_factor = 1.0;  // rope_parameters.partial_rotary_factor (older configs: rotary_pct): rotary
                                       // over the first int(head_dim * factor) dims of each head
  int64_t rotary_dims() const { return static_cast<int64_t>(static_cast<double>(head_dim) * partial_rotary_factor); }
  // special tokens (-1 = absent)
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = -1;
  double attention_dropout = 0.0;
  double hidden_dropout = 0.0;
};

// Parses and validates; `source` names the file in error messages.
ModelConfig parse_model_config(const core::Json& json, const std::string& source);
ModelConfig read_model_config(const std::string& dir);
// config.json's model_type: a non-empty string, else kBadCheckpoint.
std::string config_model_type(const core::Json& json, const std::string& source);
// Values that cannot be right (sizes <= 0, a head count that does not split the width, rope_theta <= 0,
// negative or non-finite norm epsilons, special ids outside the vocabulary, max_position_embeddings <= 1)
// -> kBadCheckpoint naming the field as written in config.json.
void check_model_config(const core::Json& json, const ModelConfig& config, const std::string& source);

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
