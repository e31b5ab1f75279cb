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

// One TP group placed on one node: `gpus` holds tp indices, ascending.
struct Group {
  size_t node = 0;  // index into the working node list
  std::vector<int32_t> gpus;
};

// A pool node during one placement. Its free list is copied only when a
// replica takes GPUs from it, so a pass over a large cluster copies little.
struct WorkNode {
  const NodeView* view = nullptr;
  std::optional<std::vector<int32_t>> free_copy;

  const std::vector<int32_t>& free() const { return free_copy ? *free_copy : view->free_gpus; }
  std::vector<int32_t>& mutable_free() {
    if (!free_copy) free_copy = view->free_gpus;
    return *free_copy;
  }
};

void SortByName(std::vector<WorkNode>& pool) {
  auto by_name = [](const WorkNode& a, const WorkNode& b) { return a.view->name < b.view->name; };
  if (!std::is_sorted(pool.begin(), pool.end(), by_name)) {
    std::sort(pool.begin(), pool.end(), by_name);
  }
}

// Filter: the schedulable nodes of `gpu_type`, sorted by name so ties are
// deterministic (callers usually pass them sorted already).
std::vector<WorkNode> PoolNodes(const std::vector<NodeView>& nodes, const std::string& gpu_type) {
  std::vector<WorkNode> pool;
  pool.reserve(nodes.size());
  for (const NodeView& view : nodes) {
    if (view.schedulable && view.gpu_type == gpu_type) pool.push_back(WorkNode{.view = &view});
  }
  SortByName(pool);
  return pool;
}

// How many whole TP groups of `tp` GPUs the node's free GPUs can hold.
int64_t GroupCapacity(const WorkNode& node, int64_t tp) {
  return static_cast<int64_t>(node.free().size()) / tp;
}

// Select, step 1: the node with the fewest free GPUs that can still hold all
// `pp` groups of a replica. `pool` is sorted by name, so the first minimum
// wins ties.
std::optional<size_t> BestFitNode(const std::vector<WorkNode>& pool, const GangShape& shape) {
  std::optional<size_t> best;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (GroupCapacity(pool[i], shape.tp) < shape.pp) continue;
    if (!best || pool[i].free().size() < pool[*best].free().size()) best = i;
  }
  return best;
}

// Select, step 2: nodes that hold at least one group, by group capacity
// descending, then name. Filling them in this order uses as few nodes as
// possible.
std::vector<size_t> SpreadOrder(const std::vector<WorkNode>& pool, int64_t tp) {
  std::vector<size_t> order;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (GroupCapacity(pool[i], tp) > 0) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return GroupCapacity(pool[a], tp) > GroupCapacity(pool[b], tp);
  });
  return order;
}

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

// Places the `pp` groups of one replica on `pool`, consuming its free GPUs.
// Returns the groups in pp order, or nullopt when the pool cannot hold them
// (the pool is then partly consumed; callers discard it).
std::optional<std::vector<Group>> PlaceReplica(std::vector<WorkNode>& pool,
                                               const GangShape& shape) {
  std::vector<size_t> targets;  // one node per group, in pp order
  if (std::optional<size_t> best = BestFitNode(pool, shape)) {
    targets.assign(static_cast<size_t>(shape.pp), *best);
  } else {
    for (size_t node : SpreadOrder(pool, shape.tp)) {
      const int64_t room = GroupCapacity(pool[node], shape.tp);
      const int64_t left = shape.pp - static_cast<int64_t>(targets.size());
      targets.insert(targets.end(), static_cast<size_t>(std::min(room, left)), node);
      if (static_cast<int64_t>(targets.size()) == shape.pp) break;
    }
    if (static_cast<int64_t>(targets.size()) < shape.pp) return std::nullopt;
  }
  std::vector<Group> groups;
  for (size_t node : targets) {
    groups.push_back(Group{.node = node, .gpus = TakeGroup(pool[node].mutable_free(), shape.tp)});
  }
  return groups;
}

void AppendSlots(const std::vector<WorkNode>& pool, const std::vector<Group>& groups,
                 int32_t dp_rank, std::vector<SlotAssignment>& slots) {
  for (size_t pp_rank = 0; pp_rank < groups.size(); ++pp_rank) {
    const Group& group = groups[pp_rank];
    for (size_t tp_rank = 0; tp_rank < group.gpus.size(); ++tp_rank) {
      slots.push_back(SlotAssignment{.node = pool[group.node].view->name,
                                     .gpu_index = group.gpus[tp_rank],
                                     .tp_rank = static_cast<int32_t>(tp_rank),
                                     .pp_rank = static_cast<int32_t>(pp_rank),
                                     .dp_rank = dp_rank});
    }
  }
}

// PlaceGang on a pool (PoolNodes).
std::optional<std::vector<SlotAssignment>> PlaceOnPool(std::vector<WorkNode> pool,
                                                       const GangShape& shape) {
  std::vector<SlotAssignment> slots;
  // Every replica takes at least one GPU, so this loop ends after at most
  // (free GPUs + 1) rounds even for an absurd dp.
  for (int64_t dp_rank = 0; dp_rank < shape.dp; ++dp_rank) {
    std::optional<std::vector<Group>> groups = PlaceReplica(pool, shape);
    if (!groups) return std::nullopt;  // all-or-nothing
    AppendSlots(pool, *groups, static_cast<int32_t>(dp_rank), slots);
  }
  return slots;
}

}  // namespace

std::optional<std::vector<SlotAssignment>> PlaceGang(const std::vector<NodeView>& nodes,
                                                     const std::string& gpu_type,
                                                     const GangShape& shape) {
  if (shape.tp <= 0 || shape.pp <= 0 || shape.dp <= 0) return std::nullopt;
  return PlaceOnPool(PoolNodes(nodes, gpu_type), shape);
}

PoolPlacer::PoolPlacer(std::vector<const NodeView*> nodes, std::vector<int64_t>* by_free)
    : nodes_(std::move(nodes)), by_free_(by_free) {
  auto by_name = [](const NodeView* a, const NodeView* b) { return a->name < b->name; };
  if (!std::is_sorted(nodes_.begin(), nodes_.end(), by_name)) {
    std::sort(nodes_.begin(), nodes_.end(), by_name);
  }
  free_.reserve(nodes_.size());
  for (uint32_t i = 0; i < nodes_.size(); ++i) {
    free_.push_back(nodes_[i]->free_gpus);
    const size_t k = free_.back().size();
    if (bucket_.size() <= k) bucket_.resize(k + 1);
    bucket_[k].push_back(i);  // ascending: i grows
  }
}

void PoolPlacer::Rebucket(uint32_t i, size_t old_free) {
  const size_t now = free_[i].size();
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

std::optional<std::vector<SlotAssignment>> PoolPlacer::Place(const GangShape& shape) {
  if (shape.tp <= 0 || shape.pp <= 0 || shape.dp <= 0) return std::nullopt;
  const size_t tp = static_cast<size_t>(shape.tp);
  // First touch of each node: its free list before, to undo a failed gang.
  std::vector<std::pair<uint32_t, std::vector<int32_t>>> before;
  auto touch = [&](uint32_t i) {
    for (const auto& [j, free] : before) {
      if (j == i) return;
    }
    before.emplace_back(i, free_[i]);
  };
  std::vector<SlotAssignment> slots;
  for (int64_t dp_rank = 0; dp_rank < shape.dp; ++dp_rank) {
    std::vector<uint32_t> targets;  // one node per group, in pp order
    // Best fit (BestFitNode): the fewest free GPUs that still hold pp
    // groups, f >= pp × tp; the first node by name in that bucket.
    const uint64_t need = static_cast<uint64_t>(shape.pp) * tp;
    for (size_t k = need; k < bucket_.size() && targets.empty(); ++k) {
      if (!bucket_[k].empty()) targets.assign(static_cast<size_t>(shape.pp), bucket_[k].front());
    }
    if (targets.empty() && !bucket_.empty()) {
      // Spread (SpreadOrder): group capacity ⌊f / tp⌋ descending, then name;
      // the buckets of one capacity are merged by name (index).
      for (size_t capacity = (bucket_.size() - 1) / tp; capacity >= 1; --capacity) {
        std::vector<uint32_t> same;
        for (size_t k = capacity * tp; k < std::min(bucket_.size(), (capacity + 1) * tp); ++k) {
          same.insert(same.end(), bucket_[k].begin(), bucket_[k].end());
        }
        std::sort(same.begin(), same.end());
        for (uint32_t i : same) {
          const size_t left = static_cast<size_t>(shape.pp) - targets.size();
          targets.insert(targets.end(), std::min(capacity, left), i);
          if (targets.size() == static_cast<size_t>(shape.pp)) break;
        }
        if (targets.size() == static_cast<size_t>(shape.pp)) break;
      }
    }
    if (targets.size() < static_cast<size_t>(shape.pp)) {
      // All or nothing: give back what earlier replicas took.
      for (auto& [i, free] : before) {
        const size_t old_free = free_[i].size();
        free_[i] = std::move(free);
        Rebucket(i, old_free);
      }
      return std::nullopt;
    }
    for (size_t pp_rank = 0; pp_rank < targets.size(); ++pp_rank) {
      const uint32_t i = targets[pp_rank];
      touch(i);
      const size_t old_free = free_[i].size();
      std::vector<int32_t> gpus = TakeGroup(free_[i], shape.tp);
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
