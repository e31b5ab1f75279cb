#include "proto/plan_convert.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "planner/gpu.h"
#include "planner/solver.h"

namespace berth::proto {
namespace {

using planner::kGiB;

// A 7B-class request on 80 GiB cards, 8 per node, for 1e12 tokens.
planner::PlanRequest SmallRequest() {
  planner::PlanRequest request;
  request.task = planner::Task::kTrain;
  request.model = {.name = "tiny-7b",
                   .layers = 32,
                   .hidden = 4096,
                   .heads = 32,
                   .kv_heads = 32,
                   .ffn = 11008,
                   .vocab = 32000};
  request.hardware.gpu = {.name = "h100-80gb", .memory_bytes = 80 * kGiB};
  request.hardware.gpus_per_node = 8;
  request.tokens = 1e12;
  return request;
}

// Memory of one GPU: 12 + 24 + 18 + 9 + 1 = 64 GiB.
planner::Plan SmallPlan(int64_t dp, bool fits) {
  planner::Plan plan;
  plan.split = {.tp = 2,
                .pp = 1,
                .dp = dp,
                .zero_stage = 1,
                .micro_batch = 2,
                .recompute = planner::Recompute::kSelective};
  plan.gpus = plan.split.gpus();
  plan.nodes = (plan.gpus + 7) / 8;
  plan.memory = {.weights_bytes = 12 * kGiB,
                 .gradients_bytes = 24 * kGiB,
                 .optimizer_bytes = 18 * kGiB,
                 .activations_bytes = 9 * kGiB,
                 .overhead_bytes = 1 * kGiB,
                 .total_bytes = 64 * kGiB};
  plan.estimate = {
      .known = true, .step_seconds = 2.5, .tokens_per_second = 52428.8, .days = 220.75};
  plan.fits = fits;
  return plan;
}

planner::PlanResult SmallResult() {
  planner::PlanResult result;
  result.feasible = true;
  result.params = {.total = 6738415616, .active = 6738415616};
  // 80 GiB × 0.90 = 77309411328 bytes.
  result.usable_bytes = 77309411328;
  result.best = SmallPlan(4, true);
  result.alternatives = {SmallPlan(8, true), SmallPlan(2, false)};
  result.alternatives[1].estimate.known = false;
  result.explanation = {"first line", "second line"};
  return result;
}

TEST(PlanConvertTest, CopiesModelGpuAndSplit) {
  v1::PlanReport report = ToPlanReport(SmallRequest(), SmallResult());
  EXPECT_TRUE(report.feasible());
  EXPECT_FALSE(report.has_reason());
  EXPECT_EQ(report.task(), "train");
  EXPECT_EQ(report.model().name(), "tiny-7b");
  EXPECT_EQ(report.model().params(), 6738415616.0);
  EXPECT_EQ(report.model().kv_heads(), 32);
  EXPECT_EQ(report.gpu().type(), "h100-80gb");
  EXPECT_EQ(report.gpu().memory_bytes(), 85899345920.0);
  EXPECT_EQ(report.gpu().usable_bytes(), 77309411328.0);
  EXPECT_EQ(report.gpu().per_node(), 8);
  // TP 2 × PP 1 × DP 4 = 8 GPUs on one node.
  EXPECT_EQ(report.gpus(), 8);
  EXPECT_EQ(report.nodes(), 1);
  EXPECT_EQ(report.tp(), 2);
  EXPECT_EQ(report.dp(), 4);
  EXPECT_EQ(report.zero_stage(), 1);
  EXPECT_EQ(report.micro_batch(), 2);
  EXPECT_EQ(report.recompute(), "selective");
  EXPECT_EQ(report.offload(), "none");
  EXPECT_EQ(report.per_gpu().total_bytes(), 64.0 * kGiB);
  EXPECT_EQ(report.explanation_size(), 2);
}

TEST(PlanConvertTest, EstimateOnlyWhenKnownAndDaysOnlyWithTokens) {
  planner::PlanRequest request = SmallRequest();
  v1::PlanReport report = ToPlanReport(request, SmallResult());
  ASSERT_TRUE(report.has_estimate());
  EXPECT_EQ(report.estimate().step_seconds(), 2.5);
  EXPECT_TRUE(report.estimate().has_days());
  EXPECT_EQ(report.estimate().days(), 220.75);
  ASSERT_EQ(report.alternatives_size(), 2);
  EXPECT_TRUE(report.alternatives(0).has_estimate());
  EXPECT_FALSE(report.alternatives(1).has_estimate());
  EXPECT_FALSE(report.alternatives(1).fits());

  request.tokens = 0;
  report = ToPlanReport(request, SmallResult());
  EXPECT_FALSE(report.estimate().has_days());
}

TEST(PlanConvertTest, InfeasibleCarriesReason) {
  planner::PlanResult result = SmallResult();
  result.feasible = false;
  result.reason = "needs 64 GiB per GPU";
  result.best.fits = false;
  v1::PlanReport report = ToPlanReport(SmallRequest(), result);
  EXPECT_FALSE(report.feasible());
  EXPECT_EQ(report.reason(), "needs 64 GiB per GPU");
}

TEST(PlanConvertTest, InferenceReportsOffloadAndNoRecompute) {
  planner::PlanRequest request = SmallRequest();
  request.task = planner::Task::kInfer;
  request.infer.offload = planner::Offload::kLayerwise;
  v1::PlanReport report = ToPlanReport(request, SmallResult());
  EXPECT_EQ(report.task(), "infer");
  EXPECT_EQ(report.offload(), "layerwise");
  EXPECT_EQ(report.recompute(), "none");
}

// Finds `"key": value` in the JSON text; returns the text after the colon.
std::string ValueAfter(const std::string& json, const std::string& key) {
  std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = json.find(needle);
  if (at == std::string::npos) return "";
  size_t start = json.find_first_not_of(' ', at + needle.size());
  return json.substr(start, 24);
}

// Issue 17's fields: replicas' sequences, uneven pipeline stages, the
// objective, the precision and the engine arguments.
TEST(PlanConvertTest, CopiesServingAndPipelineFields) {
  planner::PlanRequest request = SmallRequest();
  planner::PlanResult result = SmallResult();
  result.objective = planner::Objective::kThroughput;
  result.precision = planner::DType::kFp16;
  result.best.split.first_stage_layers = 2;
  result.best.split.last_stage_layers = 3;
  result.best.split.replica_batch = 43;
  result.alternatives[0].split.first_stage_layers = 5;
  result.launch = {{"vllm", "--tensor-parallel-size 2 --pipeline-parallel-size 1"},
                   {"tensorrt-llm", "--tp_size 2 --pp_size 1"}};
  v1::PlanReport train = ToPlanReport(request, result);
  EXPECT_EQ(train.first_stage_layers(), 2);
  EXPECT_EQ(train.last_stage_layers(), 3);
  EXPECT_EQ(train.alternatives(0).first_stage_layers(), 5);
  EXPECT_EQ(train.replica_batch(), 0);  // training has no replicas' batch
  EXPECT_EQ(train.objective(), "throughput");
  EXPECT_EQ(train.precision(), "fp16");
  ASSERT_EQ(train.launch_size(), 2);
  EXPECT_EQ(train.launch(0).engine(), "vllm");
  EXPECT_EQ(train.launch(0).args(), "--tensor-parallel-size 2 --pipeline-parallel-size 1");
  EXPECT_EQ(train.launch(1).engine(), "tensorrt-llm");

  request.task = planner::Task::kInfer;
  v1::PlanReport infer = ToPlanReport(request, result);
  EXPECT_EQ(infer.replica_batch(), 43);
  absl::StatusOr<std::string> json = PlanReportToJson(infer);
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* key : {"replica_batch", "first_stage_layers", "last_stage_layers", "objective",
                          "precision", "launch", "engine", "args"}) {
    EXPECT_NE(ValueAfter(*json, key), "") << "missing key " << key;
  }
  EXPECT_EQ(ValueAfter(*json, "objective").substr(0, 12), "\"throughput\"");

  result.objective = planner::Objective::kMinGpus;
  EXPECT_EQ(ToPlanReport(request, result).objective(), "fewest-gpus");
}

TEST(PlanConvertTest, JsonHasEveryKeyWithNumbersUnquoted) {
  absl::StatusOr<std::string> json = PlanReportToJson(ToPlanReport(SmallRequest(), SmallResult()));
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* key : {"feasible",
                          "task",
                          "model",
                          "name",
                          "params",
                          "layers",
                          "hidden",
                          "heads",
                          "kv_heads",
                          "ffn",
                          "vocab",
                          "active_params",
                          "experts",
                          "experts_per_token",
                          "gpu",
                          "type",
                          "memory_bytes",
                          "usable_bytes",
                          "per_node",
                          "gpus",
                          "nodes",
                          "tp",
                          "pp",
                          "dp",
                          "zero_stage",
                          "micro_batch",
                          "recompute",
                          "offload",
                          "per_gpu",
                          "weights_bytes",
                          "gradients_bytes",
                          "optimizer_bytes",
                          "activations_bytes",
                          "kv_cache_bytes",
                          "workspace_bytes",
                          "overhead_bytes",
                          "total_bytes",
                          "host_bytes",
                          "estimate",
                          "step_seconds",
                          "tokens_per_second",
                          "days",
                          "explanation",
                          "alternatives",
                          "fits"}) {
    EXPECT_NE(ValueAfter(*json, key), "") << "missing key " << key;
  }
  // A feasible plan has no reason key.
  EXPECT_EQ(json->find("\"reason\""), std::string::npos);
  // 64 GiB = 68719476736 bytes, printed as a number, not a string.
  EXPECT_EQ(ValueAfter(*json, "total_bytes").substr(0, 12), "68719476736,");
  EXPECT_EQ(ValueAfter(*json, "params").substr(0, 11), "6738415616,");
  EXPECT_EQ(ValueAfter(*json, "usable_bytes").substr(0, 12), "77309411328,");
  EXPECT_EQ(ValueAfter(*json, "gpus").substr(0, 2), "8,");
  EXPECT_EQ(ValueAfter(*json, "recompute").substr(0, 11), "\"selective\"");
  EXPECT_EQ(json->back(), '\n');
}

TEST(PlanConvertTest, JsonOfInfeasibleHasReason) {
  planner::PlanResult result = SmallResult();
  result.feasible = false;
  result.reason = "too big";
  absl::StatusOr<std::string> json = PlanReportToJson(ToPlanReport(SmallRequest(), result));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(ValueAfter(*json, "feasible").substr(0, 6), "false,");
  EXPECT_EQ(ValueAfter(*json, "reason").substr(0, 9), "\"too big\"");
}

}  // namespace
}  // namespace berth::proto
