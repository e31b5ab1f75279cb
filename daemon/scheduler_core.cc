// SchedulerCore: creation, recovery, the writer thread's rounds and what
// happens when a commit fails. Submissions are admitted and queued in
// core_submit.cc; the changes a round applies are in core_changes.cc (users)
// and core_node_changes.cc (nodes, agents), the scheduling pass in
// core_pass.cc, retention in core_retention.cc, reads in core_reads.cc.
#include "daemon/scheduler_core.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "daemon/convert.h"
#include "daemon/state_convert.h"

namespace berth::daemon {

absl::Status ShuttingDown() { return absl::UnavailableError("berthd is shutting down"); }

absl::Status ErrorForFailedCommit(const absl::Status& cause, const std::string& action) {
  const std::string head =
      absl::StrCat("berthd could not record the ", action, ": ", cause.message());
  switch (cause.code()) {
    case absl::StatusCode::kResourceExhausted:
      return absl::ResourceExhaustedError(
          absl::StrCat(head,
                       "; nothing changed. The disk holding berthd's database is full: free space "
                       "there and retry (berthd resumes writing by itself)"));
    case absl::StatusCode::kDataLoss:
      return absl::UnavailableError(absl::StrCat(
          head,
          "; it is not in effect. berthd accepts no more changes until it is restarted: "
          "after a failed write or fsync the file must be read again from disk, and it "
          "may or may not hold this change. Restart berthd"));
    default:
      return absl::UnavailableError(absl::StrCat(head, "; nothing changed, retry"));
  }
}

absl::Status FencedError(const absl::Status& cause, const std::string& action) {
  return absl::UnavailableError(
      absl::StrCat("berthd refuses the ", action, ": it stopped writing after a disk error (",
                   cause.message(), "); restart berthd so that it re-reads its database"));
}

SchedulerCore::SchedulerCore(std::unique_ptr<db::Store> store, CoreOptions options)
    : store_(std::move(store)), store_backend_(store_->backend()), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  absl::MutexLock lock(&admission_mu_);
  admission_teams_ = options_.teams;
}

absl::StatusOr<std::unique_ptr<SchedulerCore>> SchedulerCore::Create(
    std::unique_ptr<db::Store> store, CoreOptions options) {
  std::unique_ptr<SchedulerCore> core(new SchedulerCore(std::move(store), std::move(options)));
  BERTH_RETURN_IF_ERROR(core->Recover());
  core->writer_ = std::thread([raw = core.get()] { raw->WriterLoop(); });
  return core;
}

SchedulerCore::~SchedulerCore() { Stop(); }

absl::Status SchedulerCore::Recover() {
  absl::MutexLock lock(&mu_);
  started_ms_ = options_.now_ms();
  BERTH_RETURN_IF_ERROR(LoadState(/*keep_connections=*/false));
  return state_.CheckInvariants();
}

absl::Status SchedulerCore::LoadState(bool keep_connections) {
  BERTH_ASSIGN_OR_RETURN(db::Snapshot snapshot, store_->LoadAll());
  ClusterState fresh;
  const int64_t now = options_.now_ms();
  for (const berth::v1::Node& node : snapshot.nodes) {
    NodeRecord record = NodeFromProto(node);
    // Nodes come back disconnected at start: nothing is placed on them until
    // their agent registers again. After a failed commit, the streams that
    // are open stay open.
    const NodeRecord* before = state_.FindNode(record.name);
    record.connected = keep_connections && before != nullptr && before->connected;
    fresh.PutNode(std::move(record));
  }
  for (const berth::v1::Job& job : snapshot.jobs) {
    JobRecord record = JobFromProto(job);
    // An ended job's GPUs come back only from reservations still active:
    // its nodes have not confirmed the stop yet.
    if (!IsLive(record.state)) record.stopping_on = fresh.NodesOf(record);
    fresh.AddJob(std::move(record));
  }
  fresh.EvictFinished(static_cast<size_t>(std::max<int64_t>(0, options_.keep_finished_jobs)));
  fresh.PlacementViews();
  state_ = std::move(fresh);
  {
    absl::MutexLock live(&liveness_mu_);
    for (const auto& [name, node] : state_.nodes()) {
      Liveness& entry = liveness_[name];
      // At start the heartbeat clock restarts now, so agents get the full
      // grace period to reconnect before their jobs are moved.
      if (!keep_connections) entry.last_heartbeat_ms = now;
      entry.down = node.state == NodeState::kDown;
      entry.gpu_indices.clear();
      for (const GpuRecord& gpu : node.gpus) entry.gpu_indices.push_back(gpu.index);
      std::sort(entry.gpu_indices.begin(), entry.gpu_indices.end());
    }
  }
  if (options_.teams != nullptr) {
    team_usage_ = UsageFromRows(snapshot.team_usage);
    team_usage_saved_ms_ = snapshot.team_usage.as_of_ms;
  }
  RebuildReservations();
  RefreshAdmissionView();
  dirty_ = true;
  return absl::OkStatus();
}

void SchedulerCore::RefreshAdmissionView() {
  state_.PlacementViews();
  std::vector<PoolInfo> pools = state_.Pools();
  std::shared_ptr<const std::vector<NodeView>> capacity;
  if (state_.TakeTopologyChanged()) {
    capacity = std::make_shared<const std::vector<NodeView>>(state_.CapacityViews());
  }
  absl::MutexLock lock(&admission_mu_);
  pools_ = std::move(pools);
  if (capacity != nullptr) capacity_ = std::move(capacity);
}

void SchedulerCore::SetNotifier(AgentNotifier* notifier) {
  absl::MutexLock lock(&notifier_mu_);
  notifier_ = notifier;
}

void SchedulerCore::Stop() {
  {
    absl::MutexLock lock(&queue_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

void SchedulerCore::Enqueue(Op op) {
  absl::MutexLock lock(&queue_mu_);
  ops_.push_back(std::move(op));
}

void SchedulerCore::Record(WriteBatch& batch, int64_t job_id, std::string node, EventKind kind,
                           std::string message) {
  batch.Record(db::Event{.time_ms = options_.now_ms(),
                         .job_id = job_id,
                         .node = std::move(node),
                         .kind = EventKindName(kind),
                         .message = std::move(message)});
}

void SchedulerCore::WriterLoop() {
  while (true) {
    std::deque<Op> ops;
    std::vector<Submission> submissions;
    bool stopping = false;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(queue_mu_) {
        return !ops_.empty() || !submissions_.empty() || stopping_;
      };
      // A prune with more to do comes back at once (after what is queued).
      queue_mu_.AwaitWithTimeout(absl::Condition(&ready),
                                 prunes_.empty() ? absl::Milliseconds(std::clamp<int64_t>(
                                                       options_.heartbeat_interval_ms, 10, 1000))
                                                 : absl::ZeroDuration());
      ops.swap(ops_);
      submissions.swap(submissions_);
      stopping = stopping_;
    }
    const bool idle = ops.empty() && submissions.empty();
    RunRound(submissions, ops);
    if (stopping && idle) {
      for (PruneTask& task : prunes_) {
        if (task.done) task.done(ShuttingDown());
      }
      prunes_.clear();
      return;
    }
    PruneStep();
  }
}

void SchedulerCore::RunRound(std::vector<Submission>& submissions, std::deque<Op>& ops) {
  WriteBatch batch(store_.get());
  absl::Status outcome;
  {
    absl::MutexLock lock(&mu_);
    if (!submissions.empty()) ProcessSubmissions(batch, submissions);
    for (Op& op : ops) op(batch);
    if (!fenced_ && options_.now_ms() >= next_liveness_check_ms_) {
      CheckNodeLiveness(batch);
      CheckRunTimes(batch);
      next_liveness_check_ms_ = options_.now_ms() + options_.heartbeat_interval_ms;
      // Reclaim depends on time (min_runtime): with teams, a pass each
      // interval even when nothing changed.
      if (options_.teams != nullptr) dirty_ = true;
    }
    if (dirty_ && !fenced_ && !batch.failed()) RunPass(batch);
    const absl::Time start = absl::Now();
    const bool wrote = batch.wrote() || batch.events() > 0;
    outcome = batch.Commit();
    if (wrote && options_.metrics != nullptr) {
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
      options_.metrics->StoreCommitSeconds(store_backend_).Observe(seconds);
      if (store_backend_[0] == 's') options_.metrics->sqlite_commit_seconds.Observe(seconds);
    }
    if (!outcome.ok()) AfterFailedCommit(outcome);
    RefreshAdmissionView();
  }
  // Answers and messages leave only now, with the outcome of the commit.
  for (WriteBatch::Reply& reply : batch.TakeReplies()) {
    reply.done(outcome.ok() ? absl::OkStatus() : ErrorForFailedCommit(outcome, reply.action));
  }
  if (eviction_due_) {
    // After the replies, which may read the jobs that just ended.
    absl::MutexLock lock(&mu_);
    state_.EvictFinished(static_cast<size_t>(std::max<int64_t>(0, options_.keep_finished_jobs)));
    eviction_due_ = false;
  }
  if (outcome.ok()) {  // else nothing happened that an agent should act on
    absl::MutexLock lock(&notifier_mu_);
    if (notifier_ != nullptr) {
      for (auto& [node, message] : batch.TakeOutbox()) notifier_->Send(node, std::move(message));
    }
  }
  // Last, so that a reader queued behind a change sees all of its effects.
  for (auto& read : batch.TakeReads()) read();
}

// The transaction rolled back; memory goes back to what the file holds.
void SchedulerCore::AfterFailedCommit(const absl::Status& cause) {
  std::cerr << "berthd: a commit failed and was rolled back: " << cause << "\n";
  if (cause.code() == absl::StatusCode::kDataLoss && !fenced_) {
    // After a failed write or fsync the kernel may have dropped the dirty
    // pages and cleared the error: a later fsync could succeed over a file
    // that lost them (PostgreSQL's "fsyncgate"). Stop writing until a
    // restart re-reads the file.
    {
      absl::MutexLock lock(&queue_mu_);
      fence_cause_ = cause;
    }
    fenced_ = true;
    std::cerr << "berthd: fenced: refusing changes until restarted\n";
    if (options_.on_fenced) options_.on_fenced(cause);
  }
  if (absl::Status s = LoadState(/*keep_connections=*/true); !s.ok()) {
    // Memory can no longer be made equal to the file: exit, so that a
    // supervisor restarts berthd from the file.
    std::cerr << "berthd: cannot re-read the database after a failed commit (" << s
              << "); exiting\n";
    std::_Exit(70);
  }
}

void SchedulerCore::Backup(std::string path, std::function<void(absl::StatusOr<int64_t>)> done) {
  // After the round's commit: the store is the writer's, and a backup taken
  // between rounds holds only committed state.
  Enqueue([this, path = std::move(path), done = std::move(done)](WriteBatch& batch) {
    batch.AfterCommit([this, path, done] {
      absl::Status status = store_->Backup(path);
      if (!status.ok()) {
        done(status);
        return;
      }
      std::error_code error;
      const auto size = std::filesystem::file_size(path, error);
      if (error) {
        done(absl::InternalError(error.message()));
        return;
      }
      // Recorded with the next round.
      Enqueue([this, path](WriteBatch& next) {
        if (!fenced_) Record(next, 0, "", EventKind::kBackup, path);
      });
      done(static_cast<int64_t>(size));
    });
  });
}

void SchedulerCore::LookupJob(int64_t id, JobCallback done) {
  std::optional<berth::v1::Job> in_memory;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (const JobRecord* job = state_.FindJob(id)) in_memory = JobToProto(*job);
  }
  if (in_memory) {
    done(*std::move(in_memory));
    return;
  }
  // Not in memory: no such job, or one that ended and was dropped from
  // memory. The file is read on the writer thread, which owns the store,
  // after the round in which this was queued has committed.
  Enqueue([this, id, done = std::move(done)](WriteBatch& batch) {
    batch.AfterCommit([this, id, done] { done(store_->FindJob(id)); });
  });
}

void SchedulerCore::ListEvents(db::EventQuery query,
                               std::function<void(absl::StatusOr<std::vector<db::Event>>)> done) {
  Enqueue([this, query = std::move(query), done = std::move(done)](WriteBatch& batch) {
    batch.AfterCommit([this, query, done] { done(store_->Events(query)); });
  });
}

void SchedulerCore::Cancel(int64_t id, JobCallback done) {
  Enqueue([this, id, done = std::move(done)](WriteBatch& batch) mutable {
    mu_.AssertHeld();
    DoCancel(batch, id, std::move(done));
  });
}

void SchedulerCore::SetDrained(std::string node, bool drained, NodeCallback done) {
  Enqueue([this, node = std::move(node), drained, done = std::move(done)](WriteBatch& batch) {
    mu_.AssertHeld();
    DoSetDrained(batch, node, drained, done);
  });
}

void SchedulerCore::RegisterNode(berth::v1::Register registration, StatusCallback done) {
  Enqueue(
      [this, registration = std::move(registration), done = std::move(done)](WriteBatch& batch) {
        mu_.AssertHeld();
        DoRegister(batch, registration, done);
      });
}

void SchedulerCore::ReportJobStatus(std::string node, berth::v1::JobStatus status) {
  Enqueue([this, node = std::move(node), status = std::move(status)](WriteBatch& batch) {
    mu_.AssertHeld();
    DoJobStatus(batch, node, status);
  });
}

void SchedulerCore::AgentDisconnected(std::string node) {
  Enqueue([this, node = std::move(node)](WriteBatch& batch) {
    mu_.AssertHeld();
    if (state_.SetConnected(node, false).ok()) dirty_ = true;
    if (!fenced_) Record(batch, 0, node, EventKind::kNodeDisconnected, "");
  });
}

namespace {

// A heartbeat's GPU readings, kept only for the node's registered GPUs
// (the first reading of each), with finite values in range: utilization
// 0-1, memory 0-1 PiB. Whatever an agent sends, a node has at most as many
// readings as GPUs, and /metrics exports nothing absurd.
std::vector<berth::v1::GpuSample> CleanSamples(const berth::v1::Heartbeat& heartbeat,
                                               const std::vector<int32_t>& indices) {
  constexpr double kMaxMemoryBytes = 1125899906842624.0;  // 1 PiB
  std::vector<berth::v1::GpuSample> kept;
  std::vector<bool> seen(indices.size(), false);
  for (const berth::v1::GpuSample& sample : heartbeat.gpus()) {
    if (kept.size() == indices.size()) break;
    auto it = std::lower_bound(indices.begin(), indices.end(), sample.index());
    if (it == indices.end() || *it != sample.index()) continue;
    const size_t slot = static_cast<size_t>(it - indices.begin());
    if (seen[slot]) continue;
    const double util = sample.utilization(), memory = sample.memory_used_bytes();
    if (!(util >= 0 && util <= 1) || !(memory >= 0 && memory <= kMaxMemoryBytes)) continue;
    seen[slot] = true;
    kept.push_back(sample);
  }
  return kept;
}

// The checkpoint times a heartbeat reports that are plausible: positive,
// not more than a minute ahead of berthd's clock, at most kMaxCheckpoints
// (an agent runs far fewer jobs), the latest for each job.
absl::flat_hash_map<int64_t, int64_t> CleanCheckpoints(const berth::v1::Heartbeat& heartbeat,
                                                       int64_t now_ms) {
  constexpr int kMaxCheckpoints = 1024;
  absl::flat_hash_map<int64_t, int64_t> kept;
  for (const berth::v1::JobCheckpoint& c : heartbeat.checkpoints()) {
    if (kept.size() >= kMaxCheckpoints) break;
    if (c.job_id() <= 0 || c.time_ms() <= 0 || c.time_ms() > now_ms + 60'000) continue;
    int64_t& time = kept[c.job_id()];
    time = std::max(time, c.time_ms());
  }
  return kept;
}

}  // namespace

void SchedulerCore::Heartbeat(const std::string& node, const berth::v1::Heartbeat& heartbeat) {
  bool revive = false;
  {
    absl::MutexLock lock(&liveness_mu_);
    auto it = liveness_.find(node);
    if (it == liveness_.end()) return;
    it->second.last_heartbeat_ms = options_.now_ms();
    it->second.seen = true;
    it->second.samples = CleanSamples(heartbeat, it->second.gpu_indices);
    it->second.checkpoints = CleanCheckpoints(heartbeat, options_.now_ms());
    revive = it->second.down;
  }
  if (options_.metrics != nullptr) options_.metrics->heartbeats.Increment();
  // A node marked DOWN that heartbeats again has come back.
  if (revive) {
    Enqueue([this, node](WriteBatch& batch) {
      mu_.AssertHeld();
      DoNodeBack(batch, node);
    });
  }
}

int64_t SchedulerCore::LastCheckpoint(const JobRecord& job) const {
  std::set<std::string> nodes;
  for (const GpuHold& gpu : job.gpus) nodes.insert(gpu.node);
  int64_t last = 0;
  absl::MutexLock lock(&liveness_mu_);
  if (auto reported = reported_checkpoints_.find(job.id); reported != reported_checkpoints_.end()) {
    last = reported->second;
  }
  for (const std::string& node : nodes) {
    auto it = liveness_.find(node);
    if (it == liveness_.end()) continue;
    auto checkpoint = it->second.checkpoints.find(job.id);
    if (checkpoint != it->second.checkpoints.end()) last = std::max(last, checkpoint->second);
  }
  return last;
}

absl::StatusOr<int64_t> SchedulerCore::ReportCheckpoint(int64_t id, int64_t time_ms) {
  const int64_t now = options_.now_ms();
  if (time_ms == 0) time_ms = now;
  absl::ReaderMutexLock lock(&mu_);
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  if (job->state != JobState::kRunning || job->start_time_ms <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is not running: only a running job has checkpoints to report"));
  }
  if (time_ms < job->start_time_ms || time_ms > now + 60'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_ms: ", time_ms, " is before job ", id, "'s start (", job->start_time_ms,
                     ") or more than a minute ahead of berthd's clock (", now, ")"));
  }
  absl::MutexLock live(&liveness_mu_);
  // Jobs that ended leave the map when it grows: it holds live jobs only.
  if (reported_checkpoints_.size() >= 2 * state_.live().size() + 1024) {
    for (auto it = reported_checkpoints_.begin(); it != reported_checkpoints_.end();) {
      const JobRecord* held = state_.FindJob(it->first);
      if (held == nullptr || !IsLive(held->state)) {
        reported_checkpoints_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  int64_t& kept = reported_checkpoints_[id];
  kept = std::max(kept, time_ms);
  return kept;
}

int64_t SchedulerCore::LastHeartbeat(const std::string& node) const {
  absl::MutexLock lock(&liveness_mu_);
  auto it = liveness_.find(node);
  return it == liveness_.end() ? 0 : it->second.last_heartbeat_ms;
}

}  // namespace berth::daemon
