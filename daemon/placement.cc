#include "daemon/placement.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace berth::daemon {
namespace {

// Step 3: takes `tp` GPUs from `free` (ascending): the first contiguous run
// of at least `tp` indices in index order, else the lowest `tp` indices.
// The caller guarantees free.size() >= tp.
std::vector<int32_t> TakeGroup(std::vector<int32_t>& free, int64_t tp) {
  const size_t want = static_cast<size_t>(tp);
  size_t start = 0;
  size_t run_start = 0;
  for (size_t i = 0; i < free.size(); ++i) {
    if (i > 0 && free[i] != free[i - 1] + 1) run_start = i;
    if (i + 1 - run_start >= want) {
      start = run_start;
      break;
    }
  }
  std::vector<int32_t> taken(free.begin() + start, free.begin() + start + want);
  free.erase(free.begin() + start, free.begin() + start + want);
  return taken;
}

}  // namespace

std::optional<std::vector<SlotAssignment>> PlaceGang(const std::vector<NodeView>& nodes,
                                                     const std::string& gpu_type,
                                                     const GangShape& shape) {
  std::vector<const NodeView*> pool;
  pool.reserve(nodes.size());
  for (const NodeView& view : nodes) {
    if (view.schedulable && view.gpu_type == gpu_type) pool.push_back(&view);
  }
  return PoolPlacer(std::move(pool), nullptr).Place(shape);
}

PoolPlacer::PoolPlacer(std::vector<const NodeView*> nodes, std::vector<int64_t>* by_free)
    : nodes_(std::move(nodes)), by_free_(by_free) {
  // By name, so that ties go to the first name whatever the callers' order.
  auto by_name = [](const NodeView* a, const NodeView* b) { return a->name < b->name; };
  if (!std::is_sorted(nodes_.begin(), nodes_.end(), by_name)) {
    std::sort(nodes_.begin(), nodes_.end(), by_name);
  }
  taken_.resize(nodes_.size());
  for (uint32_t i = 0; i < nodes_.size(); ++i) {
    const size_t k = nodes_[i]->free_gpus.size();
    if (bucket_.size() <= k) bucket_.resize(k + 1);
    bucket_[k].push_back(i);  // ascending: i grows
  }
}

const std::vector<int32_t>& PoolPlacer::Free(uint32_t i) const {
  return taken_[i] ? *taken_[i] : nodes_[i]->free_gpus;
}

void PoolPlacer::Rebucket(uint32_t i, size_t old_free) {
  const size_t now = Free(i).size();
  if (now == old_free) return;
  std::vector<uint32_t>& from = bucket_[old_free];
  from.erase(std::lower_bound(from.begin(), from.end(), i));
  std::vector<uint32_t>& to = bucket_[now];
  to.insert(std::lower_bound(to.begin(), to.end(), i), i);
  if (by_free_ != nullptr) {
    (*by_free_)[old_free] -= 1;
    if (by_free_->size() <= now) by_free_->resize(now + 1, 0);
    (*by_free_)[now] += 1;
  }
}

std::vector<uint32_t> PoolPlacer::ReplicaTargets(const GangShape& shape) const {
  const size_t tp = static_cast<size_t>(shape.tp);
  const size_t pp = static_cast<size_t>(shape.pp);
  // 1. Best fit: the fewest free GPUs that still hold all pp groups
  //    (f >= pp × tp), the first node by name among them. (pp and tp are
  //    each below the bucket count when one node can hold a replica, so the
  //    product cannot overflow.)
  for (size_t k = pp < bucket_.size() && tp < bucket_.size() ? pp * tp : bucket_.size();
       k < bucket_.size(); ++k) {
    if (!bucket_[k].empty()) return std::vector<uint32_t>(pp, bucket_[k].front());
  }
  // 2. Spread: nodes by group capacity ⌊f / tp⌋ descending, then name (the
  //    buckets of one capacity merged by index), each filled before the next.
  std::vector<uint32_t> targets;
  for (size_t capacity = bucket_.empty() ? 0 : (bucket_.size() - 1) / tp; capacity >= 1;
       --capacity) {
    std::vector<uint32_t> same;
    for (size_t k = capacity * tp; k < std::min(bucket_.size(), (capacity + 1) * tp); ++k) {
      same.insert(same.end(), bucket_[k].begin(), bucket_[k].end());
    }
    std::sort(same.begin(), same.end());
    for (uint32_t i : same) {
      targets.insert(targets.end(), std::min(capacity, pp - targets.size()), i);
      if (targets.size() == pp) return targets;
    }
  }
  return targets;  // short: the replica does not fit
}

std::optional<std::vector<SlotAssignment>> PoolPlacer::Place(const GangShape& shape) {
  if (shape.tp <= 0 || shape.pp <= 0 || shape.dp <= 0) return std::nullopt;
  // Each node's taken list before this gang first touched it, to undo.
  std::vector<std::pair<uint32_t, std::optional<std::vector<int32_t>>>> before;
  std::vector<SlotAssignment> slots;
  // Every replica takes at least one GPU, so this loop ends after at most
  // (free GPUs + 1) rounds even for an absurd dp.
  for (int64_t dp_rank = 0; dp_rank < shape.dp; ++dp_rank) {
    const std::vector<uint32_t> targets = ReplicaTargets(shape);  // one node per group
    if (targets.size() < static_cast<size_t>(shape.pp)) {
      // All or nothing: give back what earlier replicas took.
      for (auto& [i, taken] : before) {
        const size_t old_free = Free(i).size();
        taken_[i] = std::move(taken);
        Rebucket(i, old_free);
      }
      return std::nullopt;
    }
    for (size_t pp_rank = 0; pp_rank < targets.size(); ++pp_rank) {
      const uint32_t i = targets[pp_rank];
      if (std::none_of(before.begin(), before.end(), [i](const auto& b) { return b.first == i; })) {
        before.emplace_back(i, taken_[i]);
      }
      const size_t old_free = Free(i).size();
      if (!taken_[i]) taken_[i] = nodes_[i]->free_gpus;  // copied on first take only
      const std::vector<int32_t> gpus = TakeGroup(*taken_[i], shape.tp);
      Rebucket(i, old_free);
      for (size_t tp_rank = 0; tp_rank < gpus.size(); ++tp_rank) {
        slots.push_back(SlotAssignment{.node = nodes_[i]->name,
                                       .gpu_index = gpus[tp_rank],
                                       .tp_rank = static_cast<int32_t>(tp_rank),
                                       .pp_rank = static_cast<int32_t>(pp_rank),
                                       .dp_rank = static_cast<int32_t>(dp_rank)});
      }
    }
  }
  return slots;
}

int64_t GroupsByCount(const std::vector<int64_t>& nodes_by_free, int64_t tp) {
  if (tp <= 0) return 0;
  int64_t groups = 0;
  for (size_t k = static_cast<size_t>(tp); k < nodes_by_free.size(); ++k) {
    groups += nodes_by_free[k] * (static_cast<int64_t>(k) / tp);
  }
  return groups;
}

bool FitsByCount(const std::vector<int64_t>& nodes_by_free, const GangShape& shape) {
  if (shape.tp <= 0 || shape.pp <= 0 || shape.dp <= 0) return false;
  const int64_t groups = GroupsByCount(nodes_by_free, shape.tp);
  // pp × dp <= groups, without overflow.
  return shape.pp <= groups && shape.dp <= groups / shape.pp;
}

bool FitsCapacity(const std::vector<NodeView>& nodes, const std::string& gpu_type,
                  const GangShape& shape) {
  // PlaceGang on these nodes with every GPU free and schedulable, by count
  // (FitsByCount), without copying a node.
  std::vector<int64_t> by_total;
  for (const NodeView& node : nodes) {
    if (node.gpu_type != gpu_type) continue;
    const size_t total = static_cast<size_t>(std::max(0, node.total_gpus));
    if (by_total.size() <= total) by_total.resize(total + 1, 0);
    by_total[total]++;
  }
  return FitsByCount(by_total, shape);
}

}  // namespace berth::daemon
