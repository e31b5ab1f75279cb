// Who goes next when teams share the cluster (docs/TEAMS.md): quotas with
// borrowing, and fair share. Pure: plain values in, decisions out; time is
// a parameter.
//
// Accounting, per GPU type t (GPU counts, integers):
//   - used(X)      GPUs held by team X's own jobs (running, or placed earlier
//                  in this pass); subtree(X) adds its descendants'.
//   - own(X)       the nominal X keeps for its own jobs: its nominal less its
//                  children's nominals (at least 0). A leaf's own is its
//                  nominal; summing own over all teams counts no GPU twice.
//   - borrowed(X)  max(0, used - own);  idle(X) = max(0, own - used);
//   - lendable(X)  min(idle, lending_limit)  (no limit: all idle);
//   - unowned      capacity of t less the sum of own: GPUs no team is
//                  promised, free for anyone to borrow.
// A job of team T needing g GPUs of t may be placed (quota-wise) when
//   1. reach: for T and every ancestor A with a quota for t,
//      subtree(A) + g <= nominal(A) + borrowing_limit(A) (no limit: no
//      bound); a parent's quota bounds its children;
//   2. lending: if the job raises T's borrowing by d > 0, then after it
//      sum(borrowed) <= sum(lendable) + unowned. Borrowing only ever comes
//      out of other teams' idle quota within their lending limits.
// A job within T's own nominal needs only 1 (its nominal is guaranteed):
// if borrowers hold the GPUs, reclaim (reclaim.h) frees them.
//
// Order (TeamQueue): each team's jobs by priority (higher first), submit
// time, id. At each step the next job is the head of the team with the
// smallest key (tier, share, name):
//   tier   0 when the head fits in the team's own nominal (used + g <= own),
//          else 1: teams below their nominal go first;
//   share  the weighted dominant share: max over GPU types of
//          (decayed average GPUs + GPUs held now) / capacity, / weight.
// Usage only grows within a pass, so the order is fixed once a job is
// taken; a team that places a job may fall behind another.
//
// Fair-share decay (DecayUsage): usage is GPU-milliseconds that halve every
// half-life, u(t1) = u(t0)·2^(-Δ/H) + g·H/ln2·(1 - 2^(-Δ/H)) for g GPUs held
// over Δ. The "decayed average GPUs" is u·ln2/H: a team that held g GPUs
// for ever has exactly g. Doubles here are scores that order teams, not
// accounting that must add up.
#ifndef BERTH_DAEMON_TEAM_POLICY_H_
#define BERTH_DAEMON_TEAM_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/functional/function_ref.h"
#include "daemon/teams_config.h"

namespace berth::daemon {

// GPU counts by team, then by GPU type.
using TeamGpus = std::map<std::string, std::map<std::string, int64_t>>;

struct DecayedUsage {
  int64_t as_of_ms = 0;
  std::map<std::string, std::map<std::string, double>> gpu_ms;  // team → type → GPU-ms
};

// `usage` brought forward to `now_ms`, the teams having held `held` GPUs
// since usage.as_of_ms. A clock that goes back changes nothing but as_of.
DecayedUsage DecayUsage(const DecayedUsage& usage, const TeamGpus& held, int64_t now_ms,
                        int64_t half_life_ms);

// Quota accounting for one pass (see above).
class TeamLedger {
 public:
  // `held`: GPUs the teams' running jobs hold; `capacity`: GPUs per type.
  // Teams that appear in `held` but not in `config` (jobs from before the
  // file named them) are roots with no quota and weight 1.
  TeamLedger(const TeamsConfig& config, const TeamGpus& held,
             const std::map<std::string, int64_t>& capacity, const DecayedUsage& decayed);

  // nullopt when the team may take `gpus` more of `type` now; else why not,
  // in words, with the numbers.
  std::optional<std::string> Refusal(const std::string& team, const std::string& type,
                                     int64_t gpus) const;
  // The most GPUs of `type` the team could ever hold (rule 1 over its
  // chain); nullopt: no bound.
  std::optional<int64_t> Reach(const std::string& team, const std::string& type) const;
  bool WithinNominal(const std::string& team, const std::string& type, int64_t gpus) const;
  double WeightedShare(const std::string& team) const;
  void Take(const std::string& team, const std::string& type, int64_t gpus);
  void Give(const std::string& team, const std::string& type, int64_t gpus);  // Take's inverse

  int64_t Used(const std::string& team, const std::string& type) const;
  int64_t Own(const std::string& team, const std::string& type) const;
  int64_t Borrowed(const std::string& team, const std::string& type) const;
  // Whether a team other than `team` borrows GPUs of `type` (a reclaim's
  // victims could come from it).
  bool OthersBorrow(const std::string& team, const std::string& type) const;
  // sum(lendable) + unowned - sum(borrowed) for `type`: < 0 when borrowers
  // hold more than the lenders can spare (a reclaim is due).
  int64_t LendingBalance(const std::string& type) const;

 private:
  friend struct TeamCeiling;
  struct Team {
    std::string name;
    int parent = -1;
    double weight = 1.0;
    std::map<std::string, TeamQuota> quota;
    std::map<std::string, int64_t> own;      // by type
    std::map<std::string, int64_t> used;     // own jobs
    std::map<std::string, int64_t> subtree;  // own jobs and descendants'
    std::map<std::string, double> decayed_gpus;
  };
  int Index(const std::string& team) const;  // -1 when unknown
  int64_t Balance(const std::string& type, int changed, int64_t extra) const;
  // Team i's term of the balance when it uses `used` of `type`: what it can
  // lend, or less what it borrows.
  int64_t Term(int i, const std::string& type, int64_t used) const;
  void Add(const std::string& team, const std::string& type, int64_t gpus);

  std::vector<Team> teams_;
  std::map<std::string, int> index_;
  std::map<std::string, int64_t> capacity_;
  // Balance with no change, by type, until the next Add: a pass asks it
  // for every waiting job and changes it only for each one placed (it was
  // a walk over every team per job).
  mutable std::map<std::string, int64_t> base_balance_;
};

// Why a job of `team` needing `gpus` of `type` could never run, even on an
// idle cluster of `capacity` (its reach, or all that others may lend, is
// too small); nullopt when it could. For refusing such a job at submit.
std::optional<std::string> NeverFits(const TeamsConfig& config, const std::string& team,
                                     const std::string& type, int64_t gpus,
                                     const std::map<std::string, int64_t>& capacity);

// The most GPUs of `type` one job of `team` could ever hold, on an idle
// cluster of `capacity`: the smallest of rule 1's bounds over its chain
// (nominal + borrowing_limit of the team and each ancestor with a limit)
// and rule 2's (its own nominal plus all that the other teams may lend and
// the GPUs no team is promised). `why` gives the binding bound's terms.
// A job needing more is refused at submit (Kueue #5243): exactly when
// NeverFits refuses it.
struct TeamCeiling {
  int64_t gpus = 0;
  std::string why;  // "nominal 32 + borrowing limit 0", ...

  static TeamCeiling Of(const TeamsConfig& config, const std::string& team, const std::string& type,
                        const std::map<std::string, int64_t>& capacity);
};

// Jobs in team order (see above). Items are indices into the caller's
// vector, which must outlive the queue.
struct TeamJobRef {
  size_t index = 0;
  std::string team;
  std::string gpu_type;
  int64_t gpus = 0;
  int32_t priority = 0;
  int64_t submit_time_ms = 0;
  int64_t id = 0;
};

class TeamQueue {
 public:
  explicit TeamQueue(std::vector<TeamJobRef> jobs);
  // The next job, or nullopt when every job has been taken. Between two
  // calls the caller may change the ledger only for the team of the job
  // the last call returned (Take when it is placed): a team's key (tier,
  // share) depends on its own usage alone, so the others' are kept.
  // Jobs for which `pass_over` holds (their lane has ended, queue_policy.h)
  // take no part in the order: they are set aside (PassedOver) when they
  // come up, and their team is keyed by its next job. `pass_over` may
  // change its answer only for jobs of the last returned job's team.
  std::optional<TeamJobRef> Next(const TeamLedger& ledger,
                                 absl::FunctionRef<bool(const TeamJobRef&)> pass_over);
  std::optional<TeamJobRef> Next(const TeamLedger& ledger) {
    return Next(ledger, [](const TeamJobRef&) { return false; });
  }
  // The jobs passed over so far, in the order they came up.
  const std::vector<TeamJobRef>& PassedOver() const { return passed_over_; }

 private:
  struct Lane {
    std::string team;
    std::vector<TeamJobRef> jobs;  // in team order
    size_t next = 0;
    std::tuple<int, double> key;  // for jobs[next], while fresh
    bool fresh = false;
  };
  std::vector<Lane> lanes_;  // by team name
  Lane* last_ = nullptr;     // whose job the last call returned
  std::vector<TeamJobRef> passed_over_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_TEAM_POLICY_H_
