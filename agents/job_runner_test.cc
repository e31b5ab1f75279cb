#include "agents/job_runner.h"

#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process_checks.h"

namespace berth::agent {
namespace {

using berth::testing::Alive;
using berth::testing::Pids;
using berth::testing::ReadFile;
using berth::testing::WaitUntilGone;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);  // every wait's bound

// Collects the statuses a runner reports.
class Recorder {
 public:
  void Add(const v1::JobStatus& status) {
    absl::MutexLock lock(&mu_);
    statuses_.push_back(status);
  }
  // The first status of `job` in `state`, waiting up to kWait.
  absl::StatusOr<v1::JobStatus> WaitFor(int64_t job, v1::JobState state) {
    absl::MutexLock lock(&mu_);
    const v1::JobStatus* found = nullptr;
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const v1::JobStatus& s : statuses_) {
        if (s.job_id() == job && s.state() == state) found = &s;
        if (found != nullptr) return true;
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&seen), kWait)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "job ", job, " never reported ", v1::JobState_Name(state)));
    }
    return *found;
  }
  // Waits until `job` has reported `count` statuses.
  bool WaitForCount(int64_t job, size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      size_t n = 0;
      for (const v1::JobStatus& s : statuses_) n += s.job_id() == job ? 1 : 0;
      return n >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<v1::JobState> States(int64_t job) {
    absl::MutexLock lock(&mu_);
    std::vector<v1::JobState> out;
    for (const v1::JobStatus& s : statuses_) {
      if (s.job_id() == job) out.push_back(s.state());
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::JobStatus> statuses_ ABSL_GUARDED_BY(mu_);
};





// Waits until `path` holds `lines` lines.
bool WaitForLines(const std::string& path, size_t lines) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    if (Pids(path).size() >= lines) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/job_runner_test_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  void MakeRunner(bool run_commands = true,
                  absl::Duration grace = absl::Milliseconds(300)) {
    absl::StatusOr<std::unique_ptr<JobRunner>> runner = JobRunner::Create({
        .node = "n1",
        .work_dir = dir_ + "/work",
        .run_commands = run_commands,
        .default_stop_grace = grace,
        .poll_interval = absl::Milliseconds(5),
        .on_status = [this](const v1::JobStatus& s) { recorder_.Add(s); },
    });
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = *std::move(runner);
  }

  // A job on GPUs 1 and 0 of n1 (tp ranks 1, 0) and GPU 0 of n2.
  v1::Job Job(int64_t id, std::vector<std::string> command) {
    v1::Job job;
    job.set_id(id);
    for (std::string& arg : command) job.mutable_spec()->add_command(arg);
    job.mutable_plan()->set_tp(2);
    job.mutable_plan()->mutable_per_gpu()->set_total_bytes(5e9);
    struct {
      const char* node;
      int index, tp, dp;
    } gpus[] = {{"n1", 1, 1, 0}, {"n1", 0, 0, 0}, {"n2", 0, 0, 1}};
    for (const auto& g : gpus) {
      v1::GpuAssignment* gpu = job.add_gpus();
      gpu->set_node(g.node);
      gpu->set_index(g.index);
      gpu->set_tp_rank(g.tp);
      gpu->set_dp_rank(g.dp);
      gpu->set_node_address(std::string("addr-") + g.node);
    }
    return job;
  }

  std::string JobDir(int64_t id) const {
    return absl::StrCat(dir_, "/work/jobs/", id);
  }

  std::string dir_;
  Recorder recorder_;
  std::unique_ptr<JobRunner> runner_;
};

TEST_F(JobRunnerTest, RunsTheCommandWithItsEnvironmentAndLogs) {
  MakeRunner();
  runner_->Start(Job(7, {"/bin/sh", "-c",
                         "echo $CUDA_VISIBLE_DEVICES $BERTH_JOB_ID $NODE_RANK "
                         "$NNODES $WORLD_SIZE $MASTER_ADDR $MASTER_PORT; "
                         "cat $BERTH_DEEPSPEED_CONFIG; echo oops >&2"}));
  absl::StatusOr<v1::JobStatus> done = recorder_.WaitFor(7, v1::SUCCEEDED);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->exit_code(), 0);
  EXPECT_GT(done->time_ms(), 0);
  EXPECT_THAT(recorder_.States(7), ElementsAre(v1::RUNNING, v1::SUCCEEDED));
  // GPUs in tp order: rank 0 is index 0, rank 1 index 1; node n1 is first.
  EXPECT_EQ(ReadFile(JobDir(7) + "/stdout.log"),
            "0,1 7 0 2 3 addr-n1 20007\n"
            "{\"train_micro_batch_size_per_gpu\": 1, \"zero_optimization\": "
            "{\"stage\": 0}, \"bf16\": {\"enabled\": true}}\n");
  EXPECT_EQ(ReadFile(JobDir(7) + "/stderr.log"), "oops\n");
  EXPECT_TRUE(runner_->RunningJobs().empty());
}

TEST_F(JobRunnerTest, ExitCodesAndSignalsFail) {
  MakeRunner();
  runner_->Start(Job(1, {"/bin/sh", "-c", "exit 3"}));
  runner_->Start(Job(2, {"/bin/sh", "-c", "kill -SEGV $$"}));
  absl::StatusOr<v1::JobStatus> exited = recorder_.WaitFor(1, v1::FAILED);
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_EQ(exited->exit_code(), 3);
  EXPECT_EQ(exited->message(), "exit code 3");
  absl::StatusOr<v1::JobStatus> killed = recorder_.WaitFor(2, v1::FAILED);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(killed->exit_code(), 128 + SIGSEGV);
  EXPECT_EQ(killed->message(), "killed by SIGSEGV");
}

TEST_F(JobRunnerTest, NoCommandOrAMissingBinaryFails) {
  MakeRunner();
  runner_->Start(Job(1, {}));
  runner_->Start(Job(2, {"/nonexistent/train"}));
  absl::StatusOr<v1::JobStatus> empty = recorder_.WaitFor(1, v1::FAILED);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->message(), "no command");
  absl::StatusOr<v1::JobStatus> missing = recorder_.WaitFor(2, v1::FAILED);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_THAT(missing->message(), HasSubstr("cannot run /nonexistent/train"));
  EXPECT_THAT(recorder_.States(2), ElementsAre(v1::FAILED));
}

TEST_F(JobRunnerTest, StopEndsTheWholeProcessGroup) {
  MakeRunner();
  const std::string pids = dir_ + "/pids";
  runner_->Start(Job(3, {"/bin/sh", "-c",
                         "echo $$ >> " + pids + "; sleep 1000 & echo $! >> " +
                             pids + "; wait"}));
  ASSERT_TRUE(WaitForLines(pids, 2));
  EXPECT_THAT(runner_->RunningJobs(), ElementsAre(3));
  runner_->Stop(3, absl::ZeroDuration());
  absl::StatusOr<v1::JobStatus> cancelled = recorder_.WaitFor(3, v1::CANCELLED);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_TRUE(WaitUntilGone(Pids(pids)).empty());
  EXPECT_TRUE(runner_->RunningJobs().empty());
}

TEST_F(JobRunnerTest, StopEscalatesToSigkillAfterTheGrace) {
  MakeRunner();
  const std::string pids = dir_ + "/pids";
  // Ignores SIGTERM (and so does the sleep it starts: SIG_IGN is inherited).
  runner_->Start(Job(4, {"/bin/sh", "-c",
                         "trap '' TERM; echo $$ >> " + pids +
                             "; while :; do sleep 0.05; done"}));
  ASSERT_TRUE(WaitForLines(pids, 1));
  runner_->Stop(4, absl::Milliseconds(100));
  absl::StatusOr<v1::JobStatus> cancelled = recorder_.WaitFor(4, v1::CANCELLED);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->exit_code(), 128 + SIGKILL);
  EXPECT_THAT(cancelled->message(), HasSubstr("SIGKILL"));
  EXPECT_TRUE(WaitUntilGone(Pids(pids)).empty());
}

TEST_F(JobRunnerTest, MaxRunTimeFailsTheJob) {
  MakeRunner();
  v1::Job job = Job(5, {"sleep", "100"});
  job.mutable_spec()->set_max_runtime_seconds(1);
  runner_->Start(job);
  absl::StatusOr<v1::JobStatus> failed = recorder_.WaitFor(5, v1::FAILED);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_THAT(failed->message(), HasSubstr("exceeded max run time of 1 s"));
  EXPECT_EQ(failed->exit_code(), 128 + SIGTERM);
}

TEST_F(JobRunnerTest, AJobStartedTwiceRunsOnce) {
  MakeRunner();
  const std::string runs = dir_ + "/runs";
  const v1::Job job =
      Job(6, {"/bin/sh", "-c", "echo $$ >> " + runs + "; sleep 0.3"});
  runner_->Start(job);
  ASSERT_TRUE(recorder_.WaitFor(6, v1::RUNNING).ok());
  runner_->Start(job);  // resent after a reconnect: repeats RUNNING
  ASSERT_TRUE(recorder_.WaitFor(6, v1::SUCCEEDED).ok());
  runner_->Start(job);  // and after the end: repeats SUCCEEDED
  EXPECT_THAT(recorder_.States(6), ElementsAre(v1::RUNNING, v1::RUNNING,
                                               v1::SUCCEEDED, v1::SUCCEEDED));
  EXPECT_EQ(Pids(runs).size(), 1u);
}

TEST_F(JobRunnerTest, AJobStoppedThenStartedAgainReruns) {
  MakeRunner();
  const std::string runs = dir_ + "/runs";
  const v1::Job job =
      Job(10, {"/bin/sh", "-c", "echo $$ >> " + runs + "; sleep 1000"});
  runner_->Start(job);
  ASSERT_TRUE(WaitForLines(runs, 1));
  runner_->Stop(10, absl::ZeroDuration());  // the daemon requeues it ...
  ASSERT_TRUE(recorder_.WaitFor(10, v1::CANCELLED).ok());
  runner_->Start(job);  // ... and places it here again
  ASSERT_TRUE(WaitForLines(runs, 2));
  ASSERT_TRUE(recorder_.WaitForCount(10, 3));
  EXPECT_THAT(runner_->RunningJobs(), ElementsAre(10));
  EXPECT_THAT(recorder_.States(10),
              ElementsAre(v1::RUNNING, v1::CANCELLED, v1::RUNNING));
}

TEST_F(JobRunnerTest, StopOfAnUnknownJobIsAcknowledged) {
  MakeRunner();
  runner_->Stop(99, absl::ZeroDuration());
  absl::StatusOr<v1::JobStatus> ack = recorder_.WaitFor(99, v1::CANCELLED);
  ASSERT_TRUE(ack.ok()) << ack.status();
}

TEST_F(JobRunnerTest, DestructionStopsRunningJobs) {
  MakeRunner();
  const std::string pids = dir_ + "/pids";
  runner_->Start(
      Job(8, {"/bin/sh", "-c", "echo $$ >> " + pids + "; sleep 1000"}));
  ASSERT_TRUE(WaitForLines(pids, 1));
  EXPECT_NE(runner_->ProcessGroup(8), 0);
  runner_.reset();
  EXPECT_TRUE(WaitUntilGone(Pids(pids)).empty());
}

TEST_F(JobRunnerTest, SimulatedJobsHoldTheirGpusUntilStopped) {
  MakeRunner(/*run_commands=*/false);
  runner_->Start(Job(9, {}));  // no command is fine when nothing runs
  ASSERT_TRUE(recorder_.WaitFor(9, v1::RUNNING).ok());
  // n1 holds GPUs 0 and 1 of the job, each the plan's 5e9 bytes.
  EXPECT_THAT(runner_->GpuMemoryInUse(),
              ElementsAre(std::pair(0, int64_t{5'000'000'000}),
                          std::pair(1, int64_t{5'000'000'000})));
  runner_->Stop(9, absl::ZeroDuration());
  ASSERT_TRUE(recorder_.WaitFor(9, v1::CANCELLED).ok());
  EXPECT_TRUE(runner_->GpuMemoryInUse().empty());
  EXPECT_TRUE(runner_->RunningJobs().empty());
}

TEST(JobRunnerCreateTest, RejectsBadOptions) {
  auto ignore = [](const v1::JobStatus&) {};
  EXPECT_FALSE(JobRunner::Create({.node = "n1", .work_dir = "/tmp/x"}).ok());
  EXPECT_FALSE(JobRunner::Create({.node = "n1", .on_status = ignore}).ok());
  EXPECT_TRUE(JobRunner::Create(
                  {.node = "n1", .run_commands = false, .on_status = ignore})
                  .ok());
}

}  // namespace
}  // namespace berth::agent
