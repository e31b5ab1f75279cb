// Model shapes and parameter counting.
//
// A `ModelShape` describes a decoder-only transformer by its architecture
// (layers, hidden size, heads, KV heads, FFN size, vocabulary, MLP kind, MoE
// experts). `CountParams()` derives the parameter count from the shape and
// splits it into the parts the memory model needs: what tensor parallelism
// divides, what it replicates, and the embedding and output head that live on
// the first and last pipeline stages. Use `ValidateShape()` on any shape that
// came from a user before counting it.
#ifndef BERTH_PLANNER_MODEL_H_
#define BERTH_PLANNER_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::planner {

// SwiGLU MLPs have three matrices (gate, up, down); GELU MLPs have two.
// Explicit shapes name them "gated" (SwiGLU, GeGLU: Llama, Mistral, Qwen)
// and "plain" (GELU or ReLU: GPT-3, BLOOM, GPT-NeoX, OPT, Falcon).
enum class MlpKind { kSwiGlu, kGelu };
// RMSNorm has a scale only; LayerNorm has a scale and a bias.
enum class NormKind { kRmsNorm, kLayerNorm };

struct ModelShape {
  std::string name;
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // == heads for multi-head attention
  int64_t ffn = 0;       // per expert for MoE models
  int64_t vocab = 0;
  bool tied_embeddings = false;
  MlpKind mlp = MlpKind::kSwiGlu;
  NormKind norm = NormKind::kRmsNorm;
  bool qkv_bias = false;          // bias on the Q, K and V projections (Qwen2)
  bool linear_bias = false;       // bias on every linear layer (GPT-3, BLOOM)
  bool parallel_block = false;    // attention and MLP read the same input
                                  // (GPT-NeoX, Falcon); one norm may be shared
  int64_t learned_positions = 0;  // rows of a learned position table (GPT-3)
  int64_t experts = 0;            // 0 for a dense model
  int64_t experts_per_token = 0;  // top-k for MoE
  // A count the user or the catalog states; 0 when only the shape is known.
  // Informational: the planner always uses the derived count.
  int64_t declared_params = 0;
};

// Parameter counts, in parameters (not bytes).
struct ParamCounts {
  int64_t total = 0;   // every parameter, counting all experts
  int64_t active = 0;  // parameters used per token (top-k experts only)
  // One transformer block:
  int64_t layer_total = 0;
  int64_t layer_active = 0;
  int64_t layer_tp_split = 0;       // divided by TP (matrices, split biases)
  int64_t layer_tp_replicated = 0;  // replicated by TP (norms, row biases)
  int64_t layer_experts = 0;        // MoE: the experts' TP-split matrices (part of
                                    // layer_tp_split), which EP divides further
  int64_t embedding = 0;            // input token (+ position) embedding
  int64_t output_head = 0;          // 0 when tied to the embedding
  int64_t final_norm = 0;
  int64_t head_dim = 0;  // hidden / heads
};

// Checks that every field is positive and within sane limits and that heads
// divide hidden and kv_heads divide heads. Errors name the field.
absl::Status ValidateShape(const ModelShape& shape);

// Derives counts from the shape. The shape must have passed ValidateShape().
ParamCounts CountParams(const ModelShape& shape);

// "gated" or "plain" (also "swiglu", "gelu"); InvalidArgument naming `mlp`
// otherwise.
absl::StatusOr<MlpKind> ParseMlpKind(absl::string_view text);
absl::string_view MlpKindName(MlpKind mlp);  // "gated" or "plain"

// The numbers of an explicit shape, as `berth plan --params --layers
// --hidden --heads [--kv-heads] [--ffn] [--vocab] [--mlp]` gives them; 0 is
// "not given".
struct ShapeNumbers {
  int64_t params = 0;
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // 0: heads
  int64_t ffn = 0;       // 0: solved from params (or 4·hidden, plain)
  int64_t vocab = 0;     // 0: 32000
  MlpKind mlp = MlpKind::kSwiGlu;
};

// Builds a shape from explicit numbers. Missing kv_heads default to heads, a
// missing vocab to 32000, and a missing ffn is solved for so that the derived
// count matches `params` (rounded to a multiple of 256). A plain MLP with
// neither ffn nor params gets ffn = 4·hidden (Megatron's default); a gated
// one needs one of them. RMSNorm, no biases and an untied head either way.
absl::StatusOr<ModelShape> ShapeFromNumbers(const ShapeNumbers& numbers);

// The same with a gated (SwiGLU) MLP, as before `mlp` existed.
absl::StatusOr<ModelShape> ShapeFromNumbers(int64_t params, int64_t layers, int64_t hidden,
                                            int64_t heads, int64_t kv_heads, int64_t ffn,
                                            int64_t vocab);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_MODEL_H_
