// The `berth plan` verb: from parsed flags to a PlanRequest, and running it.
//
// main.cc defines the flags with CLI11 and fills a `PlanOptions`; every
// numeric flag arrives here as the text the user typed, so that number
// syntax (cli/numbers.h) and its errors are berth's own. `BuildPlanRequest()`
// validates and maps the options to a planner request; errors are
// InvalidArgument and start with the flag they concern ("--heads: ...").
// `RunPlan()` does the whole verb and returns the process exit code:
//
//   PlanOptions options{.model = "llama-2-7b", .gpu = "h100-80gb"};
//   int code = RunPlan(options, std::cout, std::cerr);
//
// With `spec` (--spec FILE) the model and workload come from a job spec, the
// same file `berth submit` takes, mapped to a request as berthd maps it
// (cli/spec_plan.h); only the GPU and output flags may be given beside it.
#ifndef BERTH_CLI_PLAN_COMMAND_H_
#define BERTH_CLI_PLAN_COMMAND_H_

#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "cli/exit_codes.h"
#include "planner/solver.h"

namespace berth::cli {

// The flags of `berth plan`, as given. nullopt: the flag was not given.
struct PlanOptions {
  // A job spec file (YAML or JSON) to plan instead of the model flags.
  std::optional<std::string> spec;
  // The model: one of a catalog name, a config.json file, or explicit
  // numbers.
  std::optional<std::string> model;
  std::optional<std::string> hf_config;
  std::optional<std::string> params, layers, hidden, heads, kv_heads, ffn, vocab;
  std::optional<std::string> mlp;   // explicit shape only: "gated" (default) or "plain"
  std::optional<std::string> task;  // "train" (default) or "infer"
  // Training.
  std::optional<std::string> seq, micro_batch, global_batch, framework, recompute, virtual_stages;
  std::optional<bool> flash_attention;
  bool sequence_parallel = false;
  // Inference. objective: "throughput" (default), "fewest-gpus", "latency".
  std::optional<std::string> weights, kv_dtype, batch, context, offload, objective;
  // GPUs.
  std::optional<std::string> gpu, gpu_memory_gib, gpus_per_node, max_gpus, usable_fraction,
      overhead_gib;
  // A fixed split; what is not given is searched.
  std::optional<std::string> tp, pp, dp, zero, ep;
  // Pace. Training: tokens with days, or tokens_per_second; mfu. Inference:
  // tokens_per_second only (decode tokens/s of all replicas together).
  std::optional<std::string> tokens, days, tokens_per_second, mfu;
  std::optional<std::string> alternatives;
  bool json = false;
  bool list_models = false;
  bool list_gpus = false;
};

// The GPU type used when neither --gpu nor --gpu-memory-gib is given.
inline constexpr char kDefaultGpu[] = "h100-80gb";

// Validates `options` and maps them to a planner request.
absl::StatusOr<planner::PlanRequest> BuildPlanRequest(const PlanOptions& options);

// The GPU flags as planner hardware: --gpu (kDefaultGpu when neither it nor
// --gpu-memory-gib is given) or --gpu-memory-gib, and --gpus-per-node,
// --usable-fraction, --overhead-gib. Errors name the flag.
absl::StatusOr<planner::Hardware> BuildHardware(const PlanOptions& options);

// Sets request.max_gpus and request.max_alternatives from --max-gpus and
// --alternatives when they are given. Errors name the flag.
absl::Status ApplyLimitFlags(const PlanOptions& options, planner::PlanRequest& request);

// Runs `berth plan`: lists, or builds the request, solves it and prints the
// plan to `out` (a table, or JSON with --json). Errors go to `err` as
// "berth plan: <flag>: <message>". Returns kExitOk, kExitUsage,
// kExitRefused (the plan is still printed) or kExitInternal.
int RunPlan(const PlanOptions& options, std::ostream& out, std::ostream& err);

}  // namespace berth::cli

#endif  // BERTH_CLI_PLAN_COMMAND_H_
