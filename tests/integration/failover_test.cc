// berthd high availability end to end (docs/HA.md): a throwaway PostgreSQL
// (db/pg_test_cluster.h), two real berthd on 127.0.0.1 sharing it, a real
// berth-agent with a simulated inventory, and clients that know both
// addresses (berth::cli::Client, as `berth --daemon a,b` uses it).
//
// LeaderKilledRepeatedly: three submitters and a canceller run while the
// leader is killed with SIGKILL BERTH_FAILOVER_KILLS times (3 by default;
// bench/run_failover.sh asks for 10) and, once the other berthd leads,
// started again on its port as the standby. After each kill the other berthd leads, the agent
// registers with it, and the time from the kill to the first accepted submission is printed (a
// figure, not an assertion). At the end the database holds every acknowledged submission once under
// its acknowledged id, every acknowledged cancel as CANCELLED, no GPU in two active reservations,
// and the store's invariants hold.
//
// PausedLeaderWritesNothing: the leader is stopped with SIGSTOP until the
// standby leads, then continued: it must write nothing (a submission sent
// to it at once fails, and the database is as the new leader left it) and
// exit with status 3 (kExitLostLeadership) so that a supervisor restarts it.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/client.h"
#include "db/pg_connection.h"
#include "db/pg_test_cluster.h"
#include "db/store.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/failover_support.h"
#include "tests/integration/harness.h"

namespace berth::testing {
namespace {

using berth::cli::Client;
using berth::cli::ClientOptions;

constexpr int kDaemons = 2;
constexpr int kSubmitters = 3;
constexpr int kMaxSubmissionsPerThread = 400;
constexpr int kExitLostLeadership = 3;  // daemon/leadership.h

int Kills() {
  int kills = 3;
  const char* text = std::getenv("BERTH_FAILOVER_KILLS");
  if (text != nullptr && absl::SimpleAtoi(text, &kills) && kills >= 1 && kills <= 50) return kills;
  return 3;
}

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = db::PgTestCluster::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    auto target = pg_->CreateDatabase();
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = *target;
    char dir[] = "/tmp/berth-failover-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    for (int i = 0; i < kDaemons; ++i) {
      ASSERT_TRUE(StartDaemon(i).ok()) << Log(i);
    }
  }

  void TearDown() override {
    agent_.reset();
    for (auto& daemon : daemons_) daemon.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Log(int i) const { return ReadText(absl::StrCat(dir_, "/berthd-", i, ".log")); }
  // The last 4 KiB of the agent's log, for a failure's message.
  std::string AgentLogTail() const {
    const std::string text = ReadText(dir_ + "/agent.log");
    return text.substr(text.size() > 4096 ? text.size() - 4096 : 0);
  }
  std::string Address(int i) const { return absl::StrCat("127.0.0.1:", ports_[i]); }
  std::string Addresses() const {
    std::vector<std::string> all;
    for (int i = 0; i < kDaemons; ++i) all.push_back(Address(i));
    return absl::StrJoin(all, ",");
  }

  // Starts berthd `i` (on its earlier port after the first start) and waits
  // for its port file.
  absl::Status StartDaemon(int i) {
    return StartBerthd(dir_, i, absl::StrCat("127.0.0.1:", ports_[i]), target_, 5000, &daemons_[i],
                       &ports_[i]);
  }

  bool Serving(int i) { return HealthServing(Address(i)); }

  // The index of the berthd that reports SERVING; -1 if none in `timeout`.
  int WaitForLeader(absl::Duration timeout, int not_this = -1) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (int i = 0; i < kDaemons; ++i) {
        if (i != not_this && daemons_[i] != nullptr && Serving(i)) return i;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return -1;
  }

  ClientOptions Options() const {
    return ClientOptions{.daemon = Addresses(),
                         .deadline = absl::Seconds(3),
                         .retry = {.max_retries = 4, .initial_backoff = absl::Milliseconds(50)}};
  }

  int64_t Submit(Client& client, const std::string& request_id, absl::Duration window,
                 grpc::Status* last = nullptr, absl::Duration* last_at = nullptr) {
    return SubmitUntilAccepted(client, request_id, window, stop_, last, last_at);
  }

  std::unique_ptr<db::PgTestCluster> pg_;
  std::string target_;
  std::string dir_;
  int ports_[kDaemons] = {0, 0};
  std::unique_ptr<Process> daemons_[kDaemons];
  std::unique_ptr<Process> agent_;
  std::atomic<bool> stop_{false};
  Acknowledged acked_;
  std::mutex mu_;
  std::vector<int64_t> cancelled_;  // acknowledged cancels
};

TEST_F(FailoverTest, LeaderKilledRepeatedly) {
  int leader = WaitForLeader(absl::Seconds(20));
  ASSERT_GE(leader, 0) << Log(0) << Log(1);
  auto agent = StartAgent(dir_, Addresses());
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = *std::move(agent);

  // Waits until the leader shows the agent's node connected.
  auto agent_connected = [&](absl::Duration timeout) { return NodeConnected(Options(), timeout); };
  ASSERT_TRUE(agent_connected(absl::Seconds(20)));

  // Joined however the test body ends (an ASSERT returns early).
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread> threads;
    ~Joiner() {
      stop.store(true);
      for (std::thread& thread : threads) {
        if (thread.joinable()) thread.join();
      }
    }
  } joiner{stop_, {}};
  std::vector<std::thread>& threads = joiner.threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([this, t] {
      RunSubmitter(Options(), t, kMaxSubmissionsPerThread, absl::Seconds(30),
                   absl::Milliseconds(30), stop_, acked_);
    });
  }
  threads.emplace_back([this] {  // cancels a recent acknowledged job now and then
    Client client(Options());
    for (int n = 0; n < kMaxSubmissionsPerThread && !stop_.load(); ++n) {
      absl::SleepFor(absl::Milliseconds(150));
      const int64_t id = acked_.Last();
      if (id == 0) continue;
      berth::v1::CancelJobRequest request;
      request.set_id(id);
      berth::v1::Job response;
      if (client.Call(&Client::Stub::CancelJob, request, &response).ok() &&
          response.state() == berth::v1::CANCELLED) {
        std::lock_guard<std::mutex> lock(mu_);
        cancelled_.push_back(id);
      }
    }
  });

  const int kills = Kills();
  for (int k = 0; k < kills; ++k) {
    absl::SleepFor(absl::Seconds(1));  // let submissions land on this leader
    daemons_[leader]->Signal(SIGKILL);
    const absl::Time killed = absl::Now();
    ASSERT_TRUE(daemons_[leader]->Wait(absl::Seconds(10)).ok());
    const int old = leader;
    daemons_[old].reset();
    Client probe(Options());
    // When the standby first answers health checks as the leader.
    std::atomic<bool> probed{false};
    absl::Duration to_serving = absl::InfiniteDuration();
    std::thread watch([&, standby = 1 - old] {
      while (!probed.load() && absl::Now() - killed < absl::Seconds(30)) {
        if (Serving(standby)) {
          to_serving = absl::Now() - killed;
          return;
        }
        absl::SleepFor(absl::Milliseconds(20));
      }
    });
    grpc::Status last_refusal;
    absl::Duration last_refusal_at = absl::ZeroDuration();
    const int64_t id = Submit(probe, absl::StrCat("probe-", k), absl::Seconds(30), &last_refusal,
                              &last_refusal_at);
    const absl::Duration to_first = absl::Now() - killed;
    probed.store(true);
    watch.join();
    ASSERT_NE(id, 0) << "no submission accepted within 30 s of kill " << k;
    acked_.Add(absl::StrCat("probe-", k), id);
    leader = WaitForLeader(absl::Seconds(5));
    ASSERT_EQ(leader, 1 - old) << Log(1 - old);
    ASSERT_TRUE(StartDaemon(old).ok()) << Log(old);  // back, as the standby
    std::cout << "failover " << k + 1 << "/" << kills << ": first accepted submission "
              << absl::FormatDuration(to_first) << " after SIGKILL of the leader; the standby "
              << "served at " << absl::FormatDuration(to_serving)
              << "; the last refusal before it: code " << last_refusal.error_code() << " at "
              << absl::FormatDuration(last_refusal_at) << ": " << last_refusal.error_message()
              << "\n";
    ASSERT_TRUE(agent_connected(absl::Seconds(20)))
        << "the agent did not follow kill " << k << "; the agent's log ends:\n"
        << AgentLogTail() << "\nthe leader's log:\n"
        << Log(leader);
  }
  stop_.store(true);
  for (std::thread& thread : threads) thread.join();
  threads.clear();

  auto conn = db::PgConnection::Open(target_, {});
  ASSERT_TRUE(conn.ok()) << conn.status();
  const std::map<std::string, int64_t> acked = acked_.All();
  EXPECT_GE(acked.size(), static_cast<size_t>(kills));
  ExpectAcknowledgedKept(**conn, target_, acked);
  auto rows = (*conn)->Query("SELECT id, state FROM jobs");
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::map<int64_t, int64_t> states;
  for (int r = 0; r < rows->rows(); ++r) states[rows->Int64(r, 0)] = rows->Int64(r, 1);
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t id : cancelled_) EXPECT_EQ(states[id], berth::v1::CANCELLED) << "job " << id;
  std::cout << acked.size() << " submissions and " << cancelled_.size()
            << " cancels acknowledged over " << kills << " failovers\n";
}

TEST_F(FailoverTest, PausedLeaderWritesNothing) {
  const int leader = WaitForLeader(absl::Seconds(20));
  ASSERT_GE(leader, 0) << Log(0) << Log(1);
  const int standby = 1 - leader;
  // No agent here: a submission is refused for want of GPUs, and recorded
  // (a REJECTED row, a write) by whoever leads.
  auto submit = [](Client& client, const std::string& request_id) {
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallJob(request_id);
    berth::v1::SubmitJobResponse response;
    return client.Call(&Client::Stub::SubmitJob, request, &response);
  };
  {
    Client client(Options());
    const grpc::Status status = submit(client, "before-pause");
    ASSERT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  }
  daemons_[leader]->Signal(SIGSTOP);
  ASSERT_EQ(WaitForLeader(absl::Seconds(20), leader), standby) << Log(standby);

  auto conn = db::PgConnection::Open(target_, {});
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto snapshot = [&]() -> std::string {
    auto row = (*conn)->Query(
        "SELECT (SELECT count(*) FROM jobs), (SELECT COALESCE(max(id), 0) FROM events),"
        " (SELECT count(*) FROM reservations), (SELECT term FROM leader WHERE id = 1)");
    EXPECT_TRUE(row.ok()) << row.status();
    if (!row.ok()) return "";
    return absl::StrCat(row->Int64(0, 0), " jobs, last event ", row->Int64(0, 1), ", ",
                        row->Int64(0, 2), " reservations, term ", row->Int64(0, 3));
  };
  const std::string before = snapshot();

  daemons_[leader]->Signal(SIGCONT);
  // Straight to the old leader, no retries: it must not accept this.
  Client old_leader(ClientOptions{.daemon = Address(leader), .retry = {.max_retries = 0}});
  const grpc::Status status = submit(old_leader, "after-resume");
  // Not recorded: UNAVAILABLE (fenced, or gone), never the recorded refusal.
  EXPECT_NE(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_FALSE(status.ok());

  absl::StatusOr<int> exit = daemons_[leader]->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.ok()) << "the resumed old leader did not step down\n" << Log(leader);
  EXPECT_EQ(*exit, kExitLostLeadership) << Log(leader);
  EXPECT_EQ(snapshot(), before) << "the database changed after the old leader resumed";
  auto found = (*conn)->Query("SELECT count(*) FROM jobs WHERE request_id = 'after-resume'");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->Int64(0, 0), 0);
  EXPECT_TRUE(Serving(standby));  // the new leader leads on, and writes
  Client client(Options());
  EXPECT_EQ(submit(client, "after-takeover").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  found = (*conn)->Query("SELECT count(*) FROM jobs WHERE request_id = 'after-takeover'");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->Int64(0, 0), 1);
}

// An agent connected to a leader that is paused (not dead) must not wait
// for it: its keepalive PINGs go unanswered, it leaves, and registers with
// the standby once that leads, while the old leader is still stopped. Without
// the keepalive the paused leader's kernel keeps accepting the heartbeats and
// the agent stays (checked: the test fails with --keepalive_ms=0).
TEST_F(FailoverTest, AgentLeavesAPausedLeader) {
  const int leader = WaitForLeader(absl::Seconds(20));
  ASSERT_GE(leader, 0) << Log(0) << Log(1);
  const int standby = 1 - leader;
  const char* keepalive = std::getenv("BERTH_TEST_AGENT_KEEPALIVE_MS");
  auto agent = StartAgent(dir_, Addresses(),
                          {absl::StrCat("--keepalive_ms=", keepalive ? keepalive : "1000")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = *std::move(agent);
  ASSERT_TRUE(NodeConnectedAt(Address(leader), absl::Seconds(20))) << Log(leader);

  daemons_[leader]->Signal(SIGSTOP);
  ASSERT_EQ(WaitForLeader(absl::Seconds(20), leader), standby) << Log(standby);
  // The new leader gives agents --recovery_grace_ms (5 s here) to come
  // back; the agent is there well within 20 s, the old leader still stopped.
  const bool followed = NodeConnectedAt(Address(standby), absl::Seconds(20));
  daemons_[leader]->Signal(SIGCONT);
  std::ifstream agent_log(dir_ + "/agent.log");
  EXPECT_TRUE(followed) << "the agent stayed with the paused leader\n"
                        << std::string(std::istreambuf_iterator<char>(agent_log), {});
  absl::StatusOr<int> exit = daemons_[leader]->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.ok()) << Log(leader);
  EXPECT_EQ(*exit, kExitLostLeadership);
}

// A password in --db would be in every user's `ps`: berthd refuses it, and
// says so without repeating it.
TEST(FailoverFlagsTest, APasswordOnTheCommandLineIsRefused) {
  char dir[] = "/tmp/berth-password-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/berthd.log";
  auto process = Process::Start(
      {BERTHD_PATH, "--listen=127.0.0.1:0", "--db=postgresql://berth:s3cret@127.0.0.1:1/berth"},
      log);
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> exit = (*process)->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(*exit, 2);
  std::ifstream in(log);
  const std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(text.find("--db_password_file"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::testing
