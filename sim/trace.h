// A job trace as berth-sim replays it, and the readers that build one.
//
// A trace is a list of jobs, each with the time it was submitted, the GPUs
// its user asked for, how long it really ran at that count, how it ended
// and, when known, its team, its model and task (so that berth's planner can
// size it) and its time limit. Three formats are read:
//   berth    berth's own CSV (docs/SIMULATION.md): one job per line,
//            `id,submit_s,team,gpus,duration_s,state,model,task[,limit_s]`;
//   alibaba  the Alibaba 2023 GPU trace as kept in ../shared/traces;
//   sacct    Slurm's `sacct --parsable2` output (sim/sacct.h).
// A reader refuses a bad line with InvalidArgument naming the source, the
// line and the column; it never guesses.
//
//   absl::StatusOr<Trace> trace = ReadTrace("jobs.csv", TraceFormat::kBerth);
#ifndef BERTH_SIM_TRACE_H_
#define BERTH_SIM_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::sim {

enum class EndState { kCompleted, kFailed, kCancelled };
const char* EndStateName(EndState state);  // "completed", as berth's CSV spells it

struct TraceJob {
  int64_t id = 0;
  int64_t submit_s = 0;    // seconds from the trace's start
  std::string team;        // empty: none
  int64_t gpus = 1;        // what the user asked for
  int64_t duration_s = 0;  // real run time at `gpus`; 0: it never ran
  EndState state = EndState::kCompleted;
  std::string model;    // a catalogued model name (planner/catalog.h); empty: none
  std::string task;     // "train", "infer" or empty
  int64_t limit_s = 0;  // the user's time limit; 0: the trace has none
  // A job that never ran and was cancelled while waiting: how long after
  // its submission. -1: not known (it ends at once if it is ever started).
  int64_t cancel_after_s = -1;
};

struct Trace {
  std::string name;
  std::vector<TraceJob> jobs;  // by submit time, then id
};

enum class TraceFormat { kBerth, kAlibaba, kSacct };
absl::StatusOr<TraceFormat> ParseTraceFormat(absl::string_view text);

// Parsers over a file's text; `source` names it in errors.
absl::StatusOr<Trace> ParseBerthCsv(absl::string_view text, absl::string_view source);
absl::StatusOr<Trace> ParseAlibabaCsv(absl::string_view text, absl::string_view source);

// Reads and parses a file (NotFound when it cannot be opened).
absl::StatusOr<Trace> ReadTrace(const std::string& path, TraceFormat format);

// berth's CSV for a trace, header line first.
std::string FormatBerthCsv(const Trace& trace);

// Sorts by submit time, then id, and checks ids are unique.
absl::Status NormalizeTrace(Trace& trace, absl::string_view source);

}  // namespace berth::sim

#endif  // BERTH_SIM_TRACE_H_
