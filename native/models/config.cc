#include "models/config.h"

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
      {"qwen2", "decoder-only"},
      {"bart", "encoder-decoder"}, {"m2m_100", "encoder-decoder"}, {"marian", "encoder-decoder"}, {"mbart", "encoder-decoder"},
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

// The rope settings of `scaling` (a rope_parameters / rope_scaling object, or null), `theta` where it names none.
void parse_rope_object(const Json& scaling, double theta, ModelConfig& c, const std::string& source) {
  c.rope.theta = theta;
  if (!scaling.is_object()) return;
  c.rope.theta = scaling.get_double("rope_theta", c.rope.theta);
  std::string type = scaling.get_string("rope_type", scaling.get_string("type", "default"));
  c.rope.type = type;
  c.rope.factor = scaling.get_double("factor", 1.0);
  if (type == "default") {
    c.rope.factor = 1.0;
  } else if (type == "linear") {
    if (c.rope.factor <= 0) throw Error(ErrorCode::kBadCheckpoint, source + ": rope scaling factor must be positive");
  } else if (type == "llama3") {
    c.rope.low_freq_factor = scaling.get_double("low_freq_factor", 1.0);
    c.rope.high_freq_factor = scaling.get_double("high_freq_factor", 4.0);
    c.rope.original_max_position_embeddings = scaling.get_int("original_max_position_embeddings", 8192);
  } else {
    throw Error(ErrorCode::kUnsupportedModel, source + ": rope scaling type \"" + type +
                                                  "\" is not supported natively (supported: default, linear, llama3)");
  }
}

void parse_rope(const Json& j, ModelConfig& c, const std::string& source) {
  // transformers < 5 writes `rope_scaling`; transformers 5 writes `rope_parameters` (which also holds theta).
  parse_rope_object(j.has("rope_parameters") ? j["rope_parameters"] : j["rope_scaling"], j.get_double("rope_theta", 10000.0), c, source);
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
  parse_rope_object(rope, j.get_double("rotary_emb_base", 10000.0), c, source);
  c.partial_rotary_factor = rope.has("partial_rotary_factor") ? rope.get_double("partial_rotary_factor", 0.25) : j.get_double("rotary_pct", 0.25);
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
    } else if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") {
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
      const bool attention_bias = j.get_bool("attention_bias", false);
      c.qkv_bias = c.model_type == "qwen2" ? true : attention_bias;
      c.o_bias = c.model_type == "qwen2" ? false : attention_bias;
      c.mlp_bias = j.get_bool("mlp_bias", false);
      if (c.model_type == "mistral" || (c.model_type == "qwen2" && j.get_bool("use_sliding_window", false))) {
        c.sliding_window = j.get_int("sliding_window", 0);
      }
      c.attention_dropout = j.get_double("attention_dropout", 0.0);
      parse_rope(j, c, source);
      if (c.hidden_act != "silu" && c.hidden_act != "gelu" && c.hidden_act != "relu") {
        throw Error(ErrorCode::kUnsupportedModel, source + ": hidden_act \"" + c.hidden_act + "\" is not supported");
      }
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
    if (c.head_dim == 0) c.head_dim = j.get_int("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
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
  if ((gpt2 || neox || !j.has("head_dim")) && c.hidden_size % c.num_heads != 0) {
    throw bad(field("n_head", "num_attention_heads"), std::to_string(c.num_heads) + " does not divide the width " +
                                                           field("n_embd", "hidden_size") + " = " + std::to_string(c.hidden_size));
  }
  positive("head_dim", c.head_dim);
  if (c.num_heads % c.num_kv_heads != 0) {
    throw bad("num_key_value_heads", std::to_string(c.num_kv_heads) + " does not divide num_attention_heads = " + std::to_string(c.num_heads));
  }
  if (c.head_dim % 2 != 0 && c.family == "llama") throw bad("head_dim", "must be even for rotary embeddings");
  const std::string eps_key = gpt2 ? "layer_norm_epsilon" : neox ? "layer_norm_eps" : "rms_norm_eps";
  if (!std::isfinite(c.norm_eps) || c.norm_eps < 0) throw bad(eps_key, "must be a finite non-negative number");
  if (c.family == "llama" || neox) {
    const std::string theta_key = neox ? neox_rope_key(j, "rope_theta", "rotary_emb_base") : "rope_theta";
    if (!std::isfinite(c.rope.theta) || c.rope.theta <= 0) throw bad(theta_key, "must be a positive number");
    if (!std::isfinite(c.rope.factor) || c.rope.factor <= 0) throw bad("rope_scaling.factor", "must be a positive number");
    if (c.sliding_window < 0) throw bad("sliding_window", "must be a non-negative integer");
  }
  if (neox) {
    // transformers rotates the first 2 * ceil(d / 2) dims of each head, d = int(head_dim * factor): at most head_dim.
    const std::string key = neox_rope_key(j, "partial_rotary_factor", "rotary_pct");
    if (!std::isfinite(c.partial_rotary_factor) || c.partial_rotary_factor < 0 || c.partial_rotary_factor > 1) {
      throw bad(key, "must be a number between 0 and 1");
    }
    if ((c.rotary_dims() + 1) / 2 * 2 > c.head_dim) {
      throw bad(key, "gives " + std::to_string(c.rotary_dims()) + " rotary dims, an odd number that rounds up past head_dim " +
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

ModelConfig read_model_config(const std::string& dir) {
  const std::string path = core::join_path(dir, "config.json");
  const std::string text = core::read_text_file(path);
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, "Malformed " + path + ": " + e.what());
  }
  return parse_model_config(j, path);
}

}  // namespace inseq::models
