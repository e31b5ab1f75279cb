#include "daemon/queue_policy.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daemon/placement.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr int64_t kNow = 1'000'000;

NodeView Node(std::string name, std::string gpu_type, std::vector<int32_t> free_gpus,
              bool schedulable = true) {
  return NodeView{.name = std::move(name),
                  .gpu_type = std::move(gpu_type),
                  .free_gpus = std::move(free_gpus),
                  .total_gpus = 8,
                  .schedulable = schedulable};
}

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> out;
  for (int32_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

PendingJob Job(int64_t id, int32_t priority, int64_t submit, std::string gpu_type, GangShape shape,
               int64_t max_runtime_ms) {
  return PendingJob{.id = id,
                    .priority = priority,
                    .submit_time_ms = submit,
                    .gpu_type = std::move(gpu_type),
                    .shape = shape,
                    .max_runtime_ms = max_runtime_ms};
}

RunningJob Running(int64_t id, std::string gpu_type, int64_t gpus, int64_t end_by_ms) {
  return RunningJob{
      .id = id, .gpu_type = std::move(gpu_type), .gpus = gpus, .end_by_ms = end_by_ms};
}

const Decision* Placed(const PassResult& result, int64_t id) {
  for (const Decision& d : result.placed) {
    if (d.job_id == id) return &d;
  }
  return nullptr;
}

const Waiting* Waits(const PassResult& result, int64_t id) {
  for (const Waiting& w : result.waiting) {
    if (w.job_id == id) return &w;
  }
  return nullptr;
}

std::vector<int64_t> PlacedIds(const PassResult& result) {
  std::vector<int64_t> ids;
  for (const Decision& d : result.placed) ids.push_back(d.job_id);
  return ids;
}

// Invariant: every pending job is either placed or waiting, exactly once,
// with distinct 1-based positions; a placed job gets exactly its GPU count;
// no GPU is assigned twice across all decisions; each assigned GPU was free
// on a schedulable node of the job's GPU type.
void ExpectValidPass(const std::vector<NodeView>& nodes, const std::vector<PendingJob>& pending,
                     const PassResult& result) {
  std::map<int64_t, const PendingJob*> jobs;
  for (const PendingJob& job : pending) jobs[job.id] = &job;
  std::map<std::string, const NodeView*> by_name;
  for (const NodeView& node : nodes) by_name[node.name] = &node;
  EXPECT_EQ(result.placed.size() + result.waiting.size(), pending.size());
  std::set<int64_t> decided;
  std::set<std::pair<std::string, int32_t>> used;
  for (const Decision& d : result.placed) {
    EXPECT_TRUE(decided.insert(d.job_id).second) << "job " << d.job_id << " twice";
    ASSERT_TRUE(jobs.count(d.job_id)) << "unknown job " << d.job_id;
    const PendingJob& job = *jobs[d.job_id];
    EXPECT_EQ(static_cast<int64_t>(d.slots.size()), job.shape.gpus()) << "job " << d.job_id;
    for (const SlotAssignment& slot : d.slots) {
      EXPECT_TRUE(used.insert({slot.node, slot.gpu_index}).second)
          << slot.node << ":" << slot.gpu_index << " assigned twice";
      ASSERT_TRUE(by_name.count(slot.node)) << "unknown node " << slot.node;
      const NodeView& node = *by_name[slot.node];
      EXPECT_EQ(node.gpu_type, job.gpu_type) << slot.node;
      EXPECT_TRUE(node.schedulable) << slot.node;
      EXPECT_NE(std::find(node.free_gpus.begin(), node.free_gpus.end(), slot.gpu_index),
                node.free_gpus.end())
          << slot.node << ":" << slot.gpu_index << " was not free";
    }
  }
  std::set<int32_t> positions;
  for (const Waiting& w : result.waiting) {
    EXPECT_TRUE(decided.insert(w.job_id).second) << "job " << w.job_id << " twice";
    EXPECT_TRUE(jobs.count(w.job_id)) << "unknown job " << w.job_id;
    EXPECT_GE(w.position, 1);
    EXPECT_LE(w.position, static_cast<int32_t>(pending.size()));
    EXPECT_TRUE(positions.insert(w.position).second) << "position " << w.position;
  }
}

TEST(SchedulePassTest, OrdersByPriorityThenSubmitTimeThenId) {
  // One node, 8 free. Each job is tp 4. Queue order: 2 (priority 5), then
  // 3 and 4 (priority 0, submit 5; id breaks the tie), then 1 (submit 10).
  // 2 and 3 fill the node; 4 is the head; 1 waits behind it.
  std::vector<NodeView> nodes = {Node("n1", "h100", Range(0, 8))};
  std::vector<PendingJob> pending = {
      Job(1, 0, 10, "h100", {.tp = 4}, 3000),
      Job(2, 5, 20, "h100", {.tp = 4}, 2000),
      Job(4, 0, 5, "h100", {.tp = 4}, 1000),
      Job(3, 0, 5, "h100", {.tp = 4}, 1000),
  };
  PassResult result = SchedulePass(pending, {}, nodes, kNow);
  EXPECT_EQ(PlacedIds(result), (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(result.placed[0].backfilled);
  EXPECT_FALSE(result.placed[1].backfilled);
  const Waiting* head = Waits(result, 4);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->position, 3);
  EXPECT_EQ(head->reason, WaitReason::kNotEnoughFree);
  // Jobs placed in this pass end at now + max runtime: 3 frees 4 GPUs at
  // now+1000, enough for the head's 4.
  EXPECT_EQ(head->earliest_start_ms, kNow + 1000);
  const Waiting* last = Waits(result, 1);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->position, 4);
  EXPECT_EQ(last->reason, WaitReason::kNotEnoughFree);
  EXPECT_EQ(last->free_gpus, 0);
  // With the head's 4 reserved it needs 8: 4 at now+1000, 8 at now+2000.
  EXPECT_EQ(last->earliest_start_ms, kNow + 2000);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, EasyBackfillAroundBlockedHead) {
  // Three 8-GPU nodes. Running: R1 all of a (ends now+1000), R2 b0-3 (ends
  // now+3000), R3 c0-5 (ends now+9000). Free now: b4-7 + c6-7 = 6.
  // Head H = tp 8 × pp 2 = 16 GPUs. Shadow: 6 → 14 at +1000 → 18 at +3000,
  // so shadow = now+3000 and extra = 18 - 16 = 2.
  std::vector<NodeView> nodes = {
      Node("a", "h100", {}),
      Node("b", "h100", Range(4, 8)),
      Node("c", "h100", {6, 7}),
  };
  std::vector<RunningJob> running = {
      Running(101, "h100", 8, kNow + 1000),
      Running(102, "h100", 4, kNow + 3000),
      Running(103, "h100", 6, kNow + 9000),
  };
  std::vector<PendingJob> pending = {
      Job(10, 0, 1, "h100", {.tp = 8, .pp = 2}, 10000),  // head
      Job(11, 0, 2, "h100", {.tp = 4}, 5000),            // ends +5000 > +3000, 4 > 2
      Job(12, 0, 3, "h100", {.tp = 4}, 2000),            // ends +2000 <= +3000
      Job(13, 0, 4, "h100", {.tp = 2}, 100000),          // long, but 2 <= extra 2
      Job(14, 0, 5, "h100", {.tp = 1}, 100000),          // nothing left free
  };
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  EXPECT_EQ(PlacedIds(result), (std::vector<int64_t>{12, 13}));

  const Waiting* head = Waits(result, 10);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->reason, WaitReason::kNotEnoughFree);
  EXPECT_EQ(head->earliest_start_ms, kNow + 3000);
  EXPECT_EQ(head->free_gpus, 6);

  const Waiting* blocked = Waits(result, 11);
  ASSERT_NE(blocked, nullptr);
  EXPECT_EQ(blocked->reason, WaitReason::kBlockedByHead);
  EXPECT_EQ(blocked->blocked_by, 10);
  EXPECT_EQ(blocked->position, 2);
  // Needs 4 + the head's 16 = 20: 6 → 14 → 18 → 24 at now+9000.
  EXPECT_EQ(blocked->earliest_start_ms, kNow + 9000);

  const Decision* short_job = Placed(result, 12);
  ASSERT_NE(short_job, nullptr);
  EXPECT_TRUE(short_job->backfilled);
  for (const SlotAssignment& slot : short_job->slots) EXPECT_EQ(slot.node, "b");
  const Decision* within_extra = Placed(result, 13);
  ASSERT_NE(within_extra, nullptr);
  EXPECT_TRUE(within_extra->backfilled);
  for (const SlotAssignment& slot : within_extra->slots) EXPECT_EQ(slot.node, "c");

  const Waiting* starved = Waits(result, 14);
  ASSERT_NE(starved, nullptr);
  EXPECT_EQ(starved->reason, WaitReason::kNotEnoughFree);
  EXPECT_EQ(starved->free_gpus, 0);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, ExtraGpusShrinkAsLongJobsBackfill) {
  // a: all 8 busy until now+1000; b: 8 free. Head tp 4 × pp 3 = 12 > 8 free.
  // At now+1000: 8 + 8 = 16 ≥ 12, so shadow = now+1000, extra = 16 - 12 = 4.
  // Two long tp 2 jobs use the extra (4 → 2 → 0); a third long one, still
  // placeable on b's last 4 GPUs, must wait; a short one (ends +500) runs.
  std::vector<NodeView> nodes = {Node("a", "h100", {}), Node("b", "h100", Range(0, 8))};
  std::vector<RunningJob> running = {Running(100, "h100", 8, kNow + 1000)};
  std::vector<PendingJob> pending = {
      Job(1, 0, 1, "h100", {.tp = 4, .pp = 3}, 60000),
      Job(2, 0, 2, "h100", {.tp = 2}, 60000),
      Job(3, 0, 3, "h100", {.tp = 2}, 60000),
      Job(4, 0, 4, "h100", {.tp = 2}, 60000),
      Job(5, 0, 5, "h100", {.tp = 2}, 500),
  };
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  EXPECT_EQ(PlacedIds(result), (std::vector<int64_t>{2, 3, 5}));
  for (const Decision& d : result.placed) EXPECT_TRUE(d.backfilled) << d.job_id;
  const Waiting* blocked = Waits(result, 4);
  ASSERT_NE(blocked, nullptr);
  EXPECT_EQ(blocked->reason, WaitReason::kBlockedByHead);
  EXPECT_EQ(blocked->blocked_by, 1);
  EXPECT_EQ(blocked->free_gpus, 4);  // 8 - 2 - 2
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, FragmentedWhenFreeCountSufficesButNoNodeHoldsTheGroup) {
  // f1 and f2 each have GPUs 4-7 free: 8 free, but tp 8 needs one node.
  // Counts already suffice, so the head waits for the next release (R at
  // now+1000). Extra at that time: 8 + 8 - 8 = 8, so a long tp 4 job may
  // backfill.
  std::vector<NodeView> nodes = {Node("f1", "h100", Range(4, 8)), Node("f2", "h100", Range(4, 8))};
  std::vector<RunningJob> running = {Running(100, "h100", 8, kNow + 1000)};
  std::vector<PendingJob> pending = {
      Job(1, 0, 1, "h100", {.tp = 8}, 60000),
      Job(2, 0, 2, "h100", {.tp = 4}, 60000),
  };
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  const Waiting* head = Waits(result, 1);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->reason, WaitReason::kFragmented);
  EXPECT_EQ(head->free_gpus, 8);
  EXPECT_EQ(head->earliest_start_ms, kNow + 1000);
  const Decision* backfilled = Placed(result, 2);
  ASSERT_NE(backfilled, nullptr);
  EXPECT_TRUE(backfilled->backfilled);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, NotEnoughFreeReason) {
  // 6 of 8 busy until now+500: 2 free < 4 needed; at now+500, 8 ≥ 4.
  std::vector<NodeView> nodes = {Node("n1", "h100", {6, 7})};
  std::vector<RunningJob> running = {Running(100, "h100", 6, kNow + 500)};
  std::vector<PendingJob> pending = {Job(1, 0, 1, "h100", {.tp = 4}, 1000)};
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  ASSERT_EQ(result.waiting.size(), 1u);
  EXPECT_EQ(result.waiting[0].reason, WaitReason::kNotEnoughFree);
  EXPECT_EQ(result.waiting[0].free_gpus, 2);
  EXPECT_EQ(result.waiting[0].earliest_start_ms, kNow + 500);
  EXPECT_EQ(result.waiting[0].position, 1);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, NoSchedulableNodeReason) {
  // Both H100 nodes are drained or down (with free GPUs that must not be
  // used); the L40S pool has no nodes at all. The A100 pool is unaffected.
  std::vector<NodeView> nodes = {
      Node("h-drained", "h100", Range(0, 8), /*schedulable=*/false),
      Node("h-down", "h100", Range(0, 8), /*schedulable=*/false),
      Node("a1", "a100", Range(0, 8)),
  };
  std::vector<PendingJob> pending = {
      Job(1, 9, 1, "h100", {.tp = 1}, 1000),
      Job(2, 9, 2, "l40s", {.tp = 1}, 1000),
      Job(3, 0, 3, "a100", {.tp = 1}, 1000),
  };
  PassResult result = SchedulePass(pending, {}, nodes, kNow);
  for (int64_t id : {1, 2}) {
    const Waiting* w = Waits(result, id);
    ASSERT_NE(w, nullptr) << id;
    EXPECT_EQ(w->reason, WaitReason::kNoSchedulableNode) << id;
    EXPECT_EQ(w->free_gpus, 0) << id;
    EXPECT_EQ(w->earliest_start_ms, 0) << id;
  }
  ASSERT_EQ(PlacedIds(result), (std::vector<int64_t>{3}));
  EXPECT_FALSE(result.placed[0].backfilled);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, SeparatePoolsDoNotBlockEachOther) {
  // A100 pool: 4 of 8 free, R frees 4 at now+1000. Head A (tp 8): shadow
  // now+1000, extra 4 + 4 - 8 = 0. B (A100, tp 2, long) is blocked. C is an
  // H100 job later in the queue: its pool has no head, so it is placed
  // normally, not as a backfill.
  std::vector<NodeView> nodes = {Node("a1", "a100", Range(4, 8)), Node("h1", "h100", Range(0, 8))};
  std::vector<RunningJob> running = {Running(100, "a100", 4, kNow + 1000)};
  std::vector<PendingJob> pending = {
      Job(1, 10, 1, "a100", {.tp = 8}, 60000),
      Job(2, 0, 2, "a100", {.tp = 2}, 60000),
      Job(3, 0, 3, "h100", {.tp = 8}, 60000),
  };
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  ASSERT_NE(Waits(result, 1), nullptr);
  EXPECT_EQ(Waits(result, 1)->earliest_start_ms, kNow + 1000);
  const Waiting* blocked = Waits(result, 2);
  ASSERT_NE(blocked, nullptr);
  EXPECT_EQ(blocked->reason, WaitReason::kBlockedByHead);
  EXPECT_EQ(blocked->blocked_by, 1);
  const Decision* other_pool = Placed(result, 3);
  ASSERT_NE(other_pool, nullptr);
  EXPECT_FALSE(other_pool->backfilled);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, HeadEarliestStartIsEndOfJobThatFreesEnough) {
  // All 8 busy: R3 4 GPUs until +300, R1 2 until +100, R2 2 until +200
  // (given out of order). Head needs 4: 0 → 2 (+100) → 4 (+200): R2's end.
  std::vector<NodeView> nodes = {Node("n1", "h100", {})};
  std::vector<RunningJob> running = {
      Running(3, "h100", 4, kNow + 300),
      Running(1, "h100", 2, kNow + 100),
      Running(2, "h100", 2, kNow + 200),
  };
  std::vector<PendingJob> pending = {Job(7, 0, 1, "h100", {.tp = 4}, 1000)};
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  ASSERT_EQ(result.waiting.size(), 1u);
  EXPECT_EQ(result.waiting[0].earliest_start_ms, kNow + 200);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, UnknownRuntimeMeansUnknownShadow) {
  // P (placed first, max runtime 0 = unknown) takes 4 of 8 and never ends
  // as far as the pass knows. Head H (tp 8) has no shadow time: earliest 0.
  // Extra = free 4 + running 4 - 8 = 0, so even a short job S waits.
  std::vector<NodeView> nodes = {Node("n1", "h100", Range(0, 8))};
  std::vector<PendingJob> pending = {
      Job(1, 5, 1, "h100", {.tp = 4}, 0),
      Job(2, 0, 2, "h100", {.tp = 8}, 1000),
      Job(3, 0, 3, "h100", {.tp = 2}, 10),
  };
  PassResult result = SchedulePass(pending, {}, nodes, kNow);
  EXPECT_EQ(PlacedIds(result), (std::vector<int64_t>{1}));
  ASSERT_NE(Waits(result, 2), nullptr);
  EXPECT_EQ(Waits(result, 2)->earliest_start_ms, 0);
  const Waiting* s = Waits(result, 3);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->reason, WaitReason::kBlockedByHead);
  EXPECT_EQ(s->earliest_start_ms, 0);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, UnknownShadowStillBackfillsWhatIsLeftOverAtTheEnd) {
  // a: 4 busy (unbounded, end 0), 4 free; b: 8 busy (unbounded). Head tp 8:
  // no shadow. Once everything ends: 4 + 12 = 16, extra = 16 - 8 = 8, so a
  // tp 2 job can start without ever delaying the head.
  std::vector<NodeView> nodes = {Node("a", "h100", Range(4, 8)), Node("b", "h100", {})};
  std::vector<RunningJob> running = {Running(100, "h100", 4, 0), Running(101, "h100", 8, 0)};
  std::vector<PendingJob> pending = {
      Job(1, 0, 1, "h100", {.tp = 8}, 1000),
      Job(2, 0, 2, "h100", {.tp = 2}, 60000),
  };
  PassResult result = SchedulePass(pending, running, nodes, kNow);
  ASSERT_NE(Waits(result, 1), nullptr);
  EXPECT_EQ(Waits(result, 1)->earliest_start_ms, 0);
  const Decision* backfilled = Placed(result, 2);
  ASSERT_NE(backfilled, nullptr);
  EXPECT_TRUE(backfilled->backfilled);
  ExpectValidPass(nodes, pending, result);
}

TEST(SchedulePassTest, JobBeyondSchedulableCapacityDoesNotBecomeHead) {
  // n2 is drained, so the pool's schedulable capacity is n1's 8 GPUs. J
  // (tp 8 × pp 2 = 16) cannot run until n2 returns; it waits without
  // blocking K, which is placed as a normal (non-backfill) job.
  std::vector<NodeView> nodes = {Node("n1", "h100", Range(0, 8)),
                                 Node("n2", "h100", Range(0, 8), /*schedulable=*/false)};
  std::vector<PendingJob> pending = {
      Job(1, 0, 1, "h100", {.tp = 8, .pp = 2}, 1000),
      Job(2, 0, 2, "h100", {.tp = 2}, 60000),
  };
  PassResult result = SchedulePass(pending, {}, nodes, kNow);
  const Waiting* big = Waits(result, 1);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->reason, WaitReason::kNotEnoughFree);
  EXPECT_EQ(big->free_gpus, 8);
  EXPECT_EQ(big->earliest_start_ms, 0);
  const Decision* small = Placed(result, 2);
  ASSERT_NE(small, nullptr);
  EXPECT_FALSE(small->backfilled);
  ExpectValidPass(nodes, pending, result);
}

// Aging (teams file aging.reserve_after): a job that has waited long gets
// a reservation of its own, so backfill that would delay it stops.
TEST(SchedulePassTest, AnAgedJobGetsAReservationThatBackfillMustRespect) {
  // 4 nodes of 8: n0, n1, n2 are busy until +60, +120, +180 minutes; n3 is
  // free. H (priority 2, 12 GPUs) cannot start: its shadow is +60 (8 free
  // + 8 released), extra 16 - 12 = 4. X (priority 1, 20 GPUs, submitted
  // 2 hours ago) cannot start either. S (priority 0, 4 GPUs, 10 hours) fits
  // in H's 4 extra GPUs, so plain EASY backfills it.
  constexpr int64_t kMin = 60'000;
  const std::vector<NodeView> nodes = {Node("n0", "h100", {}), Node("n1", "h100", {}),
                                       Node("n2", "h100", {}), Node("n3", "h100", Range(0, 8))};
  std::vector<RunningJob> running = {Running(1, "h100", 8, kNow + 60 * kMin),
                                     Running(2, "h100", 8, kNow + 120 * kMin),
                                     Running(3, "h100", 8, kNow + 180 * kMin)};
  std::vector<PendingJob> pending = {
      Job(10, 2, kNow, "h100", {.tp = 4, .dp = 3}, 60 * kMin),
      Job(11, 1, kNow - 120 * kMin, "h100", {.tp = 4, .dp = 5}, 60 * kMin),
      Job(12, 0, kNow, "h100", {.tp = 4}, 600 * kMin)};
  for (PendingJob& job : pending) job.team = "t";
  for (RunningJob& job : running) job.team = "t";
  // t's nominal is beyond the pool: quota never holds a job here.
  TeamsConfig config{.teams = {TeamSpec{.name = "t", .quota = {{"h100", {.nominal = 100}}}}}};
  PassResult easy = SchedulePass(pending, running, nodes, kNow, {.config = &config});
  ExpectValidPass(nodes, pending, easy);
  EXPECT_EQ(PlacedIds(easy), std::vector<int64_t>{12});
  // With aging after 1 hour, X (waiting 2) reserves behind H: both need
  // 12 + 20 = 32 GPUs, free at +180, with nothing left over. S would hold
  // 4 of them for 10 hours: it waits, blocked by X.
  config.reserve_after_ms = 60 * kMin;
  PassResult aged = SchedulePass(pending, running, nodes, kNow, {.config = &config});
  ExpectValidPass(nodes, pending, aged);
  EXPECT_TRUE(aged.placed.empty());
  ASSERT_NE(Waits(aged, 11), nullptr);
  EXPECT_EQ(Waits(aged, 11)->earliest_start_ms, kNow + 180 * kMin);
  ASSERT_NE(Waits(aged, 12), nullptr);
  EXPECT_EQ(Waits(aged, 12)->reason, WaitReason::kBlockedByHead);
  EXPECT_EQ(Waits(aged, 12)->blocked_by, 11);
  // A job that ends by both shadow times still backfills.
  pending[2].max_runtime_ms = 50 * kMin;
  PassResult short_job = SchedulePass(pending, running, nodes, kNow, {.config = &config});
  EXPECT_EQ(PlacedIds(short_job), std::vector<int64_t>{12});
  // X not yet aged (submitted 30 minutes ago): plain EASY again.
  pending[1].submit_time_ms = kNow - 30 * kMin;
  pending[2].max_runtime_ms = 600 * kMin;
  EXPECT_EQ(PlacedIds(SchedulePass(pending, running, nodes, kNow, {.config = &config})),
            std::vector<int64_t>{12});
}

// One pass places many jobs on one placer per pool: each job must land where
// PlaceGang puts it on the nodes as the jobs before it left them, with and
// without teams, across two pools and mixed shapes (with or without a
// blocked head in the way).
TEST(SchedulePassTest, APassPlacesEachJobAsPlaceGangDoesAfterTheOnesBefore) {
  std::vector<NodeView> nodes;
  for (int i = 0; i < 12; ++i) {
    // Uneven free lists, so best fit and spread both come into play.
    std::vector<int32_t> free = Range(i % 3, 8);
    if (i % 4 == 1) free.erase(free.begin() + 1);
    nodes.push_back(Node("n" + std::to_string(100 - i), i % 5 == 0 ? "a100" : "h100", free));
  }
  std::vector<PendingJob> pending;
  const GangShape shapes[] = {{.tp = 1},          {.tp = 2, .pp = 2}, {.tp = 4},
                              {.tp = 1, .dp = 3}, {.tp = 8},          {.tp = 2, .dp = 2}};
  for (int64_t id = 1; id <= 30; ++id) {
    pending.push_back(Job(id, 0, id, id % 4 == 0 ? "a100" : "h100", shapes[id % 6], 600'000));
    pending.back().team = "t";
  }
  TeamsConfig config;
  config.teams.push_back(TeamSpec{
      .name = "t",
      .quota = {{"h100", TeamQuota{.nominal = 1000}}, {"a100", TeamQuota{.nominal = 1000}}}});
  for (const bool teams : {false, true}) {
    SCOPED_TRACE(teams ? "with teams" : "without teams");
    const PassResult result = SchedulePass(
        pending, {}, nodes, kNow, teams ? TeamPassInput{.config = &config} : TeamPassInput{});
    ExpectValidPass(nodes, pending, result);
    ASSERT_GE(result.placed.size(), 10u);
    ASSERT_FALSE(result.waiting.empty());  // the pools fill up before the queue ends
    std::vector<NodeView> left = nodes;
    for (const Decision& d : result.placed) {
      const PendingJob& job = pending[static_cast<size_t>(d.job_id - 1)];
      const std::optional<std::vector<SlotAssignment>> expected =
          PlaceGang(left, job.gpu_type, job.shape);
      ASSERT_TRUE(expected.has_value()) << "job " << d.job_id;
      ASSERT_EQ(expected->size(), d.slots.size()) << "job " << d.job_id;
      for (size_t i = 0; i < d.slots.size(); ++i) {
        EXPECT_EQ(d.slots[i].node, (*expected)[i].node) << "job " << d.job_id << " slot " << i;
        EXPECT_EQ(d.slots[i].gpu_index, (*expected)[i].gpu_index)
            << "job " << d.job_id << " slot " << i;
        for (NodeView& node : left) {
          if (node.name != d.slots[i].node) continue;
          std::erase(node.free_gpus, d.slots[i].gpu_index);
        }
      }
    }
    // What waits for room does not fit on what the placements left.
    for (const Waiting& w : result.waiting) {
      if (w.reason == WaitReason::kBlockedByHead) continue;
      const PendingJob& job = pending[static_cast<size_t>(w.job_id - 1)];
      EXPECT_FALSE(PlaceGang(left, job.gpu_type, job.shape).has_value()) << "job " << w.job_id;
    }
  }
}

}  // namespace
}  // namespace berth::daemon
