#include "daemon/reply_budget.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::daemon {

absl::Status ReplyBudget::Take(int64_t bytes, absl::string_view call) {
  int64_t held = held_.load(std::memory_order_relaxed);
  while (true) {
    if (held + bytes > limit_) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%s: this reply of %.1f MiB would take berthd past the %.0f MiB of list replies it "
          "holds unsent at once (%.1f MiB held; --list_reply_budget_mb); retry shortly, or ask "
          "for fewer (limit)",
          call, bytes / 1048576.0, limit_ / 1048576.0, held / 1048576.0));
    }
    if (held_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed)) {
      return absl::OkStatus();
    }
  }
}

absl::Status BudgetedReactor::Take(int64_t bytes, absl::string_view call) {
  absl::Status taken = budget_->Take(bytes, call);
  if (taken.ok()) taken_ += bytes;
  return taken;
}

void BudgetedReactor::OnDone() {
  budget_->Release(taken_);
  delete this;
}

}  // namespace berth::daemon
