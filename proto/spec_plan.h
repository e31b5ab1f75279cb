// The one mapping from a job spec (berth::v1::JobSpec) to the planner's
// request. berthd's admission plans a submitted spec with it on each GPU
// pool, and `berth plan --spec FILE` on the GPU its flags name, so the CLI's
// dry run plans what berthd plans.
//
//   BERTH_ASSIGN_OR_RETURN(planner::PlanRequest request,
//                          PlanRequestFromSpec(spec, hardware));
//   request.max_gpus = pool_gpus;
//   if (absl::Status valid = planner::ValidateRequest(request); !valid.ok()) {
//     return WithSpecFieldName(valid);
//   }
//
//   spec field                  request field          when 0 or empty
//   task                        task                   error (required)
//   model.catalog_name          model (planner/catalog.h)
//   model.hf_config_json        model (the config's text, ≤ 1 MiB)
//   model.shape.*               model (ShapeFromNumbers)
//   model.shape.mlp             model.mlp              "": gated (SwiGLU)
//   (no model)                  -                      error (required)
//   train.* (task train)        train.*                the planner's defaults;
//                                                      recompute "auto": searched
//   infer.* (task infer)        infer.*                the planner's defaults
//   infer.objective             infer.objective        "": throughput
//   objective.*                 tokens, days,          0 (no pace); mfu the
//                               tokens_per_second, mfu planner's default
//   (inference takes tokens_per_second only, the decode tokens/s of all
//   replicas together; ValidateRequest refuses tokens and days for it)
//   split.tp/pp/dp/ep           fixed.tp/pp/dp/ep      0: searched
//   split.zero_stage            fixed.zero_stage       unset: searched (-1)
//   (hardware argument)         hardware               -
//   -                           max_gpus               the planner's default;
//                                                      the caller sets it
//   -                           max_alternatives       3
//
// Fields the planner never sees (name, team, command, env, gpu_type, ...)
// are ignored; berthd checks them in daemon/convert.h. Errors are
// InvalidArgument and start with the spec field's path in JobSpec
// ("train.framework: unknown value ..."); berthd puts "spec." in front, the
// CLI the file name.
#ifndef BERTH_PROTO_SPEC_PLAN_H_
#define BERTH_PROTO_SPEC_PLAN_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "planner/gpu.h"
#include "planner/solver.h"

namespace berth::proto {

// The planner request for `spec` on `hardware`. Checks what the planner
// cannot (names it looks up, numbers that do not fit its types); the rest is
// left to planner::ValidateRequest(), which the caller runs once it has set
// max_gpus, and whose errors WithSpecFieldName() rewrites.
absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const berth::v1::JobSpec& spec,
                                                         const planner::Hardware& hardware);

// Rewrites a planner error that starts with a request field ("seq: ...") to
// start with the spec field that sets it ("train.seq: ..."); the model's
// fields ("heads: ...") become "model.heads: ..."; "objective" becomes
// "infer.objective", "mlp" "model.shape.mlp"; "max_gpus" (a fixed split
// larger than the GPUs allowed) becomes "split". The code is kept.
absl::Status WithSpecFieldName(const absl::Status& planner_error);

}  // namespace berth::proto

#endif  // BERTH_PROTO_SPEC_PLAN_H_
