// The training-sequence file of inseq-train: one sequence per line, token ids as decimal integers separated by
// single spaces, every line ending in "\n" (what scripts/train-default-model.mjs writes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inseq::train {

// Throws core::Error(kNotFound) for a missing file and core::Error(kInvalidOption) naming the line of a
// malformed one. Ids are not checked against a vocabulary here (train_causal_lm does that).
std::vector<std::vector<int64_t>> read_sequences(const std::string& path);

}  // namespace inseq::train
