// Tests of inference plans (issue 17, "Plans that people would run"): the
// splits serving engines run, the objectives, replicas for a batch or a
// tokens/s target, engine arguments, MoE decode traffic, fp16 on the V100,
// and what a refusal suggests.
//
// H100-80GB: 81,559 MiB × 0.90 = 71.7 GiB usable, 3.35 TB/s (2.68 TB/s at
// the assumed 80% efficiency). Llama-3-70B: 70.55e9 parameters, 131.4 GiB
// in bf16; KV cache 2 · 80 layers · 8 KV heads · 128 · 2 B = 320 KiB per
// token. Llama-3-8B: 8.03e9 parameters, 15.0 GiB; 128 KiB of KV per token.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"
#include "planner/launch.h"
#include "planner/solver.h"

namespace berth::planner {
namespace {

PlanRequest Serve(const char* model, const char* gpu, int64_t context, int64_t batch,
                  ServingObjective objective = ServingObjective::kThroughput) {
  PlanRequest r;
  r.task = Task::kInfer;
  r.model = FindModel(model).value();
  r.hardware.gpu = FindGpu(gpu).value();
  r.infer.context = context;
  r.infer.batch = batch;
  r.infer.objective = objective;
  return r;
}

bool AnyLineContains(const std::vector<std::string>& lines, absl::string_view text) {
  for (const std::string& line : lines) {
    if (absl::StrContains(line, text)) return true;
  }
  return false;
}

std::string Args(const PlanResult& r, absl::string_view engine) {
  for (const LaunchArgs& l : r.launch) {
    if (l.engine == engine) return l.args;
  }
  return "";
}

// Llama-3-70B, one 32K-token sequence (10 GiB of KV). Before: TP 1 × PP 3,
// a pipeline inside one node that no engine runs. Now TP in powers of two:
// TP 2 needs 65.7 + 5.0 + 0.5 workspace + 1 overhead = 72.2 GiB (72.7 with
// the embedding's share), over 71.7; TP 4 needs 37.0 GiB. Every objective
// agrees here (TP 8 gives the same tokens/s per GPU with twice the GPUs).
// A fixed dp holds only within max_gpus (found by planner_fuzzer): 70B in
// bf16 needs at least two H100s a replica, so 8 replicas cannot fit 8 GPUs.
TEST(ServingTest, AFixedDpNeverExceedsTheGpuLimit) {
  PlanRequest r = Serve("llama-2-70b", "h100-80gb", 4096, 8);
  r.fixed.dp = 8;
  r.max_gpus = 8;
  const PlanResult result = SolvePlan(r).value();
  EXPECT_FALSE(result.feasible);
  EXPECT_LE(result.best.gpus, 8) << result.best.split.tp << "x" << result.best.split.pp << "x"
                                 << result.best.split.dp;
  r.max_gpus = 16;
  const PlanResult wider = SolvePlan(r).value();
  ASSERT_TRUE(wider.feasible);
  EXPECT_EQ(wider.best.split.dp, 8);
  EXPECT_LE(wider.best.gpus, 16);
}

TEST(ServingTest, TpInPowersOfTwoInsteadOfAPipelineInsideANode) {
  for (ServingObjective o : {ServingObjective::kFewestGpus, ServingObjective::kThroughput}) {
    PlanResult r = SolvePlan(Serve("llama-3-70b", "h100-80gb", 32768, 1, o)).value();
    ASSERT_TRUE(r.feasible) << r.reason;
    EXPECT_EQ(r.best.split.tp, 4);
    EXPECT_EQ(r.best.split.pp, 1);
    EXPECT_EQ(r.best.split.dp, 1);
    EXPECT_EQ(r.best.gpus, 4);
    EXPECT_TRUE(AnyLineContains(r.explanation, "One GPU fewer does not fit"));
  }
}

// 128K context × batch 8: 8 × 40 GiB = 320 GiB of KV + 131.4 GiB of
// weights = 451 GiB, over TP 4's 4 × 71.7 = 287 GiB: one node at TP 8, 57.9
// GiB per GPU. Decode reads 56.4 GiB per GPU per step: 60.6e9 / 2.68e12 =
// 22.6 ms, 8 / 22.6 ms = 354 tokens/s (the pipeline of 7 gave ~42).
TEST(ServingTest, LongContextServesFromOneNodeAtTp8) {
  PlanResult r = SolvePlan(Serve("llama-3-70b", "h100-80gb", 131072, 8)).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.best.split.tp, 8);
  EXPECT_EQ(r.best.split.pp, 1);
  EXPECT_EQ(r.best.gpus, 8);
  EXPECT_NEAR(r.best.estimate.tokens_per_second, 354, 5);
}

// Llama-3.1-405B in bf16: 756 GiB of weights, more than one node holds (8 ×
// 71.7 = 574 GiB). Before: TP 4 × PP 3 on 12 GPUs. Now PP only across
// nodes, at TP = the node: TP 8 × PP 2, 47.3 GiB of weights per GPU.
TEST(ServingTest, PipelineOnlyAcrossNodesAtTheNodesTp) {
  PlanResult r = SolvePlan(Serve("llama-3.1-405b", "h100-80gb", 4096, 1)).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.best.split.tp, 8);
  EXPECT_EQ(r.best.split.pp, 2);
  EXPECT_EQ(r.best.gpus, 16);
  EXPECT_EQ(r.best.nodes, 2);
  EXPECT_TRUE(AnyLineContains(r.explanation, "PP 2 runs across 2 nodes, TP 8 within each"));
  EXPECT_EQ(Args(r, "vllm"),
            "--tensor-parallel-size 8 --pipeline-parallel-size 2 --max-model-len 4096 "
            "--max-num-seqs 1 --dtype bfloat16");
  EXPECT_EQ(Args(r, "tensorrt-llm"),
            "--tp_size 8 --pp_size 2 --max_batch_size 1 --max_seq_len 4096");
  for (const Plan& alt : r.alternatives) EXPECT_EQ(alt.split.tp, 8);
}

// Llama-3-8B, 128 sequences of 8K: 128 GiB of KV + 15 GiB of weights.
//  fewest-gpus: a TP 1 replica holds 54 sequences (71.7 - 15 - 1 - 0.9
//    workspace = 54.8 GiB of KV), so 3 replicas of 43: 3 GPUs.
//  throughput: TP 4 holds all 128 (37.1 GiB per GPU). A step reads (15 +
//    128) / 4 GiB per GPU: 14.3 ms, 8,939 tokens/s, 2,235 per GPU; the three
//    TP 1 replicas read 15 + 43 GiB each: 23.2 ms, 5,555 tokens/s, 1,852 per
//    GPU. TP 8 gives TP 4's tokens/s per GPU with twice the GPUs.
//  latency: TP 8 halves TP 4's step: 7.2 ms per output token.
TEST(ServingTest, ObjectivesPickFewestGpusCostPerTokenOrLatency) {
  PlanResult fewest =
      SolvePlan(Serve("llama-3-8b", "h100-80gb", 8192, 128, ServingObjective::kFewestGpus)).value();
  ASSERT_TRUE(fewest.feasible);
  EXPECT_EQ(fewest.objective, Objective::kMinGpus);
  EXPECT_EQ(fewest.best.split.tp, 1);
  EXPECT_EQ(fewest.best.split.pp, 1);
  EXPECT_EQ(fewest.best.split.dp, 3);
  EXPECT_EQ(fewest.best.split.replica_batch, 43);
  EXPECT_NEAR(fewest.best.estimate.tokens_per_second, 5555, 30);

  PlanResult cost = SolvePlan(Serve("llama-3-8b", "h100-80gb", 8192, 128)).value();
  ASSERT_TRUE(cost.feasible);
  EXPECT_EQ(cost.objective, Objective::kThroughput);
  EXPECT_EQ(cost.best.split.tp, 4);
  EXPECT_EQ(cost.best.split.dp, 1);
  EXPECT_EQ(cost.best.split.replica_batch, 128);
  EXPECT_NEAR(cost.best.estimate.tokens_per_second / 4, 2235, 15);
  EXPECT_TRUE(AnyLineContains(cost.explanation, "the fewest GPUs that fit (3 GPUs"));

  PlanResult fast =
      SolvePlan(Serve("llama-3-8b", "h100-80gb", 8192, 128, ServingObjective::kLatency)).value();
  ASSERT_TRUE(fast.feasible);
  EXPECT_EQ(fast.objective, Objective::kLatency);
  EXPECT_EQ(fast.best.split.tp, 8);
  EXPECT_NEAR(fast.best.estimate.step_seconds, 0.0072, 0.0002);
  EXPECT_LT(fast.best.estimate.step_seconds, cost.best.estimate.step_seconds);
}

// A tokens/s target adds replicas. One TP 1 replica of 8 sequences of 4K
// reads 15 + 4 GiB a step: 7.6 ms, 1,053 tokens/s; 5,000 / 1,053 = 4.75, so
// 5 replicas (40 sequences at once). Within 4 GPUs it cannot be met, and
// the refusal says what would.
TEST(ServingTest, ReplicasReachATokensPerSecondTarget) {
  PlanRequest request = Serve("llama-3-8b", "h100-80gb", 4096, 8);
  request.tokens_per_second = 5000;
  PlanResult r = SolvePlan(request).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.objective, Objective::kPace);
  EXPECT_EQ(r.best.split.tp, 1);
  EXPECT_EQ(r.best.split.dp, 5);
  EXPECT_EQ(r.best.split.replica_batch, 8);
  EXPECT_GE(r.best.estimate.tokens_per_second, 5000);
  EXPECT_TRUE(AnyLineContains(r.explanation, "One replica fewer"));
  EXPECT_TRUE(AnyLineContains(r.explanation, "Pace: 5000 decode tokens/s needed"));

  request.max_gpus = 4;
  PlanResult tight = SolvePlan(request).value();
  EXPECT_FALSE(tight.feasible);
  EXPECT_TRUE(absl::StrContains(tight.reason, "reaches the pace of 5000 tokens/s"));
  EXPECT_TRUE(AnyLineContains(tight.explanation, "Would fit with more than 4 GPUs: 5 GPUs"));
}

// Without a target every objective is feasible exactly when the fewest-GPU
// one is: admission's "can it ever fit" does not depend on the objective.
TEST(ServingTest, FeasibilityDoesNotDependOnTheObjective) {
  for (int64_t max_gpus : {1, 2, 4, 7, 8, 64}) {
    for (int64_t batch : {1, 8, 64}) {
      bool feasible[3];
      int i = 0;
      for (ServingObjective o : {ServingObjective::kFewestGpus, ServingObjective::kThroughput,
                                 ServingObjective::kLatency}) {
        PlanRequest request = Serve("llama-3-70b", "h100-80gb", 131072, batch, o);
        request.max_gpus = max_gpus;
        feasible[i++] = SolvePlan(request).value().feasible;
      }
      EXPECT_EQ(feasible[1], feasible[0]) << max_gpus << " " << batch;
      EXPECT_EQ(feasible[2], feasible[0]) << max_gpus << " " << batch;
    }
  }
}

// Mixtral-8x7B (top-2 of 8 experts) at batch 1 on TP 2: a decode step reads
// the dense weights and 2 of the 8 experts of each layer, not all 8.
// Experts: 32 layers × 8 × 3 · 4096 · 14336 = 45.1e9 parameters; the GPU
// holds half: 45.1 GB of the 46.7 GB of weights it holds, and reads
// 46.7 - 45.1 × 6/8 = 12.9 GB plus 0.27 GB of KV: 4.9 ms, 204 tokens/s.
// Reading every expert (before) gave 47.0 GB: 17.5 ms, 57 tokens/s.
TEST(ServingTest, MoeDecodeReadsOnlyTheRoutedExperts) {
  PlanRequest request = Serve("mixtral-8x7b", "h100-80gb", 4096, 1);
  request.fixed.tp = 2;
  PlanResult r = SolvePlan(request).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  const double experts = 32.0 * static_cast<double>(r.params.layer_experts) / 2 * 2;  // bytes
  const double read = static_cast<double>(r.best.memory.weights_bytes) - experts * 6 / 8 +
                      static_cast<double>(r.best.memory.kv_cache_bytes);
  const double all =
      static_cast<double>(r.best.memory.weights_bytes + r.best.memory.kv_cache_bytes);
  const double bandwidth = 3.35e12 * 0.8;
  EXPECT_NEAR(r.best.estimate.tokens_per_second, bandwidth / read, 0.5);
  EXPECT_NEAR(r.best.estimate.tokens_per_second, 204, 3);
  EXPECT_GT(r.best.estimate.tokens_per_second, 3 * bandwidth / all);
  EXPECT_TRUE(AnyLineContains(r.explanation, "top-2 of 8: about 25% of the expert weights"));

  // At 64 sequences a step touches nearly every expert: 1 - 0.75^64 ≈ 1.
  request.infer.batch = 64;
  PlanResult full = SolvePlan(request).value();
  ASSERT_TRUE(full.feasible) << full.reason;
  const double full_read =
      static_cast<double>(full.best.memory.weights_bytes + full.best.memory.kv_cache_bytes);
  EXPECT_NEAR(full.best.estimate.step_seconds, full_read / bandwidth, full_read / bandwidth * 1e-6);
}

// The V100 has no bf16: bf16 weights and KV cache are served in fp16 (the
// same bytes) and the plan says so; vLLM gets --dtype float16.
TEST(ServingTest, V100ServesInFp16AndSaysSo) {
  PlanResult r = SolvePlan(Serve("llama-2-7b", "v100-32gb", 4096, 1)).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  EXPECT_EQ(r.precision, DType::kFp16);
  EXPECT_TRUE(AnyLineContains(r.explanation,
                              "v100-32gb has no bf16: weights and KV cache are served in fp16"));
  EXPECT_TRUE(absl::StrContains(Args(r, "vllm"), "--dtype float16"));
  // 6.74e9 × 2 B = 12.6 GiB: one GPU, as in bf16.
  EXPECT_EQ(r.best.gpus, 1);
  PlanResult h = SolvePlan(Serve("llama-2-7b", "h100-80gb", 4096, 1)).value();
  EXPECT_EQ(h.precision, DType::kBf16);
  EXPECT_FALSE(AnyLineContains(h.explanation, "no bf16"));
}

// Engine arguments beside the split: vLLM and TensorRT-LLM, per replica,
// with the KV cache type and the usable fraction when they differ from the
// engines' defaults.
TEST(ServingTest, LaunchArgumentsForVllmAndTensorRtLlm) {
  PlanRequest request = Serve("llama-3-70b", "h100-80gb", 131072, 8);
  request.infer.kv_dtype = DType::kFp8;
  request.hardware.usable_fraction = 0.85;
  PlanResult r = SolvePlan(request).value();
  ASSERT_TRUE(r.feasible) << r.reason;
  const Split& s = r.best.split;
  EXPECT_EQ(Args(r, "vllm"),
            "--tensor-parallel-size " + std::to_string(s.tp) + " --pipeline-parallel-size 1" +
                " --max-model-len 131072 --max-num-seqs " + std::to_string(s.replica_batch) +
                " --dtype bfloat16 --kv-cache-dtype fp8 --gpu-memory-utilization 0.85");
  EXPECT_EQ(Args(r, "tensorrt-llm"), "--tp_size " + std::to_string(s.tp) +
                                         " --pp_size 1 --max_batch_size " +
                                         std::to_string(s.replica_batch) + " --max_seq_len 131072");
  EXPECT_TRUE(AnyLineContains(r.explanation, "Launch each replica with vllm: --tensor-parallel"));
  // Offloaded plans name no engine.
  request.infer.offload = Offload::kLayerwise;
  EXPECT_TRUE(SolvePlan(request).value().launch.empty());
}

// Issue 17: 1M-token context × batch 64 on a 64-GPU pool suggested only
// more GPUs. One 1M-token sequence holds 2 · 80 · 8 · 128 · 2^20 · 2 B =
// 320 GiB of KV: a TP 8 node holds 131.4 + 320 GiB, one sequence, so 64
// sequences need 64 nodes (512 GPUs). The refusal now says what fits in 64
// GPUs: batch 8 (8 nodes × 1 sequence); 176K tokens of context (64 × 176K ×
// 320 KiB = 55 GiB per GPU across 8 nodes); an fp8 KV cache and batch 16;
// or 512 GPUs.
TEST(ServingTest, RefusalSuggestsSmallerBatchOrContextQuantizedKvOrMoreGpus) {
  PlanRequest request = Serve("llama-3-70b", "h100-80gb", 1 << 20, 64);
  request.max_gpus = 64;
  PlanResult r = SolvePlan(request).value();
  EXPECT_FALSE(r.feasible);
  EXPECT_TRUE(AnyLineContains(r.explanation,
                              "Would fit with batch 8 (of 64) at 1048576 tokens: "
                              "64 GPUs, TP 8 × PP 1 × DP 8"));
  EXPECT_TRUE(AnyLineContains(
      r.explanation, "Would fit with a context of 176128 tokens (of 1048576) at batch 64"));
  EXPECT_TRUE(AnyLineContains(r.explanation,
                              "Would fit with an fp8 (or int8) KV cache and batch 16 (of 64)"));
  EXPECT_TRUE(AnyLineContains(r.explanation, "Would fit with more than 64 GPUs: 512 GPUs"));
}

}  // namespace
}  // namespace berth::planner
