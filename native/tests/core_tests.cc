// JSON, safetensors and config.json: parsing and every documented failure mode.
#include <ATen/ATen.h>

#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/config.h"
#include "models/safetensors.h"
#include "tests/test.h"

using inseq::core::Error;
using inseq::core::ErrorCode;
using inseq::core::Json;
namespace m = inseq::models;

namespace {

std::string temp_dir(const std::string& name) { return inseq::core::make_temp_dir("inseq-cpp-" + name); }

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

const char* kLlamaConfig = R"({"model_type": "llama", "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1,
  "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 12, "rms_norm_eps": 1e-5,
  "tie_word_embeddings": true, "eos_token_id": [2, 3], "bos_token_id": 1})";

}  // namespace

TEST(json_parses_nested_values_and_escapes) {
  Json j = Json::parse(R"({"a": [1, 2.5, -3e2], "s": "x\"\u00e9\ud83d\ude00", "t": true, "n": null, "o": {}})");
  ASSERT_EQ(j["a"].size(), 3u);
  ASSERT_NEAR(j["a"][1].as_double(), 2.5, 0);
  ASSERT_EQ(j["a"][2].as_int(), -300);
  ASSERT_EQ(j["s"].as_string(), std::string("x\"\xc3\xa9\xf0\x9f\x98\x80"));
  ASSERT_TRUE(j["t"].as_bool());
  ASSERT_TRUE(!j.has("n"));
  ASSERT_TRUE(j["missing"].is_null());
  ASSERT_EQ(j["o"].size(), 0u);
}

TEST(json_rejects_malformed_input_with_offset) {
  bool thrown = false;
  try {
    Json::parse("{\"a\": [1, 2}");
  } catch (const std::runtime_error& e) {
    thrown = std::string(e.what()).find("byte") != std::string::npos;
  }
  ASSERT_TRUE(thrown);
}

TEST(safetensors_round_trip_and_shape_check) {
  std::string dir = temp_dir("st");
  at::Tensor a = at::arange(12, at::kFloat).view({3, 4});
  m::save_safetensors(dir + "/model.safetensors", {{"a", a}, {"b", at::ones({2})}}, {{"format", "pt"}});
  auto store = m::WeightStore::open_dir(dir);
  ASSERT_TRUE(store.contains("a"));
  at::Tensor back = store.load("a", {3, 4}, at::kFloat, c10::Device(c10::kCPU));
  ASSERT_TRUE(back.equal(a));
  ASSERT_THROWS_CODE(store.load("a", {4, 3}, at::kFloat, c10::Device(c10::kCPU)), ErrorCode::kBadCheckpoint, "has shape [3, 4]");
  inseq::core::remove_tree(dir);
}

TEST(safetensors_reads_f16_and_bf16) {
  // Hand-written file: F16 1.0, -2.0 and BF16 0.5, 3.0 (little-endian).
  std::string dir = temp_dir("half");
  std::string header = R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
  while ((8 + header.size()) % 8) header += ' ';
  std::string bytes;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((n >> (8 * i)) & 0xFF);
  bytes += header;
  const unsigned char data[8] = {0x00, 0x3C, 0x00, 0xC0, 0x00, 0x3F, 0x40, 0x40};
  bytes.append(reinterpret_cast<const char*>(data), 8);
  write(dir + "/model.safetensors", bytes);
  auto store = m::WeightStore::open_dir(dir);
  at::Tensor h = store.load("h", {2}, at::kFloat, c10::Device(c10::kCPU));
  at::Tensor b = store.load("b", {2}, at::kFloat, c10::Device(c10::kCPU));
  ASSERT_NEAR(h[0].item<float>(), 1.0, 0);
  ASSERT_NEAR(h[1].item<float>(), -2.0, 0);
  ASSERT_NEAR(b[0].item<float>(), 0.5, 0);
  ASSERT_NEAR(b[1].item<float>(), 3.0, 0);
  inseq::core::remove_tree(dir);
}

TEST(safetensors_truncated_and_corrupt_files_are_rejected) {
  std::string dir = temp_dir("bad");
  m::save_safetensors(dir + "/model.safetensors", {{"a", at::ones({64})}});
  std::string full = inseq::testing::read_file(dir + "/model.safetensors");
  write(dir + "/model.safetensors", full.substr(0, full.size() - 10));
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kBadCheckpoint, "truncated");
  write(dir + "/model.safetensors", std::string("\xff\xff\xff\xff\x00\x00\x00\x00garbage", 15));
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kBadCheckpoint, "header length");
  write(dir + "/model.safetensors", std::string("\x08\x00\x00\x00\x00\x00\x00\x00{notjson", 16));
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kBadCheckpoint, "Corrupt safetensors header");
  write(dir + "/model.safetensors", "abc");
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kBadCheckpoint, "Truncated");
  // Spans that do not tile the data section: shifted onto a neighbour, or leaving bytes over.
  m::save_safetensors(dir + "/model.safetensors", {{"a", at::ones({4})}, {"b", at::ones({4})}});
  std::string two = inseq::testing::read_file(dir + "/model.safetensors");
  std::string shifted = two;
  const size_t span = shifted.find("\"data_offsets\":[0,16]");
  ASSERT_TRUE(span != std::string::npos);
  shifted.replace(span, 21, "\"data_offsets\":[4,20]");
  write(dir + "/model.safetensors", shifted);
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kBadCheckpoint, "overlapping or gapped data_offsets");
  write(dir + "/model.safetensors", two + std::string(8, '\0'));
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kBadCheckpoint, "the tensors cover 32 of its 40 data bytes");
  std::remove((dir + "/model.safetensors").c_str());
  ASSERT_THROWS_CODE(m::WeightStore::open_dir(dir), ErrorCode::kNotFound, "No model.safetensors");
  inseq::core::remove_tree(dir);
}

TEST(config_parses_llama_family_switches) {
  auto c = m::parse_model_config(Json::parse(kLlamaConfig), "config.json");
  ASSERT_EQ(c.family, std::string("llama"));
  ASSERT_EQ(c.head_dim, 4);
  ASSERT_EQ(c.eos_token_ids.size(), 2u);
  ASSERT_TRUE(!c.qkv_bias);
  auto q = m::parse_model_config(Json::parse(R"({"model_type": "qwen2", "vocab_size": 16, "hidden_size": 8,
    "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 12,
    "rope_scaling": {"type": "linear", "factor": 2.0}, "rope_theta": 500000})"), "config.json");
  ASSERT_TRUE(q.qkv_bias);
  ASSERT_TRUE(!q.o_bias);
  ASSERT_EQ(q.rope.type, std::string("linear"));
  ASSERT_NEAR(q.rope.factor, 2.0, 0);
  ASSERT_NEAR(q.rope.theta, 500000, 0);
  auto v5 = m::parse_model_config(Json::parse(R"({"model_type": "llama", "vocab_size": 16, "hidden_size": 8,
    "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 12,
    "rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000.0}})"), "config.json");
  ASSERT_EQ(v5.rope.type, std::string("linear"));
  ASSERT_NEAR(v5.rope.theta, 1000.0, 0);
}

TEST(config_errors_name_the_problem) {
  ASSERT_THROWS_CODE(m::parse_model_config(Json::parse(R"({"model_type": "bert", "vocab_size": 3})"), "x/config.json"),
                    ErrorCode::kUnsupportedModel, "model_type \"bert\"");
  ASSERT_THROWS_CODE(m::parse_model_config(Json::parse(R"({"vocab_size": 3})"), "x/config.json"), ErrorCode::kBadCheckpoint,
                    "no model_type");
  ASSERT_THROWS_CODE(m::parse_model_config(Json::parse(R"({"model_type": "llama", "vocab_size": 3, "hidden_size": 8})"), "x/config.json"),
                    ErrorCode::kBadCheckpoint, "num_hidden_layers");
  ASSERT_THROWS_CODE(m::parse_model_config(Json::parse(R"({"model_type": "llama", "vocab_size": 16, "hidden_size": 8,
    "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 12, "rope_scaling": {"type": "yarn", "factor": 2}})"),
                                          "x/config.json"),
                    ErrorCode::kUnsupportedModel, "yarn");
  ASSERT_THROWS_CODE(m::load_causal_lm("/nonexistent/model", c10::Device(c10::kCPU), at::kFloat), ErrorCode::kNotFound,
                    "/nonexistent/model");
}

TEST(config_values_that_cannot_be_right_name_the_field) {
  auto parse_with = [](const std::string& key, const std::string& value) {
    std::string text = kLlamaConfig;
    const size_t at = text.find("\"" + key + "\"");
    if (at == std::string::npos) {
      text = "{\"" + key + "\": " + value + ", " + text.substr(1);
    } else {
      const size_t colon = text.find(':', at), bracket = text.find_first_not_of(' ', colon + 1);
      const size_t end = text[bracket] == '[' ? text.find(']', bracket) + 1 : text.find_first_of(",}", colon);
      text = text.substr(0, colon + 1) + " " + value + text.substr(end);
    }
    return m::parse_model_config(Json::parse(text), "x/config.json");
  };
  ASSERT_THROWS_CODE(parse_with("num_hidden_layers", "0"), ErrorCode::kBadCheckpoint, "num_hidden_layers must be a positive integer but is 0");
  ASSERT_THROWS_CODE(parse_with("rope_theta", "0"), ErrorCode::kBadCheckpoint, "rope_theta must be a positive number");
  ASSERT_THROWS_CODE(parse_with("rms_norm_eps", "NaN"), ErrorCode::kBadCheckpoint, "rms_norm_eps must be a finite non-negative number");
  ASSERT_THROWS_CODE(parse_with("num_attention_heads", "3"), ErrorCode::kBadCheckpoint, "num_attention_heads 3 does not divide the width hidden_size = 8");
  ASSERT_THROWS_CODE(parse_with("bos_token_id", "16"), ErrorCode::kBadCheckpoint, "bos_token_id 16 is outside the vocabulary of 16 tokens");
  ASSERT_THROWS_CODE(parse_with("eos_token_id", "[2, -1]"), ErrorCode::kBadCheckpoint, "eos_token_id -1 is outside the vocabulary");
  ASSERT_THROWS_CODE(parse_with("max_position_embeddings", "1"), ErrorCode::kBadCheckpoint, "max_position_embeddings must be at least 2");
  ASSERT_THROWS_CODE(parse_with("model_type", "123"), ErrorCode::kBadCheckpoint, "model_type must be a non-empty string");
  ASSERT_THROWS_CODE(parse_with("intermediate_size", "12.5"), ErrorCode::kBadCheckpoint, "intermediate_size: JSON number is not an integer");
  ASSERT_THROWS_CODE(parse_with("hidden_size", "1e300"), ErrorCode::kBadCheckpoint, "hidden_size: JSON integer is out of range");
  parse_with("pad_token_id", "null");  // null = absent
}

TEST(unused_checkpoint_tensors_are_refused) {
  std::string dir = temp_dir("unused");
  write(dir + "/config.json", kLlamaConfig);
  auto cfg = m::parse_model_config(Json::parse(kLlamaConfig), "config.json");
  auto params = m::init_causal_lm(cfg, 1, c10::Device(c10::kCPU))->named_parameters();
  params["model.layers.0.rotary_emb.inv_freq"] = at::zeros({2});  // a buffer older checkpoints carry: fine
  params["lm_head.weight"] = at::zeros({16, 8});                  // replaced by tying, as in transformers: fine
  m::save_safetensors(dir + "/model.safetensors", params);
  m::load_causal_lm(dir, c10::Device(c10::kCPU), at::kFloat);
  params["model.layers.1.input_layernorm.weight"] = at::zeros({8});
  m::save_safetensors(dir + "/model.safetensors", params);
  ASSERT_THROWS_CODE(m::load_causal_lm(dir, c10::Device(c10::kCPU), at::kFloat), ErrorCode::kBadCheckpoint,
                    "num_hidden_layers is 1 but the checkpoint has block 1 (model.layers.1.input_layernorm.weight)");
  params.erase("model.layers.1.input_layernorm.weight");
  params["model.layers.0.mlp.up_proj.bias"] = at::zeros({12});
  m::save_safetensors(dir + "/model.safetensors", params);
  ASSERT_THROWS_CODE(m::load_causal_lm(dir, c10::Device(c10::kCPU), at::kFloat), ErrorCode::kBadCheckpoint,
                    "holds tensors this config does not use (model.layers.0.mlp.up_proj.bias)");
  inseq::core::remove_tree(dir);
}

TEST(allocation_failures_are_out_of_memory_whatever_raises_them) {
  // The CPU allocator reports a failed allocation as a plain c10::Error ("can't allocate memory"); it was
  // ERR_TORCH while CUDA's c10::OutOfMemoryError was ERR_OUT_OF_MEMORY.
  try {
    at::Tensor huge = at::empty({int64_t{1} << 50}, at::kFloat);  // 4 PiB: refused at once, nothing touched
    ASSERT_TRUE(!"allocation of 4 PiB succeeded");
  } catch (const inseq::testing::Failure&) {
    throw;
  } catch (...) {
    inseq::core::Failure f = inseq::core::classify_current_exception();
    ASSERT_EQ(f.code, std::string("ERR_OUT_OF_MEMORY"));
    ASSERT_TRUE(f.out_of_memory);
  }
  for (const char* oom : {"CUDA out of memory. Tried to allocate 2.00 GiB", "C10 Out of Memory. Trying to allocate 12 bytes",
                          "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4503599627370496 bytes. Error code 12 (Cannot allocate memory)",
                          "DefaultCPUAllocator: not enough memory: you tried to allocate 8 bytes."}) {
    ASSERT_TRUE(inseq::core::is_out_of_memory_message(oom));
  }
  ASSERT_TRUE(!inseq::core::is_out_of_memory_message("The size of tensor a (3) must match the size of tensor b (4)"));
  try {
    throw Error(ErrorCode::kOutOfMemory, "wrapped");
  } catch (...) {
    ASSERT_EQ(inseq::core::classify_current_exception().code, std::string("ERR_OUT_OF_MEMORY"));
  }
}

TEST(wrong_tensor_shape_is_reported_with_the_tensor_name) {
  std::string dir = temp_dir("shape");
  write(dir + "/config.json", kLlamaConfig);
  auto cfg = m::parse_model_config(Json::parse(kLlamaConfig), "config.json");
  auto model = m::init_causal_lm(cfg, 1, c10::Device(c10::kCPU));
  auto params = model->named_parameters();
  params["model.layers.0.mlp.up_proj.weight"] = at::zeros({11, 8});
  m::save_safetensors(dir + "/model.safetensors", params);
  ASSERT_THROWS_CODE(m::load_causal_lm(dir, c10::Device(c10::kCPU), at::kFloat), ErrorCode::kBadCheckpoint,
                    "model.layers.0.mlp.up_proj.weight");
  inseq::core::remove_tree(dir);
}
