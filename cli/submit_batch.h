// `berth submit` of several jobs in one SubmitJobs call: a job array
// (`--array 1-500`, each job given BERTH_ARRAY_INDEX) and several spec
// files. One request, one transaction in berthd: all are queued or none.
//
//   absl::StatusOr<std::vector<int32_t>> indices = ParseArrayIndices("0-15:4,20");
//   // {0, 4, 8, 12, 20}
//
// Request ids: each job needs its own, so that a retried call returns the
// same jobs. A spec's own request_id gets the array index appended
// ("nightly[17]"); a spec without one gets the call's random id and the
// job's position ("3f2a...c1/17").
#ifndef BERTH_CLI_SUBMIT_BATCH_H_
#define BERTH_CLI_SUBMIT_BATCH_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/scheduler.pb.h"

namespace berth::cli {

// Slurm's --array syntax: comma-separated items, each an index ("7"), a
// range ("1-500") or a range with a step ("0-15:4"). Indices are 0 to
// 999,999, at most 10,000 of them, none twice. Errors are InvalidArgument
// starting "--array: ".
absl::StatusOr<std::vector<int32_t>> ParseArrayIndices(absl::string_view text);

// The request for `specs` (one per file, in order): with `array`, each
// spec once per index (file by file). `call_id` is the random id of specs
// that have none.
absl::StatusOr<berth::v1::SubmitJobsRequest> BuildSubmitJobsRequest(
    const std::vector<berth::v1::JobSpec>& specs, const std::optional<std::string>& array,
    const std::string& call_id);

// Human output: the ids queued (ranges where consecutive), then each job
// refused or not made, with its reason.
void PrintBatchSubmitted(const berth::v1::SubmitJobsResponse& response, std::ostream& out);

// kExitRefused when any job was refused or not made, else kExitOk.
int BatchExitCode(const berth::v1::SubmitJobsResponse& response);

}  // namespace berth::cli

#endif  // BERTH_CLI_SUBMIT_BATCH_H_
