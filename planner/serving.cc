// The inference search: splits as serving engines (vLLM, TensorRT-LLM,
// SGLang) run them, and their decode speed.
//
// Filter → score → select:
//  1. TP degrees: the fixed one, or every power of two up to the node's GPUs
//     that divides the attention heads and that the KV heads divide or are
//     divided by (engines replicate a KV head when t exceeds them).
//  2. PP: the fixed one; else 1 when some TP within one node holds a
//     replica with one sequence of the full context; else PP across nodes
//     at the largest TP, from the fewest stages that hold one sequence up
//     to twice that (more stages leave more room for KV cache).
//  3. For each (t, p): the most sequences one replica holds (≤ batch), the
//     fewest replicas r that hold the batch (each ceil(batch/r) sequences),
//     and, under a tokens/s target, more replicas of that size until the
//     target is met. Over the GPU limit: not a plan.
//  4. Rank by the ServingObjective; ties break deterministically.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include "planner/solver.h"
#include "planner/solver_internal.h"

namespace berth::planner::internal {
namespace {

// Decode reads every weight and KV byte once per step; kernels reach about
// 80% of the data sheet's bandwidth.
constexpr double kBandwidthEfficiency = 0.8;
// Batched decode matmuls reach about half of the dense 16-bit peak.
constexpr double kDecodeFlopsEfficiency = 0.5;
// Layer-wise offload streams the model from disk: a fast NVMe drive, 2 GB/s.
constexpr double kDiskBytesPerSecond = 2e9;
// CPU offload pulls host-resident layers over PCIe 4.0 x16: about 25 GB/s.
constexpr double kPcieBytesPerSecond = 25e9;
// Throughput and latency within 1% of each other count as equal.
constexpr double kTieBand = 0.01;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t Band(double value) {
  if (!(value > 0)) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(std::floor(std::log(value) / std::log1p(kTieBand)));
}

double Rate(const Plan& plan) { return plan.estimate.known ? plan.estimate.tokens_per_second : 0; }

std::vector<int64_t> ServingTps(const PlanRequest& request) {
  if (request.fixed.tp > 0) return {request.fixed.tp};
  const ModelShape& m = request.model;
  std::vector<int64_t> out;
  for (int64_t t = 1; t <= request.hardware.gpus_per_node; t *= 2) {
    if (m.heads % t != 0) continue;
    if (m.kv_heads % t != 0 && t % m.kv_heads != 0) continue;
    out.push_back(t);
  }
  return out;
}

struct Context {
  const PlanRequest& request;
  const ParamCounts& params;
  int64_t gpu_limit;
  double target;  // tokens/s; 0 without one
  std::optional<Plan> closest;
  int64_t evaluated = 0;
};

Plan Evaluate(Context& c, int64_t tp, int64_t pp, int64_t dp, int64_t sequences) {
  ++c.evaluated;
  return EvaluateSplit(c.request, c.params,
                       Split{.tp = tp, .pp = pp, .dp = dp, .replica_batch = sequences});
}

bool MeetsTarget(const Context& c, const Plan& plan) {
  if (c.target <= 0) return true;
  return plan.estimate.known && plan.estimate.tokens_per_second >= c.target * (1 - 1e-12);
}

// Candidates that fit in memory (they failed the GPU limit or the target)
// come before those that do not; then the faster, or the smaller.
void OfferClosest(Context& c, const Plan& plan) {
  if (!c.closest.has_value()) {
    c.closest = plan;
    return;
  }
  const Plan& kept = *c.closest;
  const bool better =
      plan.fits != kept.fits
          ? plan.fits
          : (plan.fits ? plan.estimate.tokens_per_second > kept.estimate.tokens_per_second
                       : plan.memory.total_bytes < kept.memory.total_bytes);
  if (better) c.closest = plan;
}

// The most sequences (≤ batch) one replica of (tp, pp) holds; 0 for none.
// Memory grows with the sequences, so a binary search finds it.
int64_t MostSequences(Context& c, int64_t tp, int64_t pp) {
  if (!Evaluate(c, tp, pp, 1, 1).fits) return 0;
  int64_t lo = 1, hi = c.request.infer.batch;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (Evaluate(c, tp, pp, 1, mid).fits) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// The plan of one (tp, pp) shape, or nullopt (then offered as closest).
std::optional<Plan> ShapePlan(Context& c, int64_t tp, int64_t pp) {
  const int64_t batch = c.request.infer.batch;
  const int64_t fixed_dp = c.request.fixed.dp;
  const int64_t max_dp = fixed_dp > 0 ? fixed_dp : c.gpu_limit / (tp * pp);
  // A fixed dp holds only where all its replicas fit the GPU limit (the
  // fuzzer found TP 1 × PP 49 × DP 29 planned under max_gpus 1239).
  if (max_dp < 1 || tp * pp * max_dp > c.gpu_limit) return std::nullopt;
  const int64_t most = MostSequences(c, tp, pp);
  int64_t dp = fixed_dp > 0 ? fixed_dp : CeilDiv(batch, std::max<int64_t>(1, most));
  if (most == 0 || CeilDiv(batch, dp) > most || dp > max_dp) {
    // Too little memory within the limit: the widest split allowed.
    OfferClosest(c, Evaluate(c, tp, pp, max_dp, CeilDiv(batch, max_dp)));
    return std::nullopt;
  }
  Plan plan = Evaluate(c, tp, pp, dp, CeilDiv(batch, dp));
  if (!MeetsTarget(c, plan) && fixed_dp == 0) {
    // More replicas, each running as many sequences as it holds.
    const double rate = Rate(Evaluate(c, tp, pp, 1, most));
    if (rate > 0) {
      const double needed = std::ceil(c.target / rate * (1 - 1e-12));
      const int64_t want = needed >= static_cast<double>(max_dp)
                               ? max_dp
                               : std::max(dp, static_cast<int64_t>(needed));
      plan = Evaluate(c, tp, pp, want, most);
      if (!MeetsTarget(c, plan) && want < max_dp) plan = Evaluate(c, tp, pp, want + 1, most);
    }
  }
  if (!MeetsTarget(c, plan)) {
    OfferClosest(c, plan);
    return std::nullopt;
  }
  return plan;
}

// The (tp, pp) shapes engines would run for the request.
std::vector<std::pair<int64_t, int64_t>> Shapes(Context& c, const std::vector<int64_t>& tps) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (tps.empty()) return out;
  if (c.request.fixed.pp > 0) {
    for (int64_t t : tps) out.emplace_back(t, c.request.fixed.pp);
    return out;
  }
  // One node holds a replica at some TP: no pipeline.
  for (int64_t t : tps) {
    if (Evaluate(c, t, 1, 1, 1).fits) {
      for (int64_t tp : tps) out.emplace_back(tp, 1);
      return out;
    }
  }
  // Otherwise PP across nodes at the largest TP, from the fewest stages
  // that hold one sequence (more stages hold more, as fewer layers' weights
  // sit on each GPU) up to twice that, within the layers and the GPU limit.
  const int64_t t = tps.back();
  const int64_t max_p = std::min(c.request.model.layers, c.gpu_limit / t);
  if (max_p < 2 || !Evaluate(c, t, max_p, 1, 1).fits) return out;
  int64_t lo = 2, hi = max_p;  // the fewest stages that hold one sequence
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (Evaluate(c, t, mid, 1, 1).fits) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  for (int64_t p = lo; p <= std::min(max_p, 2 * lo); ++p) out.emplace_back(t, p);
  return out;
}

// When nothing was evaluated within the limit: the largest shape each TP
// allows, as the closest candidate.
void FallbackClosest(Context& c, const std::vector<int64_t>& tps) {
  for (int64_t t : tps) {
    if (t > c.gpu_limit) continue;
    const int64_t p = std::min(c.request.model.layers, c.gpu_limit / t);
    OfferClosest(c, Evaluate(c, t, p, 1, c.request.infer.batch));
  }
}

}  // namespace

bool ServingRanksBefore(ServingObjective objective, const Plan& a, const Plan& b) {
  if (objective == ServingObjective::kThroughput) {
    const int64_t ba = Band(Rate(a) / static_cast<double>(a.gpus));
    const int64_t bb = Band(Rate(b) / static_cast<double>(b.gpus));
    if (ba != bb) return ba > bb;
  } else if (objective == ServingObjective::kLatency) {
    const int64_t ba = Band(a.estimate.known ? 1.0 / a.estimate.step_seconds : 0);
    const int64_t bb = Band(b.estimate.known ? 1.0 / b.estimate.step_seconds : 0);
    if (ba != bb) return ba > bb;
  }
  if (a.gpus != b.gpus) return a.gpus < b.gpus;
  const double ta = Rate(a), tb = Rate(b);
  if (std::abs(ta - tb) > 1e-9 * std::max(ta, tb)) return ta > tb;
  return std::make_tuple(a.split.tp, a.split.pp, a.split.dp) <
         std::make_tuple(b.split.tp, b.split.pp, b.split.dp);
}

SearchOutcome SearchServing(const PlanRequest& request, const ParamCounts& params,
                            int64_t gpu_limit, bool want_closest) {
  Context c{.request = request,
            .params = params,
            .gpu_limit = gpu_limit,
            .target = RequiredRate(request),
            .closest = std::nullopt};
  const std::vector<int64_t> tps = ServingTps(request);
  std::vector<Plan> plans;
  for (const auto& [tp, pp] : Shapes(c, tps)) {
    if (tp * pp > gpu_limit) continue;
    if (std::optional<Plan> plan = ShapePlan(c, tp, pp)) plans.push_back(*plan);
  }
  const ServingObjective objective = request.infer.objective;
  std::stable_sort(plans.begin(), plans.end(), [objective](const Plan& a, const Plan& b) {
    return ServingRanksBefore(objective, a, b);
  });
  SearchOutcome outcome;
  if (!plans.empty()) {
    outcome.best = plans.front();
    const size_t count =
        std::min(plans.size() - 1, static_cast<size_t>(std::max(0, request.max_alternatives)));
    outcome.alternatives.assign(plans.begin() + 1, plans.begin() + 1 + count);
  } else if (want_closest) {
    if (!c.closest.has_value()) FallbackClosest(c, tps);
    outcome.closest = c.closest;
  }
  outcome.evaluated = c.evaluated;
  return outcome;
}

namespace {

// Weight bytes one GPU reads in a decode step of `sequences` tokens: all of
// its weights, less the MoE experts no token routes to. With top-k of E
// experts and uniform routing a layer's expert is untouched by all b tokens
// with probability (1 - k/E)^b: a quarter of the experts at batch 1 for
// Mixtral's top-2 of 8, nearly all of them at batch 64.
double DecodeWeightBytes(const PlanRequest& request, const ParamCounts& params, const Split& split,
                         const MemoryBreakdown& memory, int64_t sequences, double* active_params) {
  const ModelShape& m = request.model;
  const double wbytes = DTypeBytes(request.infer.weights);
  const double weights = static_cast<double>(memory.weights_bytes);
  *active_params = weights / wbytes;
  if (m.experts == 0 || params.layer_experts == 0) return weights;
  const double experts = static_cast<double>(CeilDiv(m.layers, split.pp)) *
                         static_cast<double>(params.layer_experts) / static_cast<double>(split.tp);
  const double share = static_cast<double>(m.experts_per_token) / static_cast<double>(m.experts);
  *active_params -= experts * (1.0 - share);
  const double untouched = std::pow(1.0 - share, static_cast<double>(sequences));
  return weights - experts * wbytes * untouched;
}

}  // namespace

Estimate InferenceEstimate(const PlanRequest& request, const ParamCounts& params,
                           const Split& split, const MemoryBreakdown& memory) {
  Estimate e;
  const double bandwidth = request.hardware.gpu.memory_bandwidth_bytes * kBandwidthEfficiency;
  if (!(bandwidth > 0)) return e;
  const int64_t sequences = split.replica_batch > 0 ? split.replica_batch : request.infer.batch;
  switch (request.infer.offload) {
    case Offload::kLayerwise:
      // Every token streams the whole model from disk.
      e.step_seconds = static_cast<double>(memory.host_bytes) / kDiskBytesPerSecond;
      break;
    case Offload::kCpu:
      e.step_seconds =
          static_cast<double>(memory.weights_bytes + memory.kv_cache_bytes) / bandwidth +
          static_cast<double>(memory.host_bytes) / kPcieBytesPerSecond;
      break;
    case Offload::kNone: {
      double active = 0;
      const double read = DecodeWeightBytes(request, params, split, memory, sequences, &active) +
                          static_cast<double>(memory.kv_cache_bytes);
      double stage = read / bandwidth;
      const double peak = Peak16BitFlops(request.hardware.gpu);
      if (peak > 0) {
        stage = std::max(
            stage, 2.0 * active * static_cast<double>(sequences) / (peak * kDecodeFlopsEfficiency));
      }
      // Stages run one after another for one decode step.
      e.step_seconds = static_cast<double>(split.pp) * stage;
      break;
    }
  }
  if (!(e.step_seconds > 0)) return Estimate{};
  e.tokens_per_second =
      static_cast<double>(std::max<int64_t>(1, split.dp) * sequences) / e.step_seconds;
  e.known = true;
  return e;
}

}  // namespace berth::planner::internal
