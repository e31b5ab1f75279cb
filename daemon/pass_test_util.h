// For the passes' property tests (indexed_pass_test.cc,
// team_indexed_pass_test.cc): two passes' decisions compared.
#ifndef BERTH_DAEMON_PASS_TEST_UTIL_H_
#define BERTH_DAEMON_PASS_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "daemon/queue_policy.h"
#include "gtest/gtest.h"

namespace berth::daemon {

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
