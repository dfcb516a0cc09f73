// Native encoder-decoders (marian, bart, mbart, m2m_100, t5, t5-v1_1) against tiny random checkpoints made by
// transformers' save_pretrained (scripts/reference/make_seq2seq_checkpoints.py): logits at every decoder
// position, the encoder's last hidden state, layer-0 cross attentions (t5: also encoder / decoder self
// attentions and the decoder's last hidden state), greedy and batched greedy tokens.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <torch/csrc/autograd/autograd.h>

#include "attribution/engine.h"
#include "attribution/value_zeroing.h"
#include "core/json.h"
#include "models/concat_seq2seq.h"
#include "models/seq2seq.h"
#include "tests/test.h"

using inseq::core::Json;
namespace m = inseq::models;
namespace t = inseq::testing;

namespace {

std::vector<int64_t> ints(const Json& arr) {
  std::vector<int64_t> out;
  for (const auto& v : arr.as_array()) out.push_back(v.as_int());
  return out;
}

double max_diff_json(const at::Tensor& values, const Json& expected) {  // values [n] vs a JSON array of n
  at::Tensor exp = at::empty({static_cast<int64_t>(expected.size())}, at::kFloat);
  for (size_t i = 0; i < expected.size(); ++i) exp[static_cast<int64_t>(i)] = expected[i].as_double();
  return (values.to(at::kCPU, at::kFloat) - exp).abs().max().item<double>();
}

}  // namespace

TEST(seq2seq_reference_checkpoints_match_transformers) {
  const double tol = t::test_device().is_cuda() ? 2e-3 : 1e-4;
  int checked = 0;
  for (const std::string name : {"marian", "bart", "mbart", "m2m_100", "t5", "t5-v1_1"}) {
    const std::string dir = t::repo_dir() + "/test/fixtures/reference-seq2seq/" + name;
    if (!t::file_exists(dir + "/golden.json")) throw t::Failure("missing " + dir + "/golden.json");
    Json g = Json::parse(t::read_file(dir + "/golden.json"));
    auto model = m::load_encoder_decoder_lm(dir, t::test_device());  // Seq2SeqLM or T5LM by model_type
    c10::InferenceMode guard;
    // [heads][q][k] JSON of transformers vs [heads, q, k]
    auto check_attention = [&](const at::Tensor& a, const Json& expected, const std::string& what) {
      ASSERT_EQ(a.size(0), static_cast<int64_t>(expected.size()));
      for (int64_t h = 0; h < a.size(0); ++h)
        for (int64_t q = 0; q < a.size(1); ++q) {
          if (max_diff_json(a[h][q], expected[h][q]) >= tol) throw t::Failure(name + ": " + what + " differ at head " + std::to_string(h));
        }
    };
    std::vector<std::vector<int64_t>> sources;
    m::GenerationOptions o;  // greedy, no early stop (eos_token_id=None in the goldens)
    o.pad_token_id = model->info().pad_token_id;
    for (size_t e = 0; e < g["sources"].size(); ++e) {
      std::vector<int64_t> src = ints(g["sources"][e]), dec = ints(g["decoder_inputs"][e]);
      sources.push_back(src);
      at::Tensor s = at::tensor(src, at::kLong).unsqueeze(0), d = at::tensor(dec, at::kLong).unsqueeze(0);
      m::EncDecRequest r;
      r.source_embeds = model->embed_source(s);
      r.source_mask = at::ones_like(s).to(t::test_device());
      r.target_embeds = model->embed_target(d);
      r.output_attentions = true;
      r.output_final_states = true;
      m::EncDecOutput out = model->forward(r);
      at::Tensor logits = out.logits.squeeze(0);  // [T, V]
      for (int64_t p = 0; p < logits.size(0); ++p) {
        const double diff = max_diff_json(logits[p], g["logits"][e][p]);
        if (diff > tol) throw t::Failure(name + ": logits differ by " + std::to_string(diff) + " at example " + std::to_string(e) + " position " + std::to_string(p));
      }
      if (e == 0) {
        at::Tensor enc = out.encoder_final[0];  // [S, d]
        for (int64_t p = 0; p < enc.size(0); ++p) {
          const double diff = max_diff_json(enc[p], g["encoder_last_hidden_state"][p]);
          if (diff > tol) throw t::Failure(name + ": encoder state differs by " + std::to_string(diff));
        }
        if (g.has("decoder_last_hidden_state_example0")) {  // t5: after the final norm, before the rescale
          at::Tensor dh = out.decoder_final[0];  // [T, d]
          for (int64_t p = 0; p < dh.size(0); ++p) ASSERT_TRUE(max_diff_json(dh[p], g["decoder_last_hidden_state_example0"][p]) < tol);
        }
      }
      if (e == 1) {
        check_attention(out.cross_attentions[0][0], g["cross_attentions_layer0_example1"], "layer-0 cross attentions");
        if (g.has("encoder_attentions_layer0_example1")) {
          check_attention(out.encoder_attentions[0][0], g["encoder_attentions_layer0_example1"], "layer-0 encoder attentions");
          check_attention(out.decoder_attentions.back()[0], g["decoder_attentions_last_example1"], "last decoder self attentions");
        }
      }
      o.max_new_tokens = static_cast<int64_t>(g["greedy"][e].size());
      auto greedy = m::generate_encoder_decoder(*model, {src}, o).sequences;
      if (greedy[0] != ints(g["greedy"][e])) throw t::Failure(name + ": greedy tokens differ for example " + std::to_string(e));
    }
    o.max_new_tokens = static_cast<int64_t>(g["greedy_batched"][0].size());
    auto batched = m::generate_encoder_decoder(*model, sources, o).sequences;
    for (size_t e = 0; e < sources.size(); ++e) {
      if (batched[e] != ints(g["greedy_batched"][e])) throw t::Failure(name + ": batched greedy tokens differ for example " + std::to_string(e));
    }
    ++checked;
  }
  ASSERT_EQ(checked, 6);
}

TEST(seq2seq_encoder_reuse_equals_recomputing_it) {
  const std::string dir = t::repo_dir() + "/test/fixtures/reference-seq2seq/bart";
  auto model = m::load_seq2seq_lm(dir, t::test_device());
  c10::InferenceMode guard;
  at::Tensor s = at::tensor(std::vector<int64_t>{5, 9, 13, 7, 2}, at::kLong).unsqueeze(0);
  at::Tensor mask = at::ones_like(s);
  at::Tensor enc = model->encode(model->embed_source(s), mask);
  std::vector<int64_t> dec = {model->config().decoder_start_token_id, 11, 17, 4};
  at::Tensor full = model->decode(model->embed_target(at::tensor(dec, at::kLong).unsqueeze(0)), enc, mask, nullptr, false).logits[0];
  m::DecoderCache cache;  // encoder once, decoder step by step with the self/cross cache
  for (size_t p = 0; p < dec.size(); ++p) {
    at::Tensor step = model->embed_target(at::tensor(std::vector<int64_t>{dec[p]}, at::kLong).unsqueeze(0));
    at::Tensor l = model->decode(step, enc, mask, &cache, false).logits[0][0];
    ASSERT_TRUE((l.to(at::kCPU) - full[static_cast<int64_t>(p)].to(at::kCPU)).abs().max().item<double>() < 1e-4);
  }
}

// The engine on the source ++ target adapter equals a direct computation: saliency of p(y_t) with respect
// to the source and target embeddings, one autograd call per step on EncoderDecoderLM::forward.
TEST(seq2seq_engine_saliency_equals_direct_gradients) {
  const std::string dir = t::repo_dir() + "/test/fixtures/reference-seq2seq/bart";
  auto model = m::load_seq2seq_lm(dir, t::test_device());
  auto adapter = std::make_shared<m::ConcatenatedSeq2Seq>(model);
  const std::vector<int64_t> src = {52, 21, 38, 153, 67, 38, 2}, tgt = {2, 52, 13, 57, 152, 6, 2};
  const std::vector<int64_t> src2 = {52, 21, 2};  // a second, shorter example in the same batch
  inseq::attribution::AttributionRequest r;
  r.method = "saliency";
  r.granular = true;  // compared with direct gradients over the hidden dimension
  std::vector<int64_t> seq = src, seq2 = src2;
  seq.insert(seq.end(), tgt.begin(), tgt.end());
  seq2.insert(seq2.end(), tgt.begin(), tgt.end());
  r.sequences = {seq, seq2};
  r.source_lengths = {7, 3};
  r.attr_start = {8, 4};
  r.attr_end = {14, 10};
  auto res = inseq::attribution::attribute(*adapter, r);
  for (int e = 0; e < 2; ++e) {
    const std::vector<int64_t>& s = e == 0 ? src : src2;
    const int64_t S = static_cast<int64_t>(s.size()), T = static_cast<int64_t>(tgt.size());
    const at::Tensor a = res.sequences[e].attributions;  // [S + T - 1, steps, d]
    ASSERT_EQ(a.size(0), S + T);
    for (int64_t k = 1; k < T; ++k) {  // step predicting target[k]
      at::Tensor se = model->embed_source(at::tensor(s, at::kLong).unsqueeze(0)).detach().requires_grad_(true);
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
      ASSERT_TRUE(col.slice(0, S + k).isnan().all().item<bool>());  // the target from position k on is not causal
    }
  }
}

// Layer gradient x activation at a block through the adapter equals a direct computation: block 1 of the encoder
// (and, with attribute_target, of the decoder) made a leaf on EncoderDecoderLM::forward, its gradient times its
// value; two examples of different source lengths in one batch.
TEST(seq2seq_engine_block_layer_equals_direct_gradients) {
  const std::string dir = t::repo_dir() + "/test/fixtures/reference-seq2seq/bart";
  auto model = m::load_seq2seq_lm(dir, t::test_device());
  auto adapter = std::make_shared<m::ConcatenatedSeq2Seq>(model);
  const std::vector<int64_t> src = {52, 21, 38, 153, 67, 38, 2}, src2 = {52, 21, 2}, tgt = {2, 52, 13, 57, 152, 6, 2};
  for (const bool target_too : {false, true}) {
    inseq::attribution::AttributionRequest r;
    r.method = "layer_gradient_x_activation";
    r.layer = 1;
    r.attribute_target = target_too;
    r.granular = true;
    std::vector<int64_t> seq = src, seq2 = src2;
    seq.insert(seq.end(), tgt.begin(), tgt.end());
    seq2.insert(seq2.end(), tgt.begin(), tgt.end());
    r.sequences = {seq, seq2};
    r.source_lengths = {7, 3};
    r.attr_start = {8, 4};
    r.attr_end = {14, 10};
    auto res = inseq::attribution::attribute(*adapter, r);
    for (int e = 0; e < 2; ++e) {
      const std::vector<int64_t>& s = e == 0 ? src : src2;
      const int64_t S = static_cast<int64_t>(s.size()), T = static_cast<int64_t>(tgt.size());
      const at::Tensor a = res.sequences[e].attributions;  // [S + T, steps, d]
      for (int64_t k = 1; k < T; ++k) {
        at::Tensor enc, dec;
        m::EncDecRequest q;
        q.source_embeds = model->embed_source(at::tensor(s, at::kLong).unsqueeze(0).to(t::test_device()));
        q.source_mask = at::ones({1, S}, at::TensorOptions().dtype(at::kLong).device(t::test_device()));
        q.target_embeds = model->embed_target(at::tensor(tgt, at::kLong).slice(0, 0, k).unsqueeze(0).to(t::test_device()));
        q.layer_hook = [&](const std::string& stack, int64_t l, const at::Tensor& h) {
          if (l != 1 || (stack == "decoder" && !target_too)) return h;
          at::Tensor& leaf = stack == "encoder" ? enc : dec;
          leaf = h.detach().requires_grad_(true);
          return leaf;
        };
        at::Tensor p = model->forward(q).logits[0][k - 1].softmax(-1)[tgt[k]];
        at::Tensor col = a.select(1, k - 1).to(at::kCPU);  // [S + T, d]
        // With the decoder's block 1 (its last) cut as well, the encoder reaches the logits only through it: the
        // source's share is all in the target rows and the encoder block's gradient is 0 (unused in the graph).
        auto g = torch::autograd::grad({p}, target_too ? std::vector<at::Tensor>{enc, dec} : std::vector<at::Tensor>{enc}, {}, false, false, true);
        at::Tensor g_enc = g[0].defined() ? g[0][0] : at::zeros_like(enc[0]);
        ASSERT_NEAR((col.slice(0, 0, S) - (g_enc * enc[0]).detach().to(at::kCPU)).abs().max().item<double>(), 0.0, 1e-5);
        ASSERT_EQ(g[0].defined(), !target_too);
        if (target_too) {
          ASSERT_NEAR((col.slice(0, S, S + k) - (g[1][0] * dec[0]).detach().to(at::kCPU)).abs().max().item<double>(), 0.0, 1e-5);
        }
        ASSERT_TRUE(col.slice(0, S + k).isnan().all().item<bool>());
      }
    }
  }
}

// Value zeroing batched over zeroed tokens equals one forward per zeroed token.
TEST(seq2seq_value_zeroing_batched_equals_one_token_per_forward) {
  const std::string dir = t::repo_dir() + "/test/fixtures/reference-seq2seq/m2m_100";
  auto model = m::load_seq2seq_lm(dir, t::test_device());
  at::Tensor src = at::tensor(std::vector<int64_t>{52, 21, 38, 153, 2}, at::kLong), tgt = at::tensor(std::vector<int64_t>{2, 52, 13, 57}, at::kLong);
  inseq::attribution::ValueZeroingOptions one, many;
  one.rows_per_batch = 1;
  many.rows_per_batch = 16;
  auto a = inseq::attribution::value_zeroing_seq2seq(*model, src, tgt, one);
  auto b = inseq::attribution::value_zeroing_seq2seq(*model, src, tgt, many);
  for (const auto& [x, y] : {std::pair{a.cross, b.cross}, {a.decoder_self, b.decoder_self}, {a.encoder_self, b.encoder_self}}) {
    ASSERT_TRUE(x.isnan().equal(y.isnan()));
    ASSERT_NEAR(at::nan_to_num(x - y).abs().max().item<double>(), 0.0, 1e-4);  // normalised scores: batch rounding x 1/sum
    // every (query, layer) row sums to 1 over the zeroed tokens (or is all zero)
    at::Tensor sums = at::nansum(x, 0);
    ASSERT_TRUE((sums - 1).abs().lt(1e-4).logical_or(sums.eq(0)).all().item<bool>());
  }
  ASSERT_EQ(a.cross.size(0), 5);
  ASSERT_EQ(a.cross.size(1), 4);
  ASSERT_EQ(a.encoder_self.size(2), 2);
}
