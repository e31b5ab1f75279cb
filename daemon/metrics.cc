#include "daemon/metrics.h"

#include <utility>

#include "prometheus/text_serializer.h"

namespace berth::daemon {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Latencies from 0.5 ms to 60 s.
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};
}
// Queue waits from a second to a day.
Histogram::BucketBoundaries WaitBuckets() {
  return {0.01, 0.1, 1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400};
}

prometheus::Family<prometheus::Counter>& Submissions(prometheus::Registry& r) {
  return BuildCounter()
      .Name("berth_submissions_total")
      .Help("Job submissions by outcome: admitted, rejected, invalid, duplicate")
      .Register(r);
}

prometheus::Family<Histogram>& StoreCommits(prometheus::Registry& r) {
  return BuildHistogram()
      .Name("berth_store_commit_seconds")
      .Help(
          "Duration of one write transaction of berthd's state, commit included, by store "
          "backend (sqlite, postgresql)")
      .Register(r);
}

prometheus::Family<prometheus::Counter>& TeamPasses(prometheus::Registry& r) {
  return BuildCounter()
      .Name("berth_team_passes_total")
      .Help(
          "Scheduling passes with teams, by kind (indexed: over the kept indexes; full: over "
          "every pending job, with reclaim after it)")
      .Register(r);
}

prometheus::Family<prometheus::Counter>& Refusals(prometheus::Registry& r) {
  return BuildCounter()
      .Name("berth_admission_refusals_total")
      .Help("Jobs refused at admission, by reason")
      .Register(r);
}

}  // namespace

Metrics::Metrics(const std::string& version, double start_time_seconds)
    : registry_(std::make_shared<prometheus::Registry>()),
      submissions_admitted(Submissions(*registry_).Add({{"outcome", "admitted"}})),
      submissions_rejected(Submissions(*registry_).Add({{"outcome", "rejected"}})),
      submissions_invalid(Submissions(*registry_).Add({{"outcome", "invalid"}})),
      submissions_duplicate(Submissions(*registry_).Add({{"outcome", "duplicate"}})),
      refusals_no_gpus(Refusals(*registry_).Add({{"reason", "no_gpus"}})),
      refusals_does_not_fit(Refusals(*registry_).Add({{"reason", "does_not_fit"}})),
      refusals_no_gang_fit(Refusals(*registry_).Add({{"reason", "no_gang_fit"}})),
      refusals_team_reach(Refusals(*registry_).Add({{"reason", "team_reach"}})),
      heartbeats(BuildCounter()
                     .Name("berth_heartbeats_total")
                     .Help("Heartbeats received from agents")
                     .Register(*registry_)
                     .Add({})),
      submit_to_placed_seconds(BuildHistogram()
                                   .Name("berth_submit_to_placed_seconds")
                                   .Help("From a job's submission to its first placement")
                                   .Register(*registry_)
                                   .Add({}, LatencyBuckets())),
      queue_wait_seconds(BuildHistogram()
                             .Name("berth_queue_wait_seconds")
                             .Help("Time a job spent PENDING before each placement")
                             .Register(*registry_)
                             .Add({}, WaitBuckets())),
      scheduling_pass_seconds(BuildHistogram()
                                  .Name("berth_scheduling_pass_seconds")
                                  .Help("Duration of one scheduling pass")
                                  .Register(*registry_)
                                  .Add({}, LatencyBuckets())),
      sqlite_commit_seconds(BuildHistogram()
                                .Name("berth_sqlite_commit_seconds")
                                .Help("Duration of one SQLite write transaction, commit included")
                                .Register(*registry_)
                                .Add({}, LatencyBuckets())),
      store_commit_sqlite_seconds(
          StoreCommits(*registry_).Add({{"backend", "sqlite"}}, LatencyBuckets())),
      store_commit_postgresql_seconds(
          StoreCommits(*registry_).Add({{"backend", "postgresql"}}, LatencyBuckets())),
      leader(BuildGauge()
                 .Name("berth_leader")
                 .Help("1 while this berthd leads its store and writes; 0 on a standby")
                 .Register(*registry_)
                 .Add({})),
      leadership_changes(BuildCounter()
                             .Name("berth_leadership_changes_total")
                             .Help("Times this berthd became the leader or stopped leading")
                             .Register(*registry_)
                             .Add({})),
      pruned_jobs(BuildCounter()
                      .Name("berth_pruned_jobs_total")
                      .Help("Ended jobs deleted from the store by retention")
                      .Register(*registry_)
                      .Add({})),
      pruned_events(BuildCounter()
                        .Name("berth_pruned_events_total")
                        .Help("Events deleted from the store by retention")
                        .Register(*registry_)
                        .Add({})),
      prune_failures(BuildCounter()
                         .Name("berth_prune_failures_total")
                         .Help("Retention transactions that failed and were rolled back")
                         .Register(*registry_)
                         .Add({})),
      prune_batch_seconds(BuildHistogram()
                              .Name("berth_prune_batch_seconds")
                              .Help("Duration of one retention transaction between the "
                                    "writer's rounds")
                              .Register(*registry_)
                              .Add({}, LatencyBuckets())),
      gpus_family_(BuildGauge()
                       .Name("berth_gpus")
                       .Help("GPUs by node, GPU type and state (allocated, free, down)")
                       .Register(*registry_)),
      pool_ratio_family_(BuildGauge()
                             .Name("berth_pool_allocation_ratio")
                             .Help("Share of a pool's GPUs that are allocated, 0-1")
                             .Register(*registry_)),
      utilization_family_(BuildGauge()
                              .Name("berth_gpu_utilization_ratio")
                              .Help("GPU utilisation as the node's agent reports it, 0-1")
                              .Register(*registry_)),
      memory_family_(BuildGauge()
                         .Name("berth_gpu_memory_used_bytes")
                         .Help("GPU memory in use as the node's agent reports it")
                         .Register(*registry_)),
      jobs_family_(
          BuildGauge().Name("berth_jobs").Help("Jobs by state and team").Register(*registry_)),
      nodes_family_(BuildGauge()
                        .Name("berth_nodes")
                        .Help("Nodes by state (up, down, drained)")
                        .Register(*registry_)),
      team_passes_indexed(TeamPasses(*registry_).Add({{"kind", "indexed"}})),
      team_passes_full(TeamPasses(*registry_).Add({{"kind", "full"}})),
      preemptions_family_(BuildCounter()
                              .Name("berth_preemptions_total")
                              .Help("Jobs preempted, by their team and why (reclaim: for a team "
                                    "under its nominal quota)")
                              .Register(*registry_)),
      team_nominal_family_(BuildGauge()
                               .Name("berth_team_nominal_gpus")
                               .Help("A team's nominal (guaranteed) quota of a GPU type, from "
                                     "the teams file")
                               .Register(*registry_)),
      team_in_use_family_(BuildGauge()
                              .Name("berth_team_gpus_in_use")
                              .Help("GPUs of a type that a team's placed and running jobs hold")
                              .Register(*registry_)),
      team_borrowed_family_(BuildGauge()
                                .Name("berth_team_gpus_borrowed")
                                .Help("Of a team's GPUs in use, those beyond its own nominal "
                                      "quota")
                                .Register(*registry_)),
      team_pending_family_(BuildGauge()
                               .Name("berth_team_gpus_pending")
                               .Help("GPUs of a type that a team's pending jobs need")
                               .Register(*registry_)),
      team_usage_family_(BuildGauge()
                             .Name("berth_team_usage_gpus")
                             .Help("A team's fair-share usage of a GPU type: the GPUs it held, "
                                   "averaged with the teams file's half-life")
                             .Register(*registry_)),
      team_share_family_(BuildGauge()
                             .Name("berth_team_fair_share")
                             .Help("A team's weighted dominant share (usage and GPUs held over "
                                   "capacity, divided by its weight) that orders teams")
                             .Register(*registry_)),
      agents_connected_(BuildGauge()
                            .Name("berth_agents_connected")
                            .Help("Nodes with an agent stream open")
                            .Register(*registry_)
                            .Add({})),
      oldest_pending_(BuildGauge()
                          .Name("berth_queue_oldest_wait_seconds")
                          .Help("How long the oldest PENDING job has waited; 0 when none")
                          .Register(*registry_)
                          .Add({})) {
  BuildGauge()
      .Name("berth_build_info")
      .Help("berthd's version; always 1")
      .Register(*registry_)
      .Add({{"version", version}})
      .Set(1);
  BuildGauge()
      .Name("berth_start_time_seconds")
      .Help("When berthd started, Unix seconds")
      .Register(*registry_)
      .Add({})
      .Set(start_time_seconds);
}

std::string Metrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

template <typename Key>
void Metrics::Sync(prometheus::Family<prometheus::Gauge>& family, GaugeMap<Key>& gauges,
                   const std::map<Key, std::pair<prometheus::Labels, double>>& values) {
  for (auto it = gauges.begin(); it != gauges.end();) {
    if (values.contains(it->first)) {
      ++it;
    } else {
      family.Remove(it->second);  // the node or GPU is gone
      it = gauges.erase(it);
    }
  }
  for (const auto& [key, labelled] : values) {
    auto [it, inserted] = gauges.try_emplace(key, nullptr);
    if (inserted) it->second = &family.Add(labelled.first);
    it->second->Set(labelled.second);
  }
}

void Metrics::SetCluster(const ClusterSample& sample) {
  using Triple = std::tuple<std::string, std::string, std::string>;
  std::map<Triple, std::pair<prometheus::Labels, double>> gpus, utilization, memory;
  for (const auto& g : sample.gpus) {
    gpus[{g.node, g.gpu_type, g.state}] = {
        {{"node", g.node}, {"gpu_type", g.gpu_type}, {"state", g.state}},
        static_cast<double>(g.count)};
  }
  for (const auto& r : sample.readings) {
    const prometheus::Labels labels{{"node", r.node}, {"gpu", r.gpu}, {"uuid", r.uuid}};
    utilization[{r.node, r.gpu, r.uuid}] = {labels, r.utilization};
    memory[{r.node, r.gpu, r.uuid}] = {labels, r.memory_used_bytes};
  }
  std::map<std::string, std::pair<prometheus::Labels, double>> pools, nodes;
  for (const auto& [type, ratio] : sample.pool_allocation)
    pools[type] = {{{"gpu_type", type}}, ratio};
  for (const auto& [state, count] : sample.nodes) {
    nodes[state] = {{{"state", state}}, static_cast<double>(count)};
  }
  std::map<std::pair<std::string, std::string>, std::pair<prometheus::Labels, double>> jobs;
  for (const auto& [key, count] : sample.jobs) {
    jobs[key] = {{{"state", key.first}, {"team", key.second}}, static_cast<double>(count)};
  }
  std::map<TeamKey, std::pair<prometheus::Labels, double>> nominal, in_use, borrowed, pending,
      usage;
  std::map<std::string, std::pair<prometheus::Labels, double>> share;
  for (const TeamUsage& t : sample.teams) {
    const prometheus::Labels labels{{"team", t.team}, {"gpu_type", t.gpu_type}};
    const TeamKey key{t.team, t.gpu_type};
    nominal[key] = {labels, static_cast<double>(t.nominal)};
    in_use[key] = {labels, static_cast<double>(t.in_use)};
    borrowed[key] = {labels, static_cast<double>(t.borrowed)};
    pending[key] = {labels, static_cast<double>(t.pending)};
    usage[key] = {labels, t.decayed_gpus};
    share[t.team] = {{{"team", t.team}}, t.weighted_share};
  }
  absl::MutexLock lock(&mu_);
  Sync(team_nominal_family_, team_nominal_, nominal);
  Sync(team_in_use_family_, team_in_use_, in_use);
  Sync(team_borrowed_family_, team_borrowed_, borrowed);
  Sync(team_pending_family_, team_pending_, pending);
  Sync(team_usage_family_, team_usage_, usage);
  Sync(team_share_family_, team_share_, share);
  Sync(gpus_family_, gpus_, gpus);
  Sync(utilization_family_, utilization_, utilization);
  Sync(memory_family_, memory_, memory);
  Sync(pool_ratio_family_, pool_ratio_, pools);
  Sync(nodes_family_, nodes_, nodes);
  Sync(jobs_family_, jobs_, jobs);
  agents_connected_.Set(static_cast<double>(sample.agents_connected));
  oldest_pending_.Set(sample.oldest_pending_seconds);
}

void Metrics::CountPreemption(const std::string& team, const std::string& reason, double count) {
  preemptions_family_.Add({{"team", team}, {"reason", reason}}).Increment(count);
}

}  // namespace berth::daemon
