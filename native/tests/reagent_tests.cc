// ReAGent's sampler (attribution/reagent_sampler.h): replacements stay in their part-of-speech group, special
// tokens (group < 0, ids past the table) are never replaceable, and a probe's draws depend on its seed only.
#include <map>
#include <set>

#include "attribution/reagent_sampler.h"
#include "tests/test.h"

namespace d = inseq::attribution::detail;

TEST(reagent_replacements_stay_in_their_pos_group) {
  // ids 0..2 special; groups of sizes 1, 2 and the rest.
  std::vector<int32_t> groups = {-1, -1, -1, 0, 1, 1, 2, 2, 2, 2, 2, 2};
  const d::PosTable table(groups);
  ASSERT_TRUE(!table.replaceable(0) && !table.replaceable(2));
  ASSERT_TRUE(!table.replaceable(12) && !table.replaceable(-1));  // past the table: special
  d::ProbeRng rng{d::probe_seed(7, {1, 5, 9}, 2, 3)};
  std::map<int64_t, std::set<int64_t>> seen;
  for (int k = 0; k < 20000; ++k) {
    for (int64_t id = 3; id < 12; ++id) {
      const int64_t r = table.sample(id, rng);
      ASSERT_EQ(table.group(r), table.group(id));
      seen[id].insert(r);
    }
  }
  ASSERT_EQ(seen[3].size(), size_t{1});  // a singleton group replaces a token by itself
  ASSERT_EQ(seen[4].size(), size_t{2});
  ASSERT_EQ(seen[6].size(), size_t{6});  // every member is drawn
}

TEST(reagent_probe_seeds_depend_on_seed_tokens_step_and_probe) {
  const std::vector<int64_t> ids = {1, 403, 407, 261};
  const uint64_t s = d::probe_seed(0, ids, 3, 0);
  ASSERT_EQ(s, d::probe_seed(0, ids, 3, 0));
  std::set<uint64_t> distinct = {s, d::probe_seed(1, ids, 3, 0), d::probe_seed(0, ids, 2, 0), d::probe_seed(0, ids, 3, 1),
                                 d::probe_seed(0, {1, 403, 407, 262}, 3, 0)};
  ASSERT_EQ(distinct.size(), size_t{5});
  d::ProbeRng a{s}, b{s};
  for (int k = 0; k < 100; ++k) {
    const double u = a.uniform();
    ASSERT_TRUE(u >= 0.0 && u < 1.0);
    ASSERT_EQ(u, b.uniform());
  }
}
