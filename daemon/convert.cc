#include "daemon/convert.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "planner/catalog.h"
#include "planner/hf_config.h"
#include "planner/status_macros.h"
#include "proto/hf_config_json.h"

namespace berth::daemon {
namespace {

using berth::v1::JobSpec;

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", message));
}

// Prefixes a planner or parser error with the spec field it came from.
absl::Status Prefix(absl::string_view field, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", status.message()));
}

bool IsPrintableName(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

absl::Status CheckName(absl::string_view field, absl::string_view value) {
  if (value.size() > kMaxNameLength) {
    return Invalid(field, absl::StrCat("longer than ", kMaxNameLength, " bytes"));
  }
  if (!IsPrintableName(value)) return Invalid(field, "contains control characters");
  return absl::OkStatus();
}

absl::StatusOr<planner::ModelShape> ModelFromSpec(const berth::v1::ModelSpec& model) {
  switch (model.source_case()) {
    case berth::v1::ModelSpec::kCatalogName: {
      absl::StatusOr<planner::ModelShape> shape = planner::FindModel(model.catalog_name());
      if (!shape.ok()) return Prefix("model.catalog_name", shape.status());
      return shape;
    }
    case berth::v1::ModelSpec::kHfConfigJson: {
      if (model.hf_config_json().size() > kMaxHfConfigBytes) {
        return Invalid("model.hf_config_json", "larger than 1 MiB");
      }
      absl::StatusOr<planner::HfConfig> config = proto::ParseHfConfigJson(model.hf_config_json());
      if (!config.ok()) return Prefix("model.hf_config_json", config.status());
      absl::StatusOr<planner::ModelShape> shape = planner::ModelFromHfConfig(*config, "hf-config");
      if (!shape.ok()) return Prefix("model.hf_config_json", shape.status());
      return shape;
    }
    case berth::v1::ModelSpec::kShape: {
      const berth::v1::ModelShapeSpec& s = model.shape();
      if (!std::isfinite(s.params()) || s.params() < 0 || s.params() > 1e15) {
        return Invalid("model.shape.params", "must be a finite number in [0, 1e15]");
      }
      absl::StatusOr<planner::ModelShape> shape = planner::ShapeFromNumbers(
          static_cast<int64_t>(s.params()), s.layers(), s.hidden(), s.heads(), s.kv_heads(),
          s.ffn(), s.vocab());
      if (!shape.ok()) return Prefix("model.shape", shape.status());
      return shape;
    }
    case berth::v1::ModelSpec::SOURCE_NOT_SET:
      break;
  }
  return Invalid("model", "one of catalog_name, hf_config_json or shape is required");
}

absl::Status FillTrain(const berth::v1::TrainSpec& t, planner::TrainWorkload& w) {
  if (t.seq() != 0) w.seq = t.seq();
  w.micro_batch = t.micro_batch();
  w.global_batch = t.global_batch();
  if (!t.framework().empty()) {
    absl::StatusOr<planner::Framework> f = planner::ParseFramework(t.framework());
    if (!f.ok()) return Prefix("train.framework", f.status());
    w.framework = *f;
  }
  if (!t.recompute().empty() && t.recompute() != "auto") {
    absl::StatusOr<planner::Recompute> r = planner::ParseRecompute(t.recompute());
    if (!r.ok()) return Prefix("train.recompute", r.status());
    w.recompute = *r;
  }
  if (t.has_flash_attention()) w.flash_attention = t.flash_attention();
  w.sequence_parallel = t.sequence_parallel();
  if (t.virtual_stages() > 1) w.virtual_stages = t.virtual_stages();
  if (t.virtual_stages() < 0) return Invalid("train.virtual_stages", "must be ≥ 0");
  return absl::OkStatus();
}

absl::Status FillInfer(const berth::v1::InferSpec& i, planner::InferWorkload& w) {
  auto dtype = [](absl::string_view field, const std::string& text,
                  planner::DType& out) -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    absl::StatusOr<planner::DType> d = planner::ParseDType(text);
    if (!d.ok()) return Prefix(field, d.status());
    out = *d;
    return absl::OkStatus();
  };
  BERTH_RETURN_IF_ERROR(dtype("infer.weights", i.weights(), w.weights));
  BERTH_RETURN_IF_ERROR(dtype("infer.kv_dtype", i.kv_dtype(), w.kv_dtype));
  if (i.batch() != 0) w.batch = i.batch();
  if (i.context() != 0) w.context = i.context();
  if (!i.offload().empty()) {
    absl::StatusOr<planner::Offload> o = planner::ParseOffload(i.offload());
    if (!o.ok()) return Prefix("infer.offload", o.status());
    w.offload = *o;
  }
  return absl::OkStatus();
}

absl::Status FillObjective(const berth::v1::ObjectiveSpec& o, planner::PlanRequest& r) {
  r.tokens = o.tokens();
  r.days = o.days();
  r.tokens_per_second = o.tokens_per_second();
  if (o.mfu() != 0) r.mfu = o.mfu();
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSpecEnvelope(const JobSpec& spec) {
  BERTH_RETURN_IF_ERROR(CheckName("name", spec.name()));
  BERTH_RETURN_IF_ERROR(CheckName("team", spec.team()));
  BERTH_RETURN_IF_ERROR(CheckName("request_id", spec.request_id()));
  BERTH_RETURN_IF_ERROR(CheckName("gpu_type", spec.gpu_type()));
  // Names the planner looks up are short; a longer one is wrong, and would
  // otherwise be echoed back in full in the error.
  for (const auto& [field, value] :
       {std::pair<absl::string_view, const std::string*>{"task", &spec.task()},
        {"model.catalog_name", &spec.model().catalog_name()},
        {"train.framework", &spec.train().framework()},
        {"train.recompute", &spec.train().recompute()},
        {"infer.weights", &spec.infer().weights()},
        {"infer.kv_dtype", &spec.infer().kv_dtype()},
        {"infer.offload", &spec.infer().offload()},
        {"on_node_loss", &spec.on_node_loss()}}) {
    if (value->size() > kMaxKeywordLength) {
      return Invalid(field, absl::StrCat("longer than ", kMaxKeywordLength, " bytes"));
    }
  }
  if (spec.priority() < -1000 || spec.priority() > 1000) {
    return Invalid("priority", absl::StrCat(spec.priority(), " is out of range [-1000, 1000]"));
  }
  if (spec.command_size() > kMaxCommandArgs) {
    return Invalid("command", absl::StrCat("more than ", kMaxCommandArgs, " arguments"));
  }
  size_t command_bytes = 0;
  for (const std::string& arg : spec.command()) command_bytes += arg.size();
  if (command_bytes > kMaxCommandBytes) return Invalid("command", "longer than 64 KiB");
  if (spec.env_size() > kMaxEnvEntries) {
    return Invalid("env", absl::StrCat("more than ", kMaxEnvEntries, " entries"));
  }
  for (const auto& [key, value] : spec.env()) {
    if (key.empty() || absl::StrContains(key, "=") || key.size() > kMaxNameLength) {
      return Invalid("env", absl::StrCat("bad variable name \"", key.substr(0, 64), "\""));
    }
    if (value.size() > kMaxCommandBytes) return Invalid("env", "a value is longer than 64 KiB");
  }
  if (spec.max_runtime_seconds() < 0 || spec.max_runtime_seconds() > 366LL * 86400) {
    return Invalid("max_runtime_seconds", "must be in [0, 366 days]");
  }
  if (!spec.on_node_loss().empty() && spec.on_node_loss() != "requeue" &&
      spec.on_node_loss() != "fail") {
    return Invalid("on_node_loss", "must be \"requeue\" or \"fail\"");
  }
  return absl::OkStatus();
}

absl::Status ValidateRegister(const berth::v1::Register& reg) {
  auto bad = [](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("register.", field, ": ", message));
  };
  const std::string& node = reg.node();
  if (node.empty() || node.size() > 253) return bad("node", "1 to 253 characters are required");
  for (char c : node) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return bad("node", "only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  if (reg.gpus_size() < 1 || reg.gpus_size() > 1024) return bad("gpus", "1 to 1024 GPUs");
  std::set<int32_t> indices;
  for (const berth::v1::Gpu& gpu : reg.gpus()) {
    if (gpu.index() < 0 || gpu.index() > 1023 || !indices.insert(gpu.index()).second) {
      return bad("gpus.index", absl::StrCat(gpu.index(), " is out of [0, 1023] or repeated"));
    }
    if (!std::isfinite(gpu.memory_bytes()) || gpu.memory_bytes() <= 0 ||
        gpu.memory_bytes() > 1125899906842624.0) {
      return bad("gpus.memory_bytes", "must be a finite number in (0, 1 PiB]");
    }
    if (gpu.type().empty() || gpu.type().size() > kMaxKeywordLength || !IsPrintableName(gpu.type())) {
      return bad("gpus.type", "1 to 64 printable characters");
    }
    if (gpu.uuid().size() > 128 || gpu.pci_bus_id().size() > 64) {
      return bad("gpus.uuid", "uuid at most 128 and pci_bus_id at most 64 characters");
    }
  }
  if (reg.labels_size() > 64) return bad("labels", "at most 64 labels");
  for (const auto& [key, value] : reg.labels()) {
    if (key.empty() || key.size() > kMaxNameLength || value.size() > kMaxNameLength) {
      return bad("labels", "keys of 1 to 256 and values of at most 256 characters");
    }
  }
  if (reg.address().size() > 253) return bad("address", "at most 253 characters");
  return absl::OkStatus();
}

absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const JobSpec& spec,
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
  BERTH_RETURN_IF_ERROR(FillObjective(spec.objective(), request));
  request.fixed.tp = spec.split().tp();
  request.fixed.pp = spec.split().pp();
  request.fixed.dp = spec.split().dp();
  request.fixed.ep = spec.split().ep();
  if (spec.split().has_zero_stage() &&
      (spec.split().zero_stage() < 0 || spec.split().zero_stage() > 3)) {
    return Invalid("split.zero_stage",
                   absl::StrCat(spec.split().zero_stage(), " is out of range [0, 3]"));
  }
  request.fixed.zero_stage = spec.split().has_zero_stage() ? spec.split().zero_stage() : -1;
  request.hardware = hardware;
  request.max_alternatives = 3;
  return request;
}

}  // namespace berth::daemon
