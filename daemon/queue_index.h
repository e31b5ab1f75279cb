// QueueIndex: what the scheduling pass reads of the jobs, kept up to date on
// every transition instead of rebuilt and sorted on every pass (issue 15).
//
// ClusterState owns one and tells it each job's new state after each change
// (Track); the index keeps, per pool (GPU type):
//   - the pending jobs in queue order (priority, higher first; submit time;
//     id), split into lanes: jobs with the same gang shape and maximum run
//     time, which the pass treats alike (indexed_pass.h);
//   - the GPUs that placed and running jobs give back: by end time (start +
//     maximum run time), and those with no known end.
// The same numbers a pass would compute from ClusterState::PendingJobs()
// and RunningJobs(); Verify() says whether they still agree.
#ifndef BERTH_DAEMON_QUEUE_INDEX_H_
#define BERTH_DAEMON_QUEUE_INDEX_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/placement.h"
#include "daemon/queue_policy.h"

namespace berth::daemon {

// A pending job's place in the queue: priority (higher first), then submit
// time, then id, as queue_policy.h orders it.
struct QueueKey {
  int32_t priority = 0;
  int64_t submit_time_ms = 0;
  int64_t id = 0;
  bool operator<(const QueueKey& o) const {
    return std::tie(o.priority, submit_time_ms, id) < std::tie(priority, o.submit_time_ms, o.id);
  }
  bool operator==(const QueueKey& o) const = default;
};

// Jobs of one pool that a pass treats alike: the same gang shape, maximum
// run time, team and priority (so within a lane, submit time only grows:
// the team pass's aging, queue_policy.h, holds for a prefix of it).
struct LaneKey {
  int64_t tp = 1;
  int64_t pp = 1;
  int64_t dp = 1;
  int64_t max_runtime_ms = 0;
  std::string team;
  int32_t priority = 0;
  auto operator<=>(const LaneKey&) const = default;
  GangShape shape() const { return GangShape{.tp = tp, .pp = pp, .dp = dp}; }
  int64_t gpus() const { return tp * pp * dp; }
};

// A pending job's lane.
LaneKey LaneKeyOf(const PendingJob& job);

// GPUs that a pool's placed and running jobs give back.
struct PoolReleases {
  // Counts a job of `gpus` ending at `end_ms` (<= 0: no known end) in
  // (sign 1) or out (sign -1).
  void Add(int64_t end_ms, int64_t gpus, int sign);
  bool empty() const { return bounded.empty() && unbounded_gpus == 0 && bounded_gpus == 0; }

  // End time → (GPUs released then, jobs ending then). A job's release
  // counts even with 0 GPUs: a waiting job's earliest start is never
  // before the next release.
  std::map<int64_t, std::pair<int64_t, int64_t>> bounded;
  int64_t bounded_gpus = 0;    // the GPUs of `bounded`
  int64_t unbounded_gpus = 0;  // jobs with no known end
};

struct PoolQueue {
  std::map<LaneKey, std::set<QueueKey>> lanes;
  size_t jobs = 0;
};

class QueueIndex {
 public:
  // What the index knows of one job: pending in a pool, or holding GPUs.
  struct Entry {
    std::string pool;
    std::optional<std::pair<LaneKey, QueueKey>> pending;
    std::optional<std::pair<int64_t, int64_t>> held;  // (end time or 0, GPUs)
    // For a held job: its team, priority and start (reclaim's inputs).
    std::string team;
    int32_t priority = 0;
    int64_t start_ms = 0;
  };
  // The held jobs of one team in one pool.
  struct TeamHeld {
    int64_t gpus = 0;
    int64_t jobs = 0;
    std::multiset<std::pair<int32_t, int64_t>> starts;  // (priority, start) of each
  };
  // Sets what the index knows of job `id` (nullopt: nothing, e.g. it ended).
  void Track(int64_t id, std::optional<Entry> entry);

  const std::map<std::string, PoolQueue>& queues() const { return queues_; }
  const std::map<std::string, PoolReleases>& releases() const { return releases_; }
  size_t pending() const { return pending_; }
  // Placed and running jobs, by id.
  const std::set<int64_t>& held() const { return held_; }
  // Those of them with a known end (start + maximum run time), by (end, id):
  // the run-time check reads only the ones past due.
  const std::set<std::pair<int64_t, int64_t>>& held_ends() const { return held_ends_; }
  // Held jobs by team, then pool.
  const std::map<std::string, std::map<std::string, TeamHeld>>& team_held() const {
    return team_held_;
  }
  // GPUs held by team and type: HeldByTeam(RunningJobs()) (queue_policy.h).
  TeamGpus HeldGpusByTeam() const;
  // The pending jobs in queue order (every pool).
  std::vector<int64_t> PendingInOrder() const;

  // OK when the index holds exactly these jobs and releases; Internal with
  // the first difference.
  absl::Status Verify(const std::vector<PendingJob>& pending,
                      const std::vector<RunningJob>& running) const;

 private:
  void Add(const Entry& entry, int sign);

  absl::flat_hash_map<int64_t, Entry> entries_;
  std::map<std::string, PoolQueue> queues_;
  std::map<std::string, PoolReleases> releases_;
  size_t pending_ = 0;
  std::set<int64_t> held_;
  std::set<std::pair<int64_t, int64_t>> held_ends_;
  std::map<std::string, std::map<std::string, TeamHeld>> team_held_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_QUEUE_INDEX_H_
