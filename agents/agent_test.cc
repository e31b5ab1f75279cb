#include "agents/agent.h"

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agents/inventory.h"
#include "common/leader_hint.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace berth::agent {
namespace {

using ::testing::ElementsAre;
using Streams = std::vector<std::vector<v1::AgentMessage>>;
using Key = std::pair<int64_t, v1::JobState>;  // a status's (job_id, state)

constexpr absl::Duration kWait = absl::Seconds(10);  // every wait's bound

// A stand-in for berthd: records what each stream carries, answers Register
// with Registered, and lets the test send daemon messages.
class FakeDaemon final : public v1::AgentService::Service {
 public:
  FakeDaemon(int64_t heartbeat_ms, bool answer_register)
      : heartbeat_ms_(heartbeat_ms), answer_register_(answer_register) {}

  grpc::Status Connect(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::DaemonMessage, v1::AgentMessage>* stream) override {
    v1::AgentMessage message;
    if (!stream->Read(&message)) return grpc::Status::OK;
    {
      absl::MutexLock lock(&mu_);
      streams_.push_back({message});
    }
    if (message.has_register_() && answer_register_) {
      v1::DaemonMessage registered;
      registered.mutable_registered()->set_heartbeat_interval_ms(heartbeat_ms_);
      stream->Write(registered);
      absl::MutexLock lock(&mu_);
      open_ = stream;
    }
    while (stream->Read(&message)) {
      absl::MutexLock lock(&mu_);
      streams_.back().push_back(message);
    }
    absl::MutexLock lock(&mu_);
    open_ = nullptr;
    return grpc::Status::OK;
  }

  // Sends on the registered stream, waiting (at most kWait) for one to be
  // open; false when none opens or the write fails.
  bool Send(const v1::DaemonMessage& message) {
    absl::MutexLock lock(&mu_);
    auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_ != nullptr; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&open), kWait)) return false;
    return open_->Write(message);
  }

  // Waits (at most kWait) until `done` holds for what has arrived.
  bool WaitFor(std::function<bool(const Streams&)> done) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done(streams_); };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), kWait);
  }

  Streams Received() {
    absl::MutexLock lock(&mu_);
    return streams_;
  }

 private:
  const int64_t heartbeat_ms_;
  const bool answer_register_;
  absl::Mutex mu_;
  Streams streams_ ABSL_GUARDED_BY(mu_);
  grpc::ServerReaderWriter<v1::DaemonMessage, v1::AgentMessage>* open_ ABSL_GUARDED_BY(mu_) =
      nullptr;
};

std::unique_ptr<grpc::Server> StartServer(FakeDaemon& daemon, const std::string& address,
                                          int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(&daemon);
  return builder.BuildAndStart();
}

void StopServer(grpc::Server& server) {
  server.Shutdown(std::chrono::system_clock::now());  // cancels open streams
  server.Wait();
}

// Counts the messages of stream `i` for which `pred` holds.
int Count(const Streams& streams, size_t i, std::function<bool(const v1::AgentMessage&)> pred) {
  if (streams.size() <= i) return 0;
  int n = 0;
  for (const v1::AgentMessage& m : streams[i]) n += pred(m) ? 1 : 0;
  return n;
}

bool IsHeartbeat(const v1::AgentMessage& m) { return m.has_heartbeat(); }

std::function<bool(const v1::AgentMessage&)> IsStatus(int64_t job, v1::JobState state) {
  return [job, state](const v1::AgentMessage& m) {
    return m.has_job_status() && m.job_status().job_id() == job && m.job_status().state() == state;
  };
}

v1::DaemonMessage StartJob(int64_t id, const std::string& node) {
  v1::DaemonMessage message;
  v1::Job* job = message.mutable_start_job()->mutable_job();
  job->set_id(id);
  job->set_state(v1::PLACED);
  v1::GpuAssignment* gpu = job->add_gpus();
  gpu->set_node(node);
  gpu->set_index(0);
  return message;
}

v1::DaemonMessage StopJob(int64_t id) {
  v1::DaemonMessage message;
  message.mutable_stop_job()->set_job_id(id);
  return message;
}

v1::DaemonMessage Ack(int64_t id, v1::JobState state) {
  v1::DaemonMessage message;
  message.mutable_job_status_ack()->set_job_id(id);
  message.mutable_job_status_ack()->set_state(state);
  return message;
}

// Where in `stream` the messages for which `pred` holds are.
std::vector<size_t> Positions(const std::vector<v1::AgentMessage>& stream,
                              std::function<bool(const v1::AgentMessage&)> pred) {
  std::vector<size_t> out;
  for (size_t i = 0; i < stream.size(); ++i) {
    if (pred(stream[i])) out.push_back(i);
  }
  return out;
}

// Heartbeats strictly between positions `from` and `to` of `stream`.
int HeartbeatsBetween(const std::vector<v1::AgentMessage>& stream, size_t from, size_t to) {
  int n = 0;
  for (size_t i = from + 1; i < to; ++i) n += IsHeartbeat(stream[i]) ? 1 : 0;
  return n;
}

// (job_id, state) of each status, in order.
std::vector<Key> Keys(const std::vector<v1::JobStatus>& statuses) {
  std::vector<Key> out;
  for (const v1::JobStatus& s : statuses) {
    out.emplace_back(s.job_id(), s.state());
  }
  return out;
}

std::vector<Key> StatusKeys(const std::vector<v1::AgentMessage>& stream) {
  std::vector<v1::JobStatus> statuses;
  for (const v1::AgentMessage& m : stream) {
    if (m.has_job_status()) statuses.push_back(m.job_status());
  }
  return Keys(statuses);
}

// Polls `done` until it holds, at most kWait; never asserts a time.
bool Eventually(std::function<bool()> done) {
  const absl::Time deadline = absl::Now() + kWait;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class AgentTest : public ::testing::Test {
 protected:
  void StartDaemon(int64_t heartbeat_ms = 20, bool answer_register = true) {
    daemon_ = std::make_unique<FakeDaemon>(heartbeat_ms, answer_register);
    server_ = StartServer(*daemon_, "127.0.0.1:0", &port_);
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void StartAgent(AgentOptions overrides = {}) {
    absl::StatusOr<v1::Register> reg = ParseInventory(
        R"({"gpus": [{"type": "h100-80gb", "count": 8}],
            "labels": {"rack": "r1"}})",
        "n1", "test");
    ASSERT_TRUE(reg.ok()) << reg.status();
    overrides.daemon_address = absl::StrCat(address_prefix_, "127.0.0.1:", port_);
    overrides.node = "n1";
    overrides.registration = *reg;
    // A default the daemon's 20 ms must replace, or no heartbeat arrives.
    overrides.default_heartbeat_interval = absl::Seconds(60);
    overrides.reconnect_backoff_min = absl::Milliseconds(10);
    overrides.reconnect_backoff_max = absl::Milliseconds(100);
    absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(std::move(overrides));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    run_ = std::async(std::launch::async, [this] { agent_->Run(); });
  }

  // Shuts the agent down and expects Run() to return within the bound.
  void StopAgent() {
    if (agent_ == nullptr) return;
    agent_->Shutdown();
    EXPECT_EQ(run_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    run_.get();
    agent_.reset();
  }

  // Replaces the fake daemon with a fresh one on the same port, as a
  // restarted berthd; the agent reconnects to it.
  void RestartDaemon() {
    StopServer(*server_);
    auto restarted = std::make_unique<FakeDaemon>(20, true);
    int port = 0;
    server_ = StartServer(*restarted, absl::StrCat("127.0.0.1:", port_), &port);
    ASSERT_NE(server_, nullptr);
    ASSERT_EQ(port, port_);
    daemon_ = std::move(restarted);
  }

  void TearDown() override {
    StopAgent();
    if (server_ != nullptr) StopServer(*server_);
  }

  std::unique_ptr<FakeDaemon> daemon_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  // Addresses listed before the fake daemon's in --daemon ("a,b,").
  std::string address_prefix_;
  std::unique_ptr<Agent> agent_;
  std::future<void> run_;
};

TEST_F(AgentTest, RegistersFirstWithItsGpus) {
  StartDaemon();
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return !s.empty(); }));
  const v1::AgentMessage first = daemon_->Received()[0][0];
  ASSERT_TRUE(first.has_register_());
  EXPECT_EQ(first.register_().node(), "n1");
  ASSERT_EQ(first.register_().gpus_size(), 8);
  EXPECT_EQ(first.register_().gpus(7).uuid(), "GPU-sim-n1-7");
  EXPECT_EQ(first.register_().labels().at("rack"), "r1");
  EXPECT_TRUE(first.register_().running_jobs().empty());
}

// Answers every call UNAVAILABLE naming `leader`, as a standby berthd does.
class StandbyStandIn final : public grpc::CallbackGenericService {
 public:
  explicit StandbyStandIn(std::string leader) : leader_(std::move(leader)) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const std::string& message) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, message));
      }
      void OnDone() override { delete this; }
    };
    return new Reactor("berthd is a standby; " + LeaderHint(leader_));
  }

 private:
  std::string leader_;
};

// --daemon dead,standby,leader: nothing listens at the first address, the
// standby names the leader, and the agent registers there.
TEST_F(AgentTest, FollowsTheLeaderAStandbyNames) {
  StartDaemon();
  StandbyStandIn standby(absl::StrCat("127.0.0.1:", port_));
  grpc::ServerBuilder builder;
  int standby_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &standby_port);
  builder.RegisterCallbackGenericService(&standby);
  std::unique_ptr<grpc::Server> standby_server = builder.BuildAndStart();
  ASSERT_GT(standby_port, 0);
  address_prefix_ = absl::StrCat("127.0.0.1:1,127.0.0.1:", standby_port, ",");
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return !s.empty(); }));
  EXPECT_TRUE(daemon_->Received()[0][0].has_register_());
  StopAgent();
  standby_server->Shutdown();
}

TEST_F(AgentTest, HeartbeatsFollowAtTheDaemonsInterval) {
  StartDaemon(/*heartbeat_ms=*/20);
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return Count(s, 0, IsHeartbeat) >= 4; }));
  const std::vector<v1::AgentMessage> stream = daemon_->Received()[0];
  int64_t previous_ms = 0;
  for (size_t i = 1; i < stream.size(); ++i) {
    ASSERT_TRUE(stream[i].has_heartbeat()) << i;
    const v1::Heartbeat& beat = stream[i].heartbeat();
    ASSERT_EQ(beat.gpus_size(), 8);
    EXPECT_EQ(beat.gpus(5).index(), 5);
    EXPECT_EQ(beat.gpus(5).utilization(), 0);
    // Millisecond truncation may shave 1 ms off a 20 ms gap.
    if (previous_ms != 0) {
      EXPECT_GE(beat.sent_ms() - previous_ms, 19) << i;
    }
    previous_ms = beat.sent_ms();
  }
}

TEST_F(AgentTest, StartJobIsRunningUntilStopped) {
  StartDaemon();
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return !s.empty(); }));
  ASSERT_TRUE(daemon_->Send(StartJob(42, "n1")));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(42, v1::RUNNING)) >= 1; }));
  EXPECT_THAT(agent_->RunningJobs(), ElementsAre(42));

  ASSERT_TRUE(daemon_->Send(StopJob(42)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(42, v1::CANCELLED)) >= 1; }));
  EXPECT_TRUE(agent_->RunningJobs().empty());
}

TEST_F(AgentTest, StartJobPlacedOnAnotherNodeFails) {
  StartDaemon();
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return !s.empty(); }));
  ASSERT_TRUE(daemon_->Send(StartJob(5, "n2")));
  ASSERT_TRUE(
      daemon_->WaitFor([](const Streams& s) { return Count(s, 0, IsStatus(5, v1::FAILED)) >= 1; }));
  EXPECT_TRUE(agent_->RunningJobs().empty());
}

TEST_F(AgentTest, ReRegistersWithRunningJobsAfterDaemonRestart) {
  StartDaemon();
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return !s.empty(); }));
  ASSERT_TRUE(daemon_->Send(StartJob(7, "n1")));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(7, v1::RUNNING)) >= 1; }));

  RestartDaemon();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return !s.empty(); }));
  const v1::AgentMessage first = daemon_->Received()[0][0];
  ASSERT_TRUE(first.has_register_());
  EXPECT_THAT(first.register_().running_jobs(), ElementsAre(7));
  EXPECT_EQ(first.register_().gpus_size(), 8);
  // And the new stream carries heartbeats again.
  EXPECT_TRUE(daemon_->WaitFor([](const Streams& s) { return Count(s, 0, IsHeartbeat) >= 1; }));
}

TEST_F(AgentTest, UnacknowledgedStatusesAreResentOnTheNextSession) {
  StartDaemon();  // never acks, like a berthd that lost the statuses
  StartAgent();
  ASSERT_TRUE(daemon_->Send(StartJob(42, "n1")));
  ASSERT_TRUE(daemon_->Send(StopJob(42)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(42, v1::CANCELLED)) >= 1; }));
  // RUNNING is kept after the end: berthd takes the start time from it.
  EXPECT_THAT(Keys(agent_->UnacknowledgedStatuses()),
              ElementsAre(Key{42, v1::RUNNING}, Key{42, v1::CANCELLED}));

  RestartDaemon();
  // The agent writes what it holds right after Registered, before it reads
  // the daemon's first message: so before the answer to this StopJob.
  ASSERT_TRUE(daemon_->Send(StopJob(100)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(100, v1::CANCELLED)) >= 1; }));
  const std::vector<v1::AgentMessage> stream = daemon_->Received()[0];
  EXPECT_TRUE(stream[0].has_register_());
  EXPECT_TRUE(stream[0].register_().running_jobs().empty());
  // Oldest first.
  const auto keys = StatusKeys(stream);
  ASSERT_GE(keys.size(), 3u);
  EXPECT_EQ(keys[0], (Key{42, v1::RUNNING}));
  EXPECT_EQ(keys[1], (Key{42, v1::CANCELLED}));
}

TEST_F(AgentTest, AcknowledgedStatusesAreNotResent) {
  StartDaemon();
  StartAgent();
  ASSERT_TRUE(daemon_->Send(StartJob(42, "n1")));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(42, v1::RUNNING)) >= 1; }));
  // Acks for another state or another job change nothing.
  ASSERT_TRUE(daemon_->Send(Ack(42, v1::SUCCEEDED)));
  ASSERT_TRUE(daemon_->Send(Ack(43, v1::RUNNING)));
  // The agent handles daemon messages in order: once CANCELLED 99 (the
  // answer to this StopJob) arrives, the acks above have been handled.
  ASSERT_TRUE(daemon_->Send(StopJob(99)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(99, v1::CANCELLED)) >= 1; }));
  EXPECT_THAT(Keys(agent_->UnacknowledgedStatuses()),
              ElementsAre(Key{42, v1::RUNNING}, Key{99, v1::CANCELLED}));

  ASSERT_TRUE(daemon_->Send(Ack(42, v1::RUNNING)));
  ASSERT_TRUE(daemon_->Send(Ack(99, v1::CANCELLED)));
  ASSERT_TRUE(Eventually([this] { return agent_->UnacknowledgedStatuses().empty(); }));

  RestartDaemon();
  // Statuses held at the session's start are written before this marker's.
  ASSERT_TRUE(daemon_->Send(StopJob(100)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(100, v1::CANCELLED)) >= 1; }));
  const Streams streams = daemon_->Received();
  EXPECT_THAT(streams[0][0].register_().running_jobs(), ElementsAre(42));
  EXPECT_EQ(Count(streams, 0, IsStatus(42, v1::RUNNING)), 0);
  EXPECT_EQ(Count(streams, 0, IsStatus(99, v1::CANCELLED)), 0);
}

TEST_F(AgentTest, UnacknowledgedStatusIsResentWhileConnected) {
  StartDaemon(/*heartbeat_ms=*/20);
  StartAgent();
  ASSERT_TRUE(daemon_->Send(StartJob(42, "n1")));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(42, v1::RUNNING)) >= 3; }));
  std::vector<v1::AgentMessage> stream = daemon_->Received()[0];
  const std::vector<size_t> copies = Positions(stream, IsStatus(42, v1::RUNNING));
  // Counted in heartbeats, not time: resent after kStatusResendHeartbeats
  // (5) heartbeats, then after twice that. The first wait may count one
  // heartbeat written just before the status (their threads race): 4 or 5.
  const int first_wait = HeartbeatsBetween(stream, copies[0], copies[1]);
  EXPECT_GE(first_wait, kStatusResendHeartbeats - 1);
  EXPECT_LE(first_wait, kStatusResendHeartbeats);
  EXPECT_EQ(HeartbeatsBetween(stream, copies[1], copies[2]), 2 * kStatusResendHeartbeats);

  // Acked: no more copies. The marker's answer arrives after every copy
  // written before the ack was handled.
  ASSERT_TRUE(daemon_->Send(Ack(42, v1::RUNNING)));
  ASSERT_TRUE(daemon_->Send(StopJob(99)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(99, v1::CANCELLED)) >= 1; }));
  const int sent = Count(daemon_->Received(), 0, IsStatus(42, v1::RUNNING));
  const int beats = Count(daemon_->Received(), 0, IsHeartbeat);
  // Longer than the next wait (4 * 5 = 20 heartbeats) of job 42's status.
  ASSERT_TRUE(daemon_->WaitFor([beats](const Streams& s) {
    return Count(s, 0, IsHeartbeat) >= beats + 8 * kStatusResendHeartbeats;
  }));
  EXPECT_EQ(Count(daemon_->Received(), 0, IsStatus(42, v1::RUNNING)), sent);
  // Not acked: still resent.
  EXPECT_GE(Count(daemon_->Received(), 0, IsStatus(99, v1::CANCELLED)), 2);
  EXPECT_EQ(daemon_->Received().size(), 1u);  // all on one stream
}

TEST_F(AgentTest, KeepsAtMostMaxUnacknowledgedStatuses) {
  StartDaemon();
  StartAgent({.max_unacknowledged = 3});
  for (int64_t id = 1; id <= 5; ++id) ASSERT_TRUE(daemon_->Send(StopJob(id)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(5, v1::CANCELLED)) >= 1; }));
  // 5 statuses, cap 3: jobs 1 and 2 (the oldest) were dropped.
  EXPECT_THAT(Keys(agent_->UnacknowledgedStatuses()),
              ElementsAre(Key{3, v1::CANCELLED}, Key{4, v1::CANCELLED}, Key{5, v1::CANCELLED}));

  RestartDaemon();
  // Held statuses are written before the answer to this StopJob.
  ASSERT_TRUE(daemon_->Send(StopJob(100)));
  ASSERT_TRUE(daemon_->WaitFor(
      [](const Streams& s) { return Count(s, 0, IsStatus(100, v1::CANCELLED)) >= 1; }));
  const Streams streams = daemon_->Received();
  const auto keys = StatusKeys(streams[0]);
  ASSERT_GE(keys.size(), 4u);
  EXPECT_EQ(keys[0], (Key{3, v1::CANCELLED}));
  EXPECT_EQ(keys[1], (Key{4, v1::CANCELLED}));
  EXPECT_EQ(keys[2], (Key{5, v1::CANCELLED}));
  EXPECT_EQ(Count(streams, 0, IsStatus(1, v1::CANCELLED)), 0);
  EXPECT_EQ(Count(streams, 0, IsStatus(2, v1::CANCELLED)), 0);
}

TEST_F(AgentTest, ReconnectsWhenRegisteredNeverComes) {
  StartDaemon(20, /*answer_register=*/false);
  StartAgent({.register_timeout = absl::Milliseconds(50)});
  // Each stream gets only the Register; then the agent tries again.
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return s.size() >= 2; }));
  const Streams streams = daemon_->Received();
  EXPECT_TRUE(streams[1][0].has_register_());
}

TEST_F(AgentTest, ShutdownStopsAConnectedAgent) {
  StartDaemon();
  StartAgent();
  ASSERT_TRUE(daemon_->WaitFor([](const Streams& s) { return Count(s, 0, IsHeartbeat) >= 1; }));
  StopAgent();  // expects Run() to return within the bound
}

TEST_F(AgentTest, ShutdownStopsAnAgentWithNoDaemon) {
  // Take a free port, then close it so nothing listens there.
  StartDaemon();
  StopServer(*server_);
  server_.reset();
  StartAgent();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let it retry
  StopAgent();
}

TEST(AgentCreateTest, RejectsBadOptions) {
  EXPECT_FALSE(Agent::Create({.node = "n1"}).ok());  // no GPUs
  v1::Register reg;
  reg.add_gpus()->set_type("l4-24gb");
  EXPECT_FALSE(Agent::Create({.node = "bad node", .registration = reg}).ok());
  EXPECT_FALSE(Agent::Create({.node = "n1",
                              .registration = reg,
                              .reconnect_backoff_min = absl::Seconds(2),
                              .reconnect_backoff_max = absl::Seconds(1)})
                   .ok());
  EXPECT_FALSE(Agent::Create({.node = "n1", .registration = reg, .max_unacknowledged = 0}).ok());
  EXPECT_TRUE(Agent::Create({.node = "n1", .registration = reg}).ok());
}

}  // namespace
}  // namespace berth::agent
