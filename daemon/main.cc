// berthd: the berth daemon. Flags are parsed here into a DaemonConfig.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/flags_help.h"
#include "common/limits.h"
#include "daemon/ha_daemon.h"
#include "daemon/leadership.h"
#include "daemon/server.h"
#include "db/pg_connection.h"
#include "db/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070", "gRPC address; port 0 picks a free port");
ABSL_FLAG(std::string, db, "berth.db",
          "SQLite database file (created if missing), or a PostgreSQL connection string "
          "(postgresql://USER@HOST:PORT/DB or libpq key=value) that several berthd share, one "
          "leading (docs/HA.md); never with a password in it");
ABSL_FLAG(std::string, db_password_file, "",
          "PostgreSQL: read the password from this file (else PGPASSWORD, ~/.pgpass, ...)");
ABSL_FLAG(std::string, advertise_address, "",
          "PostgreSQL: the HOST:PORT clients and agents reach this berthd at, which standbys "
          "name while it leads; empty: the --listen address with the port chosen");
ABSL_FLAG(int64_t, lease_ms, 5000,
          "PostgreSQL: how long one renewal keeps the leader lease, in milliseconds");
ABSL_FLAG(int64_t, lease_renew_ms, 1000,
          "PostgreSQL: the leader renews its lease this often, in milliseconds");
ABSL_FLAG(int64_t, standby_poll_ms, 500,
          "PostgreSQL: a standby looks whether the lease ran out this often, in milliseconds");
ABSL_FLAG(std::string, port_file, "",
          "write the chosen ports here as grpc=<port> (and metrics=<port>) lines");
ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus /metrics and the cluster map at / here, e.g. 127.0.0.1:9464; "
          "empty: off");
ABSL_FLAG(int64_t, heartbeat_ms, 1000, "interval agents send heartbeats at, in milliseconds");
ABSL_FLAG(int64_t, missed_heartbeats, 3,
          "a node that misses this many heartbeats in a row is DOWN and its jobs are requeued");
ABSL_FLAG(int64_t, recovery_grace_ms, 10000,
          "after a start, how long a node's agent has to reconnect before the node is DOWN "
          "(at least --missed_heartbeats intervals), in milliseconds");
ABSL_FLAG(int64_t, default_max_runtime_s, 0,
          "maximum run time for jobs that give none, in seconds; 0: unbounded");
ABSL_FLAG(int64_t, keep_finished_jobs, 10000,
          "ended jobs kept in memory (the newest); older ones stay in the database (until "
          "retention prunes them), where `berth job ID` still finds them, but leave `berth jobs` "
          "and the berth_jobs gauge");
ABSL_FLAG(absl::Duration, retain_ended_for, absl::Hours(90 * 24),
          "retention: ended jobs (with their events), and events about no job, older than this "
          "are deleted from the database, in small batches every minute; 0: kept however old");
ABSL_FLAG(int64_t, retain_jobs, 1'000'000,
          "retention: ended jobs older than the newest this many jobs are deleted from the "
          "database; 0: no count limit");
ABSL_FLAG(absl::Duration, request_id_window, absl::Hours(24),
          "a job submitted with a request id is never pruned within this time of its "
          "submission, so that a retry of the request finds it (at least 1s)");
ABSL_FLAG(bool, insecure, false, "allow listening on a non-loopback address without TLS");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain for the gRPC port; with --tls_key, clients must use TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that signs client certificates: any certificate presented must verify, and "
          "an agent must present one whose common name is its node name");
ABSL_FLAG(bool, insecure_agents, false,
          "with --tokens_file but no --tls_client_ca, start anyway: any client may then "
          "register as a node and receive jobs' specs (docs/SECURITY.md)");
ABSL_FLAG(std::string, tokens_file, "",
          "JSON {\"tokens\": [{\"token\", \"team\", \"admin\", \"name\"}]}: every "
          "SchedulerService call then needs `authorization: Bearer <token>`; empty: no user "
          "authentication (development mode)");
ABSL_FLAG(int64_t, list_reply_budget_mb, 128,
          "MiB of list replies (jobs, events) berthd holds built but unsent, all callers "
          "together; a reply beyond it is RESOURCE_EXHAUSTED (in [1, 65536])");
ABSL_FLAG(std::string, teams, "",
          "teams and GPU quotas YAML (docs/TEAMS.md): jobs must name a team of the file; "
          "empty: one shared pool");

namespace {

// What the operator gave up, said once at start (docs/SECURITY.md).
void WarnAboutSecurity(const berth::daemon::DaemonConfig& config) {
  if (config.tls_cert.empty()) {
    std::cerr << "berthd: warning: no TLS (--tls_cert, --tls_key): calls and tokens travel in "
                 "clear text\n";
  } else if (config.tls_client_ca.empty()) {
    std::cerr << "berthd: warning: no --tls_client_ca: agents are not authenticated and any "
                 "client may register any node\n";
  }
  if (config.tokens_file.empty()) {
    std::cerr << "berthd: warning: no --tokens_file: development mode, every caller may submit, "
                 "cancel, drain and back up as any team\n";
  }
}
// The password for libpq from --db_password_file, through PGPASSWORD
// (libpq's own variable); refuses a password in --db itself.
bool SetUpDatabasePassword(const std::string& db, const std::string& password_file) {
  if (berth::db::RedactConnectionString(db) != db) {
    std::cerr << "berthd: --db carries a password, which any user can read from the process "
                 "list; give it in --db_password_file or PGPASSWORD instead\n";
    return false;
  }
  if (password_file.empty()) return true;
  std::ifstream in(password_file);
  std::string password;
  if (!in || !std::getline(in, password) || password.empty() || password.size() > 1024) {
    std::cerr << "berthd: --db_password_file " << password_file
              << ": cannot read a password (one line, 1 to 1024 bytes) from it\n";
    return false;
  }
  setenv("PGPASSWORD", password.c_str(), 1);
  return true;
}

// berthd on PostgreSQL: standby, then leader (daemon/ha_daemon.h).
int RunHighlyAvailable(const berth::daemon::DaemonConfig& config, sigset_t& signals) {
  berth::daemon::HaOptions options{.lease = {.lease_ms = absl::GetFlag(FLAGS_lease_ms),
                                             .renew_ms = absl::GetFlag(FLAGS_lease_renew_ms),
                                             .poll_ms = absl::GetFlag(FLAGS_standby_poll_ms)},
                                   .advertise_address = absl::GetFlag(FLAGS_advertise_address),
                                   .on_lost = [](const absl::Status& why) {
                                     // Stop at once: no write of this term can succeed any more,
                                     // and the state in memory is stale. A supervisor starts berthd
                                     // again, and it comes back as a standby (docs/HA.md).
                                     std::cerr << "berthd: lost leadership (" << why.message()
                                               << "); exiting with "
                                               << berth::daemon::kExitLostLeadership << "\n";
                                     std::_Exit(berth::daemon::kExitLostLeadership);
                                   }};
  auto daemon = berth::daemon::HaDaemon::Start(config, std::move(options));
  if (!daemon.ok()) {
    std::cerr << "berthd: " << daemon.status().message() << "\n";
    return 1;
  }
  std::cerr << "berthd: listening on port " << (*daemon)->port() << ", database "
            << berth::db::RedactConnectionString(config.db_path) << ", standby until it leads ("
            << (*daemon)->holder() << ")\n";
  WarnAboutSecurity(config);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    std::cerr << "berthd: signal " << signal << ", shutting down\n";
    (*daemon)->Shutdown();
  });
  const absl::Status served = (*daemon)->Run();
  if (!served.ok()) {
    std::cerr << "berthd: " << served.message() << "\n";
    // Nothing else wakes the waiter: let it go.
    waiter.detach();
    return 1;
  }
  waiter.join();
  daemon->reset();
  std::cerr << "berthd: stopped\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  berth::ShowFlagsOfFileInHelp("daemon/main.cc");
  absl::SetProgramUsageMessage(
      "the berth GPU scheduler daemon.\n"
      "  berthd --listen 127.0.0.1:7070 --db /var/lib/berth/berth.db\n"
      "  berthd --listen 0.0.0.0:7070 --tls_cert berthd.crt --tls_key berthd.key \\\n"
      "         --tls_client_ca ca.crt --tokens_file tokens.json   (see docs/SECURITY.md)");
  absl::ParseCommandLine(argc, argv);
  // Lock-order checking costs a graph update per lock; tests run it instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  berth::daemon::DaemonConfig config{
      .listen = absl::GetFlag(FLAGS_listen),
      .db_path = absl::GetFlag(FLAGS_db),
      .port_file = absl::GetFlag(FLAGS_port_file),
      .metrics_listen = absl::GetFlag(FLAGS_metrics_listen),
      .heartbeat_interval_ms = absl::GetFlag(FLAGS_heartbeat_ms),
      .missed_heartbeats = absl::GetFlag(FLAGS_missed_heartbeats),
      .recovery_grace_ms = absl::GetFlag(FLAGS_recovery_grace_ms),
      .default_max_runtime_seconds = absl::GetFlag(FLAGS_default_max_runtime_s),
      .keep_finished_jobs = absl::GetFlag(FLAGS_keep_finished_jobs),
      .retention = {.ended_job_age_ms =
                        absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_retain_ended_for)),
                    .keep_jobs = absl::GetFlag(FLAGS_retain_jobs),
                    .request_id_window_ms =
                        absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_request_id_window))},
      .insecure = absl::GetFlag(FLAGS_insecure),
      .tls_cert = absl::GetFlag(FLAGS_tls_cert),
      .tls_key = absl::GetFlag(FLAGS_tls_key),
      .tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca),
      .tokens_file = absl::GetFlag(FLAGS_tokens_file),
      .insecure_agents = absl::GetFlag(FLAGS_insecure_agents),
      .teams_file = absl::GetFlag(FLAGS_teams),
      .list_reply_budget_bytes = absl::GetFlag(FLAGS_list_reply_budget_mb) << 20};
  if (config.heartbeat_interval_ms <= 0 || config.default_max_runtime_seconds < 0 ||
      config.missed_heartbeats < 1) {
    std::cerr << "berthd: --heartbeat_ms and --missed_heartbeats must be > 0 and "
                 "--default_max_runtime_s >= 0\n";
    return 2;
  }
  if (config.keep_finished_jobs < 0 || config.keep_finished_jobs > 100'000'000) {
    std::cerr << "berthd: --keep_finished_jobs must be in [0, 100000000], got "
              << config.keep_finished_jobs << "\n";
    return 2;
  }
  if (config.retention.ended_job_age_ms < 0 ||
      config.retention.ended_job_age_ms > berth::kMaxRetentionAgeMs) {
    std::cerr << "berthd: --retain_ended_for must be in [0, 876000h], got "
              << absl::GetFlag(FLAGS_retain_ended_for) << "\n";
    return 2;
  }
  if (config.retention.keep_jobs < 0 || config.retention.keep_jobs > berth::kMaxRetentionJobs) {
    std::cerr << "berthd: --retain_jobs must be in [0, " << berth::kMaxRetentionJobs << "], got "
              << config.retention.keep_jobs << "\n";
    return 2;
  }
  if (config.retention.request_id_window_ms < 1000 ||
      config.retention.request_id_window_ms > berth::kMaxRetentionAgeMs) {
    std::cerr << "berthd: --request_id_window must be in [1s, 876000h], got "
              << absl::GetFlag(FLAGS_request_id_window) << "\n";
    return 2;
  }
  if (const int64_t mb = absl::GetFlag(FLAGS_list_reply_budget_mb); mb < 1 || mb > 65536) {
    std::cerr << "berthd: --list_reply_budget_mb must be in [1, 65536], got " << mb << "\n";
    return 2;
  }
  // Signals are taken by a dedicated thread, never by a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (berth::db::Store::IsPostgresTarget(config.db_path)) {
    if (!SetUpDatabasePassword(config.db_path, absl::GetFlag(FLAGS_db_password_file))) return 2;
    return RunHighlyAvailable(config, signals);
  }
  auto server = berth::daemon::DaemonServer::Start(config);
  if (!server.ok()) {
    std::cerr << "berthd: " << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "berthd: listening on port " << (*server)->port() << ", database " << config.db_path
            << "\n";
  WarnAboutSecurity(config);
  if ((*server)->metrics_port() != 0) {
    std::cerr << "berthd: metrics and cluster map on http://127.0.0.1:" << (*server)->metrics_port()
              << "/\n";
  }
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    std::cerr << "berthd: signal " << signal << ", shutting down\n";
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  server->reset();
  std::cerr << "berthd: stopped\n";
  return 0;
}
