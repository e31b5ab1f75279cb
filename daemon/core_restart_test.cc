// A restart from a large file (issue 15): thousands of queued jobs, running
// ones, and tens of thousands of ended ones. Everything live comes back as
// it was (the same jobs, the same queue order, the running ones on their
// GPUs); memory holds only the newest ended jobs, the others stay in the
// file and are still found; ids go on after the largest in the file; and a
// retried request id still returns its job.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/core_test_fixture.h"
#include "db/database.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr int kSubmitted = 6000;
constexpr int kEnded = 40000;
constexpr int64_t kKeepEnded = 500;

class CoreRestartTest : public CoreFixture {
 protected:
  void SetUp() override {
    keep_finished_ = kKeepEnded;
    CoreFixture::SetUp();
  }

  // The ids ListJobs shows in `states`, newest first, page by page.
  std::vector<int64_t> Listed(std::vector<berth::v1::JobState> states) {
    std::vector<int64_t> ids;
    berth::v1::ListJobsRequest request;
    for (berth::v1::JobState state : states) request.add_states(state);
    request.set_limit(10000);
    for (int page = 0; page < 100; ++page) {
      const berth::v1::ListJobsResponse response = core_->ListJobs(request);
      for (const Job& job : response.jobs()) ids.push_back(job.id());
      if (response.next_before_id() == 0) break;
      request.set_before_id(response.next_before_id());
    }
    return ids;
  }

  void RegisterNodes(const std::vector<int64_t>& running) {
    // Each agent reports the jobs it runs; the core keeps those on it.
    Register("n1", "h100-80gb", 8, running);
    Register("n2", "h100-80gb", 8, running);
  }
};

TEST_F(CoreRestartTest, ALargeFileComesBackWholeWithEndedJobsBounded) {
  RegisterNodes({});
  for (int batch = 0; batch < kSubmitted / 1000; ++batch) {
    std::vector<berth::v1::JobSpec> specs;
    for (int i = 0; i < 1000; ++i) {
      specs.push_back(TrainSpec("llama-2-7b", absl::StrCat("r-", batch * 1000 + i)));
    }
    auto answer = SubmitBatch(specs);
    ASSERT_TRUE(answer.ok()) << answer.status();
  }
  Sync();
  const std::vector<int64_t> running = Listed({berth::v1::PLACED, berth::v1::RUNNING});
  const std::vector<int64_t> pending = Listed({berth::v1::PENDING});
  ASSERT_FALSE(running.empty());
  ASSERT_EQ(running.size() + pending.size(), static_cast<size_t>(kSubmitted));
  core_.reset();

  // Ended jobs appended to the file: copies of the first queued job's row.
  {
    auto db = db::Database::Open(dir_ + "/berth.db");
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE(
        (*db)
            ->Exec(absl::StrCat(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ", kEnded,
                ") INSERT INTO jobs (team, name, priority, state, gpu_type, spec, plan,"
                " submit_time_ms, start_time_ms, end_time_ms)"
                " SELECT team, name, priority, 4, gpu_type, spec, plan, submit_time_ms,"
                " submit_time_ms, submit_time_ms + 1000 FROM jobs, n"
                " WHERE jobs.id = (SELECT MIN(id) FROM jobs WHERE state = 1)"))
            .ok());
  }
  const int64_t last_id = kSubmitted + kEnded;
  // The start reads the live jobs and only the newest ended ones.
  {
    auto store =
        db::Store::Open(dir_ + "/berth.db", db::StoreOptions{.recent_terminal_jobs = kKeepEnded});
    ASSERT_TRUE(store.ok()) << store.status();
    auto snapshot = (*store)->LoadAll();
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    EXPECT_EQ(snapshot->jobs.size(), static_cast<size_t>(kSubmitted + kKeepEnded));
    EXPECT_EQ(snapshot->next_job_id, last_id + 1);
  }

  Open();
  RegisterNodes(running);
  Sync();
  // The live jobs, as they were (ListJobs lists newest first: the queue
  // order reversed, so the same list means the same order).
  EXPECT_EQ(Listed({berth::v1::PLACED, berth::v1::RUNNING}), running);
  EXPECT_EQ(Listed({berth::v1::PENDING}), pending);
  // Only the newest ended jobs in memory.
  const std::vector<int64_t> ended = Listed({berth::v1::SUCCEEDED});
  ASSERT_EQ(ended.size(), static_cast<size_t>(kKeepEnded));
  EXPECT_EQ(ended.front(), last_id);
  EXPECT_EQ(ended.back(), last_id - kKeepEnded + 1);
  // The oldest ended job is still in the file.
  auto oldest = Lookup(kSubmitted + 1);
  ASSERT_TRUE(oldest.ok()) << oldest.status();
  EXPECT_EQ(oldest->state(), berth::v1::SUCCEEDED);
  // A retry of a request id from before the restart returns its job.
  auto retried = SubmitSpec(TrainSpec("llama-2-7b", "r-0"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->job().id(), 1);
  // A new job takes the next id after the file's largest.
  auto fresh = SubmitSpec(TrainSpec("llama-2-7b", "after-restart"));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->job().id(), last_id + 1);
  EXPECT_EQ(fresh->job().state(), berth::v1::PENDING);  // behind the queue
  // The queue moves in its order: when the running jobs end, the oldest
  // queued jobs are placed.
  for (int64_t id : running) {
    auto job = Lookup(id);
    ASSERT_TRUE(job.ok() && job->gpus_size() > 0) << job.status();
    Report(job->gpus(0).node(), id, berth::v1::SUCCEEDED);
  }
  Sync();
  const std::vector<int64_t> placed = Listed({berth::v1::PLACED, berth::v1::RUNNING});
  ASSERT_EQ(placed.size(), running.size());
  EXPECT_EQ(placed, std::vector<int64_t>(pending.end() - static_cast<ptrdiff_t>(placed.size()),
                                         pending.end()));
}

}  // namespace
}  // namespace berth::daemon
