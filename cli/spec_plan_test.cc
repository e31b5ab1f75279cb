// `berth plan --spec`: what the CLI adds around the shared mapping
// (proto/spec_plan.h, tested in proto/spec_plan_test.cc): which flags may
// stand beside a spec, which GPU is planned for, and errors that name the
// file and the spec field or the flag.
#include "cli/spec_plan.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "cli/job_spec.h"
#include "cli/plan_command.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/solver.h"

namespace berth::cli {
namespace {

using absl::StatusCode;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::StartsWith;

berth::v1::JobSpec Llama7b() {
  berth::v1::JobSpec spec;
  spec.set_task("train");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.mutable_train()->set_seq(4096);
  return spec;
}

TEST(SpecPlanTest, ModelAndWorkloadFlagsBesideASpecAreErrors) {
  EXPECT_THAT(PlanRequestFromSpec(PlanOptions{.seq = "8192"}, Llama7b(), "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument,
                       Eq("--seq: not with --spec; set train.seq in the spec")));
  EXPECT_THAT(PlanRequestFromSpec(PlanOptions{.model = "llama-2-70b"}, Llama7b(), "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument,
                       Eq("--model: not with --spec; set model.catalog_name in the spec")));
  EXPECT_THAT(PlanRequestFromSpec(PlanOptions{.zero = "1"}, Llama7b(), "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument, "set split.zero_stage in the spec"));
  EXPECT_THAT(PlanRequestFromSpec(PlanOptions{.mlp = "plain"}, Llama7b(), "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument,
                       Eq("--mlp: not with --spec; set model.shape.mlp in the spec")));
  EXPECT_THAT(PlanRequestFromSpec(PlanOptions{.objective = "latency"}, Llama7b(), "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument,
                       Eq("--objective: not with --spec; set infer.objective in the spec")));
}

TEST(SpecPlanTest, AnInferenceSpecWithAnObjectiveAndATarget) {
  berth::v1::JobSpec spec;
  spec.set_task("infer");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.mutable_infer()->set_objective("fewest-gpus");
  spec.mutable_objective()->set_tokens_per_second(2000);
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec({}, spec, "serve.yaml");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->infer.objective, planner::ServingObjective::kFewestGpus);
  EXPECT_EQ(request->tokens_per_second, 2000);
  // A bad value names the file and the spec field.
  spec.mutable_infer()->set_objective("soonest");
  EXPECT_THAT(PlanRequestFromSpec({}, spec, "serve.yaml"),
              StatusIs(StatusCode::kInvalidArgument,
                       StartsWith("serve.yaml: infer.objective: unknown value \"soonest\"")));
}

TEST(SpecPlanTest, TheGpuIsTheFlagsElseTheSpecsElseTheDefault) {
  berth::v1::JobSpec spec = Llama7b();
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec({}, spec, "job.yaml");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->hardware.gpu.name, kDefaultGpu);
  spec.set_gpu_type("a100-40gb");
  request = PlanRequestFromSpec({}, spec, "job.yaml");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->hardware.gpu.name, "a100-40gb");
  // --gpu and --gpu-memory-gib win over gpu_type.
  request = PlanRequestFromSpec({.gpu = "h100-80gb", .gpus_per_node = "4"}, spec, "job.yaml");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->hardware.gpu.name, "h100-80gb");
  EXPECT_EQ(request->hardware.gpus_per_node, 4);
  request = PlanRequestFromSpec({.gpu_memory_gib = "24"}, spec, "job.yaml");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->hardware.gpu.memory_bytes, 24 * planner::kGiB);
  // An unknown gpu_type is the spec's error.
  spec.set_gpu_type("voodoo-5");
  EXPECT_THAT(PlanRequestFromSpec({}, spec, "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("job.yaml: gpu_type: ")));
}

TEST(SpecPlanTest, LimitFlagsApply) {
  absl::StatusOr<planner::PlanRequest> request =
      PlanRequestFromSpec({.max_gpus = "64", .alternatives = "5"}, Llama7b(), "job.yaml");
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->max_gpus, 64);
  EXPECT_EQ(request->max_alternatives, 5);
}

TEST(SpecPlanTest, ErrorsNameTheFileAndTheSpecFieldOrTheFlag) {
  berth::v1::JobSpec spec = Llama7b();
  spec.mutable_train()->set_framework("jax");
  EXPECT_THAT(PlanRequestFromSpec({}, spec, "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("job.yaml: train.framework: ")));
  // A planner field the spec sets ("seq") is named by its spec path.
  spec = Llama7b();
  spec.mutable_train()->set_seq(-1);
  EXPECT_THAT(PlanRequestFromSpec({}, spec, "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("job.yaml: train.seq: ")));
  // One the flags set is named by the flag.
  EXPECT_THAT(PlanRequestFromSpec({.gpus_per_node = "2000"}, Llama7b(), "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("--gpus-per-node: ")));
  // A fixed split above --max-gpus is the flag's; above the default, the spec's.
  spec = Llama7b();
  spec.mutable_split()->set_tp(8);
  spec.mutable_split()->set_dp(4);
  EXPECT_THAT(PlanRequestFromSpec({.max_gpus = "16"}, spec, "job.yaml"),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("--max-gpus: ")));
  EXPECT_THAT(SpecPlanError({}, "job.yaml", absl::InvalidArgumentError("max_gpus: too many")),
              StatusIs(StatusCode::kInvalidArgument, Eq("job.yaml: split: too many")));
}

TEST(SpecPlanTest, ReadsTheFileAndSaysWhenItPlansForTheDefaultGpu) {
  const std::string path = ::testing::TempDir() + "/spec_plan_test.json";
  {
    std::ofstream file(path);
    file << R"({"task": "infer", "model": {"catalog_name": "llama-2-7b"}})";
  }
  std::ostringstream err;
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpecFile({.spec = path}, err);
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->task, planner::Task::kInfer);
  EXPECT_THAT(err.str(), HasSubstr("names no gpu_type; planning for h100-80gb"));
  std::ostringstream quiet;
  ASSERT_THAT(PlanRequestFromSpecFile({.spec = path, .gpu = "a100-80gb"}, quiet), IsOk());
  EXPECT_EQ(quiet.str(), "");
  // Errors reading the file name it (cli/job_spec.h).
  EXPECT_THAT(PlanRequestFromSpecFile({.spec = path + ".missing"}, err),
              StatusIs(StatusCode::kInvalidArgument, path + ".missing"));
}

TEST(SpecPlanTest, EveryExampleSpecPlans) {
  int planned = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    const std::string name = entry.path().filename().string();
    // Not job specs: inventories, token files, the quick start's teams file.
    if (name.rfind("inventory", 0) == 0 || name.rfind("tokens", 0) == 0 ||
        name.rfind("teams", 0) == 0) {
      continue;
    }
    SCOPED_TRACE(name);
    std::ostringstream err;
    absl::StatusOr<planner::PlanRequest> request =
        PlanRequestFromSpecFile({.spec = entry.path().string()}, err);
    ASSERT_THAT(request, IsOk());
    EXPECT_THAT(planner::SolvePlan(*request), IsOk());
    ++planned;
  }
  EXPECT_EQ(planned, 10);  // five specs, each as JSON and as YAML
}

}  // namespace
}  // namespace berth::cli
