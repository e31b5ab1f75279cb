// Fuzzes the job spec readers: the first byte picks JSON (even) or YAML
// (odd), the rest is the spec text. Neither reader may crash or throw; every
// error is InvalidArgument starting with the file name, and a spec that
// parses survives a round trip through the proto's binary form.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "berth/v1/job.pb.h"
#include "cli/job_spec.h"
#include "cli/job_spec_yaml.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool yaml = (data[0] & 1) != 0;
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const absl::string_view name = yaml ? "fuzz.yaml" : "fuzz.json";
  absl::StatusOr<berth::v1::JobSpec> spec =
      yaml ? berth::cli::ParseJobSpecYaml(name, text) : berth::cli::ParseJobSpecJson(name, text);
  if (!spec.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(spec.status()), spec.status().ToString());
    FUZZ_CHECK(absl::StartsWith(spec.status().message(), name), spec.status().ToString());
    return 0;
  }
  std::string bytes;
  FUZZ_CHECK(spec->SerializeToString(&bytes), "serialize");
  berth::v1::JobSpec again;
  FUZZ_CHECK(again.ParseFromString(bytes), "parse back");
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*spec, again), "round trip");
  return 0;
}
