// Native models against golden outputs: llama2.c's stories260K (real trained weights) and tiny random
// checkpoints made by transformers itself (test/fixtures/reference, scripts/reference/make_checkpoints.py).
// All tests run on --device (cpu or cuda); on cuda they also compare with the CPU directly.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/generate.h"
#include "models/safetensors.h"
#include "tests/test.h"

using inseq::core::Json;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

const c10::Device kCpu(c10::kCPU);

// Golden tolerances: 1e-4 on CPU (the acceptance bar); GPU kernels reorder float sums, so 2e-3 there.
double logit_tol() { return t::test_device().is_cuda() ? 2e-3 : 1e-4; }

at::Tensor logits_of(const m::CausalLM& model, const std::vector<int64_t>& ids) {
  c10::InferenceMode guard;
  at::Tensor t_ids = at::tensor(ids, at::kLong).unsqueeze(0);  // [1, seq]
  m::ForwardRequest req;
  req.inputs_embeds = model.embed(t_ids);
  return model.forward(req).logits.squeeze(0).to(kCpu);  // [seq, vocab]
}

std::vector<int64_t> ints(const Json& arr) {
  std::vector<int64_t> out;
  for (const auto& v : arr.as_array()) out.push_back(v.as_int());
  return out;
}

double max_abs_diff_to_json(const at::Tensor& values, const Json& expected) {
  // values: [n] float tensor, expected: JSON array of n numbers
  at::Tensor exp = at::empty({static_cast<int64_t>(expected.size())}, at::kFloat);
  for (size_t i = 0; i < expected.size(); ++i) exp[static_cast<int64_t>(i)] = expected[i].as_double();
  return (values.to(at::kFloat) - exp).abs().max().item<double>();
}

std::string reference_dir(const std::string& name) { return t::repo_dir() + "/test/fixtures/reference/" + name; }

}  // namespace

TEST(stories260k_greedy_and_top5_match_llama2c) {
  const std::string dir = t::shared_fixtures() + "/hf-stories260K";
  Json expected = Json::parse(t::read_file(t::shared_fixtures() + "/stories260K/expected.json"));
  auto model = m::load_causal_lm(dir, t::test_device(), at::kFloat);
  ASSERT_EQ(model->num_parameters(), 260032);
  for (const auto& c : expected["cases"].as_array()) {
    std::vector<int64_t> prompt = ints(c["prompt_token_ids"]);
    std::vector<int64_t> all = ints(c["token_ids"]);
    m::GenerationOptions opts;
    opts.max_new_tokens = c["greedy_steps"].as_int();
    auto out = m::generate(*model, {prompt}, opts);
    std::vector<int64_t> got = prompt;
    got.insert(got.end(), out.sequences[0].begin(), out.sequences[0].end());
    ASSERT_EQ(got.size(), all.size());
    ASSERT_TRUE(got == all);
    at::Tensor last = logits_of(*model, prompt).select(0, -1);  // [vocab]
    for (const auto& pair : c["next_token_logits_top5"].as_array()) {
      ASSERT_NEAR(last[pair[0].as_int()].item<double>(), pair[1].as_double(), logit_tol());
    }
    auto top = std::get<1>(last.topk(5));
    for (int64_t k = 0; k < 5; ++k) ASSERT_EQ(top[k].item<int64_t>(), c["next_token_logits_top5"][k][0].as_int());
  }
}

TEST(kv_cache_forward_equals_full_forward) {
  auto model = m::load_causal_lm(t::shared_fixtures() + "/hf-stories260K", t::test_device(), at::kFloat);
  c10::InferenceMode guard;
  std::vector<int64_t> ids = {1, 403, 407, 261, 378, 432, 383, 286};
  at::Tensor full = logits_of(*model, ids);  // [8, vocab]
  m::KVCache cache;
  at::Tensor t_ids = at::tensor(ids, at::kLong).unsqueeze(0);
  m::ForwardRequest first;
  first.inputs_embeds = model->embed(t_ids.slice(1, 0, 5));
  first.cache = &cache;
  model->forward(first);
  for (int64_t p = 5; p < 8; ++p) {
    m::ForwardRequest step;
    step.inputs_embeds = model->embed(t_ids.slice(1, p, p + 1));
    step.cache = &cache;
    at::Tensor l = model->forward(step).logits.squeeze(0).squeeze(0).to(kCpu);  // [vocab]
    ASSERT_TRUE((l - full[p]).abs().max().item<double>() < 1e-4);
  }
}

TEST(batched_generation_equals_one_by_one) {
  auto model = m::load_causal_lm(t::shared_fixtures() + "/hf-stories260K", t::test_device(), at::kFloat);
  std::vector<std::vector<int64_t>> prompts = {{1, 403, 407, 261, 378}, {1, 365}, {1, 403, 407, 261, 378, 432, 383, 286, 261}};
  m::GenerationOptions opts;
  opts.max_new_tokens = 24;
  opts.eos_token_ids = {2};
  auto batched = m::generate(*model, prompts, opts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto single = m::generate(*model, {prompts[i]}, opts);
    ASSERT_TRUE(single.sequences[0] == batched.sequences[i]);
  }
  // Sampling with a seed is reproducible and respects top-k = 1 (== greedy).
  m::GenerationOptions s = opts;
  s.do_sample = true;
  s.seed = 7;
  s.temperature = 0.8;
  s.top_p = 0.9;
  auto a = m::generate(*model, prompts, s);
  auto b = m::generate(*model, prompts, s);
  ASSERT_TRUE(a.sequences == b.sequences);
  s.top_k = 1;
  auto k1 = m::generate(*model, prompts, s);
  ASSERT_TRUE(k1.sequences == batched.sequences);
}

TEST(generation_stops_at_any_eos_id) {
  auto model = m::load_causal_lm(t::shared_fixtures() + "/hf-stories260K", t::test_device(), at::kFloat);
  m::GenerationOptions opts;
  opts.max_new_tokens = 64;
  auto free_run = m::generate(*model, {{1, 403, 407, 261, 378}}, opts).sequences[0];
  // Declare the 3rd and 5th generated tokens as EOS ids: generation must stop at the first of them.
  opts.eos_token_ids = {free_run[4], free_run[2]};
  auto stopped = m::generate(*model, {{1, 403, 407, 261, 378}}, opts).sequences[0];
  size_t first = 0;
  while (first < free_run.size() && free_run[first] != free_run[2] && free_run[first] != free_run[4]) ++first;
  ASSERT_EQ(stopped.size(), first + 1);
  ASSERT_THROWS_CODE(m::generate(*model, {{}}, opts), inseq::core::ErrorCode::kInvalidOption, "non-empty prompt");
  opts.max_new_tokens = -1;
  ASSERT_THROWS_CODE(m::generate(*model, {{1}}, opts), inseq::core::ErrorCode::kInvalidOption, "maxNewTokens");
}

TEST(transformers_reference_checkpoints_match) {
  const std::vector<std::string> names = {"gpt2",  "llama",  "qwen2",  "mistral", "llama-sharded", "llama-bf16", "gpt2-f16",
                                           "gemma", "gemma2", "gemma2-nocap", "gemma3", "gemma3-hd12",
                                           "qwen3", "qwen3-bias", "olmo2", "phi3", "phi3-longrope", "gpt_neox", "gpt_neox-sequential"};
  int checked = 0;
  for (const auto& name : names) {
    const std::string dir = reference_dir(name);
    if (!t::file_exists(dir + "/golden.json")) throw t::Failure("missing golden " + dir + "/golden.json");
    Json g = Json::parse(t::read_file(dir + "/golden.json"));
    auto model = m::load_causal_lm(dir, t::test_device(), at::kFloat);
    const auto& prompts = g["prompts"].as_array();
    std::vector<std::vector<int64_t>> prompt_ids;
    for (size_t p = 0; p < prompts.size(); ++p) {
      std::vector<int64_t> ids = ints(prompts[p]["ids"]);
      prompt_ids.push_back(ids);
      at::Tensor logits = logits_of(*model, ids);  // [seq, vocab]
      for (int64_t pos = 0; pos < logits.size(0); ++pos) {
        double d = max_abs_diff_to_json(logits[pos], g["logits"][p][pos]);
        if (d > logit_tol()) throw t::Failure(name + ": logits differ by " + std::to_string(d) + " at prompt " + std::to_string(p) + " position " + std::to_string(pos));
      }
      m::GenerationOptions opts;
      opts.max_new_tokens = static_cast<int64_t>(g["greedy"][p].size());
      auto out = m::generate(*model, {ids}, opts);
      if (out.sequences[0] != ints(g["greedy"][p])) throw t::Failure(name + ": greedy tokens differ for prompt " + std::to_string(p));
    }
    m::GenerationOptions opts;
    opts.max_new_tokens = static_cast<int64_t>(g["greedy_batched"][0].size());
    auto batched = m::generate(*model, prompt_ids, opts);
    for (size_t p = 0; p < prompts.size(); ++p) {
      if (batched.sequences[p] != ints(g["greedy_batched"][p])) throw t::Failure(name + ": batched greedy tokens differ for prompt " + std::to_string(p));
    }
    // Internals: attention probabilities of layer 0 and the last hidden state for prompt 2.
    {
      c10::InferenceMode guard;
      m::ForwardRequest req;
      req.inputs_embeds = model->embed(at::tensor(prompt_ids[2], at::kLong).unsqueeze(0));
      req.output_attentions = true;
      req.output_hidden_states = true;
      auto out = model->forward(req);
      ASSERT_EQ(static_cast<int64_t>(out.attentions.size()), model->config().num_layers);
      ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), model->config().num_layers + 1);
      at::Tensor att = out.attentions[0].squeeze(0).to(kCpu);  // [heads, q, k]
      const Json& ga = g["attentions_layer0_prompt2"];
      for (int64_t h = 0; h < att.size(0); ++h)
        for (int64_t q = 0; q < att.size(1); ++q) ASSERT_TRUE(max_abs_diff_to_json(att[h][q], ga[h][q]) < logit_tol());
      at::Tensor hs = out.hidden_states.back().squeeze(0).to(kCpu);  // [seq, hidden]
      for (int64_t q = 0; q < hs.size(0); ++q) ASSERT_TRUE(max_abs_diff_to_json(hs[q], g["hidden_states_last_prompt2"][q]) < logit_tol());
    }
    ++checked;
  }
  ASSERT_EQ(checked, static_cast<int>(names.size()));
}

TEST(cuda_matches_cpu_logits_and_generations) {
  if (!t::test_device().is_cuda()) throw t::Skip("runs with --device cuda (scripts/gpu-check)");
  for (const std::string dir : {t::shared_fixtures() + "/hf-stories260K", reference_dir("gpt2"), reference_dir("llama"), reference_dir("qwen2"),
                                reference_dir("gemma2"), reference_dir("gemma3"), reference_dir("gpt_neox")}) {
    auto cpu = m::load_causal_lm(dir, kCpu, at::kFloat);
    auto gpu = m::load_causal_lm(dir, t::test_device(), at::kFloat);
    std::vector<int64_t> ids = {1, 5, 9, 12, 7, 3, 11, 2, 8};
    double d = (logits_of(*cpu, ids) - logits_of(*gpu, ids)).abs().max().item<double>();
    std::cout << "    " << dir << ": max |cuda - cpu| logit diff " << d << "\n";
    ASSERT_TRUE(d < 2e-3);
    m::GenerationOptions opts;
    opts.max_new_tokens = 32;
    ASSERT_TRUE(m::generate(*cpu, {ids, {1, 4}}, opts).sequences == m::generate(*gpu, {ids, {1, 4}}, opts).sequences);
    for (auto dtype : {at::kHalf, at::kBFloat16}) {
      auto half = m::load_causal_lm(dir, t::test_device(), dtype);
      at::Tensor hl = logits_of(*half, ids), fl = logits_of(*cpu, ids);
      double hd = (hl - fl).abs().max().item<double>();
      double agree = hl.argmax(-1).eq(fl.argmax(-1)).to(at::kFloat).mean().item<double>();
      std::cout << "    " << dir << " " << c10::toString(dtype) << ": max logit diff " << hd << ", argmax agreement " << agree << "\n";
      ASSERT_TRUE(agree >= 0.75);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// GPT-NeoX: what the two transformers checkpoints above do not show (config spellings, buffers, tying, dropout).
// ---------------------------------------------------------------------------------------------------------------

namespace {

const char* kNeoxBase = R"("model_type": "gpt_neox", "vocab_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
  "num_attention_heads": 4, "intermediate_size": 12)";

m::ModelConfig neox_config(const std::string& extra) {
  return m::parse_model_config(Json::parse("{" + std::string(kNeoxBase) + (extra.empty() ? "" : ", " + extra) + "}"), "x/config.json");
}

// A copy of the gpt_neox reference checkpoint whose config.json is `edit`ed and whose weights are `params`.
std::string neox_variant(const std::string& name, const std::function<void(std::string&)>& edit,
                         const std::map<std::string, at::Tensor>& params) {
  const std::string dir = inseq::core::make_temp_dir("inseq-cpp-neox-" + name);
  std::string config = t::read_file(reference_dir("gpt_neox") + "/config.json");
  edit(config);
  std::ofstream(dir + "/config.json", std::ios::binary) << config;
  m::save_safetensors(dir + "/model.safetensors", params);
  return dir;
}

// `text` with the first `from` replaced by `to` (the key must be there).
void replace_in(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw t::Failure("config.json has no " + from);
  text.replace(at, from.size(), to);
}

}  // namespace

TEST(gpt_neox_config_reads_pythia_and_transformers5_spellings) {
  // Pythia's config.json (transformers 4): rotary_pct / rotary_emb_base / rope_scaling null at the top level.
  m::ModelConfig c = neox_config(R"("rotary_pct": 0.25, "rotary_emb_base": 10000, "rope_scaling": null, "head_dim": 3)");
  ASSERT_EQ(c.family, std::string("gpt_neox"));
  ASSERT_EQ(c.head_dim, 8);  // hidden / heads: transformers ignores head_dim for this family
  ASSERT_EQ(c.num_kv_heads, 4);
  ASSERT_EQ(rope_dim(c), 2);
  ASSERT_NEAR(c.rope.theta, 10000.0, 0);
  ASSERT_TRUE(c.parallel_residual && c.qkv_bias && c.o_bias && !c.tie_word_embeddings);
  ASSERT_EQ(c.hidden_act, std::string("gelu"));
  ASSERT_NEAR(c.norm_eps, 1e-5, 0);
  // transformers' defaults: a quarter of each head rotates.
  ASSERT_EQ(rope_dim(neox_config("")), 2);
  // transformers 5 writes rope_parameters; top-level rope_theta / partial_rotary_factor are not read for this family.
  c = neox_config(R"("rope_parameters": {"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.5},
    "rope_theta": 7.0, "partial_rotary_factor": 1.0, "rotary_pct": 1.0, "use_parallel_residual": false, "attention_bias": false,
    "layer_norm_eps": 1e-6, "hidden_act": "gelu_fast", "tie_word_embeddings": true)");
  ASSERT_NEAR(c.rope.theta, 500.0, 0);
  ASSERT_EQ(rope_dim(c), 4);
  ASSERT_TRUE(!c.parallel_residual && !c.qkv_bias && !c.o_bias && c.tie_word_embeddings);
  ASSERT_NEAR(c.norm_eps, 1e-6, 0);
  // A non-empty rope_scaling object wins over rope_parameters; what it does not name comes from the legacy keys.
  c = neox_config(R"("rope_scaling": {"type": "linear", "factor": 2.0}, "rope_parameters": {"rope_theta": 1.0},
    "rotary_emb_base": 123, "rotary_pct": 1.0)");
  ASSERT_EQ(c.rope.type, std::string("linear"));
  ASSERT_NEAR(c.rope.factor, 2.0, 0);
  ASSERT_NEAR(c.rope.theta, 123.0, 0);
  ASSERT_EQ(rope_dim(c), 8);
  // Values that cannot be right name the key they were read from.
  using inseq::core::ErrorCode;
  ASSERT_THROWS_CODE(neox_config(R"("rotary_pct": 1.5)"), ErrorCode::kBadCheckpoint, "rotary_pct must be a number between 0 and 1");
  ASSERT_THROWS_CODE(neox_config(R"("rope_parameters": {"partial_rotary_factor": -0.5})"), ErrorCode::kBadCheckpoint,
                     "rope_parameters.partial_rotary_factor must be a number between 0 and 1");
  ASSERT_THROWS_CODE(neox_config(R"("rotary_emb_base": 0)"), ErrorCode::kBadCheckpoint, "rotary_emb_base must be a positive number");
  ASSERT_THROWS_CODE(neox_config(R"("rope_parameters": {"rope_theta": -1})"), ErrorCode::kBadCheckpoint, "rope_parameters.rope_theta must be a positive number");
  ASSERT_THROWS_CODE(neox_config(R"("layer_norm_eps": -1)"), ErrorCode::kBadCheckpoint, "layer_norm_eps must be a finite non-negative number");
  ASSERT_THROWS_CODE(neox_config(R"("num_attention_heads": 3)"), ErrorCode::kBadCheckpoint, "num_attention_heads 3 does not divide the width hidden_size = 32");
  ASSERT_THROWS_CODE(neox_config(R"("hidden_act": "tanh")"), ErrorCode::kUnsupportedModel, "hidden_act \"tanh\" is not supported");
  ASSERT_THROWS_CODE(m::parse_model_config(Json::parse(R"({"model_type": "gpt_neox", "vocab_size": 16, "hidden_size": 12,
    "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 12, "rotary_pct": 1.0})"), "x/config.json"),
                     ErrorCode::kBadCheckpoint, "rotary_pct gives 3 rotary dims, an odd number that rounds up past head_dim 3");
}

TEST(gpt_neox_skips_old_buffers_ties_its_head_and_refuses_unused_tensors) {
  using inseq::core::ErrorCode;
  auto ref = m::load_causal_lm(reference_dir("gpt_neox"), t::test_device(), at::kFloat);
  std::map<std::string, at::Tensor> params;
  for (const auto& [name, p] : ref->named_parameters()) params[name] = p.to(kCpu);
  // named_parameters() gives back the checkpoint's own names (embed_out, the fused query_key_value...).
  std::vector<std::string> stored = m::WeightStore::open_dir(reference_dir("gpt_neox")).names(), ours;
  for (const auto& kv : params) ours.push_back(kv.first);
  std::sort(stored.begin(), stored.end());
  ASSERT_TRUE(stored == ours);
  const std::vector<int64_t> ids = {5, 80, 17, 230, 9, 41};
  at::Tensor want = logits_of(*ref, ids);  // [6, vocab]
  // Buffers of transformers 4 checkpoints: the causal mask, its fill value and the rotary frequencies.
  auto with_buffers = params;
  with_buffers["gpt_neox.layers.0.attention.bias"] = at::ones({1, 1, 4, 4});
  with_buffers["gpt_neox.layers.1.attention.masked_bias"] = at::full({}, -1e9);
  with_buffers["gpt_neox.layers.1.attention.rotary_emb.inv_freq"] = at::ones({1});
  std::string dir = neox_variant("buffers", [](std::string&) {}, with_buffers);
  ASSERT_TRUE(logits_of(*m::load_causal_lm(dir, t::test_device(), at::kFloat), ids).equal(want));
  inseq::core::remove_tree(dir);
  // tie_word_embeddings: embed_out is skipped (as transformers ties it away) and embed_in is the head.
  dir = neox_variant("tied", [](std::string& c) { replace_in(c, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"); }, params);
  {
    auto tied = m::load_causal_lm(dir, t::test_device(), at::kFloat);
    ASSERT_TRUE(tied->named_parameters().count("embed_out.weight") == 0);
    c10::InferenceMode guard;
    m::ForwardRequest req;
    req.inputs_embeds = tied->embed(at::tensor(ids, at::kLong).unsqueeze(0));
    req.output_hidden_states = true;
    auto out = tied->forward(req);
    at::Tensor head = at::linear(out.hidden_states.back(), params["gpt_neox.embed_in.weight"].to(t::test_device()));  // [1, 6, vocab]
    ASSERT_TRUE(out.logits.sub(head).abs().max().item<double>() < 1e-5);
    ASSERT_TRUE(out.logits.squeeze(0).to(kCpu).sub(want).abs().max().item<double>() > 1.0);  // not the untied head
  }
  inseq::core::remove_tree(dir);
  // A head the config says is untied must be there.
  auto headless = params;
  headless.erase("embed_out.weight");
  dir = neox_variant("headless", [](std::string&) {}, headless);
  ASSERT_THROWS_CODE(m::load_causal_lm(dir, kCpu, at::kFloat), ErrorCode::kBadCheckpoint, "has no embed_out.weight");
  inseq::core::remove_tree(dir);
  // Biases attention_bias false would drop, and blocks beyond num_hidden_layers, are refused.
  dir = neox_variant("nobias", [](std::string& c) { replace_in(c, "\"attention_bias\": true", "\"attention_bias\": false"); }, params);
  ASSERT_THROWS_CODE(m::load_causal_lm(dir, kCpu, at::kFloat), ErrorCode::kBadCheckpoint, "does not use (gpt_neox.layers.0.attention.dense.bias");
  inseq::core::remove_tree(dir);
  dir = neox_variant("layers", [](std::string& c) { replace_in(c, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"); }, params);
  ASSERT_THROWS_CODE(m::load_causal_lm(dir, kCpu, at::kFloat), ErrorCode::kBadCheckpoint,
                     "num_hidden_layers is 1 but the checkpoint has block 1 (gpt_neox.layers.1.");
  inseq::core::remove_tree(dir);
}

TEST(gpt_neox_dropout_applies_in_training_mode_only) {
  // The reference checkpoint with hidden_dropout (embeddings, attention and MLP outputs) or attention_dropout
  // (attention probabilities) set: evaluation gives the reference logits, training mode other ones at each call.
  auto ref = m::load_causal_lm(reference_dir("gpt_neox"), t::test_device(), at::kFloat);
  std::map<std::string, at::Tensor> params;
  for (const auto& [name, p] : ref->named_parameters()) params[name] = p.to(kCpu);
  const std::vector<int64_t> ids = {5, 80, 17, 230, 9, 41};
  at::Tensor want = logits_of(*ref, ids);
  ref->set_training(true);
  ASSERT_TRUE(logits_of(*ref, ids).equal(want));  // both rates 0 in the checkpoint: nothing to drop
  for (const std::string key : {"hidden_dropout", "attention_dropout"}) {
    const std::string dir = neox_variant(key, [&](std::string& c) { replace_in(c, "\"" + key + "\": 0.0", "\"" + key + "\": 0.5"); }, params);
    auto model = m::load_causal_lm(dir, t::test_device(), at::kFloat);
    ASSERT_TRUE(logits_of(*model, ids).sub(want).abs().max().item<double>() < 1e-5);
    model->set_training(true);
    at::manual_seed(1);
    at::Tensor a = logits_of(*model, ids);
    at::Tensor b = logits_of(*model, ids);
    if (!(a.sub(want).abs().max().item<double>() > 1e-2 && a.sub(b).abs().max().item<double>() > 1e-2)) {
      throw t::Failure(key + ": training mode did not drop anything");
    }
    model->set_training(false);
    ASSERT_TRUE(logits_of(*model, ids).sub(want).abs().max().item<double>() < 1e-5);
    inseq::core::remove_tree(dir);
  }
}
