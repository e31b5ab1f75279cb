// The fixture of SchedulerCore's tests: a core on a real SQLite file in a
// temporary folder, a fake clock, a notifier that records what agents would
// be sent, helpers that call the core and wait (bounded) for its answer,
// and the invariant checks (memory and file) after every test.
#ifndef BERTH_DAEMON_CORE_TEST_FIXTURE_H_
#define BERTH_DAEMON_CORE_TEST_FIXTURE_H_

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/scheduler_core.h"
#include "gtest/gtest.h"

namespace berth::daemon {

using berth::v1::Job;

// Records what the core would send to agents.
class RecordingNotifier : public AgentNotifier {
 public:
  bool Send(const std::string& node, berth::v1::DaemonMessage message) override {
    absl::MutexLock lock(&mu_);
    if (message.has_start_job()) starts_++;
    if (message.has_stop_job()) {
      stops_++;
      last_stop_ = message.stop_job();
    }
    if (message.has_job_status_ack()) acks_++;
    return true;
  }
  int acks() {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  int starts() {
    absl::MutexLock lock(&mu_);
    return starts_;
  }
  int stops() {
    absl::MutexLock lock(&mu_);
    return stops_;
  }
  berth::v1::StopJob last_stop() {
    absl::MutexLock lock(&mu_);
    return last_stop_;
  }

 private:
  absl::Mutex mu_;
  int starts_ ABSL_GUARDED_BY(mu_) = 0;
  int stops_ ABSL_GUARDED_BY(mu_) = 0;
  int acks_ ABSL_GUARDED_BY(mu_) = 0;
  berth::v1::StopJob last_stop_ ABSL_GUARDED_BY(mu_);
};

// Polls until `predicate` holds, for at most five seconds of real time.
template <typename Predicate>
bool Eventually(Predicate predicate) {
  for (int i = 0; i < 500; ++i) {
    if (predicate()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return predicate();
}

class CoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-core-XXXXXX";
    dir_ = mkdtemp(pattern);
    Open();
  }

  void TearDown() override {
    EXPECT_TRUE(core_->CheckInvariants().ok()) << core_->CheckInvariants();
    core_.reset();
    auto store = db::Store::Open(dir_ + "/berth.db");
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE((*store)->CheckInvariants().ok());
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    auto store = db::Store::Open(dir_ + "/berth.db",
                                 db::StoreOptions{.recent_terminal_jobs = keep_finished_});
    ASSERT_TRUE(store.ok()) << store.status();
    auto core = SchedulerCore::Create(
        *std::move(store), CoreOptions{.keep_finished_jobs = keep_finished_,
                                       .retention = retention_,
                                       .now_ms = [this] { return now_ms_.load(); },
                                       .metrics = &metrics_,
                                       .on_fenced = [this](const absl::Status&) { fenced_++; }});
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
    core_->SetNotifier(&notifier_);
  }

  // `running`: the jobs the agent says it runs (after a restart).
  void Register(const std::string& node, const std::string& type, int gpus,
                const std::vector<int64_t>& running = {}) {
    ASSERT_TRUE(TryRegister(node, type, gpus, running).ok());
  }

  absl::Status TryRegister(const std::string& node, const std::string& type, int gpus,
                           const std::vector<int64_t>& running = {}) {
    berth::v1::Register reg;
    reg.set_node(node);
    for (int64_t id : running) reg.add_running_jobs(id);
    for (int i = 0; i < gpus; ++i) {
      berth::v1::Gpu* gpu = reg.add_gpus();
      gpu->set_index(i);
      gpu->set_type(type);
      gpu->set_uuid(node + "-" + std::to_string(i));
    }
    absl::Notification done;
    absl::Status status;
    core_->RegisterNode(reg, [&](absl::Status s) {
      status = s;
      done.Notify();
    });
    if (!done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      return absl::DeadlineExceededError("no answer to the registration");
    }
    return status;
  }

  absl::StatusOr<berth::v1::SubmitJobResponse> Submit(const std::string& model,
                                                      int64_t max_runtime_seconds = 3600,
                                                      const std::string& request_id = "") {
    berth::v1::JobSpec spec;
    spec.set_task("train");
    spec.set_team("t");
    spec.set_request_id(request_id);
    spec.mutable_model()->set_catalog_name(model);
    spec.set_max_runtime_seconds(max_runtime_seconds);
    return SubmitSpec(spec);
  }

  // Submits `spec` as given and waits for the answer.
  absl::StatusOr<berth::v1::SubmitJobResponse> SubmitSpec(const berth::v1::JobSpec& spec) {
    absl::Notification done;
    absl::StatusOr<berth::v1::SubmitJobResponse> result;
    core_->Submit(spec, [&](absl::StatusOr<berth::v1::SubmitJobResponse> r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }

  // A SubmitJobs call of `specs`, waited for.
  absl::StatusOr<berth::v1::SubmitJobsResponse> SubmitBatch(
      const std::vector<berth::v1::JobSpec>& specs) {
    absl::Notification done;
    absl::StatusOr<berth::v1::SubmitJobsResponse> result;
    core_->SubmitBatch(specs, [&](absl::StatusOr<berth::v1::SubmitJobsResponse> r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }

  // A training spec of team "t" for a catalogued model.
  static berth::v1::JobSpec TrainSpec(const std::string& model, const std::string& request_id) {
    berth::v1::JobSpec spec;
    spec.set_task("train");
    spec.set_team("t");
    spec.set_request_id(request_id);
    spec.mutable_model()->set_catalog_name(model);
    spec.set_max_runtime_seconds(3600);
    return spec;
  }

  absl::StatusOr<berth::v1::Node> SetDrained(const std::string& node, bool drained) {
    absl::Notification done;
    absl::StatusOr<berth::v1::Node> result;
    core_->SetDrained(node, drained, [&](absl::StatusOr<berth::v1::Node> r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }

  // The node as ListNodes shows it; a default Node when it is not listed.
  berth::v1::Node Listed(const std::string& name) {
    const berth::v1::ListNodesResponse listed = core_->ListNodes();
    for (const auto& node : listed.nodes()) {
      if (node.name() == name) return node;
    }
    return {};
  }

  absl::StatusOr<Job> Cancel(int64_t id) {
    absl::Notification done;
    absl::StatusOr<Job> result;
    core_->Cancel(id, [&](absl::StatusOr<Job> r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }

  // `berth admin prune`, waited for.
  absl::StatusOr<PruneCounts> Prune(int64_t older_than_ms, int64_t keep_jobs = 0) {
    absl::Notification done;
    absl::StatusOr<PruneCounts> result;
    core_->Prune(older_than_ms, keep_jobs, [&](absl::StatusOr<PruneCounts> r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }

  // Waits until the writer has finished every round queued before now.
  void Sync() {
    absl::Notification done;
    core_->ListEvents(db::EventQuery{.limit = 1},
                      [&](absl::StatusOr<std::vector<db::Event>>) { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }

  // An agent's report on a job, as the agent service passes it on.
  void Report(const std::string& node, int64_t id, berth::v1::JobState state) {
    berth::v1::JobStatus status;
    status.set_job_id(id);
    status.set_state(state);
    core_->ReportJobStatus(node, status);
  }

  absl::StatusOr<Job> Lookup(int64_t id) {
    absl::Notification done;
    absl::StatusOr<Job> result;
    core_->LookupJob(id, [&](absl::StatusOr<Job> r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }

  // The job is neither in memory nor in the file (retention pruned it).
  bool Gone(int64_t id) { return Lookup(id).status().code() == absl::StatusCode::kNotFound; }

  std::string dir_;
  int64_t keep_finished_ = 10000;
  RetentionOptions retention_;  // berthd's defaults unless a test sets it before Open()
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
  std::atomic<int> fenced_{0};  // on_fenced calls
  Metrics metrics_{"test", 0};
  RecordingNotifier notifier_;
  std::unique_ptr<SchedulerCore> core_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_CORE_TEST_FIXTURE_H_
