// Leadership of a shared PostgreSQL store (docs/HA.md): the lease settings,
// the moment a leader must stop, and LeaseKeeper, which renews the lease.
//
//   LeaseKeeper keeper(lease_store, term, settings, [](const absl::Status& why) {
//     ... stop writing at once (berthd exits with kExitLostLeadership) ...
//   });
//
// The lease lives in the database and runs out `lease_ms` after the
// database's clock at the renewal; a standby takes it only after that. A
// renewal sent at local time t therefore keeps the lease at least until
// t + lease_ms. The keeper renews every `renew_ms` on its own connection
// and, on a separate thread that never waits on the database, calls
// `on_lost` once MustStepDown() says so with no later successful renewal,
// `step_down_margin_ms` before any standby can lead. A renewal that finds
// another term calls `on_lost` at once. A paused leader cannot run either
// thread; the store's fence (every write checks the term inside its own
// transaction) refuses its writes after a takeover.
#ifndef BERTH_DAEMON_LEADERSHIP_H_
#define BERTH_DAEMON_LEADERSHIP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "db/store.h"

namespace berth::daemon {

// berthd's exit status when it lost leadership (a supervisor restarts it,
// and it comes back as a standby).
inline constexpr int kExitLostLeadership = 3;

struct LeaseSettings {
  int64_t lease_ms = 5000;             // how long a renewal keeps the lease
  int64_t renew_ms = 1000;             // the leader renews this often
  int64_t poll_ms = 500;               // a standby looks at the lease this often
  int64_t step_down_margin_ms = 1000;  // the leader stops this long before its lease ends
};

// InvalidArgument naming the field unless: every value > 0, and a leader
// gets at least two renewals in before it must step down
// (2 * renew_ms <= lease_ms - step_down_margin_ms).
absl::Status CheckLeaseSettings(const LeaseSettings& settings);

// Whether a leader whose last successful renewal was sent `since_renewal`
// ago (by a monotonic clock) must stop writing now.
bool MustStepDown(absl::Duration since_renewal, const LeaseSettings& settings);

// The address part of a lease holder ("ADDRESS pid N on HOST").
std::string HolderAddress(const std::string& holder);
// The holder string this process leads as.
std::string HolderFor(const std::string& advertise_address);

class LeaseKeeper {
 public:
  // `store` is used only by the keeper (its own connection); `acquired_at`
  // is when the AcquireLeadership call that gave `term` was sent, or a later
  // successful RenewLeadership of `term`.
  LeaseKeeper(db::Store& store, int64_t term, std::chrono::steady_clock::time_point acquired_at,
              LeaseSettings settings, std::function<void(const absl::Status&)> on_lost);
  ~LeaseKeeper();  // stops both threads (without resigning)
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

 private:
  void RenewLoop();
  void WatchLoop();
  void Lost(const absl::Status& why);

  db::Store& store_;
  const int64_t term_;
  const LeaseSettings settings_;
  std::function<void(const absl::Status&)> on_lost_;
  std::atomic<int64_t> renewed_ns_;  // steady clock: when the last good renewal was sent
  std::atomic<bool> lost_{false};
  absl::Notification stop_;
  std::thread renewer_;
  std::thread watcher_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_LEADERSHIP_H_
