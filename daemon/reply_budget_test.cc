#include "daemon/reply_budget.h"

#include <atomic>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

TEST(ReplyBudgetTest, TakesWithinTheLimitAndRefusesBeyondNamingTheCall) {
  ReplyBudget budget(10 << 20);
  EXPECT_TRUE(budget.Take(6 << 20, "ListJobs").ok());
  const absl::Status refused = budget.Take(6 << 20, "ListEvents");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, "ListEvents"));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, "--list_reply_budget_mb"));
  EXPECT_EQ(budget.held(), 6 << 20);  // a refusal takes nothing
  budget.Release(6 << 20);
  EXPECT_TRUE(budget.Take(10 << 20, "ListJobs").ok());  // exactly the limit fits
  EXPECT_FALSE(budget.Take(1, "ListJobs").ok());
}

// Many callers at once never hold more than the limit together.
TEST(ReplyBudgetTest, ConcurrentTakersNeverPassTheLimit) {
  constexpr int64_t kLimit = 1000;
  ReplyBudget budget(kLimit);
  std::atomic<int64_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&budget, &peak, t] {
      for (int i = 0; i < 20000; ++i) {
        const int64_t bytes = 1 + (i * 7 + t) % 300;
        if (!budget.Take(bytes, "ListJobs").ok()) continue;
        int64_t seen = budget.held();
        int64_t old = peak.load();
        while (seen > old && !peak.compare_exchange_weak(old, seen)) {
        }
        budget.Release(bytes);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_LE(peak.load(), kLimit);
  EXPECT_GT(peak.load(), 0);
  EXPECT_EQ(budget.held(), 0);
}

}  // namespace
}  // namespace berth::daemon
