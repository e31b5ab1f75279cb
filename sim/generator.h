// A synthetic LLM-cluster trace shaped like Acme's (Shanghai AI Lab's Seren
// and Kalos clusters; Hu et al., NSDI 2024), from the distributions in
// ../shared/traces/acme-distributions.md.
//
// Each job, independently:
//   1. its GPU count's bucket (1, 2-8, 9-64, 65-512, >512) by the cluster's
//      share of jobs, then a count within it (2/4/8; 16/32/64; 128/256/512;
//      1024, with the 128/256/512 weights following the GPU-time spikes);
//   2. a base duration from the cluster's duration percentiles (p25..p99,
//      log-linear between them, from 1 s below p25), times a per-bucket
//      factor chosen so that the buckets' shares of GPU-time match the
//      table (big jobs run longer), capped at 10 × p99;
//   3. its type (Eval, Pretrain, SFT, MLLM, Debug, Other) from the type mix
//      given its size (jobs over 64 GPUs are pretraining), and from the
//      type a model and task the planner sizes: evaluation is inference
//      (llama-3-8b on 1 GPU, 13B on 2, 70B on 4 or more), training jobs of
//      8 GPUs or more train a model the count can hold (8B, 13B, 70B; 405B
//      at 1024); small training and "Other" jobs carry no model;
//   4. its final state by the cluster's shares; its team, team-1..K, with
//      weight 1/k (a few big teams, a long tail).
// Counts above the cluster's GPUs are capped to it. Submission times are a
// Poisson process whose rate makes the offered GPU-seconds equal `load` ×
// the cluster's capacity over the trace's span. The same seed gives the same
// trace on every machine (own integer RNG and arithmetic; no std::
// distributions, whose output differs between libraries).
#ifndef BERTH_SIM_GENERATOR_H_
#define BERTH_SIM_GENERATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "sim/trace.h"

namespace berth::sim {

struct GeneratorOptions {
  std::string like = "acme-seren";  // or "acme-kalos"
  int64_t jobs = 1000;
  int64_t nodes = 16;
  int64_t gpus_per_node = 8;
  double load = 0.9;  // offered GPU-seconds / capacity over the span
  int64_t teams = 4;
  uint64_t seed = 1;
};

absl::StatusOr<Trace> GenerateTrace(const GeneratorOptions& options);

}  // namespace berth::sim

#endif  // BERTH_SIM_GENERATOR_H_
