// Qwen3, OLMo 2 and Phi-3 as config switches of the native Llama family: every ForwardRequest feature on the
// transformers reference checkpoints (test/fixtures/reference/{qwen3,qwen3-bias,olmo2,phi3,phi3-longrope}),
// their config rules, LongRoPE's short/long switch and the generation cache rebuild. Logits against
// transformers themselves: model_tests.cc transformers_reference_checkpoints_match.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/generate.h"
#include "models/layers.h"
#include "models/rope.h"
#include "models/safetensors.h"
#include "tests/test.h"

using inseq::core::ErrorCode;
using inseq::core::Json;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

const c10::Device kCpu(c10::kCPU);
const std::vector<std::string> kVariants = {"qwen3", "qwen3-bias", "olmo2", "phi3", "phi3-longrope"};

std::string variant_dir(const std::string& name) { return t::repo_dir() + "/test/fixtures/reference/" + name; }

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a.to(kCpu) - b.to(kCpu)).abs().max().item<double>(); }

// Tokens [1, n] (ids 5..): phi3-longrope runs everything beyond original_max_position_embeddings = 8 so that
// one forward and its pieces take the same (long) factors.
at::Tensor ids_of(int64_t n, int64_t offset = 5) { return at::arange(offset, offset + n, at::kLong).unsqueeze(0); }

m::ForwardResult run(const m::CausalLM& model, const at::Tensor& ids, const std::function<void(m::ForwardRequest&)>& setup = {}) {
  m::ForwardRequest r;
  r.inputs_embeds = model.embed(ids);
  if (setup) setup(r);
  return model.forward(r);
}

m::ModelConfig config_of(const std::string& text) { return m::parse_model_config(Json::parse(text), "x/config.json"); }

}  // namespace

TEST(llama_variants_kv_cache_padding_and_logit_selection_equal_the_full_forward) {
  for (const auto& name : kVariants) {
    auto model = m::load_causal_lm(variant_dir(name), t::test_device(), at::kFloat);
    c10::InferenceMode guard;
    const int64_t n = 14;
    at::Tensor ids = ids_of(n);
    at::Tensor full = run(*model, ids).logits;  // [1, n, vocab]
    // KV cache: 10 tokens, then one at a time.
    m::KVCache cache;
    run(*model, ids.slice(1, 0, 10), [&](m::ForwardRequest& r) { r.cache = &cache; });
    for (int64_t p = 10; p < n; ++p) {
      at::Tensor l = run(*model, ids.slice(1, p, p + 1), [&](m::ForwardRequest& r) { r.cache = &cache; }).logits;  // [1, 1, V]
      if (max_diff(l[0][0], full[0][p]) > 1e-4) throw t::Failure(name + ": cached step " + std::to_string(p) + " differs");
    }
    // Left padding: a row of 11 real tokens padded to 14 next to the full row gives the 11-token logits.
    at::Tensor short_ids = ids_of(11, 20);
    at::Tensor alone = run(*model, short_ids).logits;  // [1, 11, V]
    at::Tensor batch_ids = at::cat({at::cat({at::zeros({1, 3}, at::kLong), short_ids}, 1), ids}, 0);  // [2, 14]
    at::Tensor mask = at::ones({2, n}, at::kLong);
    mask[0].slice(0, 0, 3).zero_();
    at::Tensor both = run(*model, batch_ids, [&](m::ForwardRequest& r) { r.attention_mask = mask.to(model->device()); }).logits;
    if (max_diff(both[0].slice(0, 3), alone[0]) > 1e-4) throw t::Failure(name + ": left-padded row differs");
    if (max_diff(both[1], full[0]) > 1e-4) throw t::Failure(name + ": unpadded row of the batch differs");
    // Explicit position ids equal to the derived ones change nothing.
    at::Tensor pos = at::arange(n, at::kLong).unsqueeze(0).to(model->device());
    ASSERT_TRUE(max_diff(run(*model, ids, [&](m::ForwardRequest& r) { r.position_ids = pos; }).logits, full) == 0);
    // logits_to_keep / logits_positions select rows of the full logits.
    ASSERT_TRUE(max_diff(run(*model, ids, [](m::ForwardRequest& r) { r.logits_to_keep = 2; }).logits[0], full[0].slice(0, n - 2)) < 1e-5);
    at::Tensor sel = at::tensor(std::vector<int64_t>{1, 7, 12}, at::kLong).unsqueeze(0).to(model->device());
    at::Tensor picked = run(*model, ids, [&](m::ForwardRequest& r) { r.logits_positions = sel; }).logits[0];  // [3, V]
    ASSERT_TRUE(max_diff(picked, full[0].index_select(0, sel[0].to(full.device()))) < 1e-5);
  }
}

TEST(llama_variants_attentions_hidden_states_and_hooks) {
  for (const auto& name : kVariants) {
    auto model = m::load_causal_lm(variant_dir(name), t::test_device(), at::kFloat);
    c10::InferenceMode guard;
    const int64_t n = 12, L = model->config().num_layers;
    at::Tensor ids = ids_of(n);
    auto plain = run(*model, ids, [](m::ForwardRequest& r) { r.output_attentions = r.output_hidden_states = true; });
    ASSERT_EQ(static_cast<int64_t>(plain.attentions.size()), L);
    ASSERT_EQ(static_cast<int64_t>(plain.hidden_states.size()), L + 1);
    ASSERT_TRUE(max_diff(plain.hidden_states[0], model->embed(ids)) == 0);  // the embeddings first
    // Causal rows sum to 1 and see no later key; qwen3's sliding layer 1 (window 4) sees the last 4 keys only.
    for (int64_t l = 0; l < L; ++l) {
      at::Tensor a = plain.attentions[l].to(kCpu)[0];  // [heads, n, n]
      ASSERT_TRUE((a.sum(-1) - 1).abs().max().item<double>() < 1e-5);
      ASSERT_TRUE(a.triu(1).abs().max().item<double>() == 0);
      if (name == "qwen3" && l == 1) ASSERT_TRUE(a.tril(-4).abs().max().item<double>() == 0);
      if (name == "qwen3" && l == 0) ASSERT_TRUE(a.tril(-4).abs().max().item<double>() > 0);
    }
    // Query blocks with attention_rows give the same rows and logits.
    at::Tensor rows = at::tensor(std::vector<int64_t>{0, 5, 11}, at::kLong).to(model->device());
    auto blocked = run(*model, ids, [&](m::ForwardRequest& r) {
      r.output_attentions = true;
      r.attention_rows = rows;
      r.attention_query_block = 4;
    });
    ASSERT_TRUE(max_diff(blocked.logits, plain.logits) < 1e-5);
    for (int64_t l = 0; l < L; ++l) ASSERT_TRUE(max_diff(blocked.attentions[l], plain.attentions[l].index_select(2, rows)) < 1e-6);
    // Hooks: identity hooks change nothing; zeroing layer 0's values or a block's output changes the logits.
    auto same = run(*model, ids, [](m::ForwardRequest& r) {
      r.value_hook = [](int64_t, const at::Tensor& v) { return v; };
      r.layer_output_hook = [](int64_t, const at::Tensor& h) { return h; };
    });
    ASSERT_TRUE(max_diff(same.logits, plain.logits) == 0);
    int64_t value_calls = 0;
    auto zeroed = run(*model, ids, [&](m::ForwardRequest& r) {
      r.value_hook = [&](int64_t layer, const at::Tensor& v) {
        ++value_calls;
        ASSERT_EQ(v.size(1), model->config().num_kv_heads);  // [b, kv, s, hd]
        ASSERT_EQ(v.size(3), model->config().head_dim);
        return layer == 0 ? at::zeros_like(v) : v;
      };
    });
    ASSERT_EQ(value_calls, L);
    ASSERT_TRUE(max_diff(zeroed.logits, plain.logits) > 1e-3);
    auto replaced = run(*model, ids, [&](m::ForwardRequest& r) {
      r.layer_output_hook = [&](int64_t layer, const at::Tensor& h) { return layer == L - 1 ? plain.hidden_states[1].clone() : h; };
    });
    ASSERT_TRUE(max_diff(replaced.logits, plain.logits) > 1e-3);
  }
}

TEST(llama_variants_checkpoint_blocks_give_the_same_gradient_and_parameters_keep_hf_names) {
  for (const auto& name : kVariants) {
    auto model = m::load_causal_lm(variant_dir(name), kCpu, at::kFloat);
    ASSERT_TRUE(model->capabilities().block_recompute);
    ASSERT_EQ(model->capabilities().prefix_cache, name != "phi3-longrope");
    at::Tensor grads[2];
    for (int on = 0; on < 2; ++on) {
      at::Tensor x = model->embed(ids_of(12)).detach().requires_grad_(true);
      m::ForwardRequest r;
      r.inputs_embeds = x;
      r.checkpoint_blocks = on == 1;
      at::Tensor f = model->forward(r).logits.select(1, -1).select(1, 3).sum();
      grads[on] = torch::autograd::grad({f}, {x})[0];
    }
    ASSERT_TRUE(grads[0].abs().max().item<double>() > 0);
    ASSERT_TRUE(max_diff(grads[0], grads[1]) < 1e-6);
    // named_parameters() are the checkpoint's tensors under their names (fused phi3 projections included).
    auto weights = m::WeightStore::open_dir(variant_dir(name));
    std::set<std::string> names;
    for (const auto& [n, p] : model->named_parameters()) {
      names.insert(n);
      if (!weights.contains(n)) throw t::Failure(name + ": parameter " + n + " is not in the checkpoint");
      ASSERT_TRUE(max_diff(p, weights.load(n, p.sizes().vec(), at::kFloat, kCpu)) == 0);
    }
    const bool phi3 = name.rfind("phi3", 0) == 0, olmo2 = name == "olmo2";
    ASSERT_EQ(names.count("model.layers.1.self_attn.qkv_proj.weight"), static_cast<size_t>(phi3));
    ASSERT_EQ(names.count("model.layers.1.mlp.gate_up_proj.weight"), static_cast<size_t>(phi3));
    ASSERT_EQ(names.count("model.layers.1.self_attn.q_proj.weight"), static_cast<size_t>(!phi3));
    ASSERT_EQ(names.count("model.layers.1.self_attn.q_norm.weight"), static_cast<size_t>(!phi3));
    ASSERT_EQ(names.count("model.layers.1.input_layernorm.weight"), static_cast<size_t>(!olmo2));
    ASSERT_EQ(names.count("model.layers.1.post_feedforward_layernorm.weight"), static_cast<size_t>(olmo2));
    ASSERT_EQ(names.count("model.layers.1.self_attn.o_proj.bias"), static_cast<size_t>(name == "qwen3-bias"));
  }
}

TEST(llama_variants_dropout_in_training_mode_only) {
  // Phi-3's resid_pdrop and every variant's attention_dropout act in training mode only.
  auto c = config_of(R"({"model_type": "phi3", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 32, "resid_pdrop": 0.5,
      "max_position_embeddings": 64})");
  ASSERT_NEAR(c.hidden_dropout, 0.5, 0);
  auto model = m::init_causal_lm(c, 3, kCpu);
  at::Tensor ids = ids_of(6, 1);
  at::Tensor eval1 = run(*model, ids).logits, eval2 = run(*model, ids).logits;
  ASSERT_TRUE(max_diff(eval1, eval2) == 0);
  model->set_training(true);
  at::Tensor train = run(*model, ids).logits;
  model->set_training(false);
  ASSERT_TRUE(max_diff(train, eval1) > 0);
}

TEST(llama_variants_fused_attention_plan_matches_the_explicit_one) {
  if (!m::fused_attention_available()) throw t::Skip("this LibTorch has no fused attention");
  for (const char* type : {"qwen3", "olmo2", "phi3"}) {
    auto c = config_of(std::string(R"({"model_type": ")") + type + R"(", "vocab_size": 32, "hidden_size": 16,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4,
        "intermediate_size": 32, "max_position_embeddings": 2048})");
    auto model = m::init_causal_lm(c, 5, kCpu);
    c10::InferenceMode guard;
    const int64_t n = m::kFusedAttentionMinTokens;
    at::Tensor ids = at::remainder(at::arange(n, at::kLong).mul(7), 32).unsqueeze(0);  // [1, n]
    at::Tensor rows = at::tensor(std::vector<int64_t>{0, n / 2, n - 1}, at::kLong);
    auto fused = run(*model, ids, [&](m::ForwardRequest& r) { r.output_attentions = true; r.attention_rows = rows; });
    // A mask of ones forces the explicit plan (attention_plan: no fused kernel with a padding mask).
    auto explicit_ = run(*model, ids, [&](m::ForwardRequest& r) { r.attention_mask = at::ones({1, n}, at::kLong); r.output_attentions = true; });
    ASSERT_TRUE(max_diff(fused.logits, explicit_.logits) < 1e-4);
    for (size_t l = 0; l < fused.attentions.size(); ++l) {
      ASSERT_TRUE(max_diff(fused.attentions[l], explicit_.attentions[l].index_select(2, rows)) < 1e-5);
    }
  }
}

TEST(llama_variants_config_rules) {
  const std::string base = R"("vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 3, "num_attention_heads": 2,
      "intermediate_size": 16)";
  auto cfg = [&](const std::string& type, const std::string& extra) {
    return config_of("{\"model_type\": \"" + type + "\", " + base + (extra.empty() ? "" : ", " + extra) + "}");
  };
  // Qwen3Config defaults: head_dim 128 (no divisibility of the width), untied, no windows without use_sliding_window.
  auto q = cfg("qwen3", "");
  ASSERT_EQ(q.head_dim, 128);
  ASSERT_TRUE(!q.tie_word_embeddings && q.qk_norm_per_head && !q.qkv_bias && !q.o_bias);
  ASSERT_TRUE(q.layer_sliding_windows == std::vector<int64_t>({0, 0, 0}));
  ASSERT_EQ(cfg("qwen3", R"("attention_bias": true)").o_bias, true);
  // max_window_layers decides without layer_types; layer_types decide when written.
  auto w = cfg("qwen3", R"("use_sliding_window": true, "sliding_window": 5, "max_window_layers": 1)");
  ASSERT_TRUE(w.layer_sliding_windows == std::vector<int64_t>({0, 5, 5}));
  ASSERT_EQ(w.sliding_window, 5);
  auto lt = cfg("qwen3", R"("use_sliding_window": true, "sliding_window": 5, "layer_types": ["sliding_attention", "full_attention", "full_attention"])");
  ASSERT_TRUE(lt.layer_sliding_windows == std::vector<int64_t>({5, 0, 0}));
  ASSERT_EQ(cfg("qwen3", R"("use_sliding_window": false, "sliding_window": 5, "max_window_layers": 0)").sliding_window, 0);
  ASSERT_THROWS_CODE(cfg("qwen3", R"("layer_types": ["full_attention"])"), ErrorCode::kBadCheckpoint, "layer_types");
  ASSERT_THROWS_CODE(cfg("qwen3", R"("layer_types": ["full_attention", "local", "full_attention"])"), ErrorCode::kBadCheckpoint,
                     "layer_types[1]");
  ASSERT_THROWS_CODE(cfg("qwen3", R"("layer_types": ["full_attention", "sliding_attention", "full_attention"])"),
                     ErrorCode::kBadCheckpoint, "no sliding_window");
  // OLMo 2 and Phi-3 defaults.
  auto o = cfg("olmo2", R"("attention_bias": true)");
  ASSERT_TRUE(o.post_norm_blocks && o.qk_norm_full && o.qkv_bias && o.o_bias && o.head_dim == 4);
  ASSERT_NEAR(o.norm_eps, 1e-5, 0);
  auto p = cfg("phi3", R"("attention_bias": true, "sliding_window": 7)");
  ASSERT_TRUE(p.fused_projections && !p.qkv_bias && !p.o_bias && p.sliding_window == 7);
  ASSERT_EQ(p.max_position_embeddings, 4096);
  ASSERT_EQ(p.regenerate_cache_after, 4096);
  ASSERT_NEAR(p.rope.partial_rotary_factor, 1.0, 0);
  ASSERT_NEAR(cfg("phi3", R"("rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5})").rope.partial_rotary_factor, 0.5, 0);
  ASSERT_THROWS_CODE(cfg("phi3", R"("rope_parameters": {"rope_type": "default", "partial_rotary_factor": 1.5})"),
                     ErrorCode::kBadCheckpoint, "partial_rotary_factor");
  // LongRoPE: the top-level original_max_position_embeddings wins for phi3; factor = max / original; attention
  // factor sqrt(1 + ln(factor) / ln(original)); factor lists of rotary dims / 2 entries.
  auto lr = cfg("phi3", R"("max_position_embeddings": 64, "original_max_position_embeddings": 16,
      "rope_parameters": {"rope_type": "longrope", "short_factor": [1, 1], "long_factor": [2, 3], "original_max_position_embeddings": 32})");
  ASSERT_EQ(lr.rope.original_max_position_embeddings, 16);
  ASSERT_NEAR(lr.rope.factor, 4.0, 1e-12);
  ASSERT_NEAR(lr.rope.attention_factor, std::sqrt(1 + std::log(4.0) / std::log(16.0)), 1e-12);
  // Legacy "su" (renamed after transformers' override) keeps the rope dict's length; generation's cache rebuild
  // reads the top-level attribute (default 4096) either way.
  auto su = cfg("phi3", R"("max_position_embeddings": 64, "rope_scaling": {"type": "su", "short_factor": [1, 1],
      "long_factor": [2, 3], "attention_factor": 1.25, "original_max_position_embeddings": 32})");
  ASSERT_EQ(su.rope.type, std::string("longrope"));
  ASSERT_EQ(su.rope.original_max_position_embeddings, 32);
  ASSERT_EQ(su.regenerate_cache_after, 4096);
  ASSERT_NEAR(su.rope.attention_factor, 1.25, 0);
  ASSERT_THROWS_CODE(cfg("phi3", R"("rope_parameters": {"rope_type": "longrope", "short_factor": [1], "long_factor": [2, 3]})"),
                     ErrorCode::kBadCheckpoint, "short_factor must have 2 entries");
  ASSERT_THROWS_CODE(cfg("phi3", R"("rope_parameters": {"rope_type": "longrope", "short_factor": [1, 1], "long_factor": [2, -3]})"),
                     ErrorCode::kBadCheckpoint, "long_factor must hold positive numbers");
  ASSERT_THROWS_CODE(cfg("phi3", R"("rope_parameters": {"rope_type": "longrope", "short_factor": [1, 1]})"),
                     ErrorCode::kBadCheckpoint, "long_factor");
}

TEST(longrope_switches_factor_sets_on_the_largest_position_of_the_batch) {
  auto model = m::load_causal_lm(variant_dir("phi3-longrope"), kCpu, at::kFloat);
  const m::ModelConfig& c = model->config();
  m::RopeTables tables = m::rope_tables(c);
  ASSERT_EQ(tables.switch_length, 8);
  ASSERT_NEAR(tables.attention_factor, std::sqrt(2.0), 1e-12);  // factor 64 / 8, ln 8 / ln 8
  // inv_freq_i = 1 / (factor_i * theta^(2i / d)): d = 8, theta 10000.
  for (int64_t i = 0; i < 4; ++i) {
    const double base = std::pow(10000.0, 2.0 * static_cast<double>(i) / 8.0);
    ASSERT_NEAR(tables.inv_freq[i].item<double>(), 1.0 / (c.rope.short_factor[i] * base), 1e-6 / base);
    ASSERT_NEAR(tables.long_inv_freq[i].item<double>(), 1.0 / (c.rope.long_factor[i] * base), 1e-6 / base);
  }
  auto pos = [](std::vector<int64_t> p) { return at::tensor(p, at::kLong).unsqueeze(0); };
  // Largest position 7 (length 8): short; 8 (length 9): long, for every row of the batch.
  at::Tensor short_cos = m::rope_cos_sin_for(tables, pos({5, 6, 7}), at::kFloat).first;  // [1, 1, 3, 8]
  at::Tensor long_cos = m::rope_cos_sin_for(tables, pos({6, 7, 8}), at::kFloat).first;
  const double f = std::sqrt(2.0);
  ASSERT_NEAR(short_cos[0][0][2][1].item<double>(), f * std::cos(7 * tables.inv_freq[1].item<double>()), 1e-5);
  ASSERT_NEAR(long_cos[0][0][1][1].item<double>(), f * std::cos(7 * tables.long_inv_freq[1].item<double>()), 1e-5);
  at::Tensor batch = at::tensor(std::vector<int64_t>{1, 2, 1, 12}, at::kLong).view({2, 2});
  at::Tensor mixed = m::rope_cos_sin_for(tables, batch, at::kFloat).first;  // row 0 too takes the long set
  ASSERT_NEAR(mixed[0][0][1][1].item<double>(), f * std::cos(2 * tables.long_inv_freq[1].item<double>()), 1e-5);
  // ForwardRequest::rope_lengths: each row its own set. A 6-token row told 12 tokens equals that row left-padded
  // next to a 12-token one (the forward Python Inseq runs it in); told 6 it is the plain forward.
  at::Tensor per_row = m::rope_cos_sin_for(tables, batch, at::kFloat, at::tensor(std::vector<int64_t>{3, 12}, at::kLong)).first;
  ASSERT_NEAR(per_row[0][0][1][1].item<double>(), f * std::cos(2 * tables.inv_freq[1].item<double>()), 1e-5);
  ASSERT_NEAR(per_row[1][0][1][1].item<double>(), f * std::cos(12 * tables.long_inv_freq[1].item<double>()), 1e-5);
  {
    c10::InferenceMode guard;
    at::Tensor six = ids_of(6, 40), twelve = ids_of(12, 60);
    at::Tensor plain = run(*model, six).logits[0];  // [6, V]
    at::Tensor told6 = run(*model, six, [](m::ForwardRequest& r) { r.rope_lengths = at::tensor(std::vector<int64_t>{6}, at::kLong); }).logits[0];
    at::Tensor told12 = run(*model, six, [](m::ForwardRequest& r) { r.rope_lengths = at::tensor(std::vector<int64_t>{12}, at::kLong); }).logits[0];
    at::Tensor mask = at::ones({2, 12}, at::kLong);
    mask[0].slice(0, 0, 6).zero_();
    at::Tensor padded = run(*model, at::cat({at::cat({at::zeros({1, 6}, at::kLong), six}, 1), twelve}, 0),
                            [&](m::ForwardRequest& r) { r.attention_mask = mask; }).logits[0].slice(0, 6);  // [6, V]
    ASSERT_TRUE(max_diff(told6, plain) == 0);
    ASSERT_TRUE(max_diff(told12, padded) < 1e-4);
    ASSERT_TRUE(max_diff(told12, plain) > 1e-3);
  }
  // Partial rotary (phi3 fixture: factor 0.5): cos covers 4 of 8 channels; the rest pass through.
  auto phi3 = m::load_causal_lm(variant_dir("phi3"), kCpu, at::kFloat);
  m::RopeTables pt = m::rope_tables(phi3->config());
  ASSERT_EQ(pt.inv_freq.size(0), 2);
  auto [cos, sin] = m::rope_cos_sin_for(pt, pos({3}), at::kFloat);
  at::Tensor x = at::randn({1, 2, 1, 8});
  at::Tensor y = m::apply_partial_rope(x, cos, sin);
  ASSERT_TRUE(max_diff(y.slice(-1, 4), x.slice(-1, 4)) == 0);
  ASSERT_TRUE(max_diff(y.slice(-1, 0, 4), x.slice(-1, 0, 4)) > 1e-3);
}

TEST(longrope_generation_rebuilds_the_cache_like_transformers) {
  // Greedy tokens with the KV cache equal a no-cache argmax loop (every forward over the whole sequence) for a
  // prompt that crosses original_max_position_embeddings = 8 while generating; without the rebuild the keys of
  // the first 8 positions would keep the short factors.
  auto model = m::load_causal_lm(variant_dir("phi3-longrope"), kCpu, at::kFloat);
  std::vector<int64_t> seq = {40, 69, 283};
  m::GenerationOptions opts;
  opts.max_new_tokens = 12;
  auto cached = m::generate(*model, {seq}, opts).sequences[0];
  c10::InferenceMode guard;
  for (int64_t s = 0; s < 12; ++s) {
    at::Tensor l = run(*model, at::tensor(seq, at::kLong).unsqueeze(0)).logits[0][-1];  // [V]
    seq.push_back(l.argmax().item<int64_t>());
  }
  ASSERT_TRUE(std::vector<int64_t>(seq.begin() + 3, seq.end()) == cached);
  // The same prompt with a cache that is never rebuilt gives other logits past position 8.
  m::KVCache cache;
  at::Tensor all = at::tensor(seq, at::kLong).unsqueeze(0);  // [1, 15]
  run(*model, all.slice(1, 0, 8), [&](m::ForwardRequest& r) { r.cache = &cache; });
  at::Tensor stale = run(*model, all.slice(1, 8, 9), [&](m::ForwardRequest& r) { r.cache = &cache; }).logits[0][0];
  at::Tensor fresh = run(*model, all.slice(1, 0, 9)).logits[0][-1];
  ASSERT_TRUE(max_diff(stale, fresh) > 1e-3);
}
