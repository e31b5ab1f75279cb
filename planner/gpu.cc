#include "planner/gpu.h"

#include <cmath>

namespace berth::planner {

int64_t UsableBytes(const Hardware& hardware) {
  return static_cast<int64_t>(std::floor(
      static_cast<double>(hardware.gpu.memory_bytes) * hardware.usable_fraction));
}

}  // namespace berth::planner
