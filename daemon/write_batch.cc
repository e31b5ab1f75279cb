#include "daemon/write_batch.h"

#include <algorithm>

namespace berth::daemon {

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kSubmitted:
      return "submitted";
    case EventKind::kRejected:
      return "rejected";
    case EventKind::kPlaced:
      return "placed";
    case EventKind::kRunning:
      return "running";
    case EventKind::kSucceeded:
      return "succeeded";
    case EventKind::kFailed:
      return "failed";
    case EventKind::kCancelled:
      return "cancelled";
    case EventKind::kRequeued:
      return "requeued";
    case EventKind::kStopped:
      return "stopped";
    case EventKind::kPreempted:
      return "preempted";
    case EventKind::kReclaiming:
      return "reclaiming";
    case EventKind::kNodeRegistered:
      return "node_registered";
    case EventKind::kNodeDisconnected:
      return "node_disconnected";
    case EventKind::kNodeDown:
      return "node_down";
    case EventKind::kNodeUp:
      return "node_up";
    case EventKind::kNodeDrained:
      return "node_drained";
    case EventKind::kNodeUndrained:
      return "node_undrained";
    case EventKind::kBackup:
      return "backup";
  }
  return "unknown";
}

WriteBatch::~WriteBatch() {
  if (open_ && !committed_) store_->RollbackBatch();
}

bool WriteBatch::Write(const std::function<absl::Status(db::Store&)>& write) {
  if (failed()) return false;
  if (!open_) {
    status_ = store_->BeginBatch();
    if (failed()) return false;
    open_ = true;
  }
  status_ = write(*store_);
  return !failed();
}

absl::Status WriteBatch::Commit() {
  committed_ = true;
  if (!events_.empty()) {
    Write([this](db::Store& store) { return store.AppendEvents(events_); });
  }
  if (!open_) return status_;
  if (failed()) {
    store_->RollbackBatch();
    return status_;
  }
  status_ = store_->CommitBatch();  // rolled back when it fails
  return status_;
}

std::vector<std::pair<std::string, berth::v1::DaemonMessage>> WriteBatch::TakeOutbox() {
  std::vector<std::pair<std::string, berth::v1::DaemonMessage>> outbox = std::exchange(outbox_, {});
  std::stable_partition(outbox.begin(), outbox.end(),
                        [](const auto& sent) { return !sent.second.has_job_status_ack(); });
  return outbox;
}

}  // namespace berth::daemon
