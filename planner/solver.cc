#include "planner/solver.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "planner/launch.h"
#include "planner/solver_internal.h"

namespace berth::planner {
namespace {

// Without --global-batch, berth assumes gradient accumulation keeps eight
// micro-batches per pipeline stage in flight: m = 8·p (bubble under 1/8).
constexpr int64_t kAssumedMicroBatchesPerStage = 8;
constexpr int64_t kMicroBatchChoices[] = {1, 2, 4, 8};
constexpr double kSecondsPerDay = 86400.0;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Micro-batches per step per pipeline for one split.
int64_t MicroBatches(const PlanRequest& request, const Split& split) {
  if (request.train.global_batch > 0) {
    return std::max<int64_t>(1, request.train.global_batch / (split.micro_batch * split.dp));
  }
  return kAssumedMicroBatchesPerStage * split.pp;
}

Estimate TrainingEstimate(const PlanRequest& request, const ParamCounts& params,
                          const Split& split) {
  Estimate e;
  const double peak = Peak16BitFlops(request.hardware.gpu);
  if (!(peak > 0)) return e;
  const int64_t m = MicroBatches(request, split);
  // 6·Ψ FLOPs per token (forward 2, backward 4); full recompute adds a forward.
  const double flops_per_token =
      (split.recompute == Recompute::kFull ? 8.0 : 6.0) * static_cast<double>(params.active);
  const double bubble = static_cast<double>(split.pp - 1) /
                        static_cast<double>(m * std::max<int64_t>(1, request.train.virtual_stages));
  e.tokens_per_second =
      static_cast<double>(split.gpus()) * peak * request.mfu / (flops_per_token * (1.0 + bubble));
  const double sequences = request.train.global_batch > 0
                               ? static_cast<double>(request.train.global_batch)
                               : static_cast<double>(split.dp * split.micro_batch * m);
  e.step_seconds = sequences * static_cast<double>(request.train.seq) / e.tokens_per_second;
  if (request.tokens > 0) e.days = request.tokens / e.tokens_per_second / kSecondsPerDay;
  e.known = true;
  return e;
}

// The TP degrees a request may use: fixed, or every t that divides the heads
// and the node's GPUs and that the KV heads divide or are divided by.
// (Inference without offload searches its own TP degrees: serving.cc.)
std::vector<int64_t> TpChoices(const PlanRequest& request) {
  if (request.fixed.tp > 0) return {request.fixed.tp};
  if (request.task == Task::kInfer) return {1};  // offload: one GPU
  const ModelShape& m = request.model;
  std::vector<int64_t> out;
  for (int64_t t = 1; t <= request.hardware.gpus_per_node; ++t) {
    if (m.heads % t != 0 || request.hardware.gpus_per_node % t != 0) continue;
    if (m.kv_heads % t != 0 && t % m.kv_heads != 0) continue;
    out.push_back(t);
  }
  return out;
}

std::vector<int> ZeroChoices(const PlanRequest& request, int64_t pp) {
  if (request.task == Task::kInfer) return {0};
  if (request.fixed.zero_stage >= 0) return {request.fixed.zero_stage};
  if (request.train.framework == Framework::kMegatron) return {0, 1};
  // DeepSpeed runs ZeRO 2 and 3 only without pipeline parallelism.
  if (pp > 1) return {0, 1};
  return {0, 1, 2, 3};
}

std::vector<int64_t> MicroBatchChoices(const PlanRequest& request) {
  if (request.task == Task::kInfer) return {1};
  if (request.train.micro_batch > 0) return {request.train.micro_batch};
  std::vector<int64_t> out;
  for (int64_t b : kMicroBatchChoices) {
    if (request.train.global_batch > 0 && request.train.global_batch % b != 0) continue;
    out.push_back(b);
  }
  return out;
}

std::vector<Recompute> RecomputeChoices(const PlanRequest& request) {
  if (request.task == Task::kInfer) return {Recompute::kNone};
  if (request.train.recompute.has_value()) return {*request.train.recompute};
  // With flash attention, selective recompute saves nothing more.
  if (request.train.flash_attention) return {Recompute::kNone, Recompute::kFull};
  return {Recompute::kNone, Recompute::kSelective, Recompute::kFull};
}

// The EP degrees a request may use: 1 for dense models and inference;
// fixed; or every divisor of the expert count (each EP rank holds the same
// number of experts).
std::vector<int64_t> EpChoices(const PlanRequest& request) {
  if (request.task != Task::kTrain || request.model.experts == 0) return {1};
  if (request.fixed.ep > 0) return {request.fixed.ep};
  std::vector<int64_t> out;
  for (int64_t e = 1; e <= request.model.experts; ++e) {
    if (request.model.experts % e == 0) out.push_back(e);
  }
  return out;
}

// DP degrees for one (t, p, b, ep), ascending, within the GPU limit: either
// every multiple of `step` (the EP degree) up to max, or an explicit list
// (divisors of the global batch that EP divides).
struct DpChoices {
  bool is_range = true;
  int64_t max = 0;
  int64_t step = 1;
  std::vector<int64_t> list;
  size_t size() const {
    return is_range ? static_cast<size_t>(std::max<int64_t>(0, max / step)) : list.size();
  }
  int64_t at(size_t i) const { return is_range ? (static_cast<int64_t>(i) + 1) * step : list[i]; }
};

// Divisors of n in ascending order.
std::vector<int64_t> Divisors(int64_t n) {
  std::vector<int64_t> low, high;
  for (int64_t d = 1; d * d <= n; ++d) {
    if (n % d != 0) continue;
    low.push_back(d);
    if (d != n / d) high.push_back(n / d);
  }
  low.insert(low.end(), high.rbegin(), high.rend());
  return low;
}

// `batch_divisors`: the divisors of global_batch / micro_batch, when a
// global batch is given.
DpChoices MakeDpChoices(const PlanRequest& request, int64_t tp_pp,
                        const std::vector<int64_t>& batch_divisors, int64_t gpu_limit, int64_t ep) {
  DpChoices out;
  const int64_t max_dp = gpu_limit / tp_pp;
  if (request.fixed.dp > 0 || request.task == Task::kInfer) {
    const int64_t dp = request.fixed.dp > 0 ? request.fixed.dp : 1;
    out.is_range = false;
    if (dp <= max_dp && dp % ep == 0) out.list.push_back(dp);
    return out;
  }
  if (request.train.global_batch > 0) {
    // DP must divide the micro-batches of the global batch.
    out.is_range = false;
    for (int64_t r : batch_divisors) {
      if (r > max_dp) break;
      if (r % ep == 0) out.list.push_back(r);
    }
    return out;
  }
  out.max = max_dp;
  out.step = ep;
  return out;
}

// Keeps the best plan of each (t, p, ZeRO) shape, the `capacity` best shapes.
class TopPlans {
 public:
  explicit TopPlans(size_t capacity) : capacity_(capacity) {}

  void Offer(const Plan& plan) {
    for (Plan& kept : plans_) {
      if (SameShape(kept, plan)) {
        if (internal::RanksBefore(plan, kept)) kept = plan;
        Sort();
        return;
      }
    }
    if (plans_.size() < capacity_) {
      plans_.push_back(plan);
    } else if (internal::RanksBefore(plan, plans_.back())) {
      plans_.back() = plan;
    } else {
      return;
    }
    Sort();
  }

  // Plans with more GPUs than this cannot enter.
  int64_t GpuThreshold() const {
    return plans_.size() < capacity_ ? std::numeric_limits<int64_t>::max() : plans_.back().gpus;
  }
  const std::vector<Plan>& plans() const { return plans_; }

 private:
  static bool SameShape(const Plan& a, const Plan& b) {
    return a.split.tp == b.split.tp && a.split.pp == b.split.pp &&
           a.split.zero_stage == b.split.zero_stage && a.split.ep == b.split.ep;
  }
  void Sort() { std::stable_sort(plans_.begin(), plans_.end(), internal::RanksBefore); }

  size_t capacity_;
  std::vector<Plan> plans_;
};

bool MeetsObjective(const Plan& plan, double required_rate) {
  if (!plan.fits) return false;
  if (required_rate <= 0) return true;
  return plan.estimate.known && plan.estimate.tokens_per_second >= required_rate * (1 - 1e-12);
}

struct SearchState {
  const PlanRequest& request;
  const ParamCounts& params;
  double required_rate;
  bool want_closest;
  TopPlans top;
  internal::SearchOutcome outcome;
  // Divisors of global_batch / b for each micro-batch b, computed once.
  std::vector<std::pair<int64_t, std::vector<int64_t>>> batch_divisors;
  std::vector<int64_t> eps;  // EpChoices(request), computed once

  const std::vector<int64_t>& BatchDivisors(int64_t micro_batch) {
    for (const auto& [b, divisors] : batch_divisors) {
      if (b == micro_batch) return divisors;
    }
    std::vector<int64_t> divisors;
    // Only training validates global_batch; inference must not look at it
    // (the fuzzer found an inference request whose unchecked 6.5e18 made
    // this loop run for minutes).
    if (request.task == Task::kTrain && request.train.global_batch > 0) {
      divisors = Divisors(request.train.global_batch / micro_batch);
    }
    batch_divisors.emplace_back(micro_batch, std::move(divisors));
    return batch_divisors.back().second;
  }
};

// Binary search for the smallest DP that meets the objective; predicates
// are monotone in DP (ZeRO shards shrink, fewer micro-batches in flight,
// throughput c·r/(1 + β·r) grows).
void SearchDp(SearchState& state, Split split, const DpChoices& dps) {
  if (dps.size() == 0) return;
  auto evaluate = [&](int64_t dp) {
    split.dp = dp;
    ++state.outcome.evaluated;
    return EvaluateSplit(state.request, state.params, split);
  };
  Plan widest = evaluate(dps.at(dps.size() - 1));
  if (state.want_closest &&
      (!state.outcome.closest.has_value() ||
       widest.memory.total_bytes < state.outcome.closest->memory.total_bytes)) {
    state.outcome.closest = widest;
  }
  if (!MeetsObjective(widest, state.required_rate)) return;
  size_t lo = 0, hi = dps.size() - 1;  // dps[hi] meets the objective
  Plan found = widest;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    Plan candidate = evaluate(dps.at(mid));
    if (MeetsObjective(candidate, state.required_rate)) {
      hi = mid;
      found = candidate;
    } else {
      lo = mid + 1;
    }
  }
  // With one data-parallel rank ZeRO shards nothing: report stage 0 unless
  // the request fixed the stage.
  if (found.split.dp == 1 && state.request.fixed.zero_stage < 0) found.split.zero_stage = 0;
  state.top.Offer(found);
}

void SearchShape(SearchState& state, int64_t tp, int64_t pp, std::pair<int64_t, int64_t> layout,
                 int64_t gpu_limit) {
  const PlanRequest& request = state.request;
  for (int64_t ep : state.eps) {
    for (int zero : ZeroChoices(request, pp)) {
      for (int64_t b : MicroBatchChoices(request)) {
        const int64_t limit = std::min(gpu_limit, state.top.GpuThreshold());
        if (tp * pp * ep > limit) break;
        const DpChoices dps = MakeDpChoices(request, tp * pp, state.BatchDivisors(b), limit, ep);
        for (Recompute rc : RecomputeChoices(request)) {
          Split split{.tp = tp,
                      .pp = pp,
                      .dp = 1,
                      .ep = ep,
                      .zero_stage = zero,
                      .micro_batch = b,
                      .recompute = rc,
                      .first_stage_layers = layout.first,
                      .last_stage_layers = layout.second};
          SearchDp(state, split, dps);
        }
      }
    }
  }
}

}  // namespace

namespace internal {

double RequiredRate(const PlanRequest& request) {
  if (request.tokens_per_second > 0) return request.tokens_per_second;
  if (request.tokens > 0 && request.days > 0)
    return request.tokens / (request.days * kSecondsPerDay);
  return 0;
}

bool RanksBefore(const Plan& a, const Plan& b) {
  if (a.gpus != b.gpus) return a.gpus < b.gpus;
  // Stage counts that divide the layers first: uneven only to save GPUs.
  if (a.split.uneven() != b.split.uneven()) return !a.split.uneven();
  const double ta = a.estimate.known ? a.estimate.tokens_per_second : 0;
  const double tb = b.estimate.known ? b.estimate.tokens_per_second : 0;
  if (std::abs(ta - tb) > 1e-9 * std::max(ta, tb)) return ta > tb;
  return std::make_tuple(a.split.tp, a.split.pp, a.split.ep, a.split.zero_stage,
                         static_cast<int>(a.split.recompute), -a.split.micro_batch) <
         std::make_tuple(b.split.tp, b.split.pp, b.split.ep, b.split.zero_stage,
                         static_cast<int>(b.split.recompute), -b.split.micro_batch);
}

SearchOutcome Search(const PlanRequest& request, const ParamCounts& params, int64_t gpu_limit,
                     bool want_closest, bool even_pipeline_only) {
  if (request.task == Task::kInfer && request.infer.offload == Offload::kNone) {
    return SearchServing(request, params, gpu_limit, want_closest);
  }
  SearchState state{.request = request,
                    .params = params,
                    .required_rate = RequiredRate(request),
                    .want_closest = want_closest,
                    .top = TopPlans(static_cast<size_t>(std::max(0, request.max_alternatives)) + 1),
                    .outcome = {},
                    .batch_divisors = {},
                    .eps = EpChoices(request)};
  const std::vector<int64_t> tps = TpChoices(request);
  const bool offloaded = request.task == Task::kInfer && request.infer.offload != Offload::kNone;
  const int64_t max_pp =
      request.fixed.pp > 0 ? request.fixed.pp : (offloaded ? 1 : request.model.layers);
  const int64_t min_pp = request.fixed.pp > 0 ? request.fixed.pp : 1;
  for (int64_t tp : tps) {
    for (int64_t pp = min_pp; pp <= max_pp; ++pp) {
      if (tp * pp > std::min(gpu_limit, state.top.GpuThreshold())) break;
      for (const auto& layout : internal::StageLayouts(request, pp, even_pipeline_only)) {
        SearchShape(state, tp, pp, layout, gpu_limit);
      }
    }
  }
  const std::vector<Plan>& plans = state.top.plans();
  if (!plans.empty()) {
    state.outcome.best = plans.front();
    state.outcome.alternatives.assign(plans.begin() + 1, plans.end());
  }
  return std::move(state.outcome);
}

std::vector<std::pair<int64_t, int64_t>> StageLayouts(const PlanRequest& request, int64_t p,
                                                      bool even_only) {
  const int64_t layers = request.model.layers;
  if (request.task != Task::kTrain || layers % p == 0) return {{0, 0}};
  if (even_only || request.train.virtual_stages > 1) return {};
  const int64_t rest = p == 2 ? layers : layers - (p - 2) * CeilDiv(layers, p);
  if (rest < 2) return {};
  const int64_t small = rest / 2;
  if (small == rest - small) return {{small, small}};
  return {{small, rest - small}, {rest - small, small}};
}

}  // namespace internal

Plan EvaluateSplit(const PlanRequest& request, const ParamCounts& params, const Split& given) {
  Split split = given;
  if (request.task == Task::kInfer && split.replica_batch <= 0) {
    split.replica_batch = CeilDiv(request.infer.batch, std::max<int64_t>(1, split.dp));
  }
  Plan plan;
  plan.split = split;
  plan.gpus = split.gpus();
  plan.nodes = CeilDiv(plan.gpus, request.hardware.gpus_per_node);
  if (request.task == Task::kTrain) {
    plan.memory = TrainingMemory(request.model, params, request.train, split,
                                 MicroBatches(request, split), request.hardware);
    plan.estimate = TrainingEstimate(request, params, split);
  } else {
    plan.memory = InferenceMemory(request.model, params, request.infer, split, request.hardware);
    plan.estimate = internal::InferenceEstimate(request, params, split, plan.memory);
  }
  plan.fits = plan.memory.total_bytes <= UsableBytes(request.hardware);
  return plan;
}

namespace {

// The request as it runs on its GPU: a card without bf16 (V100) trains and
// serves in fp16 instead (the same bytes; fp16's narrower range needs loss
// scaling in training and can overflow in models trained in bf16). `note`
// says so, or stays empty.
PlanRequest ForGpu(const PlanRequest& request, std::string& note) {
  PlanRequest out = request;
  if (request.hardware.gpu.bf16) return out;
  const std::string gpu = request.hardware.gpu.name;
  if (request.task == Task::kTrain) {
    note = absl::StrCat(gpu,
                        " has no bf16: the plan trains in fp16 mixed precision (the same "
                        "bytes per parameter, with loss scaling; Megatron --fp16, DeepSpeed "
                        "\"fp16\") at the fp16 peak.");
    return out;
  }
  const bool weights = out.infer.weights == DType::kBf16;
  const bool kv = out.infer.kv_dtype == DType::kBf16;
  if (weights) out.infer.weights = DType::kFp16;
  if (kv) out.infer.kv_dtype = DType::kFp16;
  if (weights || kv) {
    note = absl::StrCat(gpu, " has no bf16: ", weights ? "weights" : "",
                        weights && kv ? " and " : "", kv ? "KV cache" : "",
                        " are served in fp16 instead (the same bytes; fp16's narrower range "
                        "can overflow in a model trained in bf16).");
  }
  return out;
}

Objective ObjectiveOf(const PlanRequest& request) {
  if (internal::RequiredRate(request) > 0) return Objective::kPace;
  if (request.task == Task::kTrain || request.infer.offload != Offload::kNone) {
    return Objective::kMinGpus;
  }
  switch (request.infer.objective) {
    case ServingObjective::kThroughput:
      return Objective::kThroughput;
    case ServingObjective::kLatency:
      return Objective::kLatency;
    case ServingObjective::kFewestGpus:
      break;
  }
  return Objective::kMinGpus;
}

DType PrecisionOf(const PlanRequest& request) {
  if (request.task == Task::kInfer) return request.infer.weights;
  return request.hardware.gpu.bf16 ? DType::kBf16 : DType::kFp16;
}

}  // namespace

absl::string_view ObjectiveName(Objective objective) {
  switch (objective) {
    case Objective::kMinGpus:
      return "fewest-gpus";
    case Objective::kPace:
      return "pace";
    case Objective::kThroughput:
      return "throughput";
    case Objective::kLatency:
      return "latency";
  }
  return "fewest-gpus";
}

absl::StatusOr<PlanResult> SolvePlan(const PlanRequest& given) {
  BERTH_RETURN_IF_ERROR(ValidateRequest(given));
  std::string precision_note;
  const PlanRequest request = ForGpu(given, precision_note);
  PlanResult result;
  result.params = CountParams(request.model);
  result.usable_bytes = UsableBytes(request.hardware);
  result.objective = ObjectiveOf(request);
  result.precision = PrecisionOf(request);
  internal::SearchOutcome outcome =
      internal::Search(request, result.params, request.max_gpus, /*want_closest=*/true);
  if (outcome.best.has_value()) {
    result.feasible = true;
    result.best = *outcome.best;
    result.alternatives = std::move(outcome.alternatives);
    result.launch = LaunchArgsFor(request, result.best);
  } else if (outcome.closest.has_value()) {
    result.best = *outcome.closest;
  }
  internal::Explain(request, result);
  if (!precision_note.empty()) {
    const auto at =
        result.explanation.begin() + std::min<std::ptrdiff_t>(1, std::ssize(result.explanation));
    result.explanation.insert(at, precision_note);
  }
  return result;
}

}  // namespace berth::planner
