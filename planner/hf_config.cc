#include "planner/hf_config.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace berth::planner {
namespace {

using Keys = std::initializer_list<absl::string_view>;

// Architecture families, by `model_type`; each has its own key names and
// its own Hugging Face defaults.
enum class Family { kLlama, kGptNeox, kFalcon, kBloom, kGpt2, kOpt, kOther };

// Largest integer a double holds exactly.
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

struct Found {
  std::string key;  // as found, e.g. "text_config.hidden_size"
  const HfValue* value = nullptr;
};

// The first of `keys` present, trying "text_config.<key>" before "<key>"
// for each: a multimodal config's language model lives in text_config.
std::optional<Found> Lookup(const HfConfig& config, Keys keys) {
  for (absl::string_view key : keys) {
    for (std::string full : {absl::StrCat("text_config.", key), std::string(key)}) {
      auto it = config.find(full);
      if (it != config.end()) return Found{std::move(full), &it->second};
    }
  }
  return std::nullopt;
}

std::string Describe(const HfValue& value) {
  if (const double* d = std::get_if<double>(&value)) return absl::StrCat(*d);
  if (const bool* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  return absl::StrCat("\"", std::get<std::string>(value), "\"");
}

absl::Status BadValue(const Found& found, absl::string_view wanted) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: \"", found.key, "\" must be ",
                                                 wanted, ", got ", Describe(*found.value)));
}

// An integer-valued key: nullopt when absent, InvalidArgument when present
// but not a whole number >= `min`.
absl::StatusOr<std::optional<int64_t>> OptionalInt(const HfConfig& config, Keys keys,
                                                   int64_t min = 1) {
  std::optional<Found> found = Lookup(config, keys);
  if (!found.has_value()) return std::optional<int64_t>();
  const absl::string_view wanted = min > 0 ? "a positive integer" : "a non-negative integer";
  const double* d = std::get_if<double>(found->value);
  if (d == nullptr || !std::isfinite(*d) || std::floor(*d) != *d || *d < static_cast<double>(min) ||
      *d > kMaxExactInteger) {
    return BadValue(*found, wanted);
  }
  return std::optional<int64_t>(static_cast<int64_t>(*d));
}

absl::StatusOr<int64_t> RequiredInt(const HfConfig& config, Keys keys) {
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> value, OptionalInt(config, keys));
  if (value.has_value()) return *value;
  std::vector<std::string> quoted;
  for (absl::string_view key : keys) quoted.push_back(absl::StrCat("\"", key, "\""));
  return absl::InvalidArgumentError(
      absl::StrCat("config.json: missing ", absl::StrJoin(quoted, " or ")));
}

absl::StatusOr<bool> BoolOr(const HfConfig& config, Keys keys, bool fallback) {
  std::optional<Found> found = Lookup(config, keys);
  if (!found.has_value()) return fallback;
  const bool* b = std::get_if<bool>(found->value);
  if (b == nullptr) return BadValue(*found, "true or false");
  return *b;
}

absl::StatusOr<std::optional<std::string>> OptionalString(const HfConfig& config, Keys keys) {
  std::optional<Found> found = Lookup(config, keys);
  if (!found.has_value()) return std::optional<std::string>();
  const std::string* s = std::get_if<std::string>(found->value);
  if (s == nullptr) return BadValue(*found, "a string");
  return std::optional<std::string>(*s);
}

absl::StatusOr<Family> ReadFamily(const HfConfig& config) {
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> type, OptionalString(config, {"model_type"}));
  const std::string t = absl::AsciiStrToLower(type.value_or(""));
  if (t == "llama" || t == "mistral" || t == "mixtral" || t == "qwen2") {
    return Family::kLlama;
  }
  if (t == "gpt_neox") return Family::kGptNeox;
  if (t == "falcon" || t == "refinedweb" || t == "refinedwebmodel") {
    return Family::kFalcon;
  }
  if (t == "bloom") return Family::kBloom;
  if (t == "gpt2") return Family::kGpt2;
  if (t == "opt") return Family::kOpt;
  return Family::kOther;
}

// Falcon: the new decoder architecture (40B, 180B; model_type "RefinedWeb")
// has grouped KV heads and two norms per block; the old one (7B) is
// multi-query with one norm shared by the parallel attention and MLP.
absl::StatusOr<bool> FalconNewArchitecture(const HfConfig& config) {
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> type, OptionalString(config, {"model_type"}));
  const bool refined_web = absl::AsciiStrToLower(type.value_or("")) == "refinedweb";
  return BoolOr(config, {"new_decoder_architecture"}, refined_web);
}

absl::StatusOr<int64_t> ReadKvHeads(const HfConfig& config, Family family, int64_t heads) {
  if (family == Family::kFalcon) {
    BERTH_ASSIGN_OR_RETURN(bool new_arch, FalconNewArchitecture(config));
    BERTH_ASSIGN_OR_RETURN(bool multi_query, BoolOr(config, {"multi_query"}, true));
    if (!new_arch) return multi_query ? 1 : heads;
  }
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> kv,
                         OptionalInt(config, {"num_key_value_heads", "num_kv_heads", "n_head_kv"}));
  return kv.value_or(heads);
}

// Llama-style families must state their FFN size; the GPT-style ones
// default to 4·hidden as Hugging Face's code does.
absl::StatusOr<int64_t> ReadFfn(const HfConfig& config, Family family, int64_t hidden) {
  BERTH_ASSIGN_OR_RETURN(
      std::optional<int64_t> ffn,
      OptionalInt(config, {"intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"}));
  if (ffn.has_value()) return *ffn;
  if (family == Family::kLlama || family == Family::kOther) {
    return RequiredInt(config, {"intermediate_size"});
  }
  return 4 * hidden;
}

absl::StatusOr<MlpKind> ReadMlp(const HfConfig& config, Family family) {
  const Keys keys = {"hidden_act", "activation_function", "activation"};
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> act, OptionalString(config, keys));
  if (!act.has_value()) {
    const bool gated = family == Family::kLlama || family == Family::kOther;
    return gated ? MlpKind::kSwiGlu : MlpKind::kGelu;
  }
  const std::string a = absl::AsciiStrToLower(*act);
  if (a == "silu" || a == "swiglu" || a == "swish") return MlpKind::kSwiGlu;
  if (absl::StartsWith(a, "gelu") || a == "relu") return MlpKind::kGelu;
  Found found = *Lookup(config, keys);
  return BadValue(found, "one of silu, swiglu, gelu*, relu");
}

bool TiedByDefault(Family family) {
  // PretrainedConfig ties by default; LlamaConfig, MistralConfig,
  // MixtralConfig, Qwen2Config and GPTNeoXConfig do not. An unknown type
  // counts an untied head, the larger (safer) figure.
  return family == Family::kFalcon || family == Family::kBloom || family == Family::kGpt2 ||
         family == Family::kOpt;
}

NormKind DefaultNorm(const HfConfig& config, Family family) {
  switch (family) {
    case Family::kLlama:
      return NormKind::kRmsNorm;
    case Family::kOther:
      return Lookup(config, {"layer_norm_eps", "layer_norm_epsilon"}).has_value()
                 ? NormKind::kLayerNorm
                 : NormKind::kRmsNorm;
    default:
      return NormKind::kLayerNorm;
  }
}

absl::Status ReadBiases(const HfConfig& config, Family family, ModelShape& shape) {
  const bool gpt_style =
      family == Family::kGptNeox || family == Family::kBloom || family == Family::kGpt2;
  BERTH_ASSIGN_OR_RETURN(shape.linear_bias, BoolOr(config, {"bias", "enable_bias", "use_bias"},
                                                   gpt_style || family == Family::kOpt));
  BERTH_ASSIGN_OR_RETURN(shape.qkv_bias, BoolOr(config, {"qkv_bias", "attention_bias"}, false));
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> type, OptionalString(config, {"model_type"}));
  if (absl::AsciiStrToLower(type.value_or("")) == "qwen2") {
    shape.qkv_bias = true;  // Qwen2 always has Q, K, V biases
  }
  return absl::OkStatus();
}

// One norm per block only for Falcon's old architecture, whose parallel
// attention and MLP share it (or a new-architecture Falcon that says
// num_ln_in_parallel_attn = 1). GPT-NeoX's parallel residual has two norms.
absl::StatusOr<bool> ReadSharedNorm(const HfConfig& config, Family family) {
  if (family != Family::kFalcon) return false;
  BERTH_ASSIGN_OR_RETURN(bool parallel, BoolOr(config, {"parallel_attn"}, true));
  BERTH_ASSIGN_OR_RETURN(bool new_arch, FalconNewArchitecture(config));
  if (!parallel) return false;
  if (!new_arch) return true;
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> norms,
                         OptionalInt(config, {"num_ln_in_parallel_attn"}));
  return norms.value_or(2) == 1;
}

absl::StatusOr<int64_t> ReadPositions(const HfConfig& config, Family family) {
  if (family == Family::kGpt2) {
    BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> n,
                           OptionalInt(config, {"n_positions", "max_position_embeddings"}));
    return n.value_or(1024);
  }
  if (family == Family::kOpt) {
    BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> n,
                           OptionalInt(config, {"max_position_embeddings"}));
    return n.value_or(2048) + 2;  // OPT offsets positions by 2
  }
  return 0;
}

absl::Status ReadExperts(const HfConfig& config, ModelShape& shape) {
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> experts,
                         OptionalInt(config, {"num_local_experts", "num_experts"}, 0));
  if (!experts.has_value() || *experts == 0) return absl::OkStatus();
  shape.experts = *experts;
  BERTH_ASSIGN_OR_RETURN(shape.experts_per_token, RequiredInt(config, {"num_experts_per_tok"}));
  return absl::OkStatus();
}

// A head size other than hidden / heads (Mistral-Nemo, Gemma) cannot be
// expressed by ModelShape; refuse rather than miscount.
absl::Status CheckHeadDim(const HfConfig& config, const ModelShape& shape) {
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, OptionalInt(config, {"head_dim"}));
  if (!head_dim.has_value() || shape.hidden % shape.heads != 0 ||
      *head_dim == shape.hidden / shape.heads) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("config.json: \"head_dim\" ", *head_dim, " differs from hidden size / heads (",
                   shape.hidden / shape.heads, "); such models are not supported"));
}

absl::Status ReadCore(const HfConfig& config, ModelShape& shape) {
  BERTH_ASSIGN_OR_RETURN(shape.layers,
                         RequiredInt(config, {"num_hidden_layers", "n_layer", "num_layers"}));
  BERTH_ASSIGN_OR_RETURN(shape.hidden,
                         RequiredInt(config, {"hidden_size", "n_embed", "n_embd", "d_model"}));
  BERTH_ASSIGN_OR_RETURN(shape.heads,
                         RequiredInt(config, {"num_attention_heads", "n_head", "n_heads"}));
  BERTH_ASSIGN_OR_RETURN(shape.vocab, RequiredInt(config, {"vocab_size"}));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelShape> ModelFromHfConfig(const HfConfig& config, absl::string_view name) {
  ModelShape shape;
  shape.name = name.empty() ? "custom" : std::string(name);
  BERTH_ASSIGN_OR_RETURN(const Family family, ReadFamily(config));
  BERTH_RETURN_IF_ERROR(ReadCore(config, shape));
  BERTH_ASSIGN_OR_RETURN(shape.kv_heads, ReadKvHeads(config, family, shape.heads));
  BERTH_ASSIGN_OR_RETURN(shape.ffn, ReadFfn(config, family, shape.hidden));
  BERTH_ASSIGN_OR_RETURN(shape.mlp, ReadMlp(config, family));
  BERTH_ASSIGN_OR_RETURN(shape.tied_embeddings,
                         BoolOr(config, {"tie_word_embeddings"}, TiedByDefault(family)));
  shape.norm = DefaultNorm(config, family);
  BERTH_RETURN_IF_ERROR(ReadBiases(config, family, shape));
  BERTH_ASSIGN_OR_RETURN(shape.parallel_block, ReadSharedNorm(config, family));
  BERTH_ASSIGN_OR_RETURN(shape.learned_positions, ReadPositions(config, family));
  BERTH_RETURN_IF_ERROR(ReadExperts(config, shape));
  BERTH_RETURN_IF_ERROR(CheckHeadDim(config, shape));
  absl::Status valid = ValidateShape(shape);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: ", valid.message()));
  }
  return shape;
}

}  // namespace berth::planner
