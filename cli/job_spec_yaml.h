// Job specs as YAML: the same `berth.v1.JobSpec` fields as the JSON form
// (proto field names, nested the same way), read with yaml-cpp.
//
// The YAML tree is walked alongside the message's descriptor, so every error
// names the file, the line and the field, and nothing is guessed:
//
//   absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml("spec.yaml", text);
//   // "spec.yaml:7: train.seq: expected an integer, got \"long\""
//   // "spec.yaml:3: modle: unknown field"
//   // "spec.yaml:4: YAML syntax error: illegal map value"
//
// Scalars are read by the field's type: integers (no fraction), numbers,
// `true`/`false`, text. Lists are YAML sequences, maps (`env`) YAML
// mappings, nested messages mappings; an empty value (`train:`) leaves the
// field unset. A key given twice, or two members of one oneof (`model`), is
// an error. Only the first YAML document is a spec; a second is an error.
// yaml-cpp reports syntax errors by exception; they are caught here, in one
// place, and nothing else throws.
#ifndef BERTH_CLI_JOB_SPEC_YAML_H_
#define BERTH_CLI_JOB_SPEC_YAML_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/v1/job.pb.h"

namespace berth::cli {

// Parses YAML text; errors are InvalidArgument and start with
// "`name`:LINE: ".
absl::StatusOr<berth::v1::JobSpec> ParseJobSpecYaml(absl::string_view name, absl::string_view yaml);

}  // namespace berth::cli

#endif  // BERTH_CLI_JOB_SPEC_YAML_H_
