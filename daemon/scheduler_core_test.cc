// SchedulerCore without gRPC: a real SQLite file in a temporary folder,
// nodes registered through the core's own API, a fake clock, and the
// invariant checks (memory and file) after every test.
#include "daemon/scheduler_core.h"

#include <stdlib.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "daemon/core_test_fixture.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

class SchedulerCoreTest : public CoreFixture {};

TEST_F(SchedulerCoreTest, SubmitPlacesAndTellsTheAgent) {
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");
  ASSERT_TRUE(r.ok()) << r.status();
  // Placement happens in the same batch as the insert.
  EXPECT_EQ(r->job().state(), berth::v1::PLACED);
  EXPECT_EQ(r->job().gpus_size(), r->job().plan().gpus());
  for (int i = 0; i < 200 && notifier_.starts() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(notifier_.starts(), 1);
}

TEST_F(SchedulerCoreTest, NoNodesMeansRefusal) {
  auto r = Submit("llama-2-7b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "no GPUs")) << r.status();
}

TEST_F(SchedulerCoreTest, WaitingJobHasAnEarliestStartFromTimeLimits) {
  Register("n1", "h100-80gb", 8);
  auto first = Submit("llama-2-13b", 7200);  // takes most of the node
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->job().state(), berth::v1::PLACED);
  const int free = 8 - first->job().plan().gpus();
  std::vector<int64_t> waiting;
  for (int i = 0; i < 3; ++i) {
    auto next = Submit("llama-2-13b", 7200);
    ASSERT_TRUE(next.ok());
    if (next->job().state() == berth::v1::PENDING) waiting.push_back(next->job().id());
  }
  ASSERT_FALSE(waiting.empty()) << free << " free";
  auto why = core_->Explain(waiting.front());
  ASSERT_TRUE(why.ok());
  EXPECT_EQ(why->queue_position(), 1);
  // The first job started at now and may run 7200 s: the head can start by
  // then, at the latest.
  EXPECT_GT(why->earliest_start_ms(), 0);
  EXPECT_LE(why->earliest_start_ms(), now_ms_.load() + 7200 * 1000);
}

TEST_F(SchedulerCoreTest, CancelFreesAndTheNextJobIsPlaced) {
  Register("n1", "h100-80gb", 8);
  auto a = Submit("llama-2-13b");
  ASSERT_TRUE(a.ok());
  int64_t pending = 0;
  for (int i = 0; i < 4 && pending == 0; ++i) {
    auto b = Submit("llama-2-13b");
    ASSERT_TRUE(b.ok());
    if (b->job().state() == berth::v1::PENDING) pending = b->job().id();
  }
  ASSERT_NE(pending, 0);
  auto cancelled = Cancel(a->job().id());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), berth::v1::CANCELLED);
  EXPECT_EQ(cancelled->gpus_size(), a->job().gpus_size());  // kept for the record
  // StopJob goes out right after the reply; wait for it, bounded.
  for (int i = 0; i < 200 && notifier_.stops() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(notifier_.stops(), 1);
  // The cancelled job's GPUs stay held until its node confirms the stop
  // (issue 18, finding 1), across a restart too.
  Sync();
  EXPECT_EQ(core_->GetJob(pending)->state(), berth::v1::PENDING);
  core_.reset();
  Open();
  Register("n1", "h100-80gb", 8, /*running=*/{a->job().id()});
  Sync();
  EXPECT_EQ(core_->GetJob(pending)->state(), berth::v1::PENDING);
  Report("n1", a->job().id(), berth::v1::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return core_->GetJob(pending)->state() == berth::v1::PLACED; }));
  EXPECT_EQ(Cancel(a->job().id()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Cancel(424242).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerCoreTest, ReopeningRebuildsTheSameState) {
  Register("n1", "h100-80gb", 8);
  Register("n2", "h100-80gb", 8);
  auto a = Submit("llama-2-7b");
  auto b = Submit("llama-2-13b");
  ASSERT_TRUE(a.ok() && b.ok());
  core_.reset();  // as after a crash: only the file remains
  Open();
  for (const auto& r : {*a, *b}) {
    auto job = core_->GetJob(r.job().id());
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->state(), r.job().state());
    EXPECT_EQ(job->gpus_size(), r.job().gpus_size());
  }
  auto nodes = core_->ListNodes();
  ASSERT_EQ(nodes.nodes_size(), 2);
  EXPECT_FALSE(nodes.nodes(0).connected());  // until its agent registers again
}

// A node that never confirms a stop is at last declared DOWN: the GPUs the
// cancelled job held there are released with it.
TEST_F(SchedulerCoreTest, ANodeDeclaredDownReleasesTheGpusOfAJobItWasStopping) {
  Register("n1", "h100-80gb", 8);
  auto a = Submit("llama-2-7b");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(Cancel(a->job().id()).ok());
  auto held_on_n1 = [&] {
    int held = 0;
    const berth::v1::Node node = Listed("n1");
    for (const auto& gpu : node.gpus()) held += gpu.job_id() == a->job().id() ? 1 : 0;
    return held;
  };
  Sync();
  EXPECT_EQ(held_on_n1(), a->job().gpus_size());
  now_ms_ += 3500;  // n1 falls silent past its heartbeat budget
  ASSERT_TRUE(Eventually([&] { return Listed("n1").state() == berth::v1::DOWN; }));
  ASSERT_TRUE(Eventually([&] { return held_on_n1() == 0; }));
  // The release is in the file: a restart finds nothing held.
  core_.reset();
  Open();
  EXPECT_EQ(held_on_n1(), 0);
}

TEST_F(SchedulerCoreTest, LostNodeRequeuesItsJobOntoAnotherNode) {
  Register("n1", "h100-80gb", 8);
  auto job = Submit("llama-2-7b");
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->job().state(), berth::v1::PLACED);
  const std::string first = job->job().gpus(0).node();
  Register("n2", "h100-80gb", 8);
  // n2 keeps heartbeating; n1 falls silent for more than 3 intervals.
  now_ms_ += 3500;
  core_->Heartbeat("n2", {});
  ASSERT_TRUE(Eventually([&] {
    auto j = core_->GetJob(job->job().id());
    return j.ok() && j->state() == berth::v1::PLACED && j->gpus(0).node() != first;
  }));
  auto nodes = core_->ListNodes();
  for (const auto& node : nodes.nodes()) {
    if (node.name() == first) {
      EXPECT_EQ(node.state(), berth::v1::DOWN);
    }
  }
  // Its heartbeat brings it back.
  core_->Heartbeat(first, {});
  ASSERT_TRUE(Eventually([&] {
    const berth::v1::ListNodesResponse listed = core_->ListNodes();
    for (const auto& node : listed.nodes()) {
      if (node.name() == first) return node.state() == berth::v1::UP;
    }
    return false;
  }));
}

TEST_F(SchedulerCoreTest, DrainedNodeThatGoesDownComesBackDrained) {
  Register("n1", "h100-80gb", 8);
  Register("n2", "h100-80gb", 8);
  ASSERT_TRUE(SetDrained("n1", true).ok());
  // n1 falls silent: DOWN, and still remembered as drained.
  now_ms_ += 3500;
  core_->Heartbeat("n2", {});
  ASSERT_TRUE(Eventually([&] { return Listed("n1").state() == berth::v1::DOWN; }));
  EXPECT_TRUE(Listed("n1").drained());
  // Its heartbeat brings it back drained, not up: nothing is placed there.
  core_->Heartbeat("n1", {});
  ASSERT_TRUE(Eventually([&] { return Listed("n1").state() == berth::v1::DRAINED; }));
  auto job = Submit("llama-2-7b");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->job().state(), berth::v1::PLACED);
  EXPECT_EQ(job->job().gpus(0).node(), "n2");
  // A restart and a fresh registration keep it drained too.
  core_.reset();
  Open();
  EXPECT_EQ(Listed("n1").state(), berth::v1::DRAINED);
  Register("n1", "h100-80gb", 8);
  EXPECT_EQ(Listed("n1").state(), berth::v1::DRAINED);
  EXPECT_TRUE(Listed("n1").drained());
}

TEST_F(SchedulerCoreTest, UndrainingADownNodeLeavesItDownUntilItHeartbeats) {
  Register("n1", "h100-80gb", 8);
  ASSERT_TRUE(SetDrained("n1", true).ok());
  now_ms_ += 3500;
  ASSERT_TRUE(Eventually([&] { return Listed("n1").state() == berth::v1::DOWN; }));
  auto undrained = SetDrained("n1", false);
  ASSERT_TRUE(undrained.ok()) << undrained.status();
  EXPECT_EQ(undrained->state(), berth::v1::DOWN);  // no heartbeat yet
  EXPECT_FALSE(undrained->drained());
  core_->Heartbeat("n1", {});
  ASSERT_TRUE(Eventually([&] { return Listed("n1").state() == berth::v1::UP; }));
}

TEST_F(SchedulerCoreTest, EndedJobsBeyondTheLimitLeaveMemoryButNotTheFile) {
  keep_finished_ = 2;
  core_.reset();
  Open();
  Register("n1", "h100-80gb", 8);
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto r = Submit("llama-2-7b", 3600, absl::StrCat("req-", i));
    ASSERT_TRUE(r.ok()) << r.status();
    ids.push_back(r->job().id());
    ASSERT_TRUE(Cancel(ids.back()).ok());
    Report("n1", ids.back(), berth::v1::CANCELLED);  // the node confirms the stop
  }
  auto listed_ids = [&] {
    std::set<int64_t> out;
    const berth::v1::ListJobsResponse listed = core_->ListJobs({});
    for (const Job& job : listed.jobs()) out.insert(job.id());
    return out;
  };
  // Memory holds the newest two ended jobs.
  ASSERT_TRUE(Eventually([&] { return listed_ids().size() == 2; }));
  EXPECT_EQ(listed_ids(), (std::set<int64_t>{ids[2], ids[3]}));
  EXPECT_EQ(core_->GetJob(ids[0]).status().code(), absl::StatusCode::kNotFound);
  // The file still has the others: LookupJob finds them, cancel says they
  // ended, and a retried request id gets the same job back.
  auto old = Lookup(ids[0]);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->state(), berth::v1::CANCELLED);
  EXPECT_EQ(old->spec().request_id(), "req-0");
  EXPECT_EQ(Lookup(ids[3])->state(), berth::v1::CANCELLED);  // from memory
  EXPECT_EQ(Lookup(ids.back() + 100).status().code(), absl::StatusCode::kNotFound);
  auto cancel_again = Cancel(ids[1]);
  EXPECT_EQ(cancel_again.status().code(), absl::StatusCode::kFailedPrecondition)
      << cancel_again.status();
  EXPECT_TRUE(absl::StrContains(cancel_again.status().message(), "already ended"));
  auto retried = Submit("llama-2-7b", 3600, "req-0");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->duplicate());
  EXPECT_EQ(retried->job().id(), ids[0]);
  EXPECT_EQ(retried->job().state(), berth::v1::CANCELLED);
  EXPECT_EQ(listed_ids().size(), 2u);  // not brought back into memory
  // A restart loads as many ended jobs as it keeps.
  core_.reset();
  Open();
  EXPECT_EQ(listed_ids(), (std::set<int64_t>{ids[2], ids[3]}));
  EXPECT_EQ(Lookup(ids[1])->state(), berth::v1::CANCELLED);
}

TEST_F(SchedulerCoreTest, LostNodeFailsAJobThatAsksForIt) {
  Register("n1", "h100-80gb", 8);
  berth::v1::JobSpec spec;
  spec.set_task("train");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.set_on_node_loss("fail");
  const absl::StatusOr<berth::v1::SubmitJobResponse> r = SubmitSpec(spec);
  ASSERT_TRUE(r.ok());
  now_ms_ += 3500;
  ASSERT_TRUE(Eventually([&] {
    auto j = core_->GetJob(r->job().id());
    return j.ok() && j->state() == berth::v1::FAILED;
  }));
  EXPECT_TRUE(absl::StrContains(core_->GetJob(r->job().id())->reason(), "n1 was lost"));
}

TEST_F(SchedulerCoreTest, JobPastItsRunTimeIsFailedByTheDaemon) {
  Register("n1", "h100-80gb", 8);
  auto job = Submit("llama-2-7b", /*max_runtime_seconds=*/10);
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->job().state(), berth::v1::PLACED);
  // 10 s of run time plus the 60 s grace, in steps short enough that the
  // node's heartbeats never lapse.
  for (int i = 0; i < 30; ++i) {
    now_ms_ += 2500;
    core_->Heartbeat("n1", {});
  }
  ASSERT_TRUE(Eventually([&] {
    auto j = core_->GetJob(job->job().id());
    return j.ok() && j->state() == berth::v1::FAILED;
  }));
  EXPECT_TRUE(absl::StrContains(core_->GetJob(job->job().id())->reason(), "max run time of 10 s"));
}

// The run-time check reads only the jobs past their end (an index by end
// time): each job is judged by its own limit, from its start as reported.
TEST_F(SchedulerCoreTest, RunTimeIsJudgedPerJobFromItsReportedStart) {
  Register("n1", "h100-80gb", 8);
  auto short_job = Submit("llama-2-7b", /*max_runtime_seconds=*/10);
  auto long_job = Submit("llama-2-7b", /*max_runtime_seconds=*/100);
  ASSERT_TRUE(short_job.ok() && long_job.ok());
  const int64_t short_id = short_job->job().id();
  const int64_t long_id = long_job->job().id();
  auto advance = [&](int64_t ms) {  // in steps the node's heartbeats outlast
    for (int64_t done = 0; done < ms; done += 2500) {
      now_ms_ += std::min<int64_t>(2500, ms - done);
      core_->Heartbeat("n1", {});
    }
    Sync();
  };
  auto state = [&](int64_t id) { return core_->GetJob(id)->state(); };
  advance(20'000);
  berth::v1::JobStatus running;  // the long job starts 20 s after placement
  running.set_job_id(long_id);
  running.set_state(berth::v1::RUNNING);
  running.set_time_ms(now_ms_.load());
  core_->ReportJobStatus("n1", running);
  Sync();
  // 10 s of run time and the 60 s grace after placement: the short job only.
  advance(55'000);
  ASSERT_TRUE(Eventually([&] { return state(short_id) == berth::v1::FAILED; }));
  EXPECT_EQ(state(long_id), berth::v1::RUNNING);
  // 100 s + 60 s from its reported start, less 5 s: still running.
  advance(100'000 + 60'000 - 55'000 - 5'000);
  EXPECT_EQ(state(long_id), berth::v1::RUNNING);
  advance(10'000);
  ASSERT_TRUE(Eventually([&] { return state(long_id) == berth::v1::FAILED; }));
  EXPECT_TRUE(absl::StrContains(core_->GetJob(long_id)->reason(), "max run time of 100 s"));
}

TEST_F(SchedulerCoreTest, MetricsFollowTheCore) {
  // No pool yet: one refusal for lack of GPUs.
  ASSERT_FALSE(Submit("llama-2-7b").ok());
  EXPECT_EQ(metrics_.submissions_rejected.Value(), 1);
  EXPECT_EQ(metrics_.refusals_no_gpus.Value(), 1);
  Register("n1", "h100-80gb", 8);
  auto a = Submit("llama-2-7b");
  ASSERT_TRUE(a.ok());
  const int gpus = a->job().gpus_size();
  EXPECT_EQ(metrics_.submissions_admitted.Value(), 1);
  // Placed in the same pass as its insert: one submit-to-placed sample.
  const auto placed = metrics_.submit_to_placed_seconds.Collect().histogram;
  EXPECT_EQ(placed.sample_count, 1u);
  EXPECT_GE(metrics_.sqlite_commit_seconds.Collect().histogram.sample_count, 2u);
  EXPECT_GE(metrics_.scheduling_pass_seconds.Collect().histogram.sample_count, 1u);
  // A spec the planner cannot read is invalid, not refused.
  berth::v1::JobSpec bad;
  bad.set_task("train");
  bad.mutable_model()->set_catalog_name("no-such-model");
  absl::Notification done;
  core_->Submit(bad, [&](absl::StatusOr<berth::v1::SubmitJobResponse>) { done.Notify(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(metrics_.submissions_invalid.Value(), 1);
  // The gauges, as a scrape sets them: allocated + free = 8 on n1.
  ClusterSample sample = core_->SampleCluster();
  int64_t allocated = 0, free = 0;
  for (const auto& g : sample.gpus) {
    if (g.state == "allocated") allocated += g.count;
    if (g.state == "free") free += g.count;
  }
  EXPECT_EQ(allocated, gpus);
  EXPECT_EQ(allocated + free, 8);
  EXPECT_DOUBLE_EQ(sample.pool_allocation["h100-80gb"], gpus / 8.0);
  EXPECT_EQ((sample.jobs[{"placed", "t"}]), 1);
  EXPECT_EQ(sample.nodes["up"], 1);
  metrics_.SetCluster(sample);
  const std::string text = metrics_.Serialize();
  EXPECT_NE(text.find("berth_gpus{gpu_type=\"h100-80gb\",node=\"n1\",state=\"allocated\"} " +
                      std::to_string(gpus)),
            std::string::npos)
      << text;
}

TEST_F(SchedulerCoreTest, ConcurrentSubmittersNeverDoubleBook) {
  // Many threads submit at once; group commit batches them. Whatever is
  // placed, no GPU is held twice (checked in TearDown, memory and file).
  for (int n = 0; n < 4; ++n) Register("n" + std::to_string(n), "h100-80gb", 8);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ok += Submit("llama-2-7b").ok() ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 200);
  auto placed = core_->ListJobs([] {
    berth::v1::ListJobsRequest r;
    r.add_states(berth::v1::PLACED);
    return r;
  }());
  int gpus = 0;
  for (const auto& job : placed.jobs()) gpus += job.gpus_size();
  EXPECT_LE(gpus, 32);
  EXPECT_GT(gpus, 24);  // 2-GPU jobs pack the 32 GPUs nearly full
}

// Issue 18, findings 7 and 12: what a node reports is bounded before it is
// stored and shown.
TEST_F(SchedulerCoreTest, AgentReportsAreBoundedBeforeTheyAreStored) {
  Register("n1", "h100-80gb", 8);
  auto first = Submit("llama-2-7b");
  ASSERT_TRUE(first.ok()) << first.status();
  const int64_t id = first->job().id();
  berth::v1::JobStatus running;
  running.set_job_id(id);
  running.set_state(berth::v1::RUNNING);
  running.set_time_ms(std::numeric_limits<int64_t>::min());
  core_->ReportJobStatus("n1", running);
  Sync();
  auto job = core_->GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), berth::v1::RUNNING);
  EXPECT_EQ(job->start_time_ms(), now_ms_.load());  // berthd's clock, not -2^63
  berth::v1::JobStatus failed;
  failed.set_job_id(id);
  failed.set_state(berth::v1::FAILED);
  failed.set_message("\x1b[2J\x1b]0;owned\x07" + std::string(4 << 20, 'x'));
  core_->ReportJobStatus("n1", failed);
  Sync();
  job = core_->GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), berth::v1::FAILED);
  EXPECT_LT(job->reason().size(), 1200u);  // 1,024 bytes, the marker and the node
  EXPECT_EQ(job->reason().find('\x1b'), std::string::npos) << job->reason().substr(0, 40);
  EXPECT_TRUE(absl::StrContains(job->reason(), "... (truncated) (node n1)"));
}

// A message cut to its bound stays UTF-8: cut inside a two-byte character
// it would make every client's parse of the job (`berth jobs`) fail.
TEST_F(SchedulerCoreTest, AnAgentMessageIsCutOnACharacterBoundary) {
  Register("n1", "h100-80gb", 8);
  auto submitted = Submit("llama-2-7b");
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const int64_t id = submitted->job().id();
  berth::v1::JobStatus failed;
  failed.set_job_id(id);
  failed.set_state(berth::v1::FAILED);
  std::string message = "x";  // then 2-byte characters: byte 1,024 is inside one
  for (int i = 0; i < 600; ++i) message += "\xc3\xa9";
  failed.set_message(message);
  core_->ReportJobStatus("n1", failed);
  Sync();
  auto job = core_->GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_TRUE(absl::StrContains(job->reason(), "... (truncated)"));
  berth::v1::Job parsed;
  EXPECT_TRUE(parsed.ParseFromString(job->SerializeAsString())) << "the stored reason is not UTF-8";
  EXPECT_EQ(parsed.reason(), job->reason());
}

// Issue 18, finding 2: a heartbeat with 150,000 readings, NaN, infinities,
// negative values and unknown indices leaves at most one sane reading per
// registered GPU.
TEST_F(SchedulerCoreTest, HeartbeatReadingsAreBoundedToTheRegisteredGpus) {
  Register("n1", "h100-80gb", 8);
  berth::v1::Heartbeat beat;
  for (int i = 0; i < 150000; ++i) {
    berth::v1::GpuSample* s = beat.add_gpus();
    s->set_index(i % 16 - 4);  // -4..11: only 0..7 are registered
    s->set_utilization(i % 3 == 0 ? std::nan("") : 0.5);
    s->set_memory_used_bytes(i % 5 == 0 ? -1.0 : i % 7 == 0 ? INFINITY : 1e9);
  }
  core_->Heartbeat("n1", beat);
  const ClusterSample sample = core_->SampleCluster();
  ASSERT_EQ(sample.readings.size(), 8u);  // 8 registered GPUs, one reading each
  std::set<std::string> gpus;
  for (const auto& r : sample.readings) {
    gpus.insert(r.gpu);
    EXPECT_EQ(r.utilization, 0.5);
    EXPECT_EQ(r.memory_used_bytes, 1e9);
  }
  EXPECT_EQ(gpus.size(), 8u);
}

// Issue 18, finding 8: request ids are scoped by team. Team b's request id
// that team a used makes b a job of its own; each team's retry gets its own
// job back, across a restart too; and a team's id used again with another
// spec is refused, naming the first job.
TEST_F(SchedulerCoreTest, RequestIdsAreScopedByTeamAndBoundToTheSpec) {
  Register("n1", "h100-80gb", 8);
  auto submit = [&](const std::string& team, const std::string& name) {
    berth::v1::JobSpec spec;
    spec.set_task("train");
    spec.set_team(team);
    spec.set_name(name);
    spec.set_request_id("shared-1");
    spec.mutable_model()->set_catalog_name("llama-2-7b");
    spec.set_max_runtime_seconds(3600);
    return SubmitSpec(spec);
  };
  auto a = submit("a", "train");
  auto b = submit("b", "train");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->duplicate());
  EXPECT_NE(b->job().id(), a->job().id());
  EXPECT_EQ(b->job().spec().team(), "b");
  core_.reset();
  Open();
  auto b_again = submit("b", "train");
  ASSERT_TRUE(b_again.ok()) << b_again.status();
  EXPECT_TRUE(b_again->duplicate());
  EXPECT_EQ(b_again->job().id(), b->job().id());
  auto other_spec = submit("a", "train-v2");
  EXPECT_EQ(other_spec.status().code(), absl::StatusCode::kAlreadyExists) << other_spec.status();
  EXPECT_EQ(other_spec.status().message(),
            absl::StrCat("request_id shared-1 was used by job ", a->job().id(),
                         " with a different spec; a new job needs a new request_id"));
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 2);
}

// Issue 15: ListJobs by submit-time range, beside state and team.
TEST_F(SchedulerCoreTest, ListJobsFiltersBySubmitTime) {
  Register("n1", "h100-80gb", 8);
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto job = Submit("llama-2-7b");
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->job().id());
    now_ms_ += 60'000;  // submitted at t, t + 1 min, t + 2 min, t + 3 min
  }
  const int64_t t = now_ms_ - 4 * 60'000;
  auto listed = [&](int64_t after, int64_t before) {
    berth::v1::ListJobsRequest request;
    request.set_submitted_after_ms(after);
    request.set_submitted_before_ms(before);
    std::vector<int64_t> out;
    const berth::v1::ListJobsResponse response = core_->ListJobs(request);
    for (const Job& job : response.jobs()) out.push_back(job.id());
    return out;
  };
  // [t + 1 min, t + 3 min): the second and third, newest first.
  EXPECT_EQ(listed(t + 60'000, t + 180'000), (std::vector<int64_t>{ids[2], ids[1]}));
  EXPECT_EQ(listed(t + 60'000, 0), (std::vector<int64_t>{ids[3], ids[2], ids[1]}));
  EXPECT_EQ(listed(0, t + 1), (std::vector<int64_t>{ids[0]}));
  EXPECT_TRUE(listed(t + 240'000, 0).empty());
}

}  // namespace
}  // namespace berth::daemon
