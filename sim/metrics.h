// What a replay measured, per policy: job completion time (JCT, submit to
// end) and queueing delay (submit to start) over the jobs that ran, as an
// average, p50 and p99 (nearest rank), for all jobs, by size bucket of the
// GPUs asked for (1, 2-8, 9-64, 65-512, >512) and by team; makespan (first
// submission to last end); utilisation (allocated GPU-seconds over the
// cluster's GPUs × makespan, so at most 1); refusals, jobs cancelled while
// waiting, jobs run on another GPU count, preemptions; and the cost of the
// scheduling pass (p50, p99 of its wall time).
//
//   PolicyMetrics m = Measure(result);
#ifndef BERTH_SIM_METRICS_H_
#define BERTH_SIM_METRICS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/engine.h"

namespace berth::sim {

struct Summary {
  int64_t jobs = 0;  // that ran
  double avg_jct_s = 0;
  double p50_jct_s = 0;
  double p99_jct_s = 0;
  double avg_queue_s = 0;
  double p50_queue_s = 0;
  double p99_queue_s = 0;
};

// Finish-time fairness of one team (sim/fairness.h).
struct TeamFairness {
  std::string team;
  double share = 0;          // of the cluster, by weight
  int64_t private_gpus = 0;  // of its private cluster
  int64_t jobs = 0;          // that ran in both replays
  double shared_avg_jct_s = 0;
  double private_avg_jct_s = 0;
  double rho = 0;  // shared / private
};

struct PolicyMetrics {
  std::string name;
  int64_t jobs = 0;       // in the trace
  int64_t completed = 0;  // ran to their end (any final state)
  int64_t refused = 0;
  int64_t cancelled_waiting = 0;
  int64_t resized = 0;
  int64_t preemptions = 0;
  double gpu_hours_lost = 0;  // by preemption
  Summary all;
  std::vector<std::pair<std::string, Summary>> by_size;  // buckets in size order
  std::vector<std::pair<std::string, Summary>> by_team;  // by team name
  double makespan_s = 0;
  double utilization = 0;
  int64_t gpu_seconds = 0;  // allocated
  int64_t passes = 0;
  double pass_p50_ms = 0;
  double pass_p99_ms = 0;
  // Filled by MeasureFairness when the run asks for it (two teams or more).
  std::vector<TeamFairness> fairness;
  double max_rho = 0;
};

// A job's team as reports name it: "-" for a job without one.
inline std::string TeamLabel(const std::string& team) { return team.empty() ? "-" : team; }

// "1", "2-8", "9-64", "65-512", ">512".
const char* SizeBucket(int64_t gpus);
// Nearest-rank percentile (0 < p <= 100) of sorted values; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

PolicyMetrics Measure(const RunResult& result);

}  // namespace berth::sim

#endif  // BERTH_SIM_METRICS_H_
