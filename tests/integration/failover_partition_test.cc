// berthd high availability across a network partition (docs/HA.md, issue 16):
// the leader's machine is cut off while it keeps running.
//
// The test moves itself into a network namespace of its own
// (unshare(CLONE_NEWNET); ctest runs each test in its own process) and
// brings its loopback up, so it may firewall that loopback without touching
// the machine's. Everything runs there: a throwaway PostgreSQL
// (db/pg_test_cluster.h) listening on 127.0.0.1 and 127.0.0.3; the leader
// berthd on 127.0.0.2, reaching PostgreSQL at 127.0.0.3; the standby on
// 127.0.0.1, reaching it at 127.0.0.1; a berth-agent and three submitters
// that know both berthd (leader first). Four iptables rules (to and from
// 127.0.0.2 and 127.0.0.3) then cut the leader off from everything: neither
// the agent, the clients nor PostgreSQL hear it, and it hears none of them.
//
// PartitionedLeaderIsReplacedAndWritesNothing: the standby leads and accepts
// a submission sent to both addresses (the time from the cut is printed, a
// figure; the clients get no answer at all from the cut-off leader and move
// on after their deadline, cli/client.h); the cut-off leader, which cannot
// renew its lease, exits by itself with status 3 (kExitLostLeadership)
// before the new leader answers and before the partition heals; the agent
// registers with the new leader; every acknowledged submission is in the
// database once under its id; no GPU is in two active reservations. Row
// triggers record, for every row berthd writes, the address its connection
// reached PostgreSQL at and the lease row's term at that moment: after the
// partition heals, no write through 127.0.0.3 (the old leader's) saw a later
// term than its own, and the old leader's address refuses a submission,
// which is then not in the database.
//
// LeaderCutOffInsideAWriteIsReplaced: the same with the cut inside one of
// the old leader's write transactions, whose session PostgreSQL keeps open,
// holding the lease row's share lock, until idle_in_transaction_timeout_ms.
// The standby's take of the lease waits for it; it then renews at once, so
// that it does not step down for a lease counted from before the wait
// (which it did: the test failed with "lost leadership" in its log).
//
// Skipped, saying why, where the test cannot make a network namespace (not
// root, no CAP_SYS_ADMIN) or has no usable iptables.
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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

constexpr int kLeader = 0;   // berthd 0 leads first, on its own addresses
constexpr int kStandby = 1;  // berthd 1 stands by on 127.0.0.1
constexpr const char* kListenHost[] = {"127.0.0.2", "127.0.0.1"};
constexpr char kLeaderDbHost[] = "127.0.0.3";  // where the leader reaches PostgreSQL
constexpr int kSubmitters = 3;
constexpr int kMaxSubmissionsPerThread = 400;
constexpr int kExitLostLeadership = 3;  // daemon/leadership.h

// The rules that cut the leader off: nothing reaches 127.0.0.2 or 127.0.0.3
// and nothing leaves them (all traffic is on lo, so INPUT sees every packet).
constexpr const char* kCut[] = {"-d 127.0.0.2", "-s 127.0.0.2", "-d 127.0.0.3", "-s 127.0.0.3"};

// Row triggers on every table berthd writes: which address the writing
// session reached PostgreSQL at, and the term the lease row holds then (a
// statement in READ COMMITTED sees every term committed before it began).
constexpr char kAudit[] = R"sql(
CREATE TABLE partition_audit (
  id bigserial PRIMARY KEY,
  tbl text NOT NULL,
  server_addr text NOT NULL,
  term_seen bigint NOT NULL
);
CREATE FUNCTION partition_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO partition_audit(tbl, server_addr, term_seen)
    VALUES (TG_TABLE_NAME, host(inet_server_addr()), (SELECT term FROM leader WHERE id = 1));
  RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['leader', 'nodes', 'gpus', 'jobs', 'reservations', 'events',
                           'team_usage'] LOOP
    EXECUTE format('CREATE TRIGGER partition_audit AFTER INSERT OR UPDATE OR DELETE ON %I'
                   ' FOR EACH ROW EXECUTE FUNCTION partition_audit_row()', t);
  END LOOP;
END $$;
)sql";

// Slows each jobs row the old leader writes (it alone reaches PostgreSQL at
// 127.0.0.3) by 50 ms, so that it is inside a write nearly all the time.
constexpr char kSlowOldLeader[] = R"sql(
CREATE FUNCTION partition_slow_old_leader() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF host(inet_server_addr()) = '127.0.0.3' THEN PERFORM pg_sleep(0.05); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER partition_slow BEFORE INSERT OR UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION partition_slow_old_leader();
)sql";

// Brings `lo` of this network namespace up (what `ip link set lo up` does).
absl::Status LoopbackUp() {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  request.ifr_flags |= IFF_UP;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  const int error = errno;
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("cannot bring lo up: ", std::strerror(error)));
  return absl::OkStatus();
}

// Runs `iptables -w ARGS`; its output when it fails, else "".
std::string Iptables(const std::string& args) {
  int code = 0;
  std::string output = Shell("iptables -w " + args, &code);
  return code == 0 ? "" : absl::StrCat("iptables ", args, " (exit ", code, "): ", output);
}

class FailoverPartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // unshare moves only the calling thread; threads made earlier (gRPC's,
    // from another test in this process) would stay outside.
    const auto tasks = std::distance(std::filesystem::directory_iterator("/proc/self/task"), {});
    if (tasks != 1) {
      GTEST_SKIP() << "run this test on its own (ctest does): " << tasks << " threads";
    }
    if (unshare(CLONE_NEWNET) != 0) {
      GTEST_SKIP() << "cannot make a network namespace (unshare(CLONE_NEWNET): "
                   << std::strerror(errno) << "; needs root or CAP_SYS_ADMIN)";
    }
    in_namespace_ = true;
    const absl::Status up = LoopbackUp();
    if (!up.ok()) GTEST_SKIP() << up;
    if (const std::string error = Iptables("-S INPUT"); !error.empty()) {
      GTEST_SKIP() << "no usable iptables (deploy/install-deps.sh installs it): " << error;
    }
    auto pg = db::PgTestCluster::Start({.listen_addresses = "127.0.0.1,127.0.0.3"});
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    auto target = pg_->CreateDatabase();
    ASSERT_TRUE(target.ok()) << target.status();
    targets_[kStandby] = *target;
    targets_[kLeader] =
        absl::StrReplaceAll(*target, {{"@127.0.0.1:", absl::StrCat("@", kLeaderDbHost, ":")}});
    ASSERT_NE(targets_[kLeader], *target) << *target;
    char dir[] = "/tmp/berth-partition-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }

  void TearDown() override {
    if (in_namespace_) (void)Iptables("-F INPUT");  // never the machine's own rules
    stop_.store(true);
    for (std::thread& thread : threads_) thread.join();
    agent_.reset();
    for (auto& daemon : daemons_) daemon.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string Log(int i) const { return ReadText(absl::StrCat(dir_, "/berthd-", i, ".log")); }
  std::string AgentLog() const { return ReadText(dir_ + "/agent.log"); }
  std::string Address(int i) const { return absl::StrCat(kListenHost[i], ":", ports_[i]); }
  std::string Addresses() const { return Address(kLeader) + "," + Address(kStandby); }

  // Starts berthd `i` on its own address and waits for its port file.
  absl::Status StartDaemon(int i) {
    return StartBerthd(dir_, i, absl::StrCat(kListenHost[i], ":0"), targets_[i], 10000,
                       &daemons_[i], &ports_[i]);
  }

  bool Serving(int i) { return HealthServing(Address(i)); }
  bool WaitServing(int i, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Serving(i)) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  ClientOptions Options() const {
    return ClientOptions{.daemon = Addresses(),
                         .deadline = absl::Seconds(3),
                         .retry = {.max_retries = 4, .initial_backoff = absl::Milliseconds(50)}};
  }

  int64_t Submit(Client& client, const std::string& request_id, absl::Duration window,
                 grpc::Status* last = nullptr) {
    return SubmitUntilAccepted(client, request_id, window, stop_, last);
  }

  void StartCluster();
  void Partition(bool mid_write);
  void CheckDatabase(int64_t old_term);

  // One number from the database (the first column of the first row).
  int64_t QueryNumber(const std::string& sql) {
    auto row = conn_->Query(sql);
    EXPECT_TRUE(row.ok()) << sql << ": " << row.status();
    return row.ok() && row->rows() > 0 ? row->Int64(0, 0) : -1;
  }

  bool in_namespace_ = false;  // iptables may be run
  std::unique_ptr<db::PgTestCluster> pg_;
  std::string targets_[2];  // berthd i's --db
  std::string dir_;
  int ports_[2] = {0, 0};
  std::unique_ptr<Process> daemons_[2];
  std::unique_ptr<Process> agent_;
  std::unique_ptr<db::PgConnection> conn_;  // the test's own, at 127.0.0.1
  std::vector<std::thread> threads_;        // joined before the processes end
  std::atomic<bool> stop_{false};
  // The cut-off leader's exit status, and when after the cut it came (set
  // by a thread of threads_).
  absl::StatusOr<int> leader_exit_ = absl::DeadlineExceededError("not waited for");
  absl::Duration leader_exited_after_;
  int64_t open_writes_ = -1;                                         // see Partition()
  absl::Duration standby_serving_after_ = absl::InfiniteDuration();  // after the cut
  Acknowledged acked_;
};

// The leader on 127.0.0.2 and the standby on 127.0.0.1 (in that order, so
// that berthd 0 leads), the audit triggers, the agent connected to the
// leader, and the submitters running.
void FailoverPartitionTest::StartCluster() {
  ASSERT_TRUE(StartDaemon(kLeader).ok()) << Log(kLeader);
  ASSERT_TRUE(WaitServing(kLeader, absl::Seconds(20))) << Log(kLeader);
  ASSERT_TRUE(StartDaemon(kStandby).ok()) << Log(kStandby);
  ASSERT_FALSE(Serving(kStandby)) << Log(kStandby);
  auto conn = db::PgConnection::Open(targets_[kStandby], {});
  ASSERT_TRUE(conn.ok()) << conn.status();
  conn_ = *std::move(conn);
  const absl::StatusOr<db::PgResult> audit = conn_->Exec(kAudit);
  ASSERT_TRUE(audit.ok()) << audit.status();

  auto agent = StartAgent(dir_, Addresses());
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = *std::move(agent);
  ASSERT_TRUE(NodeConnectedAt(Address(kLeader), absl::Seconds(20))) << AgentLog();
  for (int t = 0; t < kSubmitters; ++t) {
    threads_.emplace_back([this, t] {
      RunSubmitter(Options(), t, kMaxSubmissionsPerThread, absl::Seconds(60),
                   absl::Milliseconds(30), stop_, acked_);
    });
  }
}

// After the partition healed: the old leader wrote nothing in a later term
// than its own, every acknowledged submission is stored once under its id,
// no GPU is reserved twice, and the store's invariants hold.
void FailoverPartitionTest::CheckDatabase(int64_t old_term) {
  const int64_t new_term = QueryNumber("SELECT term FROM leader WHERE id = 1");
  EXPECT_GT(new_term, old_term);
  const std::string by_old = "FROM partition_audit WHERE server_addr = '127.0.0.3'";
  const int64_t old_writes = QueryNumber("SELECT count(*) " + by_old);
  EXPECT_GT(old_writes, 0) << "the audit saw no write of the old leader: it would prove nothing";
  const int64_t stale =
      QueryNumber(absl::StrCat("SELECT count(*) ", by_old, " AND term_seen <> ", old_term));
  EXPECT_EQ(stale, 0) << "the old leader wrote after the takeover";
  const std::map<std::string, int64_t> acked = acked_.All();
  ExpectAcknowledgedKept(*conn_, targets_[kStandby], acked);
  std::cout << "partition: " << acked.size() << " submissions acknowledged; the old leader wrote "
            << old_writes << " rows, " << stale << " of them after its term " << old_term
            << " ended; new term " << new_term << "\n";
}

void FailoverPartitionTest::Partition(bool mid_write) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  if (mid_write) {
    const absl::StatusOr<db::PgResult> slow = conn_->Exec(kSlowOldLeader);
    ASSERT_TRUE(slow.ok()) << slow.status();
  }
  absl::SleepFor(absl::Seconds(2));  // let submissions land on the leader
  const int64_t old_term = QueryNumber("SELECT term FROM leader WHERE id = 1");
  auto watch = db::PgConnection::Open(targets_[kStandby], {});
  ASSERT_TRUE(watch.ok()) << watch.status();
  for (const char* rule : kCut) {
    ASSERT_EQ(Iptables(absl::StrCat("-A INPUT ", rule, " -j DROP")), "");
  }
  const absl::Time cut = absl::Now();
  // Cut off from the database, the old leader cannot renew and must exit by
  // itself, still cut off, before its lease can run out.
  threads_.emplace_back([this, cut] {
    leader_exit_ = daemons_[kLeader]->Wait(absl::Seconds(30));
    leader_exited_after_ = absl::Now() - cut;
  });
  // A second after the cut (before the standby's take of the lease can
  // lock the row too), whether a write of the old leader holds the lease
  // row's share lock; then when the standby reports SERVING.
  threads_.emplace_back([this, cut, watch = std::move(*watch)] {
    absl::SleepFor(absl::Seconds(1));
    auto open = watch->Query(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE"
        " c.relname = 'leader' AND l.mode = 'RowShareLock' AND l.granted");
    open_writes_ = open.ok() ? open->Int64(0, 0) : -1;
    if (WaitServing(kStandby, absl::Seconds(30))) standby_serving_after_ = absl::Now() - cut;
  });
  Client probe(Options());
  grpc::Status last;
  const int64_t id = Submit(probe, "probe", absl::Seconds(30), &last);
  ASSERT_NE(id, 0) << "no submission accepted within 30 s of the cut; the last call: "
                   << last.error_code() << " " << last.error_message() << " (at " << probe.address()
                   << ")\nthe standby's log:\n"
                   << Log(kStandby);
  const absl::Duration to_first = absl::Now() - cut;
  EXPECT_EQ(probe.address(), Address(kStandby)) << "the old leader accepted the probe";
  acked_.Add("probe", id);
  std::cout << "partition: first accepted submission " << absl::FormatDuration(to_first)
            << " after the leader was cut off\n";
  EXPECT_TRUE(Serving(kStandby)) << Log(kStandby);
  EXPECT_TRUE(NodeConnectedAt(Address(kStandby), absl::Seconds(30)))
      << "the agent did not follow; its log:\n"
      << AgentLog() << "\nthe new leader's log:\n"
      << Log(kStandby);
  absl::SleepFor(absl::Seconds(1));  // submissions land on the new leader
  stop_.store(true);
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  std::cout << "partition: " << open_writes_ << " write(s) of the old leader left open at the cut\n"
            << "partition: the standby reported SERVING "
            << absl::FormatDuration(standby_serving_after_) << " after the cut\n";
  if (mid_write) {
    EXPECT_GE(open_writes_, 1) << "the cut fell between two writes";
  }
  ASSERT_TRUE(leader_exit_.ok()) << "the cut-off leader is still running\n" << Log(kLeader);
  EXPECT_EQ(*leader_exit_, kExitLostLeadership) << Log(kLeader);
  EXPECT_LT(leader_exited_after_, to_first) << "the old leader ran on after the new one answered";
  std::cout << "partition: the cut-off leader exited with status " << *leader_exit_ << " "
            << absl::FormatDuration(leader_exited_after_) << " after the cut\n";

  // Heal, and give anything the old leader's kernel still held time to
  // arrive (its sockets outlive it while they retransmit). Its address now
  // refuses a submission, which is then not stored.
  ASSERT_EQ(Iptables("-F INPUT"), "");
  absl::SleepFor(absl::Seconds(5));
  Client old_leader(ClientOptions{.daemon = Address(kLeader), .retry = {.max_retries = 0}});
  berth::v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallJob("after-heal");
  berth::v1::SubmitJobResponse response;
  const grpc::Status status = old_leader.Call(&Client::Stub::SubmitJob, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(QueryNumber("SELECT count(*) FROM jobs WHERE request_id = 'after-heal'"), 0);
  CheckDatabase(old_term);
}

// The cut falls wherever the submissions are.
TEST_F(FailoverPartitionTest, PartitionedLeaderIsReplacedAndWritesNothing) {
  Partition(/*mid_write=*/false);
}

// The old leader's writes are slowed (50 ms a jobs row, by a trigger that
// only its connection meets) so that the cut falls inside one: its session
// stays open on the server, holding the lease row's share lock, until the
// server ends it (idle_in_transaction_timeout_ms, 10 s), and the standby's
// take of the lease waits that long. The new leader must not step down
// then for a lease it counts from before the wait.
TEST_F(FailoverPartitionTest, LeaderCutOffInsideAWriteIsReplaced) { Partition(/*mid_write=*/true); }

}  // namespace
}  // namespace berth::testing
