// `berth plan --spec FILE`: plans a job spec (the file `berth submit` takes)
// with the mapping berthd uses, proto::PlanRequestFromSpec
// (proto/spec_plan.h), so a user dry-runs what they will submit.
//
// Beside --spec only the GPU and output flags may be given (--gpu,
// --gpu-memory-gib, --gpus-per-node, --max-gpus, --usable-fraction,
// --overhead-gib, --alternatives, --json); a model or workload flag is an
// error that names the spec field to set instead ("--seq: not with --spec;
// set train.seq in the spec"). The GPU is --gpu or --gpu-memory-gib, else
// the spec's gpu_type, else kDefaultGpu (berthd would choose among its
// pools). Errors about the spec name the file and the field
// ("train.yaml: train.seq: 0 is out of range [1, 4194304]"); errors about
// the GPU flags name the flag.
#ifndef BERTH_CLI_SPEC_PLAN_H_
#define BERTH_CLI_SPEC_PLAN_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "cli/plan_command.h"
#include "planner/solver.h"

namespace berth::cli {

// The validated planner request for `spec`, read from the file `file`, with
// the GPU and limit flags of `flags`. InvalidArgument when `flags` sets a
// model or workload flag, or for a spec the planner refuses.
absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const PlanOptions& flags,
                                                         const berth::v1::JobSpec& spec,
                                                         const std::string& file);

// Reads *flags.spec (cli/job_spec.h) and maps it. When neither the spec nor
// a flag names a GPU, says on `err` that the plan is for kDefaultGpu while
// berthd would choose among its pools.
absl::StatusOr<planner::PlanRequest> PlanRequestFromSpecFile(const PlanOptions& flags,
                                                             std::ostream& err);

// A planner error ("seq: ...", from validating or solving the request of
// the spec in `file`) naming what the user sets: the flag for the GPU and
// limit fields ("--gpus-per-node: ..."), else the file and the spec field
// ("train.yaml: train.seq: ...").
absl::Status SpecPlanError(const PlanOptions& flags, const std::string& file,
                           const absl::Status& planner_error);

}  // namespace berth::cli

#endif  // BERTH_CLI_SPEC_PLAN_H_
