// Tests of the memory model's formulas, each with its arithmetic written out.
#include "planner/memory.h"

#include <cstdint>

#include "gtest/gtest.h"
#include "planner/catalog.h"
#include "planner/gpu.h"
#include "planner/model.h"
#include "planner/solver.h"

namespace berth::planner {
namespace {

constexpr double kGB = 1e9;

// A GPT-style block for exact checks: h 1024, a 16, f 4h, GELU, MHA.
ModelShape GptBlock() {
  return ModelShape{.name = "gpt-block",
                    .layers = 1,
                    .hidden = 1024,
                    .heads = 16,
                    .kv_heads = 16,
                    .ffn = 4096,
                    .vocab = 50257,
                    .mlp = MlpKind::kGelu,
                    .norm = NormKind::kLayerNorm};
}

TrainWorkload NoFlash(int64_t seq) { return TrainWorkload{.seq = seq, .flash_attention = false}; }

Hardware Gpu(const char* name) {
  Hardware h;
  h.gpu = FindGpu(name).value();
  return h;
}

TEST(LayerActivationTest, KorthikantiNoParallelism) {
  // s·b·h·(34 + 5·a·s/h) = 2048·1·1024·(34 + 5·16·2048/1024)
  //                      = 2,097,152 · (34 + 160) = 406,847,488 bytes.
  EXPECT_EQ(LayerActivationBytes(GptBlock(), NoFlash(2048), 1, 1, Recompute::kNone), 406'847'488);
}

TEST(LayerActivationTest, TensorParallelWithoutSequenceParallel) {
  // s·b·h·(10 + 24/t + 5·a·s/(h·t)) with t = 4:
  // 2,097,152 · (10 + 6 + 40) = 117,440,512 bytes.
  EXPECT_EQ(LayerActivationBytes(GptBlock(), NoFlash(2048), 4, 1, Recompute::kNone), 117'440'512);
}

TEST(LayerActivationTest, SequenceParallelDividesEverything) {
  // With sequence parallel all of s·b·h·(34 + 5as/h) is divided by t = 4:
  // 406,847,488 / 4 = 101,711,872 bytes.
  TrainWorkload w = NoFlash(2048);
  w.sequence_parallel = true;
  EXPECT_EQ(LayerActivationBytes(GptBlock(), w, 4, 1, Recompute::kNone), 101'711'872);
}

TEST(LayerActivationTest, FlashAndSelectiveDropTheScores) {
  // Without the 5as/h term: 2,097,152 · 34 = 71,303,168 bytes.
  TrainWorkload flash = NoFlash(2048);
  flash.flash_attention = true;
  EXPECT_EQ(LayerActivationBytes(GptBlock(), flash, 1, 1, Recompute::kNone), 71'303'168);
  EXPECT_EQ(LayerActivationBytes(GptBlock(), NoFlash(2048), 1, 1, Recompute::kSelective),
            71'303'168);
}

TEST(LayerActivationTest, FullRecomputeKeepsLayerInput) {
  // 2·s·b·h = 2 · 2048 · 2 · 1024 = 8,388,608 bytes for micro-batch 2;
  // with sequence parallel over t = 4: 2,097,152.
  EXPECT_EQ(LayerActivationBytes(GptBlock(), NoFlash(2048), 4, 2, Recompute::kFull), 8'388'608);
  TrainWorkload sp = NoFlash(2048);
  sp.sequence_parallel = true;
  EXPECT_EQ(LayerActivationBytes(GptBlock(), sp, 4, 2, Recompute::kFull), 2'097'152);
}

TEST(LayerActivationTest, GroupedQueryAttentionAndSwiGlu) {
  // Llama-3-8B-like block: h 4096, a 32, k 8, d 128, f 14336, SwiGLU, flash.
  // s·b = 1024: replicated 10·s·b·h = 41,943,040; Q and O-proj input 4·s·b·h
  // = 16,777,216; K and V 4·s·b·d·k = 4·1024·128·8 = 4,194,304; MLP 6·s·b·f
  // = 6·1024·14336 = 88,080,384. Sum 150,994,944 bytes.
  ModelShape shape{.name = "gqa",
                   .layers = 1,
                   .hidden = 4096,
                   .heads = 32,
                   .kv_heads = 8,
                   .ffn = 14336,
                   .vocab = 128256};
  TrainWorkload w{.seq = 1024};
  EXPECT_EQ(LayerActivationBytes(shape, w, 1, 1, Recompute::kNone), 150'994'944);
  // At t = 16 > k = 8 each rank keeps one KV head: 4·1024·128·1 = 524,288
  // instead of 4,194,304/16; the rest divides by 16 except the 10·s·b·h.
  const int64_t t16 = 41'943'040 + 16'777'216 / 16 + 524'288 + 88'080'384 / 16;
  EXPECT_EQ(LayerActivationBytes(shape, w, 16, 1, Recompute::kNone), t16);
}

// Seeds 000/001: a 13B model (L 40, h 5120, a 40), s 4096, Megatron, 80 GB.
class ThirteenBTest : public ::testing::Test {
 protected:
  ModelShape shape_ = FindModel("llama-2-13b").value();
  ParamCounts params_ = CountParams(shape_);
  TrainWorkload workload_{.seq = 4096, .recompute = Recompute::kNone};
  Hardware hardware_ = Gpu("a100-80gb");

  MemoryBreakdown Evaluate(int64_t pp, int64_t dp, int zero) {
    Split split{.tp = 1, .pp = pp, .dp = dp, .zero_stage = zero, .micro_batch = 1};
    return TrainingMemory(shape_, params_, workload_, split, /*micro_batches=*/32, hardware_);
  }
};

TEST_F(ThirteenBTest, ModelStatesAre234GB) {
  // 13.0e9 parameters × 18 bytes = 234 GB.
  EXPECT_NEAR(static_cast<double>(params_.total) * 18 / kGB, 234.0, 2.5);
  MemoryBreakdown m = Evaluate(1, 1, 0);
  EXPECT_NEAR(static_cast<double>(m.weights_bytes + m.gradients_bytes + m.optimizer_bytes) / kGB,
              234.0, 2.5);
}

TEST_F(ThirteenBTest, PipelineFourAloneDoesNotFit) {
  // First stage: 10 layers + embedding ≈ 3.34e9 params × 18 B = 60 GB, plus
  // 40 layers' worth of activations (4 micro-batches × 10 layers) at
  // s·b·h·34-ish ≈ 28.7 GB: about 90 GB > 80 GB.
  MemoryBreakdown m = Evaluate(4, 1, 0);
  EXPECT_EQ(m.stage, 0);
  EXPECT_NEAR(static_cast<double>(m.activations_bytes) / kGB, 28.5, 1.5);
  EXPECT_GT(m.total_bytes, UsableBytes(hardware_));
  EXPECT_GT(static_cast<double>(m.total_bytes) / kGB, 80.0);
}

TEST_F(ThirteenBTest, PipelineFourDataTwoDistributedOptimizerFits) {
  // (13e9/4)·(6 + 12/2) = 39 GB of states + 28.5 GB activations ≈ 67.5 GB.
  MemoryBreakdown m = Evaluate(4, 2, 1);
  const double without_overhead = static_cast<double>(m.total_bytes - m.overhead_bytes) / kGB;
  EXPECT_NEAR(without_overhead, 67.5, 2.0);
  EXPECT_LE(m.total_bytes, UsableBytes(hardware_));
}

TEST(ModelStatesTest, ZeroPaperFigures) {
  // ZeRO paper, 7.5B parameters, r = 64: 16Ψ = 120 GB, (4 + 12/64)Ψ = 31.4 GB,
  // (2 + 14/64)Ψ = 16.6 GB, 16Ψ/64 = 1.9 GB. Check the per-parameter bytes on
  // any model and scale them to 7.5B.
  const ModelShape shape = FindModel("llama-2-7b").value();
  const ParamCounts params = CountParams(shape);
  TrainWorkload w{.seq = 128, .framework = Framework::kDeepSpeed};
  const double expected_gb[] = {120.0, 31.4, 16.6, 1.9};
  for (int zero = 0; zero <= 3; ++zero) {
    Split split{.tp = 1, .pp = 1, .dp = 64, .zero_stage = zero, .micro_batch = 1};
    MemoryBreakdown m = TrainingMemory(shape, params, w, split, 1, Gpu("a100-80gb"));
    const double n = static_cast<double>(params.total);
    const double per_param =
        static_cast<double>(m.weights_bytes + m.gradients_bytes + m.optimizer_bytes) / n;
    EXPECT_NEAR(per_param * 7.5e9 / kGB, expected_gb[zero], 0.1) << "ZeRO " << zero;
  }
}

TEST(ModelStatesTest, MegatronDistributedOptimizer) {
  // Megatron: 18 B/param; distributed optimizer over r = 4: 6 + 12/4 = 9 B.
  const ModelShape shape = FindModel("llama-2-7b").value();
  const ParamCounts params = CountParams(shape);
  TrainWorkload w{.seq = 128};
  auto states = [&](int zero) {
    Split split{.tp = 1, .pp = 1, .dp = 4, .zero_stage = zero, .micro_batch = 1};
    MemoryBreakdown m = TrainingMemory(shape, params, w, split, 1, Gpu("a100-80gb"));
    return static_cast<double>(m.weights_bytes + m.gradients_bytes + m.optimizer_bytes) /
           static_cast<double>(params.total);
  };
  EXPECT_NEAR(states(0), 18.0, 1e-6);
  EXPECT_NEAR(states(1), 9.0, 1e-6);
}

TEST(ExpertParallelTest, EpDividesOnlyTheExpertsAndShardsTheirStatesOverDpOverEp) {
  // Mixtral 8x7B: 32 layers, h 4096, f 14336 per expert, 8 experts (SwiGLU:
  // 3·h·f each), so each layer's experts hold 8 · 3 · 4096 · 14336 =
  // 1,409,286,144 parameters, split by TP.
  const ModelShape shape = FindModel("mixtral-8x7b").value();
  const ParamCounts params = CountParams(shape);
  ASSERT_EQ(params.layer_experts, int64_t{8} * 3 * 4096 * 14336);
  const double experts = 32.0 * static_cast<double>(params.layer_experts);
  const double dense = static_cast<double>(params.total) - experts;
  TrainWorkload w{.seq = 4096};
  auto states = [&](int64_t ep) {
    // TP 1, PP 1, DP 8, Megatron's distributed optimizer.
    Split split{.tp = 1, .pp = 1, .dp = 8, .ep = ep, .zero_stage = 1, .micro_batch = 1};
    return TrainingMemory(shape, params, w, split, 1, Gpu("h100-80gb"));
  };
  const MemoryBreakdown none = states(1);
  const MemoryBreakdown ep8 = states(8);
  // Without EP every GPU holds every expert: 2 + 4 bytes per parameter, and
  // the optimizer's 12 sharded over DP 8.
  const double all = dense + experts;
  EXPECT_NEAR(static_cast<double>(none.weights_bytes), 2.0 * all, 1.0);
  EXPECT_NEAR(static_cast<double>(none.optimizer_bytes), 12.0 * all / 8.0, 1.0);
  // EP 8: one expert per GPU (experts / 8), whose optimizer states are
  // sharded over DP / EP = 1 rank; the dense part as before.
  EXPECT_NEAR(static_cast<double>(ep8.weights_bytes), 2.0 * (dense + experts / 8.0), 2.0);
  EXPECT_NEAR(static_cast<double>(ep8.gradients_bytes), 4.0 * (dense + experts / 8.0), 2.0);
  EXPECT_NEAR(static_cast<double>(ep8.optimizer_bytes),
              12.0 * dense / 8.0 + 12.0 * (experts / 8.0) / 1.0, 2.0);
  // Activations do not change: each GPU still runs k experts' tokens.
  EXPECT_EQ(ep8.activations_bytes, none.activations_bytes);
  EXPECT_LT(ep8.total_bytes, none.total_bytes);
}

TEST(ExpertParallelTest, DenseModelsAreUnchangedByEp) {
  const ModelShape shape = FindModel("llama-2-7b").value();
  const ParamCounts params = CountParams(shape);
  EXPECT_EQ(params.layer_experts, 0);
  TrainWorkload w{.seq = 4096};
  Split split{.tp = 1, .pp = 1, .dp = 8, .zero_stage = 1, .micro_batch = 1};
  const MemoryBreakdown one = TrainingMemory(shape, params, w, split, 1, Gpu("h100-80gb"));
  split.ep = 8;
  const MemoryBreakdown eight = TrainingMemory(shape, params, w, split, 1, Gpu("h100-80gb"));
  EXPECT_EQ(one.total_bytes, eight.total_bytes);
}

TEST(PipelineTest, FirstStageHoldsMinPAndMMicroBatches) {
  // 8 layers over p = 4: 2 layers per stage. With m ≥ 4 the first stage
  // keeps 4 micro-batches × 2 layers = 8 layer-activations; with m = 2, 4.
  // A small vocabulary keeps the last stage's head and logits below the
  // first stage's in-flight activations.
  ModelShape shape = GptBlock();
  shape.layers = 8;
  shape.vocab = 1000;
  const ParamCounts params = CountParams(shape);
  TrainWorkload w{.seq = 2048, .recompute = Recompute::kNone};
  Split split{.tp = 1, .pp = 4, .dp = 1, .zero_stage = 0, .micro_batch = 1};
  const int64_t layer = LayerActivationBytes(shape, w, 1, 1, Recompute::kNone);
  Hardware hw = Gpu("h100-80gb");
  MemoryBreakdown many = TrainingMemory(shape, params, w, split, 16, hw);
  MemoryBreakdown two = TrainingMemory(shape, params, w, split, 2, hw);
  ASSERT_EQ(many.stage, 0);
  EXPECT_EQ(many.activations_bytes, 8 * layer);
  EXPECT_EQ(two.activations_bytes, 4 * layer);
  // Interleaving with v = 2 multiplies by 1 + (p-1)/(p·v) = 1 + 3/8.
  w.virtual_stages = 2;
  MemoryBreakdown interleaved = TrainingMemory(shape, params, w, split, 16, hw);
  EXPECT_NEAR(static_cast<double>(interleaved.activations_bytes), 8 * layer * 1.375, 1.0);
}

TEST(PipelineTest, UnevenStagesHoldTheirOwnLayers) {
  // Issue 17: 10 layers over p = 4 used to be planned as ceil(10/4) = 3
  // layers on every stage. Megatron's uneven layout puts 2 on the first
  // stage, 3 on each of the 2 middle ones and 2 on the last (2 + 3 + 3 + 2).
  // With m ≥ 4 the first stage keeps 4 micro-batches × 2 layers = 8
  // layer-activations, the second 3 × 3 = 9: the second stage is the most
  // loaded (before: the first, with 4 × 3 = 12).
  ModelShape shape = GptBlock();
  shape.layers = 10;
  shape.vocab = 1000;
  const ParamCounts params = CountParams(shape);
  TrainWorkload w{.seq = 2048, .recompute = Recompute::kNone};
  Split split{.tp = 1,
              .pp = 4,
              .dp = 1,
              .zero_stage = 0,
              .micro_batch = 1,
              .first_stage_layers = 2,
              .last_stage_layers = 2};
  const int64_t layer = LayerActivationBytes(shape, w, 1, 1, Recompute::kNone);
  MemoryBreakdown m = TrainingMemory(shape, params, w, split, 16, Gpu("h100-80gb"));
  EXPECT_EQ(m.stage, 1);
  EXPECT_EQ(m.activations_bytes, 9 * layer);
  // Its states are those of 3 layers, with neither embedding nor head.
  const double states = 3.0 * static_cast<double>(params.layer_total) * 18;
  EXPECT_NEAR(static_cast<double>(m.weights_bytes + m.gradients_bytes + m.optimizer_bytes), states,
              3);
  // The even reading of the same p keeps ceil(10/4) = 3 layers × 4 in flight.
  split.first_stage_layers = split.last_stage_layers = 0;
  MemoryBreakdown even = TrainingMemory(shape, params, w, split, 16, Gpu("h100-80gb"));
  EXPECT_EQ(even.stage, 0);
  EXPECT_EQ(even.activations_bytes, 12 * layer);
}

TEST(PipelineTest, LastStageHoldsTheLogits) {
  // Logits: 8 bytes (fp32 and gradient) · s·b·V / t = 8·4096·1·128256/8 on a
  // last stage that keeps one micro-batch of its layers.
  const ModelShape shape = FindModel("llama-3-8b").value();
  const ParamCounts params = CountParams(shape);
  TrainWorkload w{.seq = 4096, .recompute = Recompute::kFull};
  Split split{
      .tp = 8, .pp = 32, .dp = 1, .zero_stage = 0, .micro_batch = 1, .recompute = Recompute::kFull};
  // With p = 32 the first stage's one layer × min(32, m = 1) in flight is
  // smaller than the last stage's layer plus logits.
  MemoryBreakdown m = TrainingMemory(shape, params, w, split, 1, Gpu("h100-80gb"));
  EXPECT_EQ(m.stage, 31);
  const int64_t logits = int64_t{8} * 4096 * 128256 / 8;
  const int64_t stored = LayerActivationBytes(shape, w, 8, 1, Recompute::kFull);
  const int64_t working = LayerActivationBytes(shape, w, 8, 1, Recompute::kNone);
  EXPECT_EQ(m.activations_bytes, logits + stored + working);
}

InferWorkload Fp16(int64_t context) {
  return InferWorkload{
      .weights = DType::kFp16, .kv_dtype = DType::kFp16, .batch = 1, .context = context};
}

TEST(InferenceTest, SevenBFp16WeightsAbout14GB) {
  // Seed 003: 7B × 2 bytes ≈ 14 GB (6.74e9 × 2 = 13.5 GB).
  const ModelShape shape = FindModel("llama-2-7b").value();
  MemoryBreakdown m =
      InferenceMemory(shape, CountParams(shape), Fp16(2048), Split{}, Gpu("a100-80gb"));
  EXPECT_NEAR(static_cast<double>(m.weights_bytes) / kGB, 13.5, 0.5);
}

TEST(InferenceTest, SeventyBFp16About130GiBAndTwoGpus) {
  // Seed 002: 68.98e9 × 2 B = 138 GB = 128.5 GiB ("about 130 GiB").
  const ModelShape shape = FindModel("llama-2-70b").value();
  const Hardware hw = Gpu("a100-80gb");
  MemoryBreakdown one = InferenceMemory(shape, CountParams(shape), Fp16(100), Split{}, hw);
  EXPECT_NEAR(static_cast<double>(one.weights_bytes) / kGiB, 130.0, 2.5);
  EXPECT_GT(one.total_bytes, UsableBytes(hw));
  PlanRequest request{.task = Task::kInfer, .model = shape, .infer = Fp16(100), .hardware = hw};
  PlanResult result = SolvePlan(request).value();
  ASSERT_TRUE(result.feasible);
  EXPECT_GE(result.best.gpus, 2);
}

TEST(InferenceTest, SeventyBKvCacheFor100Tokens) {
  // Seed 002: 2 · 80 layers · 8 KV heads · 128 · 100 tokens · 2 B
  // = 32,768,000 bytes = 31.25 MiB.
  const ModelShape shape = FindModel("llama-2-70b").value();
  MemoryBreakdown m =
      InferenceMemory(shape, CountParams(shape), Fp16(100), Split{}, Gpu("a100-80gb"));
  EXPECT_EQ(m.kv_cache_bytes, 32'768'000);
}

TEST(InferenceTest, SeventyBLayerwiseUnderFourGiB) {
  // One block: attention 2h² + 2·h·k·d = 151,011,328, MLP 3·h·f = 704,643,072,
  // norms 2h: 855,670,784 params × 2 B = 1.59 GiB ("about 1.6 GiB a layer").
  const ModelShape shape = FindModel("llama-2-70b").value();
  InferWorkload w = Fp16(100);
  w.offload = Offload::kLayerwise;
  Hardware hw = Gpu("a100-80gb");
  hw.gpu.memory_bytes = 4 * kGiB;
  MemoryBreakdown m = InferenceMemory(shape, CountParams(shape), w, Split{}, hw);
  EXPECT_NEAR(static_cast<double>(m.weights_bytes) / kGiB, 1.6, 0.05);
  EXPECT_EQ(m.kv_cache_bytes, 32'768'000);
  EXPECT_LT(m.total_bytes, 4 * kGiB);
  EXPECT_LE(m.total_bytes, UsableBytes(hw));
}

TEST(InferenceTest, KvHeadsReplicatedWhenTpExceedsThem) {
  // k = 8: at t = 8 each rank holds 1 head; at t = 16 still 1 (replicated),
  // so the per-GPU KV cache stops shrinking.
  ModelShape shape = FindModel("llama-2-70b").value();
  const ParamCounts params = CountParams(shape);
  Hardware hw = Gpu("h100-80gb");
  hw.gpus_per_node = 16;
  const InferWorkload w = Fp16(4096);
  const int64_t t8 = InferenceMemory(shape, params, w, Split{.tp = 8}, hw).kv_cache_bytes;
  const int64_t t16 = InferenceMemory(shape, params, w, Split{.tp = 16}, hw).kv_cache_bytes;
  const int64_t t4 = InferenceMemory(shape, params, w, Split{.tp = 4}, hw).kv_cache_bytes;
  EXPECT_EQ(t16, t8);
  EXPECT_EQ(t4, 2 * t8);
}

TEST(InferenceTest, CpuOffloadKeepsWhatFits) {
  // Each GPU layer costs its weights and KV cache; the layers left over go to
  // host memory, and one more layer would not have fit.
  const ModelShape shape = FindModel("llama-2-70b").value();
  const ParamCounts params = CountParams(shape);
  InferWorkload w = Fp16(4096);
  w.offload = Offload::kCpu;
  const Hardware hw = Gpu("l40s-48gb");
  MemoryBreakdown m = InferenceMemory(shape, params, w, Split{}, hw);
  ASSERT_GT(m.gpu_layers, 0);
  ASSERT_LT(m.gpu_layers, shape.layers);
  EXPECT_LE(m.total_bytes, UsableBytes(hw));
  const int64_t per_layer = m.host_bytes / (shape.layers - m.gpu_layers);
  EXPECT_GT(m.total_bytes + per_layer, UsableBytes(hw));
  // Host: (80 - gpu_layers) × (855.7M × 2 B + 2·8·128·4096·2 B of KV).
  EXPECT_EQ(per_layer, params.layer_total * 2 + 2 * 8 * 128 * 4096 * 2);
}

TEST(InferenceTest, SeedNaiveFormula) {
  // Seed 003: 4 B × (7e9 + 32·2.5·32·2048² + 17·4096·2048) = 66.6 GiB in
  // fp32, and 8.3 GiB at 4 bits (0.5 B per element).
  ModelShape shape{.name = "seed-7b",
                   .layers = 32,
                   .hidden = 4096,
                   .heads = 32,
                   .kv_heads = 32,
                   .ffn = 11008,
                   .vocab = 32000};
  const double fp32 =
      4.0 * 7e9 + static_cast<double>(NaiveInferenceActivationBytes(shape, 1, 2048, 4.0));
  const double int4 =
      0.5 * 7e9 + static_cast<double>(NaiveInferenceActivationBytes(shape, 1, 2048, 0.5));
  EXPECT_NEAR(fp32 / kGiB, 66.6, 0.1);
  EXPECT_NEAR(int4 / kGiB, 8.3, 0.1);
}

TEST(OverheadTest, TotalIsTheSumOfParts) {
  const ModelShape shape = FindModel("mixtral-8x7b").value();
  TrainWorkload w{.seq = 4096, .framework = Framework::kDeepSpeed};
  Split split{
      .tp = 2, .pp = 1, .dp = 8, .zero_stage = 3, .micro_batch = 2, .recompute = Recompute::kFull};
  MemoryBreakdown m = TrainingMemory(shape, CountParams(shape), w, split, 4, Gpu("h100-80gb"));
  EXPECT_EQ(m.total_bytes, m.weights_bytes + m.gradients_bytes + m.optimizer_bytes +
                               m.activations_bytes + m.kv_cache_bytes + m.workspace_bytes +
                               m.overhead_bytes);
  EXPECT_EQ(m.overhead_bytes, kDefaultOverheadBytes);
  EXPECT_GT(m.workspace_bytes, 0);  // ZeRO-3 gathers a layer's weights
}

}  // namespace
}  // namespace berth::planner
