#include "cli/job_spec.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

// Writes `text` to a fresh file in the test's temporary folder.
std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The message of a read that must fail with InvalidArgument.
std::string ErrorOf(const std::string& path) {
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(path);
  EXPECT_FALSE(spec.ok());
  if (spec.ok()) return "";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

TEST(ReadJobSpecFileTest, ReadsProtoFieldNames) {
  std::string path = WriteFile("ok.json", R"({
    "name": "t", "team": "nlp", "task": "train",
    "model": {"catalog_name": "llama-2-7b"},
    "train": {"seq": 4096}, "split": {"tp": 8, "zero_stage": 0},
    "command": ["python", "train.py"], "env": {"A": "1"},
    "max_runtime_seconds": 3600})");
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->team(), "nlp");
  EXPECT_EQ(spec->model().catalog_name(), "llama-2-7b");
  EXPECT_EQ(spec->train().seq(), 4096);
  EXPECT_EQ(spec->split().tp(), 8);
  EXPECT_TRUE(spec->split().has_zero_stage());
  EXPECT_EQ(spec->command_size(), 2);
  EXPECT_EQ(spec->max_runtime_seconds(), 3600);
  EXPECT_TRUE(spec->request_id().empty());
}

TEST(ReadJobSpecFileTest, MalformedJsonNamesTheFile) {
  std::string path = WriteFile("broken.json", R"({"name": "t", )");
  std::string message = ErrorOf(path);
  EXPECT_TRUE(absl::StartsWith(message, path + ": malformed JSON")) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(ReadJobSpecFileTest, UnknownTopLevelFieldIsNamed) {
  std::string path = WriteFile("top.json", R"({"name": "t", "gpus": 8})");
  EXPECT_EQ(ErrorOf(path), path + ": gpus: unknown field");
}

TEST(ReadJobSpecFileTest, UnknownNestedFieldIsNamedWithItsPath) {
  std::string path =
      WriteFile("nested.json", R"({"model": {"catalog_nam": "llama-2-7b"}})");
  EXPECT_EQ(ErrorOf(path), path + ": model.catalog_nam: unknown field");
}

TEST(ReadJobSpecFileTest, BadValueNamesTheField) {
  std::string path = WriteFile("value.json", R"({"split": {"tp": 1.5}})");
  std::string message = ErrorOf(path);
  EXPECT_TRUE(absl::StartsWith(message, path + ": split.tp: ")) << message;
}

TEST(ReadJobSpecFileTest, YamlIsChosenByTheFileName) {
  for (const char* name : {"job.yaml", "job.yml", "JOB.YAML"}) {
    std::string path = WriteFile(name, "team: nlp\ntrain:\n  seq: long\n");
    EXPECT_EQ(ErrorOf(path),
              path + ":3: train.seq: expected an integer, got \"long\"");
  }
  // The same text in a .json file is read as JSON.
  std::string json = WriteFile("job.json", "team: nlp\n");
  EXPECT_TRUE(absl::StartsWith(ErrorOf(json), json + ": malformed JSON"));
}

TEST(ReadJobSpecFileTest, MissingAndEmptyFiles) {
  std::string missing = testing::TempDir() + "/no-such-spec.json";
  EXPECT_TRUE(absl::StartsWith(ErrorOf(missing), missing + ": cannot open"));
  std::string empty = WriteFile("empty.json", "  \n");
  EXPECT_TRUE(absl::StartsWith(ErrorOf(empty), empty + ": empty file"));
}

TEST(NewRequestIdTest, ThirtyTwoHexDigitsAndFresh) {
  std::string id = NewRequestId();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_NE(NewRequestId(), id);
}

// Every job spec under deploy/examples/ (not the agents' inventory-*.json
// files) is a valid JobSpec.
TEST(ExampleSpecsTest, EveryExampleParses) {
  std::set<std::string> parsed;
  for (const auto& entry :
       std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json" ||
        absl::StartsWith(name, "inventory") ||
        absl::StartsWith(name, "tokens")) {  // not job specs
      continue;
    }
    absl::StatusOr<berth::v1::JobSpec> spec =
        ReadJobSpecFile(entry.path().string());
    EXPECT_TRUE(spec.ok()) << spec.status();
    if (!spec.ok()) continue;
    EXPECT_FALSE(spec->team().empty()) << name;
    EXPECT_TRUE(spec->model().has_catalog_name()) << name;
    parsed.insert(name);
  }
  for (const char* name : {"train-llama-2-7b.json", "train-llama-2-70b.json",
                           "serve-llama-3-70b.json", "too-large.json"}) {
    EXPECT_EQ(parsed.count(name), 1u) << name;
  }
}

TEST(ExampleSpecsTest, TooLargeFixesASingleA100) {
  absl::StatusOr<berth::v1::JobSpec> spec =
      ReadJobSpecFile(std::string(BERTH_EXAMPLES_DIR) + "/too-large.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model().catalog_name(), "llama-3.1-405b");
  EXPECT_EQ(spec->gpu_type(), "a100-40gb");
  EXPECT_EQ(spec->split().tp() * spec->split().pp() * spec->split().dp(), 1);
}

}  // namespace
}  // namespace berth::cli
