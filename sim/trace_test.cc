#include <string>

#include "gtest/gtest.h"
#include "sim/cluster.h"
#include "sim/sacct.h"
#include "sim/trace.h"

namespace berth::sim {
namespace {

constexpr char kHeader[] = "id,submit_s,team,gpus,duration_s,state,model,task\n";

TEST(BerthCsvTest, ReadsJobsWithOptionalColumnsEmpty) {
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      std::string(kHeader) + "2,10,,4,60,failed,,\n1,0,ml,1,5,completed,llama-3-8b,infer\n", "t");
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->jobs.size(), 2u);
  EXPECT_EQ(trace->jobs[0].id, 1);  // sorted by submit time
  EXPECT_EQ(trace->jobs[0].model, "llama-3-8b");
  EXPECT_EQ(trace->jobs[1].gpus, 4);
  EXPECT_EQ(trace->jobs[1].state, EndState::kFailed);
  EXPECT_EQ(trace->jobs[1].team, "");
}

TEST(BerthCsvTest, RefusesBadLinesNamingLineAndColumn) {
  auto bad = [](const std::string& row) {
    return std::string(
        ParseBerthCsv(std::string(kHeader) + "1,0,a,1,5,completed,,\n" + row, "t.csv")
            .status()
            .message());
  };
  EXPECT_EQ(bad("2,0,a,x,5,completed,,\n"),
            "t.csv line 3, column 4 (gpus): \"x\" is not a whole number");
  EXPECT_EQ(bad("2,0,a,0,5,completed,,\n"), "t.csv line 3, column 4 (gpus): must be at least 1");
  EXPECT_EQ(bad("2,0,a,1,5,done,,\n"),
            "t.csv line 3, column 6 (state): \"done\" is not completed, failed or cancelled");
  EXPECT_EQ(bad("2,0,a,1,5,completed,m,fly\n"),
            "t.csv line 3, column 8 (task): \"fly\" is not train or infer");
  EXPECT_EQ(bad("2,0,a,1\n"), "t.csv line 3: 4 columns, but the header has 8");
  EXPECT_EQ(bad("1,0,a,1,5,completed,,\n"), "t.csv: job id 1 appears twice");
  EXPECT_FALSE(ParseBerthCsv("id,submit_s\n", "t").ok());  // columns missing
}

TEST(BerthCsvTest, WritesWhatItReads) {
  Trace trace{.jobs = {{.id = 3,
                        .submit_s = 7,
                        .team = "a",
                        .gpus = 16,
                        .duration_s = 90,
                        .state = EndState::kCancelled,
                        .model = "llama-2-13b",
                        .task = "train",
                        .limit_s = 120}}};
  absl::StatusOr<Trace> back = ParseBerthCsv(FormatBerthCsv(trace), "t");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->jobs[0].limit_s, 120);
  EXPECT_EQ(back->jobs[0].model, "llama-2-13b");
  EXPECT_EQ(back->jobs[0].state, EndState::kCancelled);
}

TEST(AlibabaTest, ReadsTheTestFile) {
  absl::StatusOr<Trace> trace =
      ReadTrace(std::string(BERTH_SIM_TESTDATA) + "/alibaba_small.csv", TraceFormat::kAlibaba);
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->jobs.size(), 6u);
  EXPECT_EQ(trace->jobs[2].state, EndState::kCancelled);
  EXPECT_EQ(trace->jobs[2].cancel_after_s, 120);  // end 130 - submit 10
  EXPECT_EQ(trace->jobs[2].duration_s, 0);
  EXPECT_EQ(trace->jobs[4].state, EndState::kCompleted);  // "running" at the trace end
  EXPECT_EQ(trace->jobs[0].team, "LS");                   // qos stands in for a team
}

TEST(AlibabaTest, RefusesAnUnknownStatus) {
  absl::StatusOr<Trace> trace = ParseAlibabaCsv(
      "job_id,submit_s,start_s,end_s,duration_s,gpus,gpu_milli,nodes,status,qos\n"
      "1,0,0,5,5,1,1000,1,exploded,LS\n",
      "a.csv");
  EXPECT_EQ(trace.status().message(),
            "a.csv line 2, column 9 (status): unknown status \"exploded\"");
}

TEST(SacctTest, ConvertsJobsSkipsStepsAndCpuJobs) {
  absl::StatusOr<Trace> trace = ParseSacct(
      "JobID|Account|Submit|Start|End|State|AllocTRES|Timelimit\n"
      "100|nlp|2024-01-01T00:00:00|2024-01-01T00:01:00|2024-01-01T01:01:00|COMPLETED|"
      "cpu=8,gres/gpu=4,mem=64G|1-00:00:00\n"
      "100.batch|nlp|2024-01-01T00:00:00|2024-01-01T00:01:00|2024-01-01T01:01:00|COMPLETED|"
      "cpu=8,gres/gpu=4|\n"
      "101|cv|2024-01-01T00:00:30|Unknown|2024-01-01T00:05:30|CANCELLED by 42|gres/gpu=8|"
      "02:00:00\n"
      "102|cv|2024-01-01T00:00:40|2024-01-01T00:00:40|2024-01-01T00:00:50|COMPLETED|cpu=2|\n"
      "103|cv|2024-01-01T00:01:00|2024-01-01T00:02:00|2024-01-01T00:03:00|TIMEOUT|"
      "gres/gpu:a100=2,gres/gpu=2|00:01:00\n",
      "s");
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->jobs.size(), 3u);
  EXPECT_EQ(trace->jobs[0].duration_s, 3600);
  EXPECT_EQ(trace->jobs[0].limit_s, 86400);
  EXPECT_EQ(trace->jobs[0].team, "nlp");
  EXPECT_EQ(trace->jobs[1].submit_s, 30);
  EXPECT_EQ(trace->jobs[1].cancel_after_s, 300);
  EXPECT_EQ(trace->jobs[2].gpus, 2);
  EXPECT_EQ(trace->jobs[2].state, EndState::kFailed);
}

TEST(SacctTest, RefusesABadTimeNamingLineAndColumn) {
  absl::StatusOr<Trace> trace = ParseSacct(
      "JobID|Submit|Start|End|State|AllocTRES\n1|yesterday|Unknown|None|FAILED|gres/gpu=1\n", "s");
  EXPECT_EQ(trace.status().message(),
            "s line 2, column 2 (Submit): \"yesterday\" is not YYYY-MM-DDTHH:MM:SS");
}

TEST(InventoryTest, ReadsGroupsAndAlibabaNodes) {
  absl::StatusOr<ClusterSpec> spec =
      ParseInventoryCsv("node_id,gpus,gpu_model\n1,2,P100\n2,2,P100\n3,8,G2\n", "n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->groups.size(), 2u);
  EXPECT_EQ(spec->groups[0].count, 2);
  EXPECT_EQ(spec->TotalGpus(), 12);
  EXPECT_EQ(ParseInventoryCsv("count,gpus,gpu\n4,0,x\n", "n").status().message(),
            "n line 2, column 2 (gpus): must be 1 to 64");
}

}  // namespace
}  // namespace berth::sim
