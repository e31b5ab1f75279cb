#include "agents/job_runner.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

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
    // Evaluated again whenever statuses_ may have grown (and moved), even by
    // other threads: `found` must not survive from an earlier evaluation.
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      found = nullptr;
      for (const v1::JobStatus& s : statuses_) {
        if (s.job_id() == job && s.state() == state) found = &s;
        if (found != nullptr) return true;
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&seen), kWait)) {
      return absl::DeadlineExceededError(
          absl::StrCat("job ", job, " never reported ", v1::JobState_Name(state)));
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
};  // Sets an environment variable of this process (the agent's) for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    setenv(name, value, /*overwrite=*/1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

// KEY=VALUE lines (as `env` prints them) to a map.
std::map<std::string, std::string> ParseEnv(const std::string& text) {
  std::map<std::string, std::string> env;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t eq = line.find('=');
    if (eq != absl::string_view::npos) {
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  return env;
}

// The permission bits of `path` (following no symlink), or -1.
int Mode(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// Waits until `path` holds `lines` lines.
bool WaitForLines(const std::string& path, size_t lines) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    if (Pids(path).size() >= lines) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

// Waits until `path` holds exactly `text`.
bool WaitForText(const std::string& path, const std::string& text) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    if (ReadFile(path) == text) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir() + "/job_runner_test_" +
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name())
               .lexically_normal();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  void MakeRunner(bool run_commands = true, absl::Duration grace = absl::Milliseconds(300),
                  std::vector<std::string> pass_env = {}) {
    absl::StatusOr<std::unique_ptr<JobRunner>> runner = JobRunner::Create({
        .node = "n1",
        .work_dir = dir_ + "/work",
        .run_commands = run_commands,
        .pass_env = std::move(pass_env),
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

  std::string JobDir(int64_t id) const { return absl::StrCat(dir_, "/work/jobs/", id); }

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
  runner_->Start(Job(
      3, {"/bin/sh", "-c", "echo $$ >> " + pids + "; sleep 1000 & echo $! >> " + pids + "; wait"}));
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
  runner_->Start(Job(
      4, {"/bin/sh", "-c", "trap '' TERM; echo $$ >> " + pids + "; while :; do sleep 0.05; done"}));
  ASSERT_TRUE(WaitForLines(pids, 1));
  runner_->Stop(4, absl::Milliseconds(100));
  absl::StatusOr<v1::JobStatus> cancelled = recorder_.WaitFor(4, v1::CANCELLED);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->exit_code(), 128 + SIGKILL);
  EXPECT_THAT(cancelled->message(), HasSubstr("SIGKILL"));
  EXPECT_TRUE(WaitUntilGone(Pids(pids)).empty());
}

// A job touches $BERTH_CHECKPOINT_FILE (in its folder); the runner reports
// the file's time while the job runs, and nothing for a job without one.
TEST_F(JobRunnerTest, ReportsTheCheckpointFilesTime) {
  MakeRunner();
  const std::string marks = dir_ + "/marks";
  runner_->Start(Job(31, {"/bin/sh", "-c",
                          "touch -d @1700000000 \"$BERTH_CHECKPOINT_FILE\"; echo $$ >> " + marks +
                              "; exec sleep 1000"}));
  runner_->Start(Job(32, {"/bin/sh", "-c", "echo $$ >> " + marks + "; exec sleep 1000"}));
  ASSERT_TRUE(WaitForLines(marks, 2));
  // A job's command may run before the runner has marked it running.
  ASSERT_TRUE(recorder_.WaitFor(31, v1::RUNNING).ok());
  ASSERT_TRUE(recorder_.WaitFor(32, v1::RUNNING).ok());
  const std::vector<v1::JobCheckpoint> checkpoints = runner_->Checkpoints();
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].job_id(), 31);
  EXPECT_EQ(checkpoints[0].time_ms(), 1'700'000'000'000);  // touch -d @1700000000
  EXPECT_EQ(ReadFile(JobDir(31) + "/checkpoint"), "");
  runner_->Stop(31, absl::ZeroDuration());
  ASSERT_TRUE(recorder_.WaitFor(31, v1::CANCELLED).ok());
  EXPECT_TRUE(runner_->Checkpoints().empty());  // only running jobs
  runner_->Stop(32, absl::ZeroDuration());
  ASSERT_TRUE(recorder_.WaitFor(32, v1::CANCELLED).ok());
}

// A link in place of the checkpoint file is not followed.
TEST_F(JobRunnerTest, ACheckpointLinkIsIgnored) {
  MakeRunner();
  const std::string marks = dir_ + "/marks";
  runner_->Start(Job(33, {"/bin/sh", "-c",
                          "ln -s /etc/passwd \"$BERTH_CHECKPOINT_FILE\"; echo $$ >> " + marks +
                              "; exec sleep 1000"}));
  ASSERT_TRUE(WaitForLines(marks, 1));
  ASSERT_TRUE(recorder_.WaitFor(33, v1::RUNNING).ok());
  EXPECT_TRUE(runner_->Checkpoints().empty());
  runner_->Stop(33, absl::ZeroDuration());
  ASSERT_TRUE(recorder_.WaitFor(33, v1::CANCELLED).ok());
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
  const v1::Job job = Job(6, {"/bin/sh", "-c", "echo $$ >> " + runs + "; sleep 0.3"});
  runner_->Start(job);
  ASSERT_TRUE(recorder_.WaitFor(6, v1::RUNNING).ok());
  runner_->Start(job);  // resent after a reconnect: repeats RUNNING
  ASSERT_TRUE(recorder_.WaitFor(6, v1::SUCCEEDED).ok());
  runner_->Start(job);  // and after the end: repeats SUCCEEDED
  EXPECT_THAT(recorder_.States(6),
              ElementsAre(v1::RUNNING, v1::RUNNING, v1::SUCCEEDED, v1::SUCCEEDED));
  EXPECT_EQ(Pids(runs).size(), 1u);
}

TEST_F(JobRunnerTest, AJobStoppedThenStartedAgainReruns) {
  MakeRunner();
  const std::string runs = dir_ + "/runs";
  const v1::Job job = Job(10, {"/bin/sh", "-c", "echo $$ >> " + runs + "; sleep 1000"});
  runner_->Start(job);
  ASSERT_TRUE(WaitForLines(runs, 1));
  runner_->Stop(10, absl::ZeroDuration());  // the daemon requeues it ...
  ASSERT_TRUE(recorder_.WaitFor(10, v1::CANCELLED).ok());
  runner_->Start(job);  // ... and places it here again
  ASSERT_TRUE(WaitForLines(runs, 2));
  ASSERT_TRUE(recorder_.WaitForCount(10, 3));
  EXPECT_THAT(runner_->RunningJobs(), ElementsAre(10));
  EXPECT_THAT(recorder_.States(10), ElementsAre(v1::RUNNING, v1::CANCELLED, v1::RUNNING));
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
  runner_->Start(Job(8, {"/bin/sh", "-c", "echo $$ >> " + pids + "; sleep 1000"}));
  ASSERT_TRUE(WaitForLines(pids, 1));
  // The child can write its pid before Spawn returns to the runner, which
  // records the group and only then reports RUNNING.
  ASSERT_TRUE(recorder_.WaitFor(8, v1::RUNNING).ok());
  EXPECT_NE(runner_->ProcessGroup(8), 0);
  runner_.reset();
  EXPECT_TRUE(WaitUntilGone(Pids(pids)).empty());
}

TEST_F(JobRunnerTest, SimulatedJobsHoldTheirGpusUntilStopped) {
  MakeRunner(/*run_commands=*/false);
  runner_->Start(Job(9, {}));  // no command is fine when nothing runs
  ASSERT_TRUE(recorder_.WaitFor(9, v1::RUNNING).ok());
  // n1 holds GPUs 0 and 1 of the job, each the plan's 5e9 bytes.
  EXPECT_THAT(runner_->GpuMemoryInUse(), ElementsAre(std::pair(0, int64_t{5'000'000'000}),
                                                     std::pair(1, int64_t{5'000'000'000})));
  runner_->Stop(9, absl::ZeroDuration());
  ASSERT_TRUE(recorder_.WaitFor(9, v1::CANCELLED).ok());
  EXPECT_TRUE(runner_->GpuMemoryInUse().empty());
  EXPECT_TRUE(runner_->RunningJobs().empty());
}

// Issue 17: simulated jobs never ended, and a simulated job's max run time
// was enforced only by berthd a minute late (FAILED "exit 0" while the
// agent said CANCELLED). A simulated job now runs BERTH_SIMULATE_SECONDS
// (else the runner's simulated_run) and keeps its max run time.
class SimulatedJobTest : public JobRunnerTest {
 protected:
  void MakeSimulatedRunner(absl::Duration simulated_run) {
    absl::StatusOr<std::unique_ptr<JobRunner>> runner = JobRunner::Create({
        .node = "n1",
        .run_commands = false,
        .simulated_run = simulated_run,
        .now =
            [this] {
              absl::MutexLock lock(&clock_mu_);
              return now_;
            },
        .on_status = [this](const v1::JobStatus& s) { recorder_.Add(s); },
    });
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = *std::move(runner);
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&clock_mu_);
    now_ += by;
  }
  v1::Job SimulatedJob(int64_t id, const char* seconds, int64_t max_runtime_s) {
    v1::Job job = Job(id, {});
    if (seconds != nullptr) (*job.mutable_spec()->mutable_env())[kSimulateSecondsEnv] = seconds;
    job.mutable_spec()->set_max_runtime_seconds(max_runtime_s);
    return job;
  }

  absl::Mutex clock_mu_;
  absl::Time now_ ABSL_GUARDED_BY(clock_mu_) = absl::FromUnixSeconds(1'700'000'000);
};

TEST_F(SimulatedJobTest, RunsItsSimulatedSecondsThenSucceeds) {
  MakeSimulatedRunner(absl::ZeroDuration());  // no default: until stopped
  runner_->Start(SimulatedJob(21, "5", 0));
  runner_->Start(SimulatedJob(22, nullptr, 0));
  ASSERT_TRUE(recorder_.WaitFor(21, v1::RUNNING).ok());
  Advance(absl::Seconds(4));
  EXPECT_THAT(runner_->RunningJobs(), ElementsAre(21, 22));  // 4 s < 5 s
  Advance(absl::Seconds(1));
  absl::StatusOr<v1::JobStatus> done = recorder_.WaitFor(21, v1::SUCCEEDED);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->message(), "simulated: ran 5s");
  EXPECT_EQ(done->exit_code(), 0);
  // Job 22 gives no time and the runner's default is 0: it runs on.
  EXPECT_THAT(runner_->RunningJobs(), ElementsAre(22));
}

TEST_F(SimulatedJobTest, TheDefaultRunTimeAppliesWithoutTheEnvVariable) {
  MakeSimulatedRunner(absl::Seconds(30));
  runner_->Start(SimulatedJob(23, nullptr, 0));
  ASSERT_TRUE(recorder_.WaitFor(23, v1::RUNNING).ok());
  Advance(absl::Seconds(30));
  ASSERT_TRUE(recorder_.WaitFor(23, v1::SUCCEEDED).ok());
}

TEST_F(SimulatedJobTest, MaxRunTimeEndsItFailedOnTime) {
  MakeSimulatedRunner(absl::Seconds(30));
  runner_->Start(SimulatedJob(24, "60", 5));  // the limit (5 s) comes first
  ASSERT_TRUE(recorder_.WaitFor(24, v1::RUNNING).ok());
  Advance(absl::Seconds(5));
  absl::StatusOr<v1::JobStatus> failed = recorder_.WaitFor(24, v1::FAILED);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->message(), "exceeded max run time of 5 s (simulated)");
  // The end was not a cancellation, whatever berthd sends afterwards.
  EXPECT_THAT(recorder_.States(24), ElementsAre(v1::RUNNING, v1::FAILED));
}

TEST_F(SimulatedJobTest, ABadSimulatedTimeFailsTheJob) {
  MakeSimulatedRunner(absl::ZeroDuration());
  runner_->Start(SimulatedJob(25, "soon", 0));
  absl::StatusOr<v1::JobStatus> failed = recorder_.WaitFor(25, v1::FAILED);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_THAT(failed->message(), HasSubstr("BERTH_SIMULATE_SECONDS=\"soon\""));
}

// Issue 18 (11): a job sees only the allowlisted part of the agent's
// environment (docs/AGENT.md), the spec's env and berth's variables, and
// starts in its own folder.
TEST_F(JobRunnerTest, JobsGetTheAllowlistedEnvironmentAndTheirFolder) {
  const ScopedEnv secret("BERTH_TEST_AGENT_SECRET", "hunter2");
  const ScopedEnv token("AWS_SECRET_ACCESS_KEY", "not-for-jobs");
  const ScopedEnv nccl("NCCL_TEST_KNOB", "4");
  const ScopedEnv tz("TZ", "UTC");
  MakeRunner();
  v1::Job job = Job(11, {"/bin/sh", "-c", "env > " + dir_ + "/env; pwd -P > " + dir_ + "/cwd"});
  (*job.mutable_spec()->mutable_env())["FROM_SPEC"] = "yes";
  runner_->Start(job);
  ASSERT_TRUE(recorder_.WaitFor(11, v1::SUCCEEDED).ok());
  const std::map<std::string, std::string> env = ParseEnv(ReadFile(dir_ + "/env"));
  EXPECT_THAT(env, Not(Contains(Key("BERTH_TEST_AGENT_SECRET"))));
  EXPECT_THAT(env, Not(Contains(Key("AWS_SECRET_ACCESS_KEY"))));
  EXPECT_THAT(env, Contains(Pair("NCCL_TEST_KNOB", "4")));  // NCCL_*
  EXPECT_THAT(env, Contains(Pair("TZ", "UTC")));
  EXPECT_THAT(env, Contains(Key("PATH")));
  EXPECT_THAT(env, Contains(Pair("FROM_SPEC", "yes")));
  EXPECT_THAT(env, Contains(Pair("BERTH_JOB_ID", "11")));
  EXPECT_EQ(ReadFile(dir_ + "/cwd"), std::filesystem::canonical(JobDir(11)).string() + "\n");
}

TEST_F(JobRunnerTest, PassEnvAddsNamedVariables) {
  const ScopedEnv token("HF_TOKEN", "hf-for-jobs");
  const ScopedEnv wandb("WANDB_PROJECT", "p");
  const ScopedEnv secret("BERTH_TEST_AGENT_SECRET", "hunter2");
  MakeRunner(true, absl::Milliseconds(300), {"HF_TOKEN", "WANDB_*"});
  runner_->Start(Job(13, {"/bin/sh", "-c", "env > " + dir_ + "/env"}));
  ASSERT_TRUE(recorder_.WaitFor(13, v1::SUCCEEDED).ok());
  const std::map<std::string, std::string> env = ParseEnv(ReadFile(dir_ + "/env"));
  EXPECT_THAT(env, Contains(Pair("HF_TOKEN", "hf-for-jobs")));
  EXPECT_THAT(env, Contains(Pair("WANDB_PROJECT", "p")));
  EXPECT_THAT(env, Not(Contains(Key("BERTH_TEST_AGENT_SECRET"))));
}

// A requeued job runs again in the same folder: the logs are appended to,
// deepspeed.json is rewritten.
TEST_F(JobRunnerTest, ARerunAppendsToItsLogs) {
  MakeRunner();
  const v1::Job job = Job(14, {"/bin/sh", "-c", "echo run; sleep 1000"});
  const std::string log = JobDir(14) + "/stdout.log";
  runner_->Start(job);
  ASSERT_TRUE(WaitForText(log, "run\n"));
  runner_->Stop(14, absl::ZeroDuration());
  ASSERT_TRUE(recorder_.WaitFor(14, v1::CANCELLED).ok());
  runner_->Start(job);
  EXPECT_TRUE(WaitForText(log, "run\nrun\n")) << ReadFile(log);
  ASSERT_TRUE(recorder_.WaitForCount(14, 3));
  EXPECT_THAT(recorder_.States(14), ElementsAre(v1::RUNNING, v1::CANCELLED, v1::RUNNING));
}

// Issue 18 (6): symlinks planted in the work dir are never followed; the
// job fails and says why, and the targets stay as they were.
TEST_F(JobRunnerTest, PlantedSymlinksAreNotFollowed) {
  MakeRunner();
  const std::string target = dir_ + "/precious";
  std::ofstream(target) << "precious\n";
  const std::string elsewhere = dir_ + "/elsewhere";
  std::filesystem::create_directories(elsewhere);
  const struct {
    int64_t id;
    std::string link;  // in the job's folder, or the folder itself
    std::string to;
  } plants[] = {{21, "stdout.log", target},
                {22, "stderr.log", target},
                {23, "deepspeed.json", target},
                {24, "", elsewhere}};
  for (const auto& plant : plants) {
    if (plant.link.empty()) {
      std::filesystem::create_directory_symlink(plant.to, JobDir(plant.id));
    } else {
      ASSERT_EQ(mkdir(JobDir(plant.id).c_str(), 0700), 0);
      std::filesystem::create_symlink(plant.to, JobDir(plant.id) + "/" + plant.link);
    }
    runner_->Start(Job(plant.id, {"/bin/sh", "-c", "echo pwned; echo x >&2"}));
  }
  for (const auto& plant : plants) {
    absl::StatusOr<v1::JobStatus> failed = recorder_.WaitFor(plant.id, v1::FAILED);
    ASSERT_TRUE(failed.ok()) << failed.status() << " (" << plant.link << ")";
    EXPECT_THAT(failed->message(), HasSubstr("symbolic link"));
    EXPECT_THAT(
        failed->message(),
        HasSubstr(plant.link.empty() ? JobDir(plant.id) : JobDir(plant.id) + "/" + plant.link));
  }
  EXPECT_EQ(ReadFile(target), "precious\n");
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
}

TEST_F(JobRunnerTest, TheWorkDirAndJobFilesArePrivate) {
  MakeRunner();
  runner_->Start(Job(12, {"/bin/sh", "-c", "echo hi"}));
  ASSERT_TRUE(recorder_.WaitFor(12, v1::SUCCEEDED).ok());
  EXPECT_EQ(Mode(dir_ + "/work"), 0700);
  EXPECT_EQ(Mode(dir_ + "/work/jobs"), 0700);
  EXPECT_EQ(Mode(JobDir(12)), 0700);
  EXPECT_EQ(Mode(JobDir(12) + "/stdout.log"), 0600);
  EXPECT_EQ(Mode(JobDir(12) + "/stderr.log"), 0600);
  EXPECT_EQ(Mode(JobDir(12) + "/deepspeed.json"), 0600);
}

absl::StatusOr<std::unique_ptr<JobRunner>> RunnerIn(const std::string& dir) {
  return JobRunner::Create(
      {.node = "n1", .work_dir = dir, .on_status = [](const v1::JobStatus&) {}});
}

TEST_F(JobRunnerTest, RefusesAWorkDirOthersCanWrite) {
  for (const int mode : {0777, 0770, 0702, 01777}) {
    const std::string work = absl::StrCat(dir_, "/work-", mode);
    ASSERT_EQ(mkdir(work.c_str(), 0700), 0);
    ASSERT_EQ(chmod(work.c_str(), static_cast<mode_t>(mode)), 0);
    absl::StatusOr<std::unique_ptr<JobRunner>> runner = RunnerIn(work);
    ASSERT_FALSE(runner.ok()) << absl::StrFormat("mode %o", mode);
    EXPECT_EQ(runner.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(runner.status().message(), HasSubstr(work));
    EXPECT_THAT(runner.status().message(), HasSubstr("writable by"));
    EXPECT_FALSE(std::filesystem::exists(work + "/jobs"));
  }
}

TEST_F(JobRunnerTest, RefusesAWorkDirOfAnotherUser) {
  // As root: a folder given to nobody. Otherwise "/" is root's.
  std::string work = "/";
  if (geteuid() == 0) {
    work = dir_ + "/foreign";
    ASSERT_EQ(mkdir(work.c_str(), 0700), 0);
    ASSERT_EQ(chown(work.c_str(), 65534, 65534), 0);
  }
  absl::StatusOr<std::unique_ptr<JobRunner>> runner = RunnerIn(work);
  ASSERT_FALSE(runner.ok());
  EXPECT_EQ(runner.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(runner.status().message(), HasSubstr(work));
  EXPECT_THAT(runner.status().message(), HasSubstr("owned by uid"));
}

TEST_F(JobRunnerTest, RefusesAWorkDirThatIsASymlink) {
  const std::string real = dir_ + "/real";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  std::filesystem::create_directory_symlink(real, dir_ + "/work");
  absl::StatusOr<std::unique_ptr<JobRunner>> runner = RunnerIn(dir_ + "/work");
  ASSERT_FALSE(runner.ok());
  EXPECT_THAT(runner.status().message(), HasSubstr(dir_ + "/work"));
  EXPECT_THAT(runner.status().message(), HasSubstr("symbolic link"));
  EXPECT_FALSE(std::filesystem::exists(real + "/jobs"));
}

TEST(JobRunnerCreateTest, RejectsBadOptions) {
  auto ignore = [](const v1::JobStatus&) {};
  EXPECT_FALSE(JobRunner::Create({.node = "n1", .work_dir = "/tmp/x"}).ok());
  EXPECT_FALSE(JobRunner::Create({.node = "n1", .on_status = ignore}).ok());
  absl::StatusOr<std::unique_ptr<JobRunner>> bad_pass_env = JobRunner::Create(
      {.node = "n1", .run_commands = false, .pass_env = {"NOT A NAME"}, .on_status = ignore});
  EXPECT_EQ(bad_pass_env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(JobRunner::Create({.node = "n1", .run_commands = false, .on_status = ignore}).ok());
}

// Issue 15: an exit is reaped when the leader's pidfd says so, not at the
// next poll, and jobs launch side by side: with a poll interval of a
// minute, eight `true` jobs all end within seconds, each RUNNING first.
TEST_F(JobRunnerTest, ExitsAreReportedWithoutWaitingForThePoll) {
  absl::StatusOr<std::unique_ptr<JobRunner>> runner = JobRunner::Create({
      .node = "n1",
      .work_dir = dir_ + "/work",
      .poll_interval = absl::Minutes(1),
      .on_status = [this](const v1::JobStatus& s) { recorder_.Add(s); },
  });
  ASSERT_TRUE(runner.ok()) << runner.status();
  runner_ = *std::move(runner);
  const absl::Time start = absl::Now();
  for (int64_t id = 1; id <= 8; ++id) runner_->Start(Job(id, {"true"}));
  for (int64_t id = 1; id <= 8; ++id) {
    ASSERT_TRUE(recorder_.WaitFor(id, v1::SUCCEEDED).ok()) << id;
    EXPECT_THAT(recorder_.States(id), ElementsAre(v1::RUNNING, v1::SUCCEEDED));
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

}  // namespace
}  // namespace berth::agent
