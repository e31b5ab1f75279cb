#include "daemon/leadership.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::daemon {

absl::Status CheckLeaseSettings(const LeaseSettings& s) {
  for (const auto& [name, value] : {std::pair<const char*, int64_t>{"--lease_ms", s.lease_ms},
                                    {"--lease_renew_ms", s.renew_ms},
                                    {"--standby_poll_ms", s.poll_ms},
                                    {"step_down_margin_ms", s.step_down_margin_ms}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(absl::StrFormat("%s must be > 0, got %d", name, value));
    }
  }
  if (2 * s.renew_ms > s.lease_ms - s.step_down_margin_ms) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--lease_renew_ms %d is too long for --lease_ms %d: a leader must renew at least twice "
        "in the %d ms before it steps down (%d ms before the lease ends)",
        s.renew_ms, s.lease_ms, s.lease_ms - s.step_down_margin_ms, s.step_down_margin_ms));
  }
  return absl::OkStatus();
}

bool MustStepDown(absl::Duration since_renewal, const LeaseSettings& settings) {
  return since_renewal >= absl::Milliseconds(settings.lease_ms - settings.step_down_margin_ms);
}

namespace {
int64_t SteadyNs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

std::string HolderAddress(const std::string& holder) { return holder.substr(0, holder.find(' ')); }

std::string HolderFor(const std::string& advertise_address) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(advertise_address, " pid ", getpid(), " on ", host);
}

LeaseKeeper::LeaseKeeper(db::Store& store, int64_t term,
                         std::chrono::steady_clock::time_point acquired_at, LeaseSettings settings,
                         std::function<void(const absl::Status&)> on_lost)
    : store_(store),
      term_(term),
      settings_(settings),
      on_lost_(std::move(on_lost)),
      renewed_ns_(SteadyNs(acquired_at)) {
  renewer_ = std::thread([this] { RenewLoop(); });
  watcher_ = std::thread([this] { WatchLoop(); });
}

LeaseKeeper::~LeaseKeeper() {
  stop_.Notify();
  renewer_.join();
  watcher_.join();
}

void LeaseKeeper::Lost(const absl::Status& why) {
  if (lost_.exchange(true)) return;
  on_lost_(why);
}

void LeaseKeeper::RenewLoop() {
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(settings_.renew_ms))) {
    const auto sent = std::chrono::steady_clock::now();
    const absl::Status status = store_.RenewLeadership(term_, settings_.lease_ms);
    if (status.ok()) {
      renewed_ns_.store(SteadyNs(sent));
    } else if (absl::IsFailedPrecondition(status)) {
      Lost(status);  // another term began: this one can never write again
      return;
    }
    // Anything else (the database unreachable, say) is retried; the watcher
    // steps down if no renewal succeeds in time.
  }
}

void LeaseKeeper::WatchLoop() {
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    const absl::Duration since =
        absl::Nanoseconds(SteadyNs(std::chrono::steady_clock::now()) - renewed_ns_.load());
    if (MustStepDown(since, settings_)) {
      Lost(absl::UnavailableError(absl::StrFormat(
          "no lease renewal of term %d succeeded for %s; stepping down %d ms before the lease "
          "can run out",
          term_, absl::FormatDuration(since), settings_.step_down_margin_ms)));
      return;
    }
  }
}

}  // namespace berth::daemon
