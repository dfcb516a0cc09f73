// Long inputs in bounded memory: occlusion, value zeroing and sequential integrated gradients reuse the KV cache of
// the unperturbed prefix (same scores, fewer tokens through the model), attention keeps only the generated steps'
// query rows and computes its scores over query blocks (same weights, no layers x heads x n^2 tensor, measured as
// the process's peak RSS).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <malloc.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>

#include "attribution/engine.h"
#include "core/error.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "models/config.h"
#include "models/layers.h"
#include "tests/tensor_checks.h"
#include "tests/test.h"

namespace a = inseq::attribution;
namespace m = inseq::models;
namespace t = inseq::testing;
using inseq::testing::nan_aware_diff;

namespace {

std::shared_ptr<m::CausalLM> reference_model(const std::string& name) {
  return m::load_causal_lm(t::repo_dir() + "/test/fixtures/reference/" + name, t::test_device(), at::kFloat);
}

// A prompt of n pseudo-random ids in [3, vocab) after BOS 1; the baseline keeps BOS and replaces the rest by 0.
a::AttributionRequest request(const std::string& method, int64_t n, int64_t steps, int64_t vocab) {
  std::vector<int64_t> seq{1}, base{1};
  for (int64_t i = 1; i < n; ++i) {
    seq.push_back(3 + (i * 7919 + 13) % (vocab - 3));
    base.push_back(0);
  }
  a::AttributionRequest r;
  r.method = method;
  r.sequences = {seq};
  r.baselines = {base};
  r.attr_start = {n - steps};
  r.attr_end = {n};
  return r;
}

// A "VmHWM:"-style field of /proc/self/status in bytes (-1 when unreadable).
int64_t proc_status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;  // "  1234 kB"
  }
  return -1;
}

// Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0); false where the kernel does not allow it.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// A random Llama (vocab 64, MLP 2 x hidden) with an 8,192-token context: the reference checkpoints' (128) is too
// short for the long-prompt tests.
std::shared_ptr<m::CausalLM> long_llama(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t layers, uint64_t seed) {
  const std::string json = "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": " + std::to_string(hidden) +
                           ", \"num_hidden_layers\": " + std::to_string(layers) + ", \"num_attention_heads\": " + std::to_string(heads) +
                           ", \"num_key_value_heads\": " + std::to_string(kv_heads) + ", \"intermediate_size\": " + std::to_string(2 * hidden) +
                           ", \"max_position_embeddings\": 8192}";
  return m::init_causal_lm(m::parse_model_config(inseq::core::Json::parse(json), "config.json"), seed, t::test_device());
}

// `r` run without and with the prefix cache (AttributionRequest::prefix_cache): both results, the largest
// difference between their first sequence's attributions, and the plain run's largest |score| (the scale a relative
// tolerance reads it against).
struct CacheRuns {
  a::AttributionResult plain, cached;
  double diff = 0, scale = 0;
};
CacheRuns with_and_without_prefix_cache(m::CausalLM& model, a::AttributionRequest r) {
  CacheRuns out;
  r.prefix_cache = false;
  out.plain = a::attribute(model, r);
  r.prefix_cache = true;
  out.cached = a::attribute(model, r);
  const at::Tensor& x = out.plain.sequences[0].attributions;
  out.scale = x.nan_to_num(0).abs().max().item<double>();
  out.diff = nan_aware_diff(out.cached.sequences[0].attributions, x);
  return out;
}

}  // namespace

// `method` on an n-token prompt (the last `steps` attributed) with and without the prefix KV cache, for each
// internal batch size, on the llama, gpt2 and gpt_neox reference models: the same scores (<= `tol`), `plain_tokens` tokens
// through the model without the cache and fewer than `at_most` of them with it.
static void check_prefix_cache(const std::string& method, int64_t n, int64_t steps, std::initializer_list<int64_t> batches,
                        int64_t plain_tokens, double at_most, double tol) {
  for (const std::string name : {"llama", "gpt2", "gpt_neox"}) {
    auto model = reference_model(name);
    for (int64_t batch : batches) {
      a::AttributionRequest r = request(method, n, steps, model->config().vocab_size);
      if (method == "value_zeroing") r.baselines.clear();
      r.internal_batch_size = batch;
      const auto [plain, cached, d, scale] = with_and_without_prefix_cache(*model, r);
      const std::string what = method + " " + name + " batch " + std::to_string(batch);
      if (!(d >= 0 && d <= tol)) throw t::Failure(what + ": with the cache the scores differ by " + std::to_string(d));
      ASSERT_EQ(plain.tokens_forwarded, plain_tokens);
      if (!(static_cast<double>(cached.tokens_forwarded) < at_most * static_cast<double>(plain.tokens_forwarded))) {
        throw t::Failure(what + ": " + std::to_string(cached.tokens_forwarded) + " tokens with the cache vs " +
                         std::to_string(plain.tokens_forwarded) + " without");
      }
      std::cout << "    " << what << ": " << cached.tokens_forwarded << " tokens with the prefix cache, "
                << plain.tokens_forwarded << " without, max diff " << d << "\n";
    }
  }
}

TEST(occlusion_with_the_prefix_kv_cache_equals_occlusion_without_it) {
  // Without the cache: the clean row + one row per occluded token (positions 1 .. n-2), each n tokens. With it,
  // occluded token p runs about n - p tokens: about half as many in all. Batches: by memory (few large ones),
  // one row per batch, five rows.
  const int64_t n = 48;
  check_prefix_cache("occlusion", n, 12, {0, 1, 5}, (n - 1) * n, 0.6, 1e-5);
}

TEST(value_zeroing_with_the_prefix_kv_cache_equals_value_zeroing_without_it) {
  // The clean run + one row per zeroed token over ids[:n-1]. Scores are float32 cosine distances of hidden
  // states reached through a different order of operations (cached keys and values): measured 7e-6 with
  // LibTorch 2.15 + MKL, 1.3e-5 with Debian's 1.13 + OpenBLAS, hence 5e-5.
  const int64_t n = 40;
  check_prefix_cache("value_zeroing", n, 10, {0, 1, 4}, n * (n - 1), 0.7, 5e-5);
}

TEST(gradient_steps_on_a_long_prompt_share_one_forward_and_equal_one_row_per_step) {
  auto model = long_llama(32, 4, 2, 2, 7);  // GQA, 2 layers, hidden 32
  const int64_t n = 300, steps = 6;  // a prompt of 294 tokens: over the 256 from which steps share a forward
  for (const std::string method : {"saliency", "input_x_gradient"}) {
    a::AttributionRequest r = request(method, n, steps, model->config().vocab_size);
    r.granular = true;  // [n, steps, hidden]
    const auto [rows, shared, d, scale] = with_and_without_prefix_cache(*model, r);
    const std::string what = "llama " + method;
    if (!(d >= 0 && d <= 1e-5 * scale)) throw t::Failure(what + ": the shared forward differs by " + std::to_string(d) + " of " + std::to_string(scale));
    ASSERT_EQ(shared.tokens_forwarded, n - 1);  // one forward of the last step's prefix
    int64_t per_row = 0;
    for (int64_t j = 0; j < steps; ++j) per_row += n - steps + j;
    ASSERT_TRUE(rows.tokens_forwarded >= per_row);  // one row per step, each at least its own prefix (padded in a batch)
    std::cout << "    " << what << ": " << shared.tokens_forwarded << " tokens forwarded with one shared forward, " << rows.tokens_forwarded
              << " in rows, max diff " << d << " of " << scale << "\n";
  }
  // Below 256 prompt tokens the steps stay rows.
  a::AttributionRequest s = request("saliency", 40, 4, model->config().vocab_size);
  ASSERT_TRUE(a::attribute(*model, s).tokens_forwarded >= 36 + 37 + 38 + 39);
}

TEST(sequential_integrated_gradients_over_the_prefix_cache_equal_one_row_per_step) {
  // Plain: one row per (step, moving position, integration point), each the step's whole prefix. Over the prefix
  // cache: one row per (moving position, point) from that position on, one forward for all 6 steps and one backward
  // per step. Per-dimension scores agree; batches by memory / pacing, one row, five rows (neighbouring positions
  // share a batch and re-run the clean tokens between them).
  const int64_t n = 24, steps = 6;
  for (const std::string name : {"llama", "gpt2", "gpt_neox"}) {
    auto model = reference_model(name);
    for (int64_t batch : {0, 1, 5}) {
      a::AttributionRequest r = request("sequential_integrated_gradients", n, steps, model->config().vocab_size);
      r.n_steps = 4;
      r.granular = true;
      r.internal_batch_size = batch;  // granular: [n, steps, hidden]
      const auto [plain, cached, d, scale] = with_and_without_prefix_cache(*model, r);
      const std::string what = "sequential_integrated_gradients " + name + " batch " + std::to_string(batch);
      if (!(scale > 0 && d >= 0 && d <= 1e-5 * scale)) throw t::Failure(what + ": over the cache the scores differ by " + std::to_string(d) + " of " + std::to_string(scale));
      // plain: step j's prefix t_j = n - steps + j for each of its t_j - 1 moving positions (BOS stays) x 4 points
      int64_t per_step_rows = 0;
      for (int64_t j = 0; j < steps; ++j) per_step_rows += (n - steps + j) * (n - steps + j - 1) * 4;
      ASSERT_TRUE(plain.tokens_forwarded >= per_step_rows);
      if (!(static_cast<double>(cached.tokens_forwarded) < 0.2 * static_cast<double>(plain.tokens_forwarded))) {
        throw t::Failure(what + ": " + std::to_string(cached.tokens_forwarded) + " tokens over the cache vs " + std::to_string(plain.tokens_forwarded));
      }
      std::cout << "    " << what << ": " << cached.tokens_forwarded << " tokens over the prefix cache, " << plain.tokens_forwarded
                << " in rows, max diff " << d << " of " << scale << "\n";
    }
  }
}

TEST(blocked_attention_keeps_the_requested_rows_of_the_full_attention) {
  // The model-level switch: attention over query blocks of 3, rows kept out of order, equals the full weights.
  for (const std::string name : {"llama", "gpt2", "gpt_neox"}) {
    auto model = reference_model(name);
    c10::InferenceMode guard;
    std::vector<int64_t> ids{1};
    for (int64_t i = 1; i < 11; ++i) ids.push_back(3 + (i * 31) % (model->config().vocab_size - 3));
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(at::tensor(ids, at::kLong).unsqueeze(0).to(model->device()));  // [1, 11, H]
    fr.output_attentions = true;
    m::ForwardResult full = model->forward(fr);
    at::Tensor rows = at::tensor(std::vector<int64_t>{9, 2, 10, 3, 0}, at::kLong);  // [5]
    fr.attention_rows = rows.to(model->device());
    fr.attention_query_block = 3;
    m::ForwardResult blocked = model->forward(fr);
    const double scale = full.logits.abs().max().item<double>();
    ASSERT_NEAR(blocked.logits.sub(full.logits).abs().max().item<double>() / scale, 0.0, 1e-6);
    ASSERT_EQ(blocked.attentions.size(), full.attentions.size());
    for (size_t l = 0; l < full.attentions.size(); ++l) {
      at::Tensor want = full.attentions[l].index_select(2, rows.to(model->device()));  // [1, h, 5, 11]
      ASSERT_TRUE(blocked.attentions[l].sizes().equals(want.sizes()));
      ASSERT_TRUE(blocked.attentions[l].sub(want).abs().max().item<double>() <= 1e-6);
    }
  }
}

TEST(attention_method_equals_the_full_computation_on_a_short_prompt) {
  for (const std::string name : {"llama", "gpt2", "gpt_neox"}) {
    auto model = reference_model(name);
    const int64_t n = 14, steps = 5;
    a::AttributionRequest r = request("attention", n, steps, model->config().vocab_size);
    r.memory_budget_mb = 1;  // small blocks: a few queries each
    at::Tensor att = a::attribute(*model, r).sequences[0].attributions;  // [n, steps, layers, heads]
    c10::InferenceMode guard;
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(at::tensor(r.sequences[0], at::kLong).unsqueeze(0).to(model->device()));
    fr.output_attentions = true;
    m::ForwardResult full = model->forward(fr);  // per layer [1, h, n, n]
    for (int64_t j = 0; j < steps; ++j) {
      const int64_t q = n - steps + j - 1;  // the query predicting target n - steps + j
      for (size_t l = 0; l < full.attentions.size(); ++l) {
        at::Tensor want = full.attentions[l][0].select(1, q).t().to(at::kCPU, at::kFloat);  // [n (key), h]
        at::Tensor got = att.select(1, j).select(1, static_cast<int64_t>(l));             // [n, h]
        ASSERT_TRUE(got.slice(0, 0, q + 1).sub(want.slice(0, 0, q + 1)).abs().max().item<double>() <= 1e-6);
        ASSERT_TRUE(got.slice(0, q + 1).isnan().all().item<bool>());  // keys after the query: not causal
      }
    }
  }
}

TEST(attention_on_4096_tokens_stays_under_an_rss_bound_below_one_n_squared_map) {
  // 2 layers, 2 heads, hidden 16: weights and activations are a few hundred KB, so the peak is the attention
  // itself. The full weights of every layer and head, L x H x n^2 float32, are 2 x 2 x 4096^2 x 4 B = 256 MiB
  // (one [n, n] map alone is 64 MiB); the query blocks of the budget (8 MiB: blocks of 64 queries, transient
  // ~4 MiB) plus the kept rows and the result ([n, 16 steps, 2, 2] float32: 1 MiB each) stay far below.
  const int64_t n = 4096, steps = 16;
  const int64_t bound = 32LL << 20;  // 32 MiB: an eighth of L x H x n^2 floats, half of one n^2 map
  auto model = long_llama(16, 2, 2, 2, 1);
  a::AttributionRequest r = request("attention", n, steps, model->config().vocab_size);
  r.memory_budget_mb = 8;
  ::malloc_trim(0);  // memory earlier tests freed goes back to the system: the attention's own peak must show as growth
  if (t::test_device().is_cpu() && reset_peak_rss()) {
    const int64_t before = proc_status_bytes("VmRSS");
    a::AttributionResult res = a::attribute(*model, r);
    const int64_t grown = proc_status_bytes("VmHWM") - before;
    std::cout << "    attention n=4096: peak RSS grew by " << (grown >> 10) << " KiB (bound " << (bound >> 20)
              << " MiB; L x H x n^2 float32 = 256 MiB), host result buffers " << res.host_peak_bytes << " B\n";
    ASSERT_TRUE(res.sequences[0].attributions.sizes().equals(at::IntArrayRef{n, steps, 2, 2}));
    if (!(grown < bound)) throw t::Failure("peak RSS grew by " + std::to_string(grown) + " bytes");
  } else {  // CUDA hosts (or no clear_refs): the result shape and finiteness only
    a::AttributionResult res = a::attribute(*model, r);
    ASSERT_TRUE(res.sequences[0].attributions.sizes().equals(at::IntArrayRef{n, steps, 2, 2}));
  }
}

TEST(fused_causal_attention_equals_the_explicit_path_in_the_forward_and_the_gradient) {
  if (!m::fused_attention_available()) throw t::Skip("this LibTorch has no fused scaled-dot-product attention");
  auto model = long_llama(32, 4, 2, 2, 11);
  const int64_t n = m::kFusedAttentionMinTokens + 76;
  at::Tensor ids = at::arange(n, at::TensorOptions().dtype(at::kLong)).mul(7919).remainder(61).add(3).unsqueeze(0);  // [1, n]
  // The explicit path: an all-ones padding mask keeps the request off the fused path (attention_plan).
  at::Tensor grads[2], logits[2];
  for (int explicit_path : {0, 1}) {
    c10::AutoGradMode grad_mode(true);
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(ids).detach().requires_grad_(true);  // [1, n, h]
    if (explicit_path) fr.attention_mask = at::ones({1, n}, at::TensorOptions().dtype(at::kLong).device(t::test_device()));
    ASSERT_TRUE((m::attention_plan(fr, n, 0, false) == m::AttentionPlan::kFused) == !explicit_path);
    logits[explicit_path] = model->forward(fr).logits;  // [1, n, V]
    at::Tensor loss = logits[explicit_path].select(1, n / 2).select(1, 9);  // one logit in the middle
    grads[explicit_path] = torch::autograd::grad({loss.sum()}, {fr.inputs_embeds})[0];  // [1, n, h]
  }
  const double lscale = logits[1].abs().max().item<double>(), gscale = grads[1].abs().max().item<double>();
  const double dl = nan_aware_diff(logits[0], logits[1]), dg = nan_aware_diff(grads[0], grads[1]);
  std::cout << "    fused vs explicit attention, " << n << " tokens: logits differ by " << dl << " of " << lscale << ", gradients by " << dg
            << " of " << gscale << "\n";
  ASSERT_TRUE(dl >= 0 && dl <= 1e-5 * lscale);
  ASSERT_TRUE(dg >= 0 && dg <= 1e-4 * gscale);
  // The gradient of a position's logits is zero past it (causal), as on the explicit path.
  ASSERT_TRUE(grads[0].slice(1, n / 2 + 1, n).abs().max().item<double>() == 0.0);
  ASSERT_TRUE(grads[0].slice(1, 0, n / 2 + 1).abs().max().item<double>() > 0.0);
  // Attention weights of a few query rows (the attention method): computed on their own beside the fused
  // attention, equal to the query-block path's.
  c10::InferenceMode guard;
  at::Tensor att[2];
  for (int blocks : {0, 1}) {
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(ids);
    if (blocks) fr.attention_mask = at::ones({1, n}, at::TensorOptions().dtype(at::kLong).device(t::test_device()));
    fr.output_attentions = true;
    fr.attention_rows = at::tensor(std::vector<int64_t>{3, n / 2, n - 2, n - 1}, at::kLong).to(t::test_device());
    fr.attention_query_block = 128;
    ASSERT_TRUE(m::attention_plan(fr, n, 0, false) == (blocks ? m::AttentionPlan::kQueryBlocks : m::AttentionPlan::kFused));
    att[blocks] = at::stack(model->forward(fr).attentions);  // [layers, 1, heads, 4, n]
  }
  const double da = nan_aware_diff(att[0], att[1]);
  std::cout << "    attention rows beside fused attention vs query blocks: max diff " << da << "\n";
  ASSERT_TRUE(da >= 0 && da <= 1e-6);
}

TEST(a_long_gradient_row_keeps_no_sequence_squared_attention_tensor) {
  if (!m::fused_attention_available()) throw t::Skip("this LibTorch has no fused scaled-dot-product attention");
  if (!t::test_device().is_cpu()) throw t::Skip("measures the process's RSS");
  // 8 heads x 4096^2 float32 scores are 512 MiB per layer (the explicit path keeps the softmax output for the
  // backward, and the scores pass through); hidden 64 keeps everything else to a few MiB.
  auto model = long_llama(64, 8, 8, 1, 11);
  const int64_t n = 4096, steps = 2;
  const int64_t bound = 128LL << 20;
  a::AttributionRequest r = request("saliency", n, steps, 64);
  ::malloc_trim(0);
  if (!reset_peak_rss()) throw t::Skip("needs /proc/self/clear_refs");
  const int64_t before = proc_status_bytes("VmRSS");
  a::AttributionResult res = a::attribute(*model, r);
  const int64_t grown = proc_status_bytes("VmHWM") - before;
  std::cout << "    saliency n=4096, 8 heads: peak RSS grew by " << (grown >> 20) << " MiB (bound " << (bound >> 20)
            << " MiB; one layer's [8, n, n] float32 scores = 512 MiB)\n";
  ASSERT_TRUE(res.sequences[0].attributions.size(0) == n);
  if (!(grown < bound)) throw t::Failure("peak RSS grew by " + std::to_string(grown) + " bytes");
}
