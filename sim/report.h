// berth-sim's output: a table for people, JSON for tools, and plot data.
//
// JSON, one object: {"trace", "jobs", "cluster", "policies": [{"name",
// "completed", "refused", "avg_jct_s", "p50_jct_s", "p99_jct_s",
// "avg_queue_s", "p50_queue_s", "p99_queue_s", "makespan_s", "utilization",
// "preemptions", "by_size": {bucket: {...}}, "by_team": {team: {...}},
// "max_rho", "fairness": {team: {"share", "private_gpus", "jobs",
// "shared_avg_jct_s", "private_avg_jct_s", "rho"}}, ...}]}
// where a bucket's or team's object has "jobs" and the JCT and queue fields;
// "fairness" is empty (and "max_rho" 0) with fewer than two teams or
// --no-fairness (sim/fairness.h).
//
// Plots: WritePlots writes queue_cdf.csv (policy, queue seconds, fraction of
// jobs), utilization.csv (policy, hour, busy fraction) and plots.gp into a
// folder, then renders queue_cdf.png and utilization.png with gnuplot when
// it is on the PATH (Debian: gnuplot-nox), and says so when it is not.
#ifndef BERTH_SIM_REPORT_H_
#define BERTH_SIM_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/engine.h"
#include "sim/metrics.h"

namespace berth::sim {

struct Report {
  std::string trace;
  std::string cluster;
  int64_t jobs = 0;
  std::vector<PolicyMetrics> policies;
};

std::string FormatTable(const Report& report);
std::string FormatJson(const Report& report);

// Returns a line for the user: what was written and whether PNGs were made.
absl::StatusOr<std::string> WritePlots(const std::string& dir,
                                       const std::vector<RunResult>& results);

}  // namespace berth::sim

#endif  // BERTH_SIM_REPORT_H_
