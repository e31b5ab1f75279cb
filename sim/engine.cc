#include "sim/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <climits>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "daemon/cluster_state.h"
#include "daemon/queue_policy.h"
#include "sim/sizing.h"

namespace berth::sim {
namespace {

using daemon::ClusterState;
using daemon::JobRecord;
using daemon::JobState;

// (time, state job id), earliest first.
using EventQueue = std::priority_queue<std::pair<int64_t, int64_t>,
                                       std::vector<std::pair<int64_t, int64_t>>, std::greater<>>;

class Simulation {
 public:
  Simulation(const Trace& trace, const ClusterSpec& cluster, const EngineOptions& options)
      : trace_(trace), options_(options) {
    BuildCluster(cluster, state_);
    state_.PlacementViews();
    sizer_ = std::make_unique<Sizer>(state_.Pools(), state_.CapacityViews());
    result_.policy = options.policy;
    result_.capacity_gpus = cluster.TotalGpus();
    sized_.resize(trace.jobs.size());
    result_.jobs.resize(trace.jobs.size());
  }

  absl::StatusOr<RunResult> Run() {
    size_t next_submit = 0;
    while (next_submit < trace_.jobs.size() || !ends_.empty() || !cancels_.empty()) {
      const int64_t now = NextTime(next_submit);
      EndDue(now);
      CancelDue(now);
      while (next_submit < trace_.jobs.size() && trace_.jobs[next_submit].submit_s * 1000 == now) {
        Submit(next_submit++, now);
      }
      RunPasses(now);
      NoteUsage(now);
      if (options_.check_invariants) BERTH_RETURN_IF_ERROR(state_.CheckInvariants());
    }
    if (!state_.live().empty()) {
      return absl::InternalError(absl::StrCat(state_.live().size(), " jobs never ended"));
    }
    return std::move(result_);
  }

 private:
  int64_t NextTime(size_t next_submit) const {
    int64_t next = INT64_MAX;
    if (next_submit < trace_.jobs.size()) next = trace_.jobs[next_submit].submit_s * 1000;
    if (!ends_.empty()) next = std::min(next, ends_.top().first);
    if (!cancels_.empty()) next = std::min(next, cancels_.top().first);
    return next;
  }

  static int64_t StateId(size_t index) { return static_cast<int64_t>(index) + 1; }
  static size_t IndexOf(int64_t id) { return static_cast<size_t>(id - 1); }

  void Submit(size_t index, int64_t now) {
    const TraceJob& job = trace_.jobs[index];
    const bool by_plan =
        options_.policy == Policy::kBerth || options_.policy == Policy::kBerthElastic;
    SizedJob& sized = sized_[index];
    sized = by_plan ? sizer_->ByPlan(job) : sizer_->ByRequest(job);
    JobOutcome& out = result_.jobs[index];
    out = JobOutcome{.id = job.id, .team = job.team, .requested_gpus = job.gpus, .submit_ms = now};
    JobRecord record{.id = StateId(index), .team = job.team, .gpu_type = sized.gpu_type,
                     .shape = sized.shape, .submit_time_ms = now,
                     .max_runtime_ms = LimitMs(job, sized.runtime_ms)};
    if (sized.refused) {
      record.state = JobState::kRejected;
      record.reason = sized.reason;
      out.refused = true;
      End(out, now);
    }
    state_.AddJob(std::move(record));
    if (!sized.refused && job.cancel_after_s >= 0) {
      cancels_.emplace(now + job.cancel_after_s * 1000, StateId(index));
    }
  }

  int64_t LimitMs(const TraceJob& job, int64_t runtime_ms) const {
    double limit = static_cast<double>(runtime_ms) * options_.limit_factor;
    if (options_.trace_limits && job.limit_s > 0 && job.duration_s > 0) {
      // The trace's limit, scaled as the run time was.
      limit = static_cast<double>(job.limit_s) * static_cast<double>(runtime_ms) /
              static_cast<double>(job.duration_s);
    }
    return std::max<int64_t>(1, std::llround(limit));
  }

  void End(JobOutcome& out, int64_t now) {
    out.end_ms = now;
    out.ends++;
  }

  void EndDue(int64_t now) {
    while (!ends_.empty() && ends_.top().first == now) {
      const int64_t id = ends_.top().second;
      ends_.pop();
      const TraceJob& job = trace_.jobs[IndexOf(id)];
      const JobState end = job.state == EndState::kCompleted ? JobState::kSucceeded
                           : job.state == EndState::kFailed  ? JobState::kFailed
                                                             : JobState::kCancelled;
      if (!state_.Finish(id, end, "trace", 0, now).ok()) continue;
      busy_gpus_ -= result_.jobs[IndexOf(id)].gpus;
      End(result_.jobs[IndexOf(id)], now);
    }
  }

  void CancelDue(int64_t now) {
    while (!cancels_.empty() && cancels_.top().first == now) {
      const int64_t id = cancels_.top().second;
      cancels_.pop();
      const JobRecord* job = state_.FindJob(id);
      if (job == nullptr || job->state != JobState::kPending) continue;  // it started
      if (!state_.Cancel(id, now).ok()) continue;
      result_.jobs[IndexOf(id)].cancelled_waiting = true;
      End(result_.jobs[IndexOf(id)], now);
    }
  }

  // Passes until nothing changes (berth-elastic may resize a head and pass again).
  void RunPasses(int64_t now) {
    for (int round = 0; round < 64; ++round) {
      std::vector<daemon::PendingJob> pending = state_.PendingJobs();
      if (pending.empty()) return;
      const auto started = std::chrono::steady_clock::now();
      daemon::PassResult pass = daemon::SchedulePass(std::move(pending), state_.RunningJobs(),
                                                     state_.PlacementViews(), now);
      result_.pass_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now() - started)
                                    .count());
      for (const daemon::Decision& decision : pass.placed) {
        if (options_.policy == Policy::kFifo && decision.backfilled) continue;
        Apply(decision, now);
      }
      if (options_.policy != Policy::kBerthElastic || !ShrinkHeads(pass)) return;
    }
  }

  void Apply(const daemon::Decision& decision, int64_t now) {
    std::vector<daemon::GpuHold> holds;
    holds.reserve(decision.slots.size());
    for (const daemon::SlotAssignment& slot : decision.slots) {
      holds.push_back(daemon::GpuHold{.node = slot.node, .index = slot.gpu_index,
                                      .tp_rank = slot.tp_rank, .pp_rank = slot.pp_rank,
                                      .dp_rank = slot.dp_rank});
    }
    if (!state_.Place(decision.job_id, std::move(holds), now).ok()) return;
    (void)state_.Start(decision.job_id, now);
    const size_t index = IndexOf(decision.job_id);
    JobOutcome& out = result_.jobs[index];
    out.start_ms = now;
    out.gpus = static_cast<int64_t>(decision.slots.size());
    out.resized = out.gpus != out.requested_gpus;
    const JobRecord& job = *state_.FindJob(decision.job_id);
    const int64_t runtime = std::min(sized_[index].runtime_ms, job.max_runtime_ms);
    ends_.emplace(now + runtime, decision.job_id);
    busy_gpus_ += out.gpus;
  }

  // berth-elastic: the first waiting job of each pool (its head) that is a
  // planned training job gets the most data-parallel replicas, at least its
  // plan's fewest, that can be placed now. True when any job was resized.
  bool ShrinkHeads(const daemon::PassResult& pass) {
    std::vector<std::string> seen_pools;
    bool resized = false;
    for (const daemon::Waiting& waiting : pass.waiting) {
      const size_t index = IndexOf(waiting.job_id);
      const JobRecord* job = state_.FindJob(waiting.job_id);
      if (job == nullptr || job->state != JobState::kPending) continue;
      if (std::find(seen_pools.begin(), seen_pools.end(), job->gpu_type) != seen_pools.end()) {
        continue;
      }
      seen_pools.push_back(job->gpu_type);
      if (waiting.reason == daemon::WaitReason::kBlockedByHead) continue;
      resized |= ShrinkJob(index, *job);
    }
    return resized;
  }

  bool ShrinkJob(size_t index, const JobRecord& job) {
    const SizedJob& sized = sized_[index];
    if (!sized.planned || trace_.jobs[index].task != "train") return false;
    const std::vector<daemon::NodeView>& views = state_.PlacementViews();
    for (int64_t dp = job.shape.dp - 1; dp >= sized.min_dp; --dp) {
      daemon::GangShape shape = job.shape;
      shape.dp = dp;
      if (!daemon::PlaceGang(views, job.gpu_type, shape)) continue;
      JobRecord smaller = job;
      smaller.shape = shape;
      sized_[index].runtime_ms = sizer_->RuntimeAt(trace_.jobs[index], sized, dp);
      smaller.max_runtime_ms = LimitMs(trace_.jobs[index], sized_[index].runtime_ms);
      state_.AddJob(std::move(smaller));  // replaces the pending record
      return true;
    }
    return false;
  }

  void NoteUsage(int64_t now) {
    const int64_t busy = busy_gpus_;
    if (result_.usage.empty() || result_.usage.back().busy_gpus != busy) {
      result_.usage.push_back(UsagePoint{.time_ms = now, .busy_gpus = busy});
    }
  }

  const Trace& trace_;
  const EngineOptions options_;
  ClusterState state_;
  std::unique_ptr<Sizer> sizer_;
  std::vector<SizedJob> sized_;
  RunResult result_;
  EventQueue ends_;
  EventQueue cancels_;
  int64_t busy_gpus_ = 0;
};

}  // namespace

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kFifo: return "fifo";
    case Policy::kEasy: return "easy";
    case Policy::kBerth: return "berth";
    case Policy::kBerthElastic: return "berth-elastic";
  }
  return "unknown";
}

absl::StatusOr<Policy> ParsePolicy(absl::string_view text) {
  for (Policy policy : {Policy::kFifo, Policy::kEasy, Policy::kBerth, Policy::kBerthElastic}) {
    if (text == PolicyName(policy)) return policy;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown policy \"", text, "\" (fifo, easy, berth, berth-elastic)"));
}

absl::StatusOr<std::vector<Policy>> ParsePolicies(absl::string_view comma_list) {
  std::vector<Policy> policies;
  for (absl::string_view name : absl::StrSplit(comma_list, ',', absl::SkipEmpty())) {
    BERTH_ASSIGN_OR_RETURN(Policy policy, ParsePolicy(name));
    policies.push_back(policy);
  }
  if (policies.empty()) return absl::InvalidArgumentError("no policy given");
  return policies;
}

absl::StatusOr<RunResult> Replay(const Trace& trace, const ClusterSpec& cluster,
                                 const EngineOptions& options) {
  Simulation simulation(trace, cluster, options);
  return simulation.Run();
}

}  // namespace berth::sim
