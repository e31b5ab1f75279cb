// Reading a job spec file for `berth submit FILE` and `berth plan --spec
// FILE`.
//
// A spec is one `berth.v1.JobSpec` (proto/berth/v1/job.proto) as JSON with
// the proto field names, or as YAML with the same names when the file ends in
// .yaml or .yml (cli/job_spec_yaml.h). Unknown fields are errors. Every error
// is InvalidArgument and starts with the file (and, for YAML, the line), then
// the field when there is one:
//
//   absl::StatusOr<v1::JobSpec> spec = ReadJobSpecFile("train.json");
//   // "train.json: model.catalog_nam: unknown field"
//   // "train.yaml:3: model.catalog_nam: unknown field"
//
// Beyond parsing, ReadJobSpecFile checks what it can without the cluster
// (NormalizeJobSpec): the task and its sections agree, and catalogued names
// are rewritten to the one spelling berth uses everywhere (planner/catalog.h).
// The rest of a spec's meaning (does the model fit, is there such a pool) is
// the daemon's to check. `NewRequestId()` makes the id that keeps a retried
// submit idempotent.
#ifndef BERTH_CLI_JOB_SPEC_H_
#define BERTH_CLI_JOB_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/v1/job.pb.h"

namespace berth::cli {

// Spec files larger than this are refused.
inline constexpr int64_t kMaxJobSpecBytes = int64_t{1} << 20;  // 1 MiB

// Parses JSON text; errors start with `name` (the file name).
absl::StatusOr<berth::v1::JobSpec> ParseJobSpecJson(absl::string_view name, absl::string_view json);

// Checks a parsed spec and rewrites its names to their catalog spelling:
// task "training" → "train", model.catalog_name "Llama-2-7B" → "llama-2-7b",
// gpu_type "h100" → "h100-80gb". A train: section on an inference job, or an
// infer: section on a training job, is an error naming the section. An
// unknown catalog_name is an error that suggests the nearest known name; a
// gpu_type outside the catalog is kept (a cluster may hold GPUs berth does
// not list; berthd judges it). Errors start with `name`.
absl::Status NormalizeJobSpec(absl::string_view name, berth::v1::JobSpec* spec);

// Reads, parses and normalises a spec file: YAML for .yaml/.yml (any case),
// else JSON.
absl::StatusOr<berth::v1::JobSpec> ReadJobSpecFile(const std::string& path);

// 32 random hex digits.
std::string NewRequestId();

}  // namespace berth::cli

#endif  // BERTH_CLI_JOB_SPEC_H_
