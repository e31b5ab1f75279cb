#include "daemon/indexed_pass.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <queue>
#include <set>
#include <utility>

#include "daemon/work_pool.h"

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
    if (placeable && BackfillBlocker(pool, *lane.key, now_ms) == 0) {
      slots = placer.Place(shape);
      placeable = slots.has_value();
    }
    if (slots) {
      Commit(*slots, *lane.key, now_ms, pool);
      out.emplace_back(*lane.next, Decision{.job_id = lane.next->id,
                                            .slots = std::move(*slots),
                                            .backfilled = pool.head.has_value()});
    } else if (!placeable && !pool.head && FitsByCount(*pool.by_total, shape)) {
      pool.head = MakeReservation(pool, lane.next->id, shape.gpus(), now_ms);
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

WorkPool KeptWorkPool(const std::string& name, const PoolCounts* counts, const QueueIndex& index) {
  static const std::vector<int64_t> kNone;
  auto released = index.releases().find(name);
  WorkPool pool{.name = name,
                .by_total = &kNone,
                .kept = released == index.releases().end() ? nullptr : &released->second};
  if (counts != nullptr) {
    pool.free_gpus = counts->free_gpus;
    pool.by_free = counts->by_free;
    pool.by_total = &counts->by_total;
  }
  return pool;
}

std::vector<const NodeView*> NodesWithFreeGpus(const std::vector<NodeView>& views,
                                               const std::string& type) {
  std::vector<const NodeView*> nodes;
  for (const NodeView& view : views) {
    if (view.schedulable && !view.free_gpus.empty() && view.gpu_type == type) {
      nodes.push_back(&view);
    }
  }
  return nodes;
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
    WorkPool pool = KeptWorkPool(name, &count->second, index);
    // A pass costs one look at each node of a pool with free GPUs, and per
    // job placed a look at the placer's buckets and the nodes it takes from
    // (PoolPlacer).
    PoolPlacer placer(NodesWithFreeGpus(views, name), &pool.by_free);
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
