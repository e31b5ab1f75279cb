// SchedulerCore preempting with teams (core_reclaim.cc): team a borrows
// team b's idle GPUs; b submits; a's job is stopped with its grace, keeps
// its GPUs until the node confirms, goes back to PENDING with the same id
// and submit time, and b's job takes its GPUs, which nobody else may.
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/convert.h"
#include "daemon/core_test_fixture.h"
#include "daemon/scheduler_core.h"
#include "daemon/teams_config.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

// b is promised all 8 GPUs; a is promised none and borrows what b leaves
// idle. min_runtime 10 minutes, grace 2 minutes.
constexpr char kTeams[] = R"(preemption: {min_runtime: 10m, grace: 2m}
teams:
  - name: a
    quota:
      h100-80gb: {nominal: 0}
  - name: b
    quota:
      h100-80gb: {nominal: 8}
)";

class CorePreemptionTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    OpenWithTeams();
  }

  // Reopens the core on the same database with `yaml` as its teams file,
  // after storing `usage` as the teams' fair-share history.
  void OpenWithTeams(const char* yaml = kTeams, const db::TeamUsage& usage = {}) {
    absl::StatusOr<TeamsConfig> teams = ParseTeamsYaml(yaml, "teams.yaml");
    ASSERT_TRUE(teams.ok()) << teams.status();
    core_.reset();
    auto store = db::Store::Open(dir_ + "/berth.db");
    ASSERT_TRUE(store.ok()) << store.status();
    if (!usage.rows.empty()) ASSERT_TRUE((*store)->SaveTeamUsage(usage).ok());
    auto core = SchedulerCore::Create(
        *std::move(store),
        // The fake clock jumps past min_runtime: nodes never miss heartbeats.
        CoreOptions{.missed_heartbeats = 1'000'000,
                    .now_ms = [this] { return now_ms_.load(); },
                    .metrics = &metrics_,
                    .teams = std::make_shared<const TeamsConfig>(*std::move(teams))});
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
    core_->SetNotifier(&notifier_);
  }

  berth::v1::JobSpec Spec(const std::string& team) {
    berth::v1::JobSpec spec;
    spec.set_task("train");
    spec.set_team(team);
    spec.mutable_model()->set_catalog_name("llama-2-7b");
    spec.set_max_runtime_seconds(86400);
    return spec;
  }

  // Fills the 8 GPUs of n1 with team a's jobs (each needs gpus_ of them),
  // all RUNNING from now on; `spec` is their spec (team a).
  void FillWithTeamA(const berth::v1::JobSpec& spec) {
    Register("n1", "h100-80gb", 8);
    auto first = SubmitSpec(spec);
    ASSERT_TRUE(first.ok()) << first.status();
    gpus_ = first->job().plan().gpus();
    ASSERT_GT(gpus_, 0);
    ASSERT_EQ(8 % gpus_, 0) << "the test needs jobs that tile 8 GPUs";
    a_jobs_.push_back(first->job().id());
    while (static_cast<int>(a_jobs_.size()) * gpus_ < 8) {
      auto more = SubmitSpec(spec);
      ASSERT_TRUE(more.ok()) << more.status();
      a_jobs_.push_back(more->job().id());
    }
    for (int64_t id : a_jobs_) {
      ASSERT_EQ(Lookup(id)->state(), berth::v1::PLACED);  // a borrows all 8
      Report("n1", id, berth::v1::RUNNING);
    }
    Sync();
  }

  int64_t SubmitB() {
    auto b = SubmitSpec(Spec("b"));
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? b->job().id() : 0;
  }

  // Moves the clock past min_runtime and waits for a pass to see it.
  void PassMinRuntime() {
    now_ms_ += 11 * 60 * 1000;
    Sync();
    Sync();  // the round after the clock moved has run its pass
  }

  std::string Events(int64_t id) {
    absl::Notification done;
    std::string text;
    core_->ListEvents(db::EventQuery{.job_id = id}, [&](absl::StatusOr<std::vector<db::Event>> e) {
      if (e.ok()) {
        for (const db::Event& event : *e)
          absl::StrAppend(&text, event.kind, ": ", event.message, "\n");
      }
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return text;
  }

  int gpus_ = 0;
  std::vector<int64_t> a_jobs_;
};

// With nothing that could be preempted the team pass is the indexed one;
// once a job of a team within its nominal waits while another team
// borrows, berthd runs the full pass and reclaim after it
// (team_indexed_pass.h), even before min_runtime lets reclaim act.
TEST_F(CorePreemptionTest, TheFullPassRunsOnlyWhenAPreemptionMayBeDue) {
  ASSERT_NO_FATAL_FAILURE(FillWithTeamA(Spec("a")));
  EXPECT_GT(metrics_.team_passes_indexed.Value(), 0);
  EXPECT_EQ(metrics_.team_passes_full.Value(), 0);  // a borrows, but nobody is owed GPUs
  const int64_t b = SubmitB();
  ASSERT_NE(b, 0);
  Sync();
  EXPECT_EQ(Lookup(b)->state(), berth::v1::PENDING);
  EXPECT_GT(metrics_.team_passes_full.Value(), 0);
}

// A team that places a job in the pass is not taken for a borrower by the
// reclaim after it. a (nominal 4) holds 2 GPUs and, in the same round as b
// (nominal 2) submits a 2-GPU job, places 2 more: exactly its nominal. c
// (nominal 0) borrows 4. b's job must take c's GPUs. Reclaim used to count
// a's new job twice (as running, and as placed by the pass), saw a
// borrowing 2, and preempted a's older job, which had lost less work.
TEST_F(CorePreemptionTest, ATeamThatJustPlacedAJobWithinItsNominalIsNoVictim) {
  constexpr char kNominals[] = R"(preemption: {min_runtime: 10m, grace: 2m}
teams:
  - {name: a, quota: {h100-80gb: {nominal: 4}}}
  - {name: b, quota: {h100-80gb: {nominal: 2}}}
  - {name: c, quota: {h100-80gb: {nominal: 0}}}
)";
  // b's history puts it after a in the team order (docs/TEAMS.md): 8 GPUs
  // held on average over the default half-life of 7 days.
  const double half_life_ms = 7.0 * 24 * 3600 * 1000;
  ASSERT_NO_FATAL_FAILURE(OpenWithTeams(
      kNominals,
      db::TeamUsage{.as_of_ms = now_ms_.load(),
                    .rows = {{.team = "b",
                              .gpu_type = "h100-80gb",
                              .gpu_ms = static_cast<int64_t>(8 * half_life_ms / std::log(2.0))}}}));
  Register("n1", "h100-80gb", 8);
  auto sized = [&](const std::string& team, int tp) {
    berth::v1::JobSpec spec = Spec(team);
    spec.set_task("infer");
    spec.mutable_model()->set_catalog_name("llama-3-8b");
    spec.mutable_split()->set_tp(tp);
    spec.mutable_split()->set_pp(1);
    spec.mutable_split()->set_dp(1);
    return spec;
  };
  auto c0 = SubmitSpec(sized("c", 4));
  ASSERT_TRUE(c0.ok()) << c0.status();
  auto a0 = SubmitSpec(sized("a", 2));
  ASSERT_TRUE(a0.ok()) << a0.status();
  for (const auto* r : {&*c0, &*a0}) {
    ASSERT_EQ(Lookup(r->job().id())->state(), berth::v1::PLACED) << r->job().reason();
    Report("n1", r->job().id(), berth::v1::RUNNING);
  }
  Sync();  // RUNNING from now: the clock moves next
  PassMinRuntime();
  auto both = SubmitBatch({sized("a", 2), sized("b", 2)});
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_EQ(both->results_size(), 2);
  const int64_t a1 = both->results(0).job().id();
  const int64_t b1 = both->results(1).job().id();
  Sync();
  EXPECT_EQ(Lookup(a1)->state(), berth::v1::PLACED);  // a went first, to its nominal
  EXPECT_EQ(Lookup(b1)->state(), berth::v1::PENDING);
  EXPECT_EQ(Lookup(c0->job().id())->preempted_by(), b1) << "c borrows: its job makes room";
  EXPECT_EQ(Lookup(a0->job().id())->preempted_by(), 0) << "a is within its nominal";
}

TEST_F(CorePreemptionTest, BorrowedJobIsStoppedRequeuedAndTheOwnerTakesItsGpus) {
  FillWithTeamA(Spec("a"));
  const int stops_before = notifier_.stops();
  const int64_t b = SubmitB();
  // Too early: a's jobs have run less than min_runtime, so b waits.
  Sync();
  EXPECT_EQ(Lookup(b)->state(), berth::v1::PENDING);
  EXPECT_EQ(notifier_.stops(), stops_before);

  PassMinRuntime();
  // All of a's jobs started together and lose the same work: the lowest
  // id goes. It keeps its GPUs until the node confirms the stop.
  const int64_t victim = a_jobs_.front();
  ASSERT_TRUE(Eventually([&] { return Lookup(victim)->preempted_by() == b; }));
  auto stopping = Lookup(victim);
  EXPECT_EQ(stopping->state(), berth::v1::RUNNING);
  EXPECT_EQ(stopping->gpus_size(), gpus_);
  EXPECT_EQ(notifier_.stops(), stops_before + 1);
  EXPECT_EQ(notifier_.last_stop().job_id(), victim);
  EXPECT_EQ(notifier_.last_stop().grace_ms(), 120000);  // the file's 2m
  EXPECT_EQ(Lookup(b)->state(), berth::v1::PENDING);
  auto explained = core_->Explain(b);
  ASSERT_TRUE(explained.ok());
  EXPECT_TRUE(absl::StrContains(explained->summary(), "stopping for it")) << explained->summary();
  for (int64_t other : a_jobs_) {
    if (other != victim) {
      EXPECT_EQ(Lookup(other)->preempted_by(), 0) << other;
    }
  }

  Report("n1", victim, berth::v1::CANCELLED);  // the agent's word after SIGTERM
  ASSERT_TRUE(Eventually([&] { return Lookup(b)->state() == berth::v1::PLACED; }));
  auto requeued = Lookup(victim);
  EXPECT_EQ(requeued->state(), berth::v1::PENDING);
  EXPECT_EQ(requeued->preemptions(), 1);
  EXPECT_EQ(requeued->preempted_by(), 0);
  EXPECT_EQ(requeued->submit_time_ms(), stopping->submit_time_ms());
  // b's job is on exactly the GPUs the victim held.
  std::set<int> freed, taken;
  for (const auto& gpu : stopping->gpus()) freed.insert(gpu.index());
  const absl::StatusOr<Job> placed = Lookup(b);
  for (const auto& gpu : placed->gpus()) taken.insert(gpu.index());
  EXPECT_EQ(taken, freed);
  const std::string events = Events(victim);
  EXPECT_TRUE(absl::StrContains(events, absl::StrCat("preempted: by job ", b, " of team b")))
      << events;
  EXPECT_TRUE(absl::StrContains(events, "requeued: ")) << events;
  EXPECT_TRUE(absl::StrContains(metrics_.Serialize(),
                                "berth_preemptions_total{reason=\"reclaim\",team=\"a\"} 1"))
      << metrics_.Serialize();

  // Settled: more passes preempt no one else (the victim is not within
  // its team's nominal, so it never preempts back).
  PassMinRuntime();
  EXPECT_EQ(notifier_.stops(), stops_before + 1);
  EXPECT_EQ(Lookup(victim)->state(), berth::v1::PENDING);
}

// Issue 13: within a team, a higher priority preempts a lower one that
// started before it was submitted, with the same stop, requeue and
// reservation as reclaim.
TEST_F(CorePreemptionTest, AHigherPriorityJobOfTheSameTeamPreemptsALowerOne) {
  FillWithTeamA(Spec("a"));
  PassMinRuntime();  // a's jobs have run min_runtime
  const int stops_before = notifier_.stops();
  berth::v1::JobSpec spec = Spec("a");
  spec.set_priority(5);
  auto urgent = SubmitSpec(spec);
  ASSERT_TRUE(urgent.ok()) << urgent.status();
  const int64_t id = urgent->job().id();
  const int64_t victim = a_jobs_.front();  // equal lost work: the lowest id
  ASSERT_TRUE(Eventually([&] { return Lookup(victim)->preempted_by() == id; }));
  // The stop goes out once the round has committed.
  ASSERT_TRUE(Eventually([&] { return notifier_.stops() == stops_before + 1; }));
  Report("n1", victim, berth::v1::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return Lookup(id)->state() == berth::v1::PLACED; }));
  EXPECT_EQ(Lookup(victim)->state(), berth::v1::PENDING);
  EXPECT_EQ(Lookup(victim)->preemptions(), 1);
  const std::string events = Events(victim);
  EXPECT_TRUE(absl::StrContains(events, absl::StrCat("preempted: by job ", id,
                                                     " of team a, of the same team with priority 5 "
                                                     "above its 0")))
      << events;
  EXPECT_TRUE(absl::StrContains(metrics_.Serialize(),
                                "berth_preemptions_total{reason=\"priority\",team=\"a\"} 1"))
      << metrics_.Serialize();
  // Settled: the victim (priority 0) preempts nobody, and nobody else goes.
  PassMinRuntime();
  EXPECT_EQ(notifier_.stops(), stops_before + 1);
}

// A checkpoint told through the API (`berth checkpoint`, ReportCheckpoint)
// counts as the agent's file does: the job that checkpointed loses least
// and goes first, and its event says the work since the checkpoint is lost.
TEST_F(CorePreemptionTest, ACheckpointToldThroughTheApiChoosesTheVictim) {
  FillWithTeamA(Spec("a"));
  const int64_t chosen = a_jobs_.back();  // without a checkpoint: a_jobs_.front()
  // Not running, unknown, or a time outside the run: refused.
  const int64_t b = SubmitB();
  EXPECT_EQ(core_->ReportCheckpoint(b, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);  // b is PENDING
  EXPECT_EQ(core_->ReportCheckpoint(999999, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core_->ReportCheckpoint(chosen, now_ms_.load() + 3'600'000).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core_->ReportCheckpoint(chosen, 1).status().code(),
            absl::StatusCode::kInvalidArgument);  // before its start
  now_ms_ += 9 * 60 * 1000;
  absl::StatusOr<int64_t> recorded = core_->ReportCheckpoint(chosen, 0);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(*recorded, now_ms_.load());
  PassMinRuntime();
  ASSERT_TRUE(Eventually([&] { return Lookup(chosen)->preempted_by() == b; }));
  const std::string events = Events(chosen);
  EXPECT_TRUE(absl::StrContains(events, "of work since its last checkpoint are lost")) << events;
}

TEST_F(CorePreemptionTest, AJobThatIsNotPreemptibleIsNeverAVictim) {
  berth::v1::JobSpec spec = Spec("a");
  spec.set_preemptible(false);
  FillWithTeamA(spec);
  const int stops_before = notifier_.stops();
  const int64_t b = SubmitB();
  PassMinRuntime();
  EXPECT_EQ(Lookup(b)->state(), berth::v1::PENDING);
  EXPECT_EQ(notifier_.stops(), stops_before);
  for (int64_t id : a_jobs_) EXPECT_EQ(Lookup(id)->preempted_by(), 0);
}

TEST_F(CorePreemptionTest, TheJobsOwnGraceIsSentWithTheStop) {
  berth::v1::JobSpec spec = Spec("a");
  spec.set_preemption_grace_seconds(7);
  FillWithTeamA(spec);
  SubmitB();
  PassMinRuntime();
  ASSERT_TRUE(Eventually([&] { return notifier_.last_stop().job_id() == a_jobs_.front(); }));
  EXPECT_EQ(notifier_.last_stop().grace_ms(), 7000);
}

TEST(PreemptionSpecTest, AGraceOverADayIsRefusedNamingTheField) {
  berth::v1::JobSpec spec;
  spec.set_preemption_grace_seconds(90000);
  absl::Status status = ValidateSpecEnvelope(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "spec.preemption_grace_seconds: 90000 is out of range [0, 86400]");
  spec.set_preemption_grace_seconds(86400);
  EXPECT_TRUE(ValidateSpecEnvelope(spec).ok());
}

TEST_F(CorePreemptionTest, APreemptionInProgressSurvivesARestart) {
  FillWithTeamA(Spec("a"));
  const int64_t b = SubmitB();
  PassMinRuntime();
  const int64_t victim = a_jobs_.front();
  ASSERT_TRUE(Eventually([&] { return Lookup(victim)->preempted_by() == b; }));

  OpenWithTeams();  // berthd restarts while n1 stops the victim
  EXPECT_EQ(Lookup(victim)->preempted_by(), b);
  EXPECT_EQ(Lookup(victim)->state(), berth::v1::RUNNING);
  // n1 comes back without the victim: it has stopped.
  std::vector<int64_t> still(a_jobs_.begin() + 1, a_jobs_.end());
  Register("n1", "h100-80gb", 8, still);
  ASSERT_TRUE(Eventually([&] { return Lookup(b)->state() == berth::v1::PLACED; }));
  EXPECT_EQ(Lookup(victim)->state(), berth::v1::PENDING);
  EXPECT_EQ(Lookup(victim)->preemptions(), 1);
}

TEST_F(CorePreemptionTest, CancellingTheVictimWhileItStopsEndsItAndFreesNothingEarly) {
  FillWithTeamA(Spec("a"));
  const int64_t b = SubmitB();
  PassMinRuntime();
  const int64_t victim = a_jobs_.front();
  ASSERT_TRUE(Eventually([&] { return Lookup(victim)->preempted_by() == b; }));
  auto cancelled = Cancel(victim);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), berth::v1::CANCELLED);
  Sync();
  EXPECT_EQ(Lookup(b)->state(), berth::v1::PENDING);  // n1 has not confirmed yet
  Report("n1", victim, berth::v1::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return Lookup(b)->state() == berth::v1::PLACED; }));
  EXPECT_EQ(Lookup(victim)->state(), berth::v1::CANCELLED);
  EXPECT_EQ(Lookup(victim)->preemptions(), 0);
  for (int64_t other : a_jobs_) {
    if (other != victim) {
      EXPECT_EQ(Lookup(other)->state(), berth::v1::RUNNING) << other;
    }
  }
}

}  // namespace
}  // namespace berth::daemon
