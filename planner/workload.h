// What a job asks of the GPUs: the task, the training or inference workload,
// and one parallel split of it.
//
// These are plain value types shared by the memory model (memory.h) and the
// solver (solver.h). Zero in an optional field means "not given": the solver
// searches it, or a documented default applies.
#ifndef BERTH_PLANNER_WORKLOAD_H_
#define BERTH_PLANNER_WORKLOAD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::planner {

enum class Task { kTrain, kInfer };
// Byte accounting of mixed-precision Adam:
//  kMegatron:  bf16 weights 2 + fp32 grads 4 + fp32 master, m, v 12 = 18 B;
//              ZeRO stage 1 is Megatron's distributed optimizer (6 + 12/DP).
//  kDeepSpeed: fp16 weights 2 + fp16 grads 2 + optimizer 12 = 16 B, with
//              ZeRO stages 1-3 as in the ZeRO paper.
enum class Framework { kMegatron, kDeepSpeed };
// kSelective drops the attention scores (as flash attention does); kFull
// keeps only each layer's input and recomputes the rest in the backward pass.
enum class Recompute { kNone, kSelective, kFull };
enum class DType { kFp32, kBf16, kFp16, kFp8, kInt8, kInt4 };
// kLayerwise: one layer resident at a time, streamed from disk (AirLLM).
// kCpu: the layers that fit stay on the GPU, the rest in host memory.
enum class Offload { kNone, kLayerwise, kCpu };

struct TrainWorkload {
  int64_t seq = 4096;
  int64_t micro_batch = 0;   // 0: the solver searches 1, 2, 4, 8
  int64_t global_batch = 0;  // sequences per step; 0: not constrained
  Framework framework = Framework::kMegatron;
  std::optional<Recompute> recompute;  // nullopt: "auto", the solver searches
  bool flash_attention = true;
  bool sequence_parallel = false;
  int64_t virtual_stages = 1;  // interleaved 1F1B when > 1
};

// What an inference plan optimises. Every plan holds the batch and reaches
// any tokens-per-second target; among those plans:
//  kThroughput (default): the most decode tokens/s per GPU, i.e. the lowest
//      cost per token; within 1% of each other, the fewer GPUs.
//  kFewestGpus: the fewest GPUs, then the fastest. Admission's "can it ever
//      fit" test: without a target every objective is feasible exactly when
//      this one is.
//  kLatency: the shortest decode step (time per output token of one
//      sequence), within 1%; then the fewer GPUs.
enum class ServingObjective { kThroughput, kFewestGpus, kLatency };

// vLLM's chunked-prefill default: one forward pass takes at most this many
// tokens, which bounds the forward workspace.
inline constexpr int64_t kDefaultPrefillChunk = 8192;

struct InferWorkload {
  DType weights = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  // Sequences held at once, in all replicas together; a replica never holds
  // more. With a tokens/s target the plan may add replicas, each running up
  // to `batch` sequences, until the target is met.
  int64_t batch = 1;
  int64_t context = 4096;
  Offload offload = Offload::kNone;
  int64_t prefill_chunk = kDefaultPrefillChunk;
  ServingObjective objective = ServingObjective::kThroughput;
};

struct Split {
  int64_t tp = 1;
  int64_t pp = 1;
  int64_t dp = 1;
  // Expert parallelism (MoE training): each layer's experts are spread over
  // `ep` of the DP ranks, which must divide both dp and the expert count.
  // Not a separate GPU dimension: gpus() is still tp·pp·dp.
  int64_t ep = 1;
  int zero_stage = 0;
  int64_t micro_batch = 1;
  Recompute recompute = Recompute::kNone;
  // Training, PP not dividing the layers (Megatron's
  // --decoder-first/last-pipeline-num-layers): the layers of the first and
  // the last stage; the pp-2 others hold (layers - first - last)/(pp-2)
  // each. Both 0: every stage holds ceil(layers/pp).
  int64_t first_stage_layers = 0;
  int64_t last_stage_layers = 0;
  // Inference: sequences each of the dp replicas holds; 0: ceil(batch/dp).
  int64_t replica_batch = 0;
  int64_t gpus() const { return tp * pp * dp; }
  bool uneven() const { return first_stage_layers > 0; }
};

// Bytes per element; int4 includes one fp16 scale per group of 128.
double DTypeBytes(DType dtype);

// Names as the CLI and JSON spell them ("bf16", "megatron", "full"...).
absl::string_view TaskName(Task task);
absl::string_view FrameworkName(Framework framework);
absl::string_view RecomputeName(Recompute recompute);
absl::string_view DTypeName(DType dtype);
absl::string_view OffloadName(Offload offload);
// "throughput", "fewest-gpus", "latency".
absl::string_view ServingObjectiveName(ServingObjective objective);
absl::StatusOr<Task> ParseTask(absl::string_view text);
absl::StatusOr<Framework> ParseFramework(absl::string_view text);
absl::StatusOr<Recompute> ParseRecompute(absl::string_view text);
absl::StatusOr<DType> ParseDType(absl::string_view text);
absl::StatusOr<Offload> ParseOffload(absl::string_view text);
absl::StatusOr<ServingObjective> ParseServingObjective(absl::string_view text);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_WORKLOAD_H_
