// SchedulerCore::ApplyTeams: a new teams file taken into force between two
// writer rounds (`berth admin teams apply`, daemon/teams_file.h). The
// writer holds mu_, so no pass, reclaim or read sees half of the change; the
// file is written before memory changes, so a failed write changes nothing.
// Jobs keep their state: the next pass orders, limits and reclaims by the
// new quotas (a team now over its nominal lends or is reclaimed from as
// any other; nothing is preempted by the apply itself).
#include <set>
#include <string>
#include <utility>

#include "daemon/scheduler_core.h"
#include "daemon/teams_file.h"

namespace berth::daemon {

void SchedulerCore::ApplyTeams(std::shared_ptr<const TeamsConfig> teams,
                               std::function<absl::Status()> persist, StatusCallback done) {
  Enqueue([this, teams = std::move(teams), persist = std::move(persist),
           done = std::move(done)](WriteBatch& batch) mutable {
    mu_.AssertHeld();
    absl::Status status = absl::OkStatus();
    if (options_.teams == nullptr) {
      status = absl::FailedPreconditionError(
          "berthd runs without a teams file: start it with --teams FILE to use teams");
    }
    if (status.ok()) {
      std::set<std::string> live_teams;
      for (int64_t id : state_.live()) {
        if (const JobRecord* job = state_.FindJob(id); job != nullptr) live_teams.insert(job->team);
      }
      status = CheckTeamsKeepLiveJobs(*teams, live_teams);
    }
    if (status.ok()) status = persist();
    if (status.ok()) {
      options_.teams = teams;
      {
        absl::MutexLock lock(&admission_mu_);
        admission_teams_ = std::move(teams);
      }
      dirty_ = true;  // the next pass orders and limits by the new quotas
    }
    // Answered after the round, as every change is; the outcome is this
    // op's, not the commit's (nothing of it is in the database).
    batch.AddReply("teams file", [done = std::move(done), status](absl::Status) mutable {
      done(std::move(status));
    });
  });
}

}  // namespace berth::daemon
