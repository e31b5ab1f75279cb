// HaDaemon: berthd on a PostgreSQL store that other berthd share, as a
// standby until it wins the leader lease, then as the leader (docs/HA.md).
//
//   BERTH_ASSIGN_OR_RETURN(auto daemon, HaDaemon::Start(config, ha));
//   absl::Status served = daemon->Run();  // until Shutdown() from another thread
//
// Start() opens the store twice (one connection for the lease, one for the
// core's writes), listens as a StandbyServer (every call UNAVAILABLE naming
// the leader, health NOT_SERVING), serves /metrics with berth_leader 0 and
// writes the port file. Run() polls the lease every poll_ms; once it has run
// out, it takes it (a new term), starts a LeaseKeeper, and replaces the
// standby with a DaemonServer on the same ports, which recovers the state
// from the store exactly as after a restart. A leader that loses the lease
// calls `on_lost` (berthd exits with kExitLostLeadership at once, and its
// supervisor starts it again as a standby). Shutdown() resigns the lease so
// that a standby takes over without waiting for it to run out.
#ifndef BERTH_DAEMON_HA_DAEMON_H_
#define BERTH_DAEMON_HA_DAEMON_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "daemon/http_server.h"
#include "daemon/leadership.h"
#include "daemon/metrics.h"
#include "daemon/server.h"
#include "daemon/standby_server.h"
#include "db/store.h"

namespace berth::daemon {

struct HaOptions {
  LeaseSettings lease;
  // The address clients and agents reach this berthd at, stored with the
  // lease; empty: the listen address (with the port chosen).
  std::string advertise_address;
  // Called once, from a keeper thread, when leadership is lost.
  std::function<void(const absl::Status&)> on_lost;
};

class HaDaemon {
 public:
  static absl::StatusOr<std::unique_ptr<HaDaemon>> Start(const DaemonConfig& config,
                                                         HaOptions options);
  ~HaDaemon();

  // Stands by, then leads, until Shutdown(). Not OK when the leader's
  // server could not start.
  absl::Status Run();
  void Shutdown();

  int port() const { return port_; }
  const std::string& holder() const { return holder_; }

 private:
  HaDaemon() = default;
  // Takes the lease if it has run out; true when this berthd now leads.
  bool TryToLead();
  absl::Status Lead();
  std::string StandbyMessage();

  DaemonConfig config_;  // listen and metrics_listen with the ports chosen
  HaOptions options_;
  std::string holder_;
  int port_ = 0;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<db::Store> lease_store_;  // the keeper's (and the poller's) connection
  std::unique_ptr<db::Store> core_store_;   // the writes' connection, handed to the core
  std::unique_ptr<StandbyServer> standby_;
  std::unique_ptr<HttpServer> standby_http_;
  std::unique_ptr<LeaseKeeper> keeper_;
  int64_t term_ = 0;
  absl::Notification stop_;
  absl::Mutex mu_;
  std::string leader_address_ ABSL_GUARDED_BY(mu_);  // as the lease names it
  std::unique_ptr<DaemonServer> server_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_HA_DAEMON_H_
