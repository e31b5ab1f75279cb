#include "cli/job_spec_yaml.h"

#include <filesystem>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "cli/job_spec.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

// The message of a parse that must fail with InvalidArgument.
std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<berth::v1::JobSpec> spec = ParseJobSpecYaml("spec.yaml", yaml);
  EXPECT_FALSE(spec.ok()) << yaml;
  if (spec.ok()) return "";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

TEST(ParseJobSpecYamlTest, ReadsEveryKindOfField) {
  absl::StatusOr<berth::v1::JobSpec> spec = ParseJobSpecYaml("spec.yaml", R"(
name: t
team: nlp
priority: -5
task: train
model:
  shape: {params: 7e9, layers: 32, hidden: 4096, heads: 32}
train:
  seq: 8192
  flash_attention: false
  sequence_parallel: true
split: {tp: 8, zero_stage: 0}
objective: {tokens: 2e12, days: 30.5}
command: [python, train.py, --lr, "3e-4"]
env:
  NCCL_DEBUG: INFO
  RETRIES: 3
max_runtime_seconds: 3600
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->priority(), -5);
  EXPECT_EQ(spec->model().shape().params(), 7e9);
  EXPECT_EQ(spec->model().shape().layers(), 32);
  EXPECT_EQ(spec->train().seq(), 8192);
  ASSERT_TRUE(spec->train().has_flash_attention());
  EXPECT_FALSE(spec->train().flash_attention());
  EXPECT_TRUE(spec->train().sequence_parallel());
  EXPECT_EQ(spec->split().tp(), 8);
  EXPECT_TRUE(spec->split().has_zero_stage());  // 0, but given
  EXPECT_EQ(spec->objective().days(), 30.5);
  ASSERT_EQ(spec->command_size(), 4);
  EXPECT_EQ(spec->command(3), "3e-4");
  EXPECT_EQ(spec->env().at("RETRIES"), "3");  // env values are text
  EXPECT_EQ(spec->max_runtime_seconds(), 3600);
}

TEST(ParseJobSpecYamlTest, PreemptionFields) {
  absl::StatusOr<berth::v1::JobSpec> spec = ParseJobSpecYaml(
      "spec.yaml", "team: nlp\npreemptible: false\npreemption_grace_seconds: 300\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->has_preemptible());
  EXPECT_FALSE(spec->preemptible());
  EXPECT_EQ(spec->preemption_grace_seconds(), 300);
  absl::StatusOr<berth::v1::JobSpec> plain = ParseJobSpecYaml("spec.yaml", "team: nlp\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->has_preemptible());  // absent: preemptible
  EXPECT_FALSE(ParseJobSpecYaml("spec.yaml", "preemptible: maybe\n").ok());
}

TEST(ParseJobSpecYamlTest, EmptyValueLeavesTheFieldUnset) {
  absl::StatusOr<berth::v1::JobSpec> spec =
      ParseJobSpecYaml("spec.yaml", "team: nlp\ntrain:\nsplit:\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->has_train());
  EXPECT_FALSE(spec->split().has_zero_stage());
}

TEST(ParseJobSpecYamlTest, ErrorsNameTheLineAndTheField) {
  // Line 3 holds the bad value; lines count from 1.
  EXPECT_EQ(ErrorOf("team: nlp\ntrain:\n  seq: long\n"),
            "spec.yaml:3: train.seq: expected an integer, got \"long\"");
  EXPECT_EQ(ErrorOf("team: nlp\nmodle:\n  catalog_name: x\n"), "spec.yaml:2: modle: unknown field");
  EXPECT_EQ(ErrorOf("model:\n  catalog_nam: x\n"), "spec.yaml:2: model.catalog_nam: unknown field");
  EXPECT_EQ(ErrorOf("split:\n  tp: 1.5\n"),
            "spec.yaml:2: split.tp: expected an integer, got \"1.5\"");
  EXPECT_EQ(ErrorOf("split:\n  tp: 4294967296\n"),
            "spec.yaml:2: split.tp: 4294967296 is out of range for a 32-bit "
            "integer");
  EXPECT_EQ(ErrorOf("objective: {tokens: lots}\n"),
            "spec.yaml:1: objective.tokens: expected a number, got \"lots\"");
  EXPECT_EQ(ErrorOf("train:\n  flash_attention: yes\n"),
            "spec.yaml:2: train.flash_attention: expected true or false, got "
            "\"yes\"");
  EXPECT_EQ(ErrorOf("command: python train.py\n"),
            "spec.yaml:1: command: expected a list, got a scalar");
  EXPECT_EQ(ErrorOf("command: [python, [a]]\n"),
            "spec.yaml:1: command[1]: expected a single value, got a list");
  EXPECT_EQ(ErrorOf("train: 4096\n"),
            "spec.yaml:1: train: expected a mapping of fields, got a scalar "
            "\"4096\"");
  EXPECT_EQ(ErrorOf("env: [A]\n"), "spec.yaml:1: env: expected a mapping, got a list");
}

TEST(ParseJobSpecYamlTest, RepeatedKeysAndTwoModelSourcesAreErrors) {
  EXPECT_EQ(ErrorOf("team: a\nname: x\nteam: b\n"), "spec.yaml:3: team: given twice");
  EXPECT_EQ(ErrorOf("model:\n  catalog_name: llama-2-7b\n"
                    "  hf_config_json: '{}'\n"),
            "spec.yaml:3: model.hf_config_json: give only one of "
            "catalog_name, hf_config_json, shape in model");
}

TEST(ParseJobSpecYamlTest, SyntaxErrorsNameTheLine) {
  std::string message = ErrorOf("team: nlp\nmodel:\n  catalog_name: [x\n");
  EXPECT_TRUE(absl::StartsWith(message, "spec.yaml:")) << message;
  EXPECT_TRUE(absl::StrContains(message, ": YAML syntax error: ")) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // A tab where indentation is expected, on line 2.
  message = ErrorOf("team: nlp\n\tname: x\n");
  EXPECT_TRUE(absl::StartsWith(message, "spec.yaml:2: YAML syntax error: ")) << message;
}

TEST(ParseJobSpecYamlTest, EmptyListAndSecondDocumentAreErrors) {
  EXPECT_EQ(ErrorOf(""), "spec.yaml: empty file; expected a YAML mapping of fields");
  EXPECT_EQ(ErrorOf("# only a comment\n"),
            "spec.yaml: empty file; expected a YAML mapping of fields");
  EXPECT_EQ(ErrorOf("- team: nlp\n"), "spec.yaml:1: expected a mapping of fields, got a list");
  EXPECT_EQ(ErrorOf("team: a\n---\nteam: b\n"),
            "spec.yaml:3: one job spec per file; found a second YAML "
            "document");
}

// Every JSON job spec under deploy/examples/ has a YAML twin that parses to
// the same message.
// Found by tests/fuzz/job_spec_fuzzer: a stray "," at the top level makes
// yaml-cpp 0.7 yield empty documents without end, so YAML::LoadAll() never
// returned and the CLI ate memory until it was killed.
TEST(ParseJobSpecYamlTest, StrayCommaEndsWithAnError) {
  EXPECT_EQ(ErrorOf(",\n"), "spec.yaml: empty file; expected a YAML mapping of fields");
  EXPECT_EQ(ErrorOf("# a comment\n,# another\nname: t\n"),
            "spec.yaml: empty file; expected a YAML mapping of fields");
  EXPECT_EQ(ErrorOf("team: a\n---\n,\n"),
            "spec.yaml:3: one job spec per file; found a second YAML document");
}

// Found by tests/fuzz/job_spec_fuzzer: yaml-cpp passes any bytes through,
// and a proto3 string that is not UTF-8 cannot cross gRPC.
TEST(ParseJobSpecYamlTest, TextThatIsNotUtf8IsAnError) {
  EXPECT_EQ(ErrorOf("name: t\nmodel:\n  catalog_name: llama-3.1-\xb4"
                    "05b\n"),
            "spec.yaml:3: model.catalog_name: not valid UTF-8 text: \"llama-3.1-\\26405b\"");
  EXPECT_TRUE(absl::StrContains(ErrorOf("command: [python, \"\xc0\xaf\"]\n"),
                                "spec.yaml:1: command[1]: not valid UTF-8"));  // overlong "/"
  EXPECT_TRUE(absl::StrContains(ErrorOf("env:\n  K: \"\xed\xa0\x80\"\n"),
                                "spec.yaml:2: env.K: not valid UTF-8"));  // a surrogate
  EXPECT_TRUE(absl::StrContains(ErrorOf("name: \"\xe2\x82\"\n"),
                                "name: not valid UTF-8"));  // cut short
  absl::StatusOr<berth::v1::JobSpec> spec = ParseJobSpecYaml("spec.yaml",
                                                             "name: \"gr\xc3\xbc\xc3\x9f"
                                                             "e \xf0\x9f\x9a\x80\"\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(),
            "gr\xc3\xbc\xc3\x9f"
            "e \xf0\x9f\x9a\x80");  // "grüße 🚀"
}

TEST(ExampleSpecsTest, EveryJsonExampleHasAnEqualYamlTwin) {
  std::set<std::string> compared;
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_EXAMPLES_DIR)) {
    std::filesystem::path path = entry.path();
    std::string stem = path.stem().string();
    if (path.extension() != ".json" || absl::StartsWith(stem, "inventory") ||
        absl::StartsWith(stem, "tokens")) {  // not job specs
      continue;
    }
    std::filesystem::path twin = path;
    twin.replace_extension(".yaml");
    ASSERT_TRUE(std::filesystem::exists(twin)) << twin;
    absl::StatusOr<berth::v1::JobSpec> json = ReadJobSpecFile(path.string());
    absl::StatusOr<berth::v1::JobSpec> yaml = ReadJobSpecFile(twin.string());
    ASSERT_TRUE(json.ok()) << json.status();
    ASSERT_TRUE(yaml.ok()) << yaml.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*json, *yaml))
        << stem << "\nJSON: " << json->DebugString() << "\nYAML: " << yaml->DebugString();
    compared.insert(stem);
  }
  EXPECT_EQ(compared.size(), 5u);
}

}  // namespace
}  // namespace berth::cli
