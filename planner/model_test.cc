#include "planner/model.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"

namespace berth::planner {
namespace {

ModelShape Llama2_7b() {
  return ModelShape{.name = "llama-2-7b",
                    .layers = 32,
                    .hidden = 4096,
                    .heads = 32,
                    .kv_heads = 32,
                    .ffn = 11008,
                    .vocab = 32000};
}

// |derived - published| / published <= 1%.
void ExpectWithinOnePercent(int64_t derived, double published, const std::string& what) {
  EXPECT_LE(std::abs(static_cast<double>(derived) - published), 0.01 * published)
      << what << ": derived " << derived << ", published " << published;
}

TEST(CountParamsTest, Llama2_7bPartByPart) {
  const ParamCounts c = CountParams(Llama2_7b());
  // h = 4096, d = 4096 / 32 = 128, k·d = 32·128 = 4096.
  EXPECT_EQ(c.head_dim, 128);
  // Attention: Q + O = 2·4096² = 33,554,432; K + V = 2·4096·4096 =
  // 33,554,432; together 67,108,864.
  // SwiGLU MLP: 3·4096·11008 = 135,266,304.
  // Split by TP: 67,108,864 + 135,266,304 = 202,375,168.
  EXPECT_EQ(c.layer_tp_split, 202'375'168);
  // Two RMSNorms: 2·4096 = 8,192, replicated by TP.
  EXPECT_EQ(c.layer_tp_replicated, 8'192);
  // Block: 202,375,168 + 8,192 = 202,383,360.
  EXPECT_EQ(c.layer_total, 202'383'360);
  EXPECT_EQ(c.layer_active, c.layer_total);
  // Embedding 32000·4096 = 131,072,000; untied head the same.
  EXPECT_EQ(c.embedding, 131'072'000);
  EXPECT_EQ(c.output_head, 131'072'000);
  EXPECT_EQ(c.final_norm, 4'096);
  // 32·202,383,360 + 2·131,072,000 + 4,096 = 6,476,267,520 + 262,144,000
  // + 4,096 = 6,738,415,616, the published safetensors count.
  EXPECT_EQ(c.total, 6'738'415'616);
  EXPECT_EQ(c.active, c.total);
}

TEST(CountParamsTest, TiedEmbeddingsDropTheHead) {
  ModelShape shape = Llama2_7b();
  shape.tied_embeddings = true;
  const ParamCounts c = CountParams(shape);
  EXPECT_EQ(c.output_head, 0);
  // 6,738,415,616 - 131,072,000 = 6,607,343,616.
  EXPECT_EQ(c.total, 6'607'343'616);
}

TEST(CountParamsTest, GqaShrinksKeyAndValue) {
  ModelShape shape = Llama2_7b();
  shape.kv_heads = 8;
  // K + V = 2·4096·(8·128) = 8,388,608 instead of 33,554,432.
  EXPECT_EQ(CountParams(Llama2_7b()).layer_tp_split - CountParams(shape).layer_tp_split,
            33'554'432 - 8'388'608);
}

TEST(CountParamsTest, BiasesSplitAndReplicated) {
  // A tiny GELU model with biases everywhere: h 8, 2 heads, f 32, V 10.
  ModelShape shape{.name = "tiny",
                   .layers = 1,
                   .hidden = 8,
                   .heads = 2,
                   .kv_heads = 2,
                   .ffn = 32,
                   .vocab = 10,
                   .tied_embeddings = true,
                   .mlp = MlpKind::kGelu,
                   .norm = NormKind::kLayerNorm,
                   .linear_bias = true,
                   .learned_positions = 4};
  const ParamCounts c = CountParams(shape);
  // Split: 4·8² = 256 attention + 2·8·32 = 512 MLP + QKV biases 24 + MLP
  // up bias 32 = 824.
  EXPECT_EQ(c.layer_tp_split, 824);
  // Replicated: O bias 8 + down bias 8 + two LayerNorms 2·16 = 48.
  EXPECT_EQ(c.layer_tp_replicated, 48);
  // Embedding (10 + 4)·8 = 112; final LayerNorm 16.
  EXPECT_EQ(c.embedding, 112);
  EXPECT_EQ(c.total, 824 + 48 + 112 + 16);
}

TEST(CountParamsTest, QkvBiasOnlyOnQkv) {
  ModelShape shape = Llama2_7b();
  shape.qkv_bias = true;
  // Q, K, V biases: 3·4096 = 12,288, all split by TP.
  EXPECT_EQ(CountParams(shape).layer_tp_split, 202'375'168 + 12'288);
  EXPECT_EQ(CountParams(shape).layer_tp_replicated, 8'192);
}

TEST(CountParamsTest, SharedNormInParallelBlock) {
  ModelShape shape = Llama2_7b();
  shape.parallel_block = true;
  EXPECT_EQ(CountParams(shape).layer_tp_replicated, 4'096);
}

TEST(CountParamsTest, Mixtral8x7bTotalAndActive) {
  absl::StatusOr<ModelShape> shape = FindModel("mixtral-8x7b");
  ASSERT_TRUE(shape.ok()) << shape.status();
  const ParamCounts c = CountParams(*shape);
  // Attention 2·4096² + 2·4096·1024 = 41,943,040; one expert 3·4096·14336 =
  // 176,160,768; router 4096·8 = 32,768; norms 8,192.
  // Block: 41,943,040 + 8·176,160,768 + 32,768 + 8,192 = 1,451,270,144.
  EXPECT_EQ(c.layer_total, 1'451'270'144);
  // Active: 6 experts fewer: 1,451,270,144 - 6·176,160,768 = 394,305,536.
  EXPECT_EQ(c.layer_active, 394'305'536);
  ExpectWithinOnePercent(c.total, 46.7e9, "mixtral total");
  ExpectWithinOnePercent(c.active, 12.9e9, "mixtral active");
}

struct Published {
  const char* name;
  double params;
};

TEST(CountParamsTest, CatalogMatchesPublishedCounts) {
  const Published published[] = {
      {"llama-2-7b", 6.74e9},  {"llama-2-13b", 13.0e9},   {"llama-2-70b", 69.0e9},
      {"llama-3-8b", 8.03e9},  {"llama-3-70b", 70.6e9},   {"llama-3.1-405b", 405.9e9},
      {"mistral-7b", 7.24e9},  {"mixtral-8x7b", 46.7e9},  {"mixtral-8x22b", 141e9},
      {"qwen2-7b", 7.62e9},    {"qwen2-72b", 72.7e9},     {"gpt3-175b", 175e9},
      {"bloom-176b", 176.2e9}, {"gpt-neox-20b", 20.55e9}, {"falcon-7b", 7.22e9},
      {"falcon-40b", 41.8e9},  {"falcon-180b", 179e9},    {"opt-175b", 175e9},
  };
  for (const Published& p : published) {
    absl::StatusOr<ModelShape> shape = FindModel(p.name);
    ASSERT_TRUE(shape.ok()) << shape.status();
    ExpectWithinOnePercent(CountParams(*shape).total, p.params, p.name);
  }
}

TEST(CountParamsTest, SplitPlusReplicatedIsTheBlock) {
  for (const std::string& name : ModelNames()) {
    const ParamCounts c = CountParams(*FindModel(name));
    EXPECT_EQ(c.layer_tp_split + c.layer_tp_replicated, c.layer_total) << name;
    EXPECT_LE(c.active, c.total) << name;
  }
}

TEST(ShapeFromNumbersTest, SolvesLlama2FfnFromParams) {
  // Everything but the MLP: 32·(67,108,864 + 8,192) + 262,144,000 + 4,096
  // = 2,409,893,888. MLP: 6.74e9 - 2,409,893,888 = 4,330,106,112, over
  // 3·4096·32 = 393,216 per unit of f: 11,012.03, nearest multiple of 256
  // is 11,008 (43·256).
  absl::StatusOr<ModelShape> shape = ShapeFromNumbers(6'740'000'000, 32, 4096, 32, 0, 0, 0);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->ffn, 11008);
  EXPECT_EQ(shape->kv_heads, 32);
  EXPECT_EQ(shape->vocab, 32000);
  EXPECT_EQ(shape->declared_params, 6'740'000'000);
  EXPECT_EQ(CountParams(*shape).total, 6'738'415'616);
}

TEST(ShapeFromNumbersTest, SolvesGqaFfn) {
  // Llama-3-8B from 8.03e9 with k = 8 and V = 128256 gives f = 14336.
  absl::StatusOr<ModelShape> shape = ShapeFromNumbers(8'030'000'000, 32, 4096, 32, 8, 0, 128256);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->ffn, 14336);
}

TEST(ShapeFromNumbersTest, KeepsAGivenFfn) {
  absl::StatusOr<ModelShape> shape = ShapeFromNumbers(0, 32, 4096, 32, 8, 14336, 128256);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->ffn, 14336);
  EXPECT_EQ(CountParams(*shape).total, 8'030'261'248);
}

TEST(ShapeFromNumbersTest, Errors) {
  absl::StatusOr<ModelShape> none = ShapeFromNumbers(0, 32, 4096, 32, 0, 0, 0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(none.status().message(), "ffn"));
  // 32 layers of 4096 already hold 2.4B parameters without an MLP.
  absl::StatusOr<ModelShape> small = ShapeFromNumbers(1'000'000'000, 32, 4096, 32, 0, 0, 0);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(small.status().message(), "params"));
  absl::StatusOr<ModelShape> heads = ShapeFromNumbers(7'000'000'000, 32, 4000, 48, 0, 0, 0);
  EXPECT_EQ(heads.status().message(), "hidden: 4000 is not divisible by heads (48)");
  EXPECT_FALSE(ShapeFromNumbers(-1, 32, 4096, 32, 0, 11008, 0).ok());
}

// Issue 17: explicit shapes assumed a gated (SwiGLU) MLP, so GPT-style
// models got ~35% too many parameters unless params was given. A plain MLP
// without ffn or params gets Megatron's ffn = 4h and two matrices. GPT-3
// 175B (L 96, h 12288, a 96, V 50257): per layer 4h² attention + 8h² MLP =
// 12h² = 1,811,939,328, plus 2h of norms; × 96 = 173.95e9, plus the
// embedding and the untied head 2 · 50257 · 12288 = 1.235e9: 175.18e9,
// within 1% of 175e9. Read as gated, the same f = 4h makes three matrices,
// 16h² per layer: 233e9, a third too many.
TEST(ShapeFromNumbersTest, PlainMlpGpt3From175BShape) {
  absl::StatusOr<ModelShape> shape = ShapeFromNumbers(ShapeNumbers{
      .layers = 96, .hidden = 12288, .heads = 96, .vocab = 50257, .mlp = MlpKind::kGelu});
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->mlp, MlpKind::kGelu);
  EXPECT_EQ(shape->ffn, 4 * 12288);
  const double params = static_cast<double>(CountParams(*shape).total);
  EXPECT_NEAR(params / 175e9, 1.0, 0.01);
  EXPECT_EQ(CountParams(*shape).total,
            96 * (12 * int64_t{12288} * 12288 + 2 * 12288) + 2 * int64_t{50257} * 12288 + 12288);
  // The same numbers read as a gated MLP with f = 4h: 16h² per layer.
  absl::StatusOr<ModelShape> gated = ShapeFromNumbers(
      ShapeNumbers{.layers = 96, .hidden = 12288, .heads = 96, .ffn = 4 * 12288, .vocab = 50257});
  ASSERT_TRUE(gated.ok());
  EXPECT_GT(static_cast<double>(CountParams(*gated).total) / 175e9, 1.3);
}

// A plain MLP's f solved from params uses 2·h·L parameters per unit of f.
// GPT-3 from 175e9: all but the MLP is 96 · (4h² + 2h) + 2Vh + h = 59.22e9;
// (175e9 - 59.22e9) / (2 · 12288 · 96) = 49,074, nearest multiple of 256 is
// 49,152 = 4h. Read as gated (3·h·L per unit) it would be 32,716 → 32,768.
TEST(ShapeFromNumbersTest, PlainMlpSolvesFfnWithTwoMatrices) {
  absl::StatusOr<ModelShape> shape = ShapeFromNumbers(ShapeNumbers{.params = 175'000'000'000,
                                                                   .layers = 96,
                                                                   .hidden = 12288,
                                                                   .heads = 96,
                                                                   .vocab = 50257,
                                                                   .mlp = MlpKind::kGelu});
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->ffn, 49152);
  absl::StatusOr<ModelShape> gated = ShapeFromNumbers(175'000'000'000, 96, 12288, 96, 0, 0, 50257);
  ASSERT_TRUE(gated.ok());
  EXPECT_EQ(gated->ffn, 32768);
}

TEST(MlpKindTest, ParsesGatedAndPlain) {
  EXPECT_EQ(ParseMlpKind("gated").value(), MlpKind::kSwiGlu);
  EXPECT_EQ(ParseMlpKind("plain").value(), MlpKind::kGelu);
  EXPECT_EQ(MlpKindName(MlpKind::kSwiGlu), "gated");
  EXPECT_EQ(MlpKindName(MlpKind::kGelu), "plain");
  absl::StatusOr<MlpKind> bad = ParseMlpKind("moe");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "mlp:"));
  // Gated still needs ffn or params.
  EXPECT_FALSE(ShapeFromNumbers(ShapeNumbers{.layers = 32, .hidden = 4096, .heads = 32}).ok());
}

// Checks that `shape` fails validation with a message naming `field`.
void ExpectInvalid(const ModelShape& shape, absl::string_view field) {
  const absl::Status status = ValidateShape(shape);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_TRUE(absl::StartsWith(status.message(), absl::StrCat(field, ":"))) << status.message();
}

TEST(ValidateShapeTest, AcceptsLlama) { EXPECT_TRUE(ValidateShape(Llama2_7b()).ok()); }

TEST(ValidateShapeTest, NamesTheBadField) {
  ModelShape s = Llama2_7b();
  s.layers = 0;
  ExpectInvalid(s, "layers");
  s = Llama2_7b();
  s.hidden = -4096;
  ExpectInvalid(s, "hidden");
  s = Llama2_7b();
  s.heads = 48;
  ExpectInvalid(s, "hidden");  // 4096 % 48 != 0
  s = Llama2_7b();
  s.kv_heads = 5;
  ExpectInvalid(s, "heads");  // 32 % 5 != 0
  s = Llama2_7b();
  s.kv_heads = 64;
  ExpectInvalid(s, "kv_heads");
  s = Llama2_7b();
  s.ffn = 0;
  ExpectInvalid(s, "ffn");
  s = Llama2_7b();
  s.vocab = 20'000'000;
  ExpectInvalid(s, "vocab");
  s = Llama2_7b();
  s.layers = 10'001;
  ExpectInvalid(s, "layers");
  s = Llama2_7b();
  s.experts_per_token = 2;
  ExpectInvalid(s, "experts_per_token");  // dense model
  s.experts = 8;
  s.experts_per_token = 9;
  ExpectInvalid(s, "experts_per_token");
  s = Llama2_7b();
  s.learned_positions = -1;
  ExpectInvalid(s, "learned_positions");
}

TEST(ValidateShapeTest, RefusesCountsThatWouldOverflow) {
  // Each field within its limit, but 10^4 layers × 10^5 experts ×
  // 3·10^6·10^7 ≈ 3·10^22 parameters, past int64.
  ModelShape s{.name = "huge",
               .layers = 10'000,
               .hidden = 1'000'000,
               .heads = 1'000,
               .kv_heads = 1'000,
               .ffn = 10'000'000,
               .vocab = 32'000,
               .experts = 100'000,
               .experts_per_token = 2};
  ExpectInvalid(s, "model");
}

}  // namespace
}  // namespace berth::planner
