// SchedulerCore on a disk that fails: the test runs with the fault shim
// preloaded (tests/faults/fault_shim.cc; ctest sets LD_PRELOAD and
// BERTH_FAULTS), and arms real EIO and ENOSPC on the database's fsync and
// write calls. For each write path: the caller is never told OK, memory
// stays equal to the file, and writes resume (ENOSPC) or berthd fences
// itself until a restart (EIO).
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "daemon/core_test_fixture.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

class CoreFaultTest : public CoreFixture {
 protected:
  void SetUp() override {
    const char* control = getenv("BERTH_FAULTS");
    ASSERT_NE(control, nullptr) << "run through ctest: BERTH_FAULTS and LD_PRELOAD unset";
    control_ = control;
    Disarm();
    CoreFixture::SetUp();
  }
  void TearDown() override {
    Disarm();
    CoreFixture::TearDown();
  }
  void Arm(const std::string& line) { std::ofstream(control_, std::ios::trunc) << line << "\n"; }
  void Disarm() { std::ofstream(control_, std::ios::trunc); }

  // The job as memory shows it.
  berth::v1::JobState StateOf(int64_t id) {
    absl::StatusOr<Job> job = core_->GetJob(id);
    return job.ok() ? job->state() : berth::v1::JOB_STATE_UNSPECIFIED;
  }

  std::string control_;
};

TEST_F(CoreFaultTest, FullDiskRefusesASubmissionAndWritesResumeWhenSpaceReturns) {
  Register("n1", "h100-80gb", 8);
  Arm("write ENOSPC");
  auto refused = Submit("llama-2-7b");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_TRUE(
      absl::StrContains(refused.status().message(), "berthd could not record the submission"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "disk is full")) << refused.status();
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 0);  // nothing half-made in memory
  EXPECT_EQ(notifier_.starts(), 0);
  EXPECT_FALSE(core_->fenced());
  Disarm();
  auto accepted = Submit("llama-2-7b");  // no restart needed
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->job().state(), berth::v1::PLACED);
}

TEST_F(CoreFaultTest, AJobArrayOnAFullDiskIsRefusedWholeNeverInPart) {
  Register("n1", "h100-80gb", 8);
  std::vector<berth::v1::JobSpec> specs;
  for (int i = 0; i < 20; ++i) {
    specs.push_back(TrainSpec("llama-2-7b", "sweep-" + std::to_string(i)));
    specs.back().set_array_index(i);
  }
  Arm("write ENOSPC");
  auto refused = SubmitBatch(specs);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 0);
  Disarm();
  core_.reset();  // what the file holds, read back from scratch
  Open();
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 0);
  Register("n1", "h100-80gb", 8);
  auto accepted = SubmitBatch(specs);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->results_size(), 20);
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 20);
}

TEST_F(CoreFaultTest, FailedFsyncFailsTheCancelAndFencesTheCore) {
  Register("n1", "h100-80gb", 8);
  auto job = Submit("llama-2-7b");
  ASSERT_TRUE(job.ok()) << job.status();
  const int64_t id = job->job().id();
  Arm("fsync EIO");
  auto cancelled = Cancel(id);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kUnavailable) << cancelled.status();
  EXPECT_TRUE(
      absl::StrContains(cancelled.status().message(), "berthd could not record the cancel: "))
      << cancelled.status();
  EXPECT_TRUE(absl::StrContains(cancelled.status().message(), "disk I/O error"))
      << cancelled.status();
  EXPECT_EQ(StateOf(id), berth::v1::PLACED);  // memory is the file's, not the cancel's
  EXPECT_EQ(notifier_.stops(), 0);            // no agent told to stop it
  EXPECT_TRUE(core_->fenced());
  EXPECT_EQ(fenced_.load(), 1);
  // Fenced: every change refused, even with the disk healthy again; reads work.
  Disarm();
  for (absl::Status s :
       {Cancel(id).status(), Submit("llama-2-7b").status(), SetDrained("n1", true).status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "restart berthd")) << s;
  }
  EXPECT_TRUE(core_->GetJob(id).ok());
  EXPECT_EQ(core_->ListNodes().nodes_size(), 1);
  // A restart re-reads the file and serves again; the job is either still
  // placed or cancelled (the kernel may have written the failed commit),
  // never half of each.
  core_.reset();
  Open();
  EXPECT_FALSE(core_->fenced());
  const berth::v1::JobState after = StateOf(id);
  EXPECT_TRUE(after == berth::v1::PLACED || after == berth::v1::CANCELLED)
      << berth::v1::JobState_Name(after);
  EXPECT_TRUE(Submit("llama-2-7b").ok());
}

TEST_F(CoreFaultTest, FullDiskRefusesADrainAndTheNodeStaysAsItWas) {
  Register("n1", "h100-80gb", 8);
  Arm("write ENOSPC");
  auto drained = SetDrained("n1", true);
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.status().code(), absl::StatusCode::kResourceExhausted) << drained.status();
  EXPECT_TRUE(absl::StrContains(drained.status().message(), "could not record the drain"));
  EXPECT_EQ(Listed("n1").state(), berth::v1::UP);
  EXPECT_FALSE(Listed("n1").drained());
  Disarm();
  auto again = SetDrained("n1", true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), berth::v1::DRAINED);
}

TEST_F(CoreFaultTest, AgentStatusIsAcknowledgedOnlyOnceRecorded) {
  Register("n1", "h100-80gb", 2);
  auto first = Submit("llama-2-7b");  // 2 GPUs: the node is full
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Submit("llama-2-7b");
  ASSERT_TRUE(second.ok()) << second.status();
  const int64_t a = first->job().id(), b = second->job().id();
  ASSERT_EQ(StateOf(b), berth::v1::PENDING);
  const int starts = notifier_.starts(), acks = notifier_.acks();
  // The first job ends while the disk is full: its end and the second
  // job's placement are one commit, and both fail.
  Arm("write ENOSPC");
  Report("n1", a, berth::v1::SUCCEEDED);
  Sync();
  EXPECT_EQ(StateOf(a), berth::v1::PLACED);
  EXPECT_EQ(StateOf(b), berth::v1::PENDING);
  EXPECT_EQ(notifier_.acks(), acks);      // the agent will send it again
  EXPECT_EQ(notifier_.starts(), starts);  // nobody started on GPUs not recorded
  ASSERT_TRUE(core_->CheckInvariants().ok()) << core_->CheckInvariants();
  Disarm();
  Report("n1", a, berth::v1::SUCCEEDED);  // the agent's resend
  Sync();
  EXPECT_EQ(StateOf(a), berth::v1::SUCCEEDED);
  EXPECT_EQ(StateOf(b), berth::v1::PLACED);
  EXPECT_EQ(notifier_.acks(), acks + 1);
  EXPECT_EQ(notifier_.starts(), starts + 1);
}

TEST_F(CoreFaultTest, ALostNodeIsMarkedDownOnlyOnceThatIsRecorded) {
  Register("n1", "h100-80gb", 8);
  auto job = Submit("llama-2-7b");
  ASSERT_TRUE(job.ok()) << job.status();
  Arm("write ENOSPC");
  now_ms_ += 60'000;  // no heartbeat for a minute: far past 3 intervals
  Sync();
  Sync();
  EXPECT_EQ(Listed("n1").state(), berth::v1::UP);  // the file could not say DOWN
  EXPECT_EQ(StateOf(job->job().id()), berth::v1::PLACED);
  Disarm();
  now_ms_ += 2'000;  // the next liveness check
  Sync();
  Sync();
  EXPECT_EQ(Listed("n1").state(), berth::v1::DOWN);
  EXPECT_EQ(StateOf(job->job().id()), berth::v1::PENDING);  // requeued
}

// The first job's end and the second job's placement share one commit
// whose fsync fails: neither is shown, nothing is acknowledged or started,
// the core is fenced; a restart on the file serves again.
TEST_F(CoreFaultTest, FailedFsyncOnAnAgentStatusAndAPlacementFencesTheCore) {
  Register("n1", "h100-80gb", 2);
  auto first = Submit("llama-2-7b");  // 2 GPUs: the node is full
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Submit("llama-2-7b");
  ASSERT_TRUE(second.ok()) << second.status();
  const int64_t a = first->job().id(), b = second->job().id();
  ASSERT_EQ(StateOf(b), berth::v1::PENDING);
  const int starts = notifier_.starts(), acks = notifier_.acks();
  Arm("fsync EIO");
  Report("n1", a, berth::v1::SUCCEEDED);
  Sync();
  EXPECT_TRUE(core_->fenced());
  EXPECT_EQ(fenced_.load(), 1);
  EXPECT_EQ(StateOf(a), berth::v1::PLACED);
  EXPECT_EQ(StateOf(b), berth::v1::PENDING);  // not placed on GPUs not recorded free
  EXPECT_EQ(notifier_.acks(), acks);
  EXPECT_EQ(notifier_.starts(), starts);
  Disarm();
  Report("n1", a, berth::v1::SUCCEEDED);  // the agent's resend: fenced, not recorded
  Sync();
  EXPECT_EQ(StateOf(a), berth::v1::PLACED);
  EXPECT_EQ(notifier_.acks(), acks);
  ASSERT_TRUE(core_->CheckInvariants().ok()) << core_->CheckInvariants();
  core_.reset();  // the restart
  Open();
  EXPECT_FALSE(core_->fenced());
  const berth::v1::JobState after = StateOf(a);
  EXPECT_TRUE(after == berth::v1::PLACED || after == berth::v1::SUCCEEDED)
      << berth::v1::JobState_Name(after);
}

// A node silent for a minute while fsync fails: not shown DOWN, its job not
// requeued, the core fenced; later liveness checks record nothing either.
TEST_F(CoreFaultTest, FailedFsyncWhenANodeGoesDownFencesTheCore) {
  Register("n1", "h100-80gb", 8);
  auto job = Submit("llama-2-7b");
  ASSERT_TRUE(job.ok()) << job.status();
  Arm("fsync EIO");
  now_ms_ += 60'000;
  Sync();
  Sync();
  EXPECT_TRUE(core_->fenced());
  EXPECT_EQ(Listed("n1").state(), berth::v1::UP);
  EXPECT_EQ(StateOf(job->job().id()), berth::v1::PLACED);
  Disarm();
  now_ms_ += 2'000;
  Sync();
  Sync();
  EXPECT_EQ(Listed("n1").state(), berth::v1::UP) << "a fenced core recorded a change";
  EXPECT_EQ(StateOf(job->job().id()), berth::v1::PLACED);
  EXPECT_EQ(fenced_.load(), 1);
}

TEST_F(CoreFaultTest, FailedFsyncOnRegistrationClosesItAndFences) {
  Arm("fsync EIO");
  absl::Status s = TryRegister("n1", "h100-80gb", 8);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(core_->ListNodes().nodes_size(), 0);
  EXPECT_TRUE(core_->fenced());
  Disarm();
}

// Retention on a failing disk: a prune is never answered OK when its
// transaction did not commit, and memory keeps every job the file keeps.
TEST_F(CoreFaultTest, APruneOnAFailingDiskIsRefusedAndMemoryKeepsTheJobs) {
  std::vector<int64_t> rejected;  // no nodes: each is REJECTED, an ended job
  for (int i = 0; i < 4; ++i) {
    auto job = SubmitBatch({TrainSpec("llama-2-7b", "")});
    ASSERT_TRUE(job.ok()) << job.status();
    rejected.push_back(job->results(0).job().id());
  }
  now_ms_ += 1000;
  Arm("write ENOSPC");
  absl::StatusOr<PruneCounts> refused = Prune(/*older_than_ms=*/10);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "could not record the prune"))
      << refused.status();
  for (int64_t id : rejected) EXPECT_TRUE(Lookup(id).ok()) << id;
  EXPECT_FALSE(core_->fenced());
  Disarm();
  absl::StatusOr<PruneCounts> pruned = Prune(10);  // writes resume
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(pruned->jobs, 3);  // all but the newest row

  auto newest = SubmitBatch({TrainSpec("llama-2-7b", "")});
  ASSERT_TRUE(newest.ok());
  now_ms_ += 1000;
  Arm("fsync EIO");
  refused = Prune(10);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(core_->fenced());  // the file must be read again: restart
  Disarm();
}

}  // namespace
}  // namespace berth::daemon
