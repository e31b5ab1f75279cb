// The agent service's bounds that need no stream (issue 18, finding 4):
// refusal logs are rate-limited; and how many completion queues it polls.
#include "daemon/agent_service.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

TEST(RefusalLogTest, WritesAFewLinesAMinuteAndCountsTheRest) {
  RefusalLog log(/*per_minute=*/3);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 3000; ++i) log.Refused("refused", t0 + absl::Milliseconds(i));
  EXPECT_EQ(log.counts(), (std::pair<int64_t, int64_t>{3, 2997}));
  // A new minute writes again.
  log.Refused("refused", t0 + absl::Minutes(1) + absl::Seconds(3));
  EXPECT_EQ(log.counts(), (std::pair<int64_t, int64_t>{4, 2997}));
}

TEST(AgentQueueCountTest, TwoPerCpuFromFourToSixteen) {
  EXPECT_EQ(AgentQueueCount(0), 4);  // unknown
  EXPECT_EQ(AgentQueueCount(1), 4);
  EXPECT_EQ(AgentQueueCount(2), 4);
  EXPECT_EQ(AgentQueueCount(3), 6);
  EXPECT_EQ(AgentQueueCount(8), 16);
  EXPECT_EQ(AgentQueueCount(64), 16);
  EXPECT_EQ(AgentQueueCount(~0u), 16);
}

}  // namespace
}  // namespace berth::daemon
