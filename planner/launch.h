// Engine arguments for a plan: how vLLM, TensorRT-LLM, Megatron-LM or
// DeepSpeed are told to run the split the solver chose.
//
//   for (const LaunchArgs& l : LaunchArgsFor(request, result.best)) ...
//
// Inference (no offload), per replica: vLLM `--tensor-parallel-size T
// --pipeline-parallel-size P --max-model-len C --max-num-seqs B` (plus
// `--dtype`, `--quantization fp8`, `--kv-cache-dtype fp8` and
// `--gpu-memory-utilization` where the plan needs them), and trtllm-serve
// `--tp_size T --pp_size P --max_batch_size B --max_seq_len C`. DP replicas
// are separate servers behind a load balancer; the explanation says how many.
// Training with Megatron: `--tensor-model-parallel-size T
// --pipeline-model-parallel-size P --micro-batch-size B` and the flags for
// EP, the distributed optimizer, recompute, sequence parallelism,
// interleaving, uneven first/last stages and bf16/fp16. DeepSpeed: its
// config JSON. Offloaded inference gets none (no serving engine runs the
// AirLLM scheme; CPU offload is an engine-specific setting).
#ifndef BERTH_PLANNER_LAUNCH_H_
#define BERTH_PLANNER_LAUNCH_H_

#include <vector>

#include "planner/solver.h"

namespace berth::planner {

// `request` as solved (a card without bf16 already switched to fp16).
std::vector<LaunchArgs> LaunchArgsFor(const PlanRequest& request, const Plan& plan);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_LAUNCH_H_
