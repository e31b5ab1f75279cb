// What the failover tests (failover_test.cc, failover_partition_test.cc)
// share: the job they submit, starting a berthd and reading its port file
// and log, asking its health, submitting until a leader accepts, the
// submitters and what they were told, and the checks of the database after.
#ifndef BERTH_TESTS_INTEGRATION_FAILOVER_SUPPORT_H_
#define BERTH_TESTS_INTEGRATION_FAILOVER_SUPPORT_H_

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/v1/scheduler.grpc.pb.h"
#include "cli/client.h"
#include "db/pg_connection.h"
#include "db/store.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace berth::testing {

// A one-GPU inference job of 2 s (so GPUs keep being reserved and released),
// named and identified by `request_id`.
inline berth::v1::JobSpec SmallJob(const std::string& request_id) {
  berth::v1::JobSpec spec;
  spec.set_name(request_id);
  spec.set_team("ha");
  spec.set_task("infer");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.set_gpu_type("h100-80gb");
  spec.set_max_runtime_seconds(2);
  spec.set_request_id(request_id);
  spec.add_command("python");
  spec.add_command("serve.py");
  return spec;
}

// The whole file ("" when it cannot be read).
inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The gRPC port a berthd wrote to its --port_file, once it has (within
// `timeout`).
inline absl::StatusOr<int> WaitForGrpcPort(const std::string& port_file, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::ifstream in(port_file);
    std::string line;
    int port = 0;
    if (std::getline(in, line) && line.rfind("grpc=", 0) == 0 &&
        absl::SimpleAtoi(line.substr(5), &port) && port > 0) {
      return port;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("no port in ", port_file));
}

// berthd number `i` of a failover test in `dir` (log berthd-i.log, port
// file berthd-i.port), listening on `listen` with the database `db`; its
// gRPC port once it has written it.
inline absl::Status StartBerthd(const std::string& dir, int i, const std::string& listen,
                                const std::string& db, int64_t recovery_grace_ms,
                                std::unique_ptr<Process>* process, int* port) {
  const std::string port_file = absl::StrCat(dir, "/berthd-", i, ".port");
  std::remove(port_file.c_str());
  absl::StatusOr<std::unique_ptr<Process>> started = Process::Start(
      {BERTHD_PATH, "--listen=" + listen, "--db=" + db, "--port_file=" + port_file,
       "--heartbeat_ms=200", absl::StrCat("--recovery_grace_ms=", recovery_grace_ms)},
      absl::StrCat(dir, "/berthd-", i, ".log"));
  if (!started.ok()) return started.status();
  *process = *std::move(started);
  absl::StatusOr<int> written = WaitForGrpcPort(port_file, absl::Seconds(20));
  if (!written.ok()) return written.status();
  *port = *written;
  return absl::OkStatus();
}

// The one agent of a failover test: node n1, 8 simulated h100-80gb,
// following `addresses` (a list), with `flags` added; its log is
// dir/agent.log.
inline absl::StatusOr<std::unique_ptr<Process>> StartAgent(const std::string& dir,
                                                           const std::string& addresses,
                                                           std::vector<std::string> flags = {}) {
  const std::string inventory = dir + "/inventory.json";
  std::ofstream(inventory) << Inventory("h100-80gb", 8);
  std::vector<std::string> argv = {BERTH_AGENT_PATH, "--daemon=" + addresses, "--node=n1",
                                   "--inventory=" + inventory, "--heartbeat_ms=200"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return Process::Start(argv, dir + "/agent.log");
}

// Whether the berthd at `address` says SERVING (it leads) within 500 ms.
inline bool HealthServing(const std::string& address) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckResponse response;
  auto context = Context(absl::Milliseconds(500));
  return health->Check(context.get(), {}, &response).ok() &&
         response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// Whether the berthd(s) `options` name show the one agent's node connected
// within `timeout`.
inline bool NodeConnected(const cli::ClientOptions& options, absl::Duration timeout) {
  cli::Client client(options);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    berth::v1::ListNodesResponse nodes;
    if (client.Call(&cli::Client::Stub::ListNodes, berth::v1::ListNodesRequest(), &nodes).ok() &&
        nodes.nodes_size() == 1 && nodes.nodes(0).connected()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// Whether the berthd at `address`, asked alone, shows the agent's node
// connected within `timeout`.
inline bool NodeConnectedAt(const std::string& address, absl::Duration timeout) {
  return NodeConnected(
      cli::ClientOptions{
          .daemon = address, .deadline = absl::Seconds(2), .retry = {.max_retries = 0}},
      timeout);
}

// Submits SmallJob(request_id) until a call is accepted, `window` ends or
// `stop` is set: the job's id, else 0. `last` (if given) gets the last
// refusal and `last_at` (if given) when it came, from the first call.
inline int64_t SubmitUntilAccepted(cli::Client& client, const std::string& request_id,
                                   absl::Duration window, const std::atomic<bool>& stop,
                                   grpc::Status* last = nullptr,
                                   absl::Duration* last_at = nullptr) {
  berth::v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallJob(request_id);
  const absl::Time start = absl::Now();
  while (absl::Now() < start + window && !stop.load()) {
    berth::v1::SubmitJobResponse response;
    const grpc::Status status = client.Call(&cli::Client::Stub::SubmitJob, request, &response);
    if (status.ok()) return response.job().id();
    if (last != nullptr) *last = status;
    if (last_at != nullptr) *last_at = absl::Now() - start;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return 0;
}

// The submissions berthd acknowledged, request id → job id (threads add).
class Acknowledged {
 public:
  void Add(const std::string& request_id, int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    acked_[request_id] = id;
  }
  // The job of the greatest request id; 0 when none yet.
  int64_t Last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.empty() ? 0 : acked_.rbegin()->second;
  }
  std::map<std::string, int64_t> All() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> acked_;
};

// One submitter, number `t`: jobs "s<t>-0", "s<t>-1", ... one after the
// other on one client, each retried for `window` until accepted and
// recorded in `acked`, `pause` apart, at most `count`, until `stop`.
inline void RunSubmitter(const cli::ClientOptions& options, int t, int count, absl::Duration window,
                         absl::Duration pause, const std::atomic<bool>& stop, Acknowledged& acked) {
  cli::Client client(options);
  for (int n = 0; n < count && !stop.load(); ++n) {
    const std::string request_id = absl::StrCat("s", t, "-", n);
    const int64_t id = SubmitUntilAccepted(client, request_id, window, stop);
    if (id != 0) acked.Add(request_id, id);
    absl::SleepFor(pause);
  }
}

// After the failovers: every acknowledged submission is in the database
// once, under the id it was acknowledged with; no GPU is in two active
// reservations; the store's invariants hold (opened on `target`).
inline void ExpectAcknowledgedKept(db::PgConnection& conn, const std::string& target,
                                   const std::map<std::string, int64_t>& acked) {
  auto rows = conn.Query("SELECT request_id, id FROM jobs");
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::map<std::string, std::vector<int64_t>> stored;
  for (int r = 0; r < rows->rows(); ++r) stored[rows->Text(r, 0)].push_back(rows->Int64(r, 1));
  for (const auto& [request_id, id] : acked) {
    ASSERT_EQ(stored[request_id].size(), 1u) << request_id;
    EXPECT_EQ(stored[request_id][0], id) << request_id;
  }
  auto doubled = conn.Query(
      "SELECT count(*) FROM (SELECT node, gpu_index FROM reservations WHERE active"
      " GROUP BY node, gpu_index HAVING count(*) > 1) AS twice");
  ASSERT_TRUE(doubled.ok()) << doubled.status();
  EXPECT_EQ(doubled->Int64(0, 0), 0) << "a GPU is in two active reservations";
  auto store = db::Store::Open(target);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->CheckInvariants().ok()) << (*store)->CheckInvariants();
}

}  // namespace berth::testing

#endif  // BERTH_TESTS_INTEGRATION_FAILOVER_SUPPORT_H_
