#include "agents/discovery.h"

#include <cmath>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agents/inventory.h"
#include "common/status_macros.h"
#include "planner/catalog.h"
#include "planner/gpu.h"

namespace berth::agent {
namespace {

// A board family: every token must appear in the name, none of `unless`.
struct Family {
  std::vector<absl::string_view> tokens;
  std::vector<absl::string_view> unless;
  std::vector<absl::string_view> types;  // candidates, by memory
};

const std::vector<Family>& Families() {
  static const auto* const kFamilies = new std::vector<Family>{
      {{"h100"}, {"pcie"}, {"h100-80gb"}},
      {{"h100", "pcie"}, {}, {"h100-pcie-80gb"}},
      {{"h200"}, {}, {"h200-141gb"}},
      {{"b200"}, {}, {"b200-192gb"}},
      {{"a100"}, {}, {"a100-80gb", "a100-40gb"}},
      {{"l40s"}, {}, {"l40s-48gb"}},
      {{"l4"}, {}, {"l4-24gb"}},
      {{"a10"}, {}, {"a10-24gb"}},
      {{"4090"}, {}, {"rtx4090-24gb"}},
      {{"v100"}, {}, {"v100-32gb"}},
  };
  return *kFamilies;
}

// "NVIDIA A100-SXM4-80GB" → {"nvidia", "a100", "sxm4", "80gb"}.
std::vector<std::string> Tokens(absl::string_view name) {
  return absl::StrSplit(absl::AsciiStrToLower(name), absl::ByAnyChar(" -_"), absl::SkipEmpty());
}

bool Has(const std::vector<std::string>& tokens, absl::string_view token) {
  for (const std::string& t : tokens) {
    if (t == token) return true;
  }
  return false;
}

bool Matches(const Family& family, const std::vector<std::string>& tokens) {
  for (absl::string_view t : family.tokens) {
    if (!Has(tokens, t)) return false;
  }
  for (absl::string_view t : family.unless) {
    if (Has(tokens, t)) return false;
  }
  return true;
}

// Within 4% of the catalog's memory: drivers differ by a few hundred MiB.
bool MemoryClose(int64_t catalog, int64_t reported) {
  return std::llabs(catalog - reported) * 25 <= catalog;
}

}  // namespace

std::string GpuTypeFor(absl::string_view name, int64_t memory_bytes) {
  const std::vector<std::string> tokens = Tokens(name);
  for (const Family& family : Families()) {
    if (!Matches(family, tokens)) continue;
    for (absl::string_view type : family.types) {
      absl::StatusOr<planner::GpuType> gpu = planner::FindGpu(type);
      if (gpu.ok() && MemoryClose(gpu->memory_bytes, memory_bytes)) {
        return gpu->name;
      }
    }
    break;
  }
  const int64_t gib =
      std::llround(static_cast<double>(memory_bytes) / static_cast<double>(planner::kGiB));
  return absl::StrCat("custom-", gib, "gb");
}

namespace {

v1::Gpu* AddGpu(v1::Register& reg, int index, absl::string_view name, absl::string_view uuid,
                absl::string_view bus, int64_t memory) {
  v1::Gpu* gpu = reg.add_gpus();
  gpu->set_index(index);
  gpu->set_uuid(std::string(uuid));
  gpu->set_type(GpuTypeFor(name, memory));
  gpu->set_memory_bytes(static_cast<double>(memory));
  gpu->set_pci_bus_id(std::string(bus));
  return gpu;
}

}  // namespace

v1::Register RegisterFromNvml(absl::string_view node, const std::vector<NvmlGpu>& gpus) {
  v1::Register reg;
  reg.set_node(std::string(node));
  reg.set_discovery("nvml");
  std::vector<int> mig;
  for (const NvmlGpu& g : gpus) {
    v1::Gpu* gpu = AddGpu(reg, g.index, g.name, g.uuid, g.pci_bus_id, g.memory_total_bytes);
    gpu->mutable_nvlink_peers()->Add(g.nvlink_peers.begin(), g.nvlink_peers.end());
    if (g.mig_enabled) mig.push_back(g.index);
  }
  if (!mig.empty()) (*reg.mutable_labels())["mig"] = absl::StrJoin(mig, ",");
  return reg;
}

v1::Register RegisterFromSmi(absl::string_view node, const std::vector<SmiGpu>& gpus) {
  v1::Register reg;
  reg.set_node(std::string(node));
  reg.set_discovery("nvidia-smi");
  for (const SmiGpu& g : gpus) {
    AddGpu(reg, g.index, g.name, g.uuid, g.pci_bus_id, g.memory_total_bytes);
  }
  return reg;
}

namespace {

absl::StatusOr<Discovery> FromNvml(const DiscoveryOptions& options) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Nvml> nvml, Nvml::Load(options.nvml_library));
  BERTH_ASSIGN_OR_RETURN(std::vector<NvmlGpu> gpus, nvml->Gpus());
  if (gpus.empty()) return absl::NotFoundError("NVML: the driver lists no GPU");
  return Discovery{.registration = RegisterFromNvml(options.node, gpus),
                   .method = "nvml",
                   .nvml = std::move(nvml)};
}

absl::StatusOr<Discovery> FromNvidiaSmi(const DiscoveryOptions& options) {
  BERTH_ASSIGN_OR_RETURN(std::string text, RunNvidiaSmi(options.nvidia_smi));
  BERTH_ASSIGN_OR_RETURN(std::vector<SmiGpu> gpus, ParseNvidiaSmiCsv(text));
  return Discovery{.registration = RegisterFromSmi(options.node, gpus), .method = "nvidia-smi"};
}

}  // namespace

absl::StatusOr<Discovery> Discover(const DiscoveryOptions& options) {
  BERTH_RETURN_IF_ERROR(ValidateNodeName(options.node));
  if (!options.inventory_path.empty()) {
    BERTH_ASSIGN_OR_RETURN(v1::Register reg, LoadInventory(options.inventory_path, options.node));
    reg.set_discovery("inventory");
    return Discovery{.registration = std::move(reg), .method = "inventory"};
  }
  absl::StatusOr<Discovery> nvml = FromNvml(options);
  if (nvml.ok()) return nvml;
  absl::StatusOr<Discovery> smi = FromNvidiaSmi(options);
  if (smi.ok()) return smi;
  return absl::FailedPreconditionError(
      absl::StrCat("no GPU found on this machine (", nvml.status().message(), "; nvidia-smi: ",
                   smi.status().message(), "); give --inventory FILE to run a simulated node"));
}

}  // namespace berth::agent
