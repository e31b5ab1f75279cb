#include "sim/metrics.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace berth::sim {
namespace {

constexpr const char* kBuckets[] = {"1", "2-8", "9-64", "65-512", ">512"};

// JCT and queueing delay samples of one group of jobs, in seconds.
struct Samples {
  std::vector<double> jct;
  std::vector<double> queue;
  void Add(const JobOutcome& job) {
    jct.push_back(static_cast<double>(job.end_ms - job.submit_ms) / 1000.0);
    queue.push_back(static_cast<double>(job.start_ms - job.submit_ms) / 1000.0);
  }
};

double Mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

Summary Summarize(Samples samples) {
  std::sort(samples.jct.begin(), samples.jct.end());
  std::sort(samples.queue.begin(), samples.queue.end());
  return Summary{.jobs = static_cast<int64_t>(samples.jct.size()),
                 .avg_jct_s = Mean(samples.jct),
                 .p50_jct_s = Percentile(samples.jct, 50),
                 .p99_jct_s = Percentile(samples.jct, 99),
                 .avg_queue_s = Mean(samples.queue),
                 .p50_queue_s = Percentile(samples.queue, 50),
                 .p99_queue_s = Percentile(samples.queue, 99)};
}

void MeasurePasses(const RunResult& result, PolicyMetrics& m) {
  std::vector<double> ms;
  ms.reserve(result.pass_ns.size());
  for (int64_t ns : result.pass_ns) ms.push_back(static_cast<double>(ns) / 1e6);
  std::sort(ms.begin(), ms.end());
  m.passes = static_cast<int64_t>(ms.size());
  m.pass_p50_ms = Percentile(ms, 50);
  m.pass_p99_ms = Percentile(ms, 99);
}

}  // namespace

const char* SizeBucket(int64_t gpus) {
  if (gpus <= 1) return kBuckets[0];
  if (gpus <= 8) return kBuckets[1];
  if (gpus <= 64) return kBuckets[2];
  if (gpus <= 512) return kBuckets[3];
  return kBuckets[4];
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

PolicyMetrics Measure(const RunResult& result) {
  PolicyMetrics m{.name = PolicyName(result.policy),
                  .jobs = static_cast<int64_t>(result.jobs.size()),
                  .preemptions = result.preemptions,
                  .gpu_hours_lost = static_cast<double>(result.lost_gpu_ms) / 3.6e6};
  Samples all;
  std::map<std::string, Samples> by_size, by_team;
  int64_t first = INT64_MAX, last = 0;
  for (const JobOutcome& job : result.jobs) {
    first = std::min(first, job.submit_ms);
    last = std::max(last, job.end_ms);
    m.refused += job.refused;
    m.cancelled_waiting += job.cancelled_waiting;
    if (job.start_ms < 0) continue;
    m.completed++;
    m.resized += job.resized;
    m.gpu_seconds += job.gpus * (job.end_ms - job.start_ms);  // GPU-ms until below
    all.Add(job);
    by_size[SizeBucket(job.requested_gpus)].Add(job);
    by_team[TeamLabel(job.team)].Add(job);
  }
  const int64_t gpu_ms = m.gpu_seconds;
  m.gpu_seconds = gpu_ms / 1000;
  m.all = Summarize(std::move(all));
  for (const char* bucket : kBuckets) {
    auto it = by_size.find(bucket);
    if (it != by_size.end()) m.by_size.emplace_back(bucket, Summarize(std::move(it->second)));
  }
  for (auto& [team, samples] : by_team) m.by_team.emplace_back(team, Summarize(std::move(samples)));
  const int64_t makespan_ms = last > first ? last - first : 0;
  m.makespan_s = static_cast<double>(makespan_ms) / 1000.0;
  if (makespan_ms > 0 && result.capacity_gpus > 0) {
    m.utilization = static_cast<double>(gpu_ms) /
                    (static_cast<double>(result.capacity_gpus) * static_cast<double>(makespan_ms));
  }
  MeasurePasses(result, m);
  return m;
}

}  // namespace berth::sim
