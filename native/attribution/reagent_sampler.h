// ReAGent's randomness and replacements (reagent.cc; tested in native/tests/reagent_tests.cc): a small generator
// per probe, seeded from (request seed, the example's tokens, the step, the probe) so a probe draws the same
// numbers whatever is batched with it, and the part-of-speech table that replacement tokens come from.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace inseq::attribution::detail {

// splitmix64: one per probe.
struct ProbeRng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  int64_t below(int64_t n) { return std::min<int64_t>(n - 1, static_cast<int64_t>(uniform() * static_cast<double>(n))); }
};

inline uint64_t seed_mix(uint64_t a, uint64_t b) { return ProbeRng{a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL)}.next(); }

// The seed of probe `probe` at prefix length `t` of an example whose token ids are `ids`.
inline uint64_t probe_seed(uint64_t seed, const std::vector<int64_t>& ids, int64_t t, int64_t probe) {
  uint64_t content = 1469598103934665603ULL;  // FNV-1a over the token ids
  for (int64_t id : ids) content = (content ^ static_cast<uint64_t>(id)) * 1099511628211ULL;
  return seed_mix(seed_mix(seed_mix(seed, content), static_cast<uint64_t>(t)), static_cast<uint64_t>(probe));
}

// The POS groups of one side of the vocabulary: the group of each id (< 0, or an id past the table: special,
// never replaced) and each group's members.
class PosTable {
 public:
  explicit PosTable(const std::vector<int32_t>& groups) : groups_(&groups) {
    for (size_t id = 0; id < groups.size(); ++id) {
      if (groups[id] < 0) continue;
      if (static_cast<size_t>(groups[id]) >= members_.size()) members_.resize(static_cast<size_t>(groups[id]) + 1);
      members_[static_cast<size_t>(groups[id])].push_back(static_cast<int64_t>(id));
    }
  }
  int32_t group(int64_t id) const {
    return id >= 0 && static_cast<size_t>(id) < groups_->size() ? (*groups_)[static_cast<size_t>(id)] : -1;
  }
  bool replaceable(int64_t id) const { return group(id) >= 0; }
  // A uniformly drawn member of id's group (possibly id itself, as Inseq); id must be replaceable.
  int64_t sample(int64_t id, ProbeRng& rng) const {
    const auto& m = members_[static_cast<size_t>(group(id))];
    return m[static_cast<size_t>(rng.below(static_cast<int64_t>(m.size())))];
  }

 private:
  const std::vector<int32_t>* groups_;
  std::vector<std::vector<int64_t>> members_;
};

}  // namespace inseq::attribution::detail
