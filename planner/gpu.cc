#include "planner/gpu.h"

#include <cmath>

namespace berth::planner {

int64_t UsableBytes(const Hardware& hardware) {
  return static_cast<int64_t>(
      std::floor(static_cast<double>(hardware.gpu.memory_bytes) * hardware.usable_fraction));
}

double Peak16BitFlops(const GpuType& gpu) {
  if (gpu.bf16 && gpu.peak_bf16_flops > 0) return gpu.peak_bf16_flops;
  return gpu.peak_fp16_flops > 0 ? gpu.peak_fp16_flops : gpu.peak_bf16_flops;
}

}  // namespace berth::planner
