#include "daemon/convert.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/limits.h"
#include "common/status_macros.h"
#include "proto/hf_config_json.h"
#include "proto/plan_convert.h"
#include "proto/spec_plan.h"

namespace berth::daemon {
namespace {

using berth::v1::JobSpec;

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", message));
}

// An error that names a JobSpec field ("train.seq: ...") as a field of the
// request's spec ("spec.train.seq: ...").
absl::Status InSpec(const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("spec.", status.message()));
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
    // A variable name is printable, without '=' or spaces (POSIX names are
    // letters, digits and '_'; shells accept a little more).
    const bool printable = absl::c_all_of(key, [](char c) { return c > 0x20 && c < 0x7f; });
    if (key.empty() || absl::StrContains(key, "=") || key.size() > kMaxNameLength || !printable) {
      return Invalid("env",
                     absl::StrCat("bad variable name \"", absl::CHexEscape(key.substr(0, 64)),
                                  "\": printable characters without '=' or spaces"));
    }
    if (absl::StrContains(value, absl::string_view("\0", 1))) {
      return Invalid("env", absl::StrCat("the value of ", key, " contains a NUL byte"));
    }
    if (value.size() > kMaxCommandBytes) return Invalid("env", "a value is longer than 64 KiB");
  }
  if (spec.max_runtime_seconds() < 0 || spec.max_runtime_seconds() > 366LL * 86400) {
    return Invalid("max_runtime_seconds", "must be in [0, 366 days]");
  }
  if (spec.preemption_grace_seconds() < 0 || spec.preemption_grace_seconds() > 86400) {
    return Invalid("preemption_grace_seconds",
                   absl::StrCat(spec.preemption_grace_seconds(), " is out of range [0, 86400]"));
  }
  if (!spec.on_node_loss().empty() && spec.on_node_loss() != "requeue" &&
      spec.on_node_loss() != "fail") {
    return Invalid("on_node_loss", "must be \"requeue\" or \"fail\"");
  }
  if (spec.has_array_index() && (spec.array_index() < 0 || spec.array_index() > kMaxArrayIndex)) {
    return Invalid("array_index", absl::StrCat("must be in [0, ", kMaxArrayIndex, "]"));
  }
  if (spec.model().hf_config_json().size() > static_cast<size_t>(proto::kMaxHfConfigBytes)) {
    return Invalid("model.hf_config_json",
                   absl::StrCat("larger than ", proto::kMaxHfConfigBytes / 1024, " KiB"));
  }
  // Then the whole: every field may be within its own limit while together
  // they make a job no StartJob could carry (issue 18, finding 1).
  if (const size_t bytes = spec.ByteSizeLong(); bytes > kMaxSpecBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec: ", bytes, " bytes is over the limit of ", kMaxSpecBytes / 1024,
        " KiB for a whole job spec (command, env and the model's config.json together); "
        "pass large inputs as files on the nodes instead"));
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
    if (gpu.type().empty() || gpu.type().size() > kMaxKeywordLength ||
        !IsPrintableName(gpu.type())) {
      return bad("gpus.type", "1 to 64 printable characters");
    }
    if (gpu.uuid().size() > 128 || !IsPrintableName(gpu.uuid())) {
      return bad("gpus.uuid", "at most 128 printable characters");
    }
    if (gpu.pci_bus_id().size() > 64 || !IsPrintableName(gpu.pci_bus_id())) {
      return bad("gpus.pci_bus_id", "at most 64 printable characters");
    }
  }
  // NVLink peers name other GPUs of this node, each once: at most the
  // node's GPU count each, so that a node cannot swell ListNodes.
  for (const berth::v1::Gpu& gpu : reg.gpus()) {
    std::set<int32_t> peers;
    for (int32_t peer : gpu.nvlink_peers()) {
      if (peer == gpu.index() || !indices.contains(peer) || !peers.insert(peer).second) {
        return bad("gpus.nvlink_peers",
                   absl::StrCat(peer, " is not another registered GPU of this node, or repeated"));
      }
    }
  }
  if (reg.running_jobs_size() > kMaxRunningJobsPerNode) {
    return bad("running_jobs", absl::StrCat("at most ", kMaxRunningJobsPerNode, " jobs"));
  }
  if (reg.labels_size() > 64) return bad("labels", "at most 64 labels");
  for (const auto& [key, value] : reg.labels()) {
    if (key.empty() || key.size() > kMaxNameLength || value.size() > kMaxNameLength) {
      return bad("labels", "keys of 1 to 256 and values of at most 256 characters");
    }
    if (!IsPrintableName(key) || !IsPrintableName(value)) {
      return bad("labels", "keys and values must be printable (no control characters)");
    }
  }
  // The address becomes the MASTER_ADDR of the node's jobs: a host name or
  // an IP literal, nothing a shell would read as more.
  if (reg.address().size() > 253) return bad("address", "at most 253 characters");
  for (char c : reg.address()) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']' && c != '_') {
      return bad("address", "a host name or an IP address (letters, digits, '.', '-', ':')");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const JobSpec& spec,
                                                         const planner::Hardware& hardware) {
  absl::StatusOr<planner::PlanRequest> request = proto::PlanRequestFromSpec(spec, hardware);
  if (!request.ok()) return InSpec(request.status());
  return request;
}

absl::StatusOr<AdmissionRequest> AdmissionRequestFromSpec(const JobSpec& spec) {
  BERTH_RETURN_IF_ERROR(ValidateSpecEnvelope(spec));
  planner::Hardware stand_in;
  stand_in.gpu = planner::GpuType{.name = "validation", .memory_bytes = 80 * planner::kGiB};
  stand_in.gpus_per_node = 1024;
  AdmissionRequest request;
  BERTH_ASSIGN_OR_RETURN(request.plan, PlanRequestFromSpec(spec, stand_in));
  // Only "wider than a node" and "more GPUs than the pool" are left to the
  // per-pool judgement.
  planner::PlanRequest check = request.plan;
  check.max_gpus = 10'000'000;
  if (absl::Status valid = planner::ValidateRequest(check); !valid.ok()) {
    // The planner names request fields ("seq: ..."); the spec's paths are
    // "spec.train.seq: ...".
    return absl::InvalidArgumentError(
        absl::StrCat("spec.", proto::WithSpecFieldName(valid).message()));
  }
  request.gpu_type = spec.gpu_type();
  JobSpec key;
  key.set_task(spec.task());
  *key.mutable_model() = spec.model();
  *key.mutable_train() = spec.train();
  *key.mutable_infer() = spec.infer();
  *key.mutable_objective() = spec.objective();
  *key.mutable_split() = spec.split();
  key.SerializeToString(&request.cache_key);
  return request;
}

berth::v1::PlanReport PlanReportOf(const PoolVerdict& verdict) {
  if (!verdict.result) return berth::v1::PlanReport();
  return proto::ToPlanReport(verdict.request, *verdict.result);
}

}  // namespace berth::daemon
