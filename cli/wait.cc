#include "cli/wait.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/job_output.h"
#include "cli/numbers.h"
#include "cli/text.h"

namespace berth::cli {

bool IsFinal(berth::v1::JobState state) {
  return state == berth::v1::SUCCEEDED || state == berth::v1::FAILED ||
         state == berth::v1::CANCELLED || state == berth::v1::REJECTED;
}

WaitOutcome FollowJob(const berth::v1::Job& first, const WaitPolicy& policy,
                      const WaitHooks& hooks) {
  WaitOutcome outcome{.job = first};
  const absl::Time start = hooks.now();
  absl::Duration poll = policy.first_poll;
  while (!IsFinal(outcome.job.state())) {
    absl::Duration wait = poll;
    if (policy.timeout.has_value()) {
      absl::Duration left = *policy.timeout - (hooks.now() - start);
      if (left <= absl::ZeroDuration()) {
        outcome.timed_out = true;
        return outcome;
      }
      wait = std::min(wait, left);
    }
    hooks.sleep(wait);
    berth::v1::Job job;
    outcome.status = hooks.fetch(&job);
    if (!outcome.status.ok()) return outcome;
    bool changed = job.state() != outcome.job.state();
    outcome.job = std::move(job);
    if (changed) {
      hooks.on_change(outcome.job);
      poll = policy.first_poll;
    } else {
      poll = std::min(poll * 1.5, policy.max_poll);
    }
  }
  return outcome;
}

int WaitExitCode(const WaitOutcome& outcome) {
  if (outcome.timed_out) return kExitTimedOut;
  switch (outcome.job.state()) {
    case berth::v1::SUCCEEDED:
      return kExitOk;
    case berth::v1::REJECTED:
      return kExitRefused;
    default:
      return kExitJobFailed;  // FAILED or CANCELLED
  }
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view flag, absl::string_view text) {
  absl::Duration duration;
  std::string trimmed(absl::StripAsciiWhitespace(text));
  bool plain = !trimmed.empty() && trimmed.find_first_not_of("0123456789.") == std::string::npos;
  if (plain) {
    absl::StatusOr<double> seconds = ParseNumber(flag, trimmed);
    if (!seconds.ok()) return seconds.status();
    duration = absl::Seconds(*seconds);
  } else if (!absl::ParseDuration(trimmed, &duration)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag,
                     ": expected seconds or a duration such as 90s, 10m or 1h30m, "
                     "got \"",
                     text, "\""));
  }
  if (duration <= absl::ZeroDuration() || duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": must be above zero and finite (got \"", text, "\")"));
  }
  return duration;
}

std::string StateChangeLine(const berth::v1::Job& job, absl::Time now, absl::TimeZone zone) {
  std::string line = absl::StrCat(absl::FormatTime("%H:%M:%S", now, zone), " job ", job.id(), ": ",
                                  JobStateName(job.state()));
  if (job.state() == berth::v1::PLACED || job.state() == berth::v1::RUNNING) {
    std::set<std::string> nodes;
    for (const berth::v1::GpuAssignment& gpu : job.gpus()) {
      nodes.insert(Printable(gpu.node()));
    }
    absl::StrAppend(&line, " on ", Counted(job.gpus_size(), "GPU"), " (",
                    absl::StrJoin(nodes, ", "), ")");
  } else if (IsFinal(job.state()) && job.start_time_ms() > 0 &&
             job.end_time_ms() >= job.start_time_ms()) {
    if (job.state() == berth::v1::SUCCEEDED || job.state() == berth::v1::FAILED) {
      absl::StrAppend(&line, " (exit ", job.exit_code(), ")");
    }
    absl::StrAppend(&line, " after ",
                    HumanDuration(absl::Milliseconds(job.end_time_ms() - job.start_time_ms())));
  }
  if (!job.reason().empty() && job.state() != berth::v1::PLACED &&
      job.state() != berth::v1::RUNNING && job.state() != berth::v1::SUCCEEDED) {
    absl::StrAppend(&line, ": ", Printable(job.reason()));
  }
  return line;
}

}  // namespace berth::cli
