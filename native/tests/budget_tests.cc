// The memory budget (memoryBudget bytes / "auto", ERR_OUT_OF_MEMORY when one row cannot fit) and gradient
// checkpointing (blocks recomputed in the backward pass): same gradients, fewer activation bytes kept.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <malloc.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include "attribution/engine.h"
#include "core/error.h"
#include "core/json.h"
#include "models/causal_lm.h"
#include "tests/test.h"

namespace a = inseq::attribution;
namespace m = inseq::models;
namespace t = inseq::testing;
using inseq::core::ErrorCode;

namespace {

const std::vector<int64_t> kSeq = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};  // "Once upon a time, there was a"

std::shared_ptr<m::CausalLM> stories() { return m::load_causal_lm(t::shared_fixtures() + "/hf-stories260K", t::test_device(), at::kFloat); }

a::AttributionRequest request(const std::string& method) {
  a::AttributionRequest r;
  r.method = method;
  r.granular = true;
  r.n_steps = 8;
  r.sequences = {kSeq};
  std::vector<int64_t> base(kSeq.size(), 0);
  base[0] = kSeq[0];
  r.baselines = {base};
  r.attr_start = {3};
  r.attr_end = {static_cast<int64_t>(kSeq.size())};
  return r;
}

double max_diff(const at::Tensor& x, const at::Tensor& y) { return x.sub(y).abs().max().item<double>(); }
double scale(const at::Tensor& x) { return x.abs().max().item<double>(); }

// Bytes malloc has handed out and not taken back (arena + mmapped blocks): LibTorch's CPU allocator is malloc.
double heap_in_use() {
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ) && __GLIBC_PREREQ(2, 33)
  struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks) + static_cast<double>(mi.hblkhd);
#else
  throw t::Skip("needs glibc 2.33 (mallinfo2)");
#endif
}

}  // namespace

TEST(checkpointed_blocks_give_the_same_gradients) {
  // Model level, every native block kind: forward + backward with every block recomputed equals the plain pass.
  for (const std::string dir : {t::shared_fixtures() + "/hf-stories260K", t::repo_dir() + "/test/fixtures/reference/gpt2",
                                t::repo_dir() + "/test/fixtures/reference/gpt_neox"}) {
    auto model = m::load_causal_lm(dir, t::test_device(), at::kFloat);
    ASSERT_TRUE(model->capabilities().block_recompute);
    c10::AutoGradMode grad(true);
    at::Tensor ids = at::tensor(std::vector<int64_t>{1, 5, 9, 12, 7, 3, 11, 2, 8, 4, 6}, at::kLong).unsqueeze(0);
    at::Tensor grads[2];
    for (int on = 0; on < 2; ++on) {
      m::ForwardRequest fr;
      fr.inputs_embeds = model->embed(ids).detach().requires_grad_(true);  // [1, 11, H]
      fr.checkpoint_blocks = on == 1;
      at::Tensor logits = model->forward(fr).logits;                       // [1, 11, V]
      grads[on] = torch::autograd::grad({logits.log_softmax(-1).select(-1, 3).sum()}, {fr.inputs_embeds})[0];
    }
    if (!(max_diff(grads[0], grads[1]) <= 1e-5 * scale(grads[0]))) {
      throw t::Failure(dir + ": checkpointed gradients differ by " + std::to_string(max_diff(grads[0], grads[1])));
    }
  }
}

TEST(checkpointed_blocks_keep_fewer_activation_bytes) {
  // After the forward pass (graph alive, before backward) a plain pass holds every block's activations, a
  // checkpointed one only the blocks' inputs: 8 blocks, 256 tokens, 4 heads.
  if (!t::test_device().is_cpu()) throw t::Skip("measures the CPU heap");
  m::ModelConfig c = m::parse_model_config(inseq::core::Json::parse(R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 64,
    "num_hidden_layers": 8, "num_attention_heads": 4, "intermediate_size": 128})"), "config.json");
  auto model = m::init_causal_lm(c, 1, c10::Device(c10::kCPU));
  at::Tensor ids = at::randint(0, 32, {1, 256}, at::kLong);
  double kept[2] = {0, 0};
  at::Tensor grads[2];
  c10::AutoGradMode grad(true);
  for (int on = 0; on < 2; ++on) {
    m::ForwardRequest fr;
    fr.inputs_embeds = model->embed(ids).detach().requires_grad_(true);  // [1, 256, 64]
    fr.checkpoint_blocks = on == 1;
    fr.logits_to_keep = 1;
    const double before = heap_in_use();
    at::Tensor f = model->forward(fr).logits.log_softmax(-1).select(-1, 3).sum();
    kept[on] = heap_in_use() - before;
    grads[on] = torch::autograd::grad({f}, {fr.inputs_embeds})[0];
  }
  std::printf("  activation bytes kept after the forward: plain %.0f, checkpointed %.0f\n", kept[0], kept[1]);
  ASSERT_TRUE(max_diff(grads[0], grads[1]) <= 1e-5 * scale(grads[0]));
  ASSERT_TRUE(kept[1] * 4 < kept[0]);
}

TEST(engine_checkpointing_on_equals_off) {
  auto model = stories();
  for (const std::string method : {"saliency", "integrated_gradients", "input_x_gradient", "gradient_shap"}) {
    a::AttributionRequest off = request(method), on = request(method);
    off.checkpointing = "off";
    on.checkpointing = "on";
    at::Tensor x = a::attribute(*model, off).sequences[0].attributions, y = a::attribute(*model, on).sequences[0].attributions;
    ASSERT_TRUE(x.isnan().equal(y.isnan()));
    const double d = max_diff(x.nan_to_num(0), y.nan_to_num(0)), s = scale(x.nan_to_num(0));
    if (!(d <= 1e-5 * s)) throw t::Failure(method + ": checkpointing on differs by " + std::to_string(d) + " (scale " + std::to_string(s) + ")");
  }
}

TEST(checkpointing_on_is_refused_where_blocks_cannot_be_recomputed) {
  auto model = stories();
  for (const std::string method : {"occlusion", "attention", "deeplift", "layer_integrated_gradients"}) {
    a::AttributionRequest r = request(method);
    r.checkpointing = "on";
    ASSERT_THROWS_CODE(a::attribute(*model, r), ErrorCode::kInvalidOption, "gradientCheckpointing");
  }
  a::AttributionRequest bad = request("saliency");
  bad.checkpointing = "sometimes";
  ASSERT_THROWS_CODE(a::attribute(*model, bad), ErrorCode::kInvalidOption, "gradientCheckpointing");
}

TEST(budget_below_one_row_is_out_of_memory_and_the_model_stays_usable) {
  auto model = stories();
  const at::Tensor expected = a::attribute(*model, request("saliency")).sequences[0].attributions;
  for (const std::string method : {"saliency", "integrated_gradients", "deeplift", "occlusion", "attention"}) {
    a::AttributionRequest tiny = request(method);
    tiny.memory_budget_bytes = 1000;
    ASSERT_THROWS_CODE(a::attribute(*model, tiny), ErrorCode::kOutOfMemory, "more than the memoryBudget of 1000 bytes");
  }
  a::AttributionRequest tiny = request("saliency");
  tiny.memory_budget_bytes = 1000;
  try {
    a::attribute(*model, tiny);
  } catch (const inseq::core::Error& e) {
    // The message names what one row needs: the longest row (9 tokens) with its blocks recomputed.
    ASSERT_TRUE(std::string(e.what()).find("One row of 9 tokens needs ") != std::string::npos);
    ASSERT_TRUE(std::string(e.what()).find("with gradient checkpointing") != std::string::npos);
  }
  // The next call works and gives the same result.
  at::Tensor again = a::attribute(*model, request("saliency")).sequences[0].attributions;
  ASSERT_TRUE(again.nan_to_num(0).equal(expected.nan_to_num(0)));
}

TEST(auto_checkpointing_fits_rows_that_would_not_fit_whole) {
  // stories260K (5 blocks, 64 wide): a row of 9 tokens keeps ~265 KB whole, ~70 KB checkpointed. Under 150 KB
  // "auto" recomputes blocks and matches the unbounded result; "off" cannot fit and says so.
  auto model = stories();
  const at::Tensor expected = a::attribute(*model, request("integrated_gradients")).sequences[0].attributions;
  a::AttributionRequest r = request("integrated_gradients");
  r.memory_budget_bytes = 150000;
  at::Tensor got = a::attribute(*model, r).sequences[0].attributions;
  ASSERT_TRUE(max_diff(got.nan_to_num(0), expected.nan_to_num(0)) <= 1e-5 * scale(expected.nan_to_num(0)));
  r.checkpointing = "off";
  ASSERT_THROWS_CODE(a::attribute(*model, r), ErrorCode::kOutOfMemory, "forward + backward");
}

TEST(memory_budget_auto_and_the_mib_alias) {
  auto model = stories();
  const at::Tensor expected = a::attribute(*model, request("saliency")).sequences[0].attributions.nan_to_num(0);
  a::AttributionRequest autob = request("saliency");
  autob.memory_budget_bytes = a::AttributionRequest::kBudgetAuto;
  ASSERT_TRUE(max_diff(a::attribute(*model, autob).sequences[0].attributions.nan_to_num(0), expected) <= 1e-6);
  // memoryBudgetMb (the MiB alias) still drives the packing.
  a::AttributionRequest mb = request("saliency");
  mb.memory_budget_mb = 1;
  ASSERT_TRUE(max_diff(a::attribute(*model, mb).sequences[0].attributions.nan_to_num(0), expected) <= 1e-5 * scale(expected));
}
