// The core against jobs no channel could carry (issue 18, finding 1): a job
// stored before specs were bounded is failed with a reason when placed,
// never sent to its node again and again.
#include <string>

#include "absl/strings/match.h"
#include "daemon/core_test_fixture.h"
#include "db/database.h"

namespace berth::daemon {
namespace {

class CoreLimitsTest : public CoreFixture {};

TEST_F(CoreLimitsTest, AJobTooLargeForAnyStartJobFailsInsteadOfLooping) {
  Register("n1", "h100-80gb", 8);
  auto holder = Submit("llama-2-13b");  // takes the node
  ASSERT_TRUE(holder.ok()) << holder.status();
  int64_t pending = 0;
  for (int i = 0; i < 4 && pending == 0; ++i) {
    auto next = Submit("llama-2-13b");
    ASSERT_TRUE(next.ok()) << next.status();
    if (next->job().state() == berth::v1::PENDING) pending = next->job().id();
  }
  ASSERT_NE(pending, 0);
  // As an older berthd could have stored it: a 17 MiB spec.
  core_.reset();
  {
    auto db = db::Database::Open(dir_ + "/berth.db");
    ASSERT_TRUE(db.ok()) << db.status();
    berth::v1::JobSpec spec = holder->job().spec();
    (*spec.mutable_env())["BLOB"] = std::string(17 << 20, 'x');
    auto update = (*db)->Prepare("UPDATE jobs SET spec = ? WHERE id = ?");
    ASSERT_TRUE(update.ok()) << update.status();
    update->BindBlob(1, spec.SerializeAsString()).BindInt64(2, pending);
    ASSERT_TRUE(update->Run().ok());
  }
  Open();
  Register("n1", "h100-80gb", 8, /*running=*/{holder->job().id()});
  // The registration's reply comes before its StartJobs (to placed jobs the
  // node did not report) are handed to the notifier: count after them.
  Sync();
  const int starts_before = notifier_.starts();
  Report("n1", holder->job().id(), berth::v1::SUCCEEDED);  // the node frees up
  ASSERT_TRUE(Eventually([&] {
    auto job = core_->GetJob(pending);
    return job.ok() && job->state() == berth::v1::FAILED;
  }));
  const auto job = core_->GetJob(pending);
  EXPECT_TRUE(absl::StrContains(job->reason(), "StartJob would be")) << job->reason();
  EXPECT_TRUE(absl::StrContains(job->reason(), "256 KiB")) << job->reason();
  Sync();
  EXPECT_EQ(notifier_.starts(), starts_before);  // nothing was sent for it
  EXPECT_EQ(job->gpus_size(), 0);
}

}  // namespace
}  // namespace berth::daemon
