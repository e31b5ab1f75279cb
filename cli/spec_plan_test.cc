// `berth plan --spec` must plan what berthd plans for the same spec: the
// CLI's mapping (cli/spec_plan.h, spec → plan flags → BuildPlanRequest) is
// checked against the daemon's PlanRequestFromSpec (daemon/convert.h) on
// every example spec and on specs that set every planner-facing field.
#include "cli/spec_plan.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "cli/job_spec.h"
#include "cli/plan_command.h"
#include "daemon/convert.h"
#include "gtest/gtest.h"
#include "planner/solver.h"
#include "proto/plan_convert.h"

namespace berth::cli {
namespace {

// The plan report, as JSON, that a planner request solves to.
std::string SolvedJson(const planner::PlanRequest& request) {
  absl::StatusOr<planner::PlanResult> result = planner::SolvePlan(request);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return "";
  absl::StatusOr<std::string> json =
      proto::PlanReportToJson(proto::ToPlanReport(request, *result));
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : "";
}

// Maps `spec` both ways and checks that the requests and their plans agree.
void ExpectSameRequest(const berth::v1::JobSpec& spec, const std::string& what) {
  SCOPED_TRACE(what);
  absl::StatusOr<PlanOptions> options = PlanOptionsFromSpec(PlanOptions{}, spec);
  ASSERT_TRUE(options.ok()) << options.status();
  absl::StatusOr<planner::PlanRequest> cli = BuildPlanRequest(*options);
  ASSERT_TRUE(cli.ok()) << cli.status();
  // The daemon plans for a pool's hardware; give it the CLI's.
  absl::StatusOr<planner::PlanRequest> daemon =
      daemon::PlanRequestFromSpec(spec, cli->hardware);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  EXPECT_EQ(cli->task, daemon->task);
  EXPECT_EQ(cli->model.name, daemon->model.name);
  EXPECT_EQ(cli->train.seq, daemon->train.seq);
  EXPECT_EQ(cli->train.micro_batch, daemon->train.micro_batch);
  EXPECT_EQ(cli->train.global_batch, daemon->train.global_batch);
  EXPECT_EQ(cli->train.framework, daemon->train.framework);
  EXPECT_EQ(cli->train.recompute, daemon->train.recompute);
  EXPECT_EQ(cli->train.flash_attention, daemon->train.flash_attention);
  EXPECT_EQ(cli->train.sequence_parallel, daemon->train.sequence_parallel);
  EXPECT_EQ(cli->train.virtual_stages, daemon->train.virtual_stages);
  EXPECT_EQ(cli->infer.weights, daemon->infer.weights);
  EXPECT_EQ(cli->infer.kv_dtype, daemon->infer.kv_dtype);
  EXPECT_EQ(cli->infer.batch, daemon->infer.batch);
  EXPECT_EQ(cli->infer.context, daemon->infer.context);
  EXPECT_EQ(cli->infer.offload, daemon->infer.offload);
  EXPECT_EQ(cli->fixed.tp, daemon->fixed.tp);
  EXPECT_EQ(cli->fixed.pp, daemon->fixed.pp);
  EXPECT_EQ(cli->fixed.dp, daemon->fixed.dp);
  EXPECT_EQ(cli->fixed.zero_stage, daemon->fixed.zero_stage);
  EXPECT_EQ(cli->fixed.ep, daemon->fixed.ep);
  EXPECT_EQ(cli->tokens, daemon->tokens);
  EXPECT_EQ(cli->days, daemon->days);
  EXPECT_EQ(cli->tokens_per_second, daemon->tokens_per_second);
  EXPECT_EQ(cli->mfu, daemon->mfu);
  EXPECT_EQ(cli->max_gpus, daemon->max_gpus);
  EXPECT_EQ(cli->max_alternatives, daemon->max_alternatives);
  // And the whole plan, model shape and memory included, is the same.
  EXPECT_EQ(SolvedJson(*cli), SolvedJson(*daemon));
}

berth::v1::JobSpec ReadSpec(const std::string& path) {
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(path);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : berth::v1::JobSpec{};
}

TEST(SpecPlanTest, AgreesWithTheDaemonOnEveryExample) {
  int compared = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "inventory") || absl::StartsWith(name, "tokens")) {
      continue;  // not job specs
    }
    ExpectSameRequest(ReadSpec(entry.path().string()), name);
    ++compared;
  }
  EXPECT_EQ(compared, 10);  // five specs, each as JSON and as YAML
}

TEST(SpecPlanTest, AgreesOnEveryTrainingField) {
  absl::StatusOr<berth::v1::JobSpec> spec = ParseJobSpecJson("train", R"({
    "task": "train",
    "model": {"shape": {"params": 6.7e9, "layers": 32, "hidden": 4096,
                        "heads": 32, "kv_heads": 8, "vocab": 32000}},
    "train": {"seq": 2048, "micro_batch": 2, "global_batch": 512,
              "framework": "deepspeed", "recompute": "selective",
              "flash_attention": false, "sequence_parallel": true,
              "virtual_stages": 2},
    "objective": {"tokens": 1e12, "days": 20, "mfu": 0.35},
    "split": {"tp": 2, "pp": 2, "zero_stage": 1},
    "gpu_type": "a100-80gb"})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ExpectSameRequest(*spec, "every training field");
  spec->mutable_objective()->Clear();
  spec->mutable_objective()->set_tokens_per_second(1e6);
  spec->mutable_train()->set_recompute("auto");
  ExpectSameRequest(*spec, "tokens_per_second, recompute auto");
}

TEST(SpecPlanTest, AgreesOnEveryInferenceField) {
  absl::StatusOr<berth::v1::JobSpec> spec = ParseJobSpecJson("infer", R"({
    "task": "infer", "model": {"catalog_name": "llama-2-70b"},
    "infer": {"weights": "int8", "kv_dtype": "fp8", "batch": 32,
              "context": 16384, "offload": "none"},
    "split": {"tp": 4}})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ExpectSameRequest(*spec, "every inference field");
}

TEST(SpecPlanTest, AgreesOnAHuggingFaceConfig) {
  std::ifstream file(std::string(BERTH_TEST_DATA_DIR) +
                     "/hf/mixtral-8x7b/config.json");
  std::stringstream text;
  text << file.rdbuf();
  berth::v1::JobSpec spec;
  spec.set_task("infer");
  spec.mutable_model()->set_hf_config_json(text.str());
  ExpectSameRequest(spec, "hf_config_json");
}

TEST(SpecPlanTest, ModelFlagsBesideASpecAreErrors) {
  berth::v1::JobSpec spec;
  spec.set_task("train");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  PlanOptions flags{.seq = "8192"};
  absl::StatusOr<PlanOptions> options = PlanOptionsFromSpec(flags, spec);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().message(),
            "--seq: not with --spec; set train.seq in the spec");
  // GPU flags are allowed, and --gpu wins over the spec's gpu_type.
  spec.set_gpu_type("h100-80gb");
  options = PlanOptionsFromSpec(PlanOptions{.gpu = "a100-40gb"}, spec);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(*options->gpu, "a100-40gb");
}

TEST(SpecPlanTest, ASpecWithoutTaskOrModelIsAnError) {
  berth::v1::JobSpec spec;
  EXPECT_EQ(PlanOptionsFromSpec(PlanOptions{}, spec).status().message(),
            "task: required: \"train\" or \"infer\"");
  spec.set_task("train");
  EXPECT_EQ(PlanOptionsFromSpec(PlanOptions{}, spec).status().message(),
            "model: one of catalog_name, hf_config_json or shape is required");
}

TEST(SpecPlanTest, FlagErrorsAreRenamedToSpecFields) {
  absl::Status status = WithSpecFieldName(
      "job.yaml", absl::InvalidArgumentError("--heads: 3 heads do not divide"));
  EXPECT_EQ(status.message(), "job.yaml: model.shape.heads: 3 heads do not divide");
  status = WithSpecFieldName("job.yaml", absl::InvalidArgumentError("--gpu: x"));
  EXPECT_EQ(status.message(), "--gpu: x");
}

}  // namespace
}  // namespace berth::cli
