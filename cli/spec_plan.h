// `berth plan --spec FILE`: a job spec (the file `berth submit` takes) as
// the options of `berth plan`, so a user can dry-run what they will submit.
//
// berthd maps a JobSpec to a planner request in daemon/convert.cc
// (PlanRequestFromSpec). The CLI does not link the daemon; it maps the spec
// to the plan flags it already validates instead, field for field:
//
//   spec field                  plan flag
//   task                        --task
//   model.catalog_name          --model
//   model.hf_config_json        (the config's text, as --hf-config reads it)
//   model.shape.*               --params --layers --hidden --heads
//                               --kv-heads --ffn --vocab (0: not given)
//   train.* (task train)        --seq --micro-batch --global-batch
//                               --framework --recompute --[no-]flash-attention
//                               --sequence-parallel --virtual-stages
//   infer.* (task infer)        --weights --kv-dtype --batch --context
//                               --offload
//   objective.* (task train)    --tokens --days --tokens-per-second --mfu
//   split.tp/pp/dp, zero_stage  --tp --pp --dp, --zero (train)
//   gpu_type                    --gpu (unless --gpu or --gpu-memory-gib)
//
// cli/spec_plan_test.cc checks that this gives the same planner request and
// the same plan as PlanRequestFromSpec for every example spec and for specs
// that set every field. Fields the planner never sees (name, team, command,
// env, ...) are ignored here; berthd checks them at submission.
#ifndef BERTH_CLI_SPEC_PLAN_H_
#define BERTH_CLI_SPEC_PLAN_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "cli/plan_command.h"

namespace berth::cli {

// `flags` (the GPU and output flags given beside --spec) with the model and
// workload of `spec`. InvalidArgument when `flags` also sets a model or
// workload flag ("--seq: not with --spec; set train.seq in the spec"), or
// when the spec has no task or no model.
absl::StatusOr<PlanOptions> PlanOptionsFromSpec(const PlanOptions& flags,
                                                const berth::v1::JobSpec& spec);

// Reads *flags.spec (cli/job_spec.h) and maps it. When the spec names no
// gpu_type and no GPU flag is given, says on `err` that the plan is for
// kDefaultGpu while berthd would choose among its pools.
absl::StatusOr<PlanOptions> PlanOptionsFromSpecFile(const PlanOptions& flags,
                                                    std::ostream& err);

// Rewrites an error about a flag that came from the spec ("--seq: ...") to
// name the spec file and field ("train.yaml: train.seq: ...").
absl::Status WithSpecFieldName(const std::string& file,
                               const absl::Status& status);

}  // namespace berth::cli

#endif  // BERTH_CLI_SPEC_PLAN_H_
