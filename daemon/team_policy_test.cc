#include "daemon/team_policy.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "daemon/queue_policy.h"
#include "daemon/teams_config.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr char kH100[] = "h100-80gb";
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kNow = 1'000'000;

TeamSpec Team(std::string name, int64_t nominal, std::optional<int64_t> borrowing = std::nullopt,
              std::optional<int64_t> lending = std::nullopt, std::string parent = "",
              double weight = 1.0) {
  return TeamSpec{.name = std::move(name),
                  .parent = std::move(parent),
                  .weight = weight,
                  .quota = {{kH100, TeamQuota{.nominal = nominal,
                                              .borrowing_limit = borrowing,
                                              .lending_limit = lending}}}};
}

TeamsConfig Config(std::vector<TeamSpec> teams) {
  return TeamsConfig{.half_life_ms = kHour, .teams = std::move(teams)};
}

const std::map<std::string, int64_t> kCapacity16 = {{kH100, 16}};

TEST(DecayUsageTest, HalvesEveryHalfLife) {
  // 4 GPUs held for one half-life from nothing: 4·H/ln2·(1 - 1/2), which is
  // an average of 2 GPUs (u·ln2/H); one more half-life idle halves it to 1.
  DecayedUsage usage{.as_of_ms = 0};
  usage = DecayUsage(usage, {{"a", {{kH100, 4}}}}, kHour, kHour);
  EXPECT_EQ(usage.as_of_ms, kHour);
  EXPECT_NEAR(usage.gpu_ms["a"][kH100] * std::log(2.0) / kHour, 2.0, 1e-9);
  usage = DecayUsage(usage, {}, 2 * kHour, kHour);
  EXPECT_NEAR(usage.gpu_ms["a"][kH100] * std::log(2.0) / kHour, 1.0, 1e-9);
  // Held for ever (40 half-lives), the average tends to what is held.
  usage = DecayUsage(usage, {{"a", {{kH100, 4}}}}, 42 * kHour, kHour);
  EXPECT_NEAR(usage.gpu_ms["a"][kH100] * std::log(2.0) / kHour, 4.0, 1e-6);
  // A clock that goes back changes nothing.
  const double before = usage.gpu_ms["a"][kH100];
  usage = DecayUsage(usage, {{"a", {{kH100, 4}}}}, kHour, kHour);
  EXPECT_EQ(usage.gpu_ms["a"][kH100], before);
}

TEST(TeamLedgerTest, BorrowsOnlyWhatOthersLend) {
  // a: nominal 8, uses 8. b: nominal 8, idle, lends at most 2. Capacity 16
  // = 8 + 8, so nothing is unowned. a may borrow 2 more, not 3.
  const TeamsConfig config = Config({Team("a", 8), Team("b", 8, std::nullopt, 2)});
  TeamLedger ledger(config, {{"a", {{kH100, 8}}}}, kCapacity16, {});
  EXPECT_EQ(ledger.LendingBalance(kH100), 2);  // lendable 2 + unowned 0 - borrowed 0
  EXPECT_EQ(ledger.Refusal("a", kH100, 2), std::nullopt);
  const std::optional<std::string> why = ledger.Refusal("a", kH100, 3);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why,
            "team a would borrow 3 more h100-80gb beyond its nominal 8, and other teams "
            "lend 2 now");
  // b's own nominal is guaranteed whatever a borrows.
  ledger.Take("a", kH100, 2);
  EXPECT_EQ(ledger.Borrowed("a", kH100), 2);
  EXPECT_EQ(ledger.Refusal("b", kH100, 8), std::nullopt);
  ledger.Take("b", kH100, 8);
  EXPECT_EQ(ledger.LendingBalance(kH100), -2);  // a holds 2 that b now wants back
}

TEST(TeamLedgerTest, UnownedCapacityIsLentToAnyone) {
  // Capacity 16, nominals 4 + 4: 8 GPUs are nobody's. a uses 4 and may
  // borrow 8 (unowned) + 4 (b idle, lends all) = 12.
  const TeamsConfig config = Config({Team("a", 4), Team("b", 4)});
  TeamLedger ledger(config, {{"a", {{kH100, 4}}}}, kCapacity16, {});
  EXPECT_EQ(ledger.Refusal("a", kH100, 12), std::nullopt);
  EXPECT_TRUE(ledger.Refusal("a", kH100, 13).has_value());
  // A team the file does not name borrows from the same pool.
  EXPECT_EQ(ledger.Refusal("stranger", kH100, 12), std::nullopt);
  EXPECT_TRUE(ledger.Refusal("stranger", kH100, 13).has_value());
}

TEST(TeamLedgerTest, BorrowingLimitBoundsTheTeam) {
  // a: nominal 8 + borrowing limit 4 = reach 12; b lends all 8.
  const TeamsConfig config = Config({Team("a", 8, 4), Team("b", 8)});
  TeamLedger ledger(config, {{"a", {{kH100, 8}}}}, kCapacity16, {});
  EXPECT_EQ(ledger.Reach("a", kH100), 12);
  EXPECT_EQ(ledger.Reach("b", kH100), std::nullopt);  // no borrowing limit
  EXPECT_EQ(ledger.Refusal("a", kH100, 4), std::nullopt);
  EXPECT_EQ(ledger.Refusal("a", kH100, 5),
            "team a may use at most 12 h100-80gb (nominal 8 + borrowing limit 4); it uses 8 "
            "and this job needs 5");
}

TEST(TeamLedgerTest, ParentBoundsItsChildren) {
  // ml (nominal 8, no borrowing) has r1 and r2 (nominal 4 each); p has 8.
  // ml's own nominal is 8 - 4 - 4 = 0. r1 may borrow r2's idle 4, but the
  // subtree may never pass 8 even though p lends.
  const TeamsConfig config =
      Config({Team("ml", 8, 0), Team("r1", 4, std::nullopt, std::nullopt, "ml"),
              Team("r2", 4, std::nullopt, std::nullopt, "ml"), Team("p", 8)});
  TeamLedger ledger(config, {{"r1", {{kH100, 4}}}}, kCapacity16, {});
  EXPECT_EQ(ledger.Own("ml", kH100), 0);
  EXPECT_EQ(ledger.Reach("r1", kH100), 8);  // 8 - r2's 0
  EXPECT_EQ(ledger.Refusal("r1", kH100, 4), std::nullopt);
  ledger.Take("r2", kH100, 4);
  EXPECT_EQ(ledger.Reach("r1", kH100), 4);
  EXPECT_EQ(ledger.Refusal("r1", kH100, 1),
            "team ml (a parent) may use at most 8 h100-80gb (nominal 8 + borrowing limit 0); "
            "it uses 8 and this job needs 1");
  EXPECT_EQ(ledger.Refusal("p", kH100, 8), std::nullopt);
  ledger.Give("r2", kH100, 4);
  EXPECT_EQ(ledger.Refusal("r1", kH100, 1), std::nullopt);
}

TEST(TeamLedgerTest, NeverFitsBeyondReachOrWhatOthersMayLend) {
  // a: 8 + borrowing limit 8 = 16. c: nominal 4, may borrow all that a
  // (lends at most 2) and b (lends all 4) lend: 4 + 2 + 4 = 10 of 16 (no
  // unowned: 8 + 4 + 4 = 16).
  const TeamsConfig config = Config({Team("a", 8, 8, 2), Team("b", 4), Team("c", 4)});
  EXPECT_EQ(NeverFits(config, "a", kH100, 16, kCapacity16), std::nullopt);
  EXPECT_TRUE(NeverFits(config, "a", kH100, 17, kCapacity16).has_value());
  EXPECT_EQ(NeverFits(config, "c", kH100, 10, kCapacity16), std::nullopt);
  EXPECT_EQ(NeverFits(config, "c", kH100, 11, kCapacity16),
            "team c would borrow 7 more h100-80gb beyond its nominal 4, and other teams lend 6 "
            "now");
}

TEST(TeamCeilingTest, BindingBoundWithItsTermsAndExactlyWhereNeverFitsRefuses) {
  // Same teams as above: a's ceiling is its 8 + 8; c's is its own 4 plus
  // the 2 a lends and b's 4: 10. ml (nominal 12, borrowing limit 2) bounds
  // its child r (nominal 4, no limit) at 14 although a, b and the 4
  // unowned (32 - 28) would lend more: 4 + 2 + 4 + 8 (ml's own) + 4 = 22.
  const std::map<std::string, int64_t> capacity = {{kH100, 32}};
  const TeamsConfig config =
      Config({Team("a", 8, 8, 2), Team("b", 4), Team("c", 4), Team("ml", 12, 2),
              Team("r", 4, std::nullopt, std::nullopt, "ml")});
  const TeamCeiling a = TeamCeiling::Of(config, "a", kH100, capacity);
  EXPECT_EQ(a.gpus, 16);
  EXPECT_EQ(a.why, "nominal 8 + borrowing limit 8");
  const TeamCeiling r = TeamCeiling::Of(config, "r", kH100, capacity);
  EXPECT_EQ(r.gpus, 14);
  EXPECT_EQ(r.why, "its parent ml's nominal 12 + borrowing limit 2");
  const TeamsConfig three = Config({Team("a", 8, 8, 2), Team("b", 4), Team("c", 4)});
  const TeamCeiling c = TeamCeiling::Of(three, "c", kH100, kCapacity16);
  EXPECT_EQ(c.gpus, 10);
  EXPECT_EQ(c.why, "its nominal 4 + 6 that other teams may lend or no team is promised");
  for (const TeamsConfig* teams : {&config, &three}) {
    const std::map<std::string, int64_t>& cap = teams == &config ? capacity : kCapacity16;
    for (const TeamSpec& team : teams->teams) {
      const int64_t ceiling = TeamCeiling::Of(*teams, team.name, kH100, cap).gpus;
      for (int64_t g = 1; g <= 40; ++g) {
        EXPECT_EQ(NeverFits(*teams, team.name, kH100, g, cap).has_value(), g > ceiling)
            << team.name << " " << g;
      }
    }
  }
}

TEST(TeamQueueTest, TeamsBelowNominalFirstThenFairShare) {
  // a is at its nominal 8, so its job would borrow (tier 1); b is idle
  // (tier 0) and goes first although a's job has the higher priority.
  const TeamsConfig config = Config({Team("a", 8), Team("b", 8)});
  TeamLedger ledger(config, {{"a", {{kH100, 8}}}}, kCapacity16, {});
  TeamQueue queue({{.index = 0, .team = "a", .gpu_type = kH100, .gpus = 4, .priority = 9, .id = 1},
                   {.index = 1, .team = "b", .gpu_type = kH100, .gpus = 4, .id = 2},
                   {.index = 2, .team = "b", .gpu_type = kH100, .gpus = 8, .id = 3}});
  EXPECT_EQ(queue.Next(ledger)->id, 2);
  ledger.Take("b", kH100, 4);
  // b's next job (8) no longer fits in its nominal: both are tier 1, and
  // b's share (4/16) is below a's (8/16).
  EXPECT_EQ(queue.Next(ledger)->id, 3);
  EXPECT_EQ(queue.Next(ledger)->id, 1);
  EXPECT_FALSE(queue.Next(ledger).has_value());
}

TEST(TeamQueueTest, WeightedDecayedShareOrdersTeams) {
  // No quotas: every job is tier 1. a averaged 4 GPUs (of 16) with weight
  // 4: share 0.25/4 = 0.0625; b averaged 2 with weight 1: 0.125. a first.
  TeamsConfig config = Config({Team("a", 0, std::nullopt, std::nullopt, "", 4.0), Team("b", 0)});
  DecayedUsage usage{.as_of_ms = kNow};
  usage.gpu_ms["a"][kH100] = 4.0 * kHour / std::log(2.0);
  usage.gpu_ms["b"][kH100] = 2.0 * kHour / std::log(2.0);
  TeamLedger ledger(config, {}, kCapacity16, usage);
  EXPECT_NEAR(ledger.WeightedShare("a"), 0.0625, 1e-9);
  EXPECT_NEAR(ledger.WeightedShare("b"), 0.125, 1e-9);
  TeamQueue queue({{.index = 0, .team = "b", .gpu_type = kH100, .gpus = 1, .id = 1},
                   {.index = 1, .team = "a", .gpu_type = kH100, .gpus = 1, .id = 2}});
  EXPECT_EQ(queue.Next(ledger)->id, 2);
  // With weight 1, a (0.25) would come after b.
  config.teams[0].weight = 1.0;
  TeamLedger unweighted(config, {}, kCapacity16, usage);
  TeamQueue again({{.index = 0, .team = "b", .gpu_type = kH100, .gpus = 1, .id = 1},
                   {.index = 1, .team = "a", .gpu_type = kH100, .gpus = 1, .id = 2}});
  EXPECT_EQ(again.Next(unweighted)->id, 1);
}

// The pass with teams: two nodes of 8; a holds node n1.
std::vector<NodeView> HalfBusy() {
  return {
      NodeView{.name = "n1", .gpu_type = kH100, .free_gpus = {}, .total_gpus = 8},
      NodeView{
          .name = "n2", .gpu_type = kH100, .free_gpus = {0, 1, 2, 3, 4, 5, 6, 7}, .total_gpus = 8}};
}

PendingJob Pending(int64_t id, std::string team, int64_t gpus, int32_t priority, int64_t submit) {
  return PendingJob{.id = id,
                    .priority = priority,
                    .submit_time_ms = submit,
                    .gpu_type = kH100,
                    .shape = GangShape{.tp = gpus},
                    .team = std::move(team)};
}

const std::vector<RunningJob> kAHoldsN1 = {
    {.id = 100, .gpu_type = kH100, .gpus = 8, .team = "a", .start_ms = 0}};

TEST(TeamPassTest, TeamUnderNominalGoesAheadOfABorrower) {
  const TeamsConfig config = Config({Team("a", 8), Team("b", 8)});
  const std::vector<PendingJob> pending = {Pending(1, "a", 8, 10, 1), Pending(2, "b", 8, 0, 2)};
  // Without teams: a's job has the higher priority and takes n2.
  PassResult plain = SchedulePass(pending, kAHoldsN1, HalfBusy(), kNow);
  ASSERT_EQ(plain.placed.size(), 1u);
  EXPECT_EQ(plain.placed[0].job_id, 1);
  // With teams: b is under its nominal and goes first; a's job would now
  // borrow b's GPUs, which b holds, so nobody lends: it waits on quota.
  PassResult teams = SchedulePass(pending, kAHoldsN1, HalfBusy(), kNow, {.config = &config});
  ASSERT_EQ(teams.placed.size(), 1u);
  EXPECT_EQ(teams.placed[0].job_id, 2);
  ASSERT_EQ(teams.waiting.size(), 1u);
  EXPECT_EQ(teams.waiting[0].job_id, 1);
  EXPECT_EQ(teams.waiting[0].position, 2);
  EXPECT_EQ(teams.waiting[0].reason, WaitReason::kTeamQuota);
  EXPECT_EQ(teams.waiting[0].note,
            "team a would borrow 8 more h100-80gb beyond its nominal 8, and other teams lend "
            "0 now");
}

TEST(TeamPassTest, IdleQuotaIsLentWithinTheLendingLimit) {
  // b is idle. a borrows b's idle GPUs: all 8 when b lends all, none of an
  // 8-GPU gang when b lends at most 4 (a 4-GPU job then fits).
  const std::vector<PendingJob> pending = {Pending(1, "a", 8, 0, 1)};
  const TeamsConfig lends_all = Config({Team("a", 8), Team("b", 8)});
  EXPECT_EQ(
      SchedulePass(pending, kAHoldsN1, HalfBusy(), kNow, {.config = &lends_all}).placed.size(), 1u);
  const TeamsConfig lends_4 = Config({Team("a", 8), Team("b", 8, std::nullopt, 4)});
  PassResult held = SchedulePass(pending, kAHoldsN1, HalfBusy(), kNow, {.config = &lends_4});
  EXPECT_TRUE(held.placed.empty());
  ASSERT_EQ(held.waiting.size(), 1u);
  EXPECT_EQ(held.waiting[0].reason, WaitReason::kTeamQuota);
  const std::vector<PendingJob> small = {Pending(1, "a", 4, 0, 1), Pending(2, "a", 4, 0, 2)};
  PassResult one = SchedulePass(small, kAHoldsN1, HalfBusy(), kNow, {.config = &lends_4});
  ASSERT_EQ(one.placed.size(), 1u);
  EXPECT_EQ(one.placed[0].job_id, 1);
  EXPECT_EQ(one.waiting[0].reason, WaitReason::kTeamQuota);
}

TEST(TeamPassTest, QuotaWaitersNeverBlockOthersAsHead) {
  // a's 8-GPU job is held by quota (borrowing limit 0); it must not become
  // the pool's blocked head, so b's 4-GPU job starts without backfill.
  const TeamsConfig config = Config({Team("a", 8, 0), Team("b", 8)});
  const std::vector<PendingJob> pending = {Pending(1, "a", 8, 9, 1), Pending(2, "b", 4, 0, 2)};
  PassResult result = SchedulePass(pending, kAHoldsN1, HalfBusy(), kNow, {.config = &config});
  ASSERT_EQ(result.placed.size(), 1u);
  EXPECT_EQ(result.placed[0].job_id, 2);
  EXPECT_FALSE(result.placed[0].backfilled);
}

// The ledger keeps the lending balance between changes: after any run of
// Take and Give it answers as a ledger built afresh on the same holdings,
// for the balance and for every refusal (a parent with a limit, lenders
// with limits, a team the file does not name).
TEST(TeamLedgerTest, KeptBalanceAnswersAsAFreshLedger) {
  const TeamsConfig config = Config({Team("org", 24, 8), Team("a", 8, 4, std::nullopt, "org"),
                                     Team("b", 8, std::nullopt, 2, "org"),
                                     Team("c", 6, std::nullopt, 3), Team("d", 0, 6)});
  const std::map<std::string, int64_t> capacity = {{kH100, 40}};
  const std::vector<std::string> names = {"org", "a", "b", "c", "d", "stranger"};
  std::mt19937 rng(7);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  TeamGpus held;
  TeamLedger kept(config, held, capacity, {});
  for (int step = 0; step < 2000; ++step) {
    const std::string& team = names[pick(0, static_cast<int>(names.size()) - 1)];
    const int64_t gpus = pick(1, 6);
    if (pick(0, 2) != 0 || held[team][kH100] < gpus) {
      kept.Take(team, kH100, gpus);
      held[team][kH100] += gpus;
    } else {
      kept.Give(team, kH100, gpus);
      held[team][kH100] -= gpus;
    }
    const TeamLedger fresh(config, held, capacity, {});
    ASSERT_EQ(kept.LendingBalance(kH100), fresh.LendingBalance(kH100)) << "step " << step;
    for (const std::string& asker : names) {
      const int64_t want = pick(1, 10);
      ASSERT_EQ(kept.Refusal(asker, kH100, want), fresh.Refusal(asker, kH100, want))
          << "step " << step << " team " << asker << " gpus " << want;
    }
  }
}

}  // namespace
}  // namespace berth::daemon
