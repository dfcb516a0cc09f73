// Native encoder-decoders (marian, bart, mbart, m2m_100) against tiny random checkpoints made by
// transformers' save_pretrained (scripts/reference/make_seq2seq_checkpoints.py): logits at every decoder
// position, the encoder's last hidden state, layer-0 cross attentions, greedy and batched greedy tokens.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/json.h"
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
  for (const std::string name : {"marian", "bart", "mbart", "m2m_100"}) {
    const std::string dir = t::repo_dir() + "/test/fixtures/reference-seq2seq/" + name;
    if (!t::file_exists(dir + "/golden.json")) throw t::Failure("missing " + dir + "/golden.json");
    Json g = Json::parse(t::read_file(dir + "/golden.json"));
    auto model = m::load_seq2seq_lm(dir, t::test_device());
    c10::InferenceMode guard;
    std::vector<std::vector<int64_t>> sources;
    for (size_t e = 0; e < g["sources"].size(); ++e) {
      std::vector<int64_t> src = ints(g["sources"][e]), dec = ints(g["decoder_inputs"][e]);
      sources.push_back(src);
      at::Tensor s = at::tensor(src, at::kLong).unsqueeze(0), d = at::tensor(dec, at::kLong).unsqueeze(0);
      at::Tensor mask = at::ones_like(s);
      at::Tensor enc = model->encode(model->embed_source(s), mask);  // [1, S, d]
      auto out = model->decode(model->embed_target(d), enc, mask, nullptr, true);
      at::Tensor logits = out.logits.squeeze(0);  // [T, V]
      for (int64_t p = 0; p < logits.size(0); ++p) {
        const double diff = max_diff_json(logits[p], g["logits"][e][p]);
        if (diff > tol) throw t::Failure(name + ": logits differ by " + std::to_string(diff) + " at example " + std::to_string(e) + " position " + std::to_string(p));
      }
      if (e == 0) {
        for (int64_t p = 0; p < enc.size(1); ++p) {
          const double diff = max_diff_json(enc[0][p], g["encoder_last_hidden_state"][p]);
          if (diff > tol) throw t::Failure(name + ": encoder state differs by " + std::to_string(diff));
        }
      }
      if (e == 1) {
        at::Tensor ca = out.cross_attentions[0].squeeze(0);  // [heads, T, S]
        for (int64_t h = 0; h < ca.size(0); ++h)
          for (int64_t q = 0; q < ca.size(1); ++q) ASSERT_TRUE(max_diff_json(ca[h][q], g["cross_attentions_layer0_example1"][h][q]) < tol);
      }
      auto greedy = m::generate_seq2seq(*model, {src}, static_cast<int64_t>(g["greedy"][e].size()), {});
      if (greedy[0] != ints(g["greedy"][e])) throw t::Failure(name + ": greedy tokens differ for example " + std::to_string(e));
    }
    auto batched = m::generate_seq2seq(*model, sources, static_cast<int64_t>(g["greedy_batched"][0].size()), {});
    for (size_t e = 0; e < sources.size(); ++e) {
      if (batched[e] != ints(g["greedy_batched"][e])) throw t::Failure(name + ": batched greedy tokens differ for example " + std::to_string(e));
    }
    ++checked;
  }
  ASSERT_EQ(checked, 4);
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
  m::Seq2SeqCache cache;  // encoder once, decoder step by step with the self/cross cache
  for (size_t p = 0; p < dec.size(); ++p) {
    at::Tensor step = model->embed_target(at::tensor(std::vector<int64_t>{dec[p]}, at::kLong).unsqueeze(0));
    at::Tensor l = model->decode(step, enc, mask, &cache, false).logits[0][0];
    ASSERT_TRUE((l.to(at::kCPU) - full[static_cast<int64_t>(p)].to(at::kCPU)).abs().max().item<double>() < 1e-4);
  }
}
