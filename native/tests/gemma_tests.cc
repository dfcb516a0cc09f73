// The Gemma family (models/gemma.h) beyond the transformers goldens of model_tests.cc: the attention plans agree
// with soft-capping and sliding windows (blocked rows, fused where allowed, never fused with caps), the KV cache
// reaches past the window, block recomputation, the soft-capping DeepLIFT rule, and config.json parsing.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <iostream>
#include <string>

#include "attribution/engine.h"
#include "core/error.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/config.h"
#include "models/gemma.h"
#include "models/layers.h"
#include "models/safetensors.h"
#include "tests/test.h"

using inseq::core::Json;
namespace a = inseq::attribution;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

const char* const kGemmas[] = {"gemma", "gemma2", "gemma2-nocap", "gemma3", "gemma3-hd12"};

std::string reference_dir(const std::string& name) { return t::repo_dir() + "/test/fixtures/reference/" + name; }

std::string config_text(const std::string& name) { return t::read_file(reference_dir(name) + "/config.json"); }

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at == std::string::npos) throw t::Failure("config.json has no " + from);
  return s.replace(at, from.size(), to);
}

// A reference checkpoint's weights under an edited config.json text.
std::shared_ptr<m::CausalLM> with_config(const std::string& name, const std::string& text) {
  m::ModelConfig c = m::parse_model_config(Json::parse(text), "config.json");
  return std::make_shared<m::GemmaModel>(c, m::WeightStore::open_dir(reference_dir(name)), t::test_device(), at::kFloat);
}

at::Tensor ids_tensor(int64_t n, int64_t vocab) {  // [1, n] pseudo-random ids
  return at::arange(n, at::TensorOptions().dtype(at::kLong)).mul(7919).add(13).remainder(vocab - 3).add(3).unsqueeze(0).to(t::test_device());
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return a.sub(b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

m::ModelConfig parse(const std::string& text) { return m::parse_model_config(Json::parse(text), "config.json"); }

}  // namespace

TEST(gemma_configs_parse_as_transformers_reads_them) {
  m::ModelConfig g1 = parse(config_text("gemma"));
  ASSERT_EQ(g1.family, std::string("gemma"));
  ASSERT_EQ(g1.gemma_generation, 1);
  ASSERT_EQ(g1.head_dim, 8);
  ASSERT_EQ(g1.hidden_act, std::string("gelu_pytorch_tanh"));
  ASSERT_TRUE(g1.tie_word_embeddings && g1.sliding_layers.empty() && g1.final_logit_softcapping == 0);
  m::ModelConfig g2 = parse(config_text("gemma2"));
  ASSERT_EQ(g2.gemma_generation, 2);
  ASSERT_TRUE(g2.attn_logit_softcapping == 3.0 && g2.final_logit_softcapping == 8.0 && g2.query_pre_attn_scalar == 16);
  ASSERT_TRUE(g2.sliding_window == 4 && g2.sliding_layers == std::vector<bool>({true, false}));
  m::ModelConfig nocap = parse(config_text("gemma2-nocap"));
  ASSERT_TRUE(nocap.attn_logit_softcapping == 0 && nocap.final_logit_softcapping == 0);  // null = off
  m::ModelConfig g3 = parse(config_text("gemma3"));
  ASSERT_EQ(g3.gemma_generation, 3);
  ASSERT_TRUE(g3.attn_logit_softcapping == 0);  // written (3.0) but unused by Gemma 3's attention
  ASSERT_TRUE(g3.rope.type == "linear" && g3.rope.factor == 2.0 && g3.rope.theta == 1e6);
  ASSERT_TRUE(g3.local_rope.type == "default" && g3.local_rope.theta == 1e4);
  // Absent keys take the config classes' defaults: Gemma 2 caps 50 / 30, every other layer sliding; Gemma 3's
  // pattern of 6, head_dim 256, RoPE bases 10^6 / 10^4; the legacy rope keys.
  const std::string base = "{\"vocab_size\": 300, \"hidden_size\": 32, \"num_hidden_layers\": 7, \"num_attention_heads\": 4, "
                           "\"intermediate_size\": 64, \"model_type\": ";
  m::ModelConfig d2 = parse(base + "\"gemma2\"}");
  ASSERT_TRUE(d2.attn_logit_softcapping == 50 && d2.final_logit_softcapping == 30 && d2.sliding_window == 4096);
  ASSERT_TRUE(d2.head_dim == 256 && d2.num_kv_heads == 4 && d2.query_pre_attn_scalar == 256);
  ASSERT_TRUE(d2.sliding_layers == std::vector<bool>({true, false, true, false, true, false, true}));
  ASSERT_TRUE(d2.bos_token_id == 2 && d2.pad_token_id == 0 && d2.eos_token_ids == std::vector<int64_t>({1}));
  m::ModelConfig d3 = parse(base + "\"gemma3_text\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 8.0}, \"rope_local_base_freq\": 500.0}");
  ASSERT_TRUE(d3.sliding_layers == std::vector<bool>({true, true, true, true, true, false, true}));
  ASSERT_TRUE(d3.rope.theta == 1e6 && d3.rope.type == "linear" && d3.rope.factor == 8.0);
  ASSERT_TRUE(d3.local_rope.theta == 500.0 && d3.local_rope.type == "default" && d3.final_logit_softcapping == 0);
  m::ModelConfig p3 = parse(base + "\"gemma3_text\", \"sliding_window_pattern\": 3}");
  ASSERT_TRUE(p3.sliding_layers == std::vector<bool>({true, true, false, true, true, false, true}));
  m::ModelConfig legacy = parse(base + "\"gemma\", \"hidden_act\": \"gelu\"}");
  ASSERT_EQ(legacy.hidden_act, std::string("gelu_pytorch_tanh"));  // GemmaConfig's legacy value
}

TEST(gemma_configs_transformers_refuses_or_we_do_not_implement_are_refused) {
  using inseq::core::ErrorCode;
  const std::string g2 = config_text("gemma2"), g3 = config_text("gemma3");
  ASSERT_THROWS_CODE(parse(replaced(g2, "\"attn_logit_softcapping\": 3.0", "\"attn_logit_softcapping\": 0")), ErrorCode::kBadCheckpoint,
                     "attn_logit_softcapping");
  ASSERT_THROWS_CODE(parse(replaced(g2, "\"final_logit_softcapping\": 8.0", "\"final_logit_softcapping\": -1")), ErrorCode::kBadCheckpoint,
                     "final_logit_softcapping");
  ASSERT_THROWS_CODE(parse(replaced(g2, "\"query_pre_attn_scalar\": 16", "\"query_pre_attn_scalar\": 0")), ErrorCode::kBadCheckpoint,
                     "query_pre_attn_scalar");
  ASSERT_THROWS_CODE(parse(replaced(g2, "\"sliding_window\": 4", "\"sliding_window\": null")), ErrorCode::kBadCheckpoint, "sliding_window");
  ASSERT_THROWS_CODE(parse(replaced(g2, "\"num_attention_heads\": 4", "\"num_attention_heads\": 6")), ErrorCode::kBadCheckpoint,
                     "num_attention_heads");
  ASSERT_THROWS_CODE(parse(replaced(g3, "\"full_attention\"\n  ]", "\"full_attention\", \"full_attention\"\n  ]")),
                     ErrorCode::kBadCheckpoint, "layer_types");
  ASSERT_THROWS_CODE(parse(replaced(g3, "\"rope_theta\": 10000.0", "\"rope_theta\": 0")), ErrorCode::kBadCheckpoint,
                     "rope_parameters.sliding_attention.rope_theta");
  ASSERT_THROWS_CODE(parse(replaced(g3, "\"full_attention\"\n  ]", "\"chunked_attention\"\n  ]")), ErrorCode::kUnsupportedModel,
                     "chunked_attention");
  ASSERT_THROWS_CODE(parse(replaced(g3, "\"use_bidirectional_attention\": false", "\"use_bidirectional_attention\": true")),
                     ErrorCode::kUnsupportedModel, "use_bidirectional_attention");
  ASSERT_THROWS_CODE(parse(replaced(g3, "\"model_type\": \"gemma3_text\"", "\"model_type\": \"gemma3\"")), ErrorCode::kUnsupportedModel,
                     "gemma3_text (Gemma3ForCausalLM)");
  ASSERT_THROWS_CODE(parse(replaced(g2, "\"hidden_activation\": \"gelu_pytorch_tanh\"", "\"hidden_activation\": \"swish\"")),
                     ErrorCode::kUnsupportedModel, "hidden_activation");
}

TEST(gemma_embeddings_are_scaled_by_sqrt_hidden) {
  auto model = m::load_causal_lm(reference_dir("gemma"), t::test_device(), at::kFloat);
  c10::InferenceMode guard;
  at::Tensor ids = ids_tensor(5, model->config().vocab_size);
  at::Tensor table = model->named_parameters().at("model.embed_tokens.weight");                      // [V, H]
  at::Tensor want = at::embedding(table, ids).mul(static_cast<float>(std::sqrt(32.0)));               // [1, 5, H]
  ASSERT_TRUE(model->embed(ids).equal(want));
}

TEST(gemma_blocked_attention_rows_equal_the_full_weights_with_caps_and_windows) {
  for (const std::string name : kGemmas) {
    auto model = m::load_causal_lm(reference_dir(name), t::test_device(), at::kFloat);
    c10::InferenceMode guard;
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(ids_tensor(11, model->config().vocab_size));  // [1, 11, H]
    fr.output_attentions = true;
    m::ForwardResult full = model->forward(fr);
    // A sliding layer sees at most 4 keys per query (window 4), a full one all 11.
    const auto& sliding = model->config().sliding_layers;
    for (size_t l = 0; l < full.attentions.size(); ++l) {
      const int64_t visible = !sliding.empty() && sliding[l] ? 4 : 11;
      ASSERT_EQ(full.attentions[l][0].gt(0).sum(-1).max().item<int64_t>(), visible);
    }
    at::Tensor rows = at::tensor(std::vector<int64_t>{9, 2, 10, 3, 0}, at::kLong).to(t::test_device());  // [5]
    fr.attention_rows = rows;
    fr.attention_query_block = 3;
    m::ForwardResult blocked = model->forward(fr);
    ASSERT_TRUE(rel_diff(blocked.logits, full.logits) <= 1e-5);
    for (size_t l = 0; l < full.attentions.size(); ++l) {
      const double d = blocked.attentions[l].sub(full.attentions[l].index_select(2, rows)).abs().max().item<double>();
      if (!(d <= 1e-5)) throw t::Failure(name + " layer " + std::to_string(l) + ": blocked rows differ by " + std::to_string(d));
    }
  }
}

TEST(gemma_long_prompts_run_fused_only_without_caps_and_match_the_explicit_path) {
  if (!m::fused_attention_available()) throw t::Skip("this LibTorch has no fused scaled-dot-product attention");
  const int64_t n = m::kFusedAttentionMinTokens + 40;
  for (const std::string name : kGemmas) {
    // A window wider than the prompt (so only soft-capping can keep a forward off the fused kernel) and room
    // for the positions.
    std::string text = replaced(config_text(name), "\"max_position_embeddings\": 128", "\"max_position_embeddings\": 4096");
    if (name != "gemma") text = replaced(text, "\"sliding_window\": 4,", "\"sliding_window\": 2048,");
    auto model = with_config(name, text);
    at::Tensor ids = ids_tensor(n, model->config().vocab_size);
    at::Tensor logits[2], grads[2];
    for (int explicit_path : {0, 1}) {
      c10::AutoGradMode grad_mode(true);
      m::ForwardRequest fr;
      fr.inputs_embeds = model->embed(ids).detach().requires_grad_(true);  // [1, n, H]
      // An all-ones padding mask keeps the request off the fused plan.
      if (explicit_path) fr.attention_mask = at::ones({1, n}, at::TensorOptions().dtype(at::kLong).device(t::test_device()));
      ASSERT_TRUE((m::attention_plan(fr, n, model->config().sliding_window, false) == m::AttentionPlan::kFused) == !explicit_path);
      logits[explicit_path] = model->forward(fr).logits;  // [1, n, V]
      grads[explicit_path] = torch::autograd::grad({logits[explicit_path].select(1, n - 3).select(1, 7).sum()}, {fr.inputs_embeds})[0];
    }
    const double dl = rel_diff(logits[0], logits[1]), dg = rel_diff(grads[0], grads[1]);
    std::cout << "    " << name << ", " << n << " tokens without / with a padding mask: logits differ by " << dl << ", gradients by " << dg
              << " (relative)\n";
    ASSERT_TRUE(dl <= 1e-5 && dg <= 1e-4);
  }
  // The capped model really differs from the same weights uncapped at this length: the equality above is not
  // the fused kernel on both sides.
  std::string capped = replaced(config_text("gemma2"), "\"max_position_embeddings\": 128", "\"max_position_embeddings\": 4096");
  capped = replaced(capped, "\"sliding_window\": 4,", "\"sliding_window\": 2048,");
  auto with_caps = with_config("gemma2", capped);
  auto no_attn_cap = with_config("gemma2", replaced(capped, "\"attn_logit_softcapping\": 3.0", "\"attn_logit_softcapping\": null"));
  c10::InferenceMode guard;
  m::ForwardRequest fr;
  fr.inputs_embeds = with_caps->embed(ids_tensor(n, 300));
  ASSERT_TRUE(rel_diff(with_caps->forward(fr).logits, no_attn_cap->forward(fr).logits) > 1e-2);
}

TEST(gemma_kv_cache_past_the_sliding_window_equals_the_full_forward) {
  for (const std::string name : kGemmas) {
    auto model = m::load_causal_lm(reference_dir(name), t::test_device(), at::kFloat);
    c10::InferenceMode guard;
    at::Tensor ids = ids_tensor(12, model->config().vocab_size);  // [1, 12]
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(ids);
    at::Tensor full = model->forward(fr).logits;  // [1, 12, V]
    m::KVCache cache;
    std::vector<at::Tensor> parts;
    for (auto [s0, s1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 6}, {6, 9}, {9, 10}, {10, 12}}) {
      m::ForwardRequest step;
      step.inputs_embeds = model->embed(ids.slice(1, s0, s1));
      step.cache = &cache;
      parts.push_back(model->forward(step).logits);
    }
    ASSERT_TRUE(rel_diff(at::cat(parts, 1), full) <= 1e-5);
    // Left padding: the same tokens behind 3 pads, positions from the mask.
    m::ForwardRequest padded;
    padded.inputs_embeds = model->embed(at::cat({at::zeros({1, 3}, ids.options()), ids}, 1));
    padded.attention_mask = at::cat({at::zeros({1, 3}, ids.options()), at::ones({1, 12}, ids.options())}, 1);
    ASSERT_TRUE(rel_diff(model->forward(padded).logits.slice(1, 3), full) <= 1e-5);
  }
}

TEST(gemma_recomputed_blocks_give_the_plain_gradient) {
  for (const std::string name : kGemmas) {
    auto model = m::load_causal_lm(reference_dir(name), t::test_device(), at::kFloat);
    ASSERT_TRUE(model->capabilities().block_recompute);
    at::Tensor grads[2];
    for (int on : {0, 1}) {
      c10::AutoGradMode grad_mode(true);
      m::ForwardRequest fr;
      fr.inputs_embeds = model->embed(ids_tensor(9, model->config().vocab_size)).detach().requires_grad_(true);
      fr.checkpoint_blocks = on == 1;
      at::Tensor y = model->forward(fr).logits.select(1, 8).select(1, 5);
      grads[on] = torch::autograd::grad({y.sum()}, {fr.inputs_embeds})[0];
    }
    ASSERT_TRUE(rel_diff(grads[1], grads[0]) <= 1e-5);
  }
}

TEST(gemma_soft_cap_rescale_multipliers) {
  at::Tensor z = at::tensor({5.5, -0.7, 2.0, 0.3}, at::kFloat).view({1, 4});
  at::Tensor zr = at::tensor({0.1, 4.0, 2.0, -9.0}, at::kFloat).view({1, 4});
  at::Tensor zi = z.clone().requires_grad_(true);
  const double cap = 3.0;
  auto f = [&](const at::Tensor& x) { return x.div(cap).tanh().mul(cap); };
  at::Tensor y = m::soft_cap(at::cat({zi, zr}, 0), cap, m::DeepLiftRule{1});
  ASSERT_TRUE(y.sub(f(at::cat({z, zr}, 0))).abs().max().item<double>() == 0.0);
  at::Tensor g = torch::autograd::grad({y[0].sum()}, {zi})[0][0];
  for (int64_t k : {0, 1, 3}) ASSERT_NEAR(g[k].item<double>(), ((f(z[0][k]) - f(zr[0][k])) / (z[0][k] - zr[0][k])).item<double>(), 1e-6);
  ASSERT_NEAR(g[2].item<double>(), 1.0 - std::pow(std::tanh(2.0 / cap), 2), 1e-6);  // equal inputs: the derivative
  // Inactive rule: the plain function and its gradient.
  at::Tensor zz = z.clone().requires_grad_(true);
  at::Tensor gp = torch::autograd::grad({m::soft_cap(zz, cap).sum()}, {zz})[0];
  ASSERT_TRUE(gp.sub(f(z).div(cap).pow(2).neg().add(1)).abs().max().item<double>() < 1e-6);
}

TEST(gemma_prefix_cache_attributions_equal_the_plain_rows_past_the_window) {
  // Occlusion and value zeroing continue perturbed rows from the clean prefix's KV cache: with sliding layers
  // (window 4) and soft-capping the scores are those of the plain rows.
  for (const std::string name : {"gemma2", "gemma3"}) {
    auto model = m::load_causal_lm(reference_dir(name), t::test_device(), at::kFloat);
    for (const std::string method : {"occlusion", "value_zeroing"}) {
      const int64_t n = 16;
      at::Tensor ids = ids_tensor(n, model->config().vocab_size).squeeze(0).to(at::kCPU);
      a::AttributionRequest r;
      r.method = method;
      r.sequences = {std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n)};
      if (method == "occlusion") r.baselines = {std::vector<int64_t>(n, 0)};
      r.attr_start = {n - 6};
      r.attr_end = {n};
      r.prefix_cache = false;
      a::AttributionResult plain = a::attribute(*model, r);
      r.prefix_cache = true;
      a::AttributionResult cached = a::attribute(*model, r);
      at::Tensor x = plain.sequences[0].attributions, y = cached.sequences[0].attributions;
      ASSERT_TRUE(x.isnan().equal(y.isnan()));
      const double scale = x.nan_to_num(0).abs().max().item<double>();
      const double d = x.nan_to_num(0).sub(y.nan_to_num(0)).abs().max().item<double>();
      std::cout << "    " << name << " " << method << ": " << cached.tokens_forwarded << " tokens with the prefix cache, "
                << plain.tokens_forwarded << " without, max diff " << d << " of " << scale << "\n";
      ASSERT_TRUE(scale > 0 && d <= 5e-5 * std::max(scale, 1.0));
      ASSERT_TRUE(cached.tokens_forwarded < plain.tokens_forwarded);
    }
  }
}

TEST(gemma_half_precision_rounds_the_embedding_scale_and_keeps_the_argmax) {
  // bf16: sqrt(32) = 5.65685 becomes 5.65625 (transformers casts its float32 scale to the weights' dtype); norms
  // and soft-caps still give logits close to the float32 model's.
  for (const std::string name : kGemmas) {
    auto full = m::load_causal_lm(reference_dir(name), t::test_device(), at::kFloat);
    auto half = m::load_causal_lm(reference_dir(name), t::test_device(), at::kBFloat16);
    c10::InferenceMode guard;
    at::Tensor ids = ids_tensor(12, full->config().vocab_size);
    at::Tensor table = half->named_parameters().at("model.embed_tokens.weight");  // [V, H] bf16
    ASSERT_TRUE(half->embed(ids).equal(at::embedding(table, ids).mul(at::scalar_tensor(5.65625, table.options()))));
    m::ForwardRequest fr;
    fr.inputs_embeds = full->embed(ids);
    at::Tensor fl = full->forward(fr).logits;  // [1, 12, V]
    fr.inputs_embeds = half->embed(ids);
    at::Tensor hl = half->forward(fr).logits;
    ASSERT_TRUE(hl.scalar_type() == at::kFloat);
    const double agree = hl.argmax(-1).eq(fl.argmax(-1)).to(at::kFloat).mean().item<double>();
    const double d = hl.sub(fl).abs().max().item<double>();
    std::cout << "    " << name << " bf16: max logit diff " << d << ", argmax agreement " << agree << "\n";
    ASSERT_TRUE(agree >= 0.75 && d < 0.5);
  }
}
