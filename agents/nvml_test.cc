#include "agents/nvml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;

// agents/testdata/fake_nvml.cc: two H100s joined by NVLink 0.
TEST(NvmlTest, ReadsTheFakeLibrarysGpus) {
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(FAKE_NVML);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<std::vector<NvmlGpu>> gpus = (*nvml)->Gpus();
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  ASSERT_EQ(gpus->size(), 2u);
  const NvmlGpu& g0 = (*gpus)[0];
  EXPECT_EQ(g0.index, 0);
  EXPECT_EQ(g0.name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g0.uuid, "GPU-fake-0000");
  EXPECT_EQ(g0.pci_bus_id, "00000000:1B:00.0");  // upper-cased
  EXPECT_EQ(g0.memory_total_bytes, 81559 * kMiB);
  EXPECT_EQ(g0.memory_used_bytes, 1024 * kMiB);
  EXPECT_EQ(g0.utilization_percent, 37);
  EXPECT_FALSE(g0.mig_enabled);  // nvmlDeviceGetMigMode: not supported
  EXPECT_THAT(g0.nvlink_peers, ElementsAre(1));
  EXPECT_EQ((*gpus)[1].uuid, "GPU-fake-0001");
  EXPECT_THAT((*gpus)[1].nvlink_peers, ElementsAre(0));
}

TEST(NvmlTest, SamplesCarryUtilisationAndMemoryInUse) {
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(FAKE_NVML);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<std::vector<NvmlSample>> samples = (*nvml)->Samples();
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].utilization_percent, 37);
  EXPECT_EQ((*samples)[0].memory_used_bytes, 1024 * kMiB);
  EXPECT_EQ((*samples)[1].index, 1);
  EXPECT_EQ((*samples)[1].memory_used_bytes, 2048 * kMiB);
}

TEST(NvmlTest, AMissingLibraryIsNotFound) {
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load("/nonexistent/libnvidia-ml.so.1");
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(nvml.status().message(), HasSubstr("cannot load /nonexistent/libnvidia-ml.so.1"));
}

TEST(NvmlTest, AMissingSymbolIsNamed) {
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(FAKE_NVML_NO_UUID);
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(nvml.status().message(), HasSubstr("nvmlDeviceGetUUID"));
}

TEST(NvmlTest, AnInitErrorIsReportedWithNvmlsText) {
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(FAKE_NVML_INIT_FAILS);
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(nvml.status().message(), HasSubstr("nvmlInit_v2 returned 9 (Driver Not Loaded)"));
}

TEST(NvmlTest, LoadsAgainAfterUnloading) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(FAKE_NVML);
    ASSERT_TRUE(nvml.ok()) << nvml.status();
    EXPECT_TRUE((*nvml)->Gpus().ok());
  }
}

}  // namespace
}  // namespace berth::agent
