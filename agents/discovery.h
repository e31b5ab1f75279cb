// GPU discovery: which GPUs this node has, and how berth found out.
//
// Discover() tries, in order, and keeps the first that works:
//   1. `--inventory FILE`, when given: the operator said what the node is
//      (simulated nodes, or a GPU box that should pretend to be another);
//   2. NVML, dlopen()ed from `nvml_library` (see nvml.h);
//   3. `nvidia-smi --query-gpu=... --format=csv` (see nvidia_smi.h).
// When none works the error lists why each failed and suggests --inventory.
// The result is the node's `Register` (with `discovery` set to "inventory",
// "nvml" or "nvidia-smi") and, for NVML, the open library for heartbeats.
//
// GpuTypeFor() maps a driver's board name and memory to a planner catalog
// type: "NVIDIA H100 80GB HBM3" with 81559 MiB is "h100-80gb"; a board berth
// does not know, or whose memory is not within 4% of the catalog entry's, is
// "custom-<GiB>gb" (GiB rounded to nearest).
#ifndef BERTH_AGENTS_DISCOVERY_H_
#define BERTH_AGENTS_DISCOVERY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agents/nvidia_smi.h"
#include "agents/nvml.h"
#include "berth/v1/agent.pb.h"

namespace berth::agent {

struct DiscoveryOptions {
  std::string node;
  std::string inventory_path;  // empty: discover real GPUs
  std::string nvml_library = kDefaultNvmlLibrary;
  std::string nvidia_smi = "nvidia-smi";
};

struct Discovery {
  v1::Register registration;   // node, gpus, labels, discovery
  std::string method;          // "inventory", "nvml" or "nvidia-smi"
  std::unique_ptr<Nvml> nvml;  // set when method is "nvml"
};

absl::StatusOr<Discovery> Discover(const DiscoveryOptions& options);

std::string GpuTypeFor(absl::string_view name, int64_t memory_bytes);

// The Register for GPUs found by NVML or nvidia-smi. A label "mig" lists the
// indices of GPUs with MIG enabled, when there are any.
v1::Register RegisterFromNvml(absl::string_view node, const std::vector<NvmlGpu>& gpus);
v1::Register RegisterFromSmi(absl::string_view node, const std::vector<SmiGpu>& gpus);

}  // namespace berth::agent

#endif  // BERTH_AGENTS_DISCOVERY_H_
