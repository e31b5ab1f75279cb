// GPU types and the hardware settings a plan is made for.
//
// A `GpuType` is one card: its memory, dense 16-bit peaks, memory bandwidth
// and whether it has bf16 at all (the V100 has only fp16: plans on it run in
// fp16, see Peak16BitFlops() and the solver).
// `Hardware` adds the settings that turn a card's memory into what a plan may
// use: the usable share of the card (allocator fragmentation and headroom)
// and a fixed per-GPU overhead (CUDA context, cuBLAS and NCCL workspaces).
// Both are settings with the documented defaults below, never hidden
// constants.
#ifndef BERTH_PLANNER_GPU_H_
#define BERTH_PLANNER_GPU_H_

#include <cstdint>
#include <string>

namespace berth::planner {

inline constexpr int64_t kGiB = int64_t{1} << 30;
inline constexpr int64_t kMiB = int64_t{1} << 20;

struct GpuType {
  std::string name;
  int64_t memory_bytes = 0;
  // Dense bf16 tensor peak, no sparsity; 0 when unknown or when the card has
  // no bf16 (then `bf16` is false).
  double peak_bf16_flops = 0;
  double memory_bandwidth_bytes = 0;  // bytes per second
  // Dense fp16 tensor peak; 0: the same as the bf16 peak.
  double peak_fp16_flops = 0;
  // False for cards without bf16 (V100): training and inference there run in
  // fp16 (same bytes, fp16's range), and the plan says so.
  bool bf16 = true;
};

// The dense 16-bit peak a plan computes at: bf16, or fp16 on a card without
// bf16 (or when only the fp16 peak is known). 0 when unknown.
double Peak16BitFlops(const GpuType& gpu);

// Default share of a card's memory a plan may fill: 0.90, as vLLM's
// gpu_memory_utilization default; the rest absorbs allocator fragmentation.
inline constexpr double kDefaultUsableFraction = 0.90;
// Default fixed cost on every GPU: 1 GiB for the CUDA context, cuBLAS and NCCL
// workspaces. Megatron-DeepSpeed users report up to ~5 GiB all told; the
// usable fraction covers the rest.
inline constexpr int64_t kDefaultOverheadBytes = 1 * kGiB;
inline constexpr int64_t kDefaultGpusPerNode = 8;

struct Hardware {
  GpuType gpu;
  int64_t gpus_per_node = kDefaultGpusPerNode;
  double usable_fraction = kDefaultUsableFraction;
  int64_t overhead_bytes = kDefaultOverheadBytes;
};

// The bytes a plan may fill on one GPU: memory × usable fraction, rounded
// down. The per-GPU overhead is counted inside a plan's total, not here.
int64_t UsableBytes(const Hardware& hardware);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_GPU_H_
