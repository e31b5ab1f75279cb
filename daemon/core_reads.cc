// SchedulerCore: reads answered from memory under the reader lock. The
// answers themselves are built by state_queries.h's free functions.
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/limits.h"
#include "daemon/cluster_map.h"
#include "daemon/convert.h"
#include "daemon/scheduler_core.h"
#include "daemon/state_convert.h"
#include "daemon/state_queries.h"
#include "daemon/team_usage.h"

namespace berth::daemon {

absl::StatusOr<berth::v1::Job> SchedulerCore::GetJob(int64_t id, JobFields fields) const {
  absl::ReaderMutexLock lock(&mu_);
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return JobToProto(*job, fields);
}

berth::v1::ListJobsResponse SchedulerCore::ListJobs(
    const berth::v1::ListJobsRequest& request) const {
  std::set<int> states(request.states().begin(), request.states().end());
  const int limit = request.limit() > 0 ? request.limit() : 1000;
  berth::v1::ListJobsResponse response;
  size_t bytes = 0;
  absl::ReaderMutexLock lock(&mu_);
  // Newest first, from before_id; a page ends at `limit` jobs or before it
  // passes kMaxReplyBytes, and says where the next one starts.
  auto it = request.before_id() > 0
                ? std::make_reverse_iterator(state_.jobs().lower_bound(request.before_id()))
                : state_.jobs().rbegin();
  for (; it != state_.jobs().rend(); ++it) {
    const JobRecord& job = it->second;
    if (!states.empty() && !states.contains(JobStateToProto(job.state))) continue;
    if (!request.team().empty() && job.team != request.team()) continue;
    if (job.submit_time_ms < request.submitted_after_ms()) continue;
    if (request.submitted_before_ms() > 0 && job.submit_time_ms >= request.submitted_before_ms()) {
      continue;
    }
    if (response.jobs_size() >= limit) {
      response.set_next_before_id(job.id + 1);
      break;
    }
    berth::v1::Job proto = JobToProto(job);
    const size_t size = proto.ByteSizeLong();
    if (response.jobs_size() > 0 && bytes + size > kMaxReplyBytes) {
      response.set_next_before_id(job.id + 1);
      break;
    }
    bytes += size;
    *response.add_jobs() = std::move(proto);
  }
  return response;
}

berth::v1::ListNodesResponse SchedulerCore::ListNodes() const {
  std::map<std::string, int64_t> beats;
  {
    absl::MutexLock lock(&liveness_mu_);
    for (const auto& [name, entry] : liveness_) beats[name] = entry.last_heartbeat_ms;
  }
  berth::v1::ListNodesResponse response;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, node] : state_.nodes()) {
    *response.add_nodes() = NodeToProto(node, beats[name]);
  }
  return response;
}

absl::StatusOr<berth::v1::ExplainJobResponse> SchedulerCore::Explain(int64_t id) const {
  std::optional<Waiting> verdict;
  std::optional<VerdictInputs> inputs;
  {
    absl::ReaderMutexLock lock(&mu_);
    VerdictInputsOf(id, verdict, inputs);
  }
  if (inputs) verdict = Verdict(*inputs, id);  // without the lock
  // The job may have been placed meanwhile: the answer then says so.
  absl::ReaderMutexLock lock(&mu_);
  return ExplainJob(state_, id, options_.now_ms(), verdict ? &*verdict : nullptr);
}

absl::StatusOr<berth::v1::PlanJobResponse> SchedulerCore::Plan(
    const berth::v1::JobSpec& spec) const {
  std::vector<PoolInfo> pools;
  std::shared_ptr<const std::vector<NodeView>> capacity;
  {
    absl::ReaderMutexLock lock(&admission_mu_);
    pools = pools_;
    capacity = capacity_;
  }
  absl::StatusOr<AdmissionRequest> request = AdmissionRequestFromSpec(spec);
  if (!request.ok()) return request.status();
  const AdmissionResult admission = Admit(*request, pools, *capacity, &plan_cache_);
  absl::ReaderMutexLock lock(&mu_);
  // The placement views are current: the writer refreshes them before it
  // lets go of the lock (RefreshAdmissionView).
  return PlanAnswer(admission, state_.CurrentViews());
}

absl::StatusOr<berth::v1::ListTeamsResponse> SchedulerCore::ListTeams() const {
  std::vector<TeamUsage> rows;
  {
    // Under mu_: ApplyTeams replaces options_.teams holding it.
    absl::ReaderMutexLock lock(&mu_);
    if (options_.teams == nullptr) {
      return absl::FailedPreconditionError(
          "berthd runs without a teams file (--teams): every job shares one pool");
    }
    rows = TeamUsageOf(state_, *options_.teams, team_usage_);
  }
  berth::v1::ListTeamsResponse response;
  for (const TeamUsage& row : rows) {
    berth::v1::TeamUsage* t = response.add_teams();
    t->set_team(row.team);
    t->set_gpu_type(row.gpu_type);
    t->set_nominal(row.nominal);
    t->set_in_use(row.in_use);
    t->set_borrowed(row.borrowed);
    t->set_lendable(row.lendable);
    t->set_pending(row.pending);
    t->set_decayed_gpus(row.decayed_gpus);
    t->set_weighted_share(row.weighted_share);
  }
  return response;
}

ClusterSample SchedulerCore::SampleCluster() const {
  GpuReadings readings;
  {
    absl::MutexLock lock(&liveness_mu_);
    for (const auto& [name, entry] : liveness_) readings[name] = entry.samples;
  }
  absl::ReaderMutexLock lock(&mu_);
  ClusterSample sample = SampleClusterState(state_, readings, options_.now_ms());
  if (options_.teams != nullptr) sample.teams = TeamUsageOf(state_, *options_.teams, team_usage_);
  return sample;
}

std::string SchedulerCore::ClusterMapHtml() const {
  std::map<std::string, int64_t> beats;
  {
    absl::MutexLock lock(&liveness_mu_);
    for (const auto& [name, entry] : liveness_) beats[name] = entry.last_heartbeat_ms;
  }
  ClusterMapInputs in;
  {
    absl::ReaderMutexLock lock(&mu_);
    in = ClusterMapOf(state_, beats);
  }
  return RenderClusterMap(in.nodes, in.jobs, options_.now_ms());
}

absl::Status SchedulerCore::CheckInvariants() const {
  absl::ReaderMutexLock lock(&mu_);
  return state_.CheckInvariants();
}

}  // namespace berth::daemon
