#include "daemon/cluster_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace berth::daemon {

bool IsLive(JobState state) {
  return state == JobState::kPending || state == JobState::kPlaced || state == JobState::kRunning;
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kPending:
      return "PENDING";
    case JobState::kPlaced:
      return "PLACED";
    case JobState::kRunning:
      return "RUNNING";
    case JobState::kSucceeded:
      return "SUCCEEDED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELLED";
    case JobState::kRejected:
      return "REJECTED";
  }
  return "UNKNOWN";
}

namespace {

absl::Status WrongState(const JobRecord& job, const char* wanted) {
  return absl::FailedPreconditionError(
      absl::StrCat("job ", job.id, " is ", JobStateName(job.state), ", not ", wanted));
}

absl::Status NoJob(int64_t id) {
  return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
}

absl::Status NoNode(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("node ", name, " not found"));
}

bool Schedulable(const NodeRecord& node) { return node.connected && node.state == NodeState::kUp; }

// Appends one view per GPU type on the node (almost always one).
void AppendNodeViews(const NodeRecord& node, bool capacity, std::vector<NodeView>& views) {
  const size_t first = views.size();
  const bool schedulable = capacity || Schedulable(node);
  for (const GpuRecord& gpu : node.gpus) {
    size_t i = first;
    while (i < views.size() && views[i].gpu_type != gpu.type) ++i;
    if (i == views.size()) {
      views.push_back(NodeView{.name = node.name,
                               .gpu_type = gpu.type,
                               .free_gpus = {},
                               .total_gpus = 0,
                               .schedulable = schedulable});
    }
    views[i].total_gpus++;
    if (capacity || gpu.job_id == 0) views[i].free_gpus.push_back(gpu.index);
  }
  for (size_t i = first; i < views.size(); ++i) {
    std::sort(views[i].free_gpus.begin(), views[i].free_gpus.end());
  }
}

}  // namespace

JobRecord* ClusterState::MutableJob(int64_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

NodeRecord* ClusterState::MutableNode(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const JobRecord* ClusterState::FindJob(int64_t id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const NodeRecord* ClusterState::FindNode(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::set<std::string> ClusterState::NodesOf(const JobRecord& job) const {
  std::set<std::string> names;
  for (const GpuHold& gpu : job.gpus) names.insert(gpu.node);
  return names;
}

void ClusterState::PutNode(NodeRecord node) {
  auto old = nodes_.find(node.name);
  for (GpuRecord& gpu : node.gpus) {
    if (old == nodes_.end()) break;
    for (const GpuRecord& before : old->second.gpus) {
      if (before.index == gpu.index && before.job_id != 0) gpu.job_id = before.job_id;
    }
  }
  const std::string name = node.name;
  nodes_[name] = std::move(node);
  views_stale_ = true;
  topology_changed_ = true;
}

void ClusterState::AddJob(JobRecord job) {
  const int64_t id = job.id;
  if (IsLive(job.state)) {
    live_.insert(id);
    finished_.erase(id);
  } else {
    finished_.insert(id);
    live_.erase(id);
  }
  if (job.state == JobState::kPending) pending_since_[id] = job.submit_time_ms;
  if (job.state == JobState::kPlaced || job.state == JobState::kRunning) {
    job.stopping_on.clear();
    for (const GpuHold& hold : job.gpus) Hold(job, hold);
    // Recovered mid-preemption: every node must confirm the stop again.
    if (job.preempted_by != 0) job.stopping_on = NodesOf(job);
    if (job.preempted_by != 0 && !job.stopping_on.empty()) preempting_.insert(id);
    if (job.stopping_on.empty()) job.preempted_by = 0;
  } else if (!IsLive(job.state) && !job.stopping_on.empty()) {
    for (const GpuHold& hold : job.gpus) {
      if (job.stopping_on.contains(hold.node)) Hold(job, hold);
    }
    stopping_.insert(id);
  } else {
    job.stopping_on.clear();
  }
  if (!IsLive(job.state) || job.state == JobState::kPending) job.preempted_by = 0;
  JobRecord& stored = jobs_[id] = std::move(job);
  Track(stored);
}

void ClusterState::Track(const JobRecord& job) {
  if (job.state == JobState::kPending) {
    index_.Track(job.id, QueueIndex::Entry{
                             .pool = job.gpu_type,
                             .pending = std::pair(LaneKey{.tp = job.shape.tp,
                                                          .pp = job.shape.pp,
                                                          .dp = job.shape.dp,
                                                          .max_runtime_ms = job.max_runtime_ms,
                                                          .team = job.team,
                                                          .priority = job.priority},
                                                  QueueKey{.priority = job.priority,
                                                           .submit_time_ms = job.submit_time_ms,
                                                           .id = job.id})});
  } else if (job.state == JobState::kPlaced || job.state == JobState::kRunning) {
    const int64_t end = job.max_runtime_ms > 0 ? job.start_time_ms + job.max_runtime_ms : 0;
    index_.Track(job.id,
                 QueueIndex::Entry{.pool = job.gpu_type,
                                   .held = std::pair(end, static_cast<int64_t>(job.gpus.size())),
                                   .team = job.team,
                                   .priority = job.priority,
                                   .start_ms = job.start_time_ms});
  } else {
    index_.Track(job.id, std::nullopt);
  }
}

void ClusterState::SetState(JobRecord& job, JobState state) {
  job.state = state;
  if (IsLive(state)) {
    live_.insert(job.id);
    finished_.erase(job.id);
  } else {
    live_.erase(job.id);
    finished_.insert(job.id);
    waiting_.erase(job.id);
    succeeded_nodes_.erase(job.id);
  }
  // Only a placed or running job can be in the middle of a preemption.
  if (state != JobState::kPlaced && state != JobState::kRunning && job.preempted_by != 0) {
    job.preempted_by = 0;
    preempting_.erase(job.id);
  }
  // Entering PENDING, the caller sets pending_since_ (it knows when).
  if (state != JobState::kPending) pending_since_.erase(job.id);
}

void ClusterState::Hold(const JobRecord& job, const GpuHold& hold) {
  NodeRecord* node = MutableNode(hold.node);
  if (node == nullptr) return;  // CheckInvariants reports it
  for (GpuRecord& gpu : node->gpus) {
    if (gpu.index == hold.index) gpu.job_id = job.id;
  }
  MarkDirty(hold.node);
}

void ClusterState::Release(JobRecord& job, const std::string* only) {
  for (const GpuHold& hold : job.gpus) {
    if (only != nullptr && hold.node != *only) continue;
    NodeRecord* node = MutableNode(hold.node);
    if (node == nullptr) continue;
    MarkDirty(hold.node);
    for (GpuRecord& gpu : node->gpus) {
      if (gpu.index == hold.index && gpu.job_id == job.id) gpu.job_id = 0;
    }
  }
}

absl::Status ClusterState::Place(int64_t id, std::vector<GpuHold> gpus, int64_t now_ms) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (job->state != JobState::kPending) return WrongState(*job, "PENDING");
  // Check every GPU before taking any: all or nothing.
  for (const GpuHold& hold : gpus) {
    const NodeRecord* node = FindNode(hold.node);
    if (node == nullptr) return NoNode(hold.node);
    bool free = false;
    for (const GpuRecord& gpu : node->gpus) free |= gpu.index == hold.index && gpu.job_id == 0;
    if (!free) {
      return absl::FailedPreconditionError(
          absl::StrCat("GPU ", hold.node, ":", hold.index, " is not free (placing job ", id, ")"));
    }
  }
  for (GpuHold& hold : gpus) {
    NodeRecord& node = *MutableNode(hold.node);
    for (GpuRecord& gpu : node.gpus) {
      if (gpu.index != hold.index) continue;
      gpu.job_id = id;
      if (hold.uuid.empty()) hold.uuid = gpu.uuid;
    }
    if (hold.node_address.empty()) hold.node_address = node.address;
    MarkDirty(hold.node);
  }
  job->gpus = std::move(gpus);
  job->start_time_ms = now_ms;
  job->reason.clear();
  SetState(*job, JobState::kPlaced);
  waiting_.erase(id);
  Track(*job);
  return absl::OkStatus();
}

absl::Status ClusterState::Start(int64_t id, int64_t time_ms) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (job->state != JobState::kPlaced) return WrongState(*job, "PLACED");
  SetState(*job, JobState::kRunning);
  if (time_ms != 0) job->start_time_ms = time_ms;
  Track(*job);
  return absl::OkStatus();
}

absl::Status ClusterState::Finish(int64_t id, JobState end, std::string reason, int32_t exit_code,
                                  int64_t now_ms, const std::set<std::string>& hold_on) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (!IsLive(job->state)) return WrongState(*job, "live");
  if (IsLive(end) || end == JobState::kRejected) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", id, " cannot end as ", JobStateName(end)));
  }
  std::set<std::string> held;
  for (const GpuHold& hold : job->gpus) {
    if (hold_on.contains(hold.node)) {
      held.insert(hold.node);
    } else {
      Release(*job, &hold.node);
    }
  }
  SetState(*job, end);  // before stopping_on: it ends a preemption's
  job->stopping_on = std::move(held);
  if (!job->stopping_on.empty()) stopping_.insert(id);
  job->reason = std::move(reason);
  job->end_time_ms = now_ms;
  job->exit_code = exit_code;
  Track(*job);
  return absl::OkStatus();
}

absl::Status ClusterState::Requeue(int64_t id, std::string reason, int64_t now_ms) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (job->state != JobState::kPlaced && job->state != JobState::kRunning) {
    return WrongState(*job, "PLACED or RUNNING");
  }
  Release(*job);
  job->gpus.clear();
  job->start_time_ms = 0;
  job->reason = std::move(reason);
  job->stopping_on.clear();
  SetState(*job, JobState::kPending);
  succeeded_nodes_.erase(id);
  pending_since_[id] = now_ms;
  Track(*job);
  return absl::OkStatus();
}

absl::Status ClusterState::Preempt(int64_t id, int64_t preemptor, std::set<std::string> stop_on) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (job->state != JobState::kPlaced && job->state != JobState::kRunning) {
    return WrongState(*job, "PLACED or RUNNING");
  }
  if (job->preempted_by != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is being preempted already (for job ", job->preempted_by, ")"));
  }
  const std::set<std::string> nodes = NodesOf(*job);
  if (stop_on.empty() ||
      !std::includes(nodes.begin(), nodes.end(), stop_on.begin(), stop_on.end())) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", id, ": the nodes to stop it on must be some of its own"));
  }
  job->preempted_by = preemptor;
  job->stopping_on = std::move(stop_on);
  preempting_.insert(id);
  return absl::OkStatus();
}

absl::Status ClusterState::RequeuePreempted(int64_t id, std::string reason, int64_t now_ms) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (job->preempted_by == 0) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " is not being preempted"));
  }
  BERTH_RETURN_IF_ERROR(Requeue(id, std::move(reason), now_ms));
  job->preemptions++;
  return absl::OkStatus();
}

absl::Status ClusterState::ConfirmStopped(int64_t id, const std::string& node) {
  JobRecord* job = MutableJob(id);
  if (job == nullptr) return NoJob(id);
  if (IsLive(job->state) && job->preempted_by != 0 && job->stopping_on.contains(node)) {
    job->stopping_on.erase(node);
    return absl::OkStatus();
  }
  if (IsLive(job->state) || !job->stopping_on.contains(node)) {
    return absl::NotFoundError(
        absl::StrCat("job ", id, " holds no GPUs on ", node, " awaiting a stop"));
  }
  Release(*job, &node);
  job->stopping_on.erase(node);
  if (job->stopping_on.empty()) stopping_.erase(id);
  return absl::OkStatus();
}

std::vector<int64_t> ClusterState::StoppingOn(const std::string& node) const {
  std::vector<int64_t> ids;
  for (int64_t id : stopping_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && it->second.stopping_on.contains(node)) ids.push_back(id);
  }
  return ids;
}

absl::Status ClusterState::NodeDown(const std::string& name) {
  NodeRecord* node = MutableNode(name);
  if (node == nullptr) return NoNode(name);
  node->state = NodeState::kDown;
  MarkDirty(name);
  return absl::OkStatus();
}

absl::Status ClusterState::NodeUp(const std::string& name) {
  NodeRecord* node = MutableNode(name);
  if (node == nullptr) return NoNode(name);
  node->state = node->drained ? NodeState::kDrained : NodeState::kUp;
  MarkDirty(name);
  return absl::OkStatus();
}

absl::Status ClusterState::SetDrained(const std::string& name, bool drained) {
  NodeRecord* node = MutableNode(name);
  if (node == nullptr) return NoNode(name);
  node->drained = drained;
  if (node->state != NodeState::kDown) node->state = drained ? NodeState::kDrained : NodeState::kUp;
  MarkDirty(name);
  return absl::OkStatus();
}

absl::Status ClusterState::SetConnected(const std::string& name, bool connected) {
  NodeRecord* node = MutableNode(name);
  if (node == nullptr) return NoNode(name);
  node->connected = connected;
  MarkDirty(name);
  return absl::OkStatus();
}

size_t ClusterState::NoteNodeSucceeded(int64_t id, const std::string& node) {
  std::set<std::string>& done = succeeded_nodes_[id];
  done.insert(node);
  return done.size();
}

void ClusterState::EvictFinished(size_t keep) {
  // Jobs still stopping stay (they hold GPUs) and do not count.
  auto it = finished_.begin();  // the oldest first
  while (finished_.size() - stopping_.size() > keep && it != finished_.end()) {
    if (stopping_.contains(*it)) {
      ++it;
      continue;
    }
    index_.Track(*it, std::nullopt);
    jobs_.erase(*it);
    it = finished_.erase(it);
  }
}

void ClusterState::ForgetEnded(const std::vector<int64_t>& ids) {
  for (const int64_t id : ids) {
    if (!finished_.contains(id) || stopping_.contains(id)) continue;
    index_.Track(id, std::nullopt);
    jobs_.erase(id);
    finished_.erase(id);
  }
}

void ClusterState::SetWaiting(const std::vector<Waiting>& waiting) {
  waiting_.clear();
  for (const Waiting& w : waiting) waiting_[w.job_id] = w;
}

std::vector<NodeView> ClusterState::BuildViews(bool capacity) const {
  std::vector<NodeView> views;
  views.reserve(nodes_.size());
  for (const auto& [name, node] : nodes_) AppendNodeViews(node, capacity, views);
  return views;
}

const std::vector<NodeView>& ClusterState::PlacementViews() {
  if (!views_stale_) {
    for (const std::string& name : dirty_nodes_) {
      auto span = view_span_.find(name);
      const NodeRecord* node = FindNode(name);
      if (span == view_span_.end() || node == nullptr) {
        views_stale_ = true;
        break;
      }
      // Rebuild this node's views alone.
      std::vector<NodeView> fresh;
      AppendNodeViews(*node, false, fresh);
      if (fresh.size() != span->second.second - span->second.first) {
        views_stale_ = true;
        break;
      }
      for (size_t i = span->second.first; i < span->second.second; ++i) {
        pool_counts_[views_[i].gpu_type].Add(views_[i], -1);
      }
      for (const NodeView& view : fresh) pool_counts_[view.gpu_type].Add(view, +1);
      std::move(fresh.begin(), fresh.end(), views_.begin() + span->second.first);
    }
  }
  dirty_nodes_.clear();
  if (views_stale_) {
    views_ = BuildViews(false);
    view_span_.clear();
    for (size_t i = 0; i < views_.size(); ++i) {
      auto [it, inserted] = view_span_.try_emplace(views_[i].name, i, i + 1);
      if (!inserted) it->second.second = i + 1;
    }
    pool_counts_ = CountPools(views_);
    pool_gpus_.clear();
    for (const auto& [name, node] : nodes_) {
      for (const GpuRecord& gpu : node.gpus) {
        if (!pool_gpus_.contains(gpu.type))
          pool_gpus_[gpu.type] = PoolGpu(gpu.type, gpu.memory_bytes);
      }
    }
    views_stale_ = false;
  }
  return views_;
}

std::vector<NodeView> ClusterState::CapacityViews() const { return BuildViews(true); }

std::vector<PoolInfo> ClusterState::Pools() const {
  return PoolsFromCounts(pool_counts_, pool_gpus_);
}

bool ClusterState::TakeTopologyChanged() { return std::exchange(topology_changed_, false); }

std::vector<PendingJob> ClusterState::PendingJobs() const {
  std::vector<PendingJob> pending;
  for (int64_t id : live_) {
    const JobRecord& job = jobs_.at(id);
    if (job.state != JobState::kPending) continue;
    pending.push_back(PendingJob{.id = id,
                                 .priority = job.priority,
                                 .submit_time_ms = job.submit_time_ms,
                                 .gpu_type = job.gpu_type,
                                 .shape = job.shape,
                                 .max_runtime_ms = job.max_runtime_ms,
                                 .team = job.team});
  }
  return pending;
}

std::vector<RunningJob> ClusterState::RunningJobs() const {
  std::vector<RunningJob> running;
  for (int64_t id : live_) {
    const JobRecord& job = jobs_.at(id);
    if (job.state == JobState::kPending) continue;
    running.push_back(
        RunningJob{.id = id,
                   .gpu_type = job.gpu_type,
                   .gpus = static_cast<int64_t>(job.gpus.size()),
                   .end_by_ms = job.max_runtime_ms > 0 ? job.start_time_ms + job.max_runtime_ms : 0,
                   .team = job.team,
                   .start_ms = job.start_time_ms,
                   .priority = job.priority});
  }
  return running;
}

}  // namespace berth::daemon
