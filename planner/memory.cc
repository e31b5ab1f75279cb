#include "planner/memory.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace berth::planner {
namespace {

constexpr int64_t kMaxBytes = int64_t{1} << 62;

// Rounds a non-negative byte estimate up to whole bytes, saturating at
// kMaxBytes so that absurd inputs cannot overflow a sum.
int64_t ToBytes(double bytes) {
  if (!(bytes > 0)) return 0;
  if (bytes >= static_cast<double>(kMaxBytes)) return kMaxBytes;
  return static_cast<int64_t>(std::ceil(bytes));
}

int64_t SaturatingSum(std::initializer_list<int64_t> parts) {
  int64_t sum = 0;
  for (int64_t part : parts) sum = std::min(kMaxBytes, sum + std::min(part, kMaxBytes));
  return sum;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// KV heads one TP rank holds: k/t, or one replicated head when t > k.
double KvHeadsPerRank(const ModelShape& shape, int64_t tp) {
  return std::max(1.0, static_cast<double>(shape.kv_heads) / static_cast<double>(tp));
}

// FFN width a token passes through: top-k experts for MoE.
double TokenFfn(const ModelShape& shape) {
  return static_cast<double>(shape.ffn) *
         static_cast<double>(std::max<int64_t>(1, shape.experts_per_token));
}

// One GPU's share of the parameters, by part (TP rank of one stage).
struct RankParams {
  double layer = 0;          // one block, experts at 1/(t·ep)
  double layer_experts = 0;  // of that block, the EP-sharded experts (ep > 1)
  double embedding = 0;      // first stage
  double head = 0;           // last stage: output head (or tied copy) + final norm
};

RankParams ParamsPerRank(const ParamCounts& params, bool tied, int64_t tp, int64_t pp, int64_t ep) {
  const double t = static_cast<double>(tp);
  RankParams r;
  r.layer = static_cast<double>(params.layer_tp_split) / t +
            static_cast<double>(params.layer_tp_replicated);
  if (ep > 1 && params.layer_experts > 0) {
    // EP spreads each layer's experts over ep ranks: 1/(t·ep) of them here
    // instead of 1/t.
    const double all_experts = static_cast<double>(params.layer_experts) / t;
    r.layer_experts = all_experts / static_cast<double>(ep);
    r.layer -= all_experts - r.layer_experts;
  }
  r.embedding = static_cast<double>(params.embedding) / t;
  // A tied head reuses the embedding on one stage; with PP > 1 Megatron keeps
  // a copy of the word embedding on the last stage to compute the logits.
  const double head =
      tied ? (pp > 1 ? r.embedding : 0.0) : static_cast<double>(params.output_head) / t;
  r.head = head + static_cast<double>(params.final_norm);
  return r;
}

// Parameters on one GPU of a pipeline stage of `layers` blocks.
struct StageParams {
  double first = 0;  // first stage: blocks + input embedding
  double last = 0;   // last stage: blocks + output head + final norm
};

StageParams ParamsPerGpu(const ParamCounts& params, bool tied, int64_t layers_per_stage, int64_t tp,
                         int64_t pp) {
  const RankParams r = ParamsPerRank(params, tied, tp, pp, /*ep=*/1);
  const double blocks = static_cast<double>(layers_per_stage) * r.layer;
  if (pp == 1) return {blocks + r.embedding + r.head, blocks + r.embedding + r.head};
  return {blocks + r.embedding, blocks + r.head};
}

// Layers of the first, middle and last pipeline stages of a split.
struct StageLayers {
  int64_t first = 0;
  int64_t middle = 0;
  int64_t last = 0;
};

StageLayers LayersOf(int64_t layers, const Split& split) {
  if (split.uneven() && split.pp >= 2) {
    const int64_t rest = layers - split.first_stage_layers - split.last_stage_layers;
    return {split.first_stage_layers, split.pp > 2 ? rest / (split.pp - 2) : 0,
            split.last_stage_layers};
  }
  const int64_t even = CeilDiv(layers, split.pp);
  return {even, even, even};
}

// Model states of `n` parameters on one GPU under the framework's byte
// accounting and ZeRO stage over `dp` data-parallel ranks, written to the
// weights, gradients and optimizer fields of `out`. Always inlined: it is
// on the solver's hot path, and GCC stops inlining it on its own once it
// has two callers (planner_benchmark's searches took 15% longer).
[[gnu::always_inline]] inline void SetModelStates(double n, Framework framework, int zero,
                                                  int64_t dp, MemoryBreakdown& out) {
  const double r = static_cast<double>(dp);
  if (framework == Framework::kMegatron) {
    // 2 (bf16 weights) + 4 (fp32 grads) + 12 (fp32 master, m, v) = 18 B;
    // the distributed optimizer (ZeRO 1) divides the 12 by DP: 6 + 12/r.
    out.weights_bytes = ToBytes(2.0 * n);
    out.gradients_bytes = ToBytes(4.0 * n);
    out.optimizer_bytes = ToBytes(12.0 * n / (zero >= 1 ? r : 1.0));
    return;
  }
  // ZeRO paper: 2 + 2 + 12 = 16 B; stage 1 shards the 12, stage 2 also the
  // gradients, stage 3 also the weights.
  out.weights_bytes = ToBytes(2.0 * n / (zero >= 3 ? r : 1.0));
  out.gradients_bytes = ToBytes(2.0 * n / (zero >= 2 ? r : 1.0));
  out.optimizer_bytes = ToBytes(12.0 * n / (zero >= 1 ? r : 1.0));
}

}  // namespace

int64_t LayerActivationBytes(const ModelShape& shape, const TrainWorkload& workload, int64_t tp,
                             int64_t micro_batch, Recompute recompute) {
  const double t = static_cast<double>(tp);
  const double s = static_cast<double>(workload.seq);
  const double b = static_cast<double>(micro_batch);
  const double h = static_cast<double>(shape.hidden);
  const double d = h / static_cast<double>(shape.heads);
  const double sbh = s * b * h;
  const double sp_divisor = workload.sequence_parallel ? t : 1.0;
  if (recompute == Recompute::kFull) {
    // Only the layer's input is kept: 2 bytes · s·b·h, split by SP.
    return ToBytes(2.0 * sbh / sp_divisor);
  }
  // Norm inputs 4, attention input 2 and dropout mask 1, MLP input 2 and
  // dropout mask 1: 10·s·b·h that TP replicates and SP splits.
  const double replicated = 10.0 * sbh / sp_divisor;
  // Q 2·s·b·h, K and V 2·2·s·b·(k·d), output-projection input 2·s·b·h,
  // each split by TP (KV heads replicated when t > k).
  const double attention = (4.0 * sbh) / t + 4.0 * s * b * d * KvHeadsPerRank(shape, tp);
  // MLP hidden: GELU keeps fc1's output and the activation (2 + 2 bytes · f);
  // SwiGLU keeps gate+up (4 bytes · f) and their product (2 bytes · f).
  const double mlp_factor = shape.mlp == MlpKind::kGelu ? 4.0 : 6.0;
  const double mlp = mlp_factor * s * b * TokenFfn(shape) / t;
  // Attention scores: softmax output 2, dropout mask 1 and its output 2 bytes
  // per score, 5·a·s²·b, unless flash attention or selective recompute.
  double scores = 0;
  if (!workload.flash_attention && recompute != Recompute::kSelective) {
    scores = 5.0 * static_cast<double>(shape.heads) * s * s * b / t;
  }
  return ToBytes(replicated + attention + mlp + scores);
}

MemoryBreakdown TrainingMemory(const ModelShape& shape, const ParamCounts& params,
                               const TrainWorkload& workload, const Split& split,
                               int64_t micro_batches, const Hardware& hardware) {
  const int64_t p = split.pp;
  const StageLayers layers = LayersOf(shape.layers, split);
  const int64_t ep = std::max<int64_t>(1, split.ep);
  const RankParams rank = ParamsPerRank(params, shape.tied_embeddings, split.tp, p, ep);

  const int64_t per_layer =
      LayerActivationBytes(shape, workload, split.tp, split.micro_batch, split.recompute);
  // Full recompute rebuilds one layer at a time in the backward pass: that
  // layer's activations are live on top of the stored inputs.
  const int64_t working_layer =
      split.recompute == Recompute::kFull
          ? LayerActivationBytes(shape, workload, split.tp, split.micro_batch, Recompute::kNone)
          : 0;
  // 1F1B: stage i holds min(p - i, m) micro-batches in flight, times
  // 1 + (p-1)/(p·v) when interleaved; the last stage holds one.
  const int64_t m = std::max<int64_t>(1, micro_batches);
  double interleave = 1.0;
  if (workload.virtual_stages > 1 && p > 1) {
    interleave += static_cast<double>(p - 1) / static_cast<double>(p * workload.virtual_stages);
  }
  // Logits s·b·V in fp32 and their gradient: 8 bytes each, split by TP.
  const double logits = 8.0 * static_cast<double>(workload.seq) *
                        static_cast<double>(split.micro_batch) * static_cast<double>(shape.vocab) /
                        static_cast<double>(split.tp);

  // ZeRO-3 gathers one layer's full weights to compute, and prefetches the
  // next: two layers' bf16 weights of this TP rank.
  int64_t gather = 0;
  if (workload.framework == Framework::kDeepSpeed && split.zero_stage >= 3) {
    const double layer = static_cast<double>(params.layer_total - params.layer_experts) +
                         static_cast<double>(params.layer_experts) / static_cast<double>(ep);
    gather = ToBytes(2.0 * 2.0 * layer / static_cast<double>(split.tp));
  }

  // One stage of `n` layers: dense parameters are replicated over all dp
  // ranks; with EP each expert only over the dp/ep ranks that hold it (its
  // data-parallel group), so its states are sharded over those.
  auto stage = [&](int64_t n, double extra_params, double in_flight, double factor,
                   double extra_acts, int64_t index) {
    const double experts = static_cast<double>(n) * rank.layer_experts;
    const double dense = static_cast<double>(n) * rank.layer + extra_params - experts;
    MemoryBreakdown mem;
    SetModelStates(dense, workload.framework, split.zero_stage, split.dp, mem);
    if (experts > 0) {
      MemoryBreakdown e;
      SetModelStates(experts, workload.framework, split.zero_stage,
                     std::max<int64_t>(1, split.dp / ep), e);
      mem.weights_bytes = SaturatingSum({mem.weights_bytes, e.weights_bytes});
      mem.gradients_bytes = SaturatingSum({mem.gradients_bytes, e.gradients_bytes});
      mem.optimizer_bytes = SaturatingSum({mem.optimizer_bytes, e.optimizer_bytes});
    }
    const double acts =
        static_cast<double>(n) * in_flight * factor * static_cast<double>(per_layer) + extra_acts;
    mem.activations_bytes = SaturatingSum({ToBytes(acts), working_layer});
    mem.workspace_bytes = gather;
    mem.overhead_bytes = hardware.overhead_bytes;
    mem.total_bytes =
        SaturatingSum({mem.weights_bytes, mem.gradients_bytes, mem.optimizer_bytes,
                       mem.activations_bytes, mem.workspace_bytes, mem.overhead_bytes});
    mem.stage = index;
    return mem;
  };
  const double first_flight = static_cast<double>(std::min(p, m));
  if (p == 1) {
    return stage(layers.first, rank.embedding + rank.head, first_flight, interleave, logits, 0);
  }
  MemoryBreakdown most = stage(layers.first, rank.embedding, first_flight, interleave, 0, 0);
  // An uneven split's second stage may hold more layers than the first.
  if (p > 2 && layers.middle > layers.first) {
    const double flight = static_cast<double>(std::min(p - 1, m));
    MemoryBreakdown second = stage(layers.middle, 0, flight, interleave, 0, 1);
    if (second.total_bytes > most.total_bytes) most = second;
  }
  MemoryBreakdown last = stage(layers.last, rank.head, 1.0, 1.0, logits, p - 1);
  return last.total_bytes > most.total_bytes ? last : most;
}

namespace {

// One forward pass of `tokens` tokens through one layer on one TP rank, in
// 16-bit activations: residual and normed input (2·h each), Q/K/V outputs,
// and the MLP intermediates (3·f for SwiGLU: gate, up, product; 2·f for
// GELU); plus one step's fp32 logits for `batch` sequences.
int64_t ForwardWorkspace(const ModelShape& shape, int64_t tokens, int64_t batch, int64_t tp) {
  const double t = static_cast<double>(tp);
  const double h = static_cast<double>(shape.hidden);
  const double d = h / static_cast<double>(shape.heads);
  const double qkv = h / t + 2.0 * d * KvHeadsPerRank(shape, tp);
  const double mlp = (shape.mlp == MlpKind::kGelu ? 2.0 : 3.0) * TokenFfn(shape) / t;
  const double per_token = 2.0 * (2.0 * h + qkv + mlp);
  const double logits = 4.0 * static_cast<double>(batch) * static_cast<double>(shape.vocab) / t;
  return ToBytes(static_cast<double>(tokens) * per_token + logits);
}

// KV cache bytes of `layers` layers on one TP rank:
// 2 (K and V) · layers · max(1, k/t) · d · context · batch · bytes.
int64_t KvCacheBytes(const ModelShape& shape, const InferWorkload& workload, int64_t layers,
                     int64_t tp) {
  const double d = static_cast<double>(shape.hidden) / static_cast<double>(shape.heads);
  return ToBytes(2.0 * static_cast<double>(layers) * KvHeadsPerRank(shape, tp) * d *
                 static_cast<double>(workload.context) * static_cast<double>(workload.batch) *
                 DTypeBytes(workload.kv_dtype));
}

MemoryBreakdown Finish(MemoryBreakdown m) {
  m.total_bytes =
      SaturatingSum({m.weights_bytes, m.kv_cache_bytes, m.workspace_bytes, m.overhead_bytes});
  return m;
}

}  // namespace

MemoryBreakdown InferenceMemory(const ModelShape& shape, const ParamCounts& params,
                                const InferWorkload& requested, const Split& split,
                                const Hardware& hardware) {
  InferWorkload workload = requested;
  if (split.replica_batch > 0) workload.batch = split.replica_batch;
  const double wbytes = DTypeBytes(workload.weights);
  const int64_t tokens = std::min(workload.batch * workload.context, workload.prefill_chunk);
  MemoryBreakdown m;
  m.overhead_bytes = hardware.overhead_bytes;
  m.workspace_bytes = ForwardWorkspace(shape, tokens, workload.batch, split.tp);
  const double layer_bytes = static_cast<double>(params.layer_total) * wbytes;
  const double embedding_bytes = static_cast<double>(params.embedding) * wbytes;
  const double head_bytes = static_cast<double>(params.output_head + params.final_norm) * wbytes;

  if (workload.offload == Offload::kLayerwise) {
    // One layer (or the embedding or head, whichever is loaded) at a time;
    // the KV cache of every layer stays resident.
    m.weights_bytes = ToBytes(std::max({layer_bytes, embedding_bytes, head_bytes}));
    m.kv_cache_bytes = KvCacheBytes(shape, workload, shape.layers, 1);
    m.gpu_layers = 1;
    // The whole model stays on disk and streams through host memory.
    m.host_bytes = ToBytes(static_cast<double>(params.total) * wbytes);
    return Finish(m);
  }
  if (workload.offload == Offload::kCpu) {
    // Embedding, head and workspace stay on the GPU; each further layer costs
    // its weights and its KV cache, and the layers that do not fit (with
    // their KV cache) live in host memory.
    const int64_t layer_kv = KvCacheBytes(shape, workload, 1, 1);
    const int64_t fixed =
        SaturatingSum({ToBytes(embedding_bytes + head_bytes), m.workspace_bytes, m.overhead_bytes});
    const int64_t per_layer = SaturatingSum({ToBytes(layer_bytes), layer_kv});
    const int64_t room = UsableBytes(hardware) - fixed;
    const int64_t gpu_layers =
        room <= 0 ? 0 : std::min(shape.layers, room / std::max<int64_t>(1, per_layer));
    m.gpu_layers = gpu_layers;
    m.weights_bytes =
        ToBytes(embedding_bytes + head_bytes + static_cast<double>(gpu_layers) * layer_bytes);
    m.kv_cache_bytes = layer_kv * gpu_layers;
    m.host_bytes = (shape.layers - gpu_layers) * per_layer;
    return Finish(m);
  }
  const int64_t layers_per_stage = CeilDiv(shape.layers, split.pp);
  const StageParams stage_params =
      ParamsPerGpu(params, shape.tied_embeddings, layers_per_stage, split.tp, split.pp);
  m.weights_bytes = ToBytes(std::max(stage_params.first, stage_params.last) * wbytes);
  m.kv_cache_bytes = KvCacheBytes(shape, workload, layers_per_stage, split.tp);
  m.stage = stage_params.last > stage_params.first ? split.pp - 1 : 0;
  return Finish(m);
}

int64_t NaiveInferenceActivationBytes(const ModelShape& shape, int64_t batch, int64_t seq,
                                      double bytes_per_element) {
  const double l = static_cast<double>(shape.layers);
  const double a = static_cast<double>(shape.heads);
  const double b = static_cast<double>(batch);
  const double s = static_cast<double>(seq);
  const double h = static_cast<double>(shape.hidden);
  return ToBytes((l * 2.5 * a * b * s * s + 17.0 * b * h * s) * bytes_per_element);
}

}  // namespace berth::planner
