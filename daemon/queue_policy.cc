#include "daemon/queue_policy.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/placement.h"
#include "daemon/queue_index.h"

// Accounting for the shadow time is by GPU counts within a pool (one pool per
// GPU type), not by topology:
//   - A pool's free GPUs are the free GPUs of its schedulable nodes.
//   - Each running job gives its GPUs back at end_by_ms. A job placed in this
//     pass counts as running with end = now + max_runtime_ms. An end that is
//     unknown (max_runtime_ms <= 0 for a job placed now, end_by_ms <= 0 for a
//     running job) never comes: those GPUs are "unbounded".
//   - A waiting job's earliest start is the first release time T (in end
//     order, never before now) at which free now + GPUs released by T reach
//     what it needs. At least one release is always required: the job cannot
//     be placed now, so counts that already suffice (fragmentation) mean it
//     waits for the next change. No such T: unknown (0).
//   - The blocked head's shadow time is its earliest start; the extra GPUs
//     are free now + released by the shadow time - the head's GPUs. When the
//     shadow time is unknown no backfill job can "end by" it, and the extra
//     GPUs are those left over once *every* running job has ended, unbounded
//     ones included: free now + all running GPUs - the head's GPUs (at least
//     0). A backfill job within that never takes GPUs the head will need,
//     whenever the running jobs end.
//   - A job that could not be placed on the pool's schedulable nodes even if
//     they were all free never becomes the head: waiting for running jobs
//     cannot help it, and as head it would hold back the whole pool.
//   - Jobs waiting behind a head report their earliest start with the
//     head's GPUs reserved (the head goes first).

namespace berth::daemon {
namespace {

// GPUs that a running job (or one placed in this pass) gives back. The
// arithmetic below (EarliestTime, MakeHead, BackfillBlocker, ReserveAged)
// is also work_pool.h's, there over the queue index's map of releases.
// It is kept apart on purpose: this pass is the reference that the indexed
// passes' property tests check theirs against, and on work_pool.h it was
// no faster (BM_TeamPass at 10,000 pending, four alternating runs,
// 2026-12-04: mean 56.5 ms CPU per iteration against 50.9 ms here).
struct Release {
  int64_t end_ms = 0;
  int64_t gpus = 0;
};

struct Head {
  int64_t job_id = 0;
  int64_t gpus = 0;
  std::optional<int64_t> shadow_ms;  // nullopt: unknown
  int64_t extra_gpus = 0;
};

struct Pool {
  bool has_schedulable = false;
  int64_t free_gpus = 0;  // on schedulable nodes, now
  // Schedulable nodes by free GPUs and by GPUs in all ([k]: nodes with k),
  // so that FitsByCount answers "can it be placed" without PlaceGang.
  std::vector<int64_t> by_free;
  std::vector<int64_t> by_total;
  std::vector<Release> releases;  // known ends, ascending by end_ms
  int64_t unbounded_gpus = 0;     // running with no known end
  std::optional<Head> head;
  std::vector<Head> aged;  // reservations of aged jobs, after the head's
  // The pool's schedulable nodes, and the placer over them that the pass's
  // placements share (built at the first; it keeps by_free in step).
  std::vector<const NodeView*> members;
  std::optional<PoolPlacer> placer;
};

using Pools = std::map<std::string, Pool>;

// Who goes first: priority (higher first), then submit time, then id.
void OrderQueue(std::vector<PendingJob>& pending) {
  std::sort(pending.begin(), pending.end(), [](const PendingJob& a, const PendingJob& b) {
    return std::tie(b.priority, a.submit_time_ms, a.id) <
           std::tie(a.priority, b.submit_time_ms, b.id);
  });
}

void AddRelease(Pool& pool, int64_t end_ms, int64_t gpus) {
  if (end_ms <= 0) {
    pool.unbounded_gpus += gpus;
    return;
  }
  auto at = std::upper_bound(pool.releases.begin(), pool.releases.end(), end_ms,
                             [](int64_t end, const Release& r) { return end < r.end_ms; });
  pool.releases.insert(at, Release{.end_ms = end_ms, .gpus = gpus});
}

void Count(std::vector<int64_t>& counts, size_t k, int64_t by) {
  if (counts.size() <= k) counts.resize(k + 1, 0);
  counts[k] += by;
}

Pools BuildPools(const std::vector<NodeView>& nodes, const std::vector<RunningJob>& running) {
  Pools pools;
  for (const NodeView& node : nodes) {
    Pool& pool = pools[node.gpu_type];
    if (!node.schedulable) continue;
    pool.has_schedulable = true;
    pool.members.push_back(&node);
    pool.free_gpus += static_cast<int64_t>(node.free_gpus.size());
    Count(pool.by_free, node.free_gpus.size(), +1);
    Count(pool.by_total, static_cast<size_t>(std::max(0, node.total_gpus)), +1);
  }
  for (const RunningJob& job : running) AddRelease(pools[job.gpu_type], job.end_by_ms, job.gpus);
  return pools;
}

// The first release time at which the pool has `needed` GPUs by count.
std::optional<int64_t> EarliestTime(const Pool& pool, int64_t needed, int64_t now_ms) {
  int64_t available = pool.free_gpus;
  for (const Release& release : pool.releases) {
    available += release.gpus;
    if (available >= needed) return std::max(release.end_ms, now_ms);
  }
  return std::nullopt;
}

// A reservation for `job` behind `ahead` GPUs already reserved (0 for the
// blocked head; the head's and earlier aged jobs' for an aged job): its
// shadow time is when the pool has room for both, its extra GPUs what is
// left over then.
Head MakeHead(const Pool& pool, const PendingJob& job, int64_t now_ms, int64_t ahead = 0) {
  Head head{.job_id = job.id, .gpus = job.shape.gpus(), .shadow_ms = std::nullopt};
  head.shadow_ms = EarliestTime(pool, head.gpus + ahead, now_ms);
  int64_t available = pool.free_gpus;
  for (const Release& release : pool.releases) {
    if (head.shadow_ms && std::max(release.end_ms, now_ms) > *head.shadow_ms) break;
    available += release.gpus;
  }
  if (!head.shadow_ms) available += pool.unbounded_gpus;
  head.extra_gpus = std::max<int64_t>(0, available - head.gpus - ahead);
  return head;
}

int64_t ReservedGpus(const Pool& pool) {
  int64_t gpus = pool.head ? pool.head->gpus : 0;
  for (const Head& aged : pool.aged) gpus += aged.gpus;
  return gpus;
}

// EASY rule, for each reservation of the pool: the job ends by its shadow
// time, or fits in its extra GPUs (which then shrink). Runtime 0 (unknown)
// never "ends by" anything. 0 when allowed, else the job whose
// reservation it would delay.
int64_t BackfillBlocker(Pool& pool, const PendingJob& job, int64_t now_ms) {
  std::vector<Head*> reservations = {&*pool.head};
  for (Head& aged : pool.aged) reservations.push_back(&aged);
  auto ends_by = [&](const Head& head) {
    return head.shadow_ms && job.max_runtime_ms > 0 &&
           job.max_runtime_ms <= *head.shadow_ms - now_ms;
  };
  for (const Head* head : reservations) {
    if (!ends_by(*head) && job.shape.gpus() > head->extra_gpus) return head->job_id;
  }
  for (Head* head : reservations) {
    if (!ends_by(*head)) head->extra_gpus -= job.shape.gpus();
  }
  return 0;
}

// Aging: a job that has waited long enough, behind the head, gets a
// reservation of its own (while the pool has fewer than the most).
std::optional<int64_t> ReserveAged(Pool& pool, const PendingJob& job, int64_t now_ms) {
  if (!pool.head || pool.aged.size() >= kMaxAgedReservations) return std::nullopt;
  pool.aged.push_back(MakeHead(pool, job, now_ms, ReservedGpus(pool)));
  return pool.aged.back().shadow_ms.value_or(0);
}

// Whether the job could run on the pool's schedulable nodes once all their
// GPUs are free, i.e. whether waiting for running jobs can ever help
// (FitsCapacity on those nodes, by count).
bool FitsSchedulableCapacity(const Pool& pool, const PendingJob& job) {
  return FitsByCount(pool.by_total, job.shape);
}

// Places the job on the pool's nodes and counts its GPUs as busy until its
// end; nullopt when it does not fit (never after FitsByCount said it does).
// The placer takes the GPUs from its own copies: `nodes` stay as they were.
std::optional<std::vector<SlotAssignment>> PlaceInPool(const PendingJob& job, int64_t now_ms,
                                                       Pool& pool) {
  if (!pool.placer) pool.placer.emplace(pool.members, &pool.by_free);
  std::optional<std::vector<SlotAssignment>> slots = pool.placer->Place(job.shape);
  if (!slots) return std::nullopt;
  pool.free_gpus -= static_cast<int64_t>(slots->size());
  const int64_t end_ms = job.max_runtime_ms > 0 ? now_ms + job.max_runtime_ms : 0;
  AddRelease(pool, end_ms, static_cast<int64_t>(slots->size()));
  return slots;
}

// A job that cannot be placed now: why, and (maybe) it becomes the head,
// or, `aged`, gets a reservation behind it.
void WaitUnplaceable(const PendingJob& job, int64_t now_ms, bool aged, Pool& pool,
                     Waiting& waiting) {
  const int64_t gpus = job.shape.gpus();
  waiting.reason = pool.free_gpus >= gpus ? WaitReason::kFragmented : WaitReason::kNotEnoughFree;
  const bool fits = FitsSchedulableCapacity(pool, job);
  if (pool.head && aged && fits) {
    if (std::optional<int64_t> start = ReserveAged(pool, job, now_ms)) {
      waiting.earliest_start_ms = *start;
      return;
    }
  }
  if (pool.head) {
    waiting.earliest_start_ms = EarliestTime(pool, gpus + pool.head->gpus, now_ms).value_or(0);
  } else if (fits) {
    pool.head = MakeHead(pool, job, now_ms);
    waiting.earliest_start_ms = pool.head->shadow_ms.value_or(0);
  }
}

// Decides one job in queue order: place it, or say why it waits. An
// `aged` job left waiting behind the head gets a reservation. Counts decide
// whether it fits (FitsByCount), so a job the head blocks is never placed
// and taken back.
void ConsiderJob(const PendingJob& job, int32_t position, int64_t now_ms, bool aged, Pool& pool,
                 PassResult& result) {
  Waiting waiting{.job_id = job.id, .position = position, .free_gpus = pool.free_gpus};
  if (!pool.has_schedulable) {
    waiting.reason = WaitReason::kNoSchedulableNode;
    result.waiting.push_back(waiting);
    return;
  }
  const bool fits = FitsByCount(pool.by_free, job.shape);
  const int64_t blocker = fits && pool.head ? BackfillBlocker(pool, job, now_ms) : 0;
  std::optional<std::vector<SlotAssignment>> slots;
  if (fits && blocker == 0) slots = PlaceInPool(job, now_ms, pool);
  if (slots) {
    result.placed.push_back(Decision{
        .job_id = job.id, .slots = std::move(*slots), .backfilled = pool.head.has_value()});
    return;
  }
  if (blocker == 0) {
    WaitUnplaceable(job, now_ms, aged, pool, waiting);
  } else {
    waiting.reason = WaitReason::kBlockedByHead;
    waiting.blocked_by = blocker;
    const std::optional<int64_t> reserved = aged ? ReserveAged(pool, job, now_ms) : std::nullopt;
    waiting.earliest_start_ms =
        reserved ? *reserved
                 : EarliestTime(pool, job.shape.gpus() + pool.head->gpus, now_ms).value_or(0);
  }
  result.waiting.push_back(waiting);
}

// A job's lane (queue_index.h): its pool and the LaneKey.
using LaneId = std::pair<std::string, LaneKey>;

LaneId LaneOf(const PendingJob& job) { return {job.gpu_type, LaneKeyOf(job)}; }

// The quota check before placement: true, with the job listed as waiting
// (kTeamQuota, the numbers in words), when its team's quota does not allow
// it now. `within`: the job fits its team's own nominal.
bool WaitsForQuota(const TeamLedger& ledger, const PendingJob& job, bool within,
                   const std::set<std::string>& guaranteed_waiting, int32_t position,
                   const Pool& pool, PassResult& result) {
  std::optional<std::string> why = ledger.Refusal(job.team, job.gpu_type, job.shape.gpus());
  if (!why && !within && guaranteed_waiting.contains(job.gpu_type)) {
    why = absl::StrCat("a job of a team under its nominal quota waits for ", job.gpu_type,
                       " GPUs, and borrowing waits until it is placed");
  }
  if (!why) return false;
  result.waiting.push_back(Waiting{.job_id = job.id,
                                   .position = position,
                                   .reason = WaitReason::kTeamQuota,
                                   .free_gpus = pool.free_gpus,
                                   .note = std::move(*why)});
  return true;
}

// The pass with teams: team order, and the quota check before placement.
PassResult TeamPass(const std::vector<PendingJob>& pending, const std::vector<RunningJob>& running,
                    const std::vector<NodeView>& nodes, int64_t now_ms,
                    const TeamPassInput& teams) {
  const DecayedUsage no_history;
  TeamLedger ledger(*teams.config, HeldByTeam(running), CapacityByType(nodes),
                    teams.usage != nullptr ? *teams.usage : no_history);
  std::vector<TeamJobRef> refs;
  refs.reserve(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) {
    const PendingJob& job = pending[i];
    refs.push_back(TeamJobRef{.index = i,
                              .team = job.team,
                              .gpu_type = job.gpu_type,
                              .gpus = job.shape.gpus(),
                              .priority = job.priority,
                              .submit_time_ms = job.submit_time_ms,
                              .id = job.id});
  }
  TeamQueue queue(std::move(refs));
  Pools pools = BuildPools(nodes, running);
  std::set<std::string> guaranteed_waiting;  // pools where a job within nominal waits
  std::set<LaneId> ended;                    // lanes whose other jobs wait (header)
  auto lane_ended = [&](const TeamJobRef& ref) {
    return ended.contains(LaneOf(pending[ref.index]));
  };
  PassResult result;
  int32_t position = 0;
  while (std::optional<TeamJobRef> ref = queue.Next(ledger, lane_ended)) {
    const PendingJob& job = pending[ref->index];
    Pool& pool = pools[job.gpu_type];
    ++position;
    const bool within = ledger.WithinNominal(job.team, job.gpu_type, ref->gpus);
    if (WaitsForQuota(ledger, job, within, guaranteed_waiting, position, pool, result)) {
      ended.insert(LaneOf(job));
      continue;
    }
    const size_t placed_before = result.placed.size();
    const bool had_head = pool.head.has_value();
    const size_t aged_before = pool.aged.size();
    const int64_t reserve_after = teams.config->reserve_after_ms;
    const bool aged = reserve_after > 0 && now_ms - job.submit_time_ms >= reserve_after;
    ConsiderJob(job, position, now_ms, aged, pool, result);
    if (result.placed.size() > placed_before) {
      ledger.Take(job.team, job.gpu_type, ref->gpus);
      continue;
    }
    if (within) guaranteed_waiting.insert(job.gpu_type);
    if (pool.head.has_value() == had_head && pool.aged.size() == aged_before) {
      ended.insert(LaneOf(job));
    }
  }
  // The jobs of ended lanes wait as the job that ended their lane did; they
  // are decided last (no placement, head or reservation can come of them).
  for (const TeamJobRef& ref : queue.PassedOver()) {
    const PendingJob& job = pending[ref.index];
    Pool& pool = pools[job.gpu_type];
    ++position;
    const bool within = ledger.WithinNominal(job.team, job.gpu_type, ref.gpus);
    if (!WaitsForQuota(ledger, job, within, guaranteed_waiting, position, pool, result)) {
      ConsiderJob(job, position, now_ms, /*aged=*/false, pool, result);
    }
  }
  return result;
}

}  // namespace

TeamGpus HeldByTeam(const std::vector<RunningJob>& running) {
  TeamGpus held;
  for (const RunningJob& job : running) held[job.team][job.gpu_type] += job.gpus;
  return held;
}

std::map<std::string, int64_t> CapacityByType(const std::vector<NodeView>& nodes) {
  std::map<std::string, int64_t> capacity;
  for (const NodeView& node : nodes) capacity[node.gpu_type] += node.total_gpus;
  return capacity;
}

PassResult SchedulePass(std::vector<PendingJob> pending, const std::vector<RunningJob>& running,
                        const std::vector<NodeView>& nodes, int64_t now_ms,
                        const TeamPassInput& teams) {
  if (teams.config != nullptr) return TeamPass(pending, running, nodes, now_ms, teams);
  OrderQueue(pending);
  Pools pools = BuildPools(nodes, running);
  PassResult result;
  for (size_t i = 0; i < pending.size(); ++i) {
    const PendingJob& job = pending[i];
    ConsiderJob(job, static_cast<int32_t>(i + 1), now_ms, /*aged=*/false, pools[job.gpu_type],
                result);
  }
  return result;
}

}  // namespace berth::daemon
