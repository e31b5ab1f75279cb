#include "daemon/placement.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

NodeView Node(std::string name, std::string gpu_type, std::vector<int32_t> free_gpus,
              int32_t total = 8, bool schedulable = true) {
  return NodeView{.name = std::move(name),
                  .gpu_type = std::move(gpu_type),
                  .free_gpus = std::move(free_gpus),
                  .total_gpus = total,
                  .schedulable = schedulable};
}

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> out;
  for (int32_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

// Invariant: across all `placements` no GPU is assigned twice, and every
// assigned GPU was free on a schedulable node of `gpu_type` in `nodes`.
void ExpectValidPlacements(const std::vector<NodeView>& nodes, const std::string& gpu_type,
                           const std::vector<std::vector<SlotAssignment>>& placements) {
  std::map<std::string, const NodeView*> by_name;
  for (const NodeView& node : nodes) by_name[node.name] = &node;
  std::set<std::pair<std::string, int32_t>> seen;
  for (const std::vector<SlotAssignment>& slots : placements) {
    for (const SlotAssignment& slot : slots) {
      EXPECT_TRUE(seen.insert({slot.node, slot.gpu_index}).second)
          << slot.node << ":" << slot.gpu_index << " assigned twice";
      auto it = by_name.find(slot.node);
      ASSERT_NE(it, by_name.end()) << "unknown node " << slot.node;
      const NodeView& node = *it->second;
      EXPECT_EQ(node.gpu_type, gpu_type) << slot.node;
      EXPECT_TRUE(node.schedulable) << slot.node;
      EXPECT_NE(std::find(node.free_gpus.begin(), node.free_gpus.end(), slot.gpu_index),
                node.free_gpus.end())
          << slot.node << ":" << slot.gpu_index << " was not free";
    }
  }
}

// Each (dp, pp) TP group: its node and its GPUs in tp_rank order; also checks
// that the group lies on one node and tp ranks run 0..tp-1.
std::map<std::pair<int32_t, int32_t>, std::pair<std::string, std::vector<int32_t>>> Groups(
    const std::vector<SlotAssignment>& slots) {
  std::map<std::pair<int32_t, int32_t>, std::pair<std::string, std::vector<int32_t>>> groups;
  for (const SlotAssignment& slot : slots) {
    auto& group = groups[{slot.dp_rank, slot.pp_rank}];
    if (group.first.empty()) group.first = slot.node;
    EXPECT_EQ(group.first, slot.node) << "TP group spans nodes";
    EXPECT_EQ(slot.tp_rank, static_cast<int32_t>(group.second.size()));
    group.second.push_back(slot.gpu_index);
  }
  return groups;
}

using Group = std::pair<std::string, std::vector<int32_t>>;
using Key = std::pair<int32_t, int32_t>;

TEST(PlaceGangTest, SmallJobBestFitsOntoFullestNodeThatHoldsIt) {
  // Free GPUs: a 8 (empty), b 3, c 5, d 2. A tp 4 job fits on a (8) and c (5);
  // best fit takes c, the one with the fewest free, and a stays whole.
  // c's free {0,1,4,5,6} has runs 0-1 and 4-6, none 4 long, so the lowest
  // four, {0,1,4,5}, are taken.
  std::vector<NodeView> nodes = {
      Node("a", "h100", Range(0, 8)),
      Node("b", "h100", {5, 6, 7}),
      Node("c", "h100", {0, 1, 4, 5, 6}),
      Node("d", "h100", {6, 7}),
  };
  std::optional<std::vector<SlotAssignment>> slots =
      PlaceGang(nodes, "h100", GangShape{.tp = 4, .pp = 1, .dp = 1});
  ASSERT_TRUE(slots.has_value());
  ASSERT_EQ(slots->size(), 4u);
  auto groups = Groups(*slots);
  EXPECT_EQ(groups[Key(0, 0)], (Group{"c", {0, 1, 4, 5}}));
  ExpectValidPlacements(nodes, "h100", {*slots});
}

TEST(PlaceGangTest, TpGroupPrefersContiguousRun) {
  // Node with free {0, 2,3,4, 6,7}: runs are [0], [2..4], [6..7].
  // tp 3: the first run of >= 3 is [2..4]. tp 2: the first run of >= 2 is
  // [2..4], whose first two are {2,3}.
  std::vector<NodeView> nodes = {Node("a", "h100", {0, 2, 3, 4, 6, 7})};
  auto tp3 = PlaceGang(nodes, "h100", GangShape{.tp = 3});
  ASSERT_TRUE(tp3.has_value());
  EXPECT_EQ(Groups(*tp3)[Key(0, 0)], (Group{"a", {2, 3, 4}}));
  auto tp2 = PlaceGang(nodes, "h100", GangShape{.tp = 2});
  ASSERT_TRUE(tp2.has_value());
  EXPECT_EQ(Groups(*tp2)[Key(0, 0)], (Group{"a", {2, 3}}));
  // Each placement is checked alone: they are alternatives, not both taken.
  ExpectValidPlacements(nodes, "h100", {*tp3});
  ExpectValidPlacements(nodes, "h100", {*tp2});
}

TEST(PlaceGangTest, SevenBJobOfEveryTpFitsTheFullestNode) {
  // Nodes: big 8 free, mid 4 free, small 1 free. For each tp the chosen node
  // is the one with the fewest free GPUs >= tp.
  std::vector<NodeView> nodes = {
      Node("big", "h100", Range(0, 8)),
      Node("mid", "h100", Range(4, 8)),
      Node("small", "h100", {7}),
  };
  const std::map<int64_t, std::string> expected = {{1, "small"}, {2, "mid"}, {3, "mid"},
                                                   {4, "mid"},   {5, "big"}, {8, "big"}};
  for (const auto& [tp, node] : expected) {
    auto slots = PlaceGang(nodes, "h100", GangShape{.tp = tp});
    ASSERT_TRUE(slots.has_value()) << "tp " << tp;
    EXPECT_EQ(slots->size(), static_cast<size_t>(tp));
    EXPECT_EQ(Groups(*slots)[Key(0, 0)].first, node) << "tp " << tp;
    ExpectValidPlacements(nodes, "h100", {*slots});
  }
}

TEST(PlaceGangTest, SeventyBJobTakesWholeNodesWithTpGroupsInsideNodes) {
  // tp 8 × pp 2 × dp 2 = 32 GPUs. No node holds a replica (16), so each
  // replica spreads: nodes by group capacity (8 free → 1 group) then name:
  // replica 0 → n1, n2; replica 1 → n3, n4. "part" (4 free) holds no tp 8
  // group and is untouched.
  std::vector<NodeView> nodes = {
      Node("n4", "h100", Range(0, 8)),   Node("n2", "h100", Range(0, 8)),
      Node("part", "h100", Range(4, 8)), Node("n1", "h100", Range(0, 8)),
      Node("n3", "h100", Range(0, 8)),
  };
  auto slots = PlaceGang(nodes, "h100", GangShape{.tp = 8, .pp = 2, .dp = 2});
  ASSERT_TRUE(slots.has_value());
  ASSERT_EQ(slots->size(), 32u);
  auto groups = Groups(*slots);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[Key(0, 0)], (Group{"n1", Range(0, 8)}));
  EXPECT_EQ(groups[Key(0, 1)], (Group{"n2", Range(0, 8)}));
  EXPECT_EQ(groups[Key(1, 0)], (Group{"n3", Range(0, 8)}));
  EXPECT_EQ(groups[Key(1, 1)], (Group{"n4", Range(0, 8)}));
  // Slots are ordered by (dp_rank, pp_rank, tp_rank).
  EXPECT_TRUE(std::is_sorted(slots->begin(), slots->end(), [](const auto& a, const auto& b) {
    return std::tie(a.dp_rank, a.pp_rank, a.tp_rank) < std::tie(b.dp_rank, b.pp_rank, b.tp_rank);
  }));
  ExpectValidPlacements(nodes, "h100", {*slots});
}

TEST(PlaceGangTest, ReplicaOnOneNodeWhenItFits) {
  // tp 4 × pp 2 = 8 per replica: "whole" (8 free) holds a replica, best fit
  // among nodes with >= 8 free is "whole" (8) over "wider" (16 free).
  std::vector<NodeView> nodes = {
      Node("wider", "h100", Range(0, 16), 16),
      Node("whole", "h100", Range(0, 8)),
  };
  auto slots = PlaceGang(nodes, "h100", GangShape{.tp = 4, .pp = 2, .dp = 1});
  ASSERT_TRUE(slots.has_value());
  auto groups = Groups(*slots);
  EXPECT_EQ(groups[Key(0, 0)], (Group{"whole", {0, 1, 2, 3}}));
  EXPECT_EQ(groups[Key(0, 1)], (Group{"whole", {4, 5, 6, 7}}));
  ExpectValidPlacements(nodes, "h100", {*slots});
}

TEST(PlaceGangTest, FragmentedNodesHoldTp4ButNotTp8) {
  // 4 nodes, each 4 of 8 free: 16 free GPUs, yet no node has 8 for a tp 8
  // group. tp 4 × pp 2: no node holds both groups (8), so the replica spreads
  // over f1, f2 (1 group each, ties by name).
  std::vector<NodeView> nodes;
  for (const char* name : {"f1", "f2", "f3", "f4"}) {
    nodes.push_back(Node(name, "h100", Range(4, 8)));
  }
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 8}).has_value());
  auto slots = PlaceGang(nodes, "h100", GangShape{.tp = 4, .pp = 2, .dp = 1});
  ASSERT_TRUE(slots.has_value());
  auto groups = Groups(*slots);
  EXPECT_EQ(groups[Key(0, 0)], (Group{"f1", Range(4, 8)}));
  EXPECT_EQ(groups[Key(0, 1)], (Group{"f2", Range(4, 8)}));
  // With every GPU free the tp 8 group fits: capacity, not load.
  EXPECT_TRUE(FitsCapacity(nodes, "h100", GangShape{.tp = 8}));
  ExpectValidPlacements(nodes, "h100", {*slots});
}

TEST(PlaceGangTest, OnlyRequestedGpuTypeIsUsed) {
  // "a-node" sorts first and is emptier, but it is an A100.
  std::vector<NodeView> nodes = {
      Node("a-node", "a100", Range(0, 8)),
      Node("h-node", "h100", Range(0, 8)),
  };
  auto slots = PlaceGang(nodes, "h100", GangShape{.tp = 4});
  ASSERT_TRUE(slots.has_value());
  for (const SlotAssignment& slot : *slots) EXPECT_EQ(slot.node, "h-node");
  // tp 4 × dp 3 = 12 > the 8 H100 GPUs, though 16 GPUs exist in total.
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 4, .dp = 3}).has_value());
  EXPECT_FALSE(PlaceGang(nodes, "l40s", GangShape{.tp = 1}).has_value());
  ExpectValidPlacements(nodes, "h100", {*slots});
}

TEST(PlaceGangTest, DrainedAndDownNodesAreSkipped) {
  // "a-drained" and "b-down" would win best fit (fewer free) but are not
  // schedulable; "c-up" is the only candidate.
  std::vector<NodeView> nodes = {
      Node("a-drained", "h100", Range(4, 8), 8, /*schedulable=*/false),
      Node("b-down", "h100", Range(2, 8), 8, /*schedulable=*/false),
      Node("c-up", "h100", Range(0, 8)),
  };
  auto slots = PlaceGang(nodes, "h100", GangShape{.tp = 4});
  ASSERT_TRUE(slots.has_value());
  for (const SlotAssignment& slot : *slots) EXPECT_EQ(slot.node, "c-up");
  // 2 × tp 4 = 8 fits c-up; 3 × tp 4 = 12 would need a drained node.
  EXPECT_TRUE(PlaceGang(nodes, "h100", GangShape{.tp = 4, .dp = 2}).has_value());
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 4, .dp = 3}).has_value());
  // Capacity ignores schedulable: 3 nodes × 8 = 24 ≥ 12.
  EXPECT_TRUE(FitsCapacity(nodes, "h100", GangShape{.tp = 4, .dp = 3}));
  ExpectValidPlacements(nodes, "h100", {*slots});
}

TEST(PlaceGangTest, AllOrNothingWhenShortByOneGroup) {
  // 3 nodes × 8 free = 3 tp 8 groups. dp 4 needs 4 groups: nothing placed.
  std::vector<NodeView> nodes = {
      Node("n1", "h100", Range(0, 8)),
      Node("n2", "h100", Range(0, 8)),
      Node("n3", "h100", Range(0, 8)),
  };
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 8, .pp = 1, .dp = 4}).has_value());
  // tp 8 × pp 2 × dp 2 = 4 groups as well: replica 0 fits, replica 1 does not.
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 8, .pp = 2, .dp = 2}).has_value());
  auto three = PlaceGang(nodes, "h100", GangShape{.tp = 8, .pp = 1, .dp = 3});
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->size(), 24u);
  ExpectValidPlacements(nodes, "h100", {*three});
}

TEST(PlaceGangTest, RejectsNonPositiveShape) {
  std::vector<NodeView> nodes = {Node("n1", "h100", Range(0, 8))};
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 0}).has_value());
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 1, .pp = -1}).has_value());
  EXPECT_FALSE(FitsCapacity(nodes, "h100", GangShape{.tp = 1, .dp = 0}));
  ExpectValidPlacements(nodes, "h100", {});
}

TEST(PlaceGangTest, AbsurdShapeIsRefusedWithoutOverflow) {
  // pp × tp wraps around in 64 bits (2^32 × 2^32); it must not pass for a
  // small best-fit size.
  std::vector<NodeView> nodes = {Node("n1", "h100", Range(0, 8))};
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = int64_t{1} << 32, .pp = int64_t{1} << 32})
                   .has_value());
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 1, .pp = int64_t{1} << 40}).has_value());
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 1, .dp = int64_t{1} << 40}).has_value());
}

TEST(FitsCapacityTest, FullClusterStillHasCapacity) {
  // 4 nodes × 8 GPUs, none free. Capacity is 32 GPUs in 4 tp 8 groups.
  std::vector<NodeView> nodes;
  for (const char* name : {"n1", "n2", "n3", "n4"}) nodes.push_back(Node(name, "h100", {}));
  EXPECT_FALSE(PlaceGang(nodes, "h100", GangShape{.tp = 1}).has_value());
  // 8 × 2 × 2 = 32 = capacity.
  EXPECT_TRUE(FitsCapacity(nodes, "h100", GangShape{.tp = 8, .pp = 2, .dp = 2}));
  // 8 × 2 × 3 = 48 > 32.
  EXPECT_FALSE(FitsCapacity(nodes, "h100", GangShape{.tp = 8, .pp = 2, .dp = 3}));
  // tp 16 would span two nodes: never.
  EXPECT_FALSE(FitsCapacity(nodes, "h100", GangShape{.tp = 16}));
  EXPECT_FALSE(FitsCapacity(nodes, "a100", GangShape{.tp = 1}));
  ExpectValidPlacements(nodes, "h100", {});
}

TEST(PlaceGangTest, OutputIsDeterministicWhateverTheNodeOrder) {
  // Equal nodes tie by name; the input order must not matter.
  std::vector<NodeView> nodes = {
      Node("c", "h100", Range(0, 8)),
      Node("a", "h100", Range(0, 8)),
      Node("b", "h100", Range(0, 8)),
      Node("d", "h100", {0, 1, 2, 3}),
  };
  const GangShape shape{.tp = 4, .pp = 2, .dp = 2};
  auto first = PlaceGang(nodes, "h100", shape);
  std::reverse(nodes.begin(), nodes.end());
  auto second = PlaceGang(nodes, "h100", shape);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(first->size(), second->size());
  for (size_t i = 0; i < first->size(); ++i) {
    EXPECT_EQ((*first)[i].node, (*second)[i].node) << i;
    EXPECT_EQ((*first)[i].gpu_index, (*second)[i].gpu_index) << i;
  }
  // Each replica (8 GPUs) best-fits a whole 8-free node; d (4 free) is too
  // small, so replica 0 → a, replica 1 → b (ties by name).
  auto groups = Groups(*first);
  EXPECT_EQ(groups[Key(0, 0)].first, "a");
  EXPECT_EQ(groups[Key(1, 1)].first, "b");
  ExpectValidPlacements(nodes, "h100", {*first});
}

// Slots as comparable tuples: (node, GPU, tp, pp, dp).
std::vector<std::tuple<std::string, int32_t, int32_t, int32_t, int32_t>> Tuples(
    const std::vector<SlotAssignment>& slots) {
  std::vector<std::tuple<std::string, int32_t, int32_t, int32_t, int32_t>> out;
  for (const SlotAssignment& s : slots) {
    out.emplace_back(s.node, s.gpu_index, s.tp_rank, s.pp_rank, s.dp_rank);
  }
  return out;
}

// A placer that has placed before against PlaceGang (a fresh placer) on
// the nodes as those placements left them: on random pools (fragmented
// free lists, nodes with none, some not schedulable, names out of order)
// and random shapes, the same slots after every placement, failed gangs
// undone, and the counts by free GPUs kept in step. The rules themselves
// are pinned by the PlaceGangTest cases above.
TEST(PoolPlacerTest, PlacesAsPlaceGangDoesAfterEachEarlierPlacement) {
  std::mt19937 rng(20261203);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 300; ++round) {
    std::vector<NodeView> nodes;
    const int n = pick(1, 24);
    for (int i = 0; i < n; ++i) {
      const int32_t total = pick(0, 3) == 0 ? 4 : 8;
      std::vector<int32_t> free;
      for (int32_t g = 0; g < total; ++g) {
        if (pick(0, 2) != 0) free.push_back(g);
      }
      nodes.push_back(Node("n" + std::to_string(pick(0, 999)) + "-" + std::to_string(i), "h100",
                           std::move(free), total, pick(0, 9) != 0));
    }
    std::vector<const NodeView*> pool;
    std::vector<int64_t> by_free;
    for (const NodeView& node : nodes) {
      if (!node.schedulable) continue;
      pool.push_back(&node);
      if (by_free.size() <= node.free_gpus.size()) by_free.resize(node.free_gpus.size() + 1, 0);
      by_free[node.free_gpus.size()]++;
    }
    PoolPlacer placer(pool, &by_free);
    std::vector<NodeView> now = nodes;  // PlaceGang's view: free lists as placed
    for (int step = 0; step < 12; ++step) {
      const GangShape shape{.tp = std::vector<int64_t>{1, 2, 3, 4, 8}[pick(0, 4)],
                            .pp = pick(1, 3),
                            .dp = pick(1, 4)};
      std::optional<std::vector<SlotAssignment>> want = PlaceGang(now, "h100", shape);
      std::optional<std::vector<SlotAssignment>> got = placer.Place(shape);
      ASSERT_EQ(want.has_value(), got.has_value())
          << "round " << round << " step " << step << " tp " << shape.tp << " pp " << shape.pp
          << " dp " << shape.dp;
      if (!want) continue;
      ASSERT_EQ(Tuples(*want), Tuples(*got)) << "round " << round << " step " << step;
      for (const SlotAssignment& slot : *want) {
        for (NodeView& node : now) {
          if (node.name != slot.node) continue;
          node.free_gpus.erase(
              std::find(node.free_gpus.begin(), node.free_gpus.end(), slot.gpu_index));
        }
      }
      std::vector<int64_t> counted(by_free.size(), 0);
      for (const NodeView& node : now) {
        if (node.schedulable) counted[node.free_gpus.size()]++;
      }
      ASSERT_EQ(counted, by_free) << "round " << round << " step " << step;
    }
  }
}

}  // namespace
}  // namespace berth::daemon
