// A bound on the bytes of list replies (ListJobs, ListEvents) berthd holds
// at once, built but not yet sent: a client that asks for many pages and
// reads them slowly, or not at all, cannot make berthd grow past it
// (issue 18, finding 3). Each reply takes its size from the budget before it
// is sent and gives it back when gRPC is done with the call (sent, failed
// or cancelled); a reply that does not fit is RESOURCE_EXHAUSTED.
#ifndef BERTH_DAEMON_REPLY_BUDGET_H_
#define BERTH_DAEMON_REPLY_BUDGET_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/server_callback.h"

namespace berth::daemon {

class ReplyBudget {
 public:
  explicit ReplyBudget(int64_t limit_bytes) : limit_(limit_bytes) {}
  ReplyBudget(const ReplyBudget&) = delete;
  ReplyBudget& operator=(const ReplyBudget&) = delete;

  // Takes `bytes` if the held total stays within the limit; else the
  // error to answer, naming `call`, the sizes and what to do.
  absl::Status Take(int64_t bytes, absl::string_view call);
  void Release(int64_t bytes) { held_.fetch_sub(bytes, std::memory_order_relaxed); }
  int64_t held() const { return held_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> held_{0};
};

// A unary reactor whose reply holds part of a ReplyBudget until gRPC is
// done with the call; it deletes itself then.
class BudgetedReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit BudgetedReactor(ReplyBudget* budget) : budget_(budget) {}
  // Takes the reply's size (once per call); see ReplyBudget::Take.
  absl::Status Take(int64_t bytes, absl::string_view call);
  void OnDone() override;

 private:
  ReplyBudget* budget_;
  int64_t taken_ = 0;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_REPLY_BUDGET_H_
