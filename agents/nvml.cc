#include "agents/nvml.h"

#include <dlfcn.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

// The C declarations berth needs, with NVML's documented layouts (nvml.h).
// They live in the global namespace, as nvml.h puts them, so that the
// function types berth calls through are the library's own: clang's
// -fsanitize=function (part of UBSan) checks a call through a function
// pointer against the callee's type, and a struct declared inside berth's
// namespace would be a different type.
extern "C" {
typedef int nvmlReturn_t;  // NVML_SUCCESS = 0
typedef struct nvmlDevice_st* nvmlDevice_t;
struct nvmlPciInfo_t {
  char busIdLegacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[32];
};
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
}  // extern "C"

namespace berth::agent {
namespace {

constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr unsigned int kNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned int kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE
constexpr unsigned int kMaxNvLinks = 18;      // NVML_NVLINK_MAX_LINKS

}  // namespace

struct Nvml::Api {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*count)(unsigned int*) = nullptr;
  nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  // Optional: absent from old drivers or fakes.
  nvmlReturn_t (*mig_mode)(nvmlDevice_t, unsigned int*, unsigned int*) = nullptr;
  nvmlReturn_t (*nvlink_state)(nvmlDevice_t, unsigned int, int*) = nullptr;
  nvmlReturn_t (*nvlink_remote_pci)(nvmlDevice_t, unsigned int, nvmlPciInfo_t*) = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;

  std::string Error(absl::string_view call, nvmlReturn_t code) const {
    const char* text = error_string != nullptr ? error_string(code) : nullptr;
    return absl::StrCat(call, " returned ", code,
                        text != nullptr ? absl::StrCat(" (", text, ")") : "");
  }
};

namespace {

template <typename F>
absl::Status Resolve(void* handle, const char* symbol, bool required, F& out) {
  out = reinterpret_cast<F>(dlsym(handle, symbol));
  if (out == nullptr && required) {
    return absl::FailedPreconditionError(absl::StrCat("NVML: the library has no symbol ", symbol));
  }
  return absl::OkStatus();
}

absl::Status ResolveAll(void* h, Nvml::Api& a) {
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlInit_v2", true, a.init));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlShutdown", true, a.shutdown));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetCount_v2", true, a.count));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetHandleByIndex_v2", true, a.handle));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetName", true, a.name));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetUUID", true, a.uuid));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetPciInfo_v3", true, a.pci));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetMemoryInfo", true, a.memory));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetUtilizationRates", true, a.utilization));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetMigMode", false, a.mig_mode));
  BERTH_RETURN_IF_ERROR(Resolve(h, "nvmlDeviceGetNvLinkState", false, a.nvlink_state));
  BERTH_RETURN_IF_ERROR(
      Resolve(h, "nvmlDeviceGetNvLinkRemotePciInfo_v2", false, a.nvlink_remote_pci));
  return Resolve(h, "nvmlErrorString", false, a.error_string);
}

std::string NormalizedBusId(const char* bus_id) { return absl::AsciiStrToUpper(bus_id); }

}  // namespace

absl::StatusOr<std::unique_ptr<Nvml>> Nvml::Load(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::NotFoundError(
        absl::StrCat("NVML: cannot load ", path, ": ", why != nullptr ? why : "unknown"));
  }
  auto api = std::make_unique<Api>();
  absl::Status status = ResolveAll(handle, *api);
  if (status.ok()) {
    const nvmlReturn_t code = api->init();
    if (code != kNvmlSuccess) {
      status =
          absl::FailedPreconditionError(absl::StrCat("NVML: ", api->Error("nvmlInit_v2", code)));
    }
  }
  if (!status.ok()) {
    dlclose(handle);
    return status;
  }
  return std::unique_ptr<Nvml>(new Nvml(handle, std::move(api)));
}

Nvml::Nvml(void* handle, std::unique_ptr<Api> api) : handle_(handle), api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
  dlclose(handle_);
}

namespace {

// Fills the fields every GPU has; NVLink peers are resolved afterwards.
absl::Status Describe(const Nvml::Api& api, nvmlDevice_t device, NvmlGpu& gpu) {
  char name[kNameBufferSize] = {};
  char uuid[kUuidBufferSize] = {};
  nvmlPciInfo_t pci = {};
  nvmlMemory_t memory = {};
  nvmlUtilization_t utilization = {};
  nvmlReturn_t code = api.name(device, name, kNameBufferSize);
  if (code != kNvmlSuccess) return absl::UnavailableError(api.Error("nvmlDeviceGetName", code));
  code = api.uuid(device, uuid, kUuidBufferSize);
  if (code != kNvmlSuccess) return absl::UnavailableError(api.Error("nvmlDeviceGetUUID", code));
  code = api.pci(device, &pci);
  if (code != kNvmlSuccess)
    return absl::UnavailableError(api.Error("nvmlDeviceGetPciInfo_v3", code));
  code = api.memory(device, &memory);
  if (code != kNvmlSuccess)
    return absl::UnavailableError(api.Error("nvmlDeviceGetMemoryInfo", code));
  // Utilisation is not supported on every board (some MIG setups): 0 then.
  if (api.utilization(device, &utilization) != kNvmlSuccess) utilization = {};
  unsigned int current = 0, pending = 0;
  if (api.mig_mode != nullptr && api.mig_mode(device, &current, &pending) == kNvmlSuccess) {
    gpu.mig_enabled = current == 1;  // NVML_DEVICE_MIG_ENABLE
  }
  gpu.name = name;
  gpu.uuid = uuid;
  pci.busId[sizeof(pci.busId) - 1] = '\0';
  gpu.pci_bus_id = NormalizedBusId(pci.busId);
  gpu.memory_total_bytes = static_cast<int64_t>(memory.total);
  gpu.memory_used_bytes = static_cast<int64_t>(memory.used);
  gpu.utilization_percent = static_cast<int>(std::min(utilization.gpu, 100u));
  return absl::OkStatus();
}

// The bus ids at the far end of `device`'s active NVLinks.
std::set<std::string> RemoteBusIds(const Nvml::Api& api, nvmlDevice_t device) {
  std::set<std::string> remote;
  if (api.nvlink_state == nullptr || api.nvlink_remote_pci == nullptr) return remote;
  for (unsigned int link = 0; link < kMaxNvLinks; ++link) {
    int active = 0;  // nvmlEnableState_t: NVML_FEATURE_ENABLED = 1
    if (api.nvlink_state(device, link, &active) != kNvmlSuccess || active != 1) continue;
    nvmlPciInfo_t pci = {};
    if (api.nvlink_remote_pci(device, link, &pci) != kNvmlSuccess) continue;
    pci.busId[sizeof(pci.busId) - 1] = '\0';
    remote.insert(NormalizedBusId(pci.busId));
  }
  return remote;
}

// A link to a bus id that is none of the GPUs goes to an NVSwitch: GPUs with
// switch links all reach one another.
void ResolvePeers(const std::vector<std::set<std::string>>& remote, std::vector<NvmlGpu>& gpus) {
  std::vector<bool> on_switch(gpus.size(), false);
  for (size_t i = 0; i < gpus.size(); ++i) {
    for (const std::string& bus : remote[i]) {
      auto peer = std::find_if(gpus.begin(), gpus.end(),
                               [&bus](const NvmlGpu& g) { return g.pci_bus_id == bus; });
      if (peer == gpus.end()) {
        on_switch[i] = true;
      } else if (peer->index != gpus[i].index) {
        gpus[i].nvlink_peers.push_back(peer->index);
      }
    }
  }
  for (size_t i = 0; i < gpus.size(); ++i) {
    for (size_t j = 0; j < gpus.size(); ++j) {
      if (i != j && on_switch[i] && on_switch[j]) gpus[i].nvlink_peers.push_back(gpus[j].index);
    }
    std::vector<int>& peers = gpus[i].nvlink_peers;
    std::sort(peers.begin(), peers.end());
    peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  }
}

}  // namespace

absl::StatusOr<std::vector<NvmlGpu>> Nvml::Gpus() const {
  unsigned int count = 0;
  nvmlReturn_t code = api_->count(&count);
  if (code != kNvmlSuccess) {
    return absl::UnavailableError(api_->Error("nvmlDeviceGetCount_v2", code));
  }
  std::vector<NvmlGpu> gpus(count);
  std::vector<std::set<std::string>> remote(count);
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    code = api_->handle(i, &device);
    if (code != kNvmlSuccess) {
      return absl::UnavailableError(api_->Error("nvmlDeviceGetHandleByIndex_v2", code));
    }
    gpus[i].index = static_cast<int>(i);
    BERTH_RETURN_IF_ERROR(Describe(*api_, device, gpus[i]));
    remote[i] = RemoteBusIds(*api_, device);
  }
  ResolvePeers(remote, gpus);
  return gpus;
}

absl::StatusOr<std::vector<NvmlSample>> Nvml::Samples() const {
  unsigned int count = 0;
  nvmlReturn_t code = api_->count(&count);
  if (code != kNvmlSuccess) {
    return absl::UnavailableError(api_->Error("nvmlDeviceGetCount_v2", code));
  }
  std::vector<NvmlSample> samples;
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    nvmlMemory_t memory = {};
    nvmlUtilization_t utilization = {};
    if (api_->handle(i, &device) != kNvmlSuccess) continue;
    if (api_->memory(device, &memory) != kNvmlSuccess) memory = {};
    if (api_->utilization(device, &utilization) != kNvmlSuccess) utilization = {};
    samples.push_back({.index = static_cast<int>(i),
                       .utilization_percent = static_cast<int>(std::min(utilization.gpu, 100u)),
                       .memory_used_bytes = static_cast<int64_t>(memory.used)});
  }
  return samples;
}

}  // namespace berth::agent
