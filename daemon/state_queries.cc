#include "daemon/state_queries.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "daemon/convert.h"
#include "daemon/state_convert.h"

namespace berth::daemon {

using berth::v1::Job;

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
  return absl::StrCat(GpuCountText(p.gpus()), " (TP ", p.tp(), " × PP ", p.pp(), " × DP ", p.dp(),
                      ")");
}

std::string WhenText(int64_t start_ms, int64_t now_ms) {
  const absl::Time when = absl::FromUnixMillis(start_ms);
  const int64_t minutes = std::max<int64_t>(0, (start_ms - now_ms) / 60000);
  return absl::StrCat(absl::FormatTime("%Y-%m-%d %H:%M UTC", when, absl::UTCTimeZone()), " (in ",
                      minutes / 60, "h ", minutes % 60, "m)");
}

std::string WhyItWaits(const Job& job, const Waiting& w) {
  switch (w.reason) {
    case WaitReason::kBlockedByHead:
      return absl::StrCat("It could start now, but that would delay job ", w.blocked_by,
                          ", which is ahead of it and waits for GPUs (EASY backfill).");
    case WaitReason::kNotEnoughFree:
      return "It waits for running jobs to free GPUs.";
    case WaitReason::kFragmented:
      return absl::StrCat(
          "Enough GPUs are free, but fragmented: no node has room for a TP group of ",
          job.plan().tp(), ".");
    case WaitReason::kNoSchedulableNode:
      return "No node of this pool is up: they are drained, down or not connected.";
    case WaitReason::kTeamQuota:
      return absl::StrCat("Its team's quota holds it: ", w.note, ".");
    case WaitReason::kReclaim:
      return absl::StrCat("GPUs are being reclaimed for it: ", w.note,
                          "; their GPUs are reserved for it alone.");
  }
  return "";
}

std::string WaitSummary(const ClusterState& state, const Job& job, const Waiting& w, int64_t now_ms,
                        std::vector<std::string>& details) {
  const std::string head =
      absl::StrCat("Job ", job.id(), " is ", Ordinal(w.position), " in the queue and needs ",
                   ShapeText(job), " of ", job.gpu_type(), "; ", w.free_gpus, " are free. ");
  std::string why = WhyItWaits(job, w);
  for (const auto& [name, node] : state.nodes()) {
    if (node.state == NodeState::kDrained) {
      details.push_back(absl::StrCat("Node ", name, " is drained."));
    } else if (!node.connected) {
      details.push_back(absl::StrCat("Node ", name, " has no agent connected."));
    }
  }
  if (w.earliest_start_ms > 0) {
    absl::StrAppend(&why, " By the running jobs' time limits it can start by ",
                    WhenText(w.earliest_start_ms, now_ms), ".");
  } else if (w.reason != WaitReason::kBlockedByHead) {
    absl::StrAppend(&why, " No start time is known: the jobs holding GPUs have no time limit.");
  }
  return head + why;
}

}  // namespace

absl::StatusOr<berth::v1::ExplainJobResponse> ExplainJob(const ClusterState& state, int64_t id,
                                                         int64_t now_ms) {
  auto w = state.waiting().find(id);
  return ExplainJob(state, id, now_ms, w == state.waiting().end() ? nullptr : &w->second);
}

absl::StatusOr<berth::v1::ExplainJobResponse> ExplainJob(const ClusterState& state, int64_t id,
                                                         int64_t now_ms, const Waiting* verdict) {
  const JobRecord* record = state.FindJob(id);
  if (record == nullptr) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  berth::v1::ExplainJobResponse response;
  *response.mutable_job() = JobToProto(*record);
  const Job& job = response.job();
  if (record->state != JobState::kPending) {
    response.set_summary(
        absl::StrCat("Job ", id, " is ", JobStateName(record->state),
                     job.reason().empty() ? "." : absl::StrCat(": ", job.reason())));
    return response;
  }
  if (verdict == nullptr) {
    response.set_summary(absl::StrCat("Job ", id, " is queued; the next scheduling pass decides."));
    return response;
  }
  std::vector<std::string> details;
  response.set_summary(WaitSummary(state, job, *verdict, now_ms, details));
  response.set_queue_position(verdict->position);
  response.set_earliest_start_ms(verdict->earliest_start_ms);
  for (std::string& d : details) response.add_details(std::move(d));
  for (const std::string& line : job.plan().explanation()) response.add_details(line);
  return response;
}

berth::v1::PlanJobResponse PlanAnswer(const AdmissionResult& admission,
                                      const std::vector<NodeView>& now_views) {
  berth::v1::PlanJobResponse response;
  for (const PoolVerdict& v : admission.pools) {
    berth::v1::PoolPlan* pool = response.add_pools();
    pool->set_gpu_type(v.pool.gpu_type);
    pool->set_total_gpus(static_cast<int32_t>(v.pool.total_gpus));
    pool->set_free_gpus(static_cast<int32_t>(v.pool.free_gpus));
    *pool->mutable_plan() = PlanReportOf(v);
    pool->set_fits_ever(v.fits_ever);
    if (!v.fits_ever) continue;
    auto slots = PlaceGang(now_views, v.pool.gpu_type, v.shape);
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
  if (admission.admitted) {
    response.set_chosen_gpu_type(admission.pools[admission.chosen].pool.gpu_type);
  }
  return response;
}

ClusterSample SampleClusterState(const ClusterState& state, const GpuReadings& readings,
                                 int64_t now_ms) {
  ClusterSample sample;
  std::map<std::string, std::pair<int64_t, int64_t>> pools;  // type → (allocated, total)
  for (const auto& [name, node] : state.nodes()) {
    sample.nodes[node.state == NodeState::kDown      ? "down"
                 : node.state == NodeState::kDrained ? "drained"
                                                     : "up"]++;
    sample.agents_connected += node.connected ? 1 : 0;
    std::map<std::pair<std::string, std::string>, int64_t> counts;  // (type, state)
    for (const GpuRecord& gpu : node.gpus) {
      const char* gpu_state = gpu.job_id != 0                  ? "allocated"
                              : node.state == NodeState::kDown ? "down"
                                                               : "free";
      counts[{gpu.type, gpu_state}]++;
      auto& pool = pools[gpu.type];
      pool.first += gpu.job_id != 0 ? 1 : 0;
      pool.second++;
    }
    for (const auto& [key, count] : counts) {
      sample.gpus.push_back({name, key.first, key.second, count});
    }
    auto samples = readings.find(name);
    if (samples == readings.end()) continue;
    for (const auto& reading : samples->second) {
      std::string uuid;
      for (const GpuRecord& gpu : node.gpus) {
        if (gpu.index == reading.index()) uuid = gpu.uuid;
      }
      sample.readings.push_back({name, absl::StrCat(reading.index()), uuid, reading.utilization(),
                                 reading.memory_used_bytes()});
    }
  }
  for (const auto& [type, pool] : pools) {
    sample.pool_allocation[type] =
        pool.second > 0 ? static_cast<double>(pool.first) / static_cast<double>(pool.second) : 0;
  }
  for (const auto& [id, job] : state.jobs()) {
    sample.jobs[{absl::AsciiStrToLower(JobStateName(job.state)), job.team}]++;
  }
  for (const auto& [id, since] : state.pending_since()) {
    sample.oldest_pending_seconds =
        std::max(sample.oldest_pending_seconds, static_cast<double>(now_ms - since) / 1000.0);
  }
  return sample;
}

ClusterMapInputs ClusterMapOf(const ClusterState& state,
                              const std::map<std::string, int64_t>& last_heartbeats) {
  ClusterMapInputs in;
  for (const auto& [name, node] : state.nodes()) {
    auto beat = last_heartbeats.find(name);
    in.nodes.push_back(NodeToProto(node, beat == last_heartbeats.end() ? 0 : beat->second));
  }
  // Placed and running jobs, then the queue in its order.
  for (int64_t id : state.live()) {
    const JobRecord& job = *state.FindJob(id);
    if (job.state != JobState::kPending) in.jobs.push_back(JobToProto(job));
  }
  std::vector<std::pair<int32_t, int64_t>> queue;
  for (const auto& [id, w] : state.waiting()) queue.emplace_back(w.position, id);
  std::sort(queue.begin(), queue.end());
  for (const auto& [position, id] : queue) {
    if (const JobRecord* job = state.FindJob(id)) in.jobs.push_back(JobToProto(*job));
  }
  // Pending jobs the pass kept no verdict on (after an indexed pass, with
  // teams or without, all of them): in queue order.
  for (int64_t id : state.queue_index().PendingInOrder()) {
    if (!state.waiting().contains(id)) in.jobs.push_back(JobToProto(*state.FindJob(id)));
  }
  return in;
}

}  // namespace berth::daemon
