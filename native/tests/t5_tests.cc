// T5 (models/t5.h) beyond the transformers goldens of seq2seq_tests.cc: the relative position bias over -40..40
// against transformers, config parsing (the v1.0 / v1.1 switch, transformers 4 and 5 spellings, refused values),
// the KV cache against the full decoder (the decoder's relative bias for the new query positions only), padded
// batches against single examples, dropout in training mode through the attribution adapter, value zeroing with
// d_kv != d_model / heads, and the engine's saliency against direct gradients.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <torch/csrc/autograd/autograd.h>

#include "attribution/engine.h"
#include "attribution/value_zeroing.h"
#include "core/error.h"
#include "core/json.h"
#include "models/concat_seq2seq.h"
#include "models/seq2seq.h"
#include "models/t5.h"
#include "tests/test.h"

using inseq::core::ErrorCode;
using inseq::core::Json;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

std::string fixture(const std::string& name) { return t::repo_dir() + "/test/fixtures/reference-seq2seq/" + name; }

m::T5Config parse(const std::string& json) { return m::parse_t5_config(Json::parse(json), "config.json"); }

}  // namespace

TEST(t5_config_switches_and_refused_values) {
  // The fixtures: v1.0 (relu, tied head, rescale) and v1.1 (gated-gelu, untied lm_head, no rescale).
  auto v10 = m::load_t5_lm(fixture("t5"), c10::Device(c10::kCPU));
  auto v11 = m::load_t5_lm(fixture("t5-v1_1"), c10::Device(c10::kCPU));
  ASSERT_TRUE(!v10->config().gated && v10->config().activation == "relu" && v10->config().scale_decoder_outputs);
  ASSERT_TRUE(v11->config().gated && v11->config().activation == "gelu_new" && !v11->config().scale_decoder_outputs);
  ASSERT_EQ(v10->config().num_buckets, 8);
  ASSERT_EQ(v11->config().max_distance, 12);
  ASSERT_EQ(v10->info().decoder_start_token_id, 0);
  ASSERT_EQ(v10->info().eos_token_ids[0], 1);
  ASSERT_EQ(v10->info().max_positions, 0);  // relative positions: no limit
  // T5Config defaults; transformers 4's tie_word_embeddings: false (Flan-T5) means no rescale; transformers 5's
  // scale_decoder_outputs wins over its always-true tie_word_embeddings.
  m::T5Config d = parse(R"({"model_type": "t5"})");
  ASSERT_TRUE(d.d_model == 512 && d.d_kv == 64 && d.d_ff == 2048 && d.encoder_layers == 6 && d.decoder_layers == 6 && d.num_heads == 8);
  ASSERT_TRUE(d.num_buckets == 32 && d.max_distance == 128 && d.scale_decoder_outputs && !d.gated && d.decoder_start_token_id == 0);
  ASSERT_TRUE(!parse(R"({"tie_word_embeddings": false, "feed_forward_proj": "gated-gelu"})").scale_decoder_outputs);
  ASSERT_TRUE(!parse(R"({"tie_word_embeddings": true, "scale_decoder_outputs": false})").scale_decoder_outputs);
  ASSERT_EQ(parse(R"({"num_layers": 4, "num_decoder_layers": 2})").decoder_layers, 2);
  ASSERT_EQ(parse(R"({"num_layers": 4, "num_decoder_layers": null})").decoder_layers, 4);
  ASSERT_EQ(parse(R"({"feed_forward_proj": "gated-silu"})").activation, "silu");
  ASSERT_THROWS_CODE(parse(R"({"feed_forward_proj": "gated-tanh"})"), ErrorCode::kUnsupportedModel, "feed_forward_proj");
  ASSERT_THROWS_CODE(parse(R"({"feed_forward_proj": "gelu-relu"})"), ErrorCode::kBadCheckpoint, "feed_forward_proj");
  ASSERT_THROWS_CODE(parse(R"({"d_kv": 0})"), ErrorCode::kBadCheckpoint, "d_kv");
  ASSERT_THROWS_CODE(parse(R"({"relative_attention_num_buckets": 2})"), ErrorCode::kBadCheckpoint, "relative_attention_num_buckets");
  ASSERT_THROWS_CODE(parse(R"({"relative_attention_max_distance": 8, "relative_attention_num_buckets": 16})"), ErrorCode::kBadCheckpoint,
                     "relative_attention_max_distance");
  ASSERT_THROWS_CODE(parse(R"({"vocab_size": 10, "eos_token_id": 10})"), ErrorCode::kBadCheckpoint, "eos_token_id");
  ASSERT_THROWS_CODE(parse(R"({"dropout_rate": 1.5})"), ErrorCode::kBadCheckpoint, "dropout_rate");
  // The BART family's parser refuses t5; the dispatcher loads it.
  ASSERT_THROWS_CODE(m::parse_seq2seq_config(Json::parse(R"({"model_type": "t5"})"), "config.json"), ErrorCode::kUnsupportedModel, "t5");
  ASSERT_TRUE(m::is_seq2seq_model_type("t5"));
  ASSERT_EQ(m::load_encoder_decoder_lm(fixture("t5"), c10::Device(c10::kCPU))->info().model_type, "t5");
}

// Block 0's relative position bias for one query at position 40 over keys 0..80 (relative positions -40..40:
// exact, logarithmic and clamped buckets, bidirectional in the encoder, causal in the decoder) equals
// transformers' compute_bias.
TEST(t5_position_bias_matches_transformers) {
  for (const std::string name : {"t5", "t5-v1_1"}) {
    Json g = Json::parse(t::read_file(fixture(name) + "/golden.json"));
    auto model = m::load_t5_lm(fixture(name), t::test_device());
    c10::InferenceMode guard;
    for (const bool decoder : {false, true}) {
      const Json& expected = g[decoder ? "decoder_position_bias_q40_k81" : "encoder_position_bias_q40_k81"];
      at::Tensor bias = model->position_bias(40, 1, 81, decoder).to(at::kCPU, at::kFloat)[0];  // [heads, 1, 81]
      ASSERT_EQ(bias.size(0), static_cast<int64_t>(expected.size()));
      for (int64_t h = 0; h < bias.size(0); ++h)
        for (int64_t k = 0; k < 81; ++k) ASSERT_NEAR(bias[h][0][k].item<double>(), expected[h][k].as_double(), 1e-7);
    }
  }
}

// Step-by-step decoding with the self/cross cache equals the full decoder at every position (the relative bias
// of the new query over past + 1 keys), and a right-padded batch equals each example alone.
TEST(t5_cache_and_padded_batch_equal_full_single_forward) {
  for (const std::string name : {"t5", "t5-v1_1"}) {
    auto model = m::load_t5_lm(fixture(name), t::test_device());
    c10::InferenceMode guard;
    const std::vector<int64_t> src = {52, 21, 38, 153, 67, 38, 1}, src2 = {88, 37, 1};
    const std::vector<int64_t> dec = {0, 11, 17, 4, 90, 23, 5, 60, 7, 31, 12, 44, 9, 100, 3, 8, 19, 21};  // past max_distance
    at::Tensor s = at::tensor(src, at::kLong).unsqueeze(0);
    at::Tensor mask = at::ones_like(s).to(t::test_device());
    at::Tensor enc = model->encode(model->embed_source(s), mask);
    at::Tensor full = model->decode(model->embed_target(at::tensor(dec, at::kLong).unsqueeze(0)), enc, mask, nullptr, false).logits[0].to(at::kCPU);
    m::DecoderCache cache;
    for (size_t p = 0; p < dec.size(); ++p) {
      at::Tensor step = model->embed_target(at::tensor(std::vector<int64_t>{dec[p]}, at::kLong).unsqueeze(0));
      at::Tensor l = model->decode(step, enc, mask, &cache, false).logits[0][0].to(at::kCPU);
      ASSERT_NEAR((l - full[static_cast<int64_t>(p)]).abs().max().item<double>(), 0.0, 1e-4);
    }
    // [2, 7] sources, the second right-padded with pad; [2, 5] targets
    at::Tensor ids = at::tensor(std::vector<int64_t>{52, 21, 38, 153, 67, 38, 1, 88, 37, 1, 0, 0, 0, 0}, at::kLong).view({2, 7});
    at::Tensor smask = ids.ne(0).to(at::kLong);
    smask[0].fill_(1);
    at::Tensor tgt = at::tensor(std::vector<int64_t>{0, 11, 17, 4, 90, 0, 5, 60, 7, 31}, at::kLong).view({2, 5});
    m::EncDecRequest r;
    r.source_embeds = model->embed_source(ids);
    r.source_mask = smask.to(t::test_device());
    r.target_embeds = model->embed_target(tgt);
    at::Tensor batched = model->forward(r).logits.to(at::kCPU);  // [2, 5, V]
    for (int64_t b = 0; b < 2; ++b) {
      const std::vector<int64_t>& one = b == 0 ? src : src2;
      m::EncDecRequest q;
      at::Tensor si = at::tensor(one, at::kLong).unsqueeze(0);
      q.source_embeds = model->embed_source(si);
      q.source_mask = at::ones_like(si).to(t::test_device());
      q.target_embeds = model->embed_target(tgt.slice(0, b, b + 1));
      at::Tensor single = model->forward(q).logits[0].to(at::kCPU);
      ASSERT_NEAR((batched[b] - single).abs().max().item<double>(), 0.0, 1e-5);
    }
  }
}

// Dropout (dropout_rate 0.1) applies in training mode only: through the adapter, set_training(true) changes the
// logits from run to run, set_training(false) gives the eval logits back.
TEST(t5_dropout_in_training_mode_only) {
  auto model = m::load_t5_lm(fixture("t5"), t::test_device());
  m::ConcatenatedSeq2Seq adapter(model);
  ASSERT_TRUE(adapter.capabilities().dropout);
  c10::InferenceMode guard;
  m::ForwardRequest r;
  const std::vector<int64_t> seq = {52, 21, 38, 1, 0, 11, 17};
  r.source_lengths = at::tensor(std::vector<int64_t>{4}, at::kLong);
  r.inputs_embeds = adapter.embed_split(at::tensor(seq, at::kLong).unsqueeze(0), r.source_lengths);
  at::Tensor eval1 = adapter.forward(r).logits.to(at::kCPU);
  adapter.set_training(true);
  at::manual_seed(0);
  at::Tensor train1 = adapter.forward(r).logits.to(at::kCPU);
  at::Tensor train2 = adapter.forward(r).logits.to(at::kCPU);
  adapter.set_training(false);
  at::Tensor eval2 = adapter.forward(r).logits.to(at::kCPU);
  ASSERT_TRUE(eval1.equal(eval2));
  ASSERT_TRUE((train1 - eval1).abs().max().item<double>() > 1e-3);
  ASSERT_TRUE((train1 - train2).abs().max().item<double>() > 1e-3);
}

// Value zeroing hooks the values [b, heads, n, d_kv] (d_kv * heads = 24 != d_model = 32): batched over zeroed
// tokens equals one forward per token, rows sum to 1.
TEST(t5_value_zeroing_batched_equals_one_token_per_forward) {
  auto model = m::load_t5_lm(fixture("t5-v1_1"), t::test_device());
  at::Tensor src = at::tensor(std::vector<int64_t>{52, 21, 38, 153, 1}, at::kLong), tgt = at::tensor(std::vector<int64_t>{0, 52, 13, 57}, at::kLong);
  inseq::attribution::ValueZeroingOptions one, many;
  one.rows_per_batch = 1;
  many.rows_per_batch = 16;
  auto a = inseq::attribution::value_zeroing_seq2seq(*model, src, tgt, one);
  auto b = inseq::attribution::value_zeroing_seq2seq(*model, src, tgt, many);
  for (const auto& [x, y] : {std::pair{a.cross, b.cross}, {a.decoder_self, b.decoder_self}, {a.encoder_self, b.encoder_self}}) {
    ASSERT_TRUE(x.isnan().equal(y.isnan()));
    ASSERT_NEAR(at::nan_to_num(x - y).abs().max().item<double>(), 0.0, 1e-4);
    at::Tensor sums = at::nansum(x, 0);
    ASSERT_TRUE((sums - 1).abs().lt(1e-4).logical_or(sums.eq(0)).all().item<bool>());
    ASSERT_TRUE(at::nan_to_num(x).abs().sum().item<double>() > 0);
  }
  ASSERT_EQ(a.cross.size(0), 5);
  ASSERT_EQ(a.decoder_self.size(0), 4);
  ASSERT_EQ(a.encoder_self.size(2), 2);
}

// The engine on the adapter equals direct gradients of p(y_k) on T5LM::forward (both stacks read the shared table).
TEST(t5_engine_saliency_equals_direct_gradients) {
  auto model = m::load_t5_lm(fixture("t5"), t::test_device());
  auto adapter = std::make_shared<m::ConcatenatedSeq2Seq>(model);
  const std::vector<int64_t> src = {52, 21, 38, 153, 67, 38, 1}, tgt = {0, 52, 13, 57, 152, 6, 1};
  inseq::attribution::AttributionRequest r;
  r.method = "saliency";
  r.granular = true;
  std::vector<int64_t> seq = src;
  seq.insert(seq.end(), tgt.begin(), tgt.end());
  r.sequences = {seq};
  r.source_lengths = {7};
  r.attr_start = {8};
  r.attr_end = {14};
  auto res = inseq::attribution::attribute(*adapter, r);
  const int64_t S = 7, T = 7;
  const at::Tensor a = res.sequences[0].attributions;  // [S + T, steps, d]
  for (int64_t k = 1; k < T; ++k) {
    at::Tensor se = model->embed_source(at::tensor(src, at::kLong).unsqueeze(0)).detach().requires_grad_(true);
    at::Tensor te = model->embed_target(at::tensor(tgt, at::kLong).slice(0, 0, k).unsqueeze(0)).detach().requires_grad_(true);
    m::EncDecRequest q;
    q.source_embeds = se;
    q.source_mask = at::ones({1, S}, at::TensorOptions().dtype(at::kLong).device(t::test_device()));
    q.target_embeds = te;
    at::Tensor p = model->forward(q).logits[0][k - 1].softmax(-1)[tgt[k]];
    auto g = torch::autograd::grad({p}, {se, te});
    at::Tensor col = a.select(1, k - 1);  // [S + T, d]
    ASSERT_NEAR((col.slice(0, 0, S) - g[0][0].abs().to(at::kCPU)).abs().max().item<double>(), 0.0, 1e-5);
    ASSERT_NEAR((col.slice(0, S, S + k) - g[1][0].abs().to(at::kCPU)).abs().max().item<double>(), 0.0, 1e-5);
  }
}
