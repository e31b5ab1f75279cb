// Admission alone: planner requests and pools built in code, no protobuf.
#include "daemon/admission.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"

namespace berth::daemon {
namespace {

AdmissionRequest Train(const char* model, std::string key = "") {
  AdmissionRequest request;
  request.plan.model = planner::FindModel(model).value();
  request.cache_key = std::move(key);
  return request;
}

PoolInfo Pool(const char* type, int64_t nodes, int64_t per_node, int64_t free) {
  return PoolInfo{.gpu_type = type,
                  .gpu = planner::FindGpu(type).value(),
                  .total_gpus = nodes * per_node,
                  .free_gpus = free,
                  .gpus_per_node = per_node};
}

// Every GPU of `nodes` nodes free: the capacity view admission checks against.
std::vector<NodeView> Capacity(const char* type, int nodes, int per_node) {
  std::vector<NodeView> views;
  for (int n = 0; n < nodes; ++n) {
    NodeView view{.name = "n" + std::to_string(n), .gpu_type = type, .total_gpus = per_node};
    for (int i = 0; i < per_node; ++i) view.free_gpus.push_back(i);
    views.push_back(view);
  }
  return views;
}

TEST(AdmissionTest, SevenBTrainingIsAdmittedToTheOnlyPool) {
  const AdmissionResult r = Admit(Train("llama-2-7b"), {Pool("h100-80gb", 2, 8, 16)},
                                  Capacity("h100-80gb", 2, 8), nullptr);
  ASSERT_TRUE(r.admitted) << r.reason;
  EXPECT_EQ(r.refusal, RefusalKind::kNone);
  const PoolVerdict& v = r.pools[r.chosen];
  ASSERT_TRUE(v.result.has_value());
  EXPECT_TRUE(v.result->feasible);
  // The gang the scheduler places is the plan's split.
  EXPECT_EQ(v.shape.gpus(), v.result->best.gpus);
  EXPECT_EQ(v.request.max_gpus, 16);  // the pool's capacity, not the stand-in's
}

// Issue 17: a spec's pace (objective tokens/days or tokens_per_second)
// sizes the gang submit places, not the fewest GPUs that hold the model:
// at one pace, about 8 GPUs for 7B and 80 for 70B (6·N FLOPs a token).
TEST(AdmissionTest, APaceSizesTheGangAboutEightForSevenBAndEightyForSeventyB) {
  const planner::GpuType h100 = planner::FindGpu("h100-80gb").value();
  AdmissionRequest seven = Train("llama-2-7b");
  // 8 GPUs at 40% of the bf16 peak for 6.74e9 parameters: ~78,000 tokens/s.
  seven.plan.tokens_per_second = 0.999 * 8 * h100.peak_bf16_flops * 0.40 / (6.0 * 6.74e9);
  AdmissionRequest seventy = seven;
  seventy.plan.model = planner::FindModel("llama-2-70b").value();
  const std::vector<PoolInfo> pools = {Pool("h100-80gb", 16, 8, 128)};
  const AdmissionResult a = Admit(seven, pools, Capacity("h100-80gb", 16, 8), nullptr);
  const AdmissionResult b = Admit(seventy, pools, Capacity("h100-80gb", 16, 8), nullptr);
  ASSERT_TRUE(a.admitted) << a.reason;
  ASSERT_TRUE(b.admitted) << b.reason;
  EXPECT_EQ(a.pools[a.chosen].shape.gpus(), 8);
  EXPECT_GE(b.pools[b.chosen].shape.gpus(), 72);
  EXPECT_LE(b.pools[b.chosen].shape.gpus(), 104);
  // Without a pace, the fewest GPUs that hold it: far fewer.
  const AdmissionResult fewest =
      Admit(Train("llama-2-70b"), pools, Capacity("h100-80gb", 16, 8), nullptr);
  ASSERT_TRUE(fewest.admitted) << fewest.reason;
  EXPECT_LT(fewest.pools[fewest.chosen].shape.gpus(), 40);
}

// Issue 13 (Kueue #5243): with teams, a job whose plan needs more GPUs than
// its team's ceiling is planned again within it, and refused when nothing
// fits there, with the numbers and the nearest change.
TEST(AdmissionTest, APlanBeyondTheTeamsCeilingIsRefusedWithTheNumbers) {
  const planner::GpuType h100 = planner::FindGpu("h100-80gb").value();
  AdmissionRequest paced = Train("llama-2-70b", "paced");
  // About 80 GPUs' pace (see above): more than the 40 prod may use.
  paced.plan.tokens_per_second = 0.999 * 80 * h100.peak_bf16_flops * 0.40 / (6.0 * 6.9e10);
  paced.team = "prod";
  paced.team_ceilings["h100-80gb"] =
      TeamCeiling{.gpus = 40, .why = "nominal 32 + borrowing limit 8"};
  const std::vector<PoolInfo> pools = {Pool("h100-80gb", 16, 8, 128)};
  PlanCache cache(16);
  const AdmissionResult over = Admit(paced, pools, Capacity("h100-80gb", 16, 8), &cache);
  ASSERT_FALSE(over.admitted);
  EXPECT_EQ(over.refusal, RefusalKind::kTeamReach);
  EXPECT_TRUE(absl::StrContains(
      over.reason,
      "team prod may use at most 40 h100-80gb (nominal 32 + borrowing limit 8); this job needs "))
      << over.reason;
  EXPECT_TRUE(absl::StrContains(over.reason, "Would fit with more than 40 GPUs")) << over.reason;
  // A ceiling of the whole pool admits the same plan.
  paced.team_ceilings["h100-80gb"].gpus = 128;
  const AdmissionResult within = Admit(paced, pools, Capacity("h100-80gb", 16, 8), &cache);
  ASSERT_TRUE(within.admitted) << within.reason;
  EXPECT_GT(within.pools[within.chosen].shape.gpus(), 40);

  // 70B training never fits 2 H100s: refused, naming the team, the type,
  // the GPUs the plan needs and the ceiling.
  AdmissionRequest tiny = Train("llama-2-70b", "tiny");
  tiny.team = "prod";
  tiny.team_ceilings["h100-80gb"] = TeamCeiling{.gpus = 2, .why = "nominal 2 + borrowing limit 0"};
  const AdmissionResult refused = Admit(tiny, pools, Capacity("h100-80gb", 16, 8), &cache);
  ASSERT_FALSE(refused.admitted);
  EXPECT_EQ(refused.refusal, RefusalKind::kTeamReach);
  EXPECT_STREQ(RefusalKindName(refused.refusal), "team_reach");
  EXPECT_TRUE(
      absl::StrContains(refused.reason,
                        "team prod may use at most 2 h100-80gb (nominal 2 + borrowing limit 0); "
                        "this job needs "))
      << refused.reason;
  EXPECT_TRUE(absl::StrContains(refused.reason, "(TP ")) << refused.reason;
  // The same job without the ceiling is admitted: the cache keeps the two
  // verdicts apart.
  AdmissionRequest free = tiny;
  free.team_ceilings.clear();
  EXPECT_TRUE(Admit(free, pools, Capacity("h100-80gb", 16, 8), &cache).admitted);
  EXPECT_FALSE(Admit(tiny, pools, Capacity("h100-80gb", 16, 8), &cache).admitted);
}

TEST(AdmissionTest, NoPoolMeansNoGpus) {
  const AdmissionResult r = Admit(Train("llama-2-7b"), {}, {}, nullptr);
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.refusal, RefusalKind::kNoGpus);
  EXPECT_TRUE(absl::StrContains(r.reason, "no node has registered")) << r.reason;
  AdmissionRequest typed = Train("llama-2-7b");
  typed.gpu_type = "a100-80gb";
  const AdmissionResult t =
      Admit(typed, {Pool("h100-80gb", 1, 8, 8)}, Capacity("h100-80gb", 1, 8), nullptr);
  EXPECT_EQ(t.refusal, RefusalKind::kNoGpus);
  EXPECT_TRUE(absl::StrContains(t.reason, "no GPUs of type a100-80gb")) << t.reason;
}

// Issue 17: `berth plan --gpu h100` was accepted but a spec's `gpu_type:
// h100` was refused; berthd now resolves names as the planner does.
TEST(AdmissionTest, GpuTypeAliasesNameTheCataloguedPool) {
  AdmissionRequest typed = Train("llama-2-7b");
  typed.gpu_type = "H100";
  const AdmissionResult r = Admit(typed, {Pool("a100-80gb", 1, 8, 8), Pool("h100-80gb", 1, 8, 8)},
                                  Capacity("h100-80gb", 1, 8), nullptr);
  ASSERT_TRUE(r.admitted) << r.reason;
  EXPECT_EQ(r.pools[r.chosen].pool.gpu_type, "h100-80gb");
  EXPECT_EQ(r.pools.size(), 1u);  // only the pool asked for was judged
}

TEST(AdmissionTest, AnUnknownGpuTypeSuggestsTheNearestAndListsThePools) {
  AdmissionRequest typed = Train("llama-2-7b");
  typed.gpu_type = "h100x";
  const AdmissionResult r = Admit(typed, {Pool("a100-80gb", 1, 8, 8), Pool("h100-80gb", 2, 8, 16)},
                                  Capacity("h100-80gb", 2, 8), nullptr);
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.refusal, RefusalKind::kNoGpus);
  EXPECT_EQ(r.reason,
            "the cluster has no GPUs of type h100x (an unknown GPU type; did you mean "
            "h100-80gb?); its pools: a100-80gb (8 GPUs), h100-80gb (16 GPUs)");
}

TEST(AdmissionTest, OneGpuIsNotOneGpus) {
  const AdmissionResult r = Admit(Train("llama-3.1-405b"), {Pool("a100-40gb", 1, 1, 1)},
                                  Capacity("a100-40gb", 1, 1), nullptr);
  EXPECT_FALSE(r.admitted);
  EXPECT_TRUE(absl::StrContains(r.reason, "a100-40gb (1 GPU): ")) << r.reason;
  EXPECT_FALSE(absl::StrContains(r.reason, "1 GPUs")) << r.reason;
}

TEST(AdmissionTest, AJobTooLargeForEveryPoolIsRefusedWithHints) {
  // 405B training needs far more than one 8-GPU node of 40 GB cards.
  const AdmissionResult r = Admit(Train("llama-3.1-405b"), {Pool("a100-40gb", 1, 8, 8)},
                                  Capacity("a100-40gb", 1, 8), nullptr);
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.refusal, RefusalKind::kDoesNotFit);
  EXPECT_TRUE(absl::StrContains(r.reason, "no GPU pool can ever hold this job: a100-40gb (8 GPUs)"))
      << r.reason;
}

TEST(AdmissionTest, APlanThatDoesNotGangPlaceIsNoGangFit) {
  // The pool's count says 32 GPUs, but its nodes hold only 8 (say, the
  // others are being replaced): 70B training needs more than 8 GPUs (about
  // 1.2 TB of model states at 18 bytes a parameter), so the planner finds
  // plans but none gang-places.
  const AdmissionResult r = Admit(Train("llama-2-70b"), {Pool("h100-80gb", 4, 8, 32)},
                                  Capacity("h100-80gb", 1, 8), nullptr);
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.refusal, RefusalKind::kNoGangFit);
  EXPECT_TRUE(absl::StrContains(r.reason, "does not gang-place")) << r.reason;
}

TEST(AdmissionTest, FewestGpusThenFreeNowThenName) {
  // The same card in two pools: equal GPU counts, so the pool that can
  // start the job now wins over the one that is full.
  std::vector<NodeView> capacity = Capacity("h100-80gb", 1, 8);
  for (NodeView v : Capacity("h100-80gb", 1, 8)) {
    v.gpu_type = "h100-sxm-alt";
    capacity.push_back(v);
  }
  PoolInfo full = Pool("h100-80gb", 1, 8, 0);
  PoolInfo idle = Pool("h100-80gb", 1, 8, 8);
  idle.gpu_type = "h100-sxm-alt";
  const AdmissionResult r = Admit(Train("llama-2-7b"), {full, idle}, capacity, nullptr);
  ASSERT_TRUE(r.admitted);
  EXPECT_EQ(r.pools[r.chosen].pool.gpu_type, "h100-sxm-alt");
  // Both free: the name decides.
  full.free_gpus = 8;
  const AdmissionResult tie = Admit(Train("llama-2-7b"), {full, idle}, capacity, nullptr);
  EXPECT_EQ(tie.pools[tie.chosen].pool.gpu_type, "h100-80gb");
}

TEST(AdmissionTest, TheCacheKeepsThePlanButNotTheFreeGpus) {
  PlanCache cache(16);
  const AdmissionRequest request = Train("llama-2-7b", "7b-key");
  const std::vector<NodeView> capacity = Capacity("h100-80gb", 1, 8);
  const AdmissionResult first = Admit(request, {Pool("h100-80gb", 1, 8, 8)}, capacity, &cache);
  ASSERT_NE(cache.Find("7b-key|h100-80gb|8|8|" +
                       std::to_string(planner::FindGpu("h100-80gb")->memory_bytes)),
            nullptr);
  const AdmissionResult second = Admit(request, {Pool("h100-80gb", 1, 8, 3)}, capacity, &cache);
  EXPECT_EQ(second.pools[0].pool.free_gpus, 3);  // today's, not the cached 8
  EXPECT_EQ(second.pools[0].shape.gpus(), first.pools[0].shape.gpus());
}

}  // namespace
}  // namespace berth::daemon
