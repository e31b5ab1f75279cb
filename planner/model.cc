#include "planner/model.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace berth::planner {
namespace {

// Upper limits that keep every product in CountParams() far below 2^63.
constexpr int64_t kMaxLayers = 10'000;
constexpr int64_t kMaxHidden = 1'000'000;
constexpr int64_t kMaxFfn = 10'000'000;
constexpr int64_t kMaxVocab = 10'000'000;
constexpr int64_t kMaxPositions = 10'000'000;
constexpr int64_t kMaxExperts = 100'000;
// 10^15 parameters (a petaparameter) is far beyond any model; capping the
// derived count there bounds every later byte figure (18 B/param) too.
constexpr double kMaxParams = 1e15;

// ShapeFromNumbers() defaults.
constexpr int64_t kDefaultVocab = 32000;
constexpr int64_t kFfnMultiple = 256;

absl::Status CheckRange(absl::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d is out of range [%d, %d]", field, value, min, max));
  }
  return absl::OkStatus();
}

absl::Status CheckSizes(const ModelShape& s) {
  BERTH_RETURN_IF_ERROR(CheckRange("layers", s.layers, 1, kMaxLayers));
  BERTH_RETURN_IF_ERROR(CheckRange("hidden", s.hidden, 1, kMaxHidden));
  BERTH_RETURN_IF_ERROR(CheckRange("heads", s.heads, 1, s.hidden));
  BERTH_RETURN_IF_ERROR(CheckRange("kv_heads", s.kv_heads, 1, s.heads));
  BERTH_RETURN_IF_ERROR(CheckRange("ffn", s.ffn, 1, kMaxFfn));
  BERTH_RETURN_IF_ERROR(CheckRange("vocab", s.vocab, 1, kMaxVocab));
  BERTH_RETURN_IF_ERROR(CheckRange("learned_positions", s.learned_positions, 0, kMaxPositions));
  BERTH_RETURN_IF_ERROR(CheckRange("experts", s.experts, 0, kMaxExperts));
  if (s.declared_params < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("declared_params: %d must not be negative", s.declared_params));
  }
  return absl::OkStatus();
}

absl::Status CheckDivisibility(const ModelShape& s) {
  if (s.hidden % s.heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("hidden: %d is not divisible by heads (%d)", s.hidden, s.heads));
  }
  if (s.heads % s.kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("heads: %d is not divisible by kv_heads (%d)", s.heads, s.kv_heads));
  }
  return absl::OkStatus();
}

absl::Status CheckExperts(const ModelShape& s) {
  if (s.experts == 0) {
    if (s.experts_per_token != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "experts_per_token: %d given for a dense model (experts is 0)", s.experts_per_token));
    }
    return absl::OkStatus();
  }
  if (s.experts_per_token < 1 || s.experts_per_token > s.experts) {
    return absl::InvalidArgumentError(
        absl::StrFormat("experts_per_token: %d must be between 1 and experts (%d)",
                        s.experts_per_token, s.experts));
  }
  return absl::OkStatus();
}

// The parameter count in floating point, before any int64 arithmetic: the
// per-field limits alone allow products past 2^63 (10^4 layers × 10^5
// experts × 3·10^6·10^7).
double ApproximateParams(const ModelShape& s) {
  const double h = static_cast<double>(s.hidden);
  const double experts = static_cast<double>(std::max<int64_t>(s.experts, 1));
  const double layer = 4.0 * h * h + experts * 3.0 * h * s.ffn + h * s.experts;
  return s.layers * layer + 2.0 * h * (s.vocab + s.learned_positions);
}

int64_t NormParams(const ModelShape& s) {
  return s.norm == NormKind::kRmsNorm ? s.hidden : 2 * s.hidden;
}

// The split (column-parallel) and replicated parts of one expert's MLP.
struct MlpParams {
  int64_t split = 0;
  int64_t replicated = 0;
};

MlpParams OneMlp(const ModelShape& s) {
  const int64_t h = s.hidden;
  const int64_t f = s.ffn;
  const bool swiglu = s.mlp == MlpKind::kSwiGlu;
  MlpParams mlp;
  mlp.split = (swiglu ? 3 : 2) * h * f;  // gate, up, down or up, down
  if (s.linear_bias) {
    mlp.split += swiglu ? 2 * f : f;  // gate and up biases, split by TP
    mlp.replicated += h;              // down-projection bias, replicated
  }
  return mlp;
}

}  // namespace

absl::Status ValidateShape(const ModelShape& shape) {
  BERTH_RETURN_IF_ERROR(CheckSizes(shape));
  BERTH_RETURN_IF_ERROR(CheckDivisibility(shape));
  BERTH_RETURN_IF_ERROR(CheckExperts(shape));
  const double params = ApproximateParams(shape);
  if (params > kMaxParams) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model: the shape has about %.3g parameters, more than the limit of "
                        "%.0e",
                        params, kMaxParams));
  }
  return absl::OkStatus();
}

// Per block: attention Q and O are h·h, K and V h·k·d; the MLP has 3·h·f
// (SwiGLU) or 2·h·f (GELU) per expert; an MoE block adds a router h·E,
// which TP replicates as Megatron does. Two norms per block, one when
// `parallel_block` shares a single norm between attention and MLP
// (Falcon-7B). GPT-NeoX and Falcon-40B run attention and MLP in parallel
// from two norms; their catalog shapes count as two-norm blocks.
ParamCounts CountParams(const ModelShape& shape) {
  const int64_t h = shape.hidden;
  const int64_t d = h / shape.heads;
  const int64_t kv = shape.kv_heads * d;
  int64_t attn_split = 2 * h * h + 2 * h * kv;  // Q, O; K, V
  int64_t attn_replicated = 0;
  if (shape.qkv_bias || shape.linear_bias) attn_split += h + 2 * kv;
  if (shape.linear_bias) attn_replicated += h;  // O bias (row-parallel)
  const MlpParams mlp = OneMlp(shape);
  const int64_t norms = NormParams(shape) * (shape.parallel_block ? 1 : 2);
  const int64_t router = h * shape.experts;
  const int64_t experts = std::max<int64_t>(shape.experts, 1);
  const int64_t active_experts = shape.experts == 0 ? 1 : shape.experts_per_token;
  const int64_t mlp_total = mlp.split + mlp.replicated;

  ParamCounts c;
  c.head_dim = d;
  c.layer_tp_split = attn_split + experts * mlp.split;
  c.layer_experts = shape.experts > 0 ? experts * mlp.split : 0;
  c.layer_tp_replicated = attn_replicated + experts * mlp.replicated + norms + router;
  c.layer_total = c.layer_tp_split + c.layer_tp_replicated;
  c.layer_active = c.layer_total - (experts - active_experts) * mlp_total;
  c.embedding = shape.vocab * h + shape.learned_positions * h;
  c.output_head = shape.tied_embeddings ? 0 : shape.vocab * h;
  c.final_norm = NormParams(shape);
  const int64_t outside = c.embedding + c.output_head + c.final_norm;
  c.total = shape.layers * c.layer_total + outside;
  c.active = shape.layers * c.layer_active + outside;
  return c;
}

absl::StatusOr<MlpKind> ParseMlpKind(absl::string_view text) {
  if (text == "gated" || text == "swiglu") return MlpKind::kSwiGlu;
  if (text == "plain" || text == "gelu") return MlpKind::kGelu;
  return absl::InvalidArgumentError(
      absl::StrFormat("mlp: unknown value \"%s\" (accepted: gated, plain)", text));
}

absl::string_view MlpKindName(MlpKind mlp) { return mlp == MlpKind::kSwiGlu ? "gated" : "plain"; }

// With a Llama-style shape (RMSNorm, untied head, no biases), the count is
//   L·(2h² + 2·h·k·d + 2h + m·h·f) + 2·V·h + h,
// with m = 3 matrices for a gated MLP and 2 for a plain one; it is solved for
// f and rounded to the nearest multiple of 256.
absl::StatusOr<ModelShape> ShapeFromNumbers(const ShapeNumbers& n) {
  const bool plain = n.mlp == MlpKind::kGelu;
  ModelShape shape;
  shape.name = "custom";
  shape.layers = n.layers;
  shape.hidden = n.hidden;
  shape.heads = n.heads;
  shape.kv_heads = n.kv_heads == 0 ? n.heads : n.kv_heads;
  shape.vocab = n.vocab == 0 ? kDefaultVocab : n.vocab;
  shape.mlp = n.mlp;
  shape.ffn = n.ffn == 0 ? kFfnMultiple : n.ffn;  // placeholder while validating
  shape.declared_params = n.params;
  if (n.params < 0 || static_cast<double>(n.params) > kMaxParams) {
    return absl::InvalidArgumentError(
        absl::StrFormat("params: %d is out of range [0, %.0e]", n.params, kMaxParams));
  }
  if (n.ffn == 0 && n.params == 0 && !plain) {
    return absl::InvalidArgumentError(
        "ffn: give the FFN size or the parameter count to solve it from (or "
        "mlp plain, whose FFN defaults to 4·hidden)");
  }
  BERTH_RETURN_IF_ERROR(ValidateShape(shape));
  if (n.ffn != 0) return shape;
  if (n.params == 0) {  // plain: Megatron's default f = 4h
    shape.ffn = 4 * n.hidden;
    BERTH_RETURN_IF_ERROR(ValidateShape(shape));
    return shape;
  }

  const int64_t matrices = plain ? 2 : 3;
  const int64_t per_ffn = matrices * n.hidden * n.layers;  // parameters per unit of f
  shape.ffn = 1;  // the count at f = 1, less its per_ffn, is all but the MLP
  const int64_t base = CountParams(shape).total - per_ffn;
  const int64_t mlp = n.params - base;
  const int64_t units = (mlp + per_ffn * kFfnMultiple / 2) / (per_ffn * kFfnMultiple);
  if (mlp <= 0 || units < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("params: %d is too small for %d layers of hidden size %d (attention "
                        "and embeddings alone have %d)",
                        n.params, n.layers, n.hidden, base));
  }
  shape.ffn = units * kFfnMultiple;
  BERTH_RETURN_IF_ERROR(ValidateShape(shape));
  return shape;
}

absl::StatusOr<ModelShape> ShapeFromNumbers(int64_t params, int64_t layers, int64_t hidden,
                                            int64_t heads, int64_t kv_heads, int64_t ffn,
                                            int64_t vocab) {
  return ShapeFromNumbers(ShapeNumbers{.params = params,
                                       .layers = layers,
                                       .hidden = hidden,
                                       .heads = heads,
                                       .kv_heads = kv_heads,
                                       .ffn = ffn,
                                       .vocab = vocab});
}

}  // namespace berth::planner
