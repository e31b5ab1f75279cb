// For the passes' property tests (indexed_pass_test.cc,
// team_indexed_pass_test.cc): a random small cluster of two pools, and two
// passes' decisions compared.
#ifndef BERTH_DAEMON_PASS_TEST_UTIL_H_
#define BERTH_DAEMON_PASS_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/cluster_state.h"
#include "daemon/queue_policy.h"
#include "gtest/gtest.h"

namespace berth::daemon {

inline constexpr const char* kPassTestTypes[] = {"h100-80gb", "a100-40gb"};

// A ClusterState driven by a seeded generator: nodes n0..n9 of 2, 4 or 8
// GPUs of one of the two types.
class RandomClusterTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  // With `mixed_last`, n9 also has one GPU of the first type.
  void AddRandomNodes(bool mixed_last) {
    rng_.seed(GetParam());
    for (int i = 0; i < 10; ++i) {
      NodeRecord node{.name = absl::StrCat("n", i), .connected = true};
      const int gpus = 2 << (rng_() % 3);  // 2, 4 or 8
      const char* type = kPassTestTypes[rng_() % 2];
      for (int g = 0; g < gpus; ++g) node.gpus.push_back(GpuRecord{.index = g, .type = type});
      if (mixed_last && i == 9) {
        node.gpus.push_back(GpuRecord{.index = gpus, .type = kPassTestTypes[0]});
      }
      state_.PutNode(node);
    }
  }

  int64_t Random(int64_t n) { return static_cast<int64_t>(rng_() % static_cast<uint64_t>(n)); }

  // A random live job in `states`, or 0.
  int64_t Pick(const std::set<JobState>& states) {
    std::vector<int64_t> ids;
    for (int64_t id : state_.live()) {
      if (states.contains(state_.FindJob(id)->state)) ids.push_back(id);
    }
    return ids.empty() ? 0 : ids[Random(static_cast<int64_t>(ids.size()))];
  }

  // Places each decision now. Call it inside ASSERT_NO_FATAL_FAILURE.
  void Apply(const std::vector<Decision>& decisions) {
    for (const Decision& d : decisions) {
      std::vector<GpuHold> holds;
      for (const SlotAssignment& s : d.slots) {
        holds.push_back({.node = s.node, .index = s.gpu_index});
      }
      ASSERT_TRUE(state_.Place(d.job_id, holds, now_).ok());
    }
  }

  std::mt19937 rng_;
  ClusterState state_;
  int64_t now_ = 1'000'000'000;
  int64_t next_id_ = 1;
};

// The same jobs in the same order, each on the same slots and backfilled
// alike. `pass` numbers the pass in the messages. Call it inside
// ASSERT_NO_FATAL_FAILURE.
inline void AssertSameDecisions(const std::vector<Decision>& fast,
                                const std::vector<Decision>& full, int64_t pass) {
  ASSERT_EQ(fast.size(), full.size()) << "pass " << pass;
  for (size_t i = 0; i < fast.size(); ++i) {
    const Decision& a = fast[i];
    const Decision& b = full[i];
    ASSERT_EQ(a.job_id, b.job_id) << "pass " << pass << " decision " << i;
    ASSERT_EQ(a.backfilled, b.backfilled) << "job " << a.job_id;
    ASSERT_EQ(a.slots.size(), b.slots.size()) << "job " << a.job_id;
    for (size_t s = 0; s < a.slots.size(); ++s) {
      ASSERT_EQ(a.slots[s].node, b.slots[s].node) << "job " << a.job_id;
      ASSERT_EQ(a.slots[s].gpu_index, b.slots[s].gpu_index) << "job " << a.job_id;
      ASSERT_EQ(a.slots[s].dp_rank, b.slots[s].dp_rank) << "job " << a.job_id;
    }
  }
}

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_PASS_TEST_UTIL_H_
