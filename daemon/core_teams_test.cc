// SchedulerCore with a teams file (CoreOptions::teams): submissions must
// name a team of the file, and the pass applies the teams' quotas.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "daemon/core_test_fixture.h"
#include "daemon/scheduler_core.h"
#include "daemon/teams_config.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

class CoreTeamsTest : public CoreFixture {
 protected:
  // Reopens the core on the same database with `yaml` as its teams file.
  void OpenWithTeams(const std::string& yaml) {
    absl::StatusOr<TeamsConfig> teams = ParseTeamsYaml(yaml, "teams.yaml");
    ASSERT_TRUE(teams.ok()) << teams.status();
    core_.reset();
    auto store = db::Store::Open(dir_ + "/berth.db");
    ASSERT_TRUE(store.ok()) << store.status();
    auto core = SchedulerCore::Create(
        *std::move(store),
        CoreOptions{.now_ms = [this] { return now_ms_.load(); },
                    .metrics = &metrics_,
                    .teams = std::make_shared<const TeamsConfig>(*std::move(teams))});
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
    core_->SetNotifier(&notifier_);
  }
};

TEST_F(CoreTeamsTest, AJobOfATeamNotInTheFileIsRefusedWithTheTeams) {
  OpenWithTeams("teams:\n  - name: prod\n  - name: research\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");  // the fixture's team is "t"
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "team \"t\" is not in the teams file; teams: prod, research");
}

TEST_F(CoreTeamsTest, AJobOfAKnownTeamIsPlaced) {
  OpenWithTeams("teams:\n  - name: t\n    quota:\n      h100-80gb: {nominal: 8}\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->job().state(), berth::v1::PLACED);
}

TEST_F(CoreTeamsTest, QuotaHoldsAJobAndExplainSaysSo) {
  // t may use no h100s at all (nominal 0, borrowing limit 0).
  OpenWithTeams(
      "teams:\n  - name: t\n    quota:\n      h100-80gb: {nominal: 0, borrowing_limit: 0}\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->job().state(), berth::v1::PENDING);
  auto explained = core_->Explain(r->job().id());
  ASSERT_TRUE(explained.ok()) << explained.status();
  EXPECT_TRUE(absl::StrContains(explained->DebugString(), "may use at most 0 h100-80gb"))
      << explained->DebugString();
}

}  // namespace
}  // namespace berth::daemon
