#include "agents/discovery.h"

#include <sys/stat.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/gpu.h"

namespace berth::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(GpuTypeForTest, MapsDriverNamesToCatalogTypes) {
  EXPECT_EQ(GpuTypeFor("NVIDIA H100 80GB HBM3", 81559 * kMiB), "h100-80gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA H100 PCIe", 81559 * kMiB), "h100-pcie-80gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA A100-SXM4-80GB", 81920 * kMiB), "a100-80gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA A100-SXM4-40GB", 40960 * kMiB), "a100-40gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA H200", 143771 * kMiB), "h200-141gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA L40S", 46068 * kMiB), "l40s-48gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA L4", 23034 * kMiB), "l4-24gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA A10", 23028 * kMiB), "a10-24gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA GeForce RTX 4090", 24564 * kMiB), "rtx4090-24gb");
  EXPECT_EQ(GpuTypeFor("Tesla V100-SXM2-32GB", 32768 * kMiB), "v100-32gb");
}

TEST(GpuTypeForTest, UnknownBoardsAndOddMemoryAreCustom) {
  // 95830 MiB = 93.6 GiB → 94; the H100 NVL is not the catalog's 80 GB card.
  EXPECT_EQ(GpuTypeFor("NVIDIA H100 NVL", 95830 * kMiB), "custom-94gb");
  // 16 GiB V100: the family matches but the memory does not.
  EXPECT_EQ(GpuTypeFor("Tesla V100-PCIE-16GB", 16384 * kMiB), "custom-16gb");
  EXPECT_EQ(GpuTypeFor("NVIDIA A10G", 23028 * kMiB), "custom-22gb");
  EXPECT_EQ(GpuTypeFor("Quadro RTX 8000", 49152 * kMiB), "custom-48gb");
}

TEST(DiscoveryTest, PrefersAnInventoryWhenGiven) {
  const std::string path = ::testing::TempDir() + "/inventory.json";
  std::ofstream(path) << R"({"gpus": [{"type": "l4-24gb", "count": 2}]})";
  absl::StatusOr<Discovery> found =
      Discover({.node = "n1", .inventory_path = path, .nvml_library = FAKE_NVML});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->method, "inventory");
  EXPECT_EQ(found->registration.discovery(), "inventory");
  EXPECT_EQ(found->registration.gpus_size(), 2);
  EXPECT_EQ(found->nvml, nullptr);
}

TEST(DiscoveryTest, UsesNvmlWhenItLoads) {
  absl::StatusOr<Discovery> found = Discover({.node = "n1", .nvml_library = FAKE_NVML});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->method, "nvml");
  ASSERT_NE(found->nvml, nullptr);
  const v1::Register& reg = found->registration;
  EXPECT_EQ(reg.node(), "n1");
  EXPECT_EQ(reg.discovery(), "nvml");
  ASSERT_EQ(reg.gpus_size(), 2);
  EXPECT_EQ(reg.gpus(1).index(), 1);
  EXPECT_EQ(reg.gpus(1).uuid(), "GPU-fake-0001");
  EXPECT_EQ(reg.gpus(1).type(), "h100-80gb");
  EXPECT_EQ(reg.gpus(1).memory_bytes(), 81559.0 * kMiB);
  EXPECT_EQ(reg.gpus(1).pci_bus_id(), "00000000:43:00.0");
  EXPECT_THAT(reg.gpus(1).nvlink_peers(), ElementsAre(0));
  EXPECT_FALSE(reg.labels().contains("mig"));
}

TEST(DiscoveryTest, FallsBackToNvidiaSmi) {
  const std::string script = ::testing::TempDir() + "/nvidia-smi";
  std::ofstream(script) << "#!/bin/sh\ncat " BERTH_TESTDATA_DIR "/nvidia-smi-8xh100.csv\n";
  ASSERT_EQ(chmod(script.c_str(), 0755), 0);
  absl::StatusOr<Discovery> found =
      Discover({.node = "n1", .nvml_library = FAKE_NVML_INIT_FAILS, .nvidia_smi = script});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->method, "nvidia-smi");
  EXPECT_EQ(found->registration.discovery(), "nvidia-smi");
  ASSERT_EQ(found->registration.gpus_size(), 8);
  EXPECT_EQ(found->registration.gpus(7).type(), "h100-80gb");
}

TEST(DiscoveryTest, NoGpuAndNoInventoryIsAClearError) {
  absl::StatusOr<Discovery> found = Discover({.node = "n1",
                                              .nvml_library = "/nonexistent/libnvidia-ml.so.1",
                                              .nvidia_smi = "/nonexistent/nvidia-smi"});
  EXPECT_EQ(found.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(found.status().message(), HasSubstr("no GPU found"));
  EXPECT_THAT(found.status().message(), HasSubstr("--inventory"));
  EXPECT_THAT(found.status().message(), HasSubstr("cannot load"));
}

TEST(DiscoveryTest, MigLabelListsGpusInMigMode) {
  std::vector<NvmlGpu> gpus(3);
  for (int i = 0; i < 3; ++i) {
    gpus[i] = {.index = i,
               .name = "NVIDIA A100-SXM4-80GB",
               .uuid = "GPU-x",
               .memory_total_bytes = 81920 * kMiB,
               .mig_enabled = i != 1};
  }
  const v1::Register reg = RegisterFromNvml("n1", gpus);
  EXPECT_EQ(reg.labels().at("mig"), "0,2");
  EXPECT_EQ(reg.gpus(2).type(), "a100-80gb");
}

}  // namespace
}  // namespace berth::agent
