// SchedulerCore: reclaim with teams (docs/TEAMS.md). After each pass,
// PlanReclaim (reclaim.h, pure) names the preemptions; this applies them
// through the round's batch like any other change:
//   - each victim keeps its GPUs, is marked preempted_by its preemptor (in
//     memory and in the file), and its nodes are sent StopJob with its
//     grace once the round commits;
//   - the preemptor's slots are reserved: hidden from every later pass and
//     from PlanReclaim, and the preemptor itself stays out of the pass;
//   - when a victim's last node confirms the stop (or is DOWN), the victim
//     goes back to PENDING with its id and submit time, its count raised;
//   - once none of its victims is stopping, the preemptor is placed on its
//     slots (if they are still free; else it goes back to the pass).
// After a restart the reservations come back from the victims'
// preempted_by, without their slots: the victims' GPUs stay held until
// they stop, and the preemptor then takes its turn first in the pass (it is
// within its nominal quota, so its team is on the first tier).
#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "daemon/scheduler_core.h"
#include "daemon/state_convert.h"

namespace berth::daemon {

namespace {

bool Holds(const JobRecord& job) {
  return job.state == JobState::kPlaced || job.state == JobState::kRunning;
}

std::string GpuHoursText(int64_t gpu_ms) {
  return absl::StrFormat("%.2f GPU-hours", static_cast<double>(gpu_ms) / 3'600'000.0);
}

// Whether a victim still holds GPUs for `preemptor`'s reservation: it is
// being preempted for it, or ended (say, cancelled) while its nodes still
// stop it.
bool Stopping(const ClusterState& state, int64_t victim, int64_t preemptor) {
  const JobRecord* v = state.FindJob(victim);
  return v != nullptr &&
         (v->preempted_by == preemptor || (!IsLive(v->state) && !v->stopping_on.empty()));
}

}  // namespace

int64_t SchedulerCore::PreemptionGraceMs(const JobRecord& job) const {
  if (job.detail != nullptr && job.detail->spec.preemption_grace_seconds() > 0) {
    return job.detail->spec.preemption_grace_seconds() * 1000;
  }
  return options_.teams != nullptr ? options_.teams->grace_ms : 30000;
}

void SchedulerCore::PlaceReserved(WriteBatch& batch, int64_t now_ms) {
  std::vector<Decision> ready;
  for (auto it = reservations_.begin(); it != reservations_.end();) {
    // Named copies, not a structured binding: clang 14 lets no lambda
    // capture one.
    const int64_t preemptor = it->first;
    const auto& reservation = it->second;
    const JobRecord* job = state_.FindJob(preemptor);
    if (job == nullptr || job->state != JobState::kPending) {
      it = reservations_.erase(it);  // cancelled, or placed some other way
      continue;
    }
    const bool stopping =
        std::any_of(reservation.victims.begin(), reservation.victims.end(),
                    [&](int64_t victim) { return Stopping(state_, victim, preemptor); });
    if (stopping) {
      ++it;
      continue;
    }
    const bool free =
        !reservation.slots.empty() &&
        std::all_of(
            reservation.slots.begin(), reservation.slots.end(), [&](const SlotAssignment& slot) {
              const NodeRecord* node = state_.FindNode(slot.node);
              if (node == nullptr || node->state != NodeState::kUp || !node->connected) {
                return false;
              }
              return std::any_of(node->gpus.begin(), node->gpus.end(), [&](const GpuRecord& gpu) {
                return gpu.index == slot.gpu_index && gpu.job_id == 0;
              });
            });
    // Slots no longer free (a node went away): the pass places it instead.
    if (free) ready.push_back(Decision{.job_id = preemptor, .slots = reservation.slots});
    it = reservations_.erase(it);
  }
  if (!ready.empty()) PlaceJobs(batch, ready, now_ms);
}

void SchedulerCore::HideReserved(std::vector<NodeView>& views) const {
  if (reservations_.empty()) return;
  std::set<std::pair<std::string, int32_t>> reserved;
  for (const auto& [id, reservation] : reservations_) {
    for (const SlotAssignment& slot : reservation.slots)
      reserved.emplace(slot.node, slot.gpu_index);
  }
  for (NodeView& view : views) {
    std::erase_if(view.free_gpus, [&](int32_t index) {
      return reserved.contains({view.name, index});
    });
  }
}

std::vector<Waiting> SchedulerCore::WithReservations(std::vector<Waiting> waiting) const {
  if (reservations_.empty()) return waiting;
  std::erase_if(waiting, [this](const Waiting& w) { return reservations_.contains(w.job_id); });
  for (const auto& [id, reservation] : reservations_) {
    std::vector<int64_t> stopping;
    for (int64_t victim : reservation.victims) {
      if (Stopping(state_, victim, id)) stopping.push_back(victim);
    }
    waiting.push_back(Waiting{
        .job_id = id,
        .position = 1,
        .reason = WaitReason::kReclaim,
        .note = stopping.empty()
                    ? std::string("its victims have stopped; it is placed next")
                    : absl::StrCat("job", stopping.size() == 1 ? " " : "s ",
                                   absl::StrJoin(stopping, ", "),
                                   stopping.size() == 1 ? " is" : " are", " stopping for it")});
  }
  return waiting;
}

void SchedulerCore::Reclaim(WriteBatch& batch, const std::vector<PendingJob>& pending,
                            const PassResult& pass, int64_t now_ms) {
  // The jobs that held GPUs before the pass (PlanReclaim counts the pass's
  // placements itself: taken here too, they were counted twice, and a team
  // that had just placed a job could look like a borrower).
  std::set<int64_t> placed_now;
  for (const Decision& d : pass.placed) placed_now.insert(d.job_id);
  std::vector<HeldJob> held;
  for (int64_t id : state_.live()) {
    const JobRecord& job = *state_.FindJob(id);
    if (!Holds(job) || job.preempted_by != 0) continue;  // a victim already
    if (placed_now.contains(id)) continue;
    HeldJob h{.id = id,
              .team = job.team,
              .gpu_type = job.gpu_type,
              .start_ms = job.start_time_ms,
              .last_checkpoint_ms = LastCheckpoint(job),
              .priority = job.priority};
    for (const GpuHold& gpu : job.gpus) {
      h.slots.push_back(SlotAssignment{.node = gpu.node, .gpu_index = gpu.index});
    }
    if (job.detail != nullptr && job.detail->spec.has_preemptible()) {
      h.preemptible = job.detail->spec.preemptible();
    }
    held.push_back(std::move(h));
  }
  // Reserved preemptors count as holding their slots, and are no victims.
  for (const auto& [id, reservation] : reservations_) {
    const JobRecord* job = state_.FindJob(id);
    if (job == nullptr || reservation.slots.empty()) continue;
    held.push_back(HeldJob{.id = id,
                           .team = job->team,
                           .gpu_type = job->gpu_type,
                           .start_ms = now_ms,
                           .slots = reservation.slots,
                           .preemptible = false});
  }
  std::vector<NodeView> views = state_.PlacementViews();
  HideReserved(views);
  for (const Preemption& p :
       PlanReclaim(pending, pass, held, std::move(views), now_ms, *options_.teams)) {
    ApplyPreemption(batch, p, now_ms);
    if (batch.failed()) return;
  }
}

void SchedulerCore::ApplyPreemption(WriteBatch& batch, const Preemption& p, int64_t now_ms) {
  const JobRecord* preemptor = state_.FindJob(p.preemptor);
  if (preemptor == nullptr || preemptor->state != JobState::kPending) return;
  const std::string preemptor_team = preemptor->team;
  Reservation reservation{.slots = p.slots};
  for (int64_t id : p.victims) {
    const JobRecord* victim = state_.FindJob(id);
    if (victim == nullptr || !Holds(*victim) || victim->preempted_by != 0) continue;
    const std::set<std::string> nodes = state_.NodesOf(*victim);
    std::set<std::string> up;  // DOWN nodes count as stopped at once
    for (const std::string& node : nodes) {
      const NodeRecord* record = state_.FindNode(node);
      if (record != nullptr && record->state != NodeState::kDown) up.insert(node);
    }
    const std::string reason = absl::StrCat("preempted by job ", p.preemptor, "; stopping");
    if (!batch.Write([&](db::Store& store) {
          return store.UpdateJobs({db::JobUpdate{.id = id,
                                                 .state = JobStateToProto(victim->state),
                                                 .reason = reason,
                                                 .exit_code = victim->exit_code,
                                                 .preempted_by = p.preemptor}});
        })) {
      return;
    }
    const int64_t grace_ms = PreemptionGraceMs(*victim);
    const int64_t checkpoint = LastCheckpoint(*victim);
    const int64_t since = std::max(victim->start_time_ms, checkpoint);
    const int64_t lost =
        static_cast<int64_t>(victim->gpus.size()) * std::max<int64_t>(0, now_ms - since);
    const std::string team = victim->team;
    const std::string why = p.reason == PreemptionReason::kPriority
                                ? absl::StrCat(", of the same team with priority ",
                                               preemptor->priority, " above its ", victim->priority)
                                : absl::StrCat(", which is within its nominal quota of ",
                                               victim->gpu_type, " while team ", team, " borrows");
    Record(batch, id, "", EventKind::kPreempted,
           absl::StrCat("by job ", p.preemptor, " of team ", preemptor_team, why, "; ",
                        GpuHoursText(lost), " of work since its ",
                        checkpoint > victim->start_time_ms ? "last checkpoint" : "start",
                        " are lost; SIGTERM now, SIGKILL after ", grace_ms / 1000, " s"));
    state_.Preempt(id, p.preemptor, nodes).IgnoreError();
    reservation.victims.insert(id);
    if (Metrics* metrics = options_.metrics; metrics != nullptr) {
      // Counted once the preemption is recorded.
      const char* reason = PreemptionReasonName(p.reason);
      batch.AddReply("preemption", [metrics, team, reason](absl::Status commit) {
        if (commit.ok()) metrics->CountPreemption(team, reason);
      });
    }
    StopOnNodes(batch, id, up, grace_ms);
    for (const std::string& node : nodes) {
      if (!up.contains(node)) ConfirmPreemptStop(batch, id, node, "the node is DOWN");
    }
  }
  if (reservation.victims.empty()) return;
  Record(batch, p.preemptor, "", EventKind::kReclaiming,
         absl::StrCat("preempting job", reservation.victims.size() == 1 ? " " : "s ",
                      absl::StrJoin(reservation.victims, ", "), " (", GpuHoursText(p.lost_gpu_ms),
                      " of work lost); their GPUs are reserved for it"));
  reservations_[p.preemptor] = std::move(reservation);
}

void SchedulerCore::ConfirmPreemptStop(WriteBatch& batch, int64_t id, const std::string& node,
                                       const char* how) {
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr || !Holds(*job) || job->preempted_by == 0 ||
      !job->stopping_on.contains(node)) {
    return;
  }
  if (job->stopping_on.size() > 1) {  // its other nodes still stop it
    state_.ConfirmStopped(id, node).IgnoreError();
    Record(batch, id, node, EventKind::kStopped,
           absl::StrCat(how, "; waiting for its other nodes"));
    return;
  }
  const int64_t preemptor = job->preempted_by;
  const int32_t count = job->preemptions + 1;
  const std::string reason = absl::StrCat("preempted by job ", preemptor, "; waiting again");
  if (!batch.Write([&](db::Store& store) {
        return store.UpdateJobs({db::JobUpdate{.id = id,
                                               .state = berth::v1::PENDING,
                                               .reason = reason,
                                               .release = true,
                                               .preemptions = count,
                                               .preempted_by = 0}});
      })) {
    return;
  }
  state_.ConfirmStopped(id, node).IgnoreError();
  state_.RequeuePreempted(id, reason, options_.now_ms()).IgnoreError();
  dirty_ = true;
  Record(batch, id, node, EventKind::kRequeued,
         absl::StrCat(how, "; preempted by job ", preemptor,
                      ", it is back in the queue with its submit time (preemption ", count, ")"));
}

void SchedulerCore::RebuildReservations() {
  reservations_.clear();
  for (int64_t id : state_.preempting()) {
    const JobRecord& victim = *state_.FindJob(id);
    const JobRecord* preemptor = state_.FindJob(victim.preempted_by);
    if (preemptor != nullptr && preemptor->state == JobState::kPending) {
      reservations_[victim.preempted_by].victims.insert(id);
    }
  }
}

}  // namespace berth::daemon
