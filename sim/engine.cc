#include "sim/engine.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "daemon/cluster_state.h"
#include "daemon/indexed_pass.h"
#include "daemon/queue_policy.h"
#include "daemon/reclaim.h"
#include "daemon/team_indexed_pass.h"
#include "daemon/team_policy.h"
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
    capacity_ = daemon::CapacityByType(state_.CapacityViews());
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
      std::string first;
      const int64_t id = *state_.live().begin();
      auto waiting = state_.waiting().find(id);
      if (waiting != state_.waiting().end()) {
        first =
            absl::StrCat(" (job ", trace_.jobs[IndexOf(id)].id, " waits: reason ",
                         static_cast<int>(waiting->second.reason), " ", waiting->second.note, ")");
      }
      return absl::InternalError(absl::StrCat(state_.live().size(), " jobs never ended", first));
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
    const bool by_plan = options_.policy == Policy::kBerth ||
                         options_.policy == Policy::kBerthElastic ||
                         options_.policy == Policy::kBerthTeams;
    SizedJob& sized = sized_[index];
    sized = by_plan ? sizer_->ByPlan(job) : sizer_->ByRequest(job);
    JobOutcome& out = result_.jobs[index];
    out = JobOutcome{.id = job.id, .team = job.team, .requested_gpus = job.gpus, .submit_ms = now};
    JobRecord record{.id = StateId(index),
                     .team = job.team,
                     .gpu_type = sized.gpu_type,
                     .shape = sized.shape,
                     .submit_time_ms = now,
                     .max_runtime_ms = LimitMs(job, sized.runtime_ms)};
    if (!sized.refused && options_.policy == Policy::kBerthTeams) {
      if (std::optional<std::string> never = daemon::NeverFits(
              *options_.teams, job.team, sized.gpu_type, sized.shape.gpus(), capacity_)) {
        sized.refused = true;
        sized.reason = *never;
      }
    }
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
      // A preempted job's old end: it runs again (or waits) on a new one.
      if (end_at_[id] != now) continue;
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
    if (options_.policy == Policy::kBerthTeams) {
      if (state_.queue_index().pending() > 0) TeamsPass(now);
      return;
    }
    for (int round = 0; round < 64; ++round) {
      if (state_.queue_index().pending() == 0) return;
      std::vector<int64_t> heads;
      const std::vector<daemon::Decision> placed =
          options_.full_pass ? FullPass(now, heads) : IndexedPass(now);
      for (const daemon::Decision& decision : placed) {
        if (options_.policy == Policy::kFifo && decision.backfilled) continue;
        Apply(decision, now);
      }
      if (options_.policy != Policy::kBerthElastic) return;
      if (!options_.full_pass) heads = IndexHeads();
      if (!ShrinkHeads(heads)) return;
    }
  }

  // The pass as berthd runs it without teams (daemon/core_pass.cc), over
  // the indexes the state keeps.
  std::vector<daemon::Decision> IndexedPass(int64_t now) {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<daemon::NodeView>& views = state_.PlacementViews();
    std::vector<daemon::Decision> placed =
        daemon::SchedulePassIndexed(state_.queue_index(), state_.pool_counts(), views, now);
    NotePassTime(started);
    return placed;
  }

  // The full SchedulePass over every pending and running job (the same
  // decisions); `heads` gets each pool's first waiting job, unless it waits
  // behind a head.
  std::vector<daemon::Decision> FullPass(int64_t now, std::vector<int64_t>& heads) {
    const auto started = std::chrono::steady_clock::now();
    daemon::PassResult pass = daemon::SchedulePass(state_.PendingJobs(), state_.RunningJobs(),
                                                   state_.PlacementViews(), now);
    NotePassTime(started);
    std::vector<std::string> seen_pools;
    for (const daemon::Waiting& waiting : pass.waiting) {
      const std::string& pool = state_.FindJob(waiting.job_id)->gpu_type;
      if (std::find(seen_pools.begin(), seen_pools.end(), pool) != seen_pools.end()) continue;
      seen_pools.push_back(pool);
      if (waiting.reason != daemon::WaitReason::kBlockedByHead) heads.push_back(waiting.job_id);
    }
    return std::move(pass.placed);
  }

  // Each pool's first pending job in queue order (after this pass's
  // placements): the full pass's first waiting job of the pool, which no
  // head holds back (a head is a waiting job before it).
  std::vector<int64_t> IndexHeads() const {
    std::vector<int64_t> heads;
    for (const auto& [pool, queue] : state_.queue_index().queues()) {
      const daemon::QueueKey* first = nullptr;
      for (const auto& [lane, jobs] : queue.lanes) {
        if (!jobs.empty() && (first == nullptr || *jobs.begin() < *first)) first = &*jobs.begin();
      }
      if (first != nullptr) heads.push_back(first->id);
    }
    return heads;
  }

  void NotePassTime(std::chrono::steady_clock::time_point started) {
    result_.pass_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count());
  }

  // berth-teams as berthd runs it (daemon/core_pass.cc): the team pass over
  // the kept indexes, unless reclaim may preempt; then the full pass and
  // reclaim, both applied at once (with --full-pass, always the latter).
  void TeamsPass(int64_t now) {
    const auto started = std::chrono::steady_clock::now();
    usage_ = daemon::DecayUsage(usage_, state_.queue_index().HeldGpusByTeam(), now,
                                options_.teams->half_life_ms);
    const daemon::TeamPassInput teams{.config = options_.teams.get(), .usage = &usage_};
    if (!options_.full_pass) {
      const daemon::TeamIndexedResult indexed = daemon::SchedulePassTeamsIndexed(
          state_.queue_index(), state_.pool_counts(), state_.PlacementViews(), now, teams);
      if (!indexed.reclaim_may_act) {
        NotePassTime(started);
        state_.SetWaiting({});
        for (const daemon::Decision& decision : indexed.placed) Apply(decision, now);
        return;
      }
    }
    result_.full_team_passes++;
    const std::vector<daemon::PendingJob> pending = state_.PendingJobs();
    // The state's pending and running jobs carry their teams, starts and
    // priorities.
    const std::vector<daemon::RunningJob> running = state_.RunningJobs();
    std::vector<daemon::HeldJob> held;
    for (const daemon::RunningJob& job : running) {
      daemon::HeldJob& h = held.emplace_back(daemon::HeldJob{.id = job.id,
                                                             .team = job.team,
                                                             .gpu_type = job.gpu_type,
                                                             .start_ms = job.start_ms,
                                                             .priority = job.priority});
      for (const daemon::GpuHold& gpu : state_.FindJob(job.id)->gpus) {
        h.slots.push_back(daemon::SlotAssignment{.node = gpu.node, .gpu_index = gpu.index});
      }
    }
    const daemon::PassResult pass =
        daemon::SchedulePass(pending, running, state_.PlacementViews(), now, teams);
    state_.SetWaiting(pass.waiting);
    for (const daemon::Decision& decision : pass.placed) Apply(decision, now);
    const std::vector<daemon::Preemption> preemptions =
        daemon::PlanReclaim(pending, pass, held, state_.PlacementViews(), now, *options_.teams);
    NotePassTime(started);
    for (const daemon::Preemption& p : preemptions) {
      for (int64_t victim : p.victims) Preempt(victim, p.preemptor, now);
      Apply(daemon::Decision{.job_id = p.preemptor, .slots = p.slots}, now);
      result_.lost_gpu_ms += p.lost_gpu_ms;
    }
  }

  void Preempt(int64_t id, int64_t by, int64_t now) {
    JobOutcome& out = result_.jobs[IndexOf(id)];
    if (!state_.Requeue(id, absl::StrCat("preempted by job ", by), now).ok()) return;
    busy_gpus_ -= out.gpus;
    end_at_[id] = 0;
    result_.preemptions++;
  }

  void Apply(const daemon::Decision& decision, int64_t now) {
    std::vector<daemon::GpuHold> holds;
    holds.reserve(decision.slots.size());
    for (const daemon::SlotAssignment& slot : decision.slots) {
      holds.push_back(daemon::GpuHold{.node = slot.node,
                                      .index = slot.gpu_index,
                                      .tp_rank = slot.tp_rank,
                                      .pp_rank = slot.pp_rank,
                                      .dp_rank = slot.dp_rank});
    }
    if (!state_.Place(decision.job_id, std::move(holds), now).ok()) return;
    (void)state_.Start(decision.job_id, now);
    const size_t index = IndexOf(decision.job_id);
    if (options_.on_place) options_.on_place(trace_.jobs[index].id, decision.slots);
    JobOutcome& out = result_.jobs[index];
    out.start_ms = now;
    out.gpus = static_cast<int64_t>(decision.slots.size());
    out.resized = out.gpus != out.requested_gpus;
    const JobRecord& job = *state_.FindJob(decision.job_id);
    const int64_t runtime = std::min(sized_[index].runtime_ms, job.max_runtime_ms);
    ends_.emplace(now + runtime, decision.job_id);
    end_at_[decision.job_id] = now + runtime;
    busy_gpus_ += out.gpus;
  }

  // berth-elastic: each pool's first waiting job (its head, from `heads`)
  // that is a planned training job gets the most data-parallel replicas, at
  // least its plan's fewest, that can be placed now. True when any job was
  // resized.
  bool ShrinkHeads(const std::vector<int64_t>& heads) {
    bool resized = false;
    for (int64_t id : heads) {
      const JobRecord* job = state_.FindJob(id);
      if (job == nullptr || job->state != JobState::kPending) continue;
      resized |= ShrinkJob(IndexOf(id), *job);
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
  std::map<int64_t, int64_t> end_at_;        // by state id: its current end time
  daemon::DecayedUsage usage_;               // berth-teams' fair-share history
  std::map<std::string, int64_t> capacity_;  // GPUs by type
};

}  // namespace

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kFifo:
      return "fifo";
    case Policy::kEasy:
      return "easy";
    case Policy::kBerth:
      return "berth";
    case Policy::kBerthElastic:
      return "berth-elastic";
    case Policy::kBerthTeams:
      return "berth-teams";
  }
  return "unknown";
}

absl::StatusOr<Policy> ParsePolicy(absl::string_view text) {
  for (Policy policy :
       {Policy::kFifo, Policy::kEasy, Policy::kBerth, Policy::kBerthElastic, Policy::kBerthTeams}) {
    if (text == PolicyName(policy)) return policy;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown policy \"", text, "\" (fifo, easy, berth, berth-elastic, berth-teams)"));
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
  if (options.policy == Policy::kBerthTeams && options.teams == nullptr) {
    return absl::InvalidArgumentError("policy berth-teams needs a teams file (--teams)");
  }
  Simulation simulation(trace, cluster, options);
  return simulation.Run();
}

}  // namespace berth::sim
