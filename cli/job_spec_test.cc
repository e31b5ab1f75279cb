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
    "max_runtime_seconds": 3600, "preemptible": false, "preemption_grace_seconds": 60})");
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->has_preemptible());
  EXPECT_FALSE(spec->preemptible());
  EXPECT_EQ(spec->preemption_grace_seconds(), 60);
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

// Issue 17: protobuf's JSON parser accepts a comma before "}" or "]".
TEST(ReadJobSpecFileTest, ATrailingCommaIsMalformedJson) {
  std::string object = WriteFile("comma.json", "{\"name\": \"t\",\n \"team\": \"nlp\",\n}\n");
  EXPECT_EQ(ErrorOf(object), object +
                                 ": malformed JSON: a comma before } or ] on line 2 (JSON "
                                 "allows no trailing comma)");
  std::string list = WriteFile("list.json", R"({"command": ["a", "b" , ]})");
  EXPECT_TRUE(absl::StrContains(ErrorOf(list), "a comma before } or ] on line 1")) << ErrorOf(list);
  // Commas and brackets inside strings are text.
  std::string text = WriteFile("text.json", R"({"name": "a,}", "command": ["x,]", "\",]"]})");
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(text);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "a,}");
  EXPECT_EQ(spec->command(1), "\",]");
}

// Issue 17: a section of the other task is an error that names it.
TEST(ReadJobSpecFileTest, ASectionOfTheOtherTaskIsAnError) {
  std::string infer = WriteFile("infer.json", R"({"task": "infer",
    "model": {"catalog_name": "llama-2-7b"}, "train": {"seq": 2048}})");
  EXPECT_EQ(ErrorOf(infer), infer +
                                ": train: a section for task train, but the task is infer; "
                                "remove it or change the task");
  std::string train = WriteFile("train.yaml",
                                "task: training\nmodel: {catalog_name: llama-2-7b}\n"
                                "infer: {batch: 8}\n");
  EXPECT_TRUE(absl::StartsWith(ErrorOf(train), train + ": infer: a section for task infer"))
      << ErrorOf(train);
}

// Issue 17: one spelling goes to berthd, whatever alias the file uses.
TEST(ReadJobSpecFileTest, NamesAreSentInTheCatalogsSpelling) {
  std::string path = WriteFile("alias.yaml",
                               "task: inference\nmodel: {catalog_name: Llama-2-7B}\n"
                               "gpu_type: h100\n");
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->task(), "infer");
  EXPECT_EQ(spec->model().catalog_name(), "llama-2-7b");
  EXPECT_EQ(spec->gpu_type(), "h100-80gb");
  // A card the catalog does not list is kept for berthd to judge.
  std::string custom = WriteFile("custom.yaml", "task: train\ngpu_type: my-asic-96gb\n");
  EXPECT_EQ(ReadJobSpecFile(custom)->gpu_type(), "my-asic-96gb");
  std::string typo = WriteFile("typo.yaml", "task: train\nmodel: {catalog_name: lama-2-7b}\n");
  EXPECT_TRUE(absl::StartsWith(ErrorOf(typo), typo + ": model.catalog_name: unknown model "
                                                     "\"lama-2-7b\"; did you mean llama-2-7b?"))
      << ErrorOf(typo);
}

TEST(ReadJobSpecFileTest, UnknownTopLevelFieldIsNamed) {
  std::string path = WriteFile("top.json", R"({"name": "t", "gpus": 8})");
  EXPECT_EQ(ErrorOf(path), path + ": gpus: unknown field");
}

TEST(ReadJobSpecFileTest, UnknownNestedFieldIsNamedWithItsPath) {
  std::string path = WriteFile("nested.json", R"({"model": {"catalog_nam": "llama-2-7b"}})");
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
    EXPECT_EQ(ErrorOf(path), path + ":3: train.seq: expected an integer, got \"long\"");
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
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json" || absl::StartsWith(name, "inventory") ||
        absl::StartsWith(name, "tokens")) {  // not job specs
      continue;
    }
    absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(entry.path().string());
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
