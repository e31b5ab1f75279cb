#include "cli/spec_plan.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "cli/job_spec.h"
#include "planner/status_macros.h"
#include "planner/workload.h"

namespace berth::cli {
namespace {

using Text = std::optional<std::string>;

// The plan flags a spec sets, and the spec field each comes from.
constexpr std::pair<absl::string_view, absl::string_view> kFlagFields[] = {
    {"--task", "task"},
    {"--model", "model.catalog_name"},
    {"--hf-config", "model.hf_config_json"},
    {"--params", "model.shape.params"},
    {"--layers", "model.shape.layers"},
    {"--hidden", "model.shape.hidden"},
    {"--heads", "model.shape.heads"},
    {"--kv-heads", "model.shape.kv_heads"},
    {"--ffn", "model.shape.ffn"},
    {"--vocab", "model.shape.vocab"},
    {"--seq", "train.seq"},
    {"--micro-batch", "train.micro_batch"},
    {"--global-batch", "train.global_batch"},
    {"--framework", "train.framework"},
    {"--recompute", "train.recompute"},
    {"--flash-attention", "train.flash_attention"},
    {"--sequence-parallel", "train.sequence_parallel"},
    {"--virtual-stages", "train.virtual_stages"},
    {"--weights", "infer.weights"},
    {"--kv-dtype", "infer.kv_dtype"},
    {"--batch", "infer.batch"},
    {"--context", "infer.context"},
    {"--offload", "infer.offload"},
    {"--tokens", "objective.tokens"},
    {"--days", "objective.days"},
    {"--tokens-per-second", "objective.tokens_per_second"},
    {"--mfu", "objective.mfu"},
    {"--tp", "split.tp"},
    {"--pp", "split.pp"},
    {"--dp", "split.dp"},
    {"--zero", "split.zero_stage"},
    {"--ep", "split.ep"},
};

absl::string_view FieldOfFlag(absl::string_view flag) {
  for (const auto& [name, field] : kFlagFields) {
    if (name == flag) return field;
  }
  return "";
}

// The first model or workload flag given in `o`, or "".
absl::string_view FirstSpecFlag(const PlanOptions& o) {
  const std::pair<bool, absl::string_view> given[] = {
      {o.task.has_value(), "--task"},
      {o.model.has_value(), "--model"},
      {o.hf_config.has_value() || o.hf_config_text.has_value(), "--hf-config"},
      {o.params.has_value(), "--params"},
      {o.layers.has_value(), "--layers"},
      {o.hidden.has_value(), "--hidden"},
      {o.heads.has_value(), "--heads"},
      {o.kv_heads.has_value(), "--kv-heads"},
      {o.ffn.has_value(), "--ffn"},
      {o.vocab.has_value(), "--vocab"},
      {o.seq.has_value(), "--seq"},
      {o.micro_batch.has_value(), "--micro-batch"},
      {o.global_batch.has_value(), "--global-batch"},
      {o.framework.has_value(), "--framework"},
      {o.recompute.has_value(), "--recompute"},
      {o.flash_attention.has_value(), "--flash-attention"},
      {o.sequence_parallel, "--sequence-parallel"},
      {o.virtual_stages.has_value(), "--virtual-stages"},
      {o.weights.has_value(), "--weights"},
      {o.kv_dtype.has_value(), "--kv-dtype"},
      {o.batch.has_value(), "--batch"},
      {o.context.has_value(), "--context"},
      {o.offload.has_value(), "--offload"},
      {o.tokens.has_value(), "--tokens"},
      {o.days.has_value(), "--days"},
      {o.tokens_per_second.has_value(), "--tokens-per-second"},
      {o.mfu.has_value(), "--mfu"},
      {o.tp.has_value(), "--tp"},
      {o.pp.has_value(), "--pp"},
      {o.dp.has_value(), "--dp"},
      {o.zero.has_value(), "--zero"},
      {o.ep.has_value(), "--ep"}};
  for (const auto& [is_given, flag] : given) {
    if (is_given) return flag;
  }
  return "";
}

// A whole number as flag text; 0 (the spec's "not given") stays unset.
Text Count(int64_t value) {
  if (value == 0) return std::nullopt;
  return absl::StrCat(value);
}

// A number as flag text with every digit kept (%.17g round-trips a double).
Text Number(double value) {
  if (value == 0) return std::nullopt;
  return absl::StrFormat("%.17g", value);
}

Text Name(const std::string& value) {
  if (value.empty()) return std::nullopt;
  return value;
}

absl::Status MapModel(const berth::v1::ModelSpec& model, PlanOptions* o) {
  switch (model.source_case()) {
    case berth::v1::ModelSpec::kCatalogName:
      o->model = model.catalog_name();
      return absl::OkStatus();
    case berth::v1::ModelSpec::kHfConfigJson:
      o->hf_config_text = model.hf_config_json();
      return absl::OkStatus();
    case berth::v1::ModelSpec::kShape: {
      const berth::v1::ModelShapeSpec& s = model.shape();
      o->params = Number(s.params());
      o->layers = Count(s.layers());
      o->hidden = Count(s.hidden());
      o->heads = Count(s.heads());
      o->kv_heads = Count(s.kv_heads());
      o->ffn = Count(s.ffn());
      o->vocab = Count(s.vocab());
      return absl::OkStatus();
    }
    case berth::v1::ModelSpec::SOURCE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "model: one of catalog_name, hf_config_json or shape is required");
}

void MapTrain(const berth::v1::JobSpec& spec, PlanOptions* o) {
  const berth::v1::TrainSpec& t = spec.train();
  o->seq = Count(t.seq());
  o->micro_batch = Count(t.micro_batch());
  o->global_batch = Count(t.global_batch());
  o->framework = Name(t.framework());
  o->recompute = Name(t.recompute());
  if (t.has_flash_attention()) o->flash_attention = t.flash_attention();
  o->sequence_parallel = t.sequence_parallel();
  if (t.virtual_stages() > 1) o->virtual_stages = Count(t.virtual_stages());
  const berth::v1::ObjectiveSpec& pace = spec.objective();
  o->tokens = Number(pace.tokens());
  o->days = Number(pace.days());
  o->tokens_per_second = Number(pace.tokens_per_second());
  o->mfu = Number(pace.mfu());
  if (spec.split().has_zero_stage()) {
    o->zero = absl::StrCat(spec.split().zero_stage());
  }
}

void MapInfer(const berth::v1::InferSpec& i, PlanOptions* o) {
  o->weights = Name(i.weights());
  o->kv_dtype = Name(i.kv_dtype());
  o->batch = Count(i.batch());
  o->context = Count(i.context());
  o->offload = Name(i.offload());
}

}  // namespace

absl::StatusOr<PlanOptions> PlanOptionsFromSpec(const PlanOptions& flags,
                                                const berth::v1::JobSpec& spec) {
  if (absl::string_view flag = FirstSpecFlag(flags); !flag.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": not with --spec; set ", FieldOfFlag(flag),
                     " in the spec"));
  }
  if (spec.task().empty()) {
    return absl::InvalidArgumentError("task: required: \"train\" or \"infer\"");
  }
  PlanOptions o = flags;
  o.task = spec.task();
  BERTH_RETURN_IF_ERROR(MapModel(spec.model(), &o));
  absl::StatusOr<planner::Task> task = planner::ParseTask(spec.task());
  if (!task.ok()) return absl::InvalidArgumentError(task.status().message());
  if (*task == planner::Task::kTrain) {
    MapTrain(spec, &o);
  } else {
    MapInfer(spec.infer(), &o);
  }
  o.tp = Count(spec.split().tp());
  o.pp = Count(spec.split().pp());
  o.dp = Count(spec.split().dp());
  o.ep = Count(spec.split().ep());
  if (!flags.gpu && !flags.gpu_memory_gib) o.gpu = Name(spec.gpu_type());
  return o;
}

absl::StatusOr<PlanOptions> PlanOptionsFromSpecFile(const PlanOptions& flags,
                                                    std::ostream& err) {
  BERTH_ASSIGN_OR_RETURN(berth::v1::JobSpec spec, ReadJobSpecFile(*flags.spec));
  absl::StatusOr<PlanOptions> options = PlanOptionsFromSpec(flags, spec);
  if (!options.ok()) {
    // Errors about the spec itself name the file.
    if (absl::StartsWith(options.status().message(), "--")) return options;
    return absl::InvalidArgumentError(
        absl::StrCat(*flags.spec, ": ", options.status().message()));
  }
  if (!options->gpu && !options->gpu_memory_gib) {
    err << "berth plan: " << *flags.spec << " names no gpu_type; planning for "
        << kDefaultGpu << " (berthd chooses among its pools; --gpu picks "
        << "another)\n";
  }
  return options;
}

absl::Status WithSpecFieldName(const std::string& file,
                               const absl::Status& status) {
  absl::string_view message = status.message();
  size_t colon = message.find(": ");
  if (colon == absl::string_view::npos) return status;
  absl::string_view field = FieldOfFlag(message.substr(0, colon));
  if (field.empty()) return status;
  return absl::Status(status.code(), absl::StrCat(file, ": ", field,
                                                  message.substr(colon)));
}

}  // namespace berth::cli
