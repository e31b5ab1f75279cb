// nvidia-smi, the fallback when NVML cannot be loaded.
//
// RunNvidiaSmi() runs `nvidia-smi --query-gpu=<kNvidiaSmiFields>
// --format=csv,noheader,nounits` (no shell, output read with a deadline) and
// ParseNvidiaSmiCsv() turns its text into one SmiGpu per line. The parser is
// pure so it is tested against recorded output:
//
//   0, NVIDIA H100 80GB HBM3, GPU-5f3c..., 00000000:1B:00.0, 81559, 4, 0
//
// Memory is in MiB; a utilisation of "[N/A]" or "[Not Supported]" reads 0.
// A line with the wrong number of fields or a non-numeric index or memory is
// InvalidArgument naming the line; no lines at all is NotFound.
#ifndef BERTH_AGENTS_NVIDIA_SMI_H_
#define BERTH_AGENTS_NVIDIA_SMI_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace berth::agent {

inline constexpr char kNvidiaSmiFields[] =
    "index,name,uuid,pci.bus_id,memory.total,memory.used,utilization.gpu";

struct SmiGpu {
  int index = 0;
  std::string name;
  std::string uuid;
  std::string pci_bus_id;
  int64_t memory_total_bytes = 0;
  int64_t memory_used_bytes = 0;
  int utilization_percent = 0;
};

absl::StatusOr<std::vector<SmiGpu>> ParseNvidiaSmiCsv(absl::string_view text);

// Runs `binary` (looked up in PATH) with the query above and returns its
// standard output. NotFound when it cannot be run, Unavailable when it exits
// non-zero, DeadlineExceeded (after killing it) when it outlives `timeout`.
absl::StatusOr<std::string> RunNvidiaSmi(const std::string& binary = "nvidia-smi",
                                         absl::Duration timeout = absl::Seconds(15));

}  // namespace berth::agent

#endif  // BERTH_AGENTS_NVIDIA_SMI_H_
