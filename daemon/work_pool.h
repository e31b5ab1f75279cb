// One pool during an indexed pass (indexed_pass.h without teams,
// team_indexed_pass.h with them): the kept counts and releases of the
// queue index (queue_index.h), with what this pass placed on top, and the
// EASY reservations of queue_policy.h (the blocked head, and with aging
// the aged jobs' behind it) computed on them. The same arithmetic as
// queue_policy.cc's pool, which rebuilds the releases from every running
// job instead.
#ifndef BERTH_DAEMON_WORK_POOL_H_
#define BERTH_DAEMON_WORK_POOL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/placement.h"
#include "daemon/queue_index.h"

namespace berth::daemon {

// A reservation: the job's GPUs at its shadow time (nullopt: unknown), and
// the GPUs free then beyond it and the reservations ahead of it.
struct PoolReservation {
  int64_t job_id = 0;
  int64_t gpus = 0;
  std::optional<int64_t> shadow_ms;
  int64_t extra_gpus = 0;
};

struct WorkPool {
  std::string name;
  int64_t free_gpus = 0;
  std::vector<int64_t> by_free;
  const std::vector<int64_t>* by_total = nullptr;
  const PoolReleases* kept = nullptr;              // may be null: nothing running
  std::vector<std::pair<int64_t, int64_t>> added;  // (end, GPUs), by end
  int64_t added_bounded = 0;
  int64_t added_unbounded = 0;
  std::optional<PoolReservation> head;
  std::vector<PoolReservation> aged;  // behind the head, in queue order

  int64_t BoundedGpus() const { return (kept ? kept->bounded_gpus : 0) + added_bounded; }
  int64_t UnboundedGpus() const { return (kept ? kept->unbounded_gpus : 0) + added_unbounded; }
  // The GPUs of the head and the aged reservations.
  int64_t ReservedGpus() const;

  // Calls visit(end, gpus) for each release in end order until it returns
  // false. Releases at one end time may come in any grouping: callers only
  // add them up.
  template <typename Visit>
  void ForEachRelease(Visit visit) const {
    auto a = kept ? kept->bounded.begin()
                  : std::map<int64_t, std::pair<int64_t, int64_t>>::const_iterator{};
    const auto a_end = kept ? kept->bounded.end() : a;
    auto b = added.begin();
    while (a != a_end || b != added.end()) {
      const bool take_a = b == added.end() || (a != a_end && a->first <= b->first);
      const bool go_on = take_a ? visit(a->first, a->second.first) : visit(b->first, b->second);
      if (!go_on) return;
      if (take_a) {
        ++a;
      } else {
        ++b;
      }
    }
  }
};

// As queue_policy.cc's EarliestTime: the first release time at which the
// pool has `needed` GPUs by count.
std::optional<int64_t> EarliestTime(const WorkPool& pool, int64_t needed, int64_t now_ms);

// As queue_policy.cc's MakeHead: a reservation for `gpus` behind `ahead`
// GPUs already reserved.
PoolReservation MakeReservation(const WorkPool& pool, int64_t job_id, int64_t gpus, int64_t now_ms,
                                int64_t ahead = 0);

// The EASY rule for a job of `lane` against every reservation of the pool
// (queue_policy.cc's BackfillBlocker): 0 when it may start now, and then
// the reservations it does not end before lose its GPUs from their extra
// ones; else the job whose reservation it would delay.
int64_t BackfillBlocker(WorkPool& pool, const LaneKey& lane, int64_t now_ms);

// Aging: a reservation behind the others for job `job_id` of `gpus`, while
// the pool has a head and fewer than kMaxAgedReservations aged ones.
bool ReserveAged(WorkPool& pool, int64_t job_id, int64_t gpus, int64_t now_ms);

// Takes the slots' GPUs from the pool's free count (the placer took them
// from the nodes and from the counts by free GPUs); adds the release.
void Commit(const std::vector<SlotAssignment>& slots, const LaneKey& lane, int64_t now_ms,
            WorkPool& pool);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_WORK_POOL_H_
