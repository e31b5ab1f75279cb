// SchedulerCore: reads answered from memory, and the invariant check.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/strings/ascii.h"
#include "daemon/cluster_map.h"
#include "daemon/scheduler_core.h"

namespace berth::daemon {

using berth::v1::Job;

absl::StatusOr<Job> SchedulerCore::GetJob(int64_t id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return it->second;
}

berth::v1::ListJobsResponse SchedulerCore::ListJobs(
    const berth::v1::ListJobsRequest& request) const {
  std::set<int> states(request.states().begin(), request.states().end());
  const int limit = request.limit() > 0 ? request.limit() : 1000;
  berth::v1::ListJobsResponse response;
  absl::ReaderMutexLock lock(&mu_);
  // Newest first.
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    const Job& job = it->second;
    if (!states.empty() && !states.contains(job.state())) continue;
    if (!request.team().empty() && job.spec().team() != request.team()) continue;
    *response.add_jobs() = job;
    if (response.jobs_size() >= limit) break;
  }
  return response;
}

berth::v1::ListNodesResponse SchedulerCore::ListNodes() const {
  berth::v1::ListNodesResponse response;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, entry] : nodes_) {
    berth::v1::Node* node = response.add_nodes();
    *node = entry.node;
    node->set_connected(entry.connected);
  }
  return response;
}

namespace {

std::string Ordinal(int n) {
  const int mod100 = n % 100;
  const char* suffix = "th";
  if (mod100 < 11 || mod100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return absl::StrCat(n, suffix);
}

std::string ShapeText(const Job& job) {
  const auto& p = job.plan();
  return absl::StrCat(p.gpus(), " GPUs (TP ", p.tp(), " × PP ", p.pp(), " × DP ", p.dp(), ")");
}

std::string WhenText(int64_t start_ms, int64_t now_ms) {
  const absl::Time when = absl::FromUnixMillis(start_ms);
  const int64_t minutes = std::max<int64_t>(0, (start_ms - now_ms) / 60000);
  return absl::StrCat(absl::FormatTime("%Y-%m-%d %H:%M UTC", when, absl::UTCTimeZone()),
                      " (in ", minutes / 60, "h ", minutes % 60, "m)");
}

}  // namespace

std::string SchedulerCore::ExplainSummary(const Job& job, const Waiting& w,
                                          std::vector<std::string>& details) const {
  const std::string head =
      absl::StrCat("Job ", job.id(), " is ", Ordinal(w.position), " in the queue and needs ",
                   ShapeText(job), " of ", job.gpu_type(), "; ", w.free_gpus, " are free. ");
  std::string why;
  switch (w.reason) {
    case WaitReason::kBlockedByHead:
      why = absl::StrCat("It could start now, but that would delay job ", w.blocked_by,
                         ", which is ahead of it and waits for GPUs (EASY backfill).");
      break;
    case WaitReason::kNotEnoughFree:
      why = "It waits for running jobs to free GPUs.";
      break;
    case WaitReason::kFragmented:
      why = absl::StrCat("Enough GPUs are free, but fragmented: no node has room for a TP group of ",
                         job.plan().tp(), ".");
      break;
    case WaitReason::kNoSchedulableNode:
      why = "No node of this pool is up: they are drained, down or not connected.";
      break;
  }
  for (const auto& [name, entry] : nodes_) {
    if (entry.node.state() == berth::v1::DRAINED) {
      details.push_back(absl::StrCat("Node ", name, " is drained."));
    } else if (!entry.connected) {
      details.push_back(absl::StrCat("Node ", name, " has no agent connected."));
    }
  }
  if (w.earliest_start_ms > 0) {
    absl::StrAppend(&why, " By the running jobs' time limits it can start by ",
                    WhenText(w.earliest_start_ms, options_.now_ms()), ".");
  } else if (w.reason != WaitReason::kBlockedByHead) {
    absl::StrAppend(&why, " No start time is known: the jobs holding GPUs have no time limit.");
  }
  return head + why;
}

absl::StatusOr<berth::v1::ExplainJobResponse> SchedulerCore::Explain(int64_t id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  const Job& job = it->second;
  berth::v1::ExplainJobResponse response;
  *response.mutable_job() = job;
  if (job.state() != berth::v1::PENDING) {
    response.set_summary(absl::StrCat(
        "Job ", id, " is ", berth::v1::JobState_Name(job.state()),
        job.reason().empty() ? "." : absl::StrCat(": ", job.reason())));
    return response;
  }
  auto w = waiting_.find(id);
  if (w == waiting_.end()) {
    response.set_summary(absl::StrCat("Job ", id, " is queued; the next scheduling pass decides."));
    return response;
  }
  std::vector<std::string> details;
  response.set_summary(ExplainSummary(job, w->second, details));
  response.set_queue_position(w->second.position);
  response.set_earliest_start_ms(w->second.earliest_start_ms);
  for (std::string& d : details) response.add_details(std::move(d));
  for (const std::string& line : job.plan().explanation()) response.add_details(line);
  return response;
}

absl::StatusOr<berth::v1::PlanJobResponse> SchedulerCore::Plan(
    const berth::v1::JobSpec& spec) const {
  std::vector<PoolInfo> pools;
  std::shared_ptr<const std::vector<NodeView>> capacity;
  std::vector<NodeView> now;
  {
    absl::ReaderMutexLock lock(&mu_);
    pools = pools_cache_;
    capacity = capacity_cache_;
    now = ViewsLocked(false);
  }
  absl::StatusOr<AdmissionResult> admission = Admit(spec, pools, *capacity, &plan_cache_);
  if (!admission.ok()) return admission.status();
  berth::v1::PlanJobResponse response;
  for (int i = 0; i < static_cast<int>(admission->pools.size()); ++i) {
    const PoolVerdict& v = admission->pools[i];
    berth::v1::PoolPlan* pool = response.add_pools();
    pool->set_gpu_type(v.pool.gpu_type);
    pool->set_total_gpus(static_cast<int32_t>(v.pool.total_gpus));
    pool->set_free_gpus(static_cast<int32_t>(v.pool.free_gpus));
    *pool->mutable_plan() = v.plan;
    pool->set_fits_ever(v.fits_ever);
    if (!v.fits_ever) continue;
    auto slots = PlaceGang(now, v.pool.gpu_type, v.shape);
    pool->set_fits_now(slots.has_value());
    if (!slots) continue;
    for (const SlotAssignment& s : *slots) {
      berth::v1::GpuAssignment* gpu = pool->add_gpus();
      gpu->set_node(s.node);
      gpu->set_index(s.gpu_index);
      gpu->set_tp_rank(s.tp_rank);
      gpu->set_pp_rank(s.pp_rank);
      gpu->set_dp_rank(s.dp_rank);
    }
  }
  if (admission->admitted) response.set_chosen_gpu_type(admission->pools[admission->chosen].pool.gpu_type);
  return response;
}

ClusterSample SchedulerCore::SampleCluster() const {
  ClusterSample sample;
  const int64_t now = options_.now_ms();
  absl::ReaderMutexLock lock(&mu_);
  std::map<std::string, std::pair<int64_t, int64_t>> pools;  // type → (allocated, total)
  for (const auto& [name, entry] : nodes_) {
    const berth::v1::NodeState state = entry.node.state();
    sample.nodes[state == berth::v1::DOWN ? "down" : state == berth::v1::DRAINED ? "drained" : "up"]++;
    sample.agents_connected += entry.connected ? 1 : 0;
    std::map<std::pair<std::string, std::string>, int64_t> counts;  // (type, state)
    for (const auto& gpu : entry.node.gpus()) {
      const char* gpu_state = gpu.job_id() != 0 ? "allocated"
                              : state == berth::v1::DOWN ? "down" : "free";
      counts[{gpu.type(), gpu_state}]++;
      auto& pool = pools[gpu.type()];
      pool.first += gpu.job_id() != 0 ? 1 : 0;
      pool.second++;
    }
    for (const auto& [key, count] : counts) {
      sample.gpus.push_back({name, key.first, key.second, count});
    }
    for (const auto& reading : entry.samples) {
      std::string uuid;
      for (const auto& gpu : entry.node.gpus()) {
        if (gpu.index() == reading.index()) uuid = gpu.uuid();
      }
      sample.readings.push_back({name, absl::StrCat(reading.index()), uuid,
                                 reading.utilization(), reading.memory_used_bytes()});
    }
  }
  for (const auto& [type, pool] : pools) {
    sample.pool_allocation[type] =
        pool.second > 0 ? static_cast<double>(pool.first) / static_cast<double>(pool.second) : 0;
  }
  for (const auto& [id, job] : jobs_) {
    sample.jobs[{absl::AsciiStrToLower(berth::v1::JobState_Name(job.state())), job.spec().team()}]++;
  }
  for (const auto& [id, since] : pending_since_) {
    sample.oldest_pending_seconds =
        std::max(sample.oldest_pending_seconds, static_cast<double>(now - since) / 1000.0);
  }
  return sample;
}

std::string SchedulerCore::ClusterMapHtml() const {
  std::vector<berth::v1::Node> nodes;
  std::vector<Job> jobs;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, entry] : nodes_) {
      nodes.push_back(entry.node);
      nodes.back().set_connected(entry.connected);
    }
    // Placed and running jobs, then the queue in its order.
    for (int64_t id : live_) {
      if (jobs_.at(id).state() != berth::v1::PENDING) jobs.push_back(jobs_.at(id));
    }
    std::vector<std::pair<int32_t, int64_t>> queue;
    for (const auto& [id, w] : waiting_) queue.emplace_back(w.position, id);
    std::sort(queue.begin(), queue.end());
    for (const auto& [position, id] : queue) jobs.push_back(jobs_.at(id));
  }
  return RenderClusterMap(nodes, jobs, options_.now_ms());
}

absl::Status SchedulerCore::CheckInvariants() const {
  absl::ReaderMutexLock lock(&mu_);
  return CheckInvariantsLocked();
}

absl::Status SchedulerCore::CheckInvariantsLocked() const {
  // The incrementally kept placement views match a rebuild from scratch.
  if (!views_stale_ && dirty_nodes_.empty()) {
    const std::vector<NodeView> fresh = ViewsLocked(false);
    bool same = fresh.size() == views_.size();
    for (size_t i = 0; same && i < fresh.size(); ++i) {
      same = fresh[i].name == views_[i].name && fresh[i].gpu_type == views_[i].gpu_type &&
             fresh[i].free_gpus == views_[i].free_gpus &&
             fresh[i].schedulable == views_[i].schedulable;
    }
    if (!same) return absl::InternalError("placement views differ from the node state");
  }
  // Every held GPU belongs to a placed or running job that lists it.
  std::map<std::pair<std::string, int>, int64_t> holder;
  for (const auto& [name, entry] : nodes_) {
    int64_t allocated = 0, free = 0;
    for (const auto& gpu : entry.node.gpus()) {
      (gpu.job_id() == 0 ? free : allocated)++;
      if (gpu.job_id() == 0) continue;
      holder[{name, gpu.index()}] = gpu.job_id();
      auto job = jobs_.find(gpu.job_id());
      if (job == jobs_.end() || (job->second.state() != berth::v1::PLACED &&
                                 job->second.state() != berth::v1::RUNNING)) {
        return absl::InternalError(absl::StrCat("GPU ", name, ":", gpu.index(),
                                                " is held by job ", gpu.job_id(),
                                                ", which is not placed or running"));
      }
    }
    if (allocated + free != entry.node.gpus_size()) {
      return absl::InternalError(absl::StrCat("node ", name, ": allocated + free != capacity"));
    }
  }
  // Every placed job's GPUs name it, and no GPU is in two jobs.
  for (int64_t id : live_) {
    const Job& job = jobs_.at(id);
    for (const auto& gpu : job.gpus()) {
      auto it = holder.find({gpu.node(), gpu.index()});
      if (it == holder.end() || it->second != id) {
        return absl::InternalError(absl::StrCat("job ", id, " lists GPU ", gpu.node(), ":",
                                                gpu.index(), " that it does not hold"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::daemon
