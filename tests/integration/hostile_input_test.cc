// Hostile input straight through gRPC (not through the CLI): a real berthd
// with two real agents (2 × 8 × h100-80gb) on 127.0.0.1, fed malformed
// requests from tables.
//
// Each bad JobSpec (SubmitJob and PlanJob alike) must be refused with
// INVALID_ARGUMENT and a message that names the field; only a spec that is
// valid but can never fit (a pace no pool can reach, a degree wider than the
// pools) may be FAILED_PRECONDITION instead. Bad ids get INVALID_ARGUMENT,
// unknown ids and nodes NOT_FOUND. An AgentService.Connect stream whose first
// message is not a sane Register is closed with INVALID_ARGUMENT (or
// RESOURCE_EXHAUSTED when it is over berth's 16 MiB message limit). After every row the
// daemon must still answer GetJob and ListNodes; after every test it must
// still run and its SQLite file pass CheckDatabase.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace berth::testing {
namespace {

using berth::v1::Job;
using berth::v1::JobSpec;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int32_t kInt32Min = std::numeric_limits<int32_t>::min();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
constexpr size_t kMiB = 1 << 20;

// A valid spec every row starts from: 7B training on h100-80gb.
JobSpec BaseSpec() {
  JobSpec spec;
  spec.set_name("hostile");
  spec.set_team("security");
  spec.set_task("train");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.set_gpu_type("h100-80gb");
  spec.set_max_runtime_seconds(3600);
  spec.add_command("python");
  spec.add_command("train.py");
  return spec;
}

void MakeInfer(JobSpec& spec) {
  spec.set_task("infer");
  spec.clear_train();
}

void SetShape(JobSpec& spec) {
  berth::v1::ModelShapeSpec* shape = spec.mutable_model()->mutable_shape();
  shape->set_params(7e9);
  shape->set_layers(32);
  shape->set_hidden(4096);
  shape->set_heads(32);
  shape->set_kv_heads(32);
  shape->set_ffn(11008);
  shape->set_vocab(32000);
}

// A llama-style config.json, with `overrides` (key → JSON value text)
// replacing or adding keys.
std::string HfConfig(const std::map<std::string, std::string>& overrides = {}) {
  std::map<std::string, std::string> fields = {
      {"model_type", "\"llama\""},   {"hidden_size", "4096"},       {"num_hidden_layers", "32"},
      {"num_attention_heads", "32"}, {"num_key_value_heads", "32"}, {"intermediate_size", "11008"},
      {"vocab_size", "32000"},       {"hidden_act", "\"silu\""}};
  for (const auto& [key, value] : overrides) fields[key] = value;
  std::string text = "{";
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&text, text.size() > 1 ? ", " : "", "\"", key, "\": ", value);
  }
  return text + "}";
}

enum class Allowed {
  kInvalid,             // INVALID_ARGUMENT naming the field, nothing else
  kInvalidOrNeverFits,  // or FAILED_PRECONDITION (PlanJob: OK with no pool chosen)
};

struct SpecCase {
  std::string name;
  std::function<void(JobSpec&)> mutate;
  std::string field;  // a substring the error message must contain
  Allowed allowed = Allowed::kInvalid;
};

std::vector<SpecCase> SpecCases() {
  std::vector<SpecCase> cases = {
      {"empty spec", [](JobSpec& s) { s = JobSpec(); }, "task"},
      {"no model", [](JobSpec& s) { s.clear_model(); }, "model"},
  };
  auto add = [&](std::string name, std::function<void(JobSpec&)> mutate, std::string field,
                 Allowed allowed = Allowed::kInvalid) {
    cases.push_back({std::move(name), std::move(mutate), std::move(field), allowed});
  };
  // train.*
  for (int64_t v : {int64_t{-1}, kInt64Max, kInt64Min}) {
    add(
        absl::StrCat("train.seq ", v), [v](JobSpec& s) { s.mutable_train()->set_seq(v); }, "seq:");
    add(
        absl::StrCat("train.micro_batch ", v),
        [v](JobSpec& s) { s.mutable_train()->set_micro_batch(v); }, "micro_batch:");
    add(
        absl::StrCat("train.global_batch ", v),
        [v](JobSpec& s) { s.mutable_train()->set_global_batch(v); }, "global_batch:");
    add(
        absl::StrCat("train.virtual_stages ", v),
        [v](JobSpec& s) { s.mutable_train()->set_virtual_stages(v); }, "virtual_stages:");
  }
  add(
      "train.virtual_stages > layers",
      [](JobSpec& s) { s.mutable_train()->set_virtual_stages(1000); }, "virtual_stages:");
  add(
      "train.global_batch not divisible by micro_batch",
      [](JobSpec& s) {
        s.mutable_train()->set_micro_batch(3);
        s.mutable_train()->set_global_batch(1024);
      },
      "global_batch:");
  // infer.*
  for (int64_t v : {int64_t{-1}, kInt64Max, kInt64Min}) {
    add(
        absl::StrCat("infer.batch ", v),
        [v](JobSpec& s) {
          MakeInfer(s);
          s.mutable_infer()->set_batch(v);
        },
        "batch:");
    add(
        absl::StrCat("infer.context ", v),
        [v](JobSpec& s) {
          MakeInfer(s);
          s.mutable_infer()->set_context(v);
        },
        "context:");
  }
  // objective.*
  for (double v : {-1.0, kNaN, kInf, -kInf}) {
    add(
        absl::StrCat("objective.tokens ", v),
        [v](JobSpec& s) {
          s.mutable_objective()->set_tokens(v);
          s.mutable_objective()->set_days(30);
        },
        "tokens:");
    add(
        absl::StrCat("objective.days ", v),
        [v](JobSpec& s) {
          s.mutable_objective()->set_tokens(1e12);
          s.mutable_objective()->set_days(v);
        },
        "days:");
    add(
        absl::StrCat("objective.tokens_per_second ", v),
        [v](JobSpec& s) { s.mutable_objective()->set_tokens_per_second(v); }, "tokens_per_second:");
    add(
        absl::StrCat("objective.mfu ", v), [v](JobSpec& s) { s.mutable_objective()->set_mfu(v); },
        "mfu:");
  }
  add(
      "objective.mfu 2", [](JobSpec& s) { s.mutable_objective()->set_mfu(2); }, "mfu:");
  add(
      "objective.mfu 1e308", [](JobSpec& s) { s.mutable_objective()->set_mfu(1e308); }, "mfu:");
  add(
      "objective.days without tokens", [](JobSpec& s) { s.mutable_objective()->set_days(30); },
      "days:");
  add(
      "objective.tokens 1e308 in one day",
      [](JobSpec& s) {
        s.mutable_objective()->set_tokens(1e308);
        s.mutable_objective()->set_days(1);
      },
      "tokens", Allowed::kInvalidOrNeverFits);
  add(
      "objective.tokens_per_second 1e308",
      [](JobSpec& s) { s.mutable_objective()->set_tokens_per_second(1e308); }, "tokens_per_second",
      Allowed::kInvalidOrNeverFits);
  add(
      "objective.days 1e308",
      [](JobSpec& s) {
        s.mutable_objective()->set_tokens(1e12);
        s.mutable_objective()->set_days(1e308);
      },
      "days", Allowed::kInvalidOrNeverFits);
  // split.*
  for (int32_t v : {-1, kInt32Min}) {
    add(
        absl::StrCat("split.tp ", v), [v](JobSpec& s) { s.mutable_split()->set_tp(v); }, "tp:");
    add(
        absl::StrCat("split.pp ", v), [v](JobSpec& s) { s.mutable_split()->set_pp(v); }, "pp:");
    add(
        absl::StrCat("split.dp ", v), [v](JobSpec& s) { s.mutable_split()->set_dp(v); }, "dp:");
    add(
        absl::StrCat("split.zero_stage ", v),
        [v](JobSpec& s) { s.mutable_split()->set_zero_stage(v); }, "zero");
  }
  add(
      "split.zero_stage 4", [](JobSpec& s) { s.mutable_split()->set_zero_stage(4); }, "zero");
  add(
      "split.ep -1", [](JobSpec& s) { s.mutable_split()->set_ep(-1); }, "ep:");
  add(
      "split.ep max", [](JobSpec& s) { s.mutable_split()->set_ep(kInt32Max); }, "ep:");
  add(
      "split.ep 2 for a dense model", [](JobSpec& s) { s.mutable_split()->set_ep(2); }, "ep:");
  add(
      "split.zero_stage max", [](JobSpec& s) { s.mutable_split()->set_zero_stage(kInt32Max); },
      "zero");
  add(
      "split.tp max (wider than any node)",
      [](JobSpec& s) { s.mutable_split()->set_tp(kInt32Max); },
      "tp:", Allowed::kInvalidOrNeverFits);
  add(
      "split.dp max (more than the cluster)",
      [](JobSpec& s) { s.mutable_split()->set_dp(kInt32Max); },
      "dp:", Allowed::kInvalidOrNeverFits);
  add(
      "split.pp max (more than the layers)",
      [](JobSpec& s) { s.mutable_split()->set_pp(kInt32Max); }, "pp:");
  // envelope numbers
  for (int64_t v : {int64_t{-1}, kInt64Max, kInt64Min}) {
    add(
        absl::StrCat("max_runtime_seconds ", v), [v](JobSpec& s) { s.set_max_runtime_seconds(v); },
        "max_runtime_seconds:");
  }
  for (int32_t v : {kInt32Min, kInt32Max, -1001, 1001}) {
    add(
        absl::StrCat("priority ", v), [v](JobSpec& s) { s.set_priority(v); }, "priority:");
  }
  // model.shape.*
  for (double v : {-1.0, kNaN, kInf, 1e300}) {
    add(
        absl::StrCat("model.shape.params ", v),
        [v](JobSpec& s) {
          SetShape(s);
          s.mutable_model()->mutable_shape()->set_params(v);
        },
        "params:");
  }
  using ShapeSetter = void (berth::v1::ModelShapeSpec::*)(int64_t);
  const std::vector<std::pair<std::string, ShapeSetter>> shape_fields = {
      {"layers", &berth::v1::ModelShapeSpec::set_layers},
      {"hidden", &berth::v1::ModelShapeSpec::set_hidden},
      {"heads", &berth::v1::ModelShapeSpec::set_heads},
      {"kv_heads", &berth::v1::ModelShapeSpec::set_kv_heads},
      {"ffn", &berth::v1::ModelShapeSpec::set_ffn},
      {"vocab", &berth::v1::ModelShapeSpec::set_vocab}};
  for (const auto& [field, setter] : shape_fields) {
    for (int64_t v : {int64_t{-1}, kInt64Max, kInt64Min}) {
      add(
          absl::StrCat("model.shape.", field, " ", v),
          [setter = setter, v](JobSpec& s) {  // clang 14: no structured binding captures
            SetShape(s);
            (s.mutable_model()->mutable_shape()->*setter)(v);
          },
          field + ":");
    }
  }
  add(
      "model.shape all zero", [](JobSpec& s) { s.mutable_model()->mutable_shape(); }, "shape");
  // Unknown names in enum-like strings.
  add(
      "task", [](JobSpec& s) { s.set_task("fly"); }, "task:");
  add(
      "framework", [](JobSpec& s) { s.mutable_train()->set_framework("jax"); }, "framework:");
  add(
      "recompute", [](JobSpec& s) { s.mutable_train()->set_recompute("sometimes"); }, "recompute:");
  add(
      "weights",
      [](JobSpec& s) {
        MakeInfer(s);
        s.mutable_infer()->set_weights("fp7");
      },
      "weights:");
  add(
      "kv_dtype",
      [](JobSpec& s) {
        MakeInfer(s);
        s.mutable_infer()->set_kv_dtype("int3");
      },
      "kv_dtype:");
  add(
      "offload",
      [](JobSpec& s) {
        MakeInfer(s);
        s.mutable_infer()->set_offload("disk");
      },
      "offload:");
  add(
      "on_node_loss", [](JobSpec& s) { s.set_on_node_loss("explode"); }, "on_node_loss:");
  add(
      "catalog_name", [](JobSpec& s) { s.mutable_model()->set_catalog_name("llama-9-1t"); },
      "catalog_name:");
  // Huge strings and lists.
  add(
      "name 1 MiB", [](JobSpec& s) { s.set_name(std::string(kMiB, 'n')); }, "name:");
  add(
      "name with a newline", [](JobSpec& s) { s.set_name("a\nb"); }, "name:");
  add(
      "team 1 MiB", [](JobSpec& s) { s.set_team(std::string(kMiB, 't')); }, "team:");
  add(
      "request_id 1 MiB", [](JobSpec& s) { s.set_request_id(std::string(kMiB, 'r')); },
      "request_id:");
  add(
      "gpu_type 1 MiB", [](JobSpec& s) { s.set_gpu_type(std::string(kMiB, 'g')); }, "gpu_type:");
  add(
      "task 100 KiB", [](JobSpec& s) { s.set_task(std::string(100 * 1024, 'x')); }, "task:");
  add(
      "framework 100 KiB",
      [](JobSpec& s) { s.mutable_train()->set_framework(std::string(100 * 1024, 'x')); },
      "framework:");
  add(
      "catalog_name 1 MiB",
      [](JobSpec& s) { s.mutable_model()->set_catalog_name(std::string(kMiB, 'm')); },
      "catalog_name:");
  add(
      "on_node_loss 100 KiB", [](JobSpec& s) { s.set_on_node_loss(std::string(100 * 1024, 'x')); },
      "on_node_loss:");
  add(
      "hf_config_json 2 MiB",
      [](JobSpec& s) { s.mutable_model()->set_hf_config_json(std::string(2 * kMiB, ' ')); },
      "hf_config_json:");
  add(
      "command 10000 args",
      [](JobSpec& s) {
        for (int i = 0; i < 10000; ++i) s.add_command("x");
      },
      "command:");
  add(
      "command arg 1 MiB", [](JobSpec& s) { s.add_command(std::string(kMiB, 'c')); }, "command:");
  add(
      "env key with =", [](JobSpec& s) { (*s.mutable_env())["A=B"] = "1"; }, "env:");
  add(
      "env empty key", [](JobSpec& s) { (*s.mutable_env())[""] = "1"; }, "env:");
  // Issue 18, finding 10: names a shell or execve would misread.
  add(
      "env key with a newline", [](JobSpec& s) { (*s.mutable_env())["A\nB"] = "1"; }, "env:");
  add(
      "env key with a space", [](JobSpec& s) { (*s.mutable_env())["A B"] = "1"; }, "env:");
  add(
      "env key with NUL", [](JobSpec& s) { (*s.mutable_env())[std::string("A\0B", 3)] = "1"; },
      "env:");
  add(
      "env value with NUL", [](JobSpec& s) { (*s.mutable_env())["A"] = std::string("x\0y", 3); },
      "env:");
  add(
      "env 10000 entries",
      [](JobSpec& s) {
        for (int i = 0; i < 10000; ++i) (*s.mutable_env())[absl::StrCat("K", i)] = "v";
      },
      "env:");
  add(
      "env value 1 MiB", [](JobSpec& s) { (*s.mutable_env())["K"] = std::string(kMiB, 'v'); },
      "env:");
  // Issue 18, finding 1: every field within its limit, 4 MiB together.
  add(
      "64 env values of 64 KiB",
      [](JobSpec& s) {
        for (int i = 0; i < 64; ++i) {
          (*s.mutable_env())[absl::StrCat("K", i)] = std::string(64 * 1024 - 64, 'v');
        }
      },
      "spec: ");
  add(
      "command of 4 args of 15 KiB and env of 5 values of 60 KiB",
      [](JobSpec& s) {
        for (int i = 0; i < 4; ++i) s.add_command(std::string(15 * 1024, 'c'));
        for (int i = 0; i < 5; ++i)
          (*s.mutable_env())[absl::StrCat("K", i)] = std::string(60 * 1024, 'v');
      },
      "spec: ");
  // Malformed config.json text.
  const std::vector<std::pair<std::string, std::string>> configs = {
      {"not json", "not json"},
      {"truncated", "{\"hidden_size\": 4096,"},
      {"a list", "[1, 2, 3]"},
      {"empty object", "{}"},
      {"string numbers", HfConfig({{"num_hidden_layers", "\"thirty-two\""}})},
      {"negative layers", HfConfig({{"num_hidden_layers", "-5"}})},
      {"zero heads", HfConfig({{"num_attention_heads", "0"}})},
      {"huge hidden", HfConfig({{"hidden_size", "1e300"}})},
      {"fractional heads", HfConfig({{"num_attention_heads", "32.5"}})},
      {"NaN-like layers", HfConfig({{"num_hidden_layers", "\"NaN\""}})},
      {"a 500 KiB string where a number belongs",
       HfConfig({{"num_hidden_layers", absl::StrCat("\"", std::string(500 * 1024, '9'), "\"")}})},
      {"nested 100000 deep lists", std::string(100000, '[') + std::string(100000, ']')},
      {"nested 50000 deep objects",
       [] {
         std::string text;
         for (int i = 0; i < 50000; ++i) text += "{\"a\":";
         text += "1";
         for (int i = 0; i < 50000; ++i) text += "}";
         return text;
       }()},
  };
  for (const auto& [name, text] : configs) {
    add(
        "hf_config_json " + name,
        [text = text](JobSpec& s) { s.mutable_model()->set_hf_config_json(text); },
        "hf_config_json:");
  }
  // Wrong combinations.
  add(
      "infer with a pace",
      [](JobSpec& s) {
        MakeInfer(s);
        s.mutable_objective()->set_tokens(1e12);
        s.mutable_objective()->set_days(30);
      },
      "tokens");
  add(
      "zero_stage 3 with megatron",
      [](JobSpec& s) {
        s.mutable_train()->set_framework("megatron");
        s.mutable_split()->set_zero_stage(3);
      },
      "zero");
  add(
      "pp above the layers", [](JobSpec& s) { s.mutable_split()->set_pp(64); }, "pp:");
  add(
      "tp not dividing the heads", [](JobSpec& s) { s.mutable_split()->set_tp(3); }, "tp:");
  add(
      "zero_stage 3 with pp 2",
      [](JobSpec& s) {
        s.mutable_train()->set_framework("deepspeed");
        s.mutable_split()->set_zero_stage(3);
        s.mutable_split()->set_pp(2);
      },
      "zero");
  add(
      "offload with tp 2",
      [](JobSpec& s) {
        MakeInfer(s);
        s.mutable_infer()->set_offload("cpu");
        s.mutable_split()->set_tp(2);
      },
      "offload:");
  return cases;
}

std::string Short(const std::string& text) {
  return text.size() <= 300 ? text
                            : absl::StrCat(text.substr(0, 300), "... (", text.size(), " bytes)");
}

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(cluster_.StartAgent("h100-" + std::to_string(i), Inventory("h100-80gb", 8)).ok());
    }
    ASSERT_TRUE(cluster_.WaitForConnectedNodes(2).ok()) << cluster_.Log("berthd");
    // A valid job, so that "still serving" can be a GetJob that must work.
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = BaseSpec();
    berth::v1::SubmitJobResponse response;
    auto context = Context();
    const grpc::Status status = cluster_.Scheduler()->SubmitJob(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    valid_job_ = response.job().id();
  }

  void TearDown() override {
    EXPECT_TRUE(cluster_.DaemonRunning()) << cluster_.Log("berthd");
    absl::Status db = CheckDatabase(cluster_.db_path());
    EXPECT_TRUE(db.ok()) << db;
    for (const std::string& line : mismatches_) std::cout << "MISMATCH " << line << "\n";
  }

  // Submits a valid job of about 180 KiB (three 60 KiB env values); its id,
  // or 0 with a failure recorded.
  int64_t SubmitLargeJob() {
    JobSpec spec = BaseSpec();
    for (int k = 0; k < 3; ++k) {
      (*spec.mutable_env())[absl::StrCat("BLOB", k)] = std::string(60 * 1024, 'a' + k);
    }
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    berth::v1::SubmitJobResponse response;
    auto context = Context(absl::Seconds(20));
    const grpc::Status status = cluster_.Scheduler()->SubmitJob(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return status.ok() ? response.job().id() : 0;
  }

  // The daemon still answers after a row.
  void ExpectServing(const std::string& after) {
    ASSERT_TRUE(cluster_.DaemonRunning()) << "berthd died after " << after << "\n"
                                          << cluster_.Log("berthd");
    berth::v1::GetJobRequest get;
    get.set_id(valid_job_);
    Job job;
    auto context = Context(absl::Seconds(5));
    grpc::Status status = cluster_.Scheduler()->GetJob(context.get(), get, &job);
    ASSERT_TRUE(status.ok()) << "GetJob after " << after << ": " << status.error_message();
    EXPECT_EQ(job.id(), valid_job_);
    berth::v1::ListNodesResponse nodes;
    auto list = Context(absl::Seconds(5));
    status = cluster_.Scheduler()->ListNodes(list.get(), {}, &nodes);
    ASSERT_TRUE(status.ok()) << "ListNodes after " << after << ": " << status.error_message();
  }

  // Checks one answer against what is allowed; a mismatch is a failure and
  // a line in the summary printed at the end.
  void Judge(const std::string& rpc, const std::string& row, const grpc::Status& status,
             std::vector<grpc::StatusCode> allowed, const std::string& field) {
    if (std::getenv("BERTH_TEST_VERBOSE") != nullptr) {
      std::cout << rpc << " [" << row << "]: code " << status.error_code() << ": "
                << Short(status.error_message()) << "\n";
    }
    bool code_ok = false;
    for (grpc::StatusCode code : allowed) code_ok |= status.error_code() == code;
    const bool names_field = status.error_code() != grpc::StatusCode::INVALID_ARGUMENT ||
                             absl::StrContains(status.error_message(), field);
    if (code_ok && names_field) return;
    std::string want;
    for (grpc::StatusCode code : allowed) absl::StrAppend(&want, want.empty() ? "" : "|", code);
    const std::string line =
        absl::StrCat(rpc, " [", row, "]: want code ", want, " naming \"", field, "\"; got code ",
                     status.error_code(), ": ", Short(status.error_message()));
    ADD_FAILURE() << line;
    mismatches_.push_back(line);
  }

  grpc::Status Submit(const JobSpec& spec) {
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    berth::v1::SubmitJobResponse response;
    auto context = Context(absl::Seconds(20));
    return cluster_.Scheduler()->SubmitJob(context.get(), request, &response);
  }

  Cluster cluster_;
  int64_t valid_job_ = 0;
  std::vector<std::string> mismatches_;
};

TEST_F(HostileInputTest, SubmitJobRefusesBadSpecsNamingTheField) {
  const std::vector<SpecCase> cases = SpecCases();
  for (const SpecCase& c : cases) {
    SCOPED_TRACE(c.name);
    JobSpec spec = BaseSpec();
    c.mutate(spec);
    const grpc::Status status = Submit(spec);
    if (c.allowed == Allowed::kInvalid) {
      Judge("SubmitJob", c.name, status, {grpc::StatusCode::INVALID_ARGUMENT}, c.field);
    } else {
      Judge("SubmitJob", c.name, status,
            {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION}, c.field);
    }
    ExpectServing(c.name);
  }
  std::cout << cases.size() << " SubmitJob rows\n";
}

// Issue 18, finding 1: jobs just under the spec limit reach their agents
// (the StartJob fits every channel), and listing many of them comes in
// pages under kMaxReplyBytes that together hold each job exactly once.
TEST_F(HostileInputTest, LargeJobsStartAndListInBoundedPages) {
  std::vector<int64_t> ids = {valid_job_};
  for (int i = 0; i < 24; ++i) {
    const int64_t id = SubmitLargeJob();
    ASSERT_NE(id, 0);
    ids.push_back(id);
  }
  // The first large job runs: its agent received the StartJob.
  absl::StatusOr<Job> running = cluster_.WaitForState(ids[1], berth::v1::RUNNING);
  ASSERT_TRUE(running.ok()) << running.status() << cluster_.Log("berthd");
  std::vector<int64_t> listed;
  int pages = 0;
  berth::v1::ListJobsRequest request;
  request.set_limit(10000);
  do {
    berth::v1::ListJobsResponse response;
    auto context = Context();
    const grpc::Status status = cluster_.Scheduler()->ListJobs(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LE(response.ByteSizeLong(), size_t{4} << 20);
    for (const Job& job : response.jobs()) listed.push_back(job.id());
    request.set_before_id(response.next_before_id());
    ASSERT_LT(++pages, 100);
  } while (request.before_id() != 0);
  EXPECT_GT(pages, 1);  // 25 jobs of about 180 KiB do not fit one page
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, ids);
}

// Issue 18, finding 3: list replies berthd holds unsent are bounded, all
// calls together (--list_reply_budget_mb); a reply beyond is
// RESOURCE_EXHAUSTED, and a finished reply gives its share back (else the
// twenty small pages below could not all be answered within 1 MiB).
TEST_F(HostileInputTest, ListRepliesStayWithinTheirBudget) {
  const int port = cluster_.port();
  ASSERT_TRUE(cluster_.StopDaemon(SIGTERM).ok());
  cluster_.SetDaemonFlags({"--list_reply_budget_mb=1"});
  ASSERT_TRUE(cluster_.StartDaemon(port).ok()) << cluster_.Log("berthd");
  for (int i = 0; i < 8; ++i) ASSERT_NE(SubmitLargeJob(), 0);
  berth::v1::ListJobsRequest request;
  request.set_limit(10000);  // 8 jobs of about 180 KiB: over 1 MiB
  berth::v1::ListJobsResponse response;
  auto context = Context();
  grpc::Status status = cluster_.Scheduler()->ListJobs(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "--list_reply_budget_mb"))
      << status.error_message();
  request.set_limit(2);  // about 360 KiB
  for (int i = 0; i < 20; ++i) {
    // berthd gives a reply's share back when gRPC reports the call done,
    // which can come just after this client has the reply: a page may meet
    // the last one's share still held and be told to retry shortly. A few
    // retries 50 ms apart, as the error asks; without the share coming back
    // at all, every retry of the third page would fail.
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto page = Context();
      status = cluster_.Scheduler()->ListJobs(page.get(), request, &response);
      if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_TRUE(status.ok()) << "page " << i << ": " << status.error_message();
    EXPECT_EQ(response.jobs_size(), 2);
  }
  ExpectServing("lists beyond their budget");
}

TEST_F(HostileInputTest, PlanJobRefusesBadSpecsNamingTheField) {
  const std::vector<SpecCase> cases = SpecCases();
  for (const SpecCase& c : cases) {
    SCOPED_TRACE(c.name);
    berth::v1::PlanJobRequest request;
    *request.mutable_spec() = BaseSpec();
    c.mutate(*request.mutable_spec());
    berth::v1::PlanJobResponse response;
    auto context = Context(absl::Seconds(20));
    grpc::Status status = cluster_.Scheduler()->PlanJob(context.get(), request, &response);
    if (c.allowed == Allowed::kInvalidOrNeverFits && status.ok() &&
        response.chosen_gpu_type().empty()) {
      status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "(OK, no pool chosen)");
    }
    if (c.allowed == Allowed::kInvalid) {
      Judge("PlanJob", c.name, status, {grpc::StatusCode::INVALID_ARGUMENT}, c.field);
    } else {
      Judge("PlanJob", c.name, status,
            {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION}, c.field);
    }
    ExpectServing(c.name);
  }
}

TEST_F(HostileInputTest, BadIdsNamesAndListsAreRefused) {
  using Code = grpc::StatusCode;
  struct IdCase {
    int64_t id;
    Code code;
  };
  const std::vector<IdCase> ids = {{0, Code::INVALID_ARGUMENT},
                                   {-1, Code::INVALID_ARGUMENT},
                                   {kInt64Min, Code::INVALID_ARGUMENT},
                                   {kInt64Max, Code::NOT_FOUND},
                                   {int64_t{1} << 40, Code::NOT_FOUND}};
  for (const IdCase& c : ids) {
    const std::string row = absl::StrCat("id ", c.id);
    SCOPED_TRACE(row);
    const std::string field = c.code == Code::INVALID_ARGUMENT ? "id" : "";
    {
      berth::v1::GetJobRequest request;
      request.set_id(c.id);
      Job job;
      auto context = Context();
      Judge("GetJob", row, cluster_.Scheduler()->GetJob(context.get(), request, &job), {c.code},
            field);
    }
    {
      berth::v1::CancelJobRequest request;
      request.set_id(c.id);
      Job job;
      auto context = Context();
      Judge("CancelJob", row, cluster_.Scheduler()->CancelJob(context.get(), request, &job),
            {c.code}, field);
    }
    {
      berth::v1::ExplainJobRequest request;
      request.set_id(c.id);
      berth::v1::ExplainJobResponse response;
      auto context = Context();
      Judge("ExplainJob", row, cluster_.Scheduler()->ExplainJob(context.get(), request, &response),
            {c.code}, field);
    }
    ExpectServing(row);
  }

  struct ListCase {
    std::string row;
    std::function<void(berth::v1::ListJobsRequest&)> mutate;
    std::string field;
  };
  const std::vector<ListCase> lists = {
      {"limit -1", [](auto& r) { r.set_limit(-1); }, "limit"},
      {"limit int32 min", [](auto& r) { r.set_limit(kInt32Min); }, "limit"},
      {"limit int32 max", [](auto& r) { r.set_limit(kInt32Max); }, "limit"},
      {"limit 10001", [](auto& r) { r.set_limit(10001); }, "limit"},
      {"before_id -1", [](auto& r) { r.set_before_id(-1); }, "before_id"},
      {"state 99", [](auto& r) { r.add_states(static_cast<berth::v1::JobState>(99)); }, "states"},
      {"state -1", [](auto& r) { r.add_states(static_cast<berth::v1::JobState>(-1)); }, "states"},
      {"valid state, then 12345",
       [](auto& r) {
         r.add_states(berth::v1::PENDING);
         r.add_states(static_cast<berth::v1::JobState>(12345));
       },
       "states"},
  };
  for (const ListCase& c : lists) {
    SCOPED_TRACE(c.row);
    berth::v1::ListJobsRequest request;
    c.mutate(request);
    berth::v1::ListJobsResponse response;
    auto context = Context();
    Judge("ListJobs", c.row, cluster_.Scheduler()->ListJobs(context.get(), request, &response),
          {Code::INVALID_ARGUMENT}, c.field);
    ExpectServing(c.row);
  }

  struct EventsCase {
    std::string row;
    std::function<void(berth::v1::ListEventsRequest&)> mutate;
    std::string field;
  };
  const std::vector<EventsCase> events = {
      {"job_id -1", [](auto& r) { r.set_job_id(-1); }, "job_id"},
      {"job_id int64 min", [](auto& r) { r.set_job_id(kInt64Min); }, "job_id"},
      {"after_id -1", [](auto& r) { r.set_after_id(-1); }, "after_id"},
      {"limit -1", [](auto& r) { r.set_limit(-1); }, "limit"},
      {"limit 10001", [](auto& r) { r.set_limit(10001); }, "limit"},
      {"limit int32 max", [](auto& r) { r.set_limit(kInt32Max); }, "limit"},
      {"node of 1 MiB", [](auto& r) { r.set_node(std::string(kMiB, 'n')); }, "node"},
  };
  for (const EventsCase& c : events) {
    SCOPED_TRACE(c.row);
    berth::v1::ListEventsRequest request;
    c.mutate(request);
    berth::v1::ListEventsResponse response;
    auto context = Context();
    Judge("ListEvents", c.row, cluster_.Scheduler()->ListEvents(context.get(), request, &response),
          {Code::INVALID_ARGUMENT}, c.field);
    ExpectServing(c.row);
  }
  {
    // Huge but valid ids and a node with a quote: an empty answer.
    berth::v1::ListEventsRequest request;
    request.set_job_id(kInt64Max);
    request.set_after_id(kInt64Max);
    request.set_node("n' OR '1' = '1");
    berth::v1::ListEventsResponse response;
    auto context = Context();
    grpc::Status status = cluster_.Scheduler()->ListEvents(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.events_size(), 0);
  }

  struct NodeCase {
    std::string row;
    std::string name;
    Code code;
  };
  const std::vector<NodeCase> nodes = {
      {"empty", "", Code::INVALID_ARGUMENT},
      {"1000 characters", std::string(1000, 'n'), Code::INVALID_ARGUMENT},
      {"1 MiB", std::string(kMiB, 'n'), Code::INVALID_ARGUMENT},
      {"unknown", "no-such-node", Code::NOT_FOUND},
  };
  for (const NodeCase& c : nodes) {
    SCOPED_TRACE(c.row);
    const std::string field = c.code == Code::INVALID_ARGUMENT ? "name" : "";
    berth::v1::DrainNodeRequest request;
    request.set_name(c.name);
    berth::v1::Node node;
    auto drain = Context();
    Judge("DrainNode", c.row, cluster_.Scheduler()->DrainNode(drain.get(), request, &node),
          {c.code}, field);
    auto undrain = Context();
    Judge("UndrainNode", c.row, cluster_.Scheduler()->UndrainNode(undrain.get(), request, &node),
          {c.code}, field);
    ExpectServing(c.row);
  }
  // No refused drain touched the real nodes.
  berth::v1::ListNodesResponse listed;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->ListNodes(context.get(), {}, &listed).ok());
  EXPECT_EQ(listed.nodes_size(), 2);
  for (const auto& node : listed.nodes()) EXPECT_EQ(node.state(), berth::v1::UP) << node.name();
}

berth::v1::Gpu FakeGpu(int index) {
  berth::v1::Gpu gpu;
  gpu.set_index(index);
  gpu.set_uuid(absl::StrCat("GPU-hostile-", index));
  gpu.set_type("h100-80gb");
  gpu.set_memory_bytes(80.0 * (1LL << 30));
  return gpu;
}

berth::v1::AgentMessage RegisterMessage(const std::string& node, int gpus) {
  berth::v1::AgentMessage message;
  berth::v1::Register* reg = message.mutable_register_();
  reg->set_node(node);
  reg->set_discovery("simulated");
  for (int i = 0; i < gpus; ++i) *reg->add_gpus() = FakeGpu(i);
  return message;
}

struct StreamOutcome {
  grpc::Status status;
  bool registered = false;  // the daemon answered Registered: it accepted
};

// Opens a Connect stream, writes `messages`, and returns how the daemon
// closed it (or that it accepted the node).
StreamOutcome RunStream(berth::v1::AgentService::Stub* stub,
                        const std::vector<berth::v1::AgentMessage>& messages,
                        bool cancel_once_registered = true) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto stream = stub->Connect(&context);
  for (const berth::v1::AgentMessage& message : messages) {
    if (!stream->Write(message)) break;
  }
  StreamOutcome out;
  berth::v1::DaemonMessage reply;
  // A stream the daemon accepted stays open; the first reply says so.
  while (stream->Read(&reply)) {
    if (reply.has_registered()) {
      out.registered = true;
      if (cancel_once_registered) context.TryCancel();
    }
  }
  out.status = stream->Finish();
  return out;
}

TEST_F(HostileInputTest, AgentStreamRefusesGarbageFirstMessages) {
  using Code = grpc::StatusCode;
  auto stub = FastReconnectAgentStub(cluster_.address());
  struct StreamCase {
    std::string row;
    std::vector<berth::v1::AgentMessage> messages;
    Code code;
    std::string field;
    std::string node;  // a node name that must not appear in ListNodes
  };
  std::vector<StreamCase> cases;
  {
    berth::v1::AgentMessage heartbeat;
    heartbeat.mutable_heartbeat()->set_sent_ms(1);
    cases.push_back(
        {"heartbeat before register", {heartbeat}, Code::INVALID_ARGUMENT, "register", ""});
    berth::v1::AgentMessage status;
    status.mutable_job_status()->set_job_id(1);
    status.mutable_job_status()->set_state(berth::v1::SUCCEEDED);
    cases.push_back(
        {"job status before register", {status}, Code::INVALID_ARGUMENT, "register", ""});
    cases.push_back(
        {"empty message", {berth::v1::AgentMessage()}, Code::INVALID_ARGUMENT, "register", ""});
    cases.push_back({"register with no node",
                     {RegisterMessage("", 8)},
                     Code::INVALID_ARGUMENT,
                     "register",
                     ""});
    cases.push_back({"register with 0 GPUs",
                     {RegisterMessage("hostile-zero", 0)},
                     Code::INVALID_ARGUMENT,
                     "gpus",
                     "hostile-zero"});
    cases.push_back({"register with 5000 GPUs",
                     {RegisterMessage("hostile-many", 5000)},
                     Code::INVALID_ARGUMENT,
                     "gpus",
                     "hostile-many"});
    berth::v1::AgentMessage huge = RegisterMessage("hostile-huge", 8);
    (*huge.mutable_register_()->mutable_labels())["blob"] = std::string(16 * kMiB + 1024, 'x');
    cases.push_back({"16 MiB register", {huge}, Code::RESOURCE_EXHAUSTED, "", "hostile-huge"});
    // Issue 18, finding 10: labels and the address stay printable; the
    // address (the jobs' MASTER_ADDR) is a host name or an IP literal.
    berth::v1::AgentMessage escape = RegisterMessage("hostile-label", 8);
    (*escape.mutable_register_()->mutable_labels())["rack"] = "a\x1b[31mred";
    cases.push_back({"label with an escape sequence",
                     {escape},
                     Code::INVALID_ARGUMENT,
                     "labels",
                     "hostile-label"});
    berth::v1::AgentMessage shell = RegisterMessage("hostile-address", 8);
    shell.mutable_register_()->set_address("10.0.0.1; rm -rf /");
    cases.push_back(
        {"address with shell text", {shell}, Code::INVALID_ARGUMENT, "address", "hostile-address"});
    // A GPU's ids are printable; its NVLink peers are other GPUs of the node,
    // once each; a node runs a bounded number of jobs.
    berth::v1::AgentMessage uuid = RegisterMessage("hostile-uuid", 8);
    uuid.mutable_register_()->mutable_gpus(0)->set_uuid("GPU-\x1b]0;owned\x07");
    cases.push_back({"GPU uuid with an escape sequence",
                     {uuid},
                     Code::INVALID_ARGUMENT,
                     "uuid",
                     "hostile-uuid"});
    berth::v1::AgentMessage peers = RegisterMessage("hostile-peers", 8);
    for (int i = 0; i < 100000; ++i)
      peers.mutable_register_()->mutable_gpus(0)->add_nvlink_peers(1);
    cases.push_back({"100,000 NVLink peers on one GPU",
                     {peers},
                     Code::INVALID_ARGUMENT,
                     "nvlink_peers",
                     "hostile-peers"});
    berth::v1::AgentMessage running = RegisterMessage("hostile-running", 8);
    for (int i = 1; i <= 100000; ++i) running.mutable_register_()->add_running_jobs(i);
    cases.push_back({"100,000 running jobs on one node",
                     {running},
                     Code::INVALID_ARGUMENT,
                     "running_jobs",
                     "hostile-running"});
    // Beyond the first message's kind: registrations that are well formed
    // but describe an impossible node.
    const std::string long_name(1000, 'n');
    cases.push_back({"register with a 1000-character node name",
                     {RegisterMessage(long_name, 8)},
                     Code::INVALID_ARGUMENT,
                     "node",
                     long_name});
    cases.push_back({"register with a control character in the node name",
                     {RegisterMessage("hostile\nnode", 8)},
                     Code::INVALID_ARGUMENT,
                     "node",
                     "hostile\nnode"});
    berth::v1::AgentMessage duplicate = RegisterMessage("hostile-dup", 2);
    duplicate.mutable_register_()->mutable_gpus(1)->set_index(0);
    cases.push_back({"register with one GPU index twice",
                     {duplicate},
                     Code::INVALID_ARGUMENT,
                     "gpus",
                     "hostile-dup"});
    berth::v1::AgentMessage negative = RegisterMessage("hostile-negative-index", 1);
    negative.mutable_register_()->mutable_gpus(0)->set_index(-1);
    cases.push_back({"register with GPU index -1",
                     {negative},
                     Code::INVALID_ARGUMENT,
                     "gpus",
                     "hostile-negative-index"});
    berth::v1::AgentMessage nan_memory = RegisterMessage("hostile-nan-memory", 1);
    nan_memory.mutable_register_()->mutable_gpus(0)->set_memory_bytes(kNaN);
    cases.push_back({"register with NaN GPU memory",
                     {nan_memory},
                     Code::INVALID_ARGUMENT,
                     "gpus",
                     "hostile-nan-memory"});
    berth::v1::AgentMessage negative_memory = RegisterMessage("hostile-negative-memory", 1);
    negative_memory.mutable_register_()->mutable_gpus(0)->set_memory_bytes(-1);
    cases.push_back({"register with negative GPU memory",
                     {negative_memory},
                     Code::INVALID_ARGUMENT,
                     "gpus",
                     "hostile-negative-memory"});
  }
  for (const StreamCase& c : cases) {
    SCOPED_TRACE(c.row);
    const StreamOutcome outcome = RunStream(stub.get(), c.messages);
    grpc::Status status = outcome.status;
    if (outcome.registered) {
      status = grpc::Status(grpc::StatusCode::OK, "(accepted: Registered)");
    }
    Judge("AgentService.Connect", c.row, status, {c.code}, c.field);
    ExpectServing(c.row);
    if (!c.node.empty() && !outcome.registered) {
      berth::v1::ListNodesResponse nodes;
      auto context = Context();
      ASSERT_TRUE(cluster_.Scheduler()->ListNodes(context.get(), {}, &nodes).ok());
      for (const auto& node : nodes.nodes()) {
        EXPECT_NE(node.name(), c.node) << "a refused registration left its node behind";
      }
    }
  }
  // The real agents were not disturbed, and whatever was registered, a job
  // that may go to any pool is still judged.
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(2).ok());
  JobSpec any_pool = BaseSpec();
  any_pool.clear_gpu_type();
  const grpc::Status submitted = Submit(any_pool);
  EXPECT_TRUE(submitted.ok() || submitted.error_code() == grpc::StatusCode::FAILED_PRECONDITION)
      << submitted.error_code() << ": " << Short(submitted.error_message());
  ExpectServing("a job for any pool");
}

// Issue 18, finding 4: streams that never send Register are closed after
// 10 heartbeat intervals (2 s at the harness's 200 ms), not kept forever.
TEST_F(HostileInputTest, StreamsThatNeverRegisterAreClosed) {
  auto stub = FastReconnectAgentStub(cluster_.address());
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  std::vector<StreamOutcome> outcomes(8);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    threads.emplace_back([&, i] { outcomes[i] = RunStream(stub.get(), {}); });
  }
  for (std::thread& t : threads) t.join();
  for (const StreamOutcome& outcome : outcomes) {
    EXPECT_FALSE(outcome.registered);
    // Closed by berthd, before the client's own 10 s deadline.
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << outcome.status.error_message();
    EXPECT_TRUE(absl::StrContains(outcome.status.error_message(), "register"))
        << outcome.status.error_message();
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  ExpectServing("streams that never register");
}

TEST_F(HostileInputTest, SecondRegisterOnOneStreamClosesIt) {
  auto stub = FastReconnectAgentStub(cluster_.address());
  const StreamOutcome outcome = RunStream(
      stub.get(), {RegisterMessage("hostile-twice", 1), RegisterMessage("hostile-twice", 1)},
      /*cancel_once_registered=*/false);
  // The first Register may be answered before the second is read; either
  // way the stream must end with INVALID_ARGUMENT naming register.
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << outcome.status.error_message();
  EXPECT_TRUE(absl::StrContains(outcome.status.error_message(), "register"))
      << outcome.status.error_message();
  ExpectServing("second register");
}

}  // namespace
}  // namespace berth::testing
