// SchedulerCore: the scheduling pass of a writer round. The policy (who
// goes next, where it goes) is queue_policy.h's pure SchedulePass; this
// applies its decisions to the state and the round's batch. The pass is
// indexed_pass.h's without teams and team_indexed_pass.h's with them, over
// indexes the state keeps (the same decisions, without rescanning the
// queue), and why a job waits is computed only when asked
// (Verdict). With teams, when reclaim may preempt (or a preemptor
// waits for its victims), the full pass runs instead and reclaim after it.
#include <cmath>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/limits.h"
#include "daemon/indexed_pass.h"
#include "daemon/scheduler_core.h"
#include "daemon/state_convert.h"
#include "daemon/team_indexed_pass.h"

namespace berth::daemon {

using berth::v1::Job;

void SchedulerCore::ObservePlaced(const JobRecord& job, int64_t since_ms, int64_t now_ms) {
  Metrics* m = options_.metrics;
  if (m == nullptr || since_ms <= 0) return;
  m->queue_wait_seconds.Observe(static_cast<double>(now_ms - since_ms) / 1000.0);
  // Only a first placement counts as submit-to-placed.
  if (since_ms == job.submit_time_ms) {
    m->submit_to_placed_seconds.Observe(static_cast<double>(now_ms - job.submit_time_ms) / 1000.0);
  }
}

namespace {

// About the size of the StartJob that carries `job` on `slots` GPUs.
size_t StartJobBytes(const JobRecord& job, size_t slots) {
  size_t bytes = 1024 + slots * 128;
  if (job.detail != nullptr)
    bytes += job.detail->spec.ByteSizeLong() + job.detail->plan.ByteSizeLong();
  return bytes;
}

}  // namespace

void SchedulerCore::RunPass(WriteBatch& batch) {
  const absl::Time started = absl::Now();
  dirty_ = false;
  const int64_t now = options_.now_ms();
  if (options_.teams == nullptr) {
    RunIndexedPass(batch, now);
  } else {
    RunTeamPass(batch, now);
  }
  // Readers (ExplainJob's verdicts, PlanJob) see the views as placed.
  state_.PlacementViews();
  last_pass_ms_ = now;
  if (options_.metrics != nullptr) {
    options_.metrics->scheduling_pass_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - started));
  }
}

void SchedulerCore::RunIndexedPass(WriteBatch& batch, int64_t now) {
  // Verdicts on waiting jobs are computed when asked (Verdict).
  state_.SetWaiting({});
  if (state_.queue_index().pending() == 0) return;
  const std::vector<NodeView>& views = state_.PlacementViews();
  const std::vector<Decision> placed =
      SchedulePassIndexed(state_.queue_index(), state_.pool_counts(), views, now);
  PlaceJobs(batch, placed, now);
}

void SchedulerCore::VerdictInputsOf(int64_t id, std::optional<Waiting>& kept,
                                    std::optional<VerdictInputs>& inputs) const {
  if (auto it = state_.waiting().find(id); it != state_.waiting().end()) {
    kept = it->second;
    return;
  }
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr || job->state != JobState::kPending) return;
  // The full pass as of the last one's time, on the state it left.
  VerdictInputs& in = inputs.emplace();
  in.pending = options_.teams == nullptr ? state_.PendingJobs() : TeamPassJobs();
  in.running = state_.RunningJobs();
  in.views = state_.CurrentViews();
  HideReserved(in.views);
  in.at_ms = last_pass_ms_ > 0 ? last_pass_ms_ : options_.now_ms();
  in.teams = options_.teams;
  if (in.teams != nullptr) in.usage = team_usage_;
}

std::optional<Waiting> SchedulerCore::Verdict(const VerdictInputs& in, int64_t id) {
  const PassResult full = SchedulePass(in.pending, in.running, in.views, in.at_ms,
                                       {.config = in.teams.get(), .usage = &in.usage});
  for (const Waiting& w : full.waiting) {
    if (w.job_id == id) return w;
  }
  return std::nullopt;
}

namespace {

// Fair-share usage as the database keeps it: whole GPU-ms.
db::TeamUsage UsageRows(const DecayedUsage& usage) {
  db::TeamUsage out{.as_of_ms = usage.as_of_ms};
  for (const auto& [team, types] : usage.gpu_ms) {
    for (const auto& [type, gpu_ms] : types) {
      out.rows.push_back(db::TeamUsageRow{
          .team = team, .gpu_type = type, .gpu_ms = std::max<int64_t>(0, std::llround(gpu_ms))});
    }
  }
  return out;
}

}  // namespace

DecayedUsage SchedulerCore::UsageFromRows(const db::TeamUsage& rows) {
  DecayedUsage usage{.as_of_ms = rows.as_of_ms};
  for (const db::TeamUsageRow& row : rows.rows) {
    usage.gpu_ms[row.team][row.gpu_type] = static_cast<double>(row.gpu_ms);
  }
  return usage;
}

// Brings the fair-share usage forward to `now` and writes it at most once
// per kTeamUsageSaveMs, in the round's batch: a restart loses at most that
// much of it.
void SchedulerCore::UpdateTeamUsage(WriteBatch& batch, int64_t now) {
  // As team_usage.cc counts it: placed and running jobs.
  const TeamGpus held = state_.queue_index().HeldGpusByTeam();
  team_usage_ = DecayUsage(team_usage_, held, now, options_.teams->half_life_ms);
  if (team_usage_saved_ms_ != 0 && now - team_usage_saved_ms_ < kTeamUsageSaveMs &&
      now >= team_usage_saved_ms_) {
    return;
  }
  const db::TeamUsage rows = UsageRows(team_usage_);
  if (batch.Write([&](db::Store& store) { return store.SaveTeamUsage(rows); })) {
    team_usage_saved_ms_ = now;
  }
}

std::vector<PendingJob> SchedulerCore::TeamPassJobs() const {
  std::vector<PendingJob> pending = state_.PendingJobs();
  std::erase_if(pending, [this](const PendingJob& job) { return reservations_.contains(job.id); });
  return pending;
}

void SchedulerCore::RunTeamPass(WriteBatch& batch, int64_t now) {
  PlaceReserved(batch, now);
  UpdateTeamUsage(batch, now);
  if (reservations_.empty()) {
    // The indexed pass decides the placements unless reclaim may act.
    const std::vector<NodeView>& views = state_.PlacementViews();
    const TeamPassInput teams{.config = options_.teams.get(), .usage = &team_usage_};
    TeamIndexedResult indexed =
        SchedulePassTeamsIndexed(state_.queue_index(), state_.pool_counts(), views, now, teams);
    if (!indexed.reclaim_may_act) {
      if (options_.metrics != nullptr) options_.metrics->team_passes_indexed.Increment();
      state_.SetWaiting({});  // computed when asked (Verdict)
      PlaceJobs(batch, indexed.placed, now);
      return;
    }
  }
  if (options_.metrics != nullptr) options_.metrics->team_passes_full.Increment();
  std::vector<PendingJob> pending = TeamPassJobs();
  if (pending.empty()) {
    state_.SetWaiting(WithReservations({}));
    return;
  }
  std::vector<NodeView> views = state_.PlacementViews();
  HideReserved(views);
  const TeamPassInput teams{.config = options_.teams.get(), .usage = &team_usage_};
  // PlanReclaim reads the pass's input beside its result.
  PassResult result = SchedulePass(pending, state_.RunningJobs(), views, now, teams);
  PlaceJobs(batch, result.placed, now);
  Reclaim(batch, pending, result, now);
  state_.SetWaiting(WithReservations(std::move(result.waiting)));
}

void SchedulerCore::PlaceJobs(WriteBatch& batch, const std::vector<Decision>& decisions,
                              int64_t now) {
  std::vector<Job> placed;
  placed.reserve(decisions.size());
  for (const Decision& d : decisions) {
    std::vector<GpuHold> holds;
    holds.reserve(d.slots.size());
    for (const SlotAssignment& slot : d.slots) {
      holds.push_back(GpuHold{.node = slot.node,
                              .index = slot.gpu_index,
                              .tp_rank = slot.tp_rank,
                              .pp_rank = slot.pp_rank,
                              .dp_rank = slot.dp_rank});
    }
    // A job whose StartJob no agent could receive (stored before specs were
    // bounded) fails with a reason instead of being sent again and again.
    if (const size_t bytes = StartJobBytes(*state_.FindJob(d.job_id), d.slots.size());
        bytes > static_cast<size_t>(kMaxGrpcMessageBytes)) {
      EndJob(batch, d.job_id, JobState::kFailed,
             absl::StrCat("its StartJob would be ", bytes, " bytes, over the ",
                          kMaxGrpcMessageBytes >> 20,
                          " MiB an agent accepts; resubmit it with a "
                          "spec of at most ",
                          kMaxSpecBytes >> 10, " KiB"),
             0)
          .IgnoreError();
      continue;
    }
    auto since = state_.pending_since().find(d.job_id);
    const int64_t since_ms = since == state_.pending_since().end() ? 0 : since->second;
    if (absl::Status s = state_.Place(d.job_id, std::move(holds), now); !s.ok()) {
      std::cerr << "berthd: the pass chose a placement the state refuses: " << s << "\n";
      continue;
    }
    const JobRecord& job = *state_.FindJob(d.job_id);
    ObservePlaced(job, since_ms, now);
    // The event names the job's first node (the one `events --node` finds
    // it by when it has one); the message lists them all.
    const std::set<std::string> nodes = state_.NodesOf(job);
    Record(batch, job.id, nodes.empty() ? "" : *nodes.begin(), EventKind::kPlaced,
           absl::StrCat(GpuCountText(static_cast<int64_t>(job.gpus.size())), " on ",
                        absl::StrJoin(nodes, ",")));
    placed.push_back(JobToProto(job));
  }
  // Durable (with the round) before any agent hears of it: the messages
  // leave only if the batch commits.
  if (!placed.empty() &&
      batch.Write([&](db::Store& store) { return store.CommitPlacements(placed); })) {
    for (Job& job : placed) {
      std::set<std::string> nodes;
      for (const auto& gpu : job.gpus()) nodes.insert(gpu.node());
      // Each node its copy; the last takes the job itself.
      for (auto node = nodes.begin(); node != nodes.end(); ++node) {
        berth::v1::DaemonMessage message;
        if (std::next(node) == nodes.end()) {
          *message.mutable_start_job()->mutable_job() = std::move(job);
        } else {
          *message.mutable_start_job()->mutable_job() = job;
        }
        batch.Send(*node, std::move(message));
      }
    }
  }
}

}  // namespace berth::daemon
