// Output of the daemon verbs: tables and details for people, JSON for
// programs.
//
// Human output uses aligned columns (widths counted in characters, so "×"
// is one), memory in GiB and durations such as "2h 10m". Everything that
// depends on the clock or the time zone takes them as parameters, so tests
// pass fixed values:
//
//   out << JobsTable(response.jobs(), absl::Now());
//   PrintJob(job, absl::Now(), absl::LocalTimeZone(), out);
//
// JSON is protobuf's, with the proto field names and every primitive field
// printed (zeros included); int64 fields such as `id` are strings, as proto3
// JSON prints them. A list verb prints one array, any other verb one object.
#ifndef BERTH_CLI_JOB_OUTPUT_H_
#define BERTH_CLI_JOB_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/plan.pb.h"
#include "berth/v1/scheduler.pb.h"
#include "cli/exit_codes.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace berth::cli {

// The REASON column of `berth jobs` is cut to this many characters.
inline constexpr int kReasonColumnWidth = 48;

// "45s", "12m", "2h 10m", "3d 4h": the two largest units; "0s" for zero
// or less.
std::string HumanDuration(absl::Duration duration);

// A count and its noun, plural unless the count is 1: "1 GPU", "8 GPUs",
// "0 nodes". `noun` takes an "s" for the plural.
std::string Counted(int64_t count, absl::string_view noun);

// Unix milliseconds as a time; 0 stays absl::InfinitePast().
absl::Time FromUnixMillis(int64_t millis);

// "PENDING"; "UNKNOWN" for values outside the enum.
std::string JobStateName(berth::v1::JobState state);
std::string NodeStateName(berth::v1::NodeState state);
// A node's state for people: "UP", "DRAINED", "DOWN", or "DOWN (drained)"
// for a drained node whose agent went away (it comes back DRAINED).
std::string NodeStateLabel(const berth::v1::Node& node);
// The node's GPU types, comma-separated ("-" when it has none), and its GPUs
// held by jobs out of all ("4/8"): the GPU TYPE and GPUS/USED cells of
// `berth nodes` and `berth watch`.
std::string GpuTypesCell(const berth::v1::Node& node);
std::string UsedGpusCell(const berth::v1::Node& node);

// "8×1×1" (TP×PP×DP of the plan), or "-" when there is no plan.
std::string SplitCell(const berth::v1::PlanReport& plan);

// One character per GPU in index order, '1' when a job holds it, '0' when
// free: "[11110000]".
std::string GpuOccupancy(const berth::v1::Node& node);

// Cuts `text` to at most `width` characters, ending in "..." when cut.
// Pass text from a user or node through Printable() first, so escapes are
// counted as printed.
std::string Truncate(const std::string& text, int width);

// Rows as columns two spaces apart; the columns whose index is in
// `right_aligned` are right-aligned. Widths count UTF-8 characters. Every
// cell goes through Printable() (cli/text.h), so a control character in a
// name, label or message prints as its escape.
std::string AlignedTable(const std::vector<std::vector<std::string>>& rows,
                         const std::vector<int>& right_aligned);

// `berth jobs`: ID, NAME, TEAM, STATE, GPUS, TYPE, TP×PP×DP, AGE/WAIT,
// REASON. AGE/WAIT is the wait since submission for a PENDING job, the time
// since it started for a PLACED or RUNNING one, its run time once finished,
// and "-" when it never started.
std::string JobsTable(const google::protobuf::RepeatedPtrField<berth::v1::Job>& jobs,
                      absl::Time now);

// `berth nodes`: NODE, STATE, GPU TYPE, GPUS (used/total), OCCUPANCY,
// LABELS (key=value, sorted).
std::string NodesTable(const google::protobuf::RepeatedPtrField<berth::v1::Node>& nodes);

// `berth job ID`: state, model, plan with its per-GPU memory in GiB, GPUs
// per node, times and command. The plan line has ZeRO, micro-batch and
// recompute for training, the sequences per replica for inference with
// DP > 1, and the offload when there is one.
void PrintJob(const berth::v1::Job& job, absl::Time now, absl::TimeZone zone, std::ostream& out);

// `berth submit`: the job id, its state, the GPU type chosen and the plan
// summary (GPUs, TP/PP/DP, and ZeRO for training), or the reason it waits or
// was refused.
void PrintSubmitted(const berth::v1::SubmitJobResponse& response, std::ostream& out);

// `berth why ID`: summary, details, queue position, earliest start as a
// local time and as "in 2h 10m".
void PrintExplanation(const berth::v1::ExplainJobResponse& response, absl::Time now,
                      absl::TimeZone zone, std::ostream& out);

// `berth drain` and `undrain`: "node gpu-a: DRAINED".
void PrintNodeState(const berth::v1::Node& node, std::ostream& out);

// Indented JSON of one message, with a trailing newline.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// A JSON array of messages, with a trailing newline.
absl::StatusOr<std::string> ToJsonArray(
    const std::vector<const google::protobuf::Message*>& messages);

template <typename T>
absl::StatusOr<std::string> ToJsonArray(const google::protobuf::RepeatedPtrField<T>& messages) {
  std::vector<const google::protobuf::Message*> list;
  for (const T& message : messages) list.push_back(&message);
  return ToJsonArray(list);
}

// Writes `json` to `out` and returns kExitOk, or writes its error to `err`
// as "berth <verb>: ..." and returns kExitInternal.
int WriteJson(absl::string_view verb, const absl::StatusOr<std::string>& json, std::ostream& out,
              std::ostream& err);

}  // namespace berth::cli

#endif  // BERTH_CLI_JOB_OUTPUT_H_
