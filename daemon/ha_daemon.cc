#include "daemon/ha_daemon.h"

#include <chrono>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/leader_hint.h"
#include "common/status_macros.h"
#include "db/pg_connection.h"

namespace berth::daemon {
namespace {

// "HOST:PORT" with PORT replaced ("127.0.0.1:0" → "127.0.0.1:41233").
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HaDaemon>> HaDaemon::Start(const DaemonConfig& config,
                                                          HaOptions options) {
  BERTH_RETURN_IF_ERROR(CheckSecurityConfig(config));
  BERTH_RETURN_IF_ERROR(CheckLeaseSettings(options.lease));
  if (!config.metrics_listen.empty() && !config.insecure && !IsLoopback(config.metrics_listen)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--metrics_listen ", config.metrics_listen,
                     " is not a loopback address; pass --insecure to allow it"));
  }
  BERTH_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                         ServerCredentialsFor(config));
  std::unique_ptr<HaDaemon> daemon(new HaDaemon());
  const db::StoreOptions store_options{.recent_terminal_jobs = config.keep_finished_jobs};
  BERTH_ASSIGN_OR_RETURN(daemon->lease_store_, db::Store::Open(config.db_path, store_options));
  BERTH_ASSIGN_OR_RETURN(daemon->core_store_, db::Store::Open(config.db_path, store_options));
  daemon->metrics_ = std::make_unique<Metrics>(
      kBerthVersion, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  daemon->metrics_->leader.Set(0);
  HaDaemon* raw = daemon.get();
  BERTH_ASSIGN_OR_RETURN(daemon->standby_,
                         StandbyServer::Start(config.listen, std::move(credentials),
                                              [raw] { return raw->StandbyMessage(); }));
  daemon->port_ = daemon->standby_->port();
  daemon->config_ = config;
  daemon->config_.listen = WithPort(config.listen, daemon->port_);
  int metrics_port = 0;
  if (!config.metrics_listen.empty()) {
    Metrics* metrics = daemon->metrics_.get();
    std::map<std::string, HttpServer::Handler> routes;
    routes["/metrics"] = [metrics] {
      return HttpResponse{"text/plain; version=0.0.4; charset=utf-8", metrics->Serialize()};
    };
    BERTH_ASSIGN_OR_RETURN(daemon->standby_http_,
                           HttpServer::Start(config.metrics_listen, std::move(routes)));
    metrics_port = daemon->standby_http_->port();
    daemon->config_.metrics_listen = WithPort(config.metrics_listen, metrics_port);
  }
  const std::string advertise =
      options.advertise_address.empty() ? daemon->config_.listen : options.advertise_address;
  daemon->holder_ = HolderFor(advertise);
  daemon->options_ = std::move(options);
  daemon->options_.advertise_address = advertise;
  if (!config.port_file.empty()) {
    BERTH_RETURN_IF_ERROR(WritePortFile(config.port_file, daemon->port_, metrics_port));
  }
  return daemon;
}

HaDaemon::~HaDaemon() {
  keeper_.reset();
  absl::MutexLock lock(&mu_);
  server_.reset();
}

std::string HaDaemon::StandbyMessage() {
  absl::MutexLock lock(&mu_);
  return absl::StrCat("berthd at ", options_.advertise_address, " is a standby; ",
                      leader_address_.empty() ? "no berthd leads now (one will within seconds)"
                                              : LeaderHint(leader_address_));
}

bool HaDaemon::TryToLead() {
  absl::StatusOr<db::LeaderLease> lease = lease_store_->Leader();
  if (!lease.ok()) {
    std::cerr << "berthd: standby cannot read the lease: " << lease.status().message() << "\n";
    return false;
  }
  {
    absl::MutexLock lock(&mu_);
    leader_address_ = lease->live ? HolderAddress(lease->holder) : "";
  }
  if (lease->live) return false;
  const auto sent = std::chrono::steady_clock::now();
  absl::StatusOr<int64_t> term = core_store_->AcquireLeadership(holder_, options_.lease.lease_ms);
  if (!term.ok()) {
    // FailedPrecondition: another standby was quicker.
    if (!absl::IsFailedPrecondition(term.status())) {
      std::cerr << "berthd: standby cannot take the lease: " << term.status().message() << "\n";
    }
    return false;
  }
  term_ = *term;
  // The lease runs from when the take was sent, the only local bound there
  // is; but the take may have waited for a cut-off leader's open write to
  // be ended by the server (up to idle_in_transaction_timeout_ms), and then
  // the keeper would find its lease nearly spent and step down at once.
  // A renewal now restarts the count from its own sending.
  const auto renewal = std::chrono::steady_clock::now();
  const bool renewed = lease_store_->RenewLeadership(term_, options_.lease.lease_ms).ok();
  keeper_ = std::make_unique<LeaseKeeper>(*lease_store_, term_, renewed ? renewal : sent,
                                          options_.lease, options_.on_lost);
  return true;
}

absl::Status HaDaemon::Run() {
  while (!stop_.HasBeenNotified()) {
    if (TryToLead()) return Lead();
    stop_.WaitForNotificationWithTimeout(absl::Milliseconds(options_.lease.poll_ms));
  }
  return absl::OkStatus();
}

absl::Status HaDaemon::Lead() {
  metrics_->leader.Set(1);
  metrics_->leadership_changes.Increment();
  std::cerr << "berthd: leading " << db::RedactConnectionString(config_.db_path) << " as term "
            << term_ << " (" << holder_ << ")\n";
  // The ports are free again once the standby's servers are gone.
  standby_.reset();
  standby_http_.reset();
  absl::StatusOr<std::unique_ptr<DaemonServer>> started =
      DaemonServer::Start(config_, std::move(core_store_), metrics_.get());
  if (!started.ok()) {
    keeper_.reset();
    (void)lease_store_->ResignLeadership(term_);
    return started.status();
  }
  DaemonServer* server = started->get();
  {
    absl::MutexLock lock(&mu_);
    server_ = std::move(*started);
    if (stop_.HasBeenNotified()) server_->Shutdown();
  }
  server->Wait();
  keeper_.reset();
  // Let a standby lead now rather than when the lease runs out.
  (void)lease_store_->ResignLeadership(term_);
  metrics_->leader.Set(0);
  metrics_->leadership_changes.Increment();
  return absl::OkStatus();
}

void HaDaemon::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace berth::daemon
