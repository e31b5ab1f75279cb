// SchedulerCore: the changes a writer round applies for nodes and their
// agents: a registration, an agent's report on a job (acknowledged only once
// recorded), a node back or gone silent (DOWN, its jobs requeued or failed),
// and jobs past their run time. As in core_changes.cc, each change writes its
// rows into the round's batch first and changes memory only if that worked;
// agents are sent messages only if the round commits.
#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/convert.h"
#include "daemon/scheduler_core.h"
#include "daemon/state_convert.h"

namespace berth::daemon {

using berth::v1::Job;

namespace {

// What an agent says of a job, as it may be stored and shown: at most
// kMaxAgentMessage bytes, control characters (terminal escapes, newlines)
// replaced by '?', so that a node cannot flood or garble what users read.
constexpr size_t kMaxAgentMessage = 1024;
std::string CleanAgentMessage(const std::string& text) {
  // Cut on a character's first byte, never inside a UTF-8 sequence: a
  // string that is not UTF-8 makes every client's parse of the job fail.
  size_t cut = std::min(text.size(), kMaxAgentMessage);
  if (cut < text.size()) {
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  }
  std::string clean = text.substr(0, cut);
  for (char& c : clean) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > kMaxAgentMessage) clean += "... (truncated)";
  return clean;
}

// An agent's time, kept only when plausible: after the job was placed and
// not more than a minute ahead of berthd's clock; else berthd's own time.
int64_t PlausibleTime(int64_t reported_ms, int64_t placed_ms, int64_t now_ms) {
  if (reported_ms < placed_ms || reported_ms > now_ms + 60'000) return now_ms;
  return reported_ms;
}

}  // namespace

void SchedulerCore::DoRegister(WriteBatch& batch, const berth::v1::Register& reg,
                               StatusCallback done) {
  const std::string action = absl::StrCat("registration of node ", reg.node());
  if (fenced_) {
    absl::Status refused = FencedError(FenceCause(), action);
    batch.AddReply(action, [done, refused](absl::Status) mutable { done(std::move(refused)); });
    return;
  }
  const NodeRecord* old = state_.FindNode(reg.node());
  berth::v1::Node node;
  // A drained node stays drained across reconnects, and across being DOWN.
  node.set_drained(old != nullptr && old->drained);
  node.set_state(node.drained() ? berth::v1::DRAINED : berth::v1::UP);
  node.set_name(reg.node());
  node.set_address(reg.address().empty() ? "127.0.0.1" : reg.address());
  *node.mutable_labels() = reg.labels();
  for (const berth::v1::Gpu& gpu : reg.gpus()) {
    berth::v1::Gpu* copy = node.add_gpus();
    *copy = gpu;
    copy->set_job_id(0);  // PutNode keeps the holders by index
  }
  const int64_t now = options_.now_ms();
  node.set_last_heartbeat_ms(now);
  if (!batch.Write([&](db::Store& store) { return store.UpsertNode(node); })) {
    batch.AddReply(action, [done](absl::Status commit) { done(std::move(commit)); });
    return;
  }
  NodeRecord record = NodeFromProto(node);
  record.connected = true;
  state_.PutNode(std::move(record));
  {
    absl::MutexLock lock(&liveness_mu_);
    Liveness& entry = liveness_[reg.node()];
    entry.last_heartbeat_ms = now;
    entry.down = false;
    entry.seen = true;
    entry.gpu_indices.clear();
    for (const berth::v1::Gpu& gpu : reg.gpus()) entry.gpu_indices.push_back(gpu.index());
    std::sort(entry.gpu_indices.begin(), entry.gpu_indices.end());
    entry.samples.clear();
  }
  dirty_ = true;
  Record(batch, 0, reg.node(), EventKind::kNodeRegistered,
         absl::StrCat(reg.gpus_size(), " GPUs, ", reg.running_jobs_size(), " running jobs"));
  // The agent heartbeats only once told Registered, which waits for the
  // commit: its silence counts from then, so that a slow fsync (a loaded
  // disk, a restart's recovery) does not mark a node just back DOWN.
  batch.AddReply(action, [this, done, name = reg.node()](absl::Status commit) {
    if (commit.ok()) {
      absl::MutexLock lock(&liveness_mu_);
      auto it = liveness_.find(name);
      if (it != liveness_.end()) {
        it->second.last_heartbeat_ms = std::max(it->second.last_heartbeat_ms, options_.now_ms());
      }
    }
    done(std::move(commit));
  });
  // Jobs placed here that the agent does not hold yet (it may have missed
  // StartJob while the daemon was away): start them again.
  const std::set<int64_t> reported(reg.running_jobs().begin(), reg.running_jobs().end());
  for (int64_t id : state_.live()) {
    const JobRecord& job = *state_.FindJob(id);
    if (job.state == JobState::kPending || reported.contains(id)) continue;
    if (!state_.NodesOf(job).contains(reg.node()) || job.preempted_by != 0) continue;
    berth::v1::DaemonMessage message;
    *message.mutable_start_job()->mutable_job() = JobToProto(job);
    batch.Send(reg.node(), std::move(message));
  }
  // Jobs being preempted here: stopped if the agent no longer runs them,
  // else told again to stop.
  const std::set<int64_t> preempting = state_.preempting();
  for (int64_t id : preempting) {
    const JobRecord* job = state_.FindJob(id);
    if (job == nullptr || !job->stopping_on.contains(reg.node())) continue;
    if (!reported.contains(id)) {
      ConfirmPreemptStop(batch, id, reg.node(), "the node no longer runs it");
    } else {
      StopOnNodes(batch, id, {reg.node()}, PreemptionGraceMs(*job));
    }
  }
  // Ended jobs stopping here that the agent no longer runs: stopped.
  for (int64_t id : state_.StoppingOn(reg.node())) {
    if (!reported.contains(id)) {
      ConfirmStop(batch, id, reg.node(), "the node no longer runs it; its GPUs there are free");
    }
  }
  // Jobs the agent runs that berth no longer has live on it: stop them.
  for (int64_t id : reported) {
    const JobRecord* job = state_.FindJob(id);
    if (job != nullptr && IsLive(job->state) && state_.NodesOf(*job).contains(reg.node())) {
      continue;
    }
    berth::v1::DaemonMessage message;
    message.mutable_stop_job()->set_job_id(id);
    batch.Send(reg.node(), std::move(message));
  }
}

void SchedulerCore::Ack(WriteBatch& batch, const std::string& node,
                        const berth::v1::JobStatus& status) {
  berth::v1::DaemonMessage message;
  message.mutable_job_status_ack()->set_job_id(status.job_id());
  message.mutable_job_status_ack()->set_state(status.state());
  batch.Send(node, std::move(message));
}

// An agent's report on one of its jobs. It is acknowledged once recorded,
// or at once when there is nothing to record (a repeat, a job that ended or
// is not on this node); until then the agent sends it again.
void SchedulerCore::DoJobStatus(WriteBatch& batch, const std::string& node,
                                const berth::v1::JobStatus& status) {
  const int64_t id = status.job_id();
  const JobRecord* job = state_.FindJob(id);
  if (job != nullptr && !IsLive(job->state) && job->stopping_on.contains(node) &&
      status.state() != berth::v1::RUNNING) {
    // The node's last word on a job berthd ended: its processes are gone.
    if (fenced_) return;
    ConfirmStop(batch, id, node, "the node confirmed the stop; its GPUs there are free");
    Ack(batch, node, status);
    return;
  }
  if (job != nullptr && IsLive(job->state) && job->preempted_by != 0 &&
      job->stopping_on.contains(node) && status.state() == berth::v1::CANCELLED) {
    // A preempted job's processes are gone from this node.
    if (fenced_) return;
    ConfirmPreemptStop(batch, id, node, "the node confirmed the stop");
    Ack(batch, node, status);
    return;
  }
  if (job == nullptr || !IsLive(job->state) || !state_.NodesOf(*job).contains(node)) {
    Ack(batch, node, status);
    return;
  }
  if (fenced_) return;  // not recorded, not acknowledged: sent again after a restart
  switch (status.state()) {
    case berth::v1::RUNNING: {
      if (job->state != JobState::kPlaced) break;  // a repeat
      const int64_t time_ms =
          PlausibleTime(status.time_ms(), job->start_time_ms, options_.now_ms());
      if (!batch.Write([&](db::Store& store) {
            return store.UpdateJobs(
                {db::JobUpdate{.id = id, .state = berth::v1::RUNNING, .start_time_ms = time_ms}});
          })) {
        return;
      }
      state_.Start(id, time_ms).IgnoreError();
      Record(batch, id, node, EventKind::kRunning, "");
      break;
    }
    case berth::v1::SUCCEEDED:
      // A job spanning nodes succeeds when every node has said so; the
      // earlier ones are not acknowledged yet, so they repeat it until then.
      if (state_.NoteNodeSucceeded(id, node) < state_.NodesOf(*job).size()) return;
      if (!EndJob(batch, id, JobState::kSucceeded, "", status.exit_code()).ok()) return;
      break;
    case berth::v1::FAILED:
      if (!EndJob(batch, id, JobState::kFailed,
                  absl::StrCat(
                      status.message().empty() ? "failed" : CleanAgentMessage(status.message()),
                      " (node ", node, ")"),
                  status.exit_code(), /*done_on=*/node)
               .ok()) {
        return;
      }
      break;
    default:
      break;  // CANCELLED acknowledges a StopJob; nothing to record
  }
  Ack(batch, node, status);
}

void SchedulerCore::DoNodeBack(WriteBatch& batch, const std::string& name) {
  if (fenced_) return;
  const NodeRecord* node = state_.FindNode(name);
  if (node == nullptr || node->state != NodeState::kDown) return;
  const NodeState next = node->drained ? NodeState::kDrained : NodeState::kUp;
  if (!batch.Write(
          [&](db::Store& store) { return store.SetNodeState(name, NodeStateToProto(next)); })) {
    return;
  }
  state_.NodeUp(name).IgnoreError();
  {
    absl::MutexLock lock(&liveness_mu_);
    liveness_[name].down = false;
  }
  Record(batch, 0, name, EventKind::kNodeUp,
         next == NodeState::kDrained ? "heartbeats resumed; still drained" : "heartbeats resumed");
  dirty_ = true;
}

// Marks nodes whose heartbeats stopped DOWN and takes their jobs back:
// requeued (PENDING) or failed, as each job asks. Their GPUs are offered
// again only when the node returns.
void SchedulerCore::CheckNodeLiveness(WriteBatch& batch) {
  const int64_t now = options_.now_ms();
  const int64_t limit = options_.heartbeat_interval_ms * options_.missed_heartbeats;
  std::vector<std::string> lost;
  {
    // One walk over the liveness table, which heartbeats share: no lookup
    // per node (at 10,000 nodes the lookups held heartbeats up for
    // milliseconds each second). Every node has an entry (LoadState and
    // Register make one); the size check below is only a guard.
    absl::MutexLock lock(&liveness_mu_);
    for (const auto& [name, entry] : liveness_) {
      const bool awaited =
          !entry.seen && now - started_ms_ <= std::max(limit, options_.recovery_grace_ms);
      if (now - entry.last_heartbeat_ms > limit && !awaited) lost.push_back(name);
    }
    if (liveness_.size() < state_.nodes().size()) {
      for (const auto& [name, node] : state_.nodes()) {
        if (!liveness_.contains(name)) lost.push_back(name);
      }
    }
  }
  // Those already DOWN stay so; the rest go DOWN in name order.
  std::erase_if(lost, [this](const std::string& name) {
    const NodeRecord* node = state_.FindNode(name);
    return node == nullptr || node->state == NodeState::kDown;
  });
  std::sort(lost.begin(), lost.end());
  for (const std::string& name : lost) {
    if (!batch.Write([&](db::Store& store) { return store.SetNodeState(name, berth::v1::DOWN); })) {
      return;
    }
    state_.NodeDown(name).IgnoreError();
    {
      absl::MutexLock lock(&liveness_mu_);
      liveness_[name].down = true;
    }
    dirty_ = true;
    Record(batch, 0, name, EventKind::kNodeDown,
           absl::StrCat("no heartbeat for ", options_.missed_heartbeats, " intervals"));
    std::vector<int64_t> jobs;
    for (int64_t id : state_.live()) {
      const JobRecord& job = *state_.FindJob(id);
      if (job.state != JobState::kPending && state_.NodesOf(job).contains(name)) {
        jobs.push_back(id);
      }
    }
    for (int64_t id : jobs) {
      const JobRecord* job = state_.FindJob(id);
      if (job != nullptr && job->preempted_by != 0) {
        // It was stopping anyway: a lost node counts as stopped.
        ConfirmPreemptStop(batch, id, name, "the node is DOWN");
      } else {
        LoseJob(batch, id, name);
      }
    }
    for (int64_t id : state_.StoppingOn(name)) {
      ConfirmStop(batch, id, name, "the node is DOWN; its GPUs there are free");
    }
  }
}

void SchedulerCore::CheckRunTimes(WriteBatch& batch) {
  const int64_t now = options_.now_ms();
  std::vector<std::pair<int64_t, int64_t>> overdue;  // (job, limit in ms)
  // Only the jobs whose end (start + maximum run time) is past: at 10,000
  // running jobs a walk over all of them took milliseconds each second.
  for (const auto& [end_ms, id] : state_.queue_index().held_ends()) {
    if (now <= end_ms + options_.runtime_grace_ms) break;
    const JobRecord& job = *state_.FindJob(id);
    if (job.start_time_ms <= 0) continue;  // no start recorded: no end to judge
    overdue.emplace_back(id, job.max_runtime_ms);
  }
  std::sort(overdue.begin(), overdue.end());  // by id, as before
  for (const auto& [id, limit_ms] : overdue) {
    EndJob(batch, id, JobState::kFailed,
           absl::StrCat("exceeded max run time of ", limit_ms / 1000, " s (stopped by berthd)"), 0)
        .IgnoreError();
  }
}

void SchedulerCore::LoseJob(WriteBatch& batch, int64_t id, const std::string& node) {
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr || !IsLive(job->state) || job->state == JobState::kPending) return;
  const std::string reason = absl::StrCat("node ", node, " was lost");
  if (job->on_node_loss == OnNodeLoss::kFail) {
    EndJob(batch, id, JobState::kFailed, reason, 0).IgnoreError();
    return;
  }
  const std::set<std::string> nodes = state_.NodesOf(*job);
  const std::string requeued = absl::StrCat("requeued: ", reason);
  if (!batch.Write([&](db::Store& store) {
        return store.UpdateJobs({db::JobUpdate{
            .id = id, .state = berth::v1::PENDING, .reason = requeued, .release = true}});
      })) {
    return;
  }
  state_.Requeue(id, requeued, options_.now_ms()).IgnoreError();
  dirty_ = true;
  Record(batch, id, "", EventKind::kRequeued, reason);
  // The surviving nodes stop their share; the lost one too, if it is only
  // slow and still listening.
  StopOnNodes(batch, id, nodes);
}

}  // namespace berth::daemon
