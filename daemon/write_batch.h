// WriteBatch: one round of berthd's writer thread. It owns, in the order
// they happen, the round's writes to the store (one transaction, opened on
// the first write), its events, the replies owed to callers and the
// messages owed to agents. Nothing leaves the batch before its commit:
//
//   WriteBatch batch(&store);
//   batch.Write([&](db::Store& s) { return s.UpdateJobs({update}); });
//   batch.Record({.kind = "cancelled", ...});
//   batch.AddReply("cancel", [done](absl::Status s) { done(std::move(s)); });
//   batch.Send("n1", stop_job);
//   absl::Status outcome = batch.Commit();   // events + one COMMIT
//   // then: replies get the outcome, agents their messages (if committed)
//
// After a failed write the batch is failed: later writes are skipped (a
// failed statement may have rolled SQLite's transaction back already, so
// nothing more may run in it) and Commit() rolls back and returns the
// first failure.
#ifndef BERTH_DAEMON_WRITE_BATCH_H_
#define BERTH_DAEMON_WRITE_BATCH_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "berth/v1/agent.pb.h"
#include "db/store.h"

namespace berth::daemon {

// What an event in the log records. The log (and the wire) keep the name
// EventKindName() gives, in lower case ("placed", "node_down").
enum class EventKind {
  kSubmitted,
  kRejected,
  kPlaced,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
  kRequeued,
  kStopped,     // a node confirmed an ended job's stop; its GPUs there are free
  kPreempted,   // a running job is stopped to make room for another (who, why)
  kReclaiming,  // a waiting job's reservation: which jobs stop for it
  kNodeRegistered,
  kNodeDisconnected,
  kNodeDown,
  kNodeUp,
  kNodeDrained,
  kNodeUndrained,
  kBackup,
};
const char* EventKindName(EventKind kind);

class WriteBatch {
 public:
  // Called with the commit's outcome (or the answer decided before), by
  // value: the callee owns it, and no status is shared across threads.
  using ReplyFn = std::function<void(absl::Status)>;
  struct Reply {
    std::string action;  // "submission", "cancel", ...: names it in errors
    ReplyFn done;
  };

  explicit WriteBatch(db::Store* store) : store_(store) {}
  ~WriteBatch();  // rolls back a batch that was not committed
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Runs `write` inside the batch's transaction. False when the batch has
  // failed (now or before): the write did not happen.
  bool Write(const std::function<absl::Status(db::Store&)>& write);
  bool failed() const { return !status_.ok(); }
  // Whether anything was written (a batch of reads only commits nothing).
  bool wrote() const { return open_; }

  void Record(db::Event event) { events_.push_back(std::move(event)); }
  void AddReply(std::string action, ReplyFn done) {
    replies_.push_back(Reply{std::move(action), std::move(done)});
  }
  // A message to an agent, sent only if the batch commits.
  void Send(std::string node, berth::v1::DaemonMessage message) {
    outbox_.emplace_back(std::move(node), std::move(message));
  }
  // Work that reads the file once the batch has committed (or failed).
  void AfterCommit(std::function<void()> read) { reads_.push_back(std::move(read)); }

  // Writes the events and commits. OK when there was nothing to write.
  absl::Status Commit();

  std::vector<Reply> TakeReplies() { return std::exchange(replies_, {}); }
  std::vector<std::function<void()>> TakeReads() { return std::exchange(reads_, {}); }
  // The messages to agents in the order they were sent, except that
  // acknowledgements of job statuses come last: an agent waits for nothing
  // on an ack (it only stops resending), while a StartJob behind one on the
  // same stream waits for its write (a stream writes one message at a time).
  std::vector<std::pair<std::string, berth::v1::DaemonMessage>> TakeOutbox();
  size_t events() const { return events_.size(); }

 private:
  db::Store* store_;
  bool open_ = false;       // the transaction is open
  bool committed_ = false;  // Commit() ran
  absl::Status status_;     // the first failure
  std::vector<db::Event> events_;
  std::vector<Reply> replies_;
  std::vector<std::function<void()>> reads_;
  std::vector<std::pair<std::string, berth::v1::DaemonMessage>> outbox_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_WRITE_BATCH_H_
