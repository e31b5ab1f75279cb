// Teams end to end (docs/TEAMS.md): a real berthd with a teams file and a
// real berth-agent running commands on 127.0.0.1. Team a is promised
// nothing and borrows the 8 GPUs team b leaves idle with jobs that trap
// SIGTERM; b submits; one of a's jobs receives SIGTERM, goes back to
// PENDING with the same id, and b's job starts on its GPUs.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/process_checks.h"

namespace berth::testing {
namespace {

using berth::v1::Job;
using berth::v1::JobSpec;

constexpr absl::Duration kJobWait = absl::Seconds(60);

// min_runtime 0s: a's jobs may be preempted as soon as they run.
constexpr char kTeams[] = R"(preemption: {min_runtime: 0s, grace: 20s}
teams:
  - name: a
    quota:
      h100-80gb: {nominal: 0}
  - name: b
    quota:
      h100-80gb: {nominal: 8}
)";

class TeamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    marks_ = cluster_.dir() + "/marks";
    ASSERT_EQ(mkdir(marks_.c_str(), 0755), 0);
    const std::string teams = cluster_.dir() + "/teams.yaml";
    std::ofstream(teams) << teams_yaml_;
    cluster_.SetDaemonFlags({"--teams=" + teams});
    ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
    ASSERT_TRUE(cluster_
                    .StartAgentWithFlags("h0", Inventory("h100-80gb", 8),
                                         {"--jobs=run", "--stop_grace_ms=1000",
                                          "--work_dir=" + cluster_.dir() + "/work-h0"})
                    .ok());
    ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok()) << cluster_.Log("berthd");
  }

  void TearDown() override {
    // SIGTERM: the agent stops what still runs before it exits.
    EXPECT_TRUE(cluster_.StopAgent("h0", SIGTERM).ok());
    absl::Status db = CheckDatabase(cluster_.db_path());
    EXPECT_TRUE(db.ok()) << db;
  }

  grpc::Status TrySubmit(const std::string& team, const std::string& shell,
                         berth::v1::SubmitJobResponse* response) {
    JobSpec spec;
    spec.set_team(team);
    spec.set_task("train");
    spec.mutable_model()->set_catalog_name("llama-2-7b");
    spec.add_command("/bin/sh");
    spec.add_command("-c");
    spec.add_command(shell);
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    auto context = Context();
    return cluster_.Scheduler()->SubmitJob(context.get(), request, response);
  }

  Job Submit(const std::string& team, const std::string& shell) {
    berth::v1::SubmitJobResponse response;
    grpc::Status status = TrySubmit(team, shell, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job();
  }

  // A job of team a that marks its start, writes term-<id> on SIGTERM and
  // exits; with `checkpoint`, it touches its checkpoint file all along.
  std::string TrappingJob(bool checkpoint) const {
    return absl::StrCat("trap 'echo term > ", marks_,
                        "/term-$BERTH_JOB_ID; exit 0' TERM; echo $$ > ", marks_,
                        "/start-$BERTH_JOB_ID; while :; do ",
                        checkpoint ? "touch \"$BERTH_CHECKPOINT_FILE\"; " : "", "sleep 0.1; done");
  }

  Job Get(int64_t id) {
    berth::v1::GetJobRequest request;
    request.set_id(id);
    Job job;
    auto context = Context();
    EXPECT_TRUE(cluster_.Scheduler()->GetJob(context.get(), request, &job).ok());
    return job;
  }

  std::string Logs() const { return cluster_.Log("berthd") + cluster_.Log("agent-h0"); }

  Cluster cluster_;
  std::string marks_;
  std::string teams_yaml_ = kTeams;
};

// Team a's first job checkpoints all along, so it loses the least work
// although it started first: it is the one preempted.
TEST_F(TeamsTest, BorrowedJobIsPreemptedRequeuedAndTheOwnersJobStarts) {
  std::vector<Job> a = {Submit("a", TrappingJob(/*checkpoint=*/true))};
  const int gpus = a[0].plan().gpus();
  ASSERT_GT(gpus, 0);
  ASSERT_EQ(8 % gpus, 0) << "the test needs jobs that tile 8 GPUs";
  while (static_cast<int>(a.size()) * gpus < 8) a.push_back(Submit("a", TrappingJob(false)));
  for (const Job& job : a) {
    absl::StatusOr<Job> running = cluster_.WaitForState(job.id(), v1::RUNNING, kJobWait);
    ASSERT_TRUE(running.ok()) << running.status() << Logs();
  }
  // The checkpoint file exists; a few heartbeats carry its time to berthd.
  const std::string checkpoint =
      absl::StrCat(cluster_.dir(), "/work-h0/jobs/", a[0].id(), "/checkpoint");
  const absl::Time deadline = absl::Now() + kJobWait;
  struct stat info;
  while (stat(checkpoint.c_str(), &info) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(stat(checkpoint.c_str(), &info), 0) << Logs();
  absl::SleepFor(absl::Seconds(3));

  const Job b = Submit("b", "echo $$ > " + marks_ + "/b-started; exec sleep 1000");
  absl::StatusOr<Job> b_running = cluster_.WaitForState(b.id(), v1::RUNNING, kJobWait);
  ASSERT_TRUE(b_running.ok()) << b_running.status() << Logs();

  // The victim trapped SIGTERM and is back in the queue with its id and
  // submit time, counted once; the other jobs of a run on.
  const Job victim = Get(a[0].id());
  EXPECT_EQ(ReadFile(marks_ + "/term-" + std::to_string(a[0].id())), "term\n") << Logs();
  EXPECT_EQ(victim.state(), v1::PENDING) << victim.reason();
  EXPECT_EQ(victim.preemptions(), 1);
  EXPECT_EQ(victim.preempted_by(), 0);
  EXPECT_EQ(victim.submit_time_ms(), a[0].submit_time_ms());
  for (size_t i = 1; i < a.size(); ++i) {
    EXPECT_EQ(Get(a[i].id()).state(), v1::RUNNING) << a[i].id();
    EXPECT_EQ(Get(a[i].id()).preemptions(), 0) << a[i].id();
  }
  // RUNNING is reported once the process is started; its shell writes the
  // mark a moment later.
  const absl::Time mark_deadline = absl::Now() + absl::Seconds(10);
  while (ReadFile(marks_ + "/b-started").empty() && absl::Now() < mark_deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(ReadFile(marks_ + "/b-started").empty());
  absl::StatusOr<std::vector<std::string>> kinds = EventKinds(cluster_.db_path(), a[0].id());
  ASSERT_TRUE(kinds.ok()) << kinds.status();
  const std::vector<std::string> expected = {"submitted", "placed", "running", "preempted",
                                             "requeued"};
  EXPECT_EQ(*kinds, expected);

  // ListTeams (`berth teams`): b holds its job's GPUs within its nominal;
  // a holds the rest, all borrowed, and waits for the victim's.
  berth::v1::ListTeamsResponse teams;
  {
    auto context = Context();
    ASSERT_TRUE(
        cluster_.Scheduler()->ListTeams(context.get(), berth::v1::ListTeamsRequest(), &teams).ok());
  }
  ASSERT_EQ(teams.teams_size(), 2);
  EXPECT_EQ(teams.teams(0).team(), "a");
  EXPECT_EQ(teams.teams(0).in_use(), 8 - gpus);
  EXPECT_EQ(teams.teams(0).borrowed(), 8 - gpus);
  EXPECT_EQ(teams.teams(0).pending(), gpus);
  EXPECT_EQ(teams.teams(1).team(), "b");
  EXPECT_EQ(teams.teams(1).nominal(), 8);
  EXPECT_EQ(teams.teams(1).in_use(), gpus);
  EXPECT_EQ(teams.teams(1).borrowed(), 0);

  // berthd restarts: the preemption count and the queue survive it.
  ASSERT_TRUE(cluster_.StopDaemon(SIGTERM).ok());
  ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
  EXPECT_EQ(Get(a[0].id()).preemptions(), 1);
  EXPECT_EQ(Get(a[0].id()).state(), v1::PENDING);
}

// Team c may hold one GPU at most (nominal 0 + borrowing limit 1); a 7B
// training job needs more: berthd refuses it at submit with the numbers
// instead of queueing it for ever (Kueue #5243).
class TeamsReachTest : public TeamsTest {
 protected:
  TeamsReachTest() {
    teams_yaml_ = absl::StrCat(kTeams, "  - name: c\n    quota:\n      h100-80gb: {nominal: 0, ",
                               "borrowing_limit: 1}\n");
  }
};

TEST_F(TeamsReachTest, AJobBeyondItsTeamsReachIsRefusedAtSubmit) {
  berth::v1::SubmitJobResponse response;
  grpc::Status status = TrySubmit("c", "true", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(),
                                "team c may use at most 1 h100-80gb (nominal 0 + borrowing limit "
                                "1); this job needs "))
      << status.error_message();
  // Team a, whose reach is b's 8 idle GPUs, is admitted.
  EXPECT_TRUE(TrySubmit("a", "true", &response).ok());
}

}  // namespace
}  // namespace berth::testing
