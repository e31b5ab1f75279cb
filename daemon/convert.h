// Checks on what a client or agent sends berthd, and the daemon's entry to
// the one JobSpec → planner mapping (proto/spec_plan.h, shared with
// `berth plan --spec`).
//
//   BERTH_RETURN_IF_ERROR(ValidateSpecEnvelope(spec));
//   BERTH_ASSIGN_OR_RETURN(planner::PlanRequest request,
//                          PlanRequestFromSpec(spec, hardware));
//
// Every check on a submitted JobSpec that the planner does not make itself
// happens here or in proto/spec_plan.h, and errors are InvalidArgument naming
// the spec field ("spec.train.seq: ..."). Results go back to messages through
// proto/plan_convert.h.
#ifndef BERTH_DAEMON_CONVERT_H_
#define BERTH_DAEMON_CONVERT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/plan.pb.h"
#include "daemon/admission.h"
#include "planner/gpu.h"
#include "planner/solver.h"

namespace berth::daemon {

// Limits on what a spec may carry, so that a hostile request cannot make
// the daemon store or parse something absurd.
inline constexpr size_t kMaxNameLength = 256;
inline constexpr size_t kMaxKeywordLength = 64;  // task, dtype, model names...
inline constexpr int kMaxCommandArgs = 1024;
inline constexpr size_t kMaxCommandBytes = 64 * 1024;
inline constexpr int kMaxEnvEntries = 256;

// Checks the fields the planner never sees: names, team, command, env,
// run time, request id, on_node_loss; and bounds the keywords it looks up.
absl::Status ValidateSpecEnvelope(const berth::v1::JobSpec& spec);

// Checks an agent's Register: node name (1-253 of [A-Za-z0-9._-]), 1-1024
// GPUs with distinct indices in [0, 1023], positive finite memory up to
// 1 PiB, short type and uuid strings, bounded labels and address.
absl::Status ValidateRegister(const berth::v1::Register& registration);

// proto::PlanRequestFromSpec(spec, hardware) (the GPU pool), with errors
// naming the field of the request's spec ("spec.train.framework: ..."). The
// caller sets max_gpus (the pool's GPU limit); the planner validates the
// rest when solving.
absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const berth::v1::JobSpec& spec,
                                                         const planner::Hardware& hardware);

// Admission's request for a spec: the envelope checked, the planner-facing
// fields validated once on a stand-in card (what fails there is wrong
// whatever the cluster), and the cache key (the planner-facing fields,
// serialized). InvalidArgument naming the spec field.
absl::StatusOr<AdmissionRequest> AdmissionRequestFromSpec(const berth::v1::JobSpec& spec);

// A pool verdict's plan as the wire carries it (empty when the planner
// refused the request for that pool).
berth::v1::PlanReport PlanReportOf(const PoolVerdict& verdict);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_CONVERT_H_
