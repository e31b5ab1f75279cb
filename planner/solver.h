// The parallelism solver: the split and GPU count for a job.
//
// Training search space. TP t divides the attention heads and the node's GPU
// count (a TP group never leaves a node), and t and the KV heads divide one
// another. PP p runs from 1 to the layer count; a p that does not divide the
// layers gets Megatron's uneven first and last stage (the middle stages hold
// ceil(L/p) each) and is chosen only when it needs fewer GPUs than every
// even split. DP r fills the rest. ZeRO: 0-1 for Megatron (1 is the distributed
// optimizer), 0-3 for DeepSpeed (2 and 3 only without PP, as DeepSpeed
// requires). Micro-batch 1, 2, 4, 8 and recompute none/selective/full unless
// fixed. Any of t, p, r, ZeRO given in the request is held fixed.
//
// Filter → score → select. Each candidate's most loaded GPU is checked
// against the usable memory; a candidate that fits is scored by GPU count
// and estimated step time (6·Ψ FLOPs per token, 8·Ψ with full recompute, at
// the MFU setting, slowed by the pipeline bubble (p−1)/m). Objective
// kMinGpus picks the fewest GPUs, then the fastest; kPace picks the fewest
// GPUs whose estimated throughput meets the pace, then the fastest. Ties
// break deterministically: smaller t, then smaller p, lower ZeRO, lighter
// recompute, larger micro-batch.
//
// Inference (serving.cc) plans what vLLM, TensorRT-LLM and SGLang run: TP a
// power of two within one node (dividing the attention heads; the KV heads
// and t divide one another); PP > 1 only when the node's largest TP cannot
// hold a replica with one sequence, and then PP across nodes at that TP;
// DP replicas, each holding ceil(batch/r) sequences, as many as the batch
// and any tokens/s target need. The ServingObjective (workload.h) ranks
// them: cost per token by default, or the fewest GPUs, or latency.
//
// The result explains itself: the memory breakdown of the most loaded GPU,
// why the next smaller GPU count does not fit, and, when nothing fits, the
// nearest changes that would (precision, offload, sharding, a larger GPU).
#ifndef BERTH_PLANNER_SOLVER_H_
#define BERTH_PLANNER_SOLVER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/gpu.h"
#include "planner/memory.h"
#include "planner/model.h"
#include "planner/workload.h"

namespace berth::planner {

// Model FLOPs utilisation assumed for pace estimates: 0.40, typical of
// well-tuned Megatron runs on A100/H100 (Llama 3 405B reports 38-43%).
inline constexpr double kDefaultMfu = 0.40;
inline constexpr int64_t kDefaultMaxGpus = 65536;

// What decided the plan: the fewest GPUs; a pace (training tokens/s, or an
// inference tokens/s target); or, for inference, tokens/s per GPU
// (kThroughput) or the decode step (kLatency).
enum class Objective { kMinGpus, kPace, kThroughput, kLatency };
// "fewest-gpus", "pace", "throughput", "latency".
absl::string_view ObjectiveName(Objective objective);

struct FixedSplit {
  int64_t tp = 0;  // 0: searched
  int64_t pp = 0;
  int64_t dp = 0;
  int zero_stage = -1;  // -1: searched
  int64_t ep = 0;       // expert parallelism (MoE training); 0: searched
};

struct PlanRequest {
  Task task = Task::kTrain;
  ModelShape model;
  TrainWorkload train;
  InferWorkload infer;
  Hardware hardware;
  int64_t max_gpus = kDefaultMaxGpus;
  FixedSplit fixed;
  // Pace. Training: tokens within days, or tokens per second. Inference:
  // tokens_per_second only, the decode tokens/s of all replicas together.
  double tokens = 0;
  double days = 0;
  double tokens_per_second = 0;
  double mfu = kDefaultMfu;
  int max_alternatives = 3;
};

// Training: one optimizer step and the tokens/s of the whole job.
// Inference: one decode step of a replica (the time per output token of a
// sequence) and the decode tokens/s of all replicas together.
struct Estimate {
  bool known = false;
  double step_seconds = 0;
  double tokens_per_second = 0;
  double days = 0;  // for `tokens`, when given
};

struct Plan {
  Split split;
  int64_t gpus = 0;
  int64_t nodes = 0;
  MemoryBreakdown memory;
  Estimate estimate;
  bool fits = false;
};

// How to start the chosen split on one engine: "vllm", "tensorrt-llm"
// (trtllm-serve), "megatron" or "deepspeed" (its config JSON), and the
// arguments, e.g. "--tensor-parallel-size 8 --pipeline-parallel-size 1".
struct LaunchArgs {
  std::string engine;
  std::string args;
};

struct PlanResult {
  bool feasible = false;
  std::string reason;  // why not, when !feasible
  Objective objective = Objective::kMinGpus;
  ParamCounts params;
  int64_t usable_bytes = 0;
  Plan best;  // when !feasible: the closest candidate, with fits == false
  std::vector<Plan> alternatives;
  std::vector<std::string> explanation;
  // The 16-bit type the plan computes in (training: bf16, or fp16 on a card
  // without bf16), or for inference the weights' type as served.
  DType precision = DType::kBf16;
  // Engine arguments for the best plan when feasible (launch.h).
  std::vector<LaunchArgs> launch;
};

// InvalidArgument naming the field for a malformed request (zero, negative,
// NaN or absurd numbers, an impossible fixed split).
absl::Status ValidateRequest(const PlanRequest& request);

// Validates, then solves. A request that cannot fit is not an error: the
// result has feasible == false, a reason and the nearest changes.
absl::StatusOr<PlanResult> SolvePlan(const PlanRequest& request);

// Evaluates one split as given (all of t, p, r, ZeRO fixed).
Plan EvaluateSplit(const PlanRequest& request, const ParamCounts& params, const Split& split);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_SOLVER_H_
