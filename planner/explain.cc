// Explanations: why a plan was chosen, why one GPU fewer does not fit, and
// for a job that cannot fit, the nearest changes that would.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "planner/catalog.h"
#include "planner/solver.h"
#include "planner/solver_internal.h"

namespace berth::planner::internal {
namespace {

std::string GpuCount(int64_t gpus) { return absl::StrCat(gpus, gpus == 1 ? " GPU" : " GPUs"); }

std::string FormatParams(int64_t params) {
  return absl::StrFormat("%.2fB", static_cast<double>(params) / 1e9);
}

// The plan with the highest estimated throughput among a search's results.
Plan FastestOf(const SearchOutcome& outcome) {
  Plan fastest = *outcome.best;
  for (const Plan& p : outcome.alternatives) {
    if (p.estimate.tokens_per_second > fastest.estimate.tokens_per_second) fastest = p;
  }
  return fastest;
}

std::string BreakdownLine(const PlanRequest& request, const Plan& plan, int64_t usable) {
  const MemoryBreakdown& m = plan.memory;
  std::string line = "Most loaded GPU";
  if (plan.split.pp > 1) {
    absl::StrAppend(&line, " (pipeline stage ", m.stage + 1, " of ", plan.split.pp, ")");
  }
  absl::StrAppend(&line, ": ", FormatGiB(m.total_bytes), " of ", FormatGiB(usable),
                  " usable = weights ", FormatGiB(m.weights_bytes));
  if (request.task == Task::kTrain) {
    absl::StrAppend(&line, " + gradients ", FormatGiB(m.gradients_bytes), " + optimizer ",
                    FormatGiB(m.optimizer_bytes), " + activations ",
                    FormatGiB(m.activations_bytes));
  } else {
    absl::StrAppend(&line, " + KV cache ", FormatGiB(m.kv_cache_bytes));
  }
  absl::StrAppend(&line, " + workspace ", FormatGiB(m.workspace_bytes), " + overhead ",
                  FormatGiB(m.overhead_bytes), ".");
  return line;
}

// An uneven pipeline is chosen only when it needs fewer GPUs than every
// even one: say how the layers go and what the best even split needs.
void ExplainUnevenPipeline(const PlanRequest& request, const PlanResult& result,
                           std::vector<std::string>& out) {
  const Split& s = result.best.split;
  const int64_t layers = request.model.layers;
  std::string line = absl::StrCat("Pipeline: ", layers, " layers do not divide into ", s.pp,
                                  " stages; the first stage holds ", s.first_stage_layers,
                                  ", the last ", s.last_stage_layers);
  if (s.pp > 2) {
    absl::StrAppend(&line, ", the other ", s.pp - 2, " ",
                    (layers - s.first_stage_layers - s.last_stage_layers) / (s.pp - 2), " each");
  }
  absl::StrAppend(&line, " (Megatron --decoder-first-pipeline-num-layers ", s.first_stage_layers,
                  " --decoder-last-pipeline-num-layers ", s.last_stage_layers, "). ");
  PlanRequest even = request;
  even.max_alternatives = 0;
  const SearchOutcome outcome =
      Search(even, result.params, request.max_gpus, false, /*even_pipeline_only=*/true);
  if (outcome.best.has_value()) {
    absl::StrAppend(&line,
                    "Uneven because it saves GPUs: the best split whose stages divide "
                    "the layers needs ",
                    DescribeSplit(request, *outcome.best), ".");
  } else {
    absl::StrAppend(&line, "No split whose stages divide the layers fits within ",
                    GpuCount(request.max_gpus), ".");
  }
  out.push_back(line);
}

void ExplainTraining(const PlanRequest& request, const PlanResult& result,
                     std::vector<std::string>& out) {
  const TrainWorkload& w = request.train;
  const double bytes_per_param = w.framework == Framework::kMegatron ? 18.0 : 16.0;
  out.push_back(absl::StrFormat(
      "Model states: %s parameters × %.0f bytes (%s, mixed-precision Adam) = %s in all, "
      "before any split or sharding.",
      FormatParams(result.params.total), bytes_per_param, FrameworkName(w.framework),
      FormatGiB(static_cast<int64_t>(static_cast<double>(result.params.total) * bytes_per_param))));
  // The seeds' rule of thumb, 40·s·h·L bytes of activations, against the
  // 1F1B figure berth plans with.
  const double rule = 40.0 * static_cast<double>(w.seq) *
                      static_cast<double>(request.model.hidden) *
                      static_cast<double>(request.model.layers);
  out.push_back(absl::StrCat(
      "Activations: the rule of thumb 40·s·h·L gives ", FormatGiB(static_cast<int64_t>(rule)),
      " per micro-batch (", FormatGiB(static_cast<int64_t>(rule / result.best.split.pp)),
      " per stage); berth plans with the 1F1B first stage, which keeps min(p, m) micro-batches "
      "of its layers in flight: ",
      FormatGiB(result.best.memory.activations_bytes), " on the most loaded GPU."));
  const Split& split = result.best.split;
  if (split.uneven()) ExplainUnevenPipeline(request, result, out);
  if (split.ep > 1) {
    out.push_back(absl::StrCat(
        "Expert parallelism: EP ", split.ep, " spreads each layer's ", request.model.experts,
        " experts over ", split.ep, " of the ", split.dp, " DP ranks (",
        request.model.experts / split.ep, " per GPU); each expert's states are sharded over the ",
        split.dp / split.ep,
        " ranks that hold it. The all-to-all token exchange is in neither the memory nor the "
        "pace figure."));
  }
  for (const LaunchArgs& launch : result.launch) {
    out.push_back(absl::StrCat("Launch with ", launch.engine, ": ", launch.args));
  }
}

void ExplainInference(const PlanRequest& request, const PlanResult& result,
                      std::vector<std::string>& out) {
  const InferWorkload& w = request.infer;
  const Plan& best = result.best;
  out.push_back(absl::StrCat(
      "Weights: ", FormatParams(result.params.total), " parameters in ", DTypeName(w.weights),
      " = ",
      FormatGiB(
          static_cast<int64_t>(static_cast<double>(result.params.total) * DTypeBytes(w.weights))),
      "; KV cache for ", w.batch, " × ", w.context, " tokens in ", DTypeName(w.kv_dtype), ": ",
      FormatGiB(best.memory.kv_cache_bytes), " on the most loaded GPU."));
  if (w.offload == Offload::kLayerwise) {
    out.push_back(
        absl::StrCat("Layer-wise offload: one layer (", FormatGiB(best.memory.weights_bytes),
                     ") resident at a time; each token streams the whole model (",
                     FormatGiB(best.memory.host_bytes), ") from disk, so speed is the disk's."));
  } else if (w.offload == Offload::kCpu) {
    out.push_back(absl::StrCat("CPU offload: ", best.memory.gpu_layers, " of ",
                               request.model.layers, " layers on the GPU; ",
                               FormatGiB(best.memory.host_bytes),
                               " of weights and KV cache in host memory, read over PCIe."));
  }
  const int64_t naive =
      NaiveInferenceActivationBytes(request.model, w.batch, w.context, DTypeBytes(w.weights));
  out.push_back(absl::StrCat(
      "Upper bound: the naive formula l·(5/2)·a·b·s² + 17·b·h·s, which keeps every layer's "
      "attention scores at once, would add ",
      FormatGiB(naive),
      "; real inference frees each layer's scores, so berth plans with one layer's workspace (",
      FormatGiB(best.memory.workspace_bytes), ")."));
  if (w.offload == Offload::kNone) ExplainServing(request, result, out);
}

// Why the next smaller GPU count does not fit: too little memory, or, under
// a pace, too slow.
void ExplainOneFewer(const PlanRequest& given, const PlanResult& result,
                     std::vector<std::string>& out) {
  // Inference: about the fewest GPUs that serve the request (the serving
  // lines compare them with a plan chosen for throughput or latency).
  PlanRequest request = given;
  Plan best = result.best;
  if (request.task == Task::kInfer) {
    request.infer.objective = ServingObjective::kFewestGpus;
    request.max_alternatives = 0;
    SearchOutcome fewest = Search(request, result.params, request.max_gpus, false);
    if (fewest.best.has_value()) best = *fewest.best;
    if (RequiredRate(request) > 0 && best.split.dp > 1) {
      Split split = best.split;
      split.dp -= 1;
      const Plan fewer = EvaluateSplit(request, result.params, split);
      out.push_back(absl::StrCat("One replica fewer (", DescribeSplit(request, fewer), ") gives ",
                                 absl::StrFormat("%.0f", fewer.estimate.tokens_per_second),
                                 " tokens/s of the ",
                                 absl::StrFormat("%.0f", RequiredRate(request)), " needed."));
      return;
    }
  }
  if (best.gpus <= 1) {
    out.push_back("One GPU is the fewest possible.");
    return;
  }
  PlanRequest smaller = request;
  smaller.max_alternatives = 0;
  if (result.objective == Objective::kPace) {
    // Drop the pace: if something smaller fits in memory, speed decided.
    smaller.tokens_per_second = 0;
    smaller.days = 0;
    // Inference: the fastest single replica.
    smaller.infer.objective = ServingObjective::kLatency;
    SearchOutcome fits = Search(smaller, result.params, best.gpus - 1, false);
    if (fits.best.has_value()) {
      const Plan fastest = FastestOf(fits);
      out.push_back(absl::StrCat(
          "Fewer GPUs fit in memory but miss the pace: the fastest with at most ",
          GpuCount(best.gpus - 1), " (", DescribeSplit(request, fastest), ") gives ",
          absl::StrFormat("%.0f", fastest.estimate.tokens_per_second), " tokens/s of the ",
          absl::StrFormat("%.0f", RequiredRate(request)), " needed."));
      return;
    }
  }
  SearchOutcome outcome = Search(smaller, result.params, best.gpus - 1, /*want_closest=*/true);
  if (!outcome.closest.has_value()) {
    out.push_back(absl::StrCat("No valid split exists with at most ", GpuCount(best.gpus - 1),
                               " under the fixed settings."));
    return;
  }
  if (outcome.closest->fits) {
    out.push_back(absl::StrCat("No split that serving engines run holds the batch with at most ",
                               GpuCount(best.gpus - 1), "."));
    return;
  }
  out.push_back(absl::StrCat(
      "One GPU fewer does not fit: the closest split with at most ", GpuCount(best.gpus - 1), " (",
      DescribeSplit(request, *outcome.closest), ") needs ",
      FormatGiB(outcome.closest->memory.total_bytes), " on its most loaded GPU, over the ",
      FormatGiB(result.usable_bytes), " usable."));
}

struct Variant {
  std::string label;
  PlanRequest request;
};

std::vector<Variant> NearbyVariants(const PlanRequest& request) {
  std::vector<Variant> out;
  auto add = [&](std::string label, auto change) {
    PlanRequest v = request;
    v.max_alternatives = 0;
    change(v);
    out.push_back({std::move(label), std::move(v)});
  };
  if (request.task == Task::kInfer) {
    const double bytes = DTypeBytes(request.infer.weights);
    if (bytes > 1.0) add("fp8 weights", [](PlanRequest& v) { v.infer.weights = DType::kFp8; });
    if (bytes > 0.6) add("int4 weights", [](PlanRequest& v) { v.infer.weights = DType::kInt4; });
    if (DTypeBytes(request.infer.kv_dtype) > 1.0) {
      add("an fp8 (or int8) KV cache", [](PlanRequest& v) { v.infer.kv_dtype = DType::kFp8; });
    }
    if (request.infer.offload != Offload::kLayerwise) {
      add("layer-wise offload (slow: each token reads the model from disk)", [](PlanRequest& v) {
        v.infer.offload = Offload::kLayerwise;
        v.fixed = FixedSplit{};
      });
    }
  } else {
    if (request.train.framework != Framework::kDeepSpeed || request.fixed.zero_stage >= 0) {
      add("DeepSpeed with ZeRO-3 sharding", [](PlanRequest& v) {
        v.train.framework = Framework::kDeepSpeed;
        v.fixed = FixedSplit{};
      });
    }
    if (request.train.framework == Framework::kMegatron && !request.train.sequence_parallel) {
      add("sequence parallelism", [](PlanRequest& v) { v.train.sequence_parallel = true; });
    }
    if (request.train.recompute != Recompute::kFull) {
      add("full activation recompute",
          [](PlanRequest& v) { v.train.recompute = Recompute::kFull; });
    }
    if (request.model.experts > 1 && request.fixed.ep == 1) {
      add("expert parallelism", [](PlanRequest& v) { v.fixed.ep = 0; });
    }
  }
  if (request.fixed.tp > 0 || request.fixed.pp > 0 || request.fixed.dp > 0 ||
      request.fixed.zero_stage >= 0 || request.fixed.ep > 0) {
    add("the split left to berth", [](PlanRequest& v) { v.fixed = FixedSplit{}; });
  }
  if (request.max_gpus < kDefaultMaxGpus) {
    add(absl::StrCat("more than ", GpuCount(request.max_gpus)),
        [](PlanRequest& v) { v.max_gpus = kDefaultMaxGpus; });
  }
  return out;
}

// The smallest catalogued GPU larger than the request's on which it fits.
void ExplainLargerGpu(const PlanRequest& request, const ParamCounts& params,
                      std::vector<std::string>& out) {
  for (const GpuType& gpu : GpuCatalog()) {
    if (gpu.memory_bytes <= request.hardware.gpu.memory_bytes) continue;
    PlanRequest v = request;
    v.max_alternatives = 0;
    v.hardware.gpu = gpu;
    SearchOutcome outcome = Search(v, params, v.max_gpus, false);
    if (!outcome.best.has_value()) continue;
    out.push_back(
        absl::StrCat("Would fit on ", gpu.name, ": ", DescribeSplit(v, *outcome.best), "."));
    return;
  }
}

void ExplainNearestChanges(const PlanRequest& request, const PlanResult& result,
                           std::vector<std::string>& out) {
  const size_t before = out.size();
  for (const Variant& variant : NearbyVariants(request)) {
    SearchOutcome outcome = Search(variant.request, result.params, variant.request.max_gpus, false);
    if (!outcome.best.has_value()) continue;
    out.push_back(absl::StrCat("Would fit with ", variant.label, ": ",
                               DescribeSplit(variant.request, *outcome.best), "."));
  }
  if (request.task == Task::kInfer) ExplainServingReductions(request, result.params, out);
  ExplainLargerGpu(request, result.params, out);
  if (out.size() == before) out.push_back("No nearby change makes it fit.");
}

std::string InfeasibleReason(const PlanRequest& request, const PlanResult& result) {
  if (result.best.gpus == 0) {
    return absl::StrCat("no valid split of at most ", GpuCount(request.max_gpus),
                        " exists under the fixed settings");
  }
  if (result.best.fits && RequiredRate(request) > 0) {
    return absl::StrCat("no plan within ", request.max_gpus, " × ", request.hardware.gpu.name,
                        " reaches the pace of ", absl::StrFormat("%.0f", RequiredRate(request)),
                        " tokens/s");
  }
  if (result.best.fits) {
    return absl::StrCat(
        "no split that serving engines run (TP a power of two within a node, "
        "PP only across whole nodes) holds the batch within ",
        request.max_gpus, " × ", request.hardware.gpu.name);
  }
  return absl::StrCat("does not fit ", request.hardware.gpu.name, " (",
                      FormatGiB(result.usable_bytes), " usable per GPU) within ",
                      GpuCount(request.max_gpus), ": the closest split (",
                      DescribeSplit(request, result.best), ") needs ",
                      FormatGiB(result.best.memory.total_bytes), " on its most loaded GPU");
}

}  // namespace

std::string FormatGiB(int64_t bytes) {
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / static_cast<double>(kGiB));
}

std::string DescribeSplit(const PlanRequest& request, const Plan& plan) {
  const Split& s = plan.split;
  std::string text = absl::StrCat(plan.gpus, " GPU", plan.gpus == 1 ? "" : "s", ", TP ", s.tp,
                                  " × PP ", s.pp, " × DP ", s.dp);
  if (s.ep > 1) absl::StrAppend(&text, " (EP ", s.ep, ")");
  if (s.uneven()) {
    absl::StrAppend(&text, " (first stage ", s.first_stage_layers, " layers, last ",
                    s.last_stage_layers, ")");
  }
  if (request.task == Task::kTrain) {
    absl::StrAppend(&text, ", ZeRO ", s.zero_stage, ", micro-batch ", s.micro_batch, ", recompute ",
                    RecomputeName(s.recompute));
  } else if (request.infer.offload != Offload::kNone) {
    absl::StrAppend(&text, ", offload ", OffloadName(request.infer.offload));
  } else if (s.dp > 1 || (s.replica_batch > 0 && s.replica_batch != request.infer.batch)) {
    absl::StrAppend(&text, ", ", s.replica_batch, " sequences per replica");
  }
  return text;
}

void Explain(const PlanRequest& request, PlanResult& result) {
  std::vector<std::string>& out = result.explanation;
  if (!result.feasible) {
    result.reason = InfeasibleReason(request, result);
    out.push_back(absl::StrCat("Cannot fit: ", result.reason, "."));
    if (result.best.gpus > 0)
      out.push_back(BreakdownLine(request, result.best, result.usable_bytes));
    ExplainNearestChanges(request, result, out);
    return;
  }
  out.push_back(absl::StrCat("Fits on ", DescribeSplit(request, result.best), "."));
  out.push_back(BreakdownLine(request, result.best, result.usable_bytes));
  if (request.task == Task::kTrain) {
    ExplainTraining(request, result, out);
  } else {
    ExplainInference(request, result, out);
  }
  ExplainOneFewer(request, result, out);
  if (result.objective == Objective::kPace && result.best.estimate.known) {
    if (request.task == Task::kTrain) {
      out.push_back(absl::StrFormat(
          "Pace: %.0f tokens/s needed; this plan gives %.0f tokens/s at MFU %.2f.",
          RequiredRate(request), result.best.estimate.tokens_per_second, request.mfu));
    } else {
      out.push_back(
          absl::StrFormat("Pace: %.0f decode tokens/s needed; this plan gives %.0f tokens/s.",
                          RequiredRate(request), result.best.estimate.tokens_per_second));
    }
  }
}

}  // namespace berth::planner::internal
