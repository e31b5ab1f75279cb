#include "proto/spec_plan.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "berth/v1/job.pb.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "planner/gpu.h"
#include "planner/model.h"
#include "planner/solver.h"
#include "planner/workload.h"
#include "proto/hf_config_json.h"

namespace berth::proto {
namespace {

using absl::StatusCode;
using ::testing::StartsWith;

// 8 × 80 GiB per node, as a pool's hardware.
planner::Hardware Pool() {
  planner::Hardware hardware;
  hardware.gpu = {.name = "h100-80gb", .memory_bytes = 80 * planner::kGiB};
  hardware.gpus_per_node = 8;
  return hardware;
}

berth::v1::JobSpec SpecFromJson(const std::string& json) {
  berth::v1::JobSpec spec;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return spec;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(PlanRequestFromSpecTest, MapsEveryTrainingField) {
  berth::v1::JobSpec spec = SpecFromJson(R"({
    "task": "train",
    "model": {"shape": {"params": 6.7e9, "layers": 32, "hidden": 4096,
                        "heads": 32, "kv_heads": 8, "vocab": 32000}},
    "train": {"seq": 2048, "micro_batch": 2, "global_batch": 512,
              "framework": "deepspeed", "recompute": "selective",
              "flash_attention": false, "sequence_parallel": true,
              "virtual_stages": 2},
    "objective": {"tokens": 1e12, "days": 20, "mfu": 0.35},
    "split": {"tp": 2, "pp": 2, "dp": 4, "ep": 0, "zero_stage": 1},
    "gpu_type": "a100-80gb", "name": "ignored", "command": ["python"]})");
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->task, planner::Task::kTrain);
  EXPECT_EQ(request->model.name, "custom");
  EXPECT_EQ(request->model.layers, 32);
  EXPECT_EQ(request->model.hidden, 4096);
  EXPECT_EQ(request->model.heads, 32);
  EXPECT_EQ(request->model.kv_heads, 8);
  EXPECT_EQ(request->model.vocab, 32000);
  EXPECT_EQ(request->model.declared_params, 6'700'000'000);
  EXPECT_EQ(request->train.seq, 2048);
  EXPECT_EQ(request->train.micro_batch, 2);
  EXPECT_EQ(request->train.global_batch, 512);
  EXPECT_EQ(request->train.framework, planner::Framework::kDeepSpeed);
  EXPECT_EQ(request->train.recompute, planner::Recompute::kSelective);
  EXPECT_FALSE(request->train.flash_attention);
  EXPECT_TRUE(request->train.sequence_parallel);
  EXPECT_EQ(request->train.virtual_stages, 2);
  EXPECT_EQ(request->tokens, 1e12);
  EXPECT_EQ(request->days, 20);
  EXPECT_EQ(request->tokens_per_second, 0);
  EXPECT_EQ(request->mfu, 0.35);
  EXPECT_EQ(request->fixed.tp, 2);
  EXPECT_EQ(request->fixed.pp, 2);
  EXPECT_EQ(request->fixed.dp, 4);
  EXPECT_EQ(request->fixed.ep, 0);
  EXPECT_EQ(request->fixed.zero_stage, 1);
  // The hardware is the caller's (the pool's), not the spec's gpu_type.
  EXPECT_EQ(request->hardware.gpu.name, "h100-80gb");
  EXPECT_EQ(request->hardware.gpus_per_node, 8);
  EXPECT_EQ(request->max_alternatives, 3);
  // 2 × 2 × 4 = 16 GPUs ≤ the planner's default max_gpus.
  EXPECT_THAT(planner::ValidateRequest(*request), IsOk());
}

TEST(PlanRequestFromSpecTest, MapsEveryInferenceField) {
  berth::v1::JobSpec spec = SpecFromJson(R"({
    "task": "infer", "model": {"catalog_name": "llama-2-70b"},
    "infer": {"weights": "int8", "kv_dtype": "fp8", "batch": 32,
              "context": 16384, "offload": "none", "objective": "latency"},
    "objective": {"tokens_per_second": 5000},
    "train": {"seq": 999},
    "split": {"tp": 4}})");
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->task, planner::Task::kInfer);
  EXPECT_EQ(request->model.name, "llama-2-70b");
  EXPECT_EQ(request->model.layers, 80);  // from the catalog
  EXPECT_EQ(request->infer.weights, planner::DType::kInt8);
  EXPECT_EQ(request->infer.kv_dtype, planner::DType::kFp8);
  EXPECT_EQ(request->infer.batch, 32);
  EXPECT_EQ(request->infer.context, 16384);
  EXPECT_EQ(request->infer.offload, planner::Offload::kNone);
  EXPECT_EQ(request->infer.objective, planner::ServingObjective::kLatency);
  // An aggregate decode target: all replicas together.
  EXPECT_EQ(request->tokens_per_second, 5000);
  EXPECT_EQ(request->fixed.tp, 4);
  // train.* is not read for an inference job.
  EXPECT_EQ(request->train.seq, planner::TrainWorkload{}.seq);
  // 4 GPUs (TP 4) ≤ the planner's default max_gpus; a tokens/s target is
  // accepted for inference.
  EXPECT_THAT(planner::ValidateRequest(*request), IsOk());
}

TEST(PlanRequestFromSpecTest, EveryServingObjectiveMaps) {
  const struct {
    const char* name;
    planner::ServingObjective objective;
  } cases[] = {
      {"", planner::ServingObjective::kThroughput},  // the default
      {"throughput", planner::ServingObjective::kThroughput},
      {"fewest-gpus", planner::ServingObjective::kFewestGpus},
      {"latency", planner::ServingObjective::kLatency},
  };
  for (const auto& c : cases) {
    berth::v1::JobSpec spec =
        SpecFromJson(R"({"task": "infer", "model": {"catalog_name": "llama-2-7b"}})");
    spec.mutable_infer()->set_objective(c.name);
    absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
    ASSERT_THAT(request, IsOk()) << c.name;
    EXPECT_EQ(request->infer.objective, c.objective) << c.name;
  }
}

TEST(PlanRequestFromSpecTest, MapsTheMlpKindOfAnExplicitShape) {
  // Plain MLP, neither ffn nor params: ffn = 4·hidden = 16384 (Megatron's
  // default). Per layer 4h² (attention) + 2·h·f (up, down) + 2h (norms)
  //   = 67,108,864 + 134,217,728 + 8,192 = 201,334,784;
  // × 32 layers + 2·32000·4096 (embedding, head) + 4096 (final norm)
  //   = 6,442,713,088 + 262,144,000 + 4,096 = 6,704,861,184.
  berth::v1::JobSpec spec = SpecFromJson(R"({
    "task": "train",
    "model": {"shape": {"layers": 32, "hidden": 4096, "heads": 32,
                        "mlp": "plain"}}})");
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->model.mlp, planner::MlpKind::kGelu);
  EXPECT_EQ(request->model.ffn, 16384);
  EXPECT_EQ(planner::CountParams(request->model).total, 6'704'861'184);

  // The same count with the default (gated) MLP: three matrices, so
  // 3·h·f = 2·h·16384 gives f = 16384·2/3 = 10922.67, rounded to the nearest
  // multiple of 256: 43 × 256 = 11008 (Llama 2 7B's FFN).
  spec.mutable_model()->mutable_shape()->set_params(6'704'861'184);
  spec.mutable_model()->mutable_shape()->clear_mlp();
  request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->model.mlp, planner::MlpKind::kSwiGlu);
  EXPECT_EQ(request->model.ffn, 11008);

  // A gated MLP needs params or ffn; the error names the shape.
  spec.mutable_model()->mutable_shape()->set_params(0);
  spec.mutable_model()->mutable_shape()->set_mlp("gated");
  EXPECT_THAT(PlanRequestFromSpec(spec, Pool()),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("model.shape: ffn: ")));
}

TEST(PlanRequestFromSpecTest, UnsetFieldsKeepThePlannersDefaults) {
  berth::v1::JobSpec spec = SpecFromJson(
      R"({"task": "train", "model": {"catalog_name": "llama-2-7b"},
          "train": {"recompute": "auto"}})");
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  const planner::TrainWorkload defaults;
  EXPECT_EQ(request->train.seq, defaults.seq);  // 4096
  EXPECT_EQ(request->train.micro_batch, 0);     // searched
  EXPECT_EQ(request->train.framework, defaults.framework);
  EXPECT_FALSE(request->train.recompute.has_value());  // "auto": searched
  EXPECT_TRUE(request->train.flash_attention);
  EXPECT_EQ(request->train.virtual_stages, 1);
  EXPECT_EQ(request->fixed.tp, 0);           // searched
  EXPECT_EQ(request->fixed.zero_stage, -1);  // searched
  EXPECT_EQ(request->mfu, planner::kDefaultMfu);
  EXPECT_EQ(request->tokens, 0);
  EXPECT_EQ(request->max_gpus, planner::kDefaultMaxGpus);  // the caller's to set

  // zero_stage 0 is given, not "searched".
  spec.mutable_split()->set_zero_stage(0);
  request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->fixed.zero_stage, 0);
}

TEST(PlanRequestFromSpecTest, ReadsAHuggingFaceConfig) {
  berth::v1::JobSpec spec;
  spec.set_task("infer");
  spec.mutable_model()->set_hf_config_json(
      ReadFile(std::string(BERTH_TEST_DATA_DIR) + "/hf/mixtral-8x7b/config.json"));
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->model.layers, 32);
  EXPECT_EQ(request->model.experts, 8);
  EXPECT_EQ(request->model.experts_per_token, 2);
}

TEST(PlanRequestFromSpecTest, ErrorsNameTheSpecField) {
  berth::v1::JobSpec spec;
  EXPECT_THAT(PlanRequestFromSpec(spec, Pool()),
              StatusIs(StatusCode::kInvalidArgument, "task: required"));
  spec.set_task("fly");
  EXPECT_THAT(PlanRequestFromSpec(spec, Pool()),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("task: ")));
  spec.set_task("train");
  EXPECT_THAT(PlanRequestFromSpec(spec, Pool()),
              StatusIs(StatusCode::kInvalidArgument,
                       "model: one of catalog_name, hf_config_json or shape is required"));
  // The catalog's NotFound is a bad request here.
  spec.mutable_model()->set_catalog_name("llama-9-1t");
  EXPECT_THAT(PlanRequestFromSpec(spec, Pool()),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("model.catalog_name: ")));
  spec.mutable_model()->set_catalog_name("llama-2-7b");

  struct Case {
    const char* json;
    const char* field;
  };
  const Case cases[] = {
      {R"({"train": {"framework": "jax"}})", "train.framework: "},
      {R"({"train": {"recompute": "sometimes"}})", "train.recompute: "},
      {R"({"train": {"virtual_stages": -1}})", "train.virtual_stages: "},
      {R"({"split": {"zero_stage": 4}})", "split.zero_stage: 4 is out of range [0, 3]"},
      {R"({"model": {"shape": {"params": 1e300, "layers": 2}}})", "model.shape.params: "},
      {R"({"model": {"shape": {"layers": 2, "hidden": 100, "heads": 3}}})", "model.shape"},
      {R"({"model": {"hf_config_json": "not json"}})", "model.hf_config_json: "},
      {R"({"task": "infer", "infer": {"weights": "fp7"}})", "infer.weights: "},
      {R"({"task": "infer", "infer": {"kv_dtype": "int3"}})", "infer.kv_dtype: "},
      {R"({"task": "infer", "infer": {"offload": "disk"}})", "infer.offload: "},
      {R"({"task": "infer", "infer": {"objective": "cheapest"}})",
       "infer.objective: unknown value \"cheapest\" (accepted: throughput, fewest-gpus, "
       "latency)"},
      {R"({"model": {"shape": {"layers": 2, "hidden": 1024, "heads": 8, "mlp": "swishy"}}})",
       "model.shape.mlp: unknown value \"swishy\" (accepted: gated, plain)"},
  };
  for (const Case& c : cases) {
    berth::v1::JobSpec bad = spec;
    bad.MergeFrom(SpecFromJson(c.json));
    EXPECT_THAT(PlanRequestFromSpec(bad, Pool()),
                StatusIs(StatusCode::kInvalidArgument, StartsWith(c.field)))
        << c.json;
  }
  berth::v1::JobSpec big = spec;
  big.mutable_model()->set_hf_config_json(std::string(kMaxHfConfigBytes + 1, ' '));
  EXPECT_THAT(PlanRequestFromSpec(big, Pool()),
              StatusIs(StatusCode::kInvalidArgument, "model.hf_config_json: larger than 192 KiB"));
}

TEST(PlanRequestFromSpecTest, APaceForInferenceIsRefusedByValidation) {
  berth::v1::JobSpec spec = SpecFromJson(
      R"({"task": "infer", "model": {"catalog_name": "llama-2-7b"},
          "objective": {"tokens": 1e12, "days": 30}})");
  absl::StatusOr<planner::PlanRequest> request = PlanRequestFromSpec(spec, Pool());
  ASSERT_THAT(request, IsOk());
  EXPECT_THAT(WithSpecFieldName(planner::ValidateRequest(*request)),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("objective.tokens: ")));
}

TEST(WithSpecFieldNameTest, NamesTheSpecFieldOfAPlannerField) {
  const struct {
    const char* planner;
    const char* spec;
  } cases[] = {
      {"seq: 0 is out of range", "train.seq: 0 is out of range"},
      {"tokens_per_second: at most 1e15", "objective.tokens_per_second: at most 1e15"},
      {"tokens: at most 1e18", "objective.tokens: at most 1e18"},
      {"zero: Megatron supports ZeRO 0 or 1", "split.zero_stage: Megatron supports ZeRO 0 or 1"},
      {"max_gpus: the fixed split needs", "split: the fixed split needs"},
      {"context: 0 is out of range", "infer.context: 0 is out of range"},
      {"heads: 3 does not divide hidden", "model.heads: 3 does not divide hidden"},
      {"objective: unknown value \"x\"", "infer.objective: unknown value \"x\""},
      {"mlp: unknown value \"x\"", "model.shape.mlp: unknown value \"x\""},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(WithSpecFieldName(absl::InvalidArgumentError(c.planner)),
                StatusIs(StatusCode::kInvalidArgument, ::testing::Eq(c.spec)));
  }
  // The code is kept; OK stays OK.
  EXPECT_THAT(WithSpecFieldName(absl::OutOfRangeError("seq: x")),
              StatusIs(StatusCode::kOutOfRange, "train.seq: x"));
  EXPECT_THAT(WithSpecFieldName(absl::OkStatus()), IsOk());
}

TEST(PlanRequestFromSpecTest, EveryExampleSpecMapsAndValidates) {
  int mapped = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "inventory") || absl::StartsWith(name, "tokens") ||
        entry.path().extension() != ".json") {
      continue;  // not job specs, or YAML (the CLI's reader; cli/job_spec_yaml_test.cc)
    }
    SCOPED_TRACE(name);
    absl::StatusOr<planner::PlanRequest> request =
        PlanRequestFromSpec(SpecFromJson(ReadFile(entry.path().string())), Pool());
    ASSERT_THAT(request, IsOk());
    EXPECT_THAT(planner::ValidateRequest(*request), IsOk());
    ++mapped;
  }
  EXPECT_EQ(mapped, 5);
}

}  // namespace
}  // namespace berth::proto
