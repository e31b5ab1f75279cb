// Where a job goes: gang placement of a TP × PP × DP split onto nodes.
//
// Pure: works on plain views of the cluster, no locks, no I/O.
//
// Algorithm. A job needs dp pipeline replicas, each of pp TP groups of tp
// GPUs. A TP group never spans nodes. Replicas are placed one after another:
//   1. best fit for a whole replica: among the schedulable nodes of the
//      job's GPU type whose free GPUs can hold all pp groups, the one with
//      the fewest free GPUs (ties: node name);
//   2. otherwise the replica spreads its groups over as few nodes as
//      possible: nodes by free-group capacity descending (ties: name),
//      filling each before the next;
//   3. within a node, GPUs are taken in index order, contiguous runs first
//      (so a TP group sits on neighbouring GPUs where possible).
// All-or-nothing: if any replica cannot be placed, nothing is returned.
// Best fit keeps whole nodes free for large jobs.
#ifndef BERTH_DAEMON_PLACEMENT_H_
#define BERTH_DAEMON_PLACEMENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth::daemon {

struct NodeView {
  std::string name;
  std::string gpu_type;
  std::vector<int32_t> free_gpus;  // indices of free GPUs, ascending
  int32_t total_gpus = 0;
  bool schedulable = true;  // false when DOWN or DRAINED
};

struct GangShape {
  int64_t tp = 1;
  int64_t pp = 1;
  int64_t dp = 1;
  int64_t gpus() const { return tp * pp * dp; }
};

struct SlotAssignment {
  std::string node;
  int32_t gpu_index = 0;
  int32_t tp_rank = 0;
  int32_t pp_rank = 0;
  int32_t dp_rank = 0;
};

// Places `shape` on nodes of `gpu_type`; nullopt when it cannot be placed
// now. Slots are ordered by (dp_rank, pp_rank, tp_rank).
std::optional<std::vector<SlotAssignment>> PlaceGang(const std::vector<NodeView>& nodes,
                                                     const std::string& gpu_type,
                                                     const GangShape& shape);

// Placement for one pool over a whole pass: each Place gives the slots
// PlaceGang would give on the pool's nodes with the GPUs of every earlier
// Place taken, and takes them (PlaceGang itself is one Place on a fresh
// placer). It keeps the nodes bucketed by free GPUs, each bucket in name
// order, so a placement looks at the buckets and the nodes it takes from
// instead of at every node of the pool (a pass at 10,000 nodes placed
// thousands of small jobs, each walking every node); a node's free list is
// copied only when a placement takes from it.
class PoolPlacer {
 public:
  // `nodes`: one pool's schedulable nodes (any order; the views must
  // outlive the placer). `by_free`, when not null: counts of the pool's
  // nodes by free GPUs (FitsByCount's), kept in step with each Place.
  PoolPlacer(std::vector<const NodeView*> nodes, std::vector<int64_t>* by_free);

  // The algorithm at the top, on the nodes as earlier calls left them;
  // nullopt, and nothing taken, when it cannot be placed.
  std::optional<std::vector<SlotAssignment>> Place(const GangShape& shape);

 private:
  const std::vector<int32_t>& Free(uint32_t i) const;  // node i's free GPUs now
  // Steps 1 and 2 for one replica: a node per TP group, in pp order; fewer
  // than pp when the replica does not fit.
  std::vector<uint32_t> ReplicaTargets(const GangShape& shape) const;
  // Moves node i to the bucket of its free list's size, from `old_free`.
  void Rebucket(uint32_t i, size_t old_free);

  std::vector<const NodeView*> nodes_;                      // by name
  std::vector<std::optional<std::vector<int32_t>>> taken_;  // free lists once taken from
  std::vector<std::vector<uint32_t>> bucket_;               // [k]: nodes with k free, ascending
  std::vector<int64_t>* by_free_;
};

// Whole TP groups of `tp` GPUs on nodes counted by free GPUs
// (nodes_by_free[k]: nodes with k free): sum of nodes_by_free[k] × ⌊k / tp⌋.
int64_t GroupsByCount(const std::vector<int64_t>& nodes_by_free, int64_t tp);
// Whether PlaceGang places `shape` on a pool whose schedulable nodes are
// counted by free GPUs in `nodes_by_free`, without looking at a node: it
// does iff they hold pp × dp whole TP groups (each replica takes exactly pp
// groups, on one node or spread, and fails only when fewer are left).
bool FitsByCount(const std::vector<int64_t>& nodes_by_free, const GangShape& shape);

// Whether `shape` could ever be placed on these nodes if every GPU were
// free (capacity, not load). Ignores `schedulable`.
bool FitsCapacity(const std::vector<NodeView>& nodes, const std::string& gpu_type,
                  const GangShape& shape);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_PLACEMENT_H_
