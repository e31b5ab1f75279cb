#include "daemon/indexed_pass.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <queue>
#include <set>
#include <utility>

namespace berth::daemon {
namespace {

// Counts with trailing zeros ignored.
bool SameCounts(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if ((i < a.size() ? a[i] : 0) != (i < b.size() ? b[i] : 0)) return false;
  }
  return true;
}

void Bump(std::vector<int64_t>& counts, size_t k, int64_t by) {
  if (counts.size() <= k) counts.resize(k + 1, 0);
  counts[k] += by;
}

struct Head {
  int64_t gpus = 0;
  std::optional<int64_t> shadow_ms;
  int64_t extra_gpus = 0;
};

// One pool during the pass: the kept counts and releases, with what this
// pass placed on top (GPUs taken, releases added).
struct WorkPool {
  std::string name;
  int64_t free_gpus = 0;
  std::vector<int64_t> by_free;
  const std::vector<int64_t>* by_total = nullptr;
  const PoolReleases* kept = nullptr;              // may be null: nothing running
  std::vector<std::pair<int64_t, int64_t>> added;  // (end, GPUs), by end
  int64_t added_bounded = 0;
  int64_t added_unbounded = 0;
  std::optional<Head> head;

  int64_t BoundedGpus() const { return (kept ? kept->bounded_gpus : 0) + added_bounded; }
  int64_t UnboundedGpus() const { return (kept ? kept->unbounded_gpus : 0) + added_unbounded; }

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

// As queue_policy.cc's MakeHead.
Head MakeHead(const WorkPool& pool, int64_t gpus, int64_t now_ms) {
  Head head{.gpus = gpus, .shadow_ms = EarliestTime(pool, gpus, now_ms)};
  int64_t available = pool.free_gpus;
  if (head.shadow_ms) {
    pool.ForEachRelease([&](int64_t end, int64_t released) {
      if (std::max(end, now_ms) > *head.shadow_ms) return false;
      available += released;
      return true;
    });
  } else {
    available += pool.BoundedGpus() + pool.UnboundedGpus();
  }
  head.extra_gpus = std::max<int64_t>(0, available - gpus);
  return head;
}

// As queue_policy.cc's BackfillAllowed, without taking the extra GPUs.
bool MayBackfill(const Head& head, const LaneKey& lane, int64_t now_ms) {
  if (head.shadow_ms && lane.max_runtime_ms > 0 &&
      lane.max_runtime_ms <= *head.shadow_ms - now_ms) {
    return true;
  }
  return lane.gpus() <= head.extra_gpus;
}

// What BackfillAllowed takes once it allows a job: nothing when the job
// ends by the shadow time, else the job's GPUs from the extra ones.
void TakeExtra(Head& head, const LaneKey& lane, int64_t now_ms) {
  if (head.shadow_ms && lane.max_runtime_ms > 0 &&
      lane.max_runtime_ms <= *head.shadow_ms - now_ms) {
    return;
  }
  head.extra_gpus -= lane.gpus();
}

// Takes the slots' GPUs from the pool's free count (the placer took them
// from the nodes and from the counts by free GPUs); adds the release.
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

struct Lane {
  const LaneKey* key = nullptr;
  std::set<QueueKey>::const_iterator next;
  std::set<QueueKey>::const_iterator end;
};

// Steps 1-3 of the header for one pool.
void PassPool(const PoolQueue& queue, int64_t now_ms, WorkPool& pool, PoolPlacer& placer,
              std::vector<std::pair<QueueKey, Decision>>& out) {
  std::vector<Lane> lanes;
  lanes.reserve(queue.lanes.size());
  for (const auto& [key, jobs] : queue.lanes) {
    lanes.push_back(Lane{.key = &key, .next = jobs.begin(), .end = jobs.end()});
  }
  auto later = [&lanes](size_t a, size_t b) { return *lanes[b].next < *lanes[a].next; };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < lanes.size(); ++i) heap.push(i);
  while (!heap.empty()) {
    Lane& lane = lanes[heap.top()];
    const size_t index = heap.top();
    heap.pop();
    const GangShape shape = lane.key->shape();
    bool placeable = FitsByCount(pool.by_free, shape);
    std::optional<std::vector<SlotAssignment>> slots;
    if (placeable && (!pool.head || MayBackfill(*pool.head, *lane.key, now_ms))) {
      slots = placer.Place(shape);
      placeable = slots.has_value();
    }
    if (slots) {
      if (pool.head) TakeExtra(*pool.head, *lane.key, now_ms);
      Commit(*slots, *lane.key, now_ms, pool);
      out.emplace_back(*lane.next, Decision{.job_id = lane.next->id,
                                            .slots = std::move(*slots),
                                            .backfilled = pool.head.has_value()});
    } else if (!placeable && !pool.head && FitsByCount(*pool.by_total, shape)) {
      pool.head = MakeHead(pool, shape.gpus(), now_ms);
    } else {
      continue;  // step 3: the lane is done for this pass
    }
    if (++lane.next != lane.end) heap.push(index);
  }
}

}  // namespace

void PoolCounts::Add(const NodeView& view, int sign) {
  Bump(all_by_total, static_cast<size_t>(std::max(0, view.total_gpus)), sign);
  if (!view.schedulable) return;
  schedulable_nodes += sign;
  free_gpus += sign * static_cast<int64_t>(view.free_gpus.size());
  Bump(by_free, view.free_gpus.size(), sign);
  Bump(by_total, static_cast<size_t>(std::max(0, view.total_gpus)), sign);
}

bool PoolCounts::operator==(const PoolCounts& o) const {
  return free_gpus == o.free_gpus && schedulable_nodes == o.schedulable_nodes &&
         SameCounts(by_free, o.by_free) && SameCounts(by_total, o.by_total) &&
         SameCounts(all_by_total, o.all_by_total);
}

std::map<std::string, PoolCounts> CountPools(const std::vector<NodeView>& views) {
  std::map<std::string, PoolCounts> counts;
  for (const NodeView& view : views) counts[view.gpu_type].Add(view, +1);
  return counts;
}

std::vector<PoolInfo> PoolsFromCounts(
    const std::map<std::string, PoolCounts>& counts_by_type,
    const absl::flat_hash_map<std::string, planner::GpuType>& gpus) {
  std::vector<PoolInfo> pools;  // by type, as the map is
  for (const auto& [type, counts] : counts_by_type) {
    PoolInfo pool{.gpu_type = type, .free_gpus = counts.free_gpus};
    bool any = false;  // a type whose nodes all left it has none
    for (size_t k = 0; k < counts.all_by_total.size(); ++k) {
      if (counts.all_by_total[k] <= 0) continue;
      any = true;
      pool.total_gpus += static_cast<int64_t>(k) * counts.all_by_total[k];
      pool.gpus_per_node = static_cast<int64_t>(k);
    }
    if (!any) continue;
    if (auto gpu = gpus.find(type); gpu != gpus.end()) pool.gpu = gpu->second;
    pools.push_back(std::move(pool));
  }
  return pools;
}

std::vector<Decision> SchedulePassIndexed(const QueueIndex& index,
                                          const std::map<std::string, PoolCounts>& counts,
                                          const std::vector<NodeView>& views, int64_t now_ms) {
  std::vector<std::pair<QueueKey, Decision>> placed;
  for (const auto& [name, queue] : index.queues()) {
    auto count = counts.find(name);
    // No free GPU: nothing can be placed, and a head found now would only
    // hold back backfills that cannot come.
    if (count == counts.end() || count->second.schedulable_nodes <= 0 ||
        count->second.free_gpus <= 0) {
      continue;
    }
    auto released = index.releases().find(name);
    WorkPool pool{.name = name,
                  .free_gpus = count->second.free_gpus,
                  .by_free = count->second.by_free,
                  .by_total = &count->second.by_total,
                  .kept = released == index.releases().end() ? nullptr : &released->second};
    // PlaceGang never chooses a node without free GPUs (it holds no TP
    // group), and within a pass none gains any: placing on the others alone,
    // in the same (name) order, gives the same slots. They are passed by
    // pointer, not copied. (So a pass costs one look at each node of a pool
    // with free GPUs, and per job placed a look at the placer's buckets and
    // the nodes it takes from: PoolPlacer.)
    std::vector<const NodeView*> candidates;
    for (size_t i = 0; pool.free_gpus > 0 && i < views.size(); ++i) {
      const NodeView& view = views[i];
      if (view.schedulable && !view.free_gpus.empty() && view.gpu_type == name) {
        candidates.push_back(&view);
      }
    }
    PoolPlacer placer(std::move(candidates), &pool.by_free);
    PassPool(queue, now_ms, pool, placer, placed);
  }
  std::sort(placed.begin(), placed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Decision> decisions;
  decisions.reserve(placed.size());
  for (auto& [key, decision] : placed) decisions.push_back(std::move(decision));
  return decisions;
}

}  // namespace berth::daemon
