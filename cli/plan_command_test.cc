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
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << request.status();
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

TEST(BuildPlanRequestTest, MlpFlag) {
  PlanOptions options;
  options.layers = "32";
  options.hidden = "4096";
  options.heads = "32";
  options.mlp = "plain";
  // A plain MLP needs neither --params nor --ffn: FFN = 4 × 4096 = 16384.
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model.mlp, planner::MlpKind::kGelu);
  EXPECT_EQ(request->model.ffn, 16384);
  // --mlp gated is the default: the same numbers with --params 6.7B solve
  // the FFN for three matrices (Llama 2 7B's 11008).
  options.params = "6.7B";
  options.mlp = "gated";
  request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model.mlp, planner::MlpKind::kSwiGlu);
  EXPECT_EQ(request->model.ffn, 11008);
  options.mlp.reset();
  request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model.mlp, planner::MlpKind::kSwiGlu);
}

TEST(BuildPlanRequestTest, MlpErrors) {
  PlanOptions options;
  options.layers = "32";
  options.hidden = "4096";
  options.heads = "32";
  options.mlp = "swish";
  EXPECT_EQ(ErrorOf(options, "--mlp"), "--mlp: unknown value \"swish\" (accepted: gated, plain)");
  // Gated without --params or --ffn cannot solve the FFN.
  options.mlp = "gated";
  EXPECT_EQ(ErrorOf(options, "--params"),
            "--params: give --params or --ffn (or both), or --mlp plain");
  // Not with a catalogued or config.json model, nor alone.
  const std::string not_with_model =
      "--mlp: only with the explicit shape flags (--params, --layers, --hidden, --heads, ...); "
      "a --model or --hf-config model has its own MLP";
  PlanOptions catalogued = Llama7b();
  catalogued.mlp = "plain";
  EXPECT_EQ(ErrorOf(catalogued, "--mlp"), not_with_model);
  PlanOptions alone;
  alone.mlp = "plain";
  EXPECT_EQ(ErrorOf(alone, "--mlp"), not_with_model);
}

TEST(BuildPlanRequestTest, ObjectiveFlag) {
  PlanOptions options = Llama7b();
  options.task = "infer";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->infer.objective, planner::ServingObjective::kThroughput);  // default
  const std::pair<const char*, planner::ServingObjective> cases[] = {
      {"throughput", planner::ServingObjective::kThroughput},
      {"fewest-gpus", planner::ServingObjective::kFewestGpus},
      {"latency", planner::ServingObjective::kLatency}};
  for (const auto& [name, objective] : cases) {
    options.objective = name;
    request = BuildPlanRequest(options);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(request->infer.objective, objective) << name;
  }
  options.objective = "cheapest";
  EXPECT_EQ(ErrorOf(options, "--objective"),
            "--objective: unknown value \"cheapest\" (accepted: throughput, fewest-gpus, "
            "latency)");
  // Training has no serving objective.
  PlanOptions training = Llama7b();
  training.objective = "latency";
  EXPECT_EQ(ErrorOf(training, "--objective"), "--objective: applies to --task infer only");
}

TEST(BuildPlanRequestTest, TokensPerSecondIsAnInferenceTarget) {
  PlanOptions options = Llama7b();
  options.task = "infer";
  options.tokens_per_second = "5k";
  absl::StatusOr<planner::PlanRequest> request = BuildPlanRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->tokens_per_second, 5000);
  options.tokens_per_second = "0";
  EXPECT_EQ(ErrorOf(options, "--tokens-per-second"),
            "--tokens-per-second: must be above 0 (got \"0\")");
  // Tokens and days stay training's.
  options.tokens_per_second.reset();
  options.tokens = "1T";
  EXPECT_EQ(ErrorOf(options, "--tokens"),
            "--tokens: a pace in --tokens and --days applies to training only; inference "
            "takes --tokens-per-second (decode tokens/s of all replicas together)");
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
  EXPECT_EQ(ErrorOf(numbers, "--heads"), "--heads: 48 heads do not divide --hidden 4000");
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
  EXPECT_TRUE(absl::StartsWith(err2.str(), "berth plan: --model: ")) << err2.str();
  EXPECT_EQ(out2.str(), "");

  // A flag of the other task: exit 2, the flag named, nothing printed.
  options = Llama7b();
  options.objective = "latency";
  std::ostringstream out3, err3;
  EXPECT_EQ(RunPlan(options, out3, err3), kExitUsage);
  EXPECT_EQ(err3.str(), "berth plan: --objective: applies to --task infer only\n");
  EXPECT_EQ(out3.str(), "");
  options = Llama7b();
  options.mlp = "plain";
  std::ostringstream out4, err4;
  EXPECT_EQ(RunPlan(options, out4, err4), kExitUsage);
  EXPECT_TRUE(absl::StartsWith(err4.str(), "berth plan: --mlp: only with the explicit shape"))
      << err4.str();
}

TEST(RunPlanTest, InferenceWithAnObjectiveAndATarget) {
  PlanOptions options = Llama7b();
  options.task = "infer";
  options.objective = "latency";
  std::ostringstream out, err;
  EXPECT_EQ(RunPlan(options, out, err), kExitOk) << err.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "  objective latency\n")) << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "\nLaunch (vllm):  --tensor-parallel-size "))
      << out.str();

  options.objective.reset();
  options.tokens_per_second = "20k";
  options.batch = "64";
  options.json = true;
  std::ostringstream json, err2;
  EXPECT_EQ(RunPlan(options, json, err2), kExitOk) << err2.str();
  // A target makes the pace the objective; the JSON carries the new fields.
  EXPECT_TRUE(absl::StrContains(json.str(), "\"objective\": \"pace\"")) << json.str();
  EXPECT_TRUE(absl::StrContains(json.str(), "\"launch\": [")) << json.str();
  EXPECT_TRUE(absl::StrContains(json.str(), "\"replica_batch\": ")) << json.str();
  EXPECT_TRUE(absl::StrContains(json.str(), "\"precision\": \"bf16\"")) << json.str();
}

}  // namespace
}  // namespace berth::cli
