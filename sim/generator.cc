#include "sim/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace berth::sim {
namespace {

struct Weighted {
  int64_t value;
  double weight;
};

// One cluster's distributions (acme-distributions.md).
struct Shape {
  double bucket_jobs[5];      // % of jobs: 1, 2-8, 9-64, 65-512, >512
  double bucket_time[5];      // % of GPU-time
  std::vector<Weighted> mid;  // 9-64 counts
  std::vector<Weighted> big;  // 65-512 counts (from the GPU-time spikes)
  double durations[7][2];     // (quantile, seconds), p25..p99 and the cap
  double small_types[5];      // ≤ 8 GPUs: Eval, SFT, MLLM, Debug, Other (%)
  double mid_types[5];        // 9-64: Pretrain, SFT, MLLM, Debug, Other
  double states[3];           // completed, cancelled, failed (% of jobs)
};

const std::vector<Weighted> kSmall = {{2, 0.3}, {4, 0.2}, {8, 0.5}};

// Durations, after the bucket factor, are capped at 10 × p99 (the real
// maxima, 7 and 14 days, would set the makespan of any trace of a few
// thousand jobs).
const Shape kSeren = {
    {54.0, 42.7, 2.6, 0.5, 0.14},
    {1.4, 10.6, 15.7, 42.1, 30.3},
    {{16, 0.4}, {32, 0.35}, {64, 0.25}},
    {{128, 13.0 / 128}, {256, 12.7 / 256}, {512, 16.4 / 512}},
    {{0.25, 18}, {0.5, 134}, {0.75, 413}, {0.9, 1352}, {0.95, 3269}, {0.99, 27528}, {1.0, 275280}},
    {64.9, 14.9, 2.9, 1.9, 14.6},
    {30, 40, 20, 10, 0},
    {49.7, 7.5, 42.9}};
const Shape kKalos = {
    {86.3, 7.6, 1.4, 3.6, 1.1},
    {0.1, 0.5, 2.6, 60.9, 35.9},
    {{16, 0.4}, {32, 0.35}, {64, 0.25}},
    {{128, 12.4 / 128}, {256, 21.1 / 256}, {512, 27.4 / 512}},
    {{0.25, 40}, {0.5, 125}, {0.75, 380}, {0.9, 1546}, {0.95, 2938}, {0.99, 13714}, {1.0, 137140}},
    {92.8, 0, 0, 2.7, 1.3},
    {70, 0, 0, 20, 10},
    {54.1, 6.2, 39.7}};

const char* kSmallTypes[] = {"eval", "sft", "mllm", "debug", "other"};
const char* kMidTypes[] = {"pretrain", "sft", "mllm", "debug", "other"};

// splitmix64: the same stream everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  size_t Pick(const double* weights, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; ++i) total += weights[i];
    double u = Uniform() * total;
    for (size_t i = 0; i < n; ++i) {
      if (u < weights[i]) return i;
      u -= weights[i];
    }
    return n - 1;
  }
  int64_t Pick(const std::vector<Weighted>& options) {
    std::vector<double> weights;
    for (const Weighted& w : options) weights.push_back(w.weight);
    return options[Pick(weights.data(), weights.size())].value;
  }

 private:
  uint64_t state_;
};

double MeanGpus(const std::vector<Weighted>& options) {
  double sum = 0, weight = 0;
  for (const Weighted& w : options) {
    sum += static_cast<double>(w.value) * w.weight;
    weight += w.weight;
  }
  return sum / weight;
}

// Duration factor per bucket so GPU-time shares match, bucket "1" = 1.
std::vector<double> BucketFactors(const Shape& shape) {
  const double mean_gpus[5] = {1, MeanGpus(kSmall), MeanGpus(shape.mid), MeanGpus(shape.big), 1024};
  std::vector<double> factors(5);
  for (int b = 0; b < 5; ++b) {
    factors[b] = shape.bucket_time[b] / (shape.bucket_jobs[b] * mean_gpus[b]);
  }
  const double base = factors[0];
  for (double& f : factors) f /= base;
  return factors;
}

// Log-linear between the percentile points; below p25, from 1 s.
double BaseDuration(const Shape& shape, double u) {
  double q0 = 0, d0 = 1;
  for (const auto& point : shape.durations) {
    if (u <= point[0]) {
      const double t = (u - q0) / (point[0] - q0);
      return std::exp(std::log(d0) + t * (std::log(point[1]) - std::log(d0)));
    }
    q0 = point[0];
    d0 = point[1];
  }
  return d0;
}

void ChooseModel(const std::string& type, int64_t gpus, TraceJob& job) {
  if (type == "eval") {
    job.task = "infer";
    job.model = gpus == 1 ? "llama-3-8b" : gpus == 2 ? "llama-2-13b" : "llama-3-70b";
    return;
  }
  if (type == "other" || gpus < 8) return;
  job.task = "train";
  job.model = gpus < 16     ? "llama-3-8b"
              : gpus < 64   ? "llama-2-13b"
              : gpus < 1024 ? "llama-3-70b"
                            : "llama-3.1-405b";
}

TraceJob OneJob(const Shape& shape, const std::vector<double>& factors,
                const GeneratorOptions& options, int64_t capacity, Rng& rng) {
  const size_t bucket = rng.Pick(shape.bucket_jobs, 5);
  int64_t gpus = bucket == 0   ? 1
                 : bucket == 1 ? rng.Pick(kSmall)
                 : bucket == 2 ? rng.Pick(shape.mid)
                 : bucket == 3 ? rng.Pick(shape.big)
                               : 1024;
  gpus = std::min(gpus, capacity);
  const double seconds =
      std::min(BaseDuration(shape, rng.Uniform()) * factors[bucket], shape.durations[6][1]);
  std::string type = bucket >= 3   ? "pretrain"
                     : bucket == 2 ? kMidTypes[rng.Pick(shape.mid_types, 5)]
                                   : kSmallTypes[rng.Pick(shape.small_types, 5)];
  TraceJob job{.gpus = gpus, .duration_s = std::max<int64_t>(1, std::llround(seconds))};
  const size_t state = rng.Pick(shape.states, 3);
  job.state = state == 0   ? EndState::kCompleted
              : state == 1 ? EndState::kCancelled
                           : EndState::kFailed;
  ChooseModel(type, gpus, job);
  std::vector<double> team_weights;
  for (int64_t k = 1; k <= options.teams; ++k) team_weights.push_back(1.0 / static_cast<double>(k));
  job.team = absl::StrCat("team-", rng.Pick(team_weights.data(), team_weights.size()) + 1);
  return job;
}

}  // namespace

absl::StatusOr<Trace> GenerateTrace(const GeneratorOptions& options) {
  if (options.like != "acme-seren" && options.like != "acme-kalos") {
    return absl::InvalidArgumentError(
        absl::StrCat("--like: \"", options.like, "\" is not acme-seren or acme-kalos"));
  }
  if (options.jobs <= 0) return absl::InvalidArgumentError("--jobs must be at least 1");
  if (options.nodes <= 0 || options.gpus_per_node <= 0) {
    return absl::InvalidArgumentError("--nodes and --gpus-per-node must be at least 1");
  }
  if (!(options.load > 0 && options.load <= 10)) {
    return absl::InvalidArgumentError("--load must be in (0, 10]");
  }
  if (options.teams <= 0) return absl::InvalidArgumentError("--teams must be at least 1");
  const Shape& shape = options.like == "acme-seren" ? kSeren : kKalos;
  const std::vector<double> factors = BucketFactors(shape);
  const int64_t capacity = options.nodes * options.gpus_per_node;
  Rng rng(options.seed);
  Trace trace{.name = absl::StrCat(options.like, "-", options.jobs, "-load", options.load)};
  double offered = 0;  // GPU-seconds
  for (int64_t i = 0; i < options.jobs; ++i) {
    trace.jobs.push_back(OneJob(shape, factors, options, capacity, rng));
    trace.jobs.back().id = i + 1;
    offered += static_cast<double>(trace.jobs.back().gpus * trace.jobs.back().duration_s);
  }
  // Poisson arrivals over the span that makes the offered load `load`.
  const double span = offered / (options.load * static_cast<double>(capacity));
  const double mean_gap = span / static_cast<double>(options.jobs);
  double now = 0;
  for (TraceJob& job : trace.jobs) {
    job.submit_s = std::llround(now);
    now += -std::log(1.0 - rng.Uniform()) * mean_gap;
  }
  return trace;
}

}  // namespace berth::sim
