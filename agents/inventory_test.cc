#include "agents/inventory.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/gpu.h"

namespace berth::agent {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<v1::Register> Parse(const std::string& json) {
  return ParseInventory(json, "n1", "test.json");
}

// Expects InvalidArgument whose message names `field`.
void ExpectInvalid(const std::string& json, const std::string& field) {
  absl::StatusOr<v1::Register> reg = Parse(json);
  ASSERT_FALSE(reg.ok()) << json;
  EXPECT_EQ(reg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reg.status().message()), HasSubstr("inventory test.json: "));
  EXPECT_THAT(std::string(reg.status().message()), HasSubstr(field));
}

TEST(InventoryTest, ExpandsEntriesInOrder) {
  absl::StatusOr<v1::Register> reg = Parse(R"({
    "gpus": [{"type": "H100", "count": 2}, {"memory_gib": 24}],
    "labels": {"rack": "r1"}})");
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(reg->node(), "n1");
  ASSERT_EQ(reg->gpus_size(), 3);               // 2 + the default count of 1
  EXPECT_EQ(reg->gpus(0).type(), "h100-80gb");  // alias made canonical
  EXPECT_EQ(reg->gpus(0).memory_bytes(), 81559.0 * planner::kMiB);
  EXPECT_EQ(reg->gpus(1).index(), 1);
  EXPECT_EQ(reg->gpus(1).uuid(), "GPU-sim-n1-1");
  EXPECT_EQ(reg->gpus(1).pci_bus_id(), "00000000:01:00.0");
  EXPECT_EQ(reg->gpus(2).type(), "custom-24gb");
  EXPECT_EQ(reg->gpus(2).memory_bytes(), 24.0 * planner::kGiB);
  EXPECT_EQ(reg->gpus(2).job_id(), 0);
  EXPECT_EQ(reg->labels().at("rack"), "r1");
  EXPECT_TRUE(reg->running_jobs().empty());
}

TEST(InventoryTest, ErrorsNameTheField) {
  ExpectInvalid(R"({"gpus": []})", "gpus: lists no GPUs");
  ExpectInvalid(R"({})", "gpus");
  ExpectInvalid(R"({"gpus": [{"count": 2}]})", "gpus[0]: set exactly one");
  ExpectInvalid(R"({"gpus": [{"type": "a100-40gb", "memory_gib": 40}]})",
                "gpus[0]: set exactly one");
  ExpectInvalid(R"({"gpus": [{"type": "a100"}, {"type": "h1000"}]})",
                "gpus[1].type: unknown GPU type \"h1000\"; known: ");
  ExpectInvalid(R"({"gpus": [{"memory_gib": 0.5}]})", "gpus[0].memory_gib");
  ExpectInvalid(R"({"gpus": [{"memory_gib": 1025}]})", "gpus[0].memory_gib");
  ExpectInvalid(R"({"gpus": [{"memory_gib": 24.5}]})", "gpus[0].memory_gib");
  ExpectInvalid(R"({"gpus": [{"type": "l4", "count": 65}]})",
                "gpus[0].count: 65 is not from 1 to 64");
  ExpectInvalid(R"({"gpus": [{"type": "l4", "count": -1}]})", "gpus[0].count");
}

TEST(InventoryTest, UnknownTypeListsKnownNames) {
  absl::StatusOr<v1::Register> reg = Parse(R"({"gpus": [{"type": "tpu"}]})");
  ASSERT_FALSE(reg.ok());
  EXPECT_THAT(std::string(reg.status().message()), HasSubstr("h100-80gb"));
  EXPECT_THAT(std::string(reg.status().message()), HasSubstr("a100-40gb"));
}

TEST(InventoryTest, MalformedJsonAndUnknownFieldsAreErrors) {
  ExpectInvalid(R"({"gpus": [)", "");
  ExpectInvalid(R"({"gpus": [{"tpye": "l4"}]})", "tpye");  // typo
  ExpectInvalid(R"({"gpu": [{"type": "l4"}]})", "gpu");
}

TEST(InventoryTest, ValidatesNodeNames) {
  EXPECT_TRUE(ValidateNodeName("gpu-node_01.rack1").ok());
  EXPECT_TRUE(ValidateNodeName(std::string(253, 'a')).ok());
  EXPECT_FALSE(ValidateNodeName("").ok());
  EXPECT_FALSE(ValidateNodeName(std::string(254, 'a')).ok());
  EXPECT_FALSE(ValidateNodeName("node 1").ok());
  EXPECT_FALSE(ValidateNodeName("node/1").ok());
  EXPECT_FALSE(ParseInventory(R"({"gpus": [{"type": "l4"}]})", "bad name", "x.json").ok());
}

class InventoryFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = absl::StrCat(::testing::TempDir(), "/inventory_test_", name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
};

TEST_F(InventoryFileTest, MissingFileIsNotFoundWithPath) {
  const std::string path = ::testing::TempDir() + "/no-such-inventory.json";
  absl::StatusOr<v1::Register> reg = LoadInventory(path, "n1");
  ASSERT_FALSE(reg.ok());
  EXPECT_EQ(reg.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(reg.status().message()), HasSubstr(path));
}

TEST_F(InventoryFileTest, MalformedFileNamesThePath) {
  const std::string path = Write("bad.json", "{not json");
  absl::StatusOr<v1::Register> reg = LoadInventory(path, "n1");
  ASSERT_FALSE(reg.ok());
  EXPECT_EQ(reg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reg.status().message()),
              HasSubstr(absl::StrCat("inventory ", path, ": ")));
}

TEST_F(InventoryFileTest, RejectsFilesOverOneMiB) {
  // Valid JSON, padded with spaces past 1 MiB (1,048,576 bytes).
  const std::string path =
      Write("big.json", R"({"gpus": [{"type": "l4"}]})" + std::string(kMaxInventoryFileBytes, ' '));
  absl::StatusOr<v1::Register> reg = LoadInventory(path, "n1");
  ASSERT_FALSE(reg.ok());
  EXPECT_EQ(reg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reg.status().message()), HasSubstr("larger than"));
}

TEST(ExampleInventoriesTest, EveryExampleParses) {
  int parsed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("inventory-") || !name.ends_with(".json")) continue;
    absl::StatusOr<v1::Register> reg = LoadInventory(entry.path().string(), "example-node");
    EXPECT_TRUE(reg.ok()) << name << ": " << reg.status();
    ++parsed;
  }
  EXPECT_GE(parsed, 3);
}

TEST(ExampleInventoriesTest, H100NodeHasEightCardsInRackR1) {
  absl::StatusOr<v1::Register> reg =
      LoadInventory(std::string(BERTH_EXAMPLES_DIR) + "/inventory-h100-node.json", "h1");
  ASSERT_TRUE(reg.ok()) << reg.status();
  ASSERT_EQ(reg->gpus_size(), 8);
  EXPECT_EQ(reg->gpus(7).type(), "h100-80gb");
  EXPECT_EQ(reg->gpus(7).uuid(), "GPU-sim-h1-7");
  EXPECT_EQ(reg->labels().at("rack"), "r1");
}

}  // namespace
}  // namespace berth::agent
