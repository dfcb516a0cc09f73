// The per-example view of a request: ids on the device (and on the host, for row building without device
// reads), the attributed target span, baselines and contrast targets, each checked against the model.
#include <ATen/ATen.h>

#include "attribution/engine_context.h"
#include "core/error.h"
#include "models/encoder_decoder.h"

namespace inseq::attribution::detail {

using core::Error;
using core::ErrorCode;

void EngineContext::prepare() {
  const auto& r = req;
  const size_t E = r.sequences.size();
  if (E == 0) throw Error(ErrorCode::kInvalidOption, "Expected at least one sequence to attribute");
  if (r.attr_start.size() != E || r.attr_end.size() != E) throw Error(ErrorCode::kInvalidOption, "attr_start/attr_end must have one entry per sequence");
  const bool contrast = !r.contrast_sequences.empty();
  if (seq2seq && r.source_lengths.size() != E) throw Error(ErrorCode::kInvalidOption, "Encoder-decoder attribution needs one source length per sequence");
  if (!seq2seq && !r.source_lengths.empty()) throw Error(ErrorCode::kInvalidOption, "Source lengths are for encoder-decoder models only");
  if (seq2seq && contrast && r.contrast_source_lengths.size() != E) {
    throw Error(ErrorCode::kInvalidOption, "Encoder-decoder contrast targets need one contrast source length per sequence");
  }
  if (contrast && (r.contrast_sequences.size() != E || r.contrast_positions.size() != E)) {
    throw Error(ErrorCode::kInvalidOption, "contrast targets must have one entry per sequence");
  }
  const int64_t vocab = model.config().vocab_size;
  auto check_ids = [&](const std::vector<int64_t>& ids, const char* what) {
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab) throw Error(ErrorCode::kInvalidOption, std::string(what) + " token id " + std::to_string(id) + " is outside the vocabulary");
    }
  };
  for (size_t i = 0; i < E; ++i) {
    Example e;
    const auto& seq = r.sequences[i];
    check_ids(seq, "Input");
    e.n = static_cast<int64_t>(seq.size());
    if (!seq2seq) models::check_context(model, e.n, "Sequence " + std::to_string(i) + " (prompt + target, " + std::to_string(e.n) + " tokens)");
    e.start = r.attr_start[i];
    e.end = r.attr_end[i];
    if (e.start < 1 || e.end > e.n || e.start >= e.end) {
      throw Error(ErrorCode::kInvalidOption, "Expected 1 <= attrPosStart < attrPosEnd <= " + std::to_string(e.n) + " for sequence " +
                                                 std::to_string(i) + " but received [" + std::to_string(e.start) + ", " + std::to_string(e.end) + ")");
    }
    if (seq2seq) {
      e.src = r.source_lengths[i];
      if (e.src < 1 || e.src + 1 >= e.n) {
        throw Error(ErrorCode::kInvalidOption, "Sequence " + std::to_string(i) + " needs a non-empty source and a target after it");
      }
      if (e.start < e.src + 1) {
        throw Error(ErrorCode::kInvalidOption, "Expected attrPosStart >= 1 within the target of sequence " + std::to_string(i));
      }
      seq2seq->check_lengths(e.src, e.n - e.src);
    }
    e.host_ids = seq;
    e.ids = long_tensor(seq);
    if (!r.baselines.empty() && !r.baselines[i].empty()) {
      if (r.baselines[i].size() != seq.size()) throw Error(ErrorCode::kInvalidOption, "Baseline length differs from the input length for sequence " + std::to_string(i));
      check_ids(r.baselines[i], "Baseline");
      e.host_base_ids = r.baselines[i];
      e.base_ids = long_tensor(r.baselines[i]);
    }
    e.targets = e.ids.slice(0, e.start, e.end);
    e.positions = at::arange(e.start - 1, e.end - 1, at::TensorOptions().dtype(at::kLong).device(dev));
    if (contrast) {
      const auto& cs = r.contrast_sequences[i];
      const auto& cp = r.contrast_positions[i];
      check_ids(cs, "Contrast");
      if (!seq2seq) models::check_context(model, static_cast<int64_t>(cs.size()), "Contrast sequence " + std::to_string(i));
      if (static_cast<int64_t>(cp.size()) != e.steps()) throw Error(ErrorCode::kInvalidOption, "Expected one contrast position per attributed step");
      for (int64_t c : cp) {
        if (c < 1 || c >= static_cast<int64_t>(cs.size())) throw Error(ErrorCode::kInvalidOption, "Contrast position " + std::to_string(c) + " is out of range");
      }
      if (seq2seq) {
        e.contrast_src = r.contrast_source_lengths[i];
        if (e.contrast_src < 1 || e.contrast_src + 1 >= static_cast<int64_t>(cs.size())) {
          throw Error(ErrorCode::kInvalidOption, "Contrast sequence " + std::to_string(i) + " needs a non-empty source and target");
        }
        for (int64_t c : cp) {
          if (c < e.contrast_src + 1) throw Error(ErrorCode::kInvalidOption, "Contrast position " + std::to_string(c) + " is inside the contrast source");
        }
      }
      e.contrast_ids = long_tensor(cs);
      e.contrast_positions = long_tensor(cp);
      e.contrast_targets = e.contrast_ids.index_select(0, e.contrast_positions);
      for (int64_t c : cp) e.host_contrast_targets.push_back(cs[static_cast<size_t>(c)]);
    }
    add_steps(static_cast<double>(e.steps()));
    ex.push_back(std::move(e));
  }
}

}  // namespace inseq::attribution::detail
