// PgTestCluster: a throwaway PostgreSQL server for tests, never the
// machine's own service. Start() runs initdb into a new temporary folder,
// starts `postgres` on 127.0.0.1 at a free port (its unix socket in the
// same folder) and waits until it accepts connections; the destructor stops
// it (fast shutdown) and removes the folder.
//
//   absl::StatusOr<std::unique_ptr<PgTestCluster>> cluster = PgTestCluster::Start();
//   ASSERT_TRUE(cluster.ok()) << cluster.status();
//   absl::StatusOr<std::string> target = (*cluster)->CreateDatabase();
//   auto store = Store::Open(*target);  // "postgresql://berth_test@127.0.0.1:PORT/t1"
//
// initdb refuses to run as root, so a test running as root (as CI does)
// runs initdb and postgres as the user `nobody` (uid and gid 65534), who
// owns the folder; the test connects over TCP as the cluster's superuser,
// berth_test, with trust authentication on loopback only. The binaries come
// from $BERTH_PG_BINDIR, or else the newest /usr/lib/postgresql/*/bin
// (Debian's `postgresql` package; deploy/install-deps.sh installs it).
//
// By default the server listens on 127.0.0.1 only; a test that needs more
// loopback addresses (say, to cut one off with a firewall rule) names them in
// PgTestClusterOptions::listen_addresses.
//
// The server runs with fsync off: these tests examine transactions, locks
// and constraints, not the durability of the test machine's disk, and it
// makes creating a database per test cheap.
#ifndef BERTH_DB_PG_TEST_CLUSTER_H_
#define BERTH_DB_PG_TEST_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::db {

struct PgTestClusterOptions {
  // PostgreSQL's listen_addresses; the first must be 127.0.0.1, which
  // Target() names and the start-up check connects to.
  std::string listen_addresses = "127.0.0.1";
};

class PgTestCluster {
 public:
  // FailedPrecondition naming what is missing when no PostgreSQL binaries
  // are installed; Internal with the server's log when it does not start.
  static absl::StatusOr<std::unique_ptr<PgTestCluster>> Start(PgTestClusterOptions options = {});
  ~PgTestCluster();
  PgTestCluster(const PgTestCluster&) = delete;
  PgTestCluster& operator=(const PgTestCluster&) = delete;

  // Creates a new, empty database and returns its connection string.
  absl::StatusOr<std::string> CreateDatabase();
  // The connection string of database `name` on this server.
  std::string Target(const std::string& name) const;

  // Stops the server (fast shutdown: sessions are cut), keeping its data.
  absl::Status Stop();
  // Starts it again on the same port and data.
  absl::Status Resume();

  int port() const { return port_; }

 private:
  PgTestCluster(std::string dir, std::string bindir, int port, PgTestClusterOptions options);
  absl::Status RunInitdb();
  absl::Status Launch();
  // Runs `argv` (as `nobody` when this process is root) with output to
  // `log`; returns its pid.
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log);
  std::string Log() const;

  std::string dir_;     // the temporary folder: data/, sock/, logs
  std::string bindir_;  // initdb, postgres
  int port_;
  PgTestClusterOptions options_;
  pid_t server_ = -1;
  int databases_ = 0;
};

}  // namespace berth::db

#endif  // BERTH_DB_PG_TEST_CLUSTER_H_
