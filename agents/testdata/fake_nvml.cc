// A fake libnvidia-ml for the NVML tests: two H100s with canned answers.
//
// Built as shared libraries by agents/CMakeLists.txt and loaded by path.
// Compile definitions make the broken variants:
//   FAKE_NVML_NO_UUID     nvmlDeviceGetUUID is not exported
//   FAKE_NVML_INIT_FAILS  nvmlInit_v2 returns NVML_ERROR_DRIVER_NOT_LOADED
// GPU 0 and GPU 1 are joined by NVLink 0; the other links are inactive.
#include <cstring>

extern "C" {

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;

struct nvmlPciInfo_t {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
};
struct nvmlMemory_t {
  unsigned long long total, free, used;
};
struct nvmlUtilization_t {
  unsigned int gpu, memory;
};

namespace {
constexpr nvmlReturn_t kSuccess = 0;
constexpr nvmlReturn_t kInvalidArgument = 2;
constexpr nvmlReturn_t kNotSupported = 3;
constexpr nvmlReturn_t kDriverNotLoaded = 9;
constexpr unsigned long long kMiB = 1024ull * 1024;

struct FakeGpu {
  const char* name;
  const char* uuid;
  const char* bus_id;
  unsigned long long total, used;
  unsigned int utilization;
};
const FakeGpu kGpus[] = {
    {"NVIDIA H100 80GB HBM3", "GPU-fake-0000", "00000000:1b:00.0", 81559 * kMiB, 1024 * kMiB, 37},
    {"NVIDIA H100 80GB HBM3", "GPU-fake-0001", "00000000:43:00.0", 81559 * kMiB, 2048 * kMiB, 0},
};
bool initialized = false;

const FakeGpu* Gpu(nvmlDevice_t device) {
  const long i = reinterpret_cast<long>(device) - 1;
  return i >= 0 && i < 2 ? &kGpus[i] : nullptr;
}
}  // namespace

__attribute__((visibility("default"))) nvmlReturn_t nvmlInit_v2() {
#ifdef FAKE_NVML_INIT_FAILS
  return kDriverNotLoaded;
#else
  initialized = true;
  return kSuccess;
#endif
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlShutdown() {
  initialized = false;
  return kSuccess;
}

__attribute__((visibility("default"))) const char* nvmlErrorString(nvmlReturn_t code) {
  return code == kDriverNotLoaded ? "Driver Not Loaded" : "Fake Error";
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  *count = 2;
  return initialized ? kSuccess : 1;  // NVML_ERROR_UNINITIALIZED
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(
    unsigned int index, nvmlDevice_t* device) {
  if (index >= 2) return kInvalidArgument;
  *device = reinterpret_cast<nvmlDevice_t>(static_cast<long>(index) + 1);
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device,
                                                                      char* name,
                                                                      unsigned int length) {
  if (Gpu(device) == nullptr) return kInvalidArgument;
  std::strncpy(name, Gpu(device)->name, length - 1);
  return kSuccess;
}

#ifndef FAKE_NVML_NO_UUID
__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device,
                                                                      char* uuid,
                                                                      unsigned int length) {
  if (Gpu(device) == nullptr) return kInvalidArgument;
  std::strncpy(uuid, Gpu(device)->uuid, length - 1);
  return kSuccess;
}
#endif

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device,
                                                                            nvmlPciInfo_t* pci) {
  if (Gpu(device) == nullptr) return kInvalidArgument;
  std::memset(pci, 0, sizeof(*pci));
  std::strncpy(pci->busId, Gpu(device)->bus_id, sizeof(pci->busId) - 1);
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
                                                                            nvmlMemory_t* memory) {
  if (Gpu(device) == nullptr) return kInvalidArgument;
  memory->total = Gpu(device)->total;
  memory->used = Gpu(device)->used;
  memory->free = memory->total - memory->used;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetUtilizationRates(
    nvmlDevice_t device, nvmlUtilization_t* u) {
  if (Gpu(device) == nullptr) return kInvalidArgument;
  u->gpu = Gpu(device)->utilization;
  u->memory = 0;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device,
                                                                         unsigned int* current,
                                                                         unsigned int* pending) {
  (void)device;
  *current = 0;
  *pending = 0;
  return kNotSupported;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device,
                                                                             unsigned int link,
                                                                             int* active) {
  if (Gpu(device) == nullptr || link >= 18) return kInvalidArgument;
  *active = link == 0 ? 1 : 0;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(
    nvmlDevice_t device, unsigned int link, nvmlPciInfo_t* pci) {
  const FakeGpu* gpu = Gpu(device);
  if (gpu == nullptr || link != 0) return kInvalidArgument;
  const FakeGpu* other = gpu == &kGpus[0] ? &kGpus[1] : &kGpus[0];
  std::memset(pci, 0, sizeof(*pci));
  std::strncpy(pci->busId, other->bus_id, sizeof(pci->busId) - 1);
  return kSuccess;
}

}  // extern "C"
