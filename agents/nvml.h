// NVML, the NVIDIA Management Library, loaded at run time.
//
// berth has no build-time NVIDIA dependency: `Nvml::Load()` dlopen()s the
// library by path (default "libnvidia-ml.so.1", the driver's soname),
// resolves the few entry points berth uses, and calls nvmlInit_v2. The C
// types are declared in nvml.cc with NVML's documented layouts. Tests load a
// fake library (agents/testdata/fake_nvml.cc) by path.
//
//   BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Nvml> nvml, Nvml::Load(path));
//   BERTH_ASSIGN_OR_RETURN(std::vector<NvmlGpu> gpus, nvml->Gpus());
//   ... every heartbeat: nvml->Samples();
//   nvml.reset();  // nvmlShutdown and dlclose
//
// Errors: NotFound when the library cannot be opened, FailedPrecondition
// when a required symbol is missing or nvmlInit fails, Unavailable when a
// query fails. NVLink and MIG entry points are optional: without them the
// GPUs have no peers and MIG is reported off. Thread-safe (NVML is).
#ifndef BERTH_AGENTS_NVML_H_
#define BERTH_AGENTS_NVML_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::agent {

inline constexpr char kDefaultNvmlLibrary[] = "libnvidia-ml.so.1";

// One GPU as NVML describes it.
struct NvmlGpu {
  int index = 0;
  std::string name;        // "NVIDIA H100 80GB HBM3"
  std::string uuid;        // "GPU-5f3c..."
  std::string pci_bus_id;  // "00000000:1B:00.0"
  int64_t memory_total_bytes = 0;
  int64_t memory_used_bytes = 0;
  int utilization_percent = 0;  // 0-100
  bool mig_enabled = false;
  // Indices of the GPUs this one reaches over an active NVLink, directly or
  // through an NVSwitch; increasing, without itself.
  std::vector<int> nvlink_peers;
};

// What a heartbeat carries for one GPU.
struct NvmlSample {
  int index = 0;
  int utilization_percent = 0;
  int64_t memory_used_bytes = 0;
};

class Nvml {
 public:
  static absl::StatusOr<std::unique_ptr<Nvml>> Load(const std::string& path);

  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;
  ~Nvml();  // nvmlShutdown, then dlclose

  absl::StatusOr<std::vector<NvmlGpu>> Gpus() const;
  absl::StatusOr<std::vector<NvmlSample>> Samples() const;

  struct Api;  // the resolved entry points; defined in nvml.cc

 private:
  Nvml(void* handle, std::unique_ptr<Api> api);

  void* handle_;
  std::unique_ptr<Api> api_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENTS_NVML_H_
