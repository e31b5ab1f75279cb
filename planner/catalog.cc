#include "planner/catalog.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace berth::planner {
namespace {

// A Llama-style decoder: SwiGLU, RMSNorm, rotary positions, no biases,
// untied output head unless stated.
ModelShape Llama(std::string name, int64_t layers, int64_t hidden, int64_t heads, int64_t kv_heads,
                 int64_t ffn, int64_t vocab, int64_t declared_params) {
  return ModelShape{.name = std::move(name),
                    .layers = layers,
                    .hidden = hidden,
                    .heads = heads,
                    .kv_heads = kv_heads,
                    .ffn = ffn,
                    .vocab = vocab,
                    .declared_params = declared_params};
}

// A GPT-style decoder: GELU MLP (ReLU for OPT; both have two matrices),
// LayerNorm, biases on every linear layer.
ModelShape Gpt(std::string name, int64_t layers, int64_t hidden, int64_t heads, int64_t ffn,
               int64_t vocab, int64_t declared_params) {
  return ModelShape{.name = std::move(name),
                    .layers = layers,
                    .hidden = hidden,
                    .heads = heads,
                    .kv_heads = heads,
                    .ffn = ffn,
                    .vocab = vocab,
                    .tied_embeddings = true,
                    .mlp = MlpKind::kGelu,
                    .norm = NormKind::kLayerNorm,
                    .linear_bias = true,
                    .declared_params = declared_params};
}

// Falcon: GELU MLP of 4h, LayerNorm, no biases, multi-query (7B) or grouped
// (40B, 180B) attention. HF ties lm_head to the embedding when it loads
// Falcon, but the published counts (7.22B, 41.8B, 180B) and checkpoints
// hold lm_head separately; the catalog follows the published counts, which
// overstate resident memory by V·h (0.3 to 1.0B parameters).
ModelShape Falcon(std::string name, int64_t layers, int64_t hidden, int64_t heads, int64_t kv_heads,
                  bool shared_norm, int64_t declared_params) {
  return ModelShape{.name = std::move(name),
                    .layers = layers,
                    .hidden = hidden,
                    .heads = heads,
                    .kv_heads = kv_heads,
                    .ffn = 4 * hidden,
                    .vocab = 65024,
                    .mlp = MlpKind::kGelu,
                    .norm = NormKind::kLayerNorm,
                    .parallel_block = shared_norm,
                    .declared_params = declared_params};
}

ModelShape Moe(ModelShape shape, int64_t experts, int64_t per_token) {
  shape.experts = experts;
  shape.experts_per_token = per_token;
  return shape;
}

ModelShape Qwen2(std::string name, int64_t layers, int64_t hidden, int64_t heads, int64_t kv_heads,
                 int64_t ffn, int64_t declared_params) {
  ModelShape shape =
      Llama(std::move(name), layers, hidden, heads, kv_heads, ffn, 152064, declared_params);
  shape.qkv_bias = true;
  return shape;
}

// Shapes from each model's config.json. Declared counts are the published
// ones: exact where the model card or paper gives the exact figure,
// otherwise as rounded there ("141B", "41.8B").
std::vector<ModelShape> BuildModels() {
  std::vector<ModelShape> m = {
      Llama("llama-2-7b", 32, 4096, 32, 32, 11008, 32000, 6'738'415'616),
      Llama("llama-2-13b", 40, 5120, 40, 40, 13824, 32000, 13'015'864'320),
      Llama("llama-2-70b", 80, 8192, 64, 8, 28672, 32000, 68'976'648'192),
      Llama("llama-3-8b", 32, 4096, 32, 8, 14336, 128256, 8'030'261'248),
      Llama("llama-3-70b", 80, 8192, 64, 8, 28672, 128256, 70'553'706'496),
      Llama("llama-3.1-8b", 32, 4096, 32, 8, 14336, 128256, 8'030'261'248),
      Llama("llama-3.1-70b", 80, 8192, 64, 8, 28672, 128256, 70'553'706'496),
      Llama("llama-3.1-405b", 126, 16384, 128, 8, 53248, 128256, 405'853'388'800),
      Llama("mistral-7b", 32, 4096, 32, 8, 14336, 32000, 7'241'732'096),
      Moe(Llama("mixtral-8x7b", 32, 4096, 32, 8, 14336, 32000, 46'702'792'704), 8, 2),
      Moe(Llama("mixtral-8x22b", 56, 6144, 48, 8, 16384, 32768, 141'000'000'000), 8, 2),
      Qwen2("qwen2-7b", 28, 3584, 28, 4, 18944, 7'615'616'512),
      Qwen2("qwen2-72b", 80, 8192, 64, 8, 29568, 72'706'203'648),
      // GPT-3 (Brown et al. 2020, table 2.1): learned positions, tied head.
      Gpt("gpt3-175b", 96, 12288, 96, 49152, 50257, 175'000'000'000),
      // BLOOM: ALiBi (no position table). Its embedding LayerNorm (2h =
      // 28,672 parameters) is not modelled.
      Gpt("bloom-176b", 70, 14336, 112, 57344, 250880, 176'247'271'424),
      // OPT: ReLU MLP; 2048 positions plus OPT's offset of 2.
      Gpt("opt-175b", 96, 12288, 96, 49152, 50272, 175'000'000'000),
      Falcon("falcon-7b", 32, 4544, 71, 1, true, 7'220'000'000),
      Falcon("falcon-40b", 60, 8192, 128, 8, false, 41'800'000'000),
      Falcon("falcon-180b", 80, 14848, 232, 8, false, 180'000'000'000),
  };
  for (ModelShape& shape : m) {
    if (shape.name == "gpt3-175b") shape.learned_positions = 2048;
    if (shape.name == "opt-175b") shape.learned_positions = 2050;
  }
  // GPT-NeoX-20B: rotary, biases everywhere, untied head; parallel attention
  // and MLP from two LayerNorms (a two-norm block, see model.cc).
  ModelShape neox = Gpt("gpt-neox-20b", 44, 6144, 64, 24576, 50432, 20'554'567'680);
  neox.tied_embeddings = false;
  m.push_back(std::move(neox));
  std::sort(m.begin(), m.end(),
            [](const ModelShape& a, const ModelShape& b) { return a.name < b.name; });
  return m;
}

const std::vector<ModelShape>& Models() {
  static const auto* const kModels = new std::vector<ModelShape>(BuildModels());
  return *kModels;
}

constexpr double kTera = 1e12;

// Memory is the total nvidia-smi (rocm-smi for AMD) reports; peaks are dense
// bf16 tensor-core figures from the vendors' data sheets, without sparsity.
// Every card but the V100 has bf16; its fp16 peak is the same figure.
std::vector<GpuType> BuildGpus() {
  std::vector<GpuType> g = {
      {"a10-24gb", 23028 * kMiB, 125 * kTera, 600e9},
      {"l4-24gb", 23034 * kMiB, 121 * kTera, 300e9},
      // GeForce: 165.2 TFLOP/s with fp32 accumulation (330 with fp16).
      {"rtx4090-24gb", 24564 * kMiB, 165.2 * kTera, 1008e9},
      // V100 has no bf16 (no bf16 peak): 125 TFLOP/s is its fp16
      // tensor-core peak, and plans on it run in fp16.
      {.name = "v100-32gb",
       .memory_bytes = 32768 * kMiB,
       .peak_bf16_flops = 0,
       .memory_bandwidth_bytes = 900e9,
       .peak_fp16_flops = 125 * kTera,
       .bf16 = false},
      {"a100-40gb", 40960 * kMiB, 312 * kTera, 1555e9},
      {"l40s-48gb", 46068 * kMiB, 362 * kTera, 864e9},
      {"h100-80gb", 81559 * kMiB, 989 * kTera, 3.35e12},  // SXM5
      {"h100-pcie-80gb", 81559 * kMiB, 756 * kTera, 2.0e12},
      {"a100-80gb", 81920 * kMiB, 312 * kTera, 2039e9},  // SXM4
      {"h200-141gb", 143771 * kMiB, 989 * kTera, 4.8e12},
      {"b200-192gb", 183359 * kMiB, 2250 * kTera, 8.0e12},
      // rocm-smi: 205,822,885,888 bytes of VRAM.
      {"mi300x-192gb", 205'822'885'888, 1307.4 * kTera, 5.3e12},
  };
  std::sort(g.begin(), g.end(), [](const GpuType& a, const GpuType& b) {
    if (a.memory_bytes != b.memory_bytes) {
      return a.memory_bytes < b.memory_bytes;
    }
    return a.name < b.name;
  });
  return g;
}

// Lower case without "-", "_", "." or spaces, an "org/" prefix or a "-hf"
// suffix: "meta-llama/Llama-2-7b-hf" and "llama2-7b" both become "llama27b".
// "." stays, so "llama-3.1-8b" and "llama-31-8b" differ.
std::string Compact(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
  absl::string_view view = lower;
  const size_t slash = view.rfind('/');
  if (slash != absl::string_view::npos) view.remove_prefix(slash + 1);
  absl::ConsumeSuffix(&view, "-hf");
  absl::ConsumePrefix(&view, "meta-");
  std::string out;
  for (char c : view) {
    if (c != '-' && c != '_' && c != ' ') out.push_back(c);
  }
  return out;
}

// Extra names, in compact form, beyond each entry's own compact name.
const absl::flat_hash_map<std::string, std::string>& Aliases() {
  static const auto* const kAliases = new absl::flat_hash_map<std::string, std::string>{
      {"gpt3", "gpt3-175b"},
      {"bloom", "bloom-176b"},
      {"gptneox", "gpt-neox-20b"},
      {"neox20b", "gpt-neox-20b"},
      {"mistral7bv0.1", "mistral-7b"},
      {"mixtral8x7bv0.1", "mixtral-8x7b"},
      {"mixtral8x22bv0.1", "mixtral-8x22b"},
      {"h100", "h100-80gb"},
      {"h100sxm", "h100-80gb"},
      {"h100sxm5", "h100-80gb"},
      {"h100sxm580gb", "h100-80gb"},
      {"a100sxm480gb", "a100-80gb"},
      {"a100sxm440gb", "a100-40gb"},
      {"h100pcie", "h100-pcie-80gb"},
      {"a100", "a100-80gb"},
      {"h200", "h200-141gb"},
      {"b200", "b200-192gb"},
      {"mi300x", "mi300x-192gb"},
      {"l40s", "l40s-48gb"},
      {"l4", "l4-24gb"},
      {"a10", "a10-24gb"},
      {"rtx4090", "rtx4090-24gb"},
      {"4090", "rtx4090-24gb"},
      {"v100", "v100-32gb"},
  };
  return *kAliases;
}

// The known name nearest to `key` (a compact name) among `items` and the
// aliases naming them, when it is near enough to be a likely typo: at most
// 2 edits, and fewer than half the characters. Ties go to the smaller name.
template <typename T>
std::string Nearest(const std::vector<T>& items, const std::string& key) {
  std::string best;
  int best_distance = std::min<int>(3, static_cast<int>(key.size() + 1) / 2);
  auto consider = [&](const std::string& candidate, const std::string& name) {
    const int distance = EditDistance(key, candidate);
    if (distance < best_distance || (distance == best_distance && !best.empty() && name < best)) {
      best_distance = distance;
      best = name;
    }
  };
  for (const T& item : items) consider(Compact(item.name), item.name);
  for (const auto& [alias, target] : Aliases()) {
    for (const T& item : items) {
      if (item.name == target) consider(alias, item.name);
    }
  }
  return best;
}

// Finds `name` among `items` by compact name, then by alias.
template <typename T>
absl::StatusOr<T> Find(const std::vector<T>& items, absl::string_view kind,
                       absl::string_view name) {
  std::string key = Compact(name);
  auto alias = Aliases().find(key);
  if (alias != Aliases().end()) key = Compact(alias->second);
  std::vector<std::string> known;
  for (const T& item : items) {
    if (Compact(item.name) == key) return item;
    known.push_back(item.name);
  }
  const std::string nearest = key.empty() ? "" : Nearest(items, key);
  return absl::NotFoundError(
      absl::StrCat("unknown ", kind, " \"", name, "\"; ",
                   nearest.empty() ? "" : absl::StrCat("did you mean ", nearest, "? "),
                   "known: ", absl::StrJoin(known, ", ")));
}

}  // namespace

absl::StatusOr<ModelShape> FindModel(absl::string_view name) {
  return Find(Models(), "model", name);
}

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const ModelShape& shape : Models()) names.push_back(shape.name);
  return names;
}

absl::StatusOr<GpuType> FindGpu(absl::string_view name) {
  return Find(GpuCatalog(), "GPU type", name);
}

const std::vector<GpuType>& GpuCatalog() {
  static const auto* const kGpus = new std::vector<GpuType>(BuildGpus());
  return *kGpus;
}

absl::StatusOr<std::string> ResolveModelName(absl::string_view name) {
  absl::StatusOr<ModelShape> shape = FindModel(name);
  if (!shape.ok()) return shape.status();
  return shape->name;
}

absl::StatusOr<std::string> ResolveGpuName(absl::string_view name) {
  absl::StatusOr<GpuType> gpu = FindGpu(name);
  if (!gpu.ok()) return gpu.status();
  return gpu->name;
}

std::string SuggestModelName(absl::string_view name) {
  const std::string key = Compact(name);
  return key.empty() ? "" : Nearest(Models(), key);
}

std::string SuggestGpuName(absl::string_view name) {
  const std::string key = Compact(name);
  return key.empty() ? "" : Nearest(GpuCatalog(), key);
}

int EditDistance(absl::string_view a, absl::string_view b) {
  // One row of the dynamic programme: row[j] is the distance from the
  // prefix of `a` read so far to b[0, j).
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];  // distance(a[0, i-1), b[0, j-1))
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({substitute, row[j] + 1, row[j - 1] + 1});
    }
  }
  return row[b.size()];
}

}  // namespace berth::planner
