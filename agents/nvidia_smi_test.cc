#include "agents/nvidia_smi.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace berth::agent {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Output recorded from an 8 × H100 SXM5 node, two GPUs busy (the fixture's
// utilisation columns also hold "[N/A]" and "[Not Supported]").
TEST(NvidiaSmiTest, ParsesRecordedOutput) {
  const std::string text = ReadFile(BERTH_TESTDATA_DIR "/nvidia-smi-8xh100.csv");
  ASSERT_FALSE(text.empty());
  absl::StatusOr<std::vector<SmiGpu>> gpus = ParseNvidiaSmiCsv(text);
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  ASSERT_EQ(gpus->size(), 8u);
  const SmiGpu& g2 = (*gpus)[2];
  EXPECT_EQ(g2.index, 2);
  EXPECT_EQ(g2.name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g2.uuid, "GPU-91d3f4c5-2e6a-4b7c-a1d8-3f5e7b9c1a23");
  EXPECT_EQ(g2.pci_bus_id, "00000000:3A:00.0");
  EXPECT_EQ(g2.memory_total_bytes, 81559 * kMiB);  // MiB → bytes
  EXPECT_EQ(g2.memory_used_bytes, 71234 * kMiB);
  EXPECT_EQ(g2.utilization_percent, 98);
  EXPECT_EQ((*gpus)[6].utilization_percent, 0);  // [N/A]
  EXPECT_EQ((*gpus)[7].utilization_percent, 0);  // [Not Supported]
}

TEST(NvidiaSmiTest, SkipsBlankLinesAndLowercasesNothingButBusIds) {
  absl::StatusOr<std::vector<SmiGpu>> gpus =
      ParseNvidiaSmiCsv("\n0, NVIDIA L4, GPU-abc, 00000000:3b:00.0, 23034, 0, 5\n\n");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  ASSERT_EQ(gpus->size(), 1u);
  EXPECT_EQ((*gpus)[0].pci_bus_id, "00000000:3B:00.0");
  EXPECT_EQ((*gpus)[0].name, "NVIDIA L4");
}

TEST(NvidiaSmiTest, RejectsMalformedLinesNamingThem) {
  const std::string good = "0, NVIDIA L4, GPU-a, 00000000:3B:00.0, 23034, 0, 5\n";
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {good + "1, NVIDIA L4, GPU-b, 00000000:5E:00.0, 23034\n", "line 2: 5 fields"},
      {good + "x, NVIDIA L4, GPU-b, 00000000:5E:00.0, 23034, 0, 5\n", "line 2: index"},
      {"0, NVIDIA L4, GPU-a, 00000000:3B:00.0, lots, 0, 5\n", "line 1: memory.total"},
      {"0, , , 00000000:3B:00.0, 23034, 0, 5\n", "empty name or uuid"},
      {"NVIDIA-SMI has failed because it couldn't communicate with the "
       "driver\n",
       "line 1: 1 fields"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<SmiGpu>> gpus = ParseNvidiaSmiCsv(c.text);
    ASSERT_FALSE(gpus.ok()) << c.text;
    EXPECT_EQ(gpus.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(gpus.status().message().find(c.expected), std::string::npos) << gpus.status();
  }
}

TEST(NvidiaSmiTest, EmptyOutputIsNotFound) {
  EXPECT_EQ(ParseNvidiaSmiCsv("").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ParseNvidiaSmiCsv("\n \n").status().code(), absl::StatusCode::kNotFound);
}

TEST(NvidiaSmiTest, RunReportsAMissingBinary) {
  absl::StatusOr<std::string> out = RunNvidiaSmi("/nonexistent/nvidia-smi");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kNotFound) << out.status();
}

TEST(NvidiaSmiTest, RunReturnsTheOutputOfAStandIn) {
  // A stand-in script that prints recorded output and checks its arguments.
  const std::string script = ::testing::TempDir() + "/fake-nvidia-smi";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\n"
           "[ \"$2\" = --format=csv,noheader,nounits ] || exit 6\n"
           "cat " BERTH_TESTDATA_DIR "/nvidia-smi-8xh100.csv\n";
  }
  ASSERT_EQ(chmod(script.c_str(), 0755), 0);
  absl::StatusOr<std::string> out = RunNvidiaSmi(script);
  ASSERT_TRUE(out.ok()) << out.status();
  absl::StatusOr<std::vector<SmiGpu>> gpus = ParseNvidiaSmiCsv(*out);
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_EQ(gpus->size(), 8u);
}

TEST(NvidiaSmiTest, RunKillsAHungBinary) {
  const std::string script = ::testing::TempDir() + "/hung-nvidia-smi";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\nexec sleep 30\n";
  }
  ASSERT_EQ(chmod(script.c_str(), 0755), 0);
  absl::StatusOr<std::string> out = RunNvidiaSmi(script, absl::Milliseconds(200));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace berth::agent
