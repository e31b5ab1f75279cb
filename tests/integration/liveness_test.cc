// Liveness at many nodes (issue 15): 300 simulated nodes from two real
// berth-agent processes (--simulate) heartbeat a real berthd. The 50 nodes
// of one agent stop heartbeating (the process is frozen with SIGSTOP, so
// their streams stay open): each becomes DOWN, and none of the other 250
// does. Heartbeats are counted by berthd's metrics beside its SQLite
// commits: thousands of heartbeats, no commit for them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace berth::testing {
namespace {

constexpr int kSteady = 250;
constexpr int kFrozen = 50;

// GET /metrics from berthd's metrics port (named in its port file).
std::string ScrapeMetrics(const Cluster& cluster) {
  std::ifstream in(cluster.dir() + "/port");
  std::string line;
  int port = 0;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "metrics=")) (void)absl::SimpleAtoi(line.substr(8), &port);
  }
  if (port == 0) return "";
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string body;
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[65536];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) body.append(buffer, n);
    }
  }
  close(fd);
  return body;
}

// The value of the first sample named exactly `name` (no labels); -1 if none.
double Sample(const std::string& metrics, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, name + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(name.size() + 1), &value)) return value;
  }
  return -1;
}

// Node name → state, from ListNodes.
std::map<std::string, berth::v1::NodeState> NodeStates(Cluster& cluster) {
  berth::v1::ListNodesResponse nodes;
  auto context = Context();
  std::map<std::string, berth::v1::NodeState> states;
  if (!cluster.Scheduler()->ListNodes(context.get(), {}, &nodes).ok()) return states;
  for (const auto& node : nodes.nodes()) states[node.name()] = node.state();
  return states;
}

TEST(LivenessTest, NodesThatStopHeartbeatingGoDownAndTheOthersStayUp) {
  Cluster cluster;
  // Heartbeats every 200 ms (the harness's berthd); DOWN after 25 missed,
  // a 5 s budget that a loaded test machine does not miss by accident.
  cluster.SetDaemonFlags({"--missed_heartbeats=25"});
  ASSERT_TRUE(cluster.StartDaemon().ok());
  const std::string inventory = Inventory("h100-80gb", 8);
  ASSERT_TRUE(
      cluster.StartAgentWithFlags("steady", inventory, {absl::StrCat("--simulate=", kSteady)})
          .ok());
  ASSERT_TRUE(
      cluster.StartAgentWithFlags("frozen", inventory, {absl::StrCat("--simulate=", kFrozen)})
          .ok());
  ASSERT_TRUE(cluster.WaitForConnectedNodes(kSteady + kFrozen, absl::Seconds(90)).ok())
      << cluster.Log("agent-steady");

  // A window with every node heartbeating: the heartbeats are counted, and
  // SQLite commits far fewer times (none is due to a heartbeat).
  const std::string before = ScrapeMetrics(cluster);
  absl::SleepFor(absl::Seconds(3));
  const std::string after = ScrapeMetrics(cluster);
  const double beats =
      Sample(after, "berth_heartbeats_total") - Sample(before, "berth_heartbeats_total");
  const double commits = Sample(after, "berth_sqlite_commit_seconds_count") -
                         Sample(before, "berth_sqlite_commit_seconds_count");
  ASSERT_GE(Sample(before, "berth_sqlite_commit_seconds_count"), 0) << before;
  EXPECT_GE(beats, kSteady + kFrozen);  // at least one each (about 15 at 200 ms)
  EXPECT_LT(commits * 100, beats) << commits << " commits for " << beats << " heartbeats";
  std::cerr << "in 3 s: " << beats << " heartbeats, " << commits << " SQLite commits\n";

  ASSERT_TRUE(cluster.SignalAgent("frozen", SIGSTOP).ok());
  // Every frozen node goes DOWN; no steady node ever does.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  int down = 0;
  while (absl::Now() < deadline && down < kFrozen) {
    down = 0;
    for (const auto& [name, state] : NodeStates(cluster)) {
      if (absl::StartsWith(name, "steady-")) {
        ASSERT_EQ(state, berth::v1::UP) << name;
      } else if (state == berth::v1::DOWN) {
        ++down;
      }
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(down, kFrozen);
  // Three more budgets: the steady nodes are all still UP.
  for (int i = 0; i < 15; ++i) {
    int up = 0;
    for (const auto& [name, state] : NodeStates(cluster)) {
      if (absl::StartsWith(name, "steady-") && state == berth::v1::UP) ++up;
    }
    ASSERT_EQ(up, kSteady);
    absl::SleepFor(absl::Seconds(1));
  }
  // Thawed, the frozen nodes heartbeat again and come back UP.
  ASSERT_TRUE(cluster.SignalAgent("frozen", SIGCONT).ok());
  const absl::Time back_deadline = absl::Now() + absl::Seconds(60);
  int up = 0;
  while (absl::Now() < back_deadline && up < kSteady + kFrozen) {
    up = 0;
    for (const auto& [name, state] : NodeStates(cluster)) up += state == berth::v1::UP ? 1 : 0;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(up, kSteady + kFrozen);
}

}  // namespace
}  // namespace berth::testing
