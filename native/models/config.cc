#include "models/config.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;
using core::Json;

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> kTypes = {"gpt2", "llama", "mistral", "qwen2"};
  return kTypes;
}

namespace {

int64_t require_int(const Json& j, const std::vector<std::string>& keys, const std::string& source) {
  for (const auto& k : keys) {
    if (j.has(k)) return j[k].as_int();
  }
  throw Error(ErrorCode::kBadCheckpoint, source + " has no " + keys.front());
}

std::vector<int64_t> id_list(const Json& v) {
  std::vector<int64_t> out;
  if (v.is_number()) out.push_back(v.as_int());
  if (v.is_array()) {
    for (const auto& x : v.as_array()) out.push_back(x.as_int());
  }
  return out;
}

void parse_rope(const Json& j, ModelConfig& c, const std::string& source) {
  c.rope.theta = j.get_double("rope_theta", 10000.0);
  // transformers < 5 writes `rope_scaling`; transformers 5 writes `rope_parameters` (which also holds theta).
  const Json& scaling = j.has("rope_parameters") ? j["rope_parameters"] : j["rope_scaling"];
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

}  // namespace

ModelConfig parse_model_config(const Json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorCode::kBadCheckpoint, source + " is not a JSON object");
  ModelConfig c;
  c.model_type = j.get_string("model_type", "");
  if (c.model_type.empty()) throw Error(ErrorCode::kBadCheckpoint, source + " has no model_type");
  try {
    c.bos_token_id = j.has("bos_token_id") ? j["bos_token_id"].as_int() : -1;
    c.eos_token_ids = id_list(j["eos_token_id"]);
    c.pad_token_id = j.has("pad_token_id") ? j["pad_token_id"].as_int() : -1;
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
    } else {
      std::string list;
      for (const auto& t : supported_model_types()) list += (list.empty() ? "" : ", ") + t;
      throw Error(ErrorCode::kUnsupportedModel,
                  source + ": model_type \"" + c.model_type + "\" is not implemented natively (supported: " + list +
                      "); export it as a TorchScript bundle instead");
    }
    c.head_dim = j.get_int("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": " + e.what());
  }
  if (c.hidden_size <= 0 || c.num_layers <= 0 || c.num_heads <= 0 || c.num_kv_heads <= 0 || c.vocab_size <= 0 ||
      c.head_dim <= 0 || c.intermediate_size <= 0) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": sizes must be positive");
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    throw Error(ErrorCode::kBadCheckpoint, source + ": num_attention_heads must be a multiple of num_key_value_heads");
  }
  if (c.head_dim % 2 != 0 && c.family == "llama") {
    throw Error(ErrorCode::kBadCheckpoint, source + ": head_dim must be even for rotary embeddings");
  }
  return c;
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
