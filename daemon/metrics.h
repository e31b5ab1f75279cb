// berthd's Prometheus metrics, built once at start-up.
//
// `Metrics` owns a prometheus::Registry and keeps references to every
// metric that a hot path touches (counters and histograms), so that no hot
// path ever looks a family up. Gauges that describe the cluster (GPUs by
// state, jobs by state and team, nodes, per-GPU samples from the agents) are
// set from one snapshot just before each scrape by `SetCluster()` (with a
// teams file also each team's quota, GPUs in use, borrowed and pending per
// GPU type), which
// also removes the label sets of nodes and GPUs that are gone. Names follow
// Prometheus conventions: one `berth_` prefix, base units, `_total` on
// counters (docs/METRICS.md lists them).
#ifndef BERTH_DAEMON_METRICS_H_
#define BERTH_DAEMON_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/team_usage.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace berth::daemon {

// The cluster as the gauges show it, taken under the core's lock.
struct ClusterSample {
  struct GpuCount {
    std::string node, gpu_type, state;  // state: allocated | free | down
    int64_t count = 0;
  };
  struct GpuReading {
    std::string node, gpu, uuid;
    double utilization = 0;
    double memory_used_bytes = 0;
  };
  std::vector<GpuCount> gpus;
  std::map<std::string, double> pool_allocation;                // gpu_type → ratio
  std::map<std::pair<std::string, std::string>, int64_t> jobs;  // (state, team)
  std::map<std::string, int64_t> nodes;                         // up | down | drained
  std::vector<GpuReading> readings;
  int64_t agents_connected = 0;
  double oldest_pending_seconds = 0;
  std::vector<TeamUsage> teams;  // with a teams file; empty without
};

class Metrics {
 private:
  // First, so that it is built before the references below use it.
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  explicit Metrics(const std::string& version, double start_time_seconds);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The text exposition of every metric.
  std::string Serialize() const;
  void SetCluster(const ClusterSample& sample);

  // Hot paths.
  prometheus::Counter& submissions_admitted;
  prometheus::Counter& submissions_rejected;
  prometheus::Counter& submissions_invalid;
  prometheus::Counter& submissions_duplicate;
  prometheus::Counter& refusals_no_gpus;
  prometheus::Counter& refusals_does_not_fit;
  prometheus::Counter& refusals_no_gang_fit;
  prometheus::Counter& refusals_team_reach;
  prometheus::Counter& heartbeats;
  prometheus::Histogram& submit_to_placed_seconds;
  prometheus::Histogram& queue_wait_seconds;
  prometheus::Histogram& scheduling_pass_seconds;
  prometheus::Histogram& sqlite_commit_seconds;
  // berth_store_commit_seconds{backend}: one per backend, built at start.
  prometheus::Histogram& store_commit_sqlite_seconds;
  prometheus::Histogram& store_commit_postgresql_seconds;
  prometheus::Histogram& StoreCommitSeconds(const char* backend) {
    return backend[0] == 'p' ? store_commit_postgresql_seconds : store_commit_sqlite_seconds;
  }
  // berth_leader: 1 while this berthd leads its store (always, on SQLite).
  prometheus::Gauge& leader;
  // berth_leadership_changes_total: this berthd became or stopped being
  // the leader.
  prometheus::Counter& leadership_changes;
  // Retention (core_retention.cc): ended jobs and events pruned from the
  // store, and prune transactions that failed.
  prometheus::Counter& pruned_jobs;
  prometheus::Counter& pruned_events;
  prometheus::Counter& prune_failures;
  // One prune transaction (its batch of at most RetentionOptions::batch_jobs
  // jobs): how long the writer spent on it between rounds.
  prometheus::Histogram& prune_batch_seconds;
  // berth_team_passes_total{kind}: passes with --teams, decided over the
  // kept indexes (indexed) or over every pending job with reclaim after
  // them, when a preemption may be due (full; team_indexed_pass.h).
  prometheus::Counter& team_passes_indexed;
  prometheus::Counter& team_passes_full;
  // berth_preemptions_total{team, reason}: a job of `team` was preempted
  // ("reclaim": for a team under its nominal quota). Rare: looked up.
  // `count` 0 creates the series at 0 (each team's at start-up).
  void CountPreemption(const std::string& team, const std::string& reason, double count = 1);

 private:
  template <typename Key>
  using GaugeMap = std::map<Key, prometheus::Gauge*>;

  // Sets `values` on `family`, adding label sets as needed and removing the
  // ones not in `values`.
  template <typename Key>
  void Sync(prometheus::Family<prometheus::Gauge>& family, GaugeMap<Key>& gauges,
            const std::map<Key, std::pair<prometheus::Labels, double>>& values);

  absl::Mutex mu_;  // SetCluster against itself
  prometheus::Family<prometheus::Gauge>& gpus_family_;
  prometheus::Family<prometheus::Gauge>& pool_ratio_family_;
  prometheus::Family<prometheus::Gauge>& utilization_family_;
  prometheus::Family<prometheus::Gauge>& memory_family_;
  prometheus::Family<prometheus::Gauge>& jobs_family_;
  prometheus::Family<prometheus::Gauge>& nodes_family_;
  prometheus::Family<prometheus::Counter>& preemptions_family_;
  prometheus::Family<prometheus::Gauge>& team_nominal_family_;
  prometheus::Family<prometheus::Gauge>& team_in_use_family_;
  prometheus::Family<prometheus::Gauge>& team_borrowed_family_;
  prometheus::Family<prometheus::Gauge>& team_pending_family_;
  prometheus::Family<prometheus::Gauge>& team_usage_family_;
  prometheus::Family<prometheus::Gauge>& team_share_family_;
  prometheus::Gauge& agents_connected_;
  prometheus::Gauge& oldest_pending_;
  GaugeMap<std::tuple<std::string, std::string, std::string>> gpus_ ABSL_GUARDED_BY(mu_);
  GaugeMap<std::string> pool_ratio_ ABSL_GUARDED_BY(mu_);
  GaugeMap<std::tuple<std::string, std::string, std::string>> utilization_ ABSL_GUARDED_BY(mu_);
  GaugeMap<std::tuple<std::string, std::string, std::string>> memory_ ABSL_GUARDED_BY(mu_);
  GaugeMap<std::pair<std::string, std::string>> jobs_ ABSL_GUARDED_BY(mu_);
  GaugeMap<std::string> nodes_ ABSL_GUARDED_BY(mu_);
  using TeamKey = std::pair<std::string, std::string>;  // team, gpu_type
  GaugeMap<TeamKey> team_nominal_ ABSL_GUARDED_BY(mu_);
  GaugeMap<TeamKey> team_in_use_ ABSL_GUARDED_BY(mu_);
  GaugeMap<TeamKey> team_borrowed_ ABSL_GUARDED_BY(mu_);
  GaugeMap<TeamKey> team_pending_ ABSL_GUARDED_BY(mu_);
  GaugeMap<TeamKey> team_usage_ ABSL_GUARDED_BY(mu_);
  GaugeMap<std::string> team_share_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_METRICS_H_
