// Planner benchmarks: one fixed split (aim: under 1 µs) and the full
// fewest-GPU search for llama-3.1-405b training on up to 16,384 H100s (aim:
// under 5 ms on one core). Figures are recorded in bench/RESULTS.md.
#include "benchmark/benchmark.h"
#include "planner/catalog.h"
#include "planner/solver.h"

namespace berth::planner {
namespace {

PlanRequest Request(const char* model, const char* gpu) {
  PlanRequest r;
  r.model = FindModel(model).value();
  r.hardware.gpu = FindGpu(gpu).value();
  return r;
}

void BM_EvaluateFixedSplit(benchmark::State& state) {
  const PlanRequest r = Request("llama-3-70b", "h100-80gb");
  const ParamCounts params = CountParams(r.model);
  const Split split{
      .tp = 8, .pp = 4, .dp = 16, .zero_stage = 1, .micro_batch = 1, .recompute = Recompute::kFull};
  for (auto _ : state) {
    Plan plan = EvaluateSplit(r, params, split);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_EvaluateFixedSplit);

void BM_EvaluateInference(benchmark::State& state) {
  PlanRequest r = Request("llama-3-70b", "h100-80gb");
  r.task = Task::kInfer;
  const ParamCounts params = CountParams(r.model);
  const Split split{.tp = 4};
  for (auto _ : state) {
    Plan plan = EvaluateSplit(r, params, split);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_EvaluateInference);

// The full search, explanations included, as `berth plan` runs it.
void BM_Solve405bMinGpus(benchmark::State& state) {
  PlanRequest r = Request("llama-3.1-405b", "h100-80gb");
  r.max_gpus = 16384;
  r.train.seq = 8192;
  for (auto _ : state) {
    auto result = SolvePlan(r);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_Solve405bMinGpus)->Unit(benchmark::kMillisecond);

// With a global batch (DP must divide it) and DeepSpeed's four ZeRO stages.
void BM_Solve405bGlobalBatchDeepSpeed(benchmark::State& state) {
  PlanRequest r = Request("llama-3.1-405b", "h100-80gb");
  r.max_gpus = 16384;
  r.train.seq = 8192;
  r.train.global_batch = 2048;
  r.train.framework = Framework::kDeepSpeed;
  for (auto _ : state) {
    auto result = SolvePlan(r);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_Solve405bGlobalBatchDeepSpeed)->Unit(benchmark::kMillisecond);

// A pace objective makes the search keep going to high DP degrees.
void BM_Solve405bPace(benchmark::State& state) {
  PlanRequest r = Request("llama-3.1-405b", "h100-80gb");
  r.max_gpus = 16384;
  r.train.seq = 8192;
  r.tokens = 15.6e12;  // Llama 3's pre-training tokens
  r.days = 54;
  for (auto _ : state) {
    auto result = SolvePlan(r);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_Solve405bPace)->Unit(benchmark::kMillisecond);

// A mixture-of-experts model: the search also runs over EP (every divisor
// of the 8 experts), with DP a multiple of it, and a pace that needs DP.
void BM_SolveMixtral8x22bPaceWithEp(benchmark::State& state) {
  PlanRequest r = Request("mixtral-8x22b", "h100-80gb");
  r.max_gpus = 16384;
  r.tokens = 1e12;
  r.days = 30;
  for (auto _ : state) {
    auto result = SolvePlan(r);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_SolveMixtral8x22bPaceWithEp)->Unit(benchmark::kMillisecond);

void BM_Solve7bMinGpus(benchmark::State& state) {
  const PlanRequest r = Request("llama-2-7b", "h100-80gb");
  for (auto _ : state) {
    auto result = SolvePlan(r);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_Solve7bMinGpus)->Unit(benchmark::kMicrosecond);

// A job that cannot fit: the search, then every nearby change tried.
void BM_SolveInfeasible(benchmark::State& state) {
  PlanRequest r = Request("llama-3.1-405b", "a10-24gb");
  r.max_gpus = 64;
  for (auto _ : state) {
    auto result = SolvePlan(r);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_SolveInfeasible)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace berth::planner
