// Explanations of inference plans: which rule chose the split, how many
// replicas hold how many sequences, what the objective traded, the engine
// arguments, and for a plan that cannot fit, the largest batch or context
// that would.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "planner/solver.h"
#include "planner/solver_internal.h"

namespace berth::planner::internal {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string SplitRule(const PlanRequest& request, const Split& s) {
  const ModelShape& m = request.model;
  if (request.fixed.tp > 0 || request.fixed.pp > 0) {
    return absl::StrCat("Serving split: TP ", s.tp, " × PP ", s.pp, " as fixed.");
  }
  std::string kv = m.kv_heads < s.tp
                       ? absl::StrCat(", each of the ", m.kv_heads, " KV heads replicated on ",
                                      s.tp / m.kv_heads, " GPUs")
                       : "";
  if (s.pp == 1) {
    return absl::StrCat("Serving split: TP ", s.tp,
                        " within one node (a power of two dividing the ", m.heads,
                        " attention heads", kv, "); no pipeline, as one node holds a ",
                        "replica. Engines split PP only across nodes.");
  }
  return absl::StrCat("Serving split: one node (", request.hardware.gpus_per_node, " × ",
                      request.hardware.gpu.name, ") cannot hold the model with one ",
                      request.infer.context, "-token sequence, so PP ", s.pp, " runs across ", s.pp,
                      " nodes, TP ", s.tp, " within each", kv, ".");
}

std::string Replicas(const PlanRequest& request, const Plan& best) {
  const Split& s = best.split;
  std::string line =
      absl::StrCat("Replicas: ", s.dp, " × (TP ", s.tp, " × PP ", s.pp, "), each holding ",
                   s.replica_batch, " sequence", s.replica_batch == 1 ? "" : "s", " of ",
                   request.infer.context, " tokens (", s.dp * s.replica_batch, " at once");
  if (s.dp * s.replica_batch > request.infer.batch) {
    absl::StrAppend(
        &line, RequiredRate(request) > 0 ? "; the target needs more than the " : "; the batch of ",
        RequiredRate(request) > 0
            ? absl::StrCat(request.infer.batch, " asked")
            : absl::StrCat(request.infer.batch, " rounded up to whole replicas"));
  }
  absl::StrAppend(&line, ")");
  if (best.estimate.known) {
    absl::StrAppend(
        &line, absl::StrFormat("; decode about %.0f tokens/s in all, %.1f per GPU, %.1f ms per "
                               "output token",
                               best.estimate.tokens_per_second,
                               best.estimate.tokens_per_second / static_cast<double>(best.gpus),
                               best.estimate.step_seconds * 1e3));
  }
  absl::StrAppend(&line,
                  ". Engines run each replica as its own server; a load balancer spreads "
                  "requests over them.");
  return line;
}

double PerGpu(const Plan& plan) {
  return plan.estimate.known ? plan.estimate.tokens_per_second / static_cast<double>(plan.gpus) : 0;
}

std::string ObjectiveLine(const PlanRequest& request, const PlanResult& result) {
  const ServingObjective objective = request.infer.objective;
  std::string line = absl::StrCat("Objective ", ServingObjectiveName(objective), ": ");
  switch (objective) {
    case ServingObjective::kThroughput:
      absl::StrAppend(&line, "the most decode tokens/s per GPU (the lowest cost per token)");
      break;
    case ServingObjective::kLatency:
      absl::StrAppend(&line, "the shortest decode step (time per output token)");
      break;
    case ServingObjective::kFewestGpus:
      return absl::StrCat(line, "the fewest GPUs that hold the batch, then the fastest.");
  }
  PlanRequest fewest = request;
  fewest.infer.objective = ServingObjective::kFewestGpus;
  fewest.max_alternatives = 0;
  const SearchOutcome outcome = Search(fewest, result.params, request.max_gpus, false);
  if (!outcome.best.has_value() || outcome.best->gpus >= result.best.gpus) {
    return absl::StrCat(line, "; it is also the fewest GPUs that fit.");
  }
  const Plan& f = *outcome.best;
  return absl::StrCat(
      line,
      absl::StrFormat("; the fewest GPUs that fit (%s) give %.1f tokens/s per GPU and %.1f ms "
                      "per token, against %.1f and %.1f here.",
                      DescribeSplit(request, f), PerGpu(f), f.estimate.step_seconds * 1e3,
                      PerGpu(result.best), result.best.estimate.step_seconds * 1e3));
}

std::string MoeLine(const PlanRequest& request, const Plan& best) {
  const ModelShape& m = request.model;
  const double share = static_cast<double>(m.experts_per_token) / static_cast<double>(m.experts);
  const double touched = 1.0 - std::pow(1.0 - share, static_cast<double>(best.split.replica_batch));
  return absl::StrFormat(
      "MoE decode: a step of %d token%s reads the dense weights and the experts its tokens "
      "route to (top-%d of %d: about %.0f%% of the expert weights at this batch), not every "
      "expert.",
      best.split.replica_batch, best.split.replica_batch == 1 ? "" : "s", m.experts_per_token,
      m.experts, 100.0 * touched);
}

}  // namespace

void ExplainServing(const PlanRequest& request, const PlanResult& result,
                    std::vector<std::string>& out) {
  const Plan& best = result.best;
  out.push_back(SplitRule(request, best.split));
  out.push_back(Replicas(request, best));
  out.push_back(ObjectiveLine(request, result));
  if (request.model.experts > 0) out.push_back(MoeLine(request, best));
  for (const LaunchArgs& launch : result.launch) {
    out.push_back(absl::StrCat("Launch each replica with ", launch.engine, ": ", launch.args));
  }
}

namespace {

// The largest value in [1, below) for which `fits` holds (it holds for all
// smaller values when for one), or nullopt.
template <typename Fits>
std::optional<int64_t> Largest(int64_t below, Fits fits) {
  if (below <= 1 || !fits(1)) return std::nullopt;
  int64_t lo = 1, hi = below - 1;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

std::optional<Plan> Solve(PlanRequest v, const ParamCounts& params) {
  v.max_alternatives = 0;
  return Search(v, params, v.max_gpus, false).best;
}

}  // namespace

void ExplainServingReductions(const PlanRequest& request, const ParamCounts& params,
                              std::vector<std::string>& out) {
  const InferWorkload& w = request.infer;
  auto with_batch = [&](DType kv, int64_t batch) {
    PlanRequest v = request;
    v.infer.kv_dtype = kv;
    v.infer.batch = batch;
    return v;
  };
  auto say = [&](const std::string& change, const PlanRequest& v) {
    if (std::optional<Plan> plan = Solve(v, params)) {
      out.push_back(absl::StrCat("Would fit with ", change, ": ", DescribeSplit(v, *plan), "."));
    }
  };
  const std::optional<int64_t> batch = Largest(
      w.batch, [&](int64_t b) { return Solve(with_batch(w.kv_dtype, b), params).has_value(); });
  if (batch) {
    say(absl::StrCat("batch ", *batch, " (of ", w.batch, ") at ", w.context, " tokens"),
        with_batch(w.kv_dtype, *batch));
  }
  // Contexts in whole KiB-tokens when that large.
  const int64_t unit = w.context > 1024 ? 1024 : 1;
  const std::optional<int64_t> units = Largest(CeilDiv(w.context, unit), [&](int64_t c) {
    PlanRequest v = request;
    v.infer.context = c * unit;
    return Solve(v, params).has_value();
  });
  if (units) {
    PlanRequest v = request;
    v.infer.context = *units * unit;
    say(absl::StrCat("a context of ", v.infer.context, " tokens (of ", w.context, ") at batch ",
                     w.batch),
        v);
  }
  // An fp8 KV cache alone is a nearby variant; here with the batch it holds.
  if (DTypeBytes(w.kv_dtype) > 1.0 && !Solve(with_batch(DType::kFp8, w.batch), params)) {
    const std::optional<int64_t> fp8 = Largest(
        w.batch, [&](int64_t b) { return Solve(with_batch(DType::kFp8, b), params).has_value(); });
    if (fp8 && (!batch || *fp8 > *batch)) {
      say(absl::StrCat("an fp8 (or int8) KV cache and batch ", *fp8, " (of ", w.batch, ")"),
          with_batch(DType::kFp8, *fp8));
    }
  }
}

}  // namespace berth::planner::internal
