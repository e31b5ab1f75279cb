// Tests of the parallelism solver: objectives, fixed splits, explanations
// and request validation.
#include "planner/solver.h"

#include <set>
#include <string>
#include <tuple>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"
#include "planner/solver_internal.h"

namespace berth::planner {
namespace {

PlanRequest Train(const char* model, const char* gpu) {
  PlanRequest r;
  r.model = FindModel(model).value();
  r.hardware.gpu = FindGpu(gpu).value();
  return r;
}

bool AnyLineContains(const std::vector<std::string>& lines, absl::string_view text) {
  for (const std::string& line : lines) {
    if (absl::StrContains(line, text)) return true;
  }
  return false;
}

TEST(SolverTest, SevenBTrainingFitsOneNode) {
  PlanResult r = SolvePlan(Train("llama-2-7b", "h100-80gb")).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_LE(r.best.gpus, 8);
  EXPECT_EQ(r.best.nodes, 1);
  EXPECT_LE(r.best.memory.total_bytes, r.usable_bytes);
  // 6.74e9 × 18 B = 121 GB of model states cannot sit on one 80 GB card.
  EXPECT_GE(r.best.gpus, 2);
  EXPECT_TRUE(AnyLineContains(r.explanation, "One GPU fewer does not fit"));
}

TEST(SolverTest, SeventyBTrainingSpansNodesWithTpInsideOne) {
  PlanResult r = SolvePlan(Train("llama-2-70b", "h100-80gb")).value();
  ASSERT_TRUE(r.feasible);
  // 68.98e9 × 6 B (distributed optimizer floor) = 414 GB > 8 × 72 GiB usable
  // only with activations; at least 8 GPUs are needed either way.
  EXPECT_GT(r.best.gpus, 8);
  EXPECT_LE(r.best.split.tp, 8);
  EXPECT_EQ(8 % r.best.split.tp, 0);
  EXPECT_EQ(r.best.gpus, r.best.split.tp * r.best.split.pp * r.best.split.dp);
}

TEST(SolverTest, PaceSeventyBNeedsAboutTenTimesSevenB) {
  // Pace chosen so that 7B needs one node: 8 GPUs × 989e12 FLOP/s × 0.40 MFU
  // / (6 × 6.74e9 FLOPs per token) ≈ 78,000 tokens/s. 70B at the same pace:
  // about 69/6.74 ≈ 10.2 times the GPUs (the seeds' 8 and 80).
  PlanRequest seven = Train("llama-2-7b", "h100-80gb");
  seven.train.sequence_parallel = true;
  const ParamCounts p7 = CountParams(seven.model);
  seven.tokens_per_second =
      0.999 * 8 * seven.hardware.gpu.peak_bf16_flops * seven.mfu / (6.0 * p7.active);
  PlanRequest seventy = seven;
  seventy.model = FindModel("llama-2-70b").value();
  PlanResult a = SolvePlan(seven).value();
  PlanResult b = SolvePlan(seventy).value();
  ASSERT_TRUE(a.feasible && b.feasible);
  EXPECT_EQ(a.best.gpus, 8);
  EXPECT_GE(b.best.gpus, 80);
  EXPECT_LE(b.best.gpus, 96);
  const double ratio = static_cast<double>(b.best.gpus) / static_cast<double>(a.best.gpus);
  EXPECT_GE(ratio, 10.0);
  EXPECT_LE(ratio, 12.0);
  EXPECT_GE(b.best.estimate.tokens_per_second, seven.tokens_per_second);
  EXPECT_EQ(b.objective, Objective::kPace);
}

TEST(SolverTest, PaceFromTokensAndDays) {
  // 1e12 tokens in 30 days = 385,802 tokens/s.
  PlanRequest r = Train("llama-3-8b", "h100-80gb");
  r.tokens = 1e12;
  r.days = 30;
  PlanResult result = SolvePlan(r).value();
  ASSERT_TRUE(result.feasible);
  EXPECT_GE(result.best.estimate.tokens_per_second, 1e12 / (30 * 86400.0));
  EXPECT_LE(result.best.estimate.days, 30.0);
  // The plan with one GPU-group fewer would be too slow or not fit.
  EXPECT_TRUE(AnyLineContains(result.explanation, "Pace"));
}

TEST(SolverTest, FullyFixedSplitIsEvaluatedAsGiven) {
  PlanRequest r = Train("llama-2-13b", "a100-80gb");
  r.train.global_batch = 64;
  r.fixed = FixedSplit{.tp = 1, .pp = 4, .dp = 2, .zero_stage = 1};
  PlanResult result = SolvePlan(r).value();
  ASSERT_TRUE(result.feasible);
  EXPECT_EQ(result.best.split.tp, 1);
  EXPECT_EQ(result.best.split.pp, 4);
  EXPECT_EQ(result.best.split.dp, 2);
  EXPECT_EQ(result.best.split.zero_stage, 1);
  EXPECT_EQ(result.best.gpus, 8);
  // PP 4 alone (seeds 000/001) does not fit without recompute.
  r.fixed = FixedSplit{.tp = 1, .pp = 4, .dp = 1, .zero_stage = 0};
  r.train.recompute = Recompute::kNone;
  PlanResult alone = SolvePlan(r).value();
  EXPECT_FALSE(alone.feasible);
  EXPECT_FALSE(alone.reason.empty());
  EXPECT_GT(alone.best.memory.total_bytes, alone.usable_bytes);
}

TEST(SolverTest, PartiallyFixedSplitSearchesTheRest) {
  PlanRequest r = Train("llama-2-70b", "h100-80gb");
  r.fixed.tp = 4;
  PlanResult result = SolvePlan(r).value();
  ASSERT_TRUE(result.feasible);
  EXPECT_EQ(result.best.split.tp, 4);
  for (const Plan& alt : result.alternatives) EXPECT_EQ(alt.split.tp, 4);
}

TEST(SolverTest, AlternativesAreDistinctAndRankAfterTheBest) {
  PlanResult r = SolvePlan(Train("llama-2-70b", "a100-80gb")).value();
  ASSERT_TRUE(r.feasible);
  ASSERT_FALSE(r.alternatives.empty());
  std::set<std::tuple<int64_t, int64_t, int>> shapes{
      {r.best.split.tp, r.best.split.pp, r.best.split.zero_stage}};
  for (const Plan& alt : r.alternatives) {
    EXPECT_TRUE(alt.fits);
    EXPECT_GE(alt.gpus, r.best.gpus);
    EXPECT_TRUE(shapes.insert({alt.split.tp, alt.split.pp, alt.split.zero_stage}).second);
  }
}

TEST(SolverTest, Deterministic) {
  PlanRequest r = Train("mixtral-8x7b", "h100-80gb");
  PlanResult a = SolvePlan(r).value();
  PlanResult b = SolvePlan(r).value();
  EXPECT_EQ(a.best.gpus, b.best.gpus);
  EXPECT_EQ(a.best.split.tp, b.best.split.tp);
  EXPECT_EQ(a.best.split.pp, b.best.split.pp);
  EXPECT_EQ(a.explanation, b.explanation);
}

TEST(SolverTest, LargerGpuNeverNeedsMore) {
  int64_t previous = 0;
  for (const char* gpu : {"h200-141gb", "a100-80gb", "a100-40gb"}) {
    PlanResult r = SolvePlan(Train("llama-2-70b", gpu)).value();
    ASSERT_TRUE(r.feasible) << gpu;
    EXPECT_GE(r.best.gpus, previous) << gpu;
    previous = r.best.gpus;
  }
}

TEST(SolverTest, DeepSpeedHighZeroNeverPipelines) {
  PlanRequest r = Train("llama-2-13b", "a100-40gb");
  r.train.framework = Framework::kDeepSpeed;
  PlanResult result = SolvePlan(r).value();
  ASSERT_TRUE(result.feasible);
  std::vector<Plan> plans = result.alternatives;
  plans.push_back(result.best);
  for (const Plan& p : plans) {
    if (p.split.zero_stage >= 2) {
      EXPECT_EQ(p.split.pp, 1);
    }
  }
}

TEST(SolverTest, TpStaysInsideANode) {
  PlanRequest r = Train("llama-2-70b", "a100-40gb");
  r.hardware.gpus_per_node = 4;
  PlanResult result = SolvePlan(r).value();
  ASSERT_TRUE(result.feasible);
  EXPECT_LE(result.best.split.tp, 4);
}

TEST(SolverTest, InfeasibleSaysWhyAndWhatWouldFit) {
  PlanRequest r = Train("llama-3.1-405b", "a10-24gb");
  r.max_gpus = 64;
  PlanResult result = SolvePlan(r).value();
  EXPECT_FALSE(result.feasible);
  EXPECT_TRUE(absl::StrContains(result.reason, "a10-24gb")) << result.reason;
  EXPECT_TRUE(AnyLineContains(result.explanation, "Would fit"));
}

TEST(SolverTest, SaysSoWhenNoNearbyChangeFits) {
  // One block of h = 500,000: 12·h² = 3e12 parameters, 6 TB in bf16. No
  // precision, offload (one layer is the whole model) or GPU type holds it.
  PlanRequest r;
  r.task = Task::kInfer;
  r.model = ModelShape{.name = "wall",
                       .layers = 1,
                       .hidden = 500'000,
                       .heads = 500,
                       .kv_heads = 500,
                       .ffn = 2'000'000,
                       .vocab = 32000,
                       .mlp = MlpKind::kGelu};
  r.hardware.gpu = FindGpu("h100-80gb").value();
  PlanResult result = SolvePlan(r).value();
  EXPECT_FALSE(result.feasible);
  EXPECT_FALSE(AnyLineContains(result.explanation, "Would fit"));
  EXPECT_EQ(result.explanation.back(), "No nearby change makes it fit.");
}

TEST(SolverTest, InferenceSuggestsLowerPrecisionOrOffload) {
  PlanRequest r;
  r.task = Task::kInfer;
  r.model = FindModel("llama-2-70b").value();
  r.hardware.gpu = FindGpu("rtx4090-24gb").value();
  r.max_gpus = 4;
  PlanResult result = SolvePlan(r).value();
  EXPECT_FALSE(result.feasible);
  EXPECT_TRUE(AnyLineContains(result.explanation, "int4 weights"));
  EXPECT_TRUE(AnyLineContains(result.explanation, "layer-wise offload"));
}

TEST(SolverTest, InferencePrefersTensorParallelWithinANode) {
  PlanRequest r;
  r.task = Task::kInfer;
  r.model = FindModel("llama-3-70b").value();
  r.hardware.gpu = FindGpu("h100-80gb").value();
  PlanResult result = SolvePlan(r).value();
  ASSERT_TRUE(result.feasible);
  EXPECT_EQ(result.best.gpus, 2);
  EXPECT_EQ(result.best.split.tp, 2);  // TP 2 decodes faster than PP 2
  EXPECT_TRUE(result.best.estimate.known);
}

TEST(SolverTest, ExpertParallelismNeedsNoMoreGpusForMoeTraining) {
  PlanRequest without = Train("mixtral-8x7b", "h100-80gb");
  without.fixed.ep = 1;
  PlanResult none = SolvePlan(without).value();
  PlanResult searched = SolvePlan(Train("mixtral-8x7b", "h100-80gb")).value();
  ASSERT_TRUE(none.feasible && searched.feasible);
  EXPECT_EQ(none.best.split.ep, 1);
  EXPECT_LE(searched.best.gpus, none.best.gpus);
  // Whatever EP is chosen divides the experts and DP.
  EXPECT_EQ(8 % searched.best.split.ep, 0);
  EXPECT_EQ(searched.best.split.dp % searched.best.split.ep, 0);
  // The same count with less TP (TP 2 with EP 2 rather than TP 4), which the
  // ranking prefers, and the explanation says what EP does.
  EXPECT_GT(searched.best.split.ep, 1);
  EXPECT_LT(searched.best.split.tp, none.best.split.tp);
  EXPECT_TRUE(AnyLineContains(searched.explanation, "Expert parallelism: EP"));
  // A fixed EP is kept, with DP a multiple of it.
  PlanRequest fixed = Train("mixtral-8x7b", "h100-80gb");
  fixed.fixed.ep = 4;
  PlanResult four = SolvePlan(fixed).value();
  ASSERT_TRUE(four.feasible) << four.reason;
  EXPECT_EQ(four.best.split.ep, 4);
  EXPECT_EQ(four.best.split.dp % 4, 0);
  EXPECT_TRUE(AnyLineContains(four.explanation, "(EP 4)"));
}

TEST(SolverTest, DenseModelsAndInferenceNeverUseEp) {
  PlanResult dense = SolvePlan(Train("llama-2-70b", "h100-80gb")).value();
  EXPECT_EQ(dense.best.split.ep, 1);
  PlanRequest infer = Train("mixtral-8x7b", "h100-80gb");
  infer.task = Task::kInfer;
  PlanResult serving = SolvePlan(infer).value();
  ASSERT_TRUE(serving.feasible);
  EXPECT_EQ(serving.best.split.ep, 1);
}

// Found by planner_fuzzer: an inference request carrying an unvalidated
// training global batch of 6.5e18 made the solver enumerate its divisors.
TEST(SolverTest, InferenceIgnoresTrainingFields) {
  PlanRequest plain = Train("llama-2-7b", "h100-80gb");
  plain.task = Task::kInfer;
  PlanRequest odd = plain;
  odd.train.global_batch = 6'556'793'685'608'086'112;
  odd.train.micro_batch = 11;
  PlanResult a = SolvePlan(plain).value();
  PlanResult b = SolvePlan(odd).value();
  EXPECT_EQ(a.best.gpus, b.best.gpus);
  EXPECT_EQ(a.best.memory.total_bytes, b.best.memory.total_bytes);
  EXPECT_EQ(a.explanation, b.explanation);
}

// Issue 17: Mixtral-8x22B trained on H100s got PP 19 for its 56 layers with
// every stage planned at ceil(56/19) = 3 layers and no word of Megatron's
// uneven-stage arguments. Stage counts that divide the layers come first
// now; an uneven one only when it saves GPUs, and then it says so.
// Here it does save GPUs: TP 1 × PP 19 × DP 2 (EP 2) = 38 GPUs, with the
// layers as 2 + 17 × 3 + 3 = 56 (the first stage, which keeps 19
// micro-batches in flight, holds the short end), against 56 GPUs for the
// best split whose stages divide 56 (TP 4 × PP 7 × DP 2).
TEST(SolverTest, UnevenPipelineOnlyWhenItSavesGpusAndSaysSo) {
  PlanResult r = SolvePlan(Train("mixtral-8x22b", "h100-80gb")).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.best.split.tp, 1);
  EXPECT_EQ(r.best.split.pp, 19);
  EXPECT_EQ(r.best.gpus, 38);
  EXPECT_EQ(r.best.split.first_stage_layers, 2);
  EXPECT_EQ(r.best.split.last_stage_layers, 3);
  EXPECT_TRUE(AnyLineContains(r.explanation, "56 layers do not divide into 19 stages"));
  EXPECT_TRUE(AnyLineContains(r.explanation, "Uneven because it saves GPUs"));
  EXPECT_TRUE(AnyLineContains(r.explanation, "needs 56 GPUs, TP 4 × PP 7 × DP 2"));
  ASSERT_EQ(r.launch.size(), 1u);
  EXPECT_EQ(r.launch[0].engine, "megatron");
  EXPECT_TRUE(absl::StrContains(r.launch[0].args,
                                "--pipeline-model-parallel-size 19 --micro-batch-size 1"));
  EXPECT_TRUE(absl::StrContains(r.launch[0].args,
                                "--decoder-first-pipeline-num-layers 2 "
                                "--decoder-last-pipeline-num-layers 3"));
  // Every plan the solver returns has either an even split or one of
  // Megatron's uneven layouts: the rest of the layers fill pp - 2 stages.
  std::vector<Plan> plans = r.alternatives;
  plans.push_back(r.best);
  for (const Plan& p : plans) {
    const Split& s = p.split;
    if (!s.uneven()) {
      EXPECT_EQ(56 % s.pp, 0) << s.pp;
    } else if (s.pp > 2) {
      EXPECT_EQ((56 - s.first_stage_layers - s.last_stage_layers) % (s.pp - 2), 0) << s.pp;
    }
  }
}

// When an even split needs no more GPUs, it wins, even over a faster uneven
// one of the same size (before, the faster won).
TEST(SolverTest, EvenPipelineWhenUnevenSavesNothing) {
  Plan even{.split = {.tp = 2, .pp = 2, .dp = 1},
            .gpus = 4,
            .estimate = {.known = true, .tokens_per_second = 1000}};
  Plan uneven{
      .split = {.tp = 1, .pp = 3, .dp = 1, .first_stage_layers = 13, .last_stage_layers = 13},
      .gpus = 4,
      .estimate = {.known = true, .tokens_per_second = 2000}};
  EXPECT_TRUE(internal::RanksBefore(even, uneven));
  EXPECT_FALSE(internal::RanksBefore(uneven, even));
  uneven.gpus = 3;  // saves a GPU: first
  EXPECT_TRUE(internal::RanksBefore(uneven, even));
  // Llama-2-13B (40 layers) on A100-80GB: TP 1 × PP 3 as 13 + 14 + 13
  // layers would need 3 GPUs but holds 13.0e9 × 18 B / 3 = 78 GB of model
  // states alone (77.2 GiB in all, over 72 GiB usable), so the fewest GPUs
  // are 4, TP 4 × PP 1: even, with no "Pipeline:" line and no uneven
  // arguments.
  PlanResult r = SolvePlan(Train("llama-2-13b", "a100-80gb")).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.best.gpus, 4);
  EXPECT_FALSE(r.best.split.uneven());
  EXPECT_EQ(40 % r.best.split.pp, 0);
  EXPECT_FALSE(AnyLineContains(r.explanation, "Pipeline:"));
  EXPECT_FALSE(absl::StrContains(r.launch.at(0).args, "--decoder-first"));
}

// Interleaving (v > 1) never gets an uneven split: Megatron refuses
// --decoder-first-pipeline-num-layers with virtual pipeline stages.
TEST(SolverTest, InterleavedPipelinesAreEven) {
  PlanRequest request = Train("mixtral-8x22b", "h100-80gb");
  request.train.virtual_stages = 2;
  PlanResult r = SolvePlan(request).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_FALSE(r.best.split.uneven());
  EXPECT_EQ(56 % r.best.split.pp, 0);
}

// Issue 17: the V100 has no bf16. Training there runs in fp16 (the same 18
// bytes per parameter under Megatron, with loss scaling) at the fp16 peak of
// 125 TFLOP/s, and the plan says so and asks Megatron for --fp16.
TEST(SolverTest, V100TrainsInFp16AndSaysSo) {
  PlanResult r = SolvePlan(Train("llama-2-7b", "v100-32gb")).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.precision, DType::kFp16);
  EXPECT_TRUE(AnyLineContains(r.explanation, "v100-32gb has no bf16"));
  ASSERT_EQ(r.launch.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(r.launch[0].args, " --fp16"));
  // tokens/s = GPUs × 125e12 × 0.40 / (FLOPs per token × (1 + bubble)).
  ASSERT_TRUE(r.best.estimate.known);
  const double flops = (r.best.split.recompute == Recompute::kFull ? 8.0 : 6.0) *
                       static_cast<double>(r.params.active);
  EXPECT_LE(r.best.estimate.tokens_per_second, r.best.gpus * 125e12 * 0.40 / flops * 1.0001);
  EXPECT_GT(r.best.estimate.tokens_per_second, 0.5 * r.best.gpus * 125e12 * 0.40 / flops);
  // DeepSpeed's config asks for fp16 too.
  PlanRequest ds = Train("llama-2-7b", "v100-32gb");
  ds.train.framework = Framework::kDeepSpeed;
  PlanResult d = SolvePlan(ds).value();
  ASSERT_TRUE(d.feasible);
  EXPECT_TRUE(absl::StrContains(d.launch.at(0).args, R"("fp16": {"enabled": true})"));
  // A card with bf16 trains in bf16.
  PlanResult h = SolvePlan(Train("llama-2-7b", "h100-80gb")).value();
  EXPECT_EQ(h.precision, DType::kBf16);
  EXPECT_TRUE(absl::EndsWith(h.launch.at(0).args, " --bf16"));
  EXPECT_FALSE(AnyLineContains(h.explanation, "no bf16"));
}

struct BadRequest {
  std::string name;
  void (*mutate)(PlanRequest&);
  std::string field;
};

class ValidationTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(ValidationTest, NamesTheField) {
  PlanRequest r = Train("llama-2-7b", "h100-80gb");
  GetParam().mutate(r);
  absl::StatusOr<PlanResult> result = SolvePlan(r);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(result.status().message(), GetParam().field))
      << result.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Bad, ValidationTest,
    ::testing::Values(
        BadRequest{"ZeroSeq", [](PlanRequest& r) { r.train.seq = 0; }, "seq"},
        BadRequest{"HugeSeq", [](PlanRequest& r) { r.train.seq = int64_t{1} << 40; }, "seq"},
        BadRequest{"TpNotDividingHeads", [](PlanRequest& r) { r.fixed.tp = 3; }, "tp"},
        BadRequest{"TpBeyondNode", [](PlanRequest& r) { r.fixed.tp = 16; }, "tp"},
        BadRequest{"PpBeyondLayers", [](PlanRequest& r) { r.fixed.pp = 33; }, "pp"},
        // 126 layers cannot go onto 40 stages (the fuzzer found a fixed
        // split no layout could hold, solved into an empty plan).
        BadRequest{"PpWithNoStageLayout", [](PlanRequest& r) { r.fixed.pp = 31; }, "pp"},
        BadRequest{"UnevenPpWithVirtualStages",
                   [](PlanRequest& r) {
                     r.fixed.pp = 3;
                     r.train.virtual_stages = 2;
                   },
                   "pp"},
        BadRequest{"MegatronZero3", [](PlanRequest& r) { r.fixed.zero_stage = 3; }, "zero"},
        BadRequest{"EpForADenseModel", [](PlanRequest& r) { r.fixed.ep = 2; }, "ep"},
        BadRequest{"NegativeEp", [](PlanRequest& r) { r.fixed.ep = -1; }, "ep"},
        BadRequest{"EpNotDividingExperts",
                   [](PlanRequest& r) {
                     r.model = FindModel("mixtral-8x7b").value();
                     r.fixed.ep = 3;
                   },
                   "ep"},
        BadRequest{"EpNotDividingDp",
                   [](PlanRequest& r) {
                     r.model = FindModel("mixtral-8x7b").value();
                     r.fixed.ep = 4;
                     r.fixed.dp = 6;
                   },
                   "ep"},
        BadRequest{"EpForInference",
                   [](PlanRequest& r) {
                     r.model = FindModel("mixtral-8x7b").value();
                     r.task = Task::kInfer;
                     r.fixed.ep = 2;
                   },
                   "ep"},
        BadRequest{"NanTokens", [](PlanRequest& r) { r.tokens = std::nan(""); }, "tokens"},
        BadRequest{"DaysWithoutTokens", [](PlanRequest& r) { r.days = 3; }, "days"},
        BadRequest{"ZeroMfu", [](PlanRequest& r) { r.mfu = 0; }, "mfu"},
        BadRequest{"UsableAboveOne", [](PlanRequest& r) { r.hardware.usable_fraction = 1.5; },
                   "usable_fraction"},
        BadRequest{"GlobalBatchIndivisible",
                   [](PlanRequest& r) {
                     r.train.global_batch = 10;
                     r.train.micro_batch = 4;
                   },
                   "global_batch"},
        // Inference takes a tokens_per_second target (issue 17), but not a
        // token count in days.
        BadRequest{"TokensAndDaysForInference",
                   [](PlanRequest& r) {
                     r.task = Task::kInfer;
                     r.tokens = 1e12;
                     r.days = 30;
                   },
                   "tokens"},
        BadRequest{"HeadsNotDividingHidden", [](PlanRequest& r) { r.model.heads = 48; }, "hidden"},
        BadRequest{"NoGpuMemory", [](PlanRequest& r) { r.hardware.gpu.memory_bytes = 0; },
                   "gpu_memory"}),
    [](const ::testing::TestParamInfo<BadRequest>& info) { return info.param.name; });

}  // namespace
}  // namespace berth::planner
