#include "train/sequences.h"

#include "core/error.h"
#include "core/files.h"

namespace inseq::train {

using core::Error;
using core::ErrorCode;

std::vector<std::vector<int64_t>> read_sequences(const std::string& path) {
  const std::string text = core::read_text_file(path);
  std::vector<std::vector<int64_t>> out;
  size_t pos = 0;
  for (int64_t line = 1; pos < text.size(); ++line) {
    const size_t end = text.find('\n', pos);
    const auto bad = [&](const std::string& what) {
      return Error(ErrorCode::kInvalidOption, "Expected " + what + " on line " + std::to_string(line) + " of " + path);
    };
    if (end == std::string::npos) throw bad("a final newline");
    std::vector<int64_t> ids;
    for (size_t i = pos; i < end;) {
      int64_t id = 0;
      const size_t start = i;
      while (i < end && text[i] >= '0' && text[i] <= '9' && i - start < 18) id = id * 10 + (text[i++] - '0');
      if (i == start || (i < end && text[i] != ' ') || (i < end && i + 1 == end)) {
        throw bad("token ids (non-negative integers) separated by single spaces");
      }
      ids.push_back(id);
      if (i < end) ++i;  // the space
    }
    if (ids.empty()) throw bad("at least one token id");
    out.push_back(std::move(ids));
    pos = end + 1;
  }
  return out;
}

}  // namespace inseq::train
