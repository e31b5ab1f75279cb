// The memory model: bytes on the most loaded GPU for one parallel split.
//
// Training (Korthikanti et al. 2022, "Reducing Activation Recomputation"):
// model states by the framework's byte accounting and ZeRO stage, then
// activations per layer per micro-batch
//     s·b·h·(LN 4 + attention 7 + 4·k·d/h + MLP 3) + MLP hidden + scores
// where the MLP hidden part is 4·s·b·f for GELU and 6·s·b·f for SwiGLU and
// the scores are 5·a·s²·b (gone with flash attention or selective
// recompute). For MHA with f = 4h this is the paper's s·b·h·(34 + 5as/h).
// TP divides all but the 10·s·b·h of norms, inputs and dropout masks, which
// sequence parallelism divides as well; full recompute keeps 2·s·b·h per
// layer plus one layer's working set. The 1F1B first stage keeps min(p, m)
// micro-batches of its layers, times 1 + (p−1)/(p·v) when interleaved; the
// last stage holds the logits, s·b·V in fp32 and their gradient, split by t.
// Both stages are evaluated and the larger one is the most loaded GPU. Each
// stage holds ceil(L/p) layers, or with Megatron's uneven layout
// (split.first_stage_layers, last_stage_layers) its own count; then the
// second stage (min(p−1, m) in flight of the middle stages' count) is
// evaluated too.
// With expert parallelism (MoE, split.ep > 1) a GPU holds 1/(t·ep) of each
// layer's experts, and their states are sharded over the dp/ep ranks that
// replicate them; activations are unchanged (on average each GPU still
// runs k experts' worth of tokens; the all-to-all buffers are not counted).
//
// Inference: weights in their type, KV cache 2·L/p·max(1, k/t)·d·context·
// batch·bytes (batch: the split's replica_batch when set, the sequences one
// replica holds), and a forward workspace (one layer's largest intermediates
// for a prefill chunk, plus one step's fp32 logits). Layer-wise offload
// keeps one layer (or the embedding, whichever is larger) resident; CPU
// offload keeps as many layers as fit and reports the host memory for the
// rest.
#ifndef BERTH_PLANNER_MEMORY_H_
#define BERTH_PLANNER_MEMORY_H_

#include <cstdint>

#include "planner/gpu.h"
#include "planner/model.h"
#include "planner/workload.h"

namespace berth::planner {

struct MemoryBreakdown {
  int64_t weights_bytes = 0;
  int64_t gradients_bytes = 0;
  int64_t optimizer_bytes = 0;
  int64_t activations_bytes = 0;  // includes logits for training
  int64_t kv_cache_bytes = 0;
  int64_t workspace_bytes = 0;
  int64_t overhead_bytes = 0;
  int64_t total_bytes = 0;  // the sum of the above
  // Offload only: bytes kept off the GPU (host memory for CPU offload; the
  // whole model, streamed from disk per token, for layer-wise offload), and
  // the layers resident on the GPU.
  int64_t host_bytes = 0;
  int64_t gpu_layers = 0;
  // Which pipeline stage is the most loaded: 0 first, pp-1 last.
  int64_t stage = 0;
};

// Model states, activations and logits of the most loaded training GPU.
// `micro_batches` is m, micro-batches per step per pipeline (≥ 1).
MemoryBreakdown TrainingMemory(const ModelShape& shape, const ParamCounts& params,
                               const TrainWorkload& workload, const Split& split,
                               int64_t micro_batches, const Hardware& hardware);

// Weights, KV cache and workspace of the most loaded inference GPU. For
// Offload::kCpu, `usable_bytes` decides how many layers stay on the GPU.
MemoryBreakdown InferenceMemory(const ModelShape& shape, const ParamCounts& params,
                                const InferWorkload& workload, const Split& split,
                                const Hardware& hardware);

// Activation bytes of one layer for one micro-batch on one TP rank, before
// pipeline in-flight counting. Exposed for tests and explanations.
int64_t LayerActivationBytes(const ModelShape& shape, const TrainWorkload& workload, int64_t tp,
                             int64_t micro_batch, Recompute recompute);

// The seed documents' naive inference bound l·(5/2)·a·b·s² + 17·b·h·s
// (every layer's scores kept at once, as a training forward pass would), in
// bytes for the given element size. Shown as an upper bound, never planned on.
int64_t NaiveInferenceActivationBytes(const ModelShape& shape, int64_t batch, int64_t seq,
                                      double bytes_per_element);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_MEMORY_H_
