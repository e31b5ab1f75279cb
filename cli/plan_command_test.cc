#include "cli/plan_command.h"

#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "planner/gpu.h"
#include "planner/solver.h"

namespace berth::cli {
namespace {

using planner::kGiB;

PlanOptions Llama7b() {
  PlanOptions options;
  options.model = "llama-2-7b";
  options.gpu = "h100-80gb";
  return options;
}

// The error message of a request that must fail; it must name `flag`.
std::string ErrorOf(const PlanOptions& options, const std::string& flag) {
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  EXPECT_FALSE(request.ok());
  if (request.ok()) return "";
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument)
      << request.status();
  std::string message(request.status().message());
  EXPECT_TRUE(absl::StartsWith(message, flag + ":")) << message;
  return message;
}

TEST(BuildPlanRequestTest, DefaultsForACatalogModel) {
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(Llama7b());
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->task, planner::Task::kTrain);
  EXPECT_EQ(request->model.name, "llama-2-7b");
  EXPECT_EQ(request->model.layers, 32);
  EXPECT_EQ(request->hardware.gpu.name, "h100-80gb");
  EXPECT_EQ(request->hardware.gpus_per_node, 8);
  EXPECT_EQ(request->hardware.usable_fraction, planner::kDefaultUsableFraction);
  EXPECT_EQ(request->hardware.overhead_bytes, planner::kDefaultOverheadBytes);
  EXPECT_FALSE(request->train.recompute.has_value());  // auto
  EXPECT_TRUE(request->train.flash_attention);
  EXPECT_EQ(request->fixed.tp, 0);
  EXPECT_EQ(request->fixed.zero_stage, -1);
  EXPECT_EQ(request->tokens, 0);
  EXPECT_EQ(request->max_alternatives, 3);
}

TEST(BuildPlanRequestTest, NoGpuFlagMeansTheDefaultGpu) {
  PlanOptions options = Llama7b();
  options.gpu.reset();
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->hardware.gpu.name, kDefaultGpu);
}

TEST(BuildPlanRequestTest, TrainingFlags) {
  PlanOptions options = Llama7b();
  options.seq = "8k";
  options.micro_batch = "2";
  options.global_batch = "1024";
  options.framework = "deepspeed";
  options.recompute = "full";
  options.flash_attention = false;
  options.sequence_parallel = true;
  options.virtual_stages = "2";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->train.seq, 8000);
  EXPECT_EQ(request->train.micro_batch, 2);
  EXPECT_EQ(request->train.global_batch, 1024);
  EXPECT_EQ(request->train.framework, planner::Framework::kDeepSpeed);
  EXPECT_EQ(request->train.recompute, planner::Recompute::kFull);
  EXPECT_FALSE(request->train.flash_attention);
  EXPECT_TRUE(request->train.sequence_parallel);
  EXPECT_EQ(request->train.virtual_stages, 2);
}

TEST(BuildPlanRequestTest, InferenceFlags) {
  PlanOptions options = Llama7b();
  options.task = "infer";
  options.weights = "int4";
  options.kv_dtype = "fp8";
  options.batch = "16";
  options.context = "8192";
  options.offload = "layerwise";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->task, planner::Task::kInfer);
  EXPECT_EQ(request->infer.weights, planner::DType::kInt4);
  EXPECT_EQ(request->infer.kv_dtype, planner::DType::kFp8);
  EXPECT_EQ(request->infer.batch, 16);
  EXPECT_EQ(request->infer.context, 8192);
  EXPECT_EQ(request->infer.offload, planner::Offload::kLayerwise);
}

TEST(BuildPlanRequestTest, GpuSettingsAndFixedSplit) {
  PlanOptions options = Llama7b();
  options.gpu.reset();
  options.gpu_memory_gib = "4";
  options.gpus_per_node = "4";
  options.max_gpus = "64";
  options.usable_fraction = "0.8";
  options.overhead_gib = "0.5";
  options.tp = "2";
  options.pp = "1";
  options.dp = "4";
  options.zero = "1";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->hardware.gpu.name, "custom-4gib");
  EXPECT_EQ(request->hardware.gpu.memory_bytes, 4 * kGiB);
  EXPECT_EQ(request->hardware.gpus_per_node, 4);
  EXPECT_EQ(request->max_gpus, 64);
  EXPECT_DOUBLE_EQ(request->hardware.usable_fraction, 0.8);
  EXPECT_EQ(request->hardware.overhead_bytes, kGiB / 2);
  EXPECT_EQ(request->fixed.tp, 2);
  EXPECT_EQ(request->fixed.pp, 1);
  EXPECT_EQ(request->fixed.dp, 4);
  EXPECT_EQ(request->fixed.zero_stage, 1);
}

TEST(BuildPlanRequestTest, PaceFlags) {
  PlanOptions options = Llama7b();
  options.tokens = "1T";
  options.days = "30";
  options.mfu = "0.5";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->tokens, 1e12);
  EXPECT_EQ(request->days, 30);
  EXPECT_EQ(request->mfu, 0.5);

  options = Llama7b();
  options.tokens_per_second = "1M";
  request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->tokens_per_second, 1e6);
}

TEST(BuildPlanRequestTest, ExplicitNumbers) {
  PlanOptions options;
  options.params = "7B";
  options.layers = "32";
  options.hidden = "4096";
  options.heads = "32";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model.layers, 32);
  EXPECT_EQ(request->model.hidden, 4096);
  EXPECT_EQ(request->model.kv_heads, 32);  // defaults to heads
  EXPECT_GT(request->model.ffn, 0);        // solved from --params
  EXPECT_FALSE(request->model.name.empty());
}

TEST(BuildPlanRequestTest, ModelErrorsNameTheFlag) {
  ErrorOf(PlanOptions{}, "--model");
  PlanOptions both = Llama7b();
  both.hf_config = "/tmp/config.json";
  ErrorOf(both, "--model");
  PlanOptions unknown = Llama7b();
  unknown.model = "nosuch";
  ErrorOf(unknown, "--model");
  PlanOptions missing;
  missing.hf_config = "/nonexistent/config.json";
  ErrorOf(missing, "--hf-config");

  PlanOptions numbers;
  numbers.params = "7B";
  numbers.layers = "32";
  numbers.hidden = "4000";
  numbers.heads = "48";
  EXPECT_EQ(ErrorOf(numbers, "--heads"),
            "--heads: 48 heads do not divide --hidden 4000");
  numbers.hidden = "4096";
  numbers.heads = "32";
  numbers.kv_heads = "5";
  ErrorOf(numbers, "--kv-heads");
  numbers.kv_heads.reset();
  numbers.params = "-7B";
  ErrorOf(numbers, "--params");
  numbers.params = "nan";
  ErrorOf(numbers, "--params");
  numbers.params = "7B";
  numbers.layers.reset();
  ErrorOf(numbers, "--layers");
}

TEST(BuildPlanRequestTest, OtherErrorsNameTheFlag) {
  PlanOptions options = Llama7b();
  options.gpu = "nosuch";
  ErrorOf(options, "--gpu");
  options = Llama7b();
  options.gpu_memory_gib = "4";
  ErrorOf(options, "--gpu-memory-gib");
  options = Llama7b();
  options.recompute = "sometimes";
  ErrorOf(options, "--recompute");
  options = Llama7b();
  options.task = "finetune";
  ErrorOf(options, "--task");
  options = Llama7b();
  options.tp = "0";
  ErrorOf(options, "--tp");
  options = Llama7b();
  options.zero = "4";
  ErrorOf(options, "--zero");
  options = Llama7b();
  options.usable_fraction = "1.5";
  ErrorOf(options, "--usable-fraction");
  options = Llama7b();
  options.mfu = "0";
  ErrorOf(options, "--mfu");
  options = Llama7b();
  options.seq = "4096.5";
  ErrorOf(options, "--seq");
}

TEST(BuildPlanRequestTest, PaceRules) {
  PlanOptions options = Llama7b();
  options.days = "30";
  ErrorOf(options, "--days");  // without --tokens
  options.tokens = "1T";
  options.tokens_per_second = "1M";
  ErrorOf(options, "--tokens-per-second");
  options = Llama7b();
  options.task = "infer";
  options.tokens = "1T";
  options.days = "30";
  EXPECT_TRUE(absl::StrContains(ErrorOf(options, "--tokens"), "training only"));
}

TEST(BuildPlanRequestTest, FlagsOfTheOtherTaskAreErrors) {
  PlanOptions options = Llama7b();
  options.batch = "16";
  ErrorOf(options, "--batch");
  options = Llama7b();
  options.task = "infer";
  options.seq = "4096";
  ErrorOf(options, "--seq");
}

TEST(RunPlanTest, ListsAndUsageErrors) {
  PlanOptions options;
  options.list_models = true;
  std::ostringstream out, err;
  EXPECT_EQ(RunPlan(options, out, err), kExitOk);
  EXPECT_TRUE(absl::StrContains(out.str(), "llama-2-7b"));

  options = Llama7b();
  options.params = "7B";
  std::ostringstream out2, err2;
  EXPECT_EQ(RunPlan(options, out2, err2), kExitUsage);
  EXPECT_TRUE(absl::StartsWith(err2.str(), "berth plan: --model: "))
      << err2.str();
  EXPECT_EQ(out2.str(), "");
}

}  // namespace
}  // namespace berth::cli
