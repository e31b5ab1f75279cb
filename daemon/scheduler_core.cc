// SchedulerCore: creation, recovery, the writer thread and the changes it
// applies. The scheduling pass is in scheduler_pass.cc, reads in
// scheduler_queries.cc.
#include "daemon/scheduler_core.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <iostream>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "planner/status_macros.h"

namespace berth::daemon {

using berth::v1::Job;
using berth::v1::JobState;

namespace {

bool IsLive(JobState state) {
  return state == berth::v1::PENDING || state == berth::v1::PLACED ||
         state == berth::v1::RUNNING;
}

absl::Status Unavailable() { return absl::UnavailableError("berthd is shutting down"); }

// The state of a node whose agent heartbeats: drained or up.
berth::v1::NodeState LiveNodeState(bool drained) {
  return drained ? berth::v1::DRAINED : berth::v1::UP;
}

}  // namespace

SchedulerCore::SchedulerCore(std::unique_ptr<db::Store> store, CoreOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
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
  BERTH_ASSIGN_OR_RETURN(db::Snapshot snapshot, store_->LoadAll());
  absl::MutexLock lock(&mu_);
  const int64_t now = options_.now_ms();
  for (berth::v1::Node& node : snapshot.nodes) {
    // Nodes come back disconnected: nothing is placed on them until their
    // agent registers again. Their heartbeat clock restarts now, so agents
    // get the full grace period to reconnect before their jobs are moved.
    node.set_last_heartbeat_ms(now);
    std::string name = node.name();
    nodes_[name] = NodeEntry{.node = std::move(node), .connected = false};
  }
  for (const Job& job : snapshot.jobs) {
    AddJobLocked(job);
    if (job.state() == berth::v1::PENDING) pending_since_[job.id()] = job.submit_time_ms();
  }
  EvictFinishedLocked();
  dirty_ = true;
  views_stale_ = true;
  CurrentViewsLocked();
  pools_cache_ = PoolsLocked();
  capacity_cache_ = std::make_shared<const std::vector<NodeView>>(ViewsLocked(true));
  return CheckInvariantsLocked();
}

void SchedulerCore::AddJobLocked(const Job& job) {
  jobs_[job.id()] = job;
  if (IsLive(job.state())) {
    live_.insert(job.id());
  } else {
    finished_.insert(job.id());
    eviction_due_ = true;
  }
  if (!job.spec().request_id().empty()) request_ids_[job.spec().request_id()] = job.id();
}

void SchedulerCore::EvictFinishedLocked() {
  const size_t keep = static_cast<size_t>(std::max<int64_t>(0, options_.keep_finished_jobs));
  while (finished_.size() > keep) {
    const int64_t id = *finished_.begin();  // the oldest
    finished_.erase(finished_.begin());
    finished_nodes_.erase(id);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    // A retried submit with its request id is still answered: the file's
    // unique index finds the stored job (ProcessSubmissions).
    auto request = request_ids_.find(it->second.spec().request_id());
    if (request != request_ids_.end() && request->second == id) request_ids_.erase(request);
    jobs_.erase(it);
  }
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

void SchedulerCore::Defer(std::function<void()> reply) { replies_.push_back(std::move(reply)); }

void SchedulerCore::Record(int64_t job_id, std::string node, std::string kind,
                           std::string message) {
  events_.push_back(db::Event{.time_ms = options_.now_ms(), .job_id = job_id,
                              .node = std::move(node), .kind = std::move(kind),
                              .message = std::move(message)});
}

// Events ride on the batch's placement or update transaction when there is
// one; what is left is written here, once per batch.
void SchedulerCore::FlushEvents() {
  if (events_.empty()) return;
  std::vector<db::Event> events;
  events.swap(events_);
  if (absl::Status s = Timed([&] { return store_->UpdateJobs({}, events); }); !s.ok()) {
    std::cerr << "berthd: " << events.size() << " events not recorded: " << s << "\n";
  }
}

void SchedulerCore::Notify(const std::string& node, berth::v1::DaemonMessage message) {
  outbox_.emplace_back(node, std::move(message));
}

void SchedulerCore::WriterLoop() {
  while (true) {
    std::deque<Op> ops;
    std::vector<Submission> batch;
    bool stopping = false;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(queue_mu_) {
        return !ops_.empty() || !submissions_.empty() || stopping_;
      };
      queue_mu_.AwaitWithTimeout(
          absl::Condition(&ready),
          absl::Milliseconds(std::clamp<int64_t>(options_.heartbeat_interval_ms, 10, 1000)));
      ops.swap(ops_);
      batch.swap(submissions_);
      stopping = stopping_;
    }
    if (!batch.empty()) ProcessSubmissions(batch);
    for (Op& op : ops) op();
    if (options_.now_ms() >= next_liveness_check_ms_) {
      CheckNodeLiveness();
      CheckRunTimes();
      next_liveness_check_ms_ = options_.now_ms() + options_.heartbeat_interval_ms;
    }
    FlushUpdates();
    if (dirty_) RunPass();
    FlushEvents();
    std::vector<std::function<void()>> reads;
    reads.swap(committed_reads_);
    for (auto& read : reads) read();
    RefreshCaches();
    std::vector<std::function<void()>> replies;
    replies.swap(replies_);
    for (auto& reply : replies) reply();
    if (eviction_due_) {
      // After the replies, which may read the jobs that just ended.
      absl::MutexLock lock(&mu_);
      EvictFinishedLocked();
      eviction_due_ = false;
    }
    std::vector<std::pair<std::string, berth::v1::DaemonMessage>> outbox;
    outbox.swap(outbox_);
    {
      absl::MutexLock lock(&notifier_mu_);
      for (auto& [node, message] : outbox) {
        if (notifier_ != nullptr) notifier_->Send(node, message);
      }
    }
    if (stopping && ops.empty() && batch.empty()) return;
  }
}

void SchedulerCore::Submit(berth::v1::JobSpec spec, SubmitCallback done) {
  std::vector<PoolInfo> pools;
  std::shared_ptr<const std::vector<NodeView>> capacity;
  std::optional<berth::v1::Job> seen;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!spec.request_id().empty()) {
      auto it = request_ids_.find(spec.request_id());
      if (it != request_ids_.end()) seen = jobs_.at(it->second);
    }
    pools = pools_cache_;
    capacity = capacity_cache_;
  }
  if (seen) {
    // A retried submit: the same job, whatever the spec says now.
    if (options_.metrics != nullptr) options_.metrics->submissions_duplicate.Increment();
    if (seen->state() == berth::v1::REJECTED) {
      done(absl::FailedPreconditionError(seen->reason()));
      return;
    }
    berth::v1::SubmitJobResponse response;
    *response.mutable_job() = *std::move(seen);
    response.set_duplicate(true);
    done(std::move(response));
    return;
  }
  absl::StatusOr<AdmissionResult> admission = Admit(spec, pools, *capacity, &plan_cache_);
  if (!admission.ok()) {
    if (options_.metrics != nullptr) options_.metrics->submissions_invalid.Increment();
    done(admission.status());
    return;
  }
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    done(Unavailable());
    return;
  }
  submissions_.push_back(Submission{std::move(spec), *std::move(admission), std::move(done)});
}

namespace {

Job NewJob(const berth::v1::JobSpec& spec, const AdmissionResult& admission, int64_t now_ms,
           int64_t default_max_runtime) {
  Job job;
  *job.mutable_spec() = spec;
  if (job.spec().max_runtime_seconds() == 0 && default_max_runtime > 0) {
    job.mutable_spec()->set_max_runtime_seconds(default_max_runtime);
  }
  job.set_submit_time_ms(now_ms);
  if (admission.admitted) {
    const PoolVerdict& pool = admission.pools[admission.chosen];
    job.set_state(berth::v1::PENDING);
    job.set_gpu_type(pool.pool.gpu_type);
    *job.mutable_plan() = pool.plan;
    // Runner-up splits belong to planning (PlanJob), not to a queued job:
    // they would be copied with the job everywhere it goes.
    job.mutable_plan()->clear_alternatives();
  } else {
    job.set_state(berth::v1::REJECTED);
    job.set_reason(admission.reason);
    if (!admission.pools.empty()) *job.mutable_plan() = admission.pools.front().plan;
  }
  return job;
}

}  // namespace

void SchedulerCore::ProcessSubmissions(std::vector<Submission>& batch) {
  std::vector<Job> jobs;
  jobs.reserve(batch.size());
  const int64_t now = options_.now_ms();
  for (const Submission& s : batch) {
    jobs.push_back(NewJob(s.spec, s.admission, now, options_.default_max_runtime_seconds));
  }
  absl::StatusOr<std::vector<db::InsertOutcome>> outcomes = Timed([&] { return store_->InsertJobs(jobs); });
  if (!outcomes.ok()) {
    for (Submission& s : batch) {
      Defer([done = std::move(s.done), status = outcomes.status()] { done(status); });
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < batch.size(); ++i) {
    const Job& job = jobs[i];
    const bool duplicate = (*outcomes)[i].duplicate;
    if (!duplicate) {
      AddJobLocked(job);
      CountSubmission(batch[i].admission);
      if (job.state() == berth::v1::PENDING) pending_since_[job.id()] = job.submit_time_ms();
      if (job.state() == berth::v1::REJECTED) {
        Record(job.id(), "", "rejected", job.reason());
      } else {
        Record(job.id(), "", "submitted",
               absl::StrCat("pool ", job.gpu_type(), ", ", job.plan().gpus(), " GPUs (TP ",
                            job.plan().tp(), " × PP ", job.plan().pp(), " × DP ",
                            job.plan().dp(), ")"));
      }
    }
    if (job.state() == berth::v1::PENDING) dirty_ = true;
    const int64_t id = job.id();
    // A retried request id of a job that ended and left memory: the file's
    // copy (InsertJobs put it in jobs[i]) is the answer.
    std::optional<Job> from_file;
    if (duplicate && !jobs_.contains(id)) from_file = job;
    Defer([this, id, duplicate, from_file, done = std::move(batch[i].done)] {
      absl::StatusOr<Job> stored = from_file ? absl::StatusOr<Job>(*from_file) : GetJob(id);
      if (!stored.ok()) {
        done(stored.status());
      } else if (stored->state() == berth::v1::REJECTED) {
        done(absl::FailedPreconditionError(stored->reason()));
      } else {
        berth::v1::SubmitJobResponse response;
        *response.mutable_job() = *std::move(stored);
        response.set_duplicate(duplicate);
        done(std::move(response));
      }
    });
  }
}

void SchedulerCore::CountSubmission(const AdmissionResult& admission) {
  Metrics* m = options_.metrics;
  if (m == nullptr) return;
  if (admission.admitted) {
    m->submissions_admitted.Increment();
    return;
  }
  m->submissions_rejected.Increment();
  if (admission.refusal_kind == "no_gpus") {
    m->refusals_no_gpus.Increment();
  } else if (admission.refusal_kind == "no_gang_fit") {
    m->refusals_no_gang_fit.Increment();
  } else {
    m->refusals_does_not_fit.Increment();
  }
}

void SchedulerCore::Backup(std::string path,
                           std::function<void(absl::StatusOr<int64_t>)> done) {
  // On the writer thread: the store is not shared, and a backup taken
  // between batches holds only committed state.
  Enqueue([this, path = std::move(path), done = std::move(done)] {
    absl::Status status = store_->Backup(path);
    absl::StatusOr<int64_t> bytes = absl::InternalError("backup not taken");
    if (!status.ok()) {
      bytes = status;
    } else {
      std::error_code error;
      const auto size = std::filesystem::file_size(path, error);
      bytes = error ? absl::StatusOr<int64_t>(absl::InternalError(error.message()))
                    : absl::StatusOr<int64_t>(static_cast<int64_t>(size));
      Record(0, "", "backup", path);
    }
    Defer([done, bytes] { done(bytes); });
  });
}

void SchedulerCore::LookupJob(int64_t id, JobCallback done) {
  std::optional<Job> in_memory;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) in_memory = it->second;
  }
  if (in_memory) {
    done(*std::move(in_memory));
    return;
  }
  // Not in memory: no such job, or one that ended and was dropped from
  // memory. The file is read on the writer thread, which owns the store.
  ReadAfterCommit([this, id, done = std::move(done)] { done(store_->FindJob(id)); });
}

void SchedulerCore::ListEvents(
    db::EventQuery query, std::function<void(absl::StatusOr<std::vector<db::Event>>)> done) {
  ReadAfterCommit([this, query = std::move(query), done = std::move(done)] {
    done(store_->Events(query));
  });
}

void SchedulerCore::ReadAfterCommit(std::function<void()> read) {
  // Queued as an op, so it follows every change queued before it; run once
  // that batch has committed (WriterLoop), so the file holds those changes.
  Enqueue([this, read = std::move(read)]() mutable {
    committed_reads_.push_back(std::move(read));
  });
}

void SchedulerCore::Cancel(int64_t id, JobCallback done) {
  Enqueue([this, id, done = std::move(done)]() mutable { DoCancel(id, std::move(done)); });
}

void SchedulerCore::DoCancel(int64_t id, JobCallback done) {
  std::optional<JobState> state;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) state = it->second.state();
  }
  if (!state.has_value()) {
    // Not in memory: no such job, or one that ended long ago.
    absl::StatusOr<Job> stored = store_->FindJob(id);
    if (stored.ok() && IsLive(stored->state())) {
      // Live jobs never leave memory; the file and memory disagree.
      stored = absl::InternalError(
          absl::StrCat("job ", id, " is live in the database but not in memory"));
    }
    if (!stored.ok()) {
      Defer([done, status = stored.status()] { done(status); });
      return;
    }
    state = stored->state();
  }
  if (!IsLive(*state)) {
    Defer([done, id, state = *state] {
      done(absl::FailedPreconditionError(absl::StrCat(
          "job ", id, " has already ended (", berth::v1::JobState_Name(state), ")")));
    });
    return;
  }
  FinishJob(id, berth::v1::CANCELLED, "cancelled by request", 0);
  Defer([this, done, id] { done(GetJob(id)); });
}

// Stages a live job's end: the row update (with its reservations released)
// commits with the batch's other updates in FlushUpdates(); then the memory
// follows, its GPUs are freed and its nodes told to stop it.
void SchedulerCore::FinishJob(int64_t id, JobState state, const std::string& reason,
                              int32_t exit_code) {
  if (!ending_.insert(id).second) return;  // already ending in this batch
  const int64_t now = options_.now_ms();
  Stage(db::JobUpdate{.id = id, .state = state, .reason = reason, .end_time_ms = now,
                      .exit_code = exit_code, .release = true},
        [this, id, state, reason, exit_code, now]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          Job& job = jobs_.at(id);
          std::set<std::string> job_nodes;
          for (const auto& gpu : job.gpus()) job_nodes.insert(gpu.node());
          ReleaseLocked(job);
          job.set_state(state);
          job.set_reason(reason);
          job.set_end_time_ms(now);
          job.set_exit_code(exit_code);
          live_.erase(id);
          finished_.insert(id);
          eviction_due_ = true;
          waiting_.erase(id);
          finished_nodes_.erase(id);
          pending_since_.erase(id);
          dirty_ = true;
          Record(id, "", absl::AsciiStrToLower(berth::v1::JobState_Name(state)), reason);
          if (state == berth::v1::SUCCEEDED) return;  // its agents are done with it
          for (const std::string& node : job_nodes) {
            berth::v1::DaemonMessage message;
            message.mutable_stop_job()->set_job_id(id);
            message.mutable_stop_job()->set_grace_ms(30000);
            Notify(node, std::move(message));
          }
        });
}

void SchedulerCore::Stage(db::JobUpdate update, std::function<void()> apply) {
  staged_updates_.push_back(std::move(update));
  staged_effects_.push_back(std::move(apply));
}

// Commits the staged job updates in one transaction, then mirrors them in
// memory. On failure nothing changes in memory either.
void SchedulerCore::FlushUpdates() {
  ending_.clear();
  if (staged_updates_.empty()) return;
  std::vector<db::JobUpdate> updates;
  std::vector<std::function<void()>> effects;
  std::vector<db::Event> events;
  updates.swap(staged_updates_);
  effects.swap(staged_effects_);
  events.swap(events_);
  if (absl::Status s = Timed([&] { return store_->UpdateJobs(updates, events); }); !s.ok()) {
    std::cerr << "berthd: " << updates.size() << " job updates not recorded: " << s << "\n";
    return;
  }
  absl::MutexLock lock(&mu_);
  for (auto& effect : effects) effect();
}

void SchedulerCore::ReleaseLocked(Job& job) {
  for (const auto& gpu : job.gpus()) {
    auto node = nodes_.find(gpu.node());
    if (node == nodes_.end()) continue;
    MarkDirtyLocked(gpu.node());
    for (auto& g : *node->second.node.mutable_gpus()) {
      if (g.index() == gpu.index() && g.job_id() == job.id()) g.set_job_id(0);
    }
  }
}

void SchedulerCore::SetDrained(std::string node, bool drained, NodeCallback done) {
  Enqueue([this, node = std::move(node), drained, done = std::move(done)]() mutable {
    DoSetDrained(node, drained, std::move(done));
  });
}

void SchedulerCore::DoSetDrained(const std::string& name, bool drained, NodeCallback done) {
  berth::v1::NodeState state;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) {
      Defer([done, name] { done(absl::NotFoundError(absl::StrCat("node ", name, " not found"))); });
      return;
    }
    // A DOWN node stays DOWN until it heartbeats; the flag decides what it
    // comes back as.
    state = it->second.node.state() == berth::v1::DOWN ? berth::v1::DOWN
                                                       : LiveNodeState(drained);
  }
  if (absl::Status s = Timed([&] { return store_->SetNodeDrained(name, drained, state); });
      !s.ok()) {
    Defer([done, s] { done(s); });
    return;
  }
  Record(0, name, drained ? "node_drained" : "node_undrained", "");
  absl::MutexLock lock(&mu_);
  nodes_[name].node.set_state(state);
  nodes_[name].node.set_drained(drained);
  MarkDirtyLocked(name);
  dirty_ = true;
  Defer([this, done, name] {
    berth::v1::Node node;
    {
      absl::ReaderMutexLock read(&mu_);
      node = nodes_.at(name).node;
      node.set_connected(nodes_.at(name).connected);
    }
    done(std::move(node));
  });
}

void SchedulerCore::RegisterNode(berth::v1::Register registration, StatusCallback done) {
  Enqueue([this, registration = std::move(registration), done = std::move(done)]() mutable {
    DoRegister(registration, std::move(done));
  });
}

void SchedulerCore::DoRegister(const berth::v1::Register& reg, StatusCallback done) {
  berth::v1::Node node;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = nodes_.find(reg.node());
    // A drained node stays drained across reconnects, and across being DOWN.
    node.set_drained(it != nodes_.end() && it->second.node.drained());
    node.set_state(LiveNodeState(node.drained()));
    node.set_name(reg.node());
    node.set_address(reg.address().empty() ? "127.0.0.1" : reg.address());
    *node.mutable_labels() = reg.labels();
    for (const berth::v1::Gpu& gpu : reg.gpus()) {
      berth::v1::Gpu* copy = node.add_gpus();
      *copy = gpu;
      copy->set_job_id(0);
      if (it == nodes_.end()) continue;
      for (const berth::v1::Gpu& old : it->second.node.gpus()) {
        if (old.index() == gpu.index()) copy->set_job_id(old.job_id());
      }
    }
  }
  node.set_last_heartbeat_ms(options_.now_ms());
  if (absl::Status s = Timed([&] { return store_->UpsertNode(node); }); !s.ok()) {
    Defer([done, s] { done(s); });
    return;
  }
  Record(0, reg.node(), "node_registered",
         absl::StrCat(reg.gpus_size(), " GPUs, ", reg.running_jobs_size(), " running jobs"));
  std::set<int64_t> reported(reg.running_jobs().begin(), reg.running_jobs().end());
  absl::MutexLock lock(&mu_);
  nodes_[reg.node()] = NodeEntry{.node = node, .connected = true};
  dirty_ = true;
  topology_changed_ = true;
  views_stale_ = true;
  // Admission sees the new node as soon as ListNodes does.
  RefreshCachesLocked();
  // Jobs placed here that the agent does not hold yet (it may have missed
  // StartJob while the daemon was away): start them again.
  for (int64_t id : live_) {
    const Job& job = jobs_.at(id);
    if (job.state() == berth::v1::PENDING || reported.contains(id)) continue;
    bool here = false;
    for (const auto& gpu : job.gpus()) here |= gpu.node() == reg.node();
    if (!here) continue;
    berth::v1::DaemonMessage message;
    *message.mutable_start_job()->mutable_job() = job;
    Notify(reg.node(), std::move(message));
  }
  // Jobs the agent runs that berth no longer has live on it: stop them.
  for (int64_t id : reported) {
    if (live_.contains(id) && JobUsesNodeLocked(jobs_.at(id), reg.node())) continue;
    berth::v1::DaemonMessage message;
    message.mutable_stop_job()->set_job_id(id);
    Notify(reg.node(), std::move(message));
  }
  Defer([done] { done(absl::OkStatus()); });
}

void SchedulerCore::AgentDisconnected(std::string node) {
  Enqueue([this, node = std::move(node)] {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(node);
    if (it != nodes_.end()) {
      it->second.connected = false;
      MarkDirtyLocked(node);
    }
    dirty_ = true;
    Record(0, node, "node_disconnected", "");
  });
}

void SchedulerCore::Heartbeat(const std::string& node, const berth::v1::Heartbeat& heartbeat) {
  bool revive = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    it->second.node.set_last_heartbeat_ms(options_.now_ms());
    it->second.samples.assign(heartbeat.gpus().begin(), heartbeat.gpus().end());
    revive = it->second.node.state() == berth::v1::DOWN;
  }
  if (options_.metrics != nullptr) options_.metrics->heartbeats.Increment();
  // A node marked DOWN that heartbeats again has come back.
  if (revive) Enqueue([this, node] { DoNodeBack(node); });
}

void SchedulerCore::DoNodeBack(const std::string& name) {
  berth::v1::NodeState state;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end() || it->second.node.state() != berth::v1::DOWN) return;
    state = LiveNodeState(it->second.node.drained());
  }
  if (absl::Status s = Timed([&] { return store_->SetNodeState(name, state); }); !s.ok()) return;
  Record(0, name, "node_up",
         state == berth::v1::DRAINED ? "heartbeats resumed; still drained" : "heartbeats resumed");
  absl::MutexLock lock(&mu_);
  nodes_[name].node.set_state(state);
  MarkDirtyLocked(name);
  dirty_ = true;
}

bool SchedulerCore::JobUsesNodeLocked(const Job& job, const std::string& node) const {
  for (const auto& gpu : job.gpus()) {
    if (gpu.node() == node) return true;
  }
  return false;
}

// Marks nodes whose heartbeats stopped DOWN and takes their jobs back:
// requeued (PENDING) or failed, as each job asks. Their GPUs are offered
// again only when the node returns.
void SchedulerCore::CheckNodeLiveness() {
  const int64_t now = options_.now_ms();
  const int64_t limit = options_.heartbeat_interval_ms * options_.missed_heartbeats;
  std::vector<std::string> lost;
  std::vector<std::pair<int64_t, std::string>> jobs;  // (job, on_node_loss)
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, entry] : nodes_) {
      if (entry.node.state() == berth::v1::DOWN) continue;
      if (now - entry.node.last_heartbeat_ms() > limit) lost.push_back(name);
    }
    for (const std::string& name : lost) {
      for (int64_t id : live_) {
        const Job& job = jobs_.at(id);
        if (job.state() != berth::v1::PENDING && JobUsesNodeLocked(job, name)) {
          jobs.emplace_back(id, name);
        }
      }
    }
  }
  for (const std::string& name : lost) {
    if (!Timed([&] { return store_->SetNodeState(name, berth::v1::DOWN); }).ok()) continue;
    Record(0, name, "node_down",
           absl::StrCat("no heartbeat for ", options_.missed_heartbeats, " intervals"));
    absl::MutexLock lock(&mu_);
    nodes_[name].node.set_state(berth::v1::DOWN);
    MarkDirtyLocked(name);
    dirty_ = true;
  }
  for (const auto& [id, node] : jobs) LoseJob(id, node);
}

void SchedulerCore::CheckRunTimes() {
  const int64_t now = options_.now_ms();
  std::vector<std::pair<int64_t, int64_t>> overdue;  // (job, limit in s)
  {
    absl::ReaderMutexLock lock(&mu_);
    for (int64_t id : live_) {
      const Job& job = jobs_.at(id);
      const int64_t limit_s = job.spec().max_runtime_seconds();
      if (job.state() == berth::v1::PENDING || limit_s <= 0 || job.start_time_ms() <= 0) continue;
      if (now > job.start_time_ms() + limit_s * 1000 + options_.runtime_grace_ms) {
        overdue.emplace_back(id, limit_s);
      }
    }
  }
  for (const auto& [id, limit_s] : overdue) {
    FinishJob(id, berth::v1::FAILED,
              absl::StrCat("exceeded max run time of ", limit_s, " s (stopped by berthd)"), 0);
  }
}

void SchedulerCore::LoseJob(int64_t id, const std::string& node) {
  bool fail = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    fail = jobs_.at(id).spec().on_node_loss() == "fail";
  }
  const std::string reason = absl::StrCat("node ", node, " was lost");
  if (fail) {
    FinishJob(id, berth::v1::FAILED, reason, 0);
    return;
  }
  if (!ending_.insert(id).second) return;
  Stage(db::JobUpdate{.id = id, .state = berth::v1::PENDING,
                      .reason = absl::StrCat("requeued: ", reason), .release = true},
        [this, id, reason]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          Job& job = jobs_.at(id);
          std::set<std::string> job_nodes;
          for (const auto& gpu : job.gpus()) job_nodes.insert(gpu.node());
          ReleaseLocked(job);
          job.clear_gpus();
          job.set_state(berth::v1::PENDING);
          job.set_reason(absl::StrCat("requeued: ", reason));
          job.set_start_time_ms(0);
          pending_since_[id] = options_.now_ms();
          finished_nodes_.erase(id);
          dirty_ = true;
          Record(id, "", "requeued", reason);
          // The surviving nodes stop their share; the lost one too, if it
          // is only slow and still listening.
          for (const std::string& n : job_nodes) {
            berth::v1::DaemonMessage message;
            message.mutable_stop_job()->set_job_id(id);
            message.mutable_stop_job()->set_grace_ms(30000);
            Notify(n, std::move(message));
          }
        });
}

void SchedulerCore::ReportJobStatus(std::string node, berth::v1::JobStatus status) {
  Enqueue([this, node = std::move(node), status = std::move(status)] {
    DoJobStatus(node, status);
  });
}

void SchedulerCore::DoJobStatus(const std::string& node, const berth::v1::JobStatus& status) {
  JobState current;
  size_t job_nodes = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(status.job_id());
    if (it == jobs_.end() || !IsLive(it->second.state())) return;
    current = it->second.state();
    std::set<std::string> names;
    for (const auto& gpu : it->second.gpus()) names.insert(gpu.node());
    if (!names.contains(node)) return;  // not this node's job
    job_nodes = names.size();
    if (status.state() == berth::v1::SUCCEEDED) {
      finished_nodes_[status.job_id()].insert(node);
      if (finished_nodes_[status.job_id()].size() < job_nodes) return;
    }
  }
  switch (status.state()) {
    case berth::v1::RUNNING: {
      if (current != berth::v1::PLACED || ending_.contains(status.job_id())) return;
      const int64_t id = status.job_id(), time_ms = status.time_ms();
      Stage(db::JobUpdate{.id = id, .state = berth::v1::RUNNING, .start_time_ms = time_ms},
            [this, id, time_ms]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
              Job& job = jobs_.at(id);
              if (job.state() != berth::v1::PLACED) return;
              Record(id, "", "running", "");
              job.set_state(berth::v1::RUNNING);
              if (time_ms != 0) job.set_start_time_ms(time_ms);
            });
      return;
    }
    case berth::v1::SUCCEEDED:
      FinishJob(status.job_id(), berth::v1::SUCCEEDED, "", status.exit_code());
      return;
    case berth::v1::FAILED:
      FinishJob(status.job_id(), berth::v1::FAILED,
                absl::StrCat(status.message().empty() ? "failed" : status.message(),
                             " (node ", node, ")"),
                status.exit_code());
      return;
    default:
      return;  // CANCELLED acknowledges a StopJob; nothing to record
  }
}

}  // namespace berth::daemon
