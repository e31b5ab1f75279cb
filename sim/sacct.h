// Slurm accounting history as a berth-sim trace: the output of
//
//   sacct --allusers --parsable2 --starttime 2024-01-01
//         --format JobID,Account,Submit,Start,End,State,AllocTRES,Timelimit
//
// The header must name JobID, Submit, Start, End, State and AllocTRES or
// ReqTRES; Account (or User) becomes the team and Timelimit the limit when
// present. Job steps (JobID with a '.') and jobs without GPUs are skipped,
// as are jobs not yet ended (PENDING, RUNNING, ...). GPUs come from
// `gres/gpu=N` (or `gres/gpu:TYPE=N`) in the TRES; times are Slurm's
// `YYYY-MM-DDTHH:MM:SS`, read as UTC and shifted so the first submission is
// at 0. A job cancelled before it started keeps how long it waited.
#ifndef BERTH_SIM_SACCT_H_
#define BERTH_SIM_SACCT_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/trace.h"

namespace berth::sim {

absl::StatusOr<Trace> ParseSacct(absl::string_view text, absl::string_view source);

}  // namespace berth::sim

#endif  // BERTH_SIM_SACCT_H_
