#include "cli/plan_output.h"

#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"
#include "planner/solver.h"
#include "planner/workload.h"

namespace berth::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

planner::PlanRequest Request(const std::string& model, const std::string& gpu, planner::Task task) {
  planner::PlanRequest request;
  request.task = task;
  request.model = planner::FindModel(model).value();
  request.hardware.gpu = planner::FindGpu(gpu).value();
  return request;
}

// Solves `request` and prints the plan.
std::string Printed(const planner::PlanRequest& request) {
  absl::StatusOr<planner::PlanResult> result = planner::SolvePlan(request);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return "";
  std::ostringstream out;
  PrintPlan(request, *result, out);
  return out.str();
}

TEST(PrintPlanTest, InferenceShowsItsObjectiveAndLaunchLines) {
  planner::PlanRequest request = Request("llama-2-7b", "h100-80gb", planner::Task::kInfer);
  request.infer.objective = planner::ServingObjective::kLatency;
  std::string text = Printed(request);
  EXPECT_THAT(text, HasSubstr("\n  objective latency\n"));
  // One line per engine, after the estimate.
  EXPECT_THAT(text, HasSubstr("\nLaunch (vllm):  --tensor-parallel-size "));
  EXPECT_THAT(text, HasSubstr("\nLaunch (tensorrt-llm):  --tp_size "));
  EXPECT_LT(text.find("Estimate:"), text.find("Launch (vllm)"));
  // Training fields stay out of an inference plan; bf16 on an H100 is the
  // default precision and is not printed.
  EXPECT_THAT(text, Not(HasSubstr("ZeRO")));
  EXPECT_THAT(text, Not(HasSubstr("precision")));

  // A tokens/s target is the objective then, and the header says so.
  request.tokens_per_second = 20000;
  EXPECT_THAT(Printed(request), HasSubstr("\n  objective pace (20,000 decode tokens/s, all "
                                          "replicas)\n"));
}

TEST(PrintPlanTest, TrainingHasALaunchLineAndNoObjective) {
  planner::PlanRequest request = Request("llama-2-7b", "h100-80gb", planner::Task::kTrain);
  std::string text = Printed(request);
  EXPECT_THAT(text, HasSubstr("\nLaunch (megatron):  "
                              "--tensor-model-parallel-size "));
  EXPECT_THAT(text, Not(HasSubstr("objective")));
  request.train.framework = planner::Framework::kDeepSpeed;
  EXPECT_THAT(Printed(request), HasSubstr("\nLaunch (deepspeed):  {"));
}

TEST(PrintPlanTest, AV100SaysItRunsInFp16) {
  // Training: bf16 is the default, the V100 trains in fp16.
  EXPECT_THAT(Printed(Request("llama-2-7b", "v100-32gb", planner::Task::kTrain)),
              HasSubstr("\n  precision fp16 (v100-32gb has no bf16)\n"));
  // Inference: bf16 weights are served in fp16.
  EXPECT_THAT(Printed(Request("llama-2-7b", "v100-32gb", planner::Task::kInfer)),
              HasSubstr("\n  precision fp16 (v100-32gb has no bf16)\n"));
  // int8 weights stay int8: nothing to say.
  planner::PlanRequest int8 = Request("llama-2-7b", "v100-32gb", planner::Task::kInfer);
  int8.infer.weights = planner::DType::kInt8;
  int8.infer.kv_dtype = planner::DType::kFp8;
  EXPECT_THAT(Printed(int8), Not(HasSubstr("precision")));
}

TEST(PrintPlanTest, InferenceReplicasShowTheirSequences) {
  // DP 4 fixed, batch 64: ceil(64 / 4) = 16 sequences per replica.
  planner::PlanRequest request = Request("llama-2-7b", "h100-80gb", planner::Task::kInfer);
  request.infer.batch = 64;
  request.fixed = {.tp = 1, .pp = 1, .dp = 4};
  std::string text = Printed(request);
  EXPECT_THAT(text, HasSubstr("\n  each of the 4 replicas holds up to 16 "
                              "sequences\n"));
  // One replica: no such line.
  request.fixed = {.tp = 1, .pp = 1, .dp = 1};
  request.infer.batch = 1;
  EXPECT_THAT(Printed(request), Not(HasSubstr("replicas holds")));
}

TEST(PrintPlanTest, UnevenStagesShowTheirLayers) {
  // 32 layers on PP 4: first 7, last 7, the middle two (32 - 14) / 2 = 9.
  planner::PlanRequest request = Request("llama-2-7b", "h100-80gb", planner::Task::kTrain);
  planner::PlanResult result;
  result.feasible = true;
  result.best.split = {.tp = 1, .pp = 4, .dp = 1, .first_stage_layers = 7, .last_stage_layers = 7};
  result.best.gpus = 4;
  result.best.nodes = 1;
  result.best.fits = true;
  std::ostringstream out;
  PrintPlan(request, result, out);
  EXPECT_THAT(out.str(), HasSubstr("\n  stages: first 7 layers, last 7 layers, "
                                   "9 in each of the other 2\n"));
  // PP 2: only the two ends.
  result.best.split = {
      .tp = 1, .pp = 2, .dp = 1, .first_stage_layers = 15, .last_stage_layers = 17};
  std::ostringstream two;
  PrintPlan(request, result, two);
  EXPECT_THAT(two.str(), HasSubstr("\n  stages: first 15 layers, last 17 layers\n"));
  // An even split says nothing.
  result.best.split = {.tp = 1, .pp = 4, .dp = 1};
  std::ostringstream even;
  PrintPlan(request, result, even);
  EXPECT_THAT(even.str(), Not(HasSubstr("stages:")));
}

TEST(PrintPlanTest, OneGpuIsSingular) {
  std::string text = Printed(Request("llama-2-7b", "h100-80gb", planner::Task::kInfer));
  EXPECT_THAT(text, HasSubstr("Plan: fits on 1 GPU\n"));
  EXPECT_THAT(text, HasSubstr("Split:  1 GPU on 1 node\n"));
  EXPECT_THAT(text, Not(HasSubstr("1 GPUs")));
}

TEST(PrintGpuListTest, SixteenBitPeakAndFp16OnlyCards) {
  std::ostringstream out;
  PrintGpuList(out);
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("16-bit TFLOPS"));
  // The V100's bf16 peak is 0; its 16-bit (fp16) peak is 125 TFLOPS.
  const size_t v100 = text.find("\nv100-32gb ");
  ASSERT_NE(v100, std::string::npos) << text;
  const std::string row = text.substr(v100 + 1, text.find('\n', v100 + 1) - v100 - 1);
  EXPECT_THAT(row, HasSubstr(" 125 "));
  EXPECT_THAT(row, HasSubstr("fp16 only"));
  const size_t h100 = text.find("\nh100-80gb ");
  ASSERT_NE(h100, std::string::npos) << text;
  const std::string h100_row = text.substr(h100 + 1, text.find('\n', h100 + 1) - h100 - 1);
  EXPECT_THAT(h100_row, HasSubstr("bf16"));
  EXPECT_THAT(h100_row, Not(HasSubstr("fp16 only")));
}

}  // namespace
}  // namespace berth::cli
