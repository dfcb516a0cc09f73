// Loading checkpoints: memory-mapped safetensors (a tensor stored as the dtype asked for is a view of the file,
// nothing else stays mapped), shard-by-shard streaming, load progress, half precision on the CPU.
// RSS is read from /proc/self/status: RssAnon is this process's private memory (a copy of the weights lands
// there), RssFile the mapped file pages (the page cache's, shared, reclaimable).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <malloc.h>

#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/files.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/config.h"
#include "models/safetensors.h"
#include "tests/test.h"

namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

const c10::Device kCpu(c10::kCPU);

// One field of /proc/self/status in bytes ("RssAnon", "RssFile", "VmRSS"); -1 where the kernel has none.
int64_t status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

// ~54 MB in bf16: 8 blocks of width 512 and a vocabulary of 8,192, random weights.
const char* kConfig = R"({"model_type": "llama", "vocab_size": 8192, "hidden_size": 512, "num_hidden_layers": 8,
  "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 1376, "rms_norm_eps": 1e-5,
  "max_position_embeddings": 256, "tie_word_embeddings": false, "eos_token_id": 2, "bos_token_id": 1})";

struct Checkpoint {
  std::string dir;
  uint64_t tensor_bytes = 0;  // all tensors' data bytes as stored
};

// A sharded checkpoint as transformers writes it: blocks 0-3 (+ embeddings) in shard 1, the rest in shard 2,
// model.safetensors.index.json mapping each tensor to its shard; stored as `dtype`.
Checkpoint write_sharded(const std::string& name, c10::ScalarType dtype) {
  Checkpoint c;
  c.dir = inseq::core::make_temp_dir("inseq-cpp-" + name);
  std::ofstream(c.dir + "/config.json") << kConfig;
  auto cfg = m::parse_model_config(inseq::core::Json::parse(kConfig), "config.json");
  std::map<std::string, at::Tensor> shards[2];
  std::string weight_map;
  for (auto& [n, p] : m::init_causal_lm(cfg, 3, kCpu)->named_parameters()) {
    const bool second = n == "lm_head.weight" || n == "model.norm.weight" || n.rfind("model.layers.4", 0) == 0 ||
                        n.rfind("model.layers.5", 0) == 0 || n.rfind("model.layers.6", 0) == 0 || n.rfind("model.layers.7", 0) == 0;
    shards[second ? 1 : 0][n] = p;
    weight_map += std::string(weight_map.empty() ? "" : ",") + "\"" + n + "\":\"model-0000" + (second ? "2" : "1") + "-of-00002.safetensors\"";
    c.tensor_bytes += static_cast<uint64_t>(p.numel()) * c10::elementSize(dtype);
  }
  m::save_safetensors(c.dir + "/model-00001-of-00002.safetensors", shards[0], {{"format", "pt"}}, dtype);
  m::save_safetensors(c.dir + "/model-00002-of-00002.safetensors", shards[1], {{"format", "pt"}}, dtype);
  std::ofstream(c.dir + "/model.safetensors.index.json") << "{\"metadata\":{},\"weight_map\":{" << weight_map << "}}";
  return c;
}

at::Tensor logits_of(const m::CausalLM& model, const std::vector<int64_t>& ids) {
  c10::InferenceMode guard;
  m::ForwardRequest req;
  req.inputs_embeds = model.embed(at::tensor(ids, at::kLong).unsqueeze(0));  // [1, seq, hidden]
  return model.forward(req).logits.to(at::kFloat).squeeze(0);               // [seq, vocab]
}

bool views_a_mapping(const at::Tensor& p) { return p.storage().allocator() == nullptr; }  // from_blob storage

}  // namespace

TEST(matching_dtype_on_cpu_views_the_mapped_file_without_a_private_copy) {
  if (status_bytes("RssAnon") < 0) throw t::Skip("needs /proc/self/status RssAnon (Linux 4.5+)");
  Checkpoint c = write_sharded("view", at::kBFloat16);
  m::load_causal_lm(c.dir, kCpu, at::kBFloat16);  // warm-up: code pages and allocator pools, then measure
  ::malloc_trim(0);                               // what writing the checkpoint freed leaves RSS now, not during the load
  const int64_t anon0 = status_bytes("RssAnon");
  auto model = m::load_causal_lm(c.dir, kCpu, at::kBFloat16);
  const int64_t anon = status_bytes("RssAnon") - anon0;
  std::cout << "    bf16 checkpoint " << c.tensor_bytes / 1e6 << " MB loaded as bf16: RssAnon +" << anon / 1e6 << " MB\n";
  ASSERT_TRUE(anon < static_cast<int64_t>(c.tensor_bytes / 10));  // a copy would add the whole checkpoint
  for (const auto& [n, p] : model->named_parameters()) {
    ASSERT_TRUE(p.scalar_type() == at::kBFloat16);
    ASSERT_TRUE(views_a_mapping(p));
  }
  // The views keep their shards mapped after the loader is gone, the files included.
  inseq::core::remove_tree(c.dir);
  at::Tensor logits = logits_of(*model, {1, 5, 9, 12});  // [4, vocab]
  ASSERT_TRUE(logits.isfinite().all().item<bool>());
}

TEST(converting_loads_copy_and_keep_no_page_of_the_file) {
  if (status_bytes("RssFile") < 0) throw t::Skip("needs /proc/self/status RssFile (Linux 4.5+)");
  Checkpoint c = write_sharded("convert", at::kBFloat16);
  auto bf16 = m::load_causal_lm(c.dir, kCpu, at::kBFloat16);
  m::load_causal_lm(c.dir, kCpu, at::kFloat);  // warm-up
  bf16.reset();                                 // its views were the only mapping
  ::malloc_trim(0);
  const int64_t file0 = status_bytes("RssFile"), anon0 = status_bytes("RssAnon");
  auto f32 = m::load_causal_lm(c.dir, kCpu, at::kFloat);
  const int64_t file = status_bytes("RssFile") - file0, anon = status_bytes("RssAnon") - anon0;
  std::cout << "    bf16 checkpoint " << c.tensor_bytes / 1e6 << " MB loaded as float32: RssAnon +" << anon / 1e6 << " MB, RssFile +"
            << file / 1e6 << " MB\n";
  // (RssAnon is printed only: malloc may reuse what the warm-up freed.)
  ASSERT_TRUE(file < static_cast<int64_t>(c.tensor_bytes / 10));  // no shard left mapped
  auto again = m::load_causal_lm(c.dir, kCpu, at::kBFloat16);
  for (const auto& [n, p] : f32->named_parameters()) {
    ASSERT_TRUE(p.scalar_type() == at::kFloat);
    ASSERT_TRUE(!views_a_mapping(p));
    ASSERT_TRUE(p.equal(again->named_parameters().at(n).to(at::kFloat)));  // bf16 -> f32 is exact
  }
  inseq::core::remove_tree(c.dir);
}

TEST(float32_checkpoints_load_as_views_and_match_the_copying_path) {
  Checkpoint c = write_sharded("f32", at::kFloat);
  auto view = m::load_causal_lm(c.dir, kCpu, at::kFloat);
  auto half = m::load_causal_lm(c.dir, kCpu, at::kHalf);
  for (const auto& [n, p] : view->named_parameters()) ASSERT_TRUE(views_a_mapping(p));
  for (const auto& [n, p] : half->named_parameters()) ASSERT_TRUE(!views_a_mapping(p) && p.scalar_type() == at::kHalf);
  // The converted (copied) weights compute what the views compute, where half precision runs on the CPU
  // (LibTorch 2; Debian's 1.13 converts the weights but has no half matmul).
  if (inseq::core::cpu_half_precision()) {
    const std::vector<int64_t> ids = {1, 7, 300, 4000, 12, 9};
    at::Tensor a = logits_of(*view, ids), b = logits_of(*half, ids);  // [6, vocab]
    const double scale = a.abs().max().item<double>();
    ASSERT_TRUE((a - b).abs().max().item<double>() < 0.02 * scale + 1e-3);
  }
  inseq::core::remove_tree(c.dir);
}

TEST(load_progress_counts_every_tensor_byte_up_to_the_total) {
  Checkpoint c = write_sharded("progress", at::kBFloat16);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  m::load_causal_lm(c.dir, kCpu, at::kBFloat16, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(calls.size() >= 8 * 9 + 3);  // per tensor, then once more when complete
  for (size_t i = 0; i < calls.size(); ++i) {
    ASSERT_EQ(calls[i].second, c.tensor_bytes);
    ASSERT_TRUE(calls[i].first <= calls[i].second);
    if (i > 0) ASSERT_TRUE(calls[i].first >= calls[i - 1].first);
  }
  ASSERT_EQ(calls.back().first, c.tensor_bytes);
  inseq::core::remove_tree(c.dir);
}

TEST(bf16_on_cpu_computes_the_float32_logits_within_bf16_rounding) {
  // Half precision on the CPU (LibTorch 2) against a float32 load of the same bf16 weights.
  if (!inseq::core::cpu_half_precision()) throw t::Skip("half precision on the CPU needs LibTorch 2");
  Checkpoint c = write_sharded("generate", at::kBFloat16);
  auto f32 = m::load_causal_lm(c.dir, kCpu, at::kFloat);
  auto bf16 = m::load_causal_lm(c.dir, kCpu, at::kBFloat16);
  const std::vector<int64_t> ids = {1, 17, 230, 4001, 9};
  at::Tensor a = logits_of(*f32, ids), b = logits_of(*bf16, ids);  // [5, vocab]
  const double diff = (a - b).abs().max().item<double>(), scale = a.abs().max().item<double>();
  std::cout << "    bf16 vs float32 logits: max diff " << diff << " of scale " << scale << "\n";
  ASSERT_TRUE(diff < 0.05 * scale);
  inseq::core::remove_tree(c.dir);
}
