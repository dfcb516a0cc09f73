#include "models/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;
using core::Json;

const std::vector<NativeModelType>& native_model_types() {
  static const std::vector<NativeModelType> kTypes = {
      {"gpt2", "decoder-only"}, {"gpt_neox", "decoder-only"}, {"llama", "decoder-only"}, {"mistral", "decoder-only"},
      {"qwen2", "decoder-only"}, {"qwen3", "decoder-only"}, {"olmo2", "decoder-only"}, {"phi3", "decoder-only"},
      {"gemma", "decoder-only"}, {"gemma2", "decoder-only"}, {"gemma3_text", "decoder-only"},
      {"bart", "encoder-decoder"}, {"m2m_100", "encoder-decoder"}, {"marian", "encoder-decoder"}, {"mbart", "encoder-decoder"},
      {"t5", "encoder-decoder"},
  };
  return kTypes;
}

std::vector<std::string> supported_model_types(const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& t : native_model_types())
    if (kind == t.kind) out.push_back(t.id);
  return out;
}

namespace {

int64_t require_int(const Json& j, const std::vector<std::string>& keys, const std::string& source) {
  for (const auto& k : keys) {
    if (j.has(k)) return j.get_int(k, 0);
  }
  throw Error(ErrorCode::kBadCheckpoint, source + " has no " + keys.front());
}

std::vector<int64_t> id_list(const Json& j, const std::string& key) {
  std::vector<int64_t> out;
  const Json& v = j[key];
  try {
    if (v.is_number()) out.push_back(v.as_int());
    if (v.is_array()) {
      for (const auto& x : v.as_array()) out.push_back(x.as_int());
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(key + ": " + e.what());
  }
  if (!v.is_null() && !v.is_number() && !v.is_array()) throw std::runtime_error(key + ": expected an id or a list of ids");
  return out;
}

// One RoPE settings object (`rope_parameters` / `rope_scaling`, or one layer type's entry of Gemma 3's) into `rope`.
void parse_rope_object(const Json& scaling, RopeConfig& rope, const std::string& source) {
  rope.theta = scaling.get_double("rope_theta", rope.theta);
  std::string type = scaling.get_string("rope_type", scaling.get_string("type", "default"));
  rope.type = type;
  rope.factor = scaling.get_double("factor", 1.0);
  if (type == "default") {
    rope.factor = 1.0;
  } else if (type == "linear") {
    if (rope.factor <= 0) throw Error(ErrorCode::kBadCheckpoint, source + ": rope scaling factor must be positive");
  } else if (type == "llama3") {
    rope.low_freq_factor = scaling.get_double("low_freq_factor", 1.0);
    rope.high_freq_factor = scaling.get_double("high_freq_factor", 4.0);
    rope.original_max_position_embeddings = scaling.get_int("original_max_position_embeddings", 8192);
  } else {
    throw Error(ErrorCode::kUnsupportedModel, source + ": rope scaling type \"" + type +
                                                  "\" is not supported natively (supported: default, linear, llama3, longrope)");
  }
}

std::vector<double> number_list(const Json& scaling, const std::string& key, const std::string& source) {
  const Json& v = scaling[key];
  if (!v.is_array()) throw Error(ErrorCode::kBadCheckpoint, source + ": rope_parameters." + key + " must be a list of numbers");
  std::vector<double> out;
  for (const auto& x : v.as_array()) {
    if (!x.is_number()) throw Error(ErrorCode::kBadCheckpoint, source + ": rope_parameters." + key + " must be a list of numbers");
    out.push_back(x.as_double());
  }
  return out;
}

// transformers' _compute_longrope_parameters: the pretraining length comes from the top-level
// original_max_position_embeddings where the config class has that attribute (Phi3Config: always, default 4096,
// taking precedence over the rope dict's, except for the legacy type "su"), else from the rope dict (default
// max_position_embeddings); factor
// defaults to max_position_embeddings / original; attention_factor to sqrt(1 + ln(factor) / ln(original)) when
// factor > 1, else 1.
void parse_longrope(const Json& j, const Json& scaling, ModelConfig& c, const std::string& source) {
  c.rope.type = "longrope";
  c.rope.short_factor = number_list(scaling, "short_factor", source);
  c.rope.long_factor = number_list(scaling, "long_factor", source);
  const int64_t max_pos = c.max_position_embeddings;  // the config class default when absent
  // Phi3Config's legacy "su" is renamed only after the override, so it keeps the rope dict's value.
  const bool legacy_su = scaling.get_string("rope_type", scaling.get_string("type", "")) == "su";
  const int64_t top = j.get_int("original_max_position_embeddings", c.model_type == "phi3" ? 4096 : -1);
  c.rope.original_max_position_embeddings =
      legacy_su ? scaling.get_int("original_max_position_embeddings", top)
                : top > 0 || j.has("original_max_position_embeddings") ? top : scaling.get_int("original_max_position_embeddings", max_pos);
  const double original = static_cast<double>(c.rope.original_max_position_embeddings);
  if (original <= 0) throw Error(ErrorCode::kBadCheckpoint, source + ": original_max_position_embeddings must be positive");
  c.rope.factor = scaling.has("factor") ? scaling.get_double("factor", 1.0) : static_cast<double>(max_pos) / original;
  if (scaling.has("attention_factor")) {
    c.rope.attention_factor = scaling.get_double("attention_factor", 1.0);
  } else {
    c.rope.attention_factor = c.rope.factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(c.rope.factor) / std::log(original));
  }
}

void parse_rope(const Json& j, ModelConfig& c, const std::string& source) {
  c.rope.theta = j.get_double("rope_theta", 10000.0);
  // transformers < 5 writes `rope_scaling`; transformers 5 writes `rope_parameters` (which also holds theta).
  const Json& scaling = j.has("rope_parameters") ? j["rope_parameters"] : j["rope_scaling"];
  if (!scaling.is_object()) return;
  const std::string type = scaling.get_string("rope_type", scaling.get_string("type", "default"));
  if (type == "longrope" || ((type == "su" || type == "yarn") && c.model_type == "phi3")) {
    c.rope.theta = scaling.get_double("rope_theta", c.rope.theta);
    parse_longrope(j, scaling, c, source);  // Phi3Config renames "su" / "yarn" to "longrope"
    return;
  }
  parse_rope_object(scaling, c.rope, source);
}

// Gemma's soft-capping: the cap a key holds, `fallback` when the key is absent, 0 (off) when it is null.
double softcap_value(const Json& j, const std::string& key, double fallback, const std::string& source) {
  if (!j.is_object() || j.as_object().count(key) == 0) return fallback;
  if (j[key].is_null()) return 0.0;
  const double cap = j.get_double(key, fallback);
  if (!std::isfinite(cap) || cap <= 0) throw Error(ErrorCode::kBadCheckpoint, source + ": " + key + " must be a positive number or null");
  return cap;
}

// gemma (GemmaConfig), gemma2 (Gemma2Config), gemma3_text (Gemma3TextConfig): transformers 5's keys and defaults.
void parse_gemma(const Json& j, ModelConfig& c, const std::string& source) {
  const bool v1 = c.model_type == "gemma", v3 = c.model_type == "gemma3_text";
  c.family = "gemma";
  c.gemma_generation = v1 ? 1 : v3 ? 3 : 2;
  c.hidden_size = require_int(j, {"hidden_size"}, source);
  c.num_layers = require_int(j, {"num_hidden_layers"}, source);
  c.num_heads = require_int(j, {"num_attention_heads"}, source);
  c.num_kv_heads = j.get_int("num_key_value_heads", v1 ? c.num_heads : 4);
  c.head_dim = j.get_int("head_dim", 256);  // the config class's default, not hidden_size / heads
  c.intermediate_size = require_int(j, {"intermediate_size"}, source);
  c.max_position_embeddings = j.get_int("max_position_embeddings", v3 ? 131072 : 8192);
  c.norm_eps = j.get_double("rms_norm_eps", 1e-6);
  // GemmaConfig reads hidden_act (a legacy "gelu" meant the tanh approximation); Gemma 2/3 read hidden_activation.
  c.hidden_act = v1 ? j.get_string("hidden_act", "gelu_pytorch_tanh") : j.get_string("hidden_activation", "gelu_pytorch_tanh");
  if (v1 && c.hidden_act == "gelu") c.hidden_act = "gelu_pytorch_tanh";
  if (c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "gelu_new" && c.hidden_act != "gelu" && c.hidden_act != "silu" &&
      c.hidden_act != "relu") {
    throw Error(ErrorCode::kUnsupportedModel, source + ": " + (v1 ? "hidden_act" : "hidden_activation") + " \"" + c.hidden_act +
                                                  "\" is not supported");
  }
  c.tie_word_embeddings = j.get_bool("tie_word_embeddings", true);
  c.qkv_bias = c.o_bias = j.get_bool("attention_bias", false);
  c.attention_dropout = j.get_double("attention_dropout", 0.0);
  // The config classes' defaults (absent keys); a config.json without them is what transformers would read too.
  c.bos_token_id = j.get_int("bos_token_id", j.as_object().count("bos_token_id") ? -1 : 2);
  c.pad_token_id = j.get_int("pad_token_id", j.as_object().count("pad_token_id") ? -1 : 0);
  if (j.as_object().count("eos_token_id") == 0) c.eos_token_ids = {1};
  if (j.get_bool("use_bidirectional_attention", false)) {
    throw Error(ErrorCode::kUnsupportedModel, source + ": use_bidirectional_attention (EmbeddingGemma-style encoders) is not "
                                                       "supported natively; only causal Gemma language models are");
  }
  if (v1) {
    parse_rope(j, c, source);
    return;
  }
  c.query_pre_attn_scalar = j.get_double("query_pre_attn_scalar", 256);
  // Gemma 3's attention ignores attn_logit_softcapping (transformers passes no softcap to its attention).
  c.attn_logit_softcapping = v3 ? 0.0 : softcap_value(j, "attn_logit_softcapping", 50.0, source);
  c.final_logit_softcapping = softcap_value(j, "final_logit_softcapping", v3 ? 0.0 : 30.0, source);
  c.sliding_window = j.as_object().count("sliding_window") && j["sliding_window"].is_null() ? 0 : j.get_int("sliding_window", 4096);
  const Json& types = j["layer_types"];
  if (types.is_array()) {
    if (static_cast<int64_t>(types.size()) != c.num_layers) {
      throw Error(ErrorCode::kBadCheckpoint, source + ": layer_types has " + std::to_string(types.size()) +
                                                 " entries but num_hidden_layers is " + std::to_string(c.num_layers));
    }
    for (const auto& t : types.as_array()) {
      const std::string type = t.is_string() ? t.as_string() : "";
      if (type != "sliding_attention" && type != "full_attention") {
        throw Error(ErrorCode::kUnsupportedModel, source + ": layer_types entry \"" + type +
                                                      "\" is not supported (sliding_attention, full_attention)");
      }
      c.sliding_layers.push_back(type == "sliding_attention");
    }
  } else {  // transformers' __post_init__: every `pattern`-th layer is global (Gemma 2: every other one)
    const int64_t pattern = v3 ? j.get_int("sliding_window_pattern", 6) : 2;
    if (pattern <= 0) throw Error(ErrorCode::kBadCheckpoint, source + ": sliding_window_pattern must be a positive integer");
    for (int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers.push_back((i + 1) % pattern != 0);
  }
  bool any_sliding = false;
  for (bool s : c.sliding_layers) any_sliding = any_sliding || s;
  if (any_sliding && c.sliding_window <= 0) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": sliding_window must be a positive integer when layer_types has "
                                                    "sliding_attention layers");
  }
  if (!v3) {
    parse_rope(j, c, source);
    return;
  }
  // Gemma 3: rope_parameters keyed by layer type (transformers 5), or the legacy rope_theta (global),
  // rope_local_base_freq (sliding) and rope_scaling (global only).
  c.rope.theta = j.get_double("rope_theta", 1000000.0);
  c.local_rope.theta = j.get_double("rope_local_base_freq", 10000.0);
  const Json& params = j["rope_parameters"];
  if (params.is_object()) {
    if (!params.has("full_attention") && !params.has("sliding_attention")) {
      throw Error(ErrorCode::kBadCheckpoint, source + ": rope_parameters of gemma3_text must be keyed by layer type "
                                                      "(full_attention, sliding_attention)");
    }
    if (params["full_attention"].is_object()) parse_rope_object(params["full_attention"], c.rope, source);
    if (params["sliding_attention"].is_object()) parse_rope_object(params["sliding_attention"], c.local_rope, source);
  } else if (j["rope_scaling"].is_object()) {
    parse_rope_object(j["rope_scaling"], c.rope, source);
  }
}

// Qwen3Config: sliding_window applies only with use_sliding_window (else null); layer_types as written, else
// "sliding_attention" from max_window_layers (default 28) on; a sliding layer attends to its sliding_window
// last positions. Sliding layers without a window make transformers' mask builder raise: kBadCheckpoint.
void parse_qwen3_windows(const Json& j, ModelConfig& c, const std::string& source) {
  const int64_t window = j.get_bool("use_sliding_window", false) ? j.get_int("sliding_window", 4096) : 0;
  const int64_t max_window_layers = j.get_int("max_window_layers", 28);
  c.layer_sliding_windows.assign(static_cast<size_t>(std::max<int64_t>(c.num_layers, 0)), 0);
  const Json& types = j["layer_types"];
  if (!types.is_null()) {
    if (!types.is_array() || static_cast<int64_t>(types.size()) != c.num_layers) {
      throw Error(ErrorCode::kBadCheckpoint, source + ": layer_types must list one entry per layer (num_hidden_layers = " +
                                                 std::to_string(c.num_layers) + ")");
    }
  }
  bool any_sliding = false;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    bool sliding = window > 0 && i >= max_window_layers;
    if (!types.is_null()) {
      const Json& t = types[static_cast<size_t>(i)];
      if (!t.is_string() || (t.as_string() != "full_attention" && t.as_string() != "sliding_attention")) {
        throw Error(ErrorCode::kBadCheckpoint, source + ": layer_types[" + std::to_string(i) +
                                                   "] must be \"full_attention\" or \"sliding_attention\"");
      }
      sliding = t.as_string() == "sliding_attention";
      if (sliding && window <= 0) {
        throw Error(ErrorCode::kBadCheckpoint, source + ": layer_types[" + std::to_string(i) +
                                                   "] is \"sliding_attention\" but there is no sliding_window (use_sliding_window is false or sliding_window is null)");
      }
    }
    if (sliding) c.layer_sliding_windows[static_cast<size_t>(i)] = window;
    any_sliding = any_sliding || sliding;
  }
  c.sliding_window = any_sliding ? window : 0;  // the narrowest window of any layer (attention_plan)
}

// GPT-NeoX as transformers 5's GPTNeoXConfig reads it: a non-empty `rope_scaling` object, else `rope_parameters`,
// holds the rope settings; theta and the partial rotary factor it does not name come from the older top-level
// `rotary_emb_base` (default 10000) and `rotary_pct` (default 0.25). Top-level `rope_theta` and
// `partial_rotary_factor` are not read (transformers ignores them for this family).
const Json& neox_rope_object(const Json& j) {
  const Json& legacy = j["rope_scaling"];
  return legacy.is_object() && legacy.size() > 0 ? legacy : j["rope_parameters"];
}

void parse_neox_rope(const Json& j, ModelConfig& c, const std::string& source) {
  const Json& rope = neox_rope_object(j);
  c.rope.theta = j.get_double("rotary_emb_base", 10000.0);
  if (rope.is_object()) parse_rope_object(rope, c.rope, source);
  c.rope.partial_rotary_factor =
      rope.has("partial_rotary_factor") ? rope.get_double("partial_rotary_factor", 0.25) : j.get_double("rotary_pct", 0.25);
}

// The config.json key a gpt_neox rope setting was read from (error messages): `key` inside the rope object, else
// the top-level `legacy_key`.
std::string neox_rope_key(const Json& j, const char* key, const char* legacy_key) {
  const Json& rope = neox_rope_object(j);
  if (!rope.has(key)) return legacy_key;
  return std::string(&rope == &j["rope_scaling"] ? "rope_scaling." : "rope_parameters.") + key;
}

}  // namespace

ModelConfig parse_model_config(const Json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorCode::kBadCheckpoint, source + " is not a JSON object");
  ModelConfig c;
  c.model_type = config_model_type(j, source);
  try {
    c.bos_token_id = j.get_int("bos_token_id", -1);
    c.eos_token_ids = id_list(j, "eos_token_id");
    c.pad_token_id = j.get_int("pad_token_id", -1);
    c.vocab_size = require_int(j, {"vocab_size"}, source);
    if (c.model_type == "gpt2") {
      c.family = "gpt2";
      c.hidden_size = require_int(j, {"n_embd", "hidden_size"}, source);
      c.num_layers = require_int(j, {"n_layer", "num_hidden_layers"}, source);
      c.num_heads = require_int(j, {"n_head", "num_attention_heads"}, source);
      c.num_kv_heads = c.num_heads;
      c.max_position_embeddings = require_int(j, {"n_positions", "max_position_embeddings"}, source);
      c.intermediate_size = j.get_int("n_inner", 4 * c.hidden_size);
      c.norm_eps = j.get_double("layer_norm_epsilon", 1e-5);
      c.hidden_act = j.get_string("activation_function", "gelu_new");
      c.tie_word_embeddings = j.get_bool("tie_word_embeddings", true);
      c.scale_attn_weights = j.get_bool("scale_attn_weights", true);
      c.scale_attn_by_inverse_layer_idx = j.get_bool("scale_attn_by_inverse_layer_idx", false);
      c.attention_dropout = j.get_double("attn_pdrop", 0.1);
      c.hidden_dropout = j.get_double("resid_pdrop", 0.1);
      if (c.hidden_act != "gelu_new" && c.hidden_act != "gelu" && c.hidden_act != "relu" &&
          c.hidden_act != "gelu_pytorch_tanh") {
        throw Error(ErrorCode::kUnsupportedModel, source + ": activation_function \"" + c.hidden_act + "\" is not supported");
      }
    } else if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2" || c.model_type == "qwen3" ||
               c.model_type == "olmo2" || c.model_type == "phi3") {
      c.family = "llama";
      c.hidden_size = require_int(j, {"hidden_size"}, source);
      c.num_layers = require_int(j, {"num_hidden_layers"}, source);
      c.num_heads = require_int(j, {"num_attention_heads"}, source);
      c.num_kv_heads = j.get_int("num_key_value_heads", c.num_heads);
      c.intermediate_size = require_int(j, {"intermediate_size"}, source);
      c.max_position_embeddings = j.get_int("max_position_embeddings", 2048);
      c.norm_eps = j.get_double("rms_norm_eps", 1e-6);
      c.hidden_act = j.get_string("hidden_act", "silu");
      c.tie_word_embeddings = j.get_bool("tie_word_embeddings", c.model_type == "qwen2");
      // qwen3 / olmo2 take attention_bias for q, k, v and o like llama; phi3 has no biases at all.
      const bool attention_bias = c.model_type == "phi3" ? false : j.get_bool("attention_bias", false);
      c.qkv_bias = c.model_type == "qwen2" ? true : attention_bias;
      c.o_bias = c.model_type == "qwen2" ? false : attention_bias;
      // Only LlamaConfig has mlp_bias.
      c.mlp_bias = c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2" ? j.get_bool("mlp_bias", false) : false;
      if (c.model_type == "mistral" || c.model_type == "phi3" || (c.model_type == "qwen2" && j.get_bool("use_sliding_window", false))) {
        c.sliding_window = j.get_int("sliding_window", 0);
      }
      c.attention_dropout = j.get_double("attention_dropout", 0.0);
      if (c.model_type == "qwen3") parse_qwen3_windows(j, c, source);
      if (c.model_type == "olmo2") {
        c.norm_eps = j.get_double("rms_norm_eps", 1e-5);
        c.qk_norm_full = c.post_norm_blocks = true;
      }
      if (c.model_type == "qwen3") c.qk_norm_per_head = true;
      if (c.model_type == "phi3") {
        c.norm_eps = j.get_double("rms_norm_eps", 1e-5);
        c.max_position_embeddings = j.get_int("max_position_embeddings", 4096);
        c.fused_projections = true;
        c.regenerate_cache_after = j.get_int("original_max_position_embeddings", 4096);
        c.hidden_dropout = j.get_double("resid_pdrop", 0.0);
      }
      if (c.model_type == "qwen3") c.max_position_embeddings = j.get_int("max_position_embeddings", 32768);
      parse_rope(j, c, source);
      if (c.model_type == "phi3") {
        // Phi3Config keeps partial_rotary_factor in the rope dict (set from the top-level key, default 1).
        const Json& rope = j.has("rope_parameters") ? j["rope_parameters"] : j["rope_scaling"];
        c.rope.partial_rotary_factor = rope.get_double("partial_rotary_factor", j.get_double("partial_rotary_factor", 1.0));
      }
      if (c.hidden_act != "silu" && c.hidden_act != "gelu" && c.hidden_act != "relu") {
        throw Error(ErrorCode::kUnsupportedModel, source + ": hidden_act \"" + c.hidden_act + "\" is not supported");
      }
    } else if (c.model_type == "gemma" || c.model_type == "gemma2" || c.model_type == "gemma3_text") {
      parse_gemma(j, c, source);
    } else if (c.model_type == "gemma3") {
      throw Error(ErrorCode::kUnsupportedModel,
                  source + ": model_type \"gemma3\" (Gemma3ForConditionalGeneration, the multimodal model with a nested "
                           "text_config) is not implemented natively; the text-only gemma3_text (Gemma3ForCausalLM) is");
    } else if (c.model_type == "gpt_neox") {
      c.family = "gpt_neox";
      c.hidden_size = require_int(j, {"hidden_size"}, source);
      c.num_layers = require_int(j, {"num_hidden_layers"}, source);
      c.num_heads = require_int(j, {"num_attention_heads"}, source);
      c.num_kv_heads = c.num_heads;
      c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;  // transformers ignores a head_dim key here
      c.intermediate_size = require_int(j, {"intermediate_size"}, source);
      c.max_position_embeddings = j.get_int("max_position_embeddings", 2048);
      c.norm_eps = j.get_double("layer_norm_eps", 1e-5);
      c.hidden_act = j.get_string("hidden_act", "gelu");
      c.tie_word_embeddings = j.get_bool("tie_word_embeddings", false);
      c.qkv_bias = c.o_bias = j.get_bool("attention_bias", true);
      c.mlp_bias = true;
      c.parallel_residual = j.get_bool("use_parallel_residual", true);
      c.attention_dropout = j.get_double("attention_dropout", 0.0);
      c.hidden_dropout = j.get_double("hidden_dropout", 0.0);
      parse_neox_rope(j, c, source);
      if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "gelu_fast" &&
          c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "relu" && c.hidden_act != "silu") {
        throw Error(ErrorCode::kUnsupportedModel, source + ": hidden_act \"" + c.hidden_act + "\" is not supported");
      }
    } else {
      std::string list;
      // "decoder-only: gpt2, ...; encoder-decoder: bart, ..." as lib/models/model-types.ts words it.
      for (const char* kind : {"decoder-only", "encoder-decoder"}) {
        std::string ids;
        for (const auto& t : supported_model_types(kind)) ids += (ids.empty() ? "" : ", ") + t;
        list += (list.empty() ? "" : "; ") + std::string(kind) + ": " + ids;
      }
      throw Error(ErrorCode::kUnsupportedModel,
                  source + ": model_type \"" + c.model_type + "\" is not implemented natively (" + list +
                      "); export it as a TorchScript bundle with tools/export-torchscript");
    }
    // Qwen3Config has head_dim = 128 by default; Gemma's and GPT-NeoX's parsers set their own; the others split the width.
    if (c.head_dim == 0) c.head_dim = j.get_int("head_dim", c.model_type == "qwen3" ? 128 : c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": " + e.what());
  }
  check_model_config(j, c, source);
  return c;
}

std::string config_model_type(const Json& j, const std::string& source) {
  if (!j.has("model_type")) throw Error(ErrorCode::kBadCheckpoint, source + " has no model_type");
  if (!j["model_type"].is_string() || j["model_type"].as_string().empty()) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": model_type must be a non-empty string");
  }
  return j["model_type"].as_string();
}

namespace {

template <typename Bad>
void check_gemma_config(const Json& j, const ModelConfig& c, const Bad& bad) {
  if (c.gemma_generation == 3) {
    if (!std::isfinite(c.local_rope.theta) || c.local_rope.theta <= 0) {
      throw bad(j.has("rope_local_base_freq") ? "rope_local_base_freq" : "rope_parameters.sliding_attention.rope_theta",
                "must be a positive number");
    }
    if (!std::isfinite(c.local_rope.factor) || c.local_rope.factor <= 0) {
      throw bad("rope_parameters.sliding_attention.factor", "must be a positive number");
    }
  }
  if (c.gemma_generation >= 2) {
    // Gemma2Config / Gemma3TextConfig.validate_architecture refuse these even with an explicit head_dim.
    if (c.hidden_size % c.num_heads != 0) {
      throw bad("num_attention_heads", std::to_string(c.num_heads) + " does not divide hidden_size = " + std::to_string(c.hidden_size));
    }
    if (!std::isfinite(c.query_pre_attn_scalar) || c.query_pre_attn_scalar <= 0) throw bad("query_pre_attn_scalar", "must be a positive number");
  }
}

}  // namespace

void check_model_config(const Json& j, const ModelConfig& c, const std::string& source) {
  const bool gpt2 = c.family == "gpt2", neox = c.family == "gpt_neox";
  auto field = [&](const char* gpt2_name, const char* llama_name) {  // the key as written in this config (gpt_neox: llama's)
    return std::string(gpt2 && j.has(gpt2_name) ? gpt2_name : llama_name);
  };
  auto bad = [&](const std::string& key, const std::string& what) {
    return Error(ErrorCode::kBadCheckpoint, source + ": " + key + " " + what);
  };
  auto positive = [&](const std::string& key, int64_t v) {
    if (v <= 0) throw bad(key, "must be a positive integer but is " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive(field("n_embd", "hidden_size"), c.hidden_size);
  positive(field("n_layer", "num_hidden_layers"), c.num_layers);
  positive(field("n_head", "num_attention_heads"), c.num_heads);
  positive(gpt2 ? "n_head" : neox ? "num_attention_heads" : "num_key_value_heads", c.num_kv_heads);
  positive(gpt2 ? "n_inner" : "intermediate_size", c.intermediate_size);
  if (c.max_position_embeddings <= 1) {
    throw bad(field("n_positions", "max_position_embeddings"), "must be at least 2 but is " + std::to_string(c.max_position_embeddings));
  }
  // Without an explicit head_dim the width is split evenly between the heads (gpt2 and gpt_neox always split it).
  if ((gpt2 || neox || (!j.has("head_dim") && c.model_type != "qwen3")) && c.hidden_size % c.num_heads != 0) {
    throw bad(field("n_head", "num_attention_heads"), std::to_string(c.num_heads) + " does not divide the width " +
                                                           field("n_embd", "hidden_size") + " = " + std::to_string(c.hidden_size));
  }
  positive("head_dim", c.head_dim);
  if (c.num_heads % c.num_kv_heads != 0) {
    throw bad("num_key_value_heads", std::to_string(c.num_kv_heads) + " does not divide num_attention_heads = " + std::to_string(c.num_heads));
  }
  const bool rotary = c.family == "llama" || c.family == "gemma";
  if (c.head_dim % 2 != 0 && rotary) throw bad("head_dim", "must be even for rotary embeddings");
  const std::string eps_key = gpt2 ? "layer_norm_epsilon" : neox ? "layer_norm_eps" : "rms_norm_eps";
  if (!std::isfinite(c.norm_eps) || c.norm_eps < 0) throw bad(eps_key, "must be a finite non-negative number");
  if (rotary || neox) {
    const std::string theta_key = neox ? neox_rope_key(j, "rope_theta", "rotary_emb_base") : "rope_theta";
    if (!std::isfinite(c.rope.theta) || c.rope.theta <= 0) throw bad(theta_key, "must be a positive number");
    if (!std::isfinite(c.rope.factor) || c.rope.factor <= 0) throw bad("rope_scaling.factor", "must be a positive number");
    if (c.sliding_window < 0) throw bad("sliding_window", "must be a non-negative integer");
    const RopeConfig& r = c.rope;
    if (!neox && (!std::isfinite(r.partial_rotary_factor) || r.partial_rotary_factor <= 0 || r.partial_rotary_factor > 1)) {
      throw bad("rope_parameters.partial_rotary_factor", "must be in (0, 1]");
    }
    if (r.type == "longrope") {
      const size_t half = static_cast<size_t>(rope_dim(c) / 2);
      for (const auto* f : {&r.short_factor, &r.long_factor}) {
        const char* key = f == &r.short_factor ? "rope_parameters.short_factor" : "rope_parameters.long_factor";
        if (f->size() != half) throw bad(key, "must have " + std::to_string(half) + " entries (rotary dimensions / 2) but has " + std::to_string(f->size()));
        for (double x : *f) {
          if (!std::isfinite(x) || x <= 0) throw bad(key, "must hold positive numbers");
        }
      }
      if (!std::isfinite(r.attention_factor) || r.attention_factor < 0) throw bad("rope_parameters.attention_factor", "must be a non-negative number");
    }
  }
  if (c.family == "gemma") check_gemma_config(j, c, bad);
  if (neox) {
    // transformers rotates the first 2 * ceil(d / 2) dims of each head, d = int(head_dim * factor): at most head_dim.
    const std::string key = neox_rope_key(j, "partial_rotary_factor", "rotary_pct");
    if (!std::isfinite(c.rope.partial_rotary_factor) || c.rope.partial_rotary_factor < 0 || c.rope.partial_rotary_factor > 1) {
      throw bad(key, "must be a number between 0 and 1");
    }
    if ((rope_dim(c) + 1) / 2 * 2 > c.head_dim) {
      throw bad(key, "gives " + std::to_string(rope_dim(c)) + " rotary dims, an odd number that rounds up past head_dim " +
                         std::to_string(c.head_dim));
    }
  }
  auto in_vocab = [&](const char* key, int64_t id) {
    if (id < 0 || id >= c.vocab_size) {
      throw bad(key, std::to_string(id) + " is outside the vocabulary of " + std::to_string(c.vocab_size) + " tokens (vocab_size)");
    }
  };
  if (j.has("bos_token_id")) in_vocab("bos_token_id", c.bos_token_id);
  if (j.has("pad_token_id")) in_vocab("pad_token_id", c.pad_token_id);
  for (int64_t id : c.eos_token_ids) in_vocab("eos_token_id", id);
}

int64_t rope_dim(const ModelConfig& c) {
  return static_cast<int64_t>(static_cast<double>(c.head_dim) * c.rope.partial_rotary_factor);
}

Json read_config_json(const std::string& dir) {
  const std::string path = core::join_path(dir, "config.json");
  const std::string text = core::read_text_file(path);
  try {
    return Json::parse(text);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, "Malformed " + path + ": " + e.what());
  }
}

ModelConfig read_model_config(const std::string& dir) { return parse_model_config(read_config_json(dir), core::join_path(dir, "config.json")); }

}  // namespace inseq::models
