#include "proto/spec_plan.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "planner/catalog.h"
#include "planner/hf_config.h"
#include "planner/model.h"
#include "planner/workload.h"
#include "proto/hf_config_json.h"

namespace berth::proto {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// Prefixes a planner or parser error with the spec field it came from.
absl::Status Prefix(absl::string_view field, const absl::Status& status) {
  if (status.ok()) return status;
  return Invalid(field, status.message());
}

absl::StatusOr<planner::ModelShape> ModelFromHfConfigText(const std::string& text) {
  if (static_cast<int64_t>(text.size()) > kMaxHfConfigBytes) {
    return Invalid("model.hf_config_json",
                   absl::StrCat("larger than ", kMaxHfConfigBytes / 1024, " KiB"));
  }
  absl::StatusOr<planner::HfConfig> config = ParseHfConfigJson(text);
  if (!config.ok()) return Prefix("model.hf_config_json", config.status());
  absl::StatusOr<planner::ModelShape> shape = planner::ModelFromHfConfig(*config, "hf-config");
  if (!shape.ok()) return Prefix("model.hf_config_json", shape.status());
  return shape;
}

absl::StatusOr<planner::ModelShape> ModelFromShape(const berth::v1::ModelShapeSpec& s) {
  // A double beyond int64 would overflow the conversion below.
  if (!std::isfinite(s.params()) || s.params() < 0 || s.params() > 1e15) {
    return Invalid("model.shape.params", "must be a finite number in [0, 1e15]");
  }
  planner::MlpKind mlp = planner::MlpKind::kSwiGlu;  // "": gated
  if (!s.mlp().empty()) {
    absl::StatusOr<planner::MlpKind> parsed = planner::ParseMlpKind(s.mlp());
    // "mlp: unknown value ..." becomes "model.shape.mlp: unknown value ...".
    if (!parsed.ok()) return WithSpecFieldName(parsed.status());
    mlp = *parsed;
  }
  absl::StatusOr<planner::ModelShape> shape = planner::ShapeFromNumbers(planner::ShapeNumbers{
      .params = static_cast<int64_t>(s.params()),
      .layers = s.layers(),
      .hidden = s.hidden(),
      .heads = s.heads(),
      .kv_heads = s.kv_heads(),
      .ffn = s.ffn(),
      .vocab = s.vocab(),
      .mlp = mlp,
  });
  if (!shape.ok()) return Prefix("model.shape", shape.status());
  return shape;
}

absl::StatusOr<planner::ModelShape> ModelFromSpec(const berth::v1::ModelSpec& model) {
  switch (model.source_case()) {
    case berth::v1::ModelSpec::kCatalogName: {
      absl::StatusOr<planner::ModelShape> shape = planner::FindModel(model.catalog_name());
      if (!shape.ok()) return Prefix("model.catalog_name", shape.status());
      return shape;
    }
    case berth::v1::ModelSpec::kHfConfigJson:
      return ModelFromHfConfigText(model.hf_config_json());
    case berth::v1::ModelSpec::kShape:
      return ModelFromShape(model.shape());
    case berth::v1::ModelSpec::SOURCE_NOT_SET:
      break;
  }
  return Invalid("model", "one of catalog_name, hf_config_json or shape is required");
}

// Parses a keyword with one of the planner's Parse* functions when it is
// given; an empty keyword keeps the planner's default in `out` (a T, or a
// std::optional<T>).
template <typename T, typename Out>
absl::Status ParseKeyword(absl::string_view field, const std::string& text,
                          absl::StatusOr<T> (*parse)(absl::string_view), Out& out) {
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<T> value = parse(text);
  if (!value.ok()) return Prefix(field, value.status());
  out = *value;
  return absl::OkStatus();
}

absl::Status FillTrain(const berth::v1::TrainSpec& t, planner::TrainWorkload& w) {
  if (t.seq() != 0) w.seq = t.seq();
  w.micro_batch = t.micro_batch();
  w.global_batch = t.global_batch();
  BERTH_RETURN_IF_ERROR(
      ParseKeyword("train.framework", t.framework(), &planner::ParseFramework, w.framework));
  if (t.recompute() != "auto") {  // "auto": the planner searches it
    BERTH_RETURN_IF_ERROR(
        ParseKeyword("train.recompute", t.recompute(), &planner::ParseRecompute, w.recompute));
  }
  if (t.has_flash_attention()) w.flash_attention = t.flash_attention();
  w.sequence_parallel = t.sequence_parallel();
  if (t.virtual_stages() > 1) w.virtual_stages = t.virtual_stages();
  if (t.virtual_stages() < 0) return Invalid("train.virtual_stages", "must be ≥ 0");
  return absl::OkStatus();
}

absl::Status FillInfer(const berth::v1::InferSpec& i, planner::InferWorkload& w) {
  BERTH_RETURN_IF_ERROR(
      ParseKeyword("infer.weights", i.weights(), &planner::ParseDType, w.weights));
  BERTH_RETURN_IF_ERROR(
      ParseKeyword("infer.kv_dtype", i.kv_dtype(), &planner::ParseDType, w.kv_dtype));
  if (i.batch() != 0) w.batch = i.batch();
  if (i.context() != 0) w.context = i.context();
  BERTH_RETURN_IF_ERROR(
      ParseKeyword("infer.offload", i.offload(), &planner::ParseOffload, w.offload));
  if (i.objective().empty()) return absl::OkStatus();  // throughput
  absl::StatusOr<planner::ServingObjective> objective =
      planner::ParseServingObjective(i.objective());
  // "objective: unknown value ..." becomes "infer.objective: unknown value ...".
  if (!objective.ok()) return WithSpecFieldName(objective.status());
  w.objective = *objective;
  return absl::OkStatus();
}

absl::Status FillSplit(const berth::v1::SplitSpec& split, planner::FixedSplit& fixed) {
  fixed.tp = split.tp();
  fixed.pp = split.pp();
  fixed.dp = split.dp();
  fixed.ep = split.ep();
  if (!split.has_zero_stage()) return absl::OkStatus();  // fixed.zero_stage -1: searched
  if (split.zero_stage() < 0 || split.zero_stage() > 3) {
    return Invalid("split.zero_stage", absl::StrCat(split.zero_stage(), " is out of range [0, 3]"));
  }
  fixed.zero_stage = split.zero_stage();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const berth::v1::JobSpec& spec,
                                                         const planner::Hardware& hardware) {
  planner::PlanRequest request;
  if (spec.task().empty()) return Invalid("task", "required: \"train\" or \"infer\"");
  absl::StatusOr<planner::Task> task = planner::ParseTask(spec.task());
  if (!task.ok()) return Prefix("task", task.status());
  request.task = *task;
  BERTH_ASSIGN_OR_RETURN(request.model, ModelFromSpec(spec.model()));
  if (request.task == planner::Task::kTrain) {
    BERTH_RETURN_IF_ERROR(FillTrain(spec.train(), request.train));
  } else {
    BERTH_RETURN_IF_ERROR(FillInfer(spec.infer(), request.infer));
  }
  // Inference takes tokens_per_second (all replicas' decode tokens/s);
  // tokens and days are kept for it too, so that ValidateRequest refuses them.
  request.tokens = spec.objective().tokens();
  request.days = spec.objective().days();
  request.tokens_per_second = spec.objective().tokens_per_second();
  if (spec.objective().mfu() != 0) request.mfu = spec.objective().mfu();
  BERTH_RETURN_IF_ERROR(FillSplit(spec.split(), request.fixed));
  request.hardware = hardware;
  request.max_alternatives = 3;
  return request;
}

absl::Status WithSpecFieldName(const absl::Status& planner_error) {
  // Planner request fields (as its errors spell them) and their spec paths;
  // "tokens_per_second" comes before "tokens", which it starts with.
  static constexpr std::pair<absl::string_view, absl::string_view> kPaths[] = {
      {"seq", "train.seq"},
      {"micro_batch", "train.micro_batch"},
      {"global_batch", "train.global_batch"},
      {"virtual_stages", "train.virtual_stages"},
      {"batch", "infer.batch"},
      {"context", "infer.context"},
      {"prefill_chunk", "infer.prefill_chunk"},
      {"tokens_per_second", "objective.tokens_per_second"},
      {"tokens", "objective.tokens"},
      {"days", "objective.days"},
      {"mfu", "objective.mfu"},
      {"tp", "split.tp"},
      {"pp", "split.pp"},
      {"dp", "split.dp"},
      {"zero", "split.zero_stage"},
      {"ep", "split.ep"},
      {"offload", "infer.offload"},
      {"objective", "infer.objective"},
      {"mlp", "model.shape.mlp"},
      {"max_gpus", "split"},
  };
  if (planner_error.ok()) return planner_error;
  absl::string_view message = planner_error.message();
  for (const auto& [field, path] : kPaths) {
    if (absl::StartsWith(message, absl::StrCat(field, ":"))) {
      return absl::Status(planner_error.code(), absl::StrCat(path, message.substr(field.size())));
    }
  }
  // ValidateShape's fields.
  return absl::Status(planner_error.code(), absl::StrCat("model.", message));
}

}  // namespace berth::proto
