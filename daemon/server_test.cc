// Without TLS berthd listens only on loopback addresses unless --insecure
// (issue 7, "Authentication and authorisation").
#include "daemon/server.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "db/test_temp_dir.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

TEST(IsLoopbackTest, OnlyLoopbackAddressesWithAPort) {
  for (const char* listen :
       {"127.0.0.1:7070", "127.0.0.1:0", "127.1.2.3:80", "[::1]:7070", "localhost:7070"}) {
    EXPECT_TRUE(IsLoopback(listen)) << listen;
  }
  for (const char* listen :
       {"0.0.0.0:7070", "[::]:7070", "10.0.0.1:7070", "128.0.0.1:7070", "127.0.0.1",
        "127.example.com:7070", "127.0.0.1.example.com:7070", "[::1:7070", "[::10]:7070",
        "localhost.example.com:7070", ":7070", ""}) {
    EXPECT_FALSE(IsLoopback(listen)) << listen;
  }
}

// berthd without TLS on `listen`, with its database in `dir`.
DaemonConfig Config(const db::TestTempDir& dir, const std::string& listen) {
  DaemonConfig config;
  config.listen = listen;
  config.db_path = dir.Path("berth.db");
  return config;
}

TEST(DaemonServerTest, RefusesANonLoopbackAddressWithoutTlsBeforeTouchingTheDatabase) {
  db::TestTempDir dir;
  const DaemonConfig config = Config(dir, "0.0.0.0:0");
  auto server = DaemonServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(server.status().message(), "--listen 0.0.0.0:0"))
      << server.status();
  EXPECT_TRUE(absl::StrContains(server.status().message(), "--insecure")) << server.status();
  EXPECT_FALSE(std::filesystem::exists(config.db_path));
}

TEST(DaemonServerTest, RefusesANonLoopbackMetricsAddressWithoutInsecure) {
  db::TestTempDir dir;
  DaemonConfig config = Config(dir, "127.0.0.1:0");
  config.metrics_listen = "0.0.0.0:0";
  auto server = DaemonServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(server.status().message(), "--metrics_listen 0.0.0.0:0"))
      << server.status();
}

// Issue 18, finding 13: tokens for users but none for agents is refused
// unless the operator says so.
TEST(DaemonServerTest, RefusesTokensWithoutAgentCertificatesUnlessInsecureAgents) {
  db::TestTempDir dir;
  const std::string tokens = dir.Path("tokens.json");
  std::ofstream(tokens) << R"({"tokens": [{"token": "secret-token-0123456789", "name": "alice",)"
                        << R"( "team": "nlp"}]})";
  DaemonConfig config = Config(dir, "127.0.0.1:0");
  config.tokens_file = tokens;
  auto refused = DaemonServer::Start(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "--insecure_agents"))
      << refused.status();
  EXPECT_FALSE(std::filesystem::exists(config.db_path));
  config.insecure_agents = true;
  auto server = DaemonServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Shutdown();
}

TEST(DaemonServerTest, ServesOnLoopbackWithoutTls) {
  db::TestTempDir dir;
  auto server = DaemonServer::Start(Config(dir, "127.0.0.1:0"));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  (*server)->Shutdown();
}

}  // namespace
}  // namespace berth::daemon
