#include "cli/job_output.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
// A fixed "now": 2024-05-01 12:00:00 UTC.
const absl::Time kNow = absl::FromUnixSeconds(1714564800);

int64_t MillisBefore(absl::Duration ago) { return absl::ToUnixMillis(kNow - ago); }

// A running 8-GPU job on two nodes: TP 4 × PP 1 × DP 2, 40 GiB per GPU.
berth::v1::Job RunningJob() {
  berth::v1::Job job;
  job.set_id(12);
  job.mutable_spec()->set_name("train-llama-2-7b");
  job.mutable_spec()->set_team("nlp");
  job.mutable_spec()->set_task("train");
  job.mutable_spec()->mutable_model()->set_catalog_name("llama-2-7b");
  job.mutable_spec()->add_command("python");
  job.mutable_spec()->add_command("train.py");
  job.set_state(berth::v1::RUNNING);
  job.set_gpu_type("h100-80gb");
  berth::v1::PlanReport* plan = job.mutable_plan();
  plan->set_gpus(8);
  plan->set_nodes(2);
  plan->set_tp(4);
  plan->set_pp(1);
  plan->set_dp(2);
  plan->set_zero_stage(1);
  plan->mutable_per_gpu()->set_weights_bytes(static_cast<double>(4 * kGiB));
  plan->mutable_per_gpu()->set_total_bytes(static_cast<double>(40 * kGiB));
  plan->mutable_gpu()->set_usable_bytes(static_cast<double>(72 * kGiB));
  for (const char* node : {"gpu-b", "gpu-a"}) {
    for (int index : {3, 0, 1, 2}) {
      berth::v1::GpuAssignment* gpu = job.add_gpus();
      gpu->set_node(node);
      gpu->set_index(index);
    }
  }
  job.set_submit_time_ms(MillisBefore(absl::Hours(3)));
  job.set_start_time_ms(MillisBefore(absl::Hours(2) + absl::Minutes(10)));
  return job;
}

// A placed inference job on one GPU: the planner's report of a serving
// plan carries ZeRO 0 and micro-batch 1, which mean nothing for it.
berth::v1::Job InferenceJob() {
  berth::v1::Job job;
  job.set_id(21);
  job.mutable_spec()->set_name("serve-llama");
  job.mutable_spec()->set_task("infer");
  job.mutable_spec()->mutable_model()->set_catalog_name("llama-2-7b");
  job.set_state(berth::v1::PLACED);
  job.set_gpu_type("h100-80gb");
  berth::v1::PlanReport* plan = job.mutable_plan();
  plan->set_task("infer");
  plan->set_gpus(1);
  plan->set_nodes(1);
  plan->set_tp(1);
  plan->set_pp(1);
  plan->set_dp(1);
  plan->set_zero_stage(0);
  plan->set_micro_batch(1);
  plan->set_replica_batch(1);
  plan->set_offload("none");
  job.add_gpus()->set_node("gpu-a");
  return job;
}

// A pending job with no plan yet and a long reason.
berth::v1::Job PendingJob() {
  berth::v1::Job job;
  job.set_id(7);
  job.mutable_spec()->set_name("serve");
  job.mutable_spec()->set_team("serving");
  job.set_state(berth::v1::PENDING);
  job.set_reason(
      "waiting for 16 free h100-80gb GPUs; 4 are free and job 12 holds 8 of "
      "them until its time limit");
  job.set_submit_time_ms(MillisBefore(absl::Minutes(45) + absl::Seconds(20)));
  return job;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(HumanDurationTest, TwoLargestUnits) {
  EXPECT_EQ(HumanDuration(absl::Seconds(45)), "45s");
  EXPECT_EQ(HumanDuration(absl::Minutes(12)), "12m");
  EXPECT_EQ(HumanDuration(absl::Minutes(12) + absl::Seconds(5)), "12m 5s");
  EXPECT_EQ(HumanDuration(absl::Hours(2) + absl::Minutes(10)), "2h 10m");
  // 2h 10m 59s: seconds below the second unit are dropped, not rounded.
  EXPECT_EQ(HumanDuration(absl::Seconds(2 * 3600 + 10 * 60 + 59)), "2h 10m");
  EXPECT_EQ(HumanDuration(absl::Hours(76)), "3d 4h");
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(HumanDuration(absl::Seconds(-5)), "0s");
}

TEST(TruncateTest, CutsToWidthWithDots) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Truncate("more than ten", 10), "more th...");
  // "×" is one character (two bytes) and is never cut in half.
  EXPECT_EQ(Truncate("a×b×c×d×e×f", 6), "a×b...");
}

TEST(JobsTableTest, OneAlignedRowPerJob) {
  google::protobuf::RepeatedPtrField<berth::v1::Job> jobs;
  *jobs.Add() = RunningJob();
  *jobs.Add() = PendingJob();
  std::vector<std::string> lines = Lines(JobsTable(jobs, kNow));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(lines[0], "ID  NAME")) << lines[0];
  for (const char* column : {"TEAM", "STATE", "GPUS", "TYPE", "TP×PP×DP", "AGE/WAIT", "REASON"}) {
    EXPECT_TRUE(absl::StrContains(lines[0], column)) << column;
  }
  // Running: 8 GPUs, 4×1×2, running for 2h 10m (since its start).
  EXPECT_TRUE(absl::StrContains(lines[1], "RUNNING")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "h100-80gb")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "4×1×2")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "2h 10m")) << lines[1];
  // Pending: no plan ("-"), waiting 45m 20s, reason cut to 48 characters.
  EXPECT_TRUE(absl::StrContains(lines[2], "45m 20s")) << lines[2];
  EXPECT_TRUE(absl::EndsWith(lines[2], "...")) << lines[2];
  EXPECT_FALSE(absl::StrContains(lines[2], "time limit")) << lines[2];
  // Aligned: STATE starts at the same character in every line. "RUNNING"
  // and "PENDING" are both found at the header's STATE column.
  size_t state_at = lines[0].find("STATE");
  EXPECT_EQ(lines[1].find("RUNNING"), state_at);
  EXPECT_EQ(lines[2].find("PENDING"), state_at);
}

TEST(JobsTableTest, NoJobsIsJustTheHeader) {
  google::protobuf::RepeatedPtrField<berth::v1::Job> jobs;
  EXPECT_EQ(Lines(JobsTable(jobs, kNow)).size(), 1u);
}

TEST(AlignedTableTest, CountsCharactersNotBytes) {
  // "4×1×2" is 5 characters (7 bytes); "-" is padded to 5 as well.
  std::string table =
      AlignedTable({{"A", "TP×PP×DP", "B"}, {"x", "4×1×2", "y"}, {"x", "-", "y"}}, {1});
  EXPECT_EQ(table,
            "A  TP×PP×DP  B\n"
            "x     4×1×2  y\n"
            "x         -  y\n");
}

TEST(NodesTableTest, OccupancyAndCounts) {
  google::protobuf::RepeatedPtrField<berth::v1::Node> nodes;
  berth::v1::Node* node = nodes.Add();
  node->set_name("gpu-a");
  node->set_state(berth::v1::UP);
  (*node->mutable_labels())["rack"] = "r1";
  (*node->mutable_labels())["pool"] = "train";
  // GPUs listed out of order; 0-3 are held by job 12.
  for (int index : {7, 6, 5, 4, 3, 2, 1, 0}) {
    berth::v1::Gpu* gpu = node->add_gpus();
    gpu->set_index(index);
    gpu->set_type("h100-80gb");
    gpu->set_job_id(index < 4 ? 12 : 0);
  }
  EXPECT_EQ(GpuOccupancy(*node), "[11110000]");
  std::vector<std::string> lines = Lines(NodesTable(nodes));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "NODE   STATE  GPU TYPE   GPUS  OCCUPANCY   LABELS");
  EXPECT_EQ(lines[1], "gpu-a  UP     h100-80gb   4/8  [11110000]  pool=train,rack=r1");
}

TEST(NodeStateLabelTest, ADrainedNodeThatIsDownSaysBoth) {
  berth::v1::Node node;
  node.set_state(berth::v1::UP);
  EXPECT_EQ(NodeStateLabel(node), "UP");
  node.set_state(berth::v1::DRAINED);
  node.set_drained(true);
  EXPECT_EQ(NodeStateLabel(node), "DRAINED");
  node.set_state(berth::v1::DOWN);
  EXPECT_EQ(NodeStateLabel(node), "DOWN (drained)");
  node.set_drained(false);
  EXPECT_EQ(NodeStateLabel(node), "DOWN");
}

TEST(PrintJobTest, PlanMemoryInGibAndGpusPerNode) {
  std::ostringstream out;
  PrintJob(RunningJob(), kNow, absl::UTCTimeZone(), out);
  std::string text = out.str();
  EXPECT_TRUE(absl::StartsWith(text, "job 12: train-llama-2-7b (team nlp")) << text;
  EXPECT_TRUE(absl::StrContains(text, "8 GPUs on 2 nodes: TP 4 × PP 1 × DP 2, ZeRO 1")) << text;
  // 40 GiB of 72 GiB usable, weights 4 GiB.
  EXPECT_TRUE(absl::StrContains(text, "40.00 GiB")) << text;
  EXPECT_TRUE(absl::StrContains(text, "72.00 GiB")) << text;
  EXPECT_TRUE(absl::StrContains(text, "4.00 GiB")) << text;
  // GPUs grouped by node in the order of the assignment, indices sorted.
  EXPECT_TRUE(absl::StrContains(text, "gpu-b     4  0,1,2,3")) << text;
  EXPECT_TRUE(absl::StrContains(text, "gpu-a     4  0,1,2,3")) << text;
  EXPECT_LT(text.find("gpu-b"), text.find("gpu-a"));
  // Started 2h 10m before 12:00 UTC.
  EXPECT_TRUE(absl::StrContains(text, "2024-05-01 09:50:00 UTC (2h 10m ago)")) << text;
  EXPECT_TRUE(absl::StrContains(text, "python train.py")) << text;
}

TEST(PrintJobTest, PreemptionsAreShownWhenThereAreAny) {
  std::ostringstream plain;
  PrintJob(RunningJob(), kNow, absl::UTCTimeZone(), plain);
  EXPECT_FALSE(absl::StrContains(plain.str(), "preempt")) << plain.str();
  berth::v1::Job job = RunningJob();
  job.set_preemptions(2);
  job.set_preempted_by(40);
  job.mutable_spec()->set_preemptible(false);
  std::ostringstream out;
  PrintJob(job, kNow, absl::UTCTimeZone(), out);
  EXPECT_TRUE(absl::StrContains(out.str(), "2; stopping now for job 40")) << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "preemptible")) << out.str();
}

TEST(CountedTest, SingularForOne) {
  EXPECT_EQ(Counted(1, "GPU"), "1 GPU");
  EXPECT_EQ(Counted(8, "GPU"), "8 GPUs");
  EXPECT_EQ(Counted(0, "node"), "0 nodes");
}

TEST(PrintJobTest, TrainingPlanHasZeroAndMicroBatch) {
  berth::v1::Job job = RunningJob();
  job.mutable_plan()->set_task("train");
  job.mutable_plan()->set_micro_batch(2);
  std::ostringstream out;
  PrintJob(job, kNow, absl::UTCTimeZone(), out);
  EXPECT_TRUE(absl::StrContains(out.str(),
                                "8 GPUs on 2 nodes: TP 4 × PP 1 × DP 2, ZeRO 1, micro-batch 2\n"))
      << out.str();
}

TEST(PrintJobTest, InferencePlanHasNoTrainingFields) {
  std::ostringstream out;
  PrintJob(InferenceJob(), kNow, absl::UTCTimeZone(), out);
  std::string text = out.str();
  // One GPU, singular; no ZeRO or micro-batch.
  EXPECT_TRUE(absl::StrContains(text, "1 GPU on 1 node: TP 1 × PP 1 × DP 1\n")) << text;
  EXPECT_FALSE(absl::StrContains(text, "ZeRO")) << text;
  EXPECT_FALSE(absl::StrContains(text, "micro-batch")) << text;

  // With DP 4, each replica's sequences: a batch of 64 over 4 replicas is
  // 16 each.
  berth::v1::Job replicas = InferenceJob();
  replicas.mutable_plan()->set_gpus(8);
  replicas.mutable_plan()->set_tp(2);
  replicas.mutable_plan()->set_dp(4);
  replicas.mutable_plan()->set_replica_batch(16);
  std::ostringstream out2;
  PrintJob(replicas, kNow, absl::UTCTimeZone(), out2);
  EXPECT_TRUE(absl::StrContains(out2.str(),
                                "8 GPUs on 1 node: TP 2 × PP 1 × DP 4, 16 sequences per replica\n"))
      << out2.str();
}

TEST(PrintSubmittedTest, InferencePlanHasNoZero) {
  berth::v1::SubmitJobResponse response;
  *response.mutable_job() = InferenceJob();
  std::ostringstream out;
  PrintSubmitted(response, out);
  std::string text = out.str();
  EXPECT_TRUE(absl::StrContains(text, "1 GPU on 1 node: TP 1 × PP 1 × DP 1")) << text;
  EXPECT_FALSE(absl::StrContains(text, "ZeRO")) << text;
}

TEST(PrintSubmittedTest, IdStateTypeAndPlan) {
  berth::v1::SubmitJobResponse response;
  *response.mutable_job() = RunningJob();
  response.mutable_job()->set_state(berth::v1::PENDING);
  response.mutable_job()->clear_gpus();
  std::ostringstream out;
  PrintSubmitted(response, out);
  std::string text = out.str();
  EXPECT_TRUE(absl::StartsWith(text, "job 12: PENDING\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "h100-80gb")) << text;
  EXPECT_TRUE(absl::StrContains(text, "TP 4 × PP 1 × DP 2, ZeRO 1")) << text;
}

TEST(PrintExplanationTest, QueuePositionAndEarliestStart) {
  berth::v1::ExplainJobResponse response;
  *response.mutable_job() = PendingJob();
  response.set_queue_position(3);
  response.set_summary("Job 7 waits for 16 h100-80gb GPUs.");
  response.add_details("job 12 holds 8 of them");
  response.set_earliest_start_ms(absl::ToUnixMillis(kNow + absl::Hours(2) + absl::Minutes(10)));
  std::ostringstream out;
  PrintExplanation(response, kNow, absl::UTCTimeZone(), out);
  EXPECT_EQ(out.str(),
            "job 7: PENDING, position 3 in the queue\n"
            "Job 7 waits for 16 h100-80gb GPUs.\n"
            "  - job 12 holds 8 of them\n"
            "earliest start: 2024-05-01 14:10:00 UTC (in 2h 10m)\n");
}

TEST(PrintExplanationTest, UnknownEarliestStart) {
  berth::v1::ExplainJobResponse response;
  *response.mutable_job() = PendingJob();
  response.set_summary("s");
  std::ostringstream out;
  PrintExplanation(response, kNow, absl::UTCTimeZone(), out);
  EXPECT_TRUE(absl::EndsWith(out.str(), "earliest start: unknown\n")) << out.str();
}

TEST(JsonTest, ProtoFieldNamesAndZeros) {
  absl::StatusOr<std::string> json = ToJson(PendingJob());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(absl::StrContains(*json, "\"submit_time_ms\"")) << *json;
  EXPECT_TRUE(absl::StrContains(*json, "\"exit_code\": 0")) << *json;
  EXPECT_TRUE(absl::StrContains(*json, "\"state\": \"PENDING\"")) << *json;
  EXPECT_TRUE(absl::EndsWith(*json, "}\n"));
}

// Issue 17: the default printed as "on_node_loss": "".
TEST(JsonTest, OnNodeLossDefaultIsSpelledOut) {
  absl::StatusOr<std::string> json = ToJson(PendingJob());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(absl::StrContains(*json, "\"on_node_loss\": \"requeue\"")) << *json;
  berth::v1::SubmitJobResponse response;
  *response.mutable_job() = PendingJob();
  response.mutable_job()->mutable_spec()->set_on_node_loss("fail");
  json = ToJson(response);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(absl::StrContains(*json, "\"on_node_loss\": \"fail\"")) << *json;
  google::protobuf::RepeatedPtrField<berth::v1::Job> jobs;
  *jobs.Add() = RunningJob();
  EXPECT_FALSE(absl::StrContains(*ToJsonArray(jobs), "\"on_node_loss\": \"\"")) << *json;
}

// Issue 17: `berth job` showed a config.json model as "from a config.json".
TEST(PrintJobTest, AConfigJsonModelIsNamedByItsNameOrPath) {
  berth::v1::Job job = RunningJob();
  job.mutable_spec()->mutable_model()->set_hf_config_json(
      R"({"_name_or_path": "meta-llama/Llama-2-7b-hf", "model_type": "llama"})");
  std::ostringstream out;
  PrintJob(job, kNow, absl::UTCTimeZone(), out);
  EXPECT_TRUE(absl::StrContains(out.str(), "meta-llama/Llama-2-7b-hf (from a config.json), train"))
      << out.str();
  job.mutable_spec()->mutable_model()->set_hf_config_json(R"({"model_type": "mistral"})");
  std::ostringstream by_type;
  PrintJob(job, kNow, absl::UTCTimeZone(), by_type);
  EXPECT_TRUE(absl::StrContains(by_type.str(), "mistral (from a config.json)")) << by_type.str();
}

TEST(JsonTest, ListsAreOneArray) {
  google::protobuf::RepeatedPtrField<berth::v1::Job> jobs;
  EXPECT_EQ(*ToJsonArray(jobs), "[]\n");
  *jobs.Add() = PendingJob();
  *jobs.Add() = RunningJob();
  absl::StatusOr<std::string> json = ToJsonArray(jobs);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(absl::StartsWith(*json, "[\n{")) << *json;
  EXPECT_TRUE(absl::EndsWith(*json, "}\n]\n")) << *json;
  EXPECT_TRUE(absl::StrContains(*json, "},\n{")) << *json;
}

// Each message as ToJson prints it, in one array.
std::string JoinedOneByOne(const std::vector<const google::protobuf::Message*>& messages) {
  std::vector<std::string> items;
  for (const google::protobuf::Message* message : messages) {
    absl::StatusOr<std::string> json = ToJson(*message);
    EXPECT_TRUE(json.ok()) << json.status();
    if (!json.ok()) return "";
    json->pop_back();
    items.push_back(*json);
  }
  return absl::StrCat("[\n", absl::StrJoin(items, ",\n"), "\n]\n");
}

template <typename T>
std::string JoinedOneByOne(const google::protobuf::RepeatedPtrField<T>& messages) {
  return JoinedOneByOne(std::vector<const google::protobuf::Message*>(messages.pointer_begin(),
                                                                      messages.pointer_end()));
}

// Equal texts, or where they first differ (gtest's diff of two texts this
// long would take gigabytes).
::testing::AssertionResult SameText(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  const size_t at = static_cast<size_t>(
      std::mismatch(got.begin(), got.end(), want.begin(), want.end()).first - got.begin());
  return ::testing::AssertionFailure()
         << "first difference at byte " << at << " of " << got.size() << " (want " << want.size()
         << "): got \"" << got.substr(at, 60) << "\", want \"" << want.substr(at, 60) << "\"";
}

// ToJsonArray converts a list a chunk at a time inside a wrapper message and
// takes the items out of it: the text must be each message's own, across
// chunk seams, with escapes and defaults spelled out as ToJson does.
TEST(JsonTest, AListIsEachMessageAsToJsonPrintsIt) {
  google::protobuf::RepeatedPtrField<berth::v1::Job> jobs;
  for (int i = 0; i < 450; ++i) {
    berth::v1::Job& job = *jobs.Add() = i % 3 == 0 ? PendingJob() : RunningJob();
    job.set_id(i + 1);
    if (i % 7 == 0) job.set_reason("waits:\n \"quoted\", tab\t and \u00e9");
    if (i % 5 == 0) job.mutable_spec()->clear_on_node_loss();  // spelled out as "requeue"
  }
  absl::StatusOr<std::string> json = ToJsonArray(jobs);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(SameText(*json, JoinedOneByOne(jobs)));
  EXPECT_FALSE(absl::StrContains(*json, "\"on_node_loss\": \"\""));

  google::protobuf::RepeatedPtrField<berth::v1::Event> events;
  for (int i = 0; i < 3; ++i) {
    berth::v1::Event& event = *events.Add();
    event.set_id(i + 1);
    event.set_kind("placed");
    event.set_message(absl::StrCat("8 GPUs on n", i, "\n  indented"));
  }
  json = ToJsonArray(events);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(SameText(*json, JoinedOneByOne(events)));

  // Messages of two types go one by one, to the same text.
  const std::vector<const google::protobuf::Message*> mixed = {&jobs[0], &events[0], &jobs[1]};
  json = ToJsonArray(mixed);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(SameText(*json, JoinedOneByOne(mixed)));
}

}  // namespace
}  // namespace berth::cli
