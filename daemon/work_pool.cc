#include "daemon/work_pool.h"

#include <algorithm>

#include "daemon/queue_policy.h"

namespace berth::daemon {

int64_t WorkPool::ReservedGpus() const {
  int64_t gpus = head ? head->gpus : 0;
  for (const PoolReservation& r : aged) gpus += r.gpus;
  return gpus;
}

std::optional<int64_t> EarliestTime(const WorkPool& pool, int64_t needed, int64_t now_ms) {
  if (pool.free_gpus + pool.BoundedGpus() < needed) return std::nullopt;
  std::optional<int64_t> at;
  int64_t available = pool.free_gpus;
  pool.ForEachRelease([&](int64_t end, int64_t gpus) {
    available += gpus;
    if (available < needed) return true;
    at = std::max(end, now_ms);
    return false;
  });
  return at;
}

PoolReservation MakeReservation(const WorkPool& pool, int64_t job_id, int64_t gpus, int64_t now_ms,
                                int64_t ahead) {
  PoolReservation r{
      .job_id = job_id, .gpus = gpus, .shadow_ms = EarliestTime(pool, gpus + ahead, now_ms)};
  int64_t available = pool.free_gpus;
  if (r.shadow_ms) {
    pool.ForEachRelease([&](int64_t end, int64_t released) {
      if (std::max(end, now_ms) > *r.shadow_ms) return false;
      available += released;
      return true;
    });
  } else {
    available += pool.BoundedGpus() + pool.UnboundedGpus();
  }
  r.extra_gpus = std::max<int64_t>(0, available - gpus - ahead);
  return r;
}

int64_t BackfillBlocker(WorkPool& pool, const LaneKey& lane, int64_t now_ms) {
  if (!pool.head) return 0;
  auto ends_by = [&](const PoolReservation& r) {
    return r.shadow_ms && lane.max_runtime_ms > 0 && lane.max_runtime_ms <= *r.shadow_ms - now_ms;
  };
  auto blocks = [&](const PoolReservation& r) { return !ends_by(r) && lane.gpus() > r.extra_gpus; };
  if (blocks(*pool.head)) return pool.head->job_id;
  for (const PoolReservation& r : pool.aged) {
    if (blocks(r)) return r.job_id;
  }
  if (!ends_by(*pool.head)) pool.head->extra_gpus -= lane.gpus();
  for (PoolReservation& r : pool.aged) {
    if (!ends_by(r)) r.extra_gpus -= lane.gpus();
  }
  return 0;
}

bool ReserveAged(WorkPool& pool, int64_t job_id, int64_t gpus, int64_t now_ms) {
  if (!pool.head || pool.aged.size() >= kMaxAgedReservations) return false;
  pool.aged.push_back(MakeReservation(pool, job_id, gpus, now_ms, pool.ReservedGpus()));
  return true;
}

void Commit(const std::vector<SlotAssignment>& slots, const LaneKey& lane, int64_t now_ms,
            WorkPool& pool) {
  pool.free_gpus -= static_cast<int64_t>(slots.size());
  const int64_t gpus = static_cast<int64_t>(slots.size());
  if (lane.max_runtime_ms <= 0) {
    pool.added_unbounded += gpus;
    return;
  }
  const int64_t end = now_ms + lane.max_runtime_ms;
  auto at =
      std::upper_bound(pool.added.begin(), pool.added.end(), end,
                       [](int64_t e, const std::pair<int64_t, int64_t>& r) { return e < r.first; });
  pool.added.insert(at, {end, gpus});
  pool.added_bounded += gpus;
}

}  // namespace berth::daemon
