#include "planner/hf_config.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"
#include "planner/model.h"

namespace berth::planner {
namespace {

// The fields of config.json that ModelFromHfConfig reads, as the JSON
// parser would hand them over (numbers as doubles).
HfConfig Llama2_7b() {
  return {{"model_type", std::string("llama")},
          {"num_hidden_layers", 32.0},
          {"hidden_size", 4096.0},
          {"num_attention_heads", 32.0},
          {"num_key_value_heads", 32.0},
          {"intermediate_size", 11008.0},
          {"vocab_size", 32000.0},
          {"hidden_act", std::string("silu")},
          {"tie_word_embeddings", false},
          {"rms_norm_eps", 1e-5}};
}

// Expects the shape read from `config` to count exactly as catalog `name`.
void ExpectSameCounts(const HfConfig& config, const std::string& name) {
  absl::StatusOr<ModelShape> read = ModelFromHfConfig(config, name);
  ASSERT_TRUE(read.ok()) << read.status();
  absl::StatusOr<ModelShape> catalog = FindModel(name);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const ParamCounts a = CountParams(*read);
  const ParamCounts b = CountParams(*catalog);
  EXPECT_EQ(a.total, b.total) << name;
  EXPECT_EQ(a.active, b.active) << name;
  EXPECT_EQ(a.layer_tp_split, b.layer_tp_split) << name;
  EXPECT_EQ(a.layer_tp_replicated, b.layer_tp_replicated) << name;
}

TEST(HfConfigTest, Llama2_7b) {
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(Llama2_7b(), "mine");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->name, "mine");
  EXPECT_EQ(shape->layers, 32);
  EXPECT_EQ(shape->mlp, MlpKind::kSwiGlu);
  EXPECT_EQ(shape->norm, NormKind::kRmsNorm);
  // 6,738,415,616 as in model_test.cc.
  EXPECT_EQ(CountParams(*shape).total, 6'738'415'616);
  ExpectSameCounts(Llama2_7b(), "llama-2-7b");
}

TEST(HfConfigTest, LlamaDefaultsKvHeadsToHeads) {
  HfConfig config = Llama2_7b();
  config.erase("num_key_value_heads");
  config.erase("tie_word_embeddings");  // LlamaConfig default: untied
  config.erase("hidden_act");           // LlamaConfig default: silu
  ExpectSameCounts(config, "llama-2-7b");
}

TEST(HfConfigTest, Mixtral) {
  const HfConfig config = {{"model_type", std::string("mixtral")},
                           {"num_hidden_layers", 32.0},
                           {"hidden_size", 4096.0},
                           {"num_attention_heads", 32.0},
                           {"num_key_value_heads", 8.0},
                           {"intermediate_size", 14336.0},
                           {"vocab_size", 32000.0},
                           {"num_local_experts", 8.0},
                           {"num_experts_per_tok", 2.0},
                           {"hidden_act", std::string("silu")},
                           {"tie_word_embeddings", false}};
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "m");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->experts, 8);
  EXPECT_EQ(shape->experts_per_token, 2);
  // 46,702,792,704 total, 12,879,925,248 active.
  EXPECT_EQ(CountParams(*shape).total, 46'702'792'704);
  EXPECT_EQ(CountParams(*shape).active, 12'879'925'248);
  ExpectSameCounts(config, "mixtral-8x7b");
}

TEST(HfConfigTest, MoeWithoutTopKIsAnError) {
  HfConfig config = Llama2_7b();
  config["num_local_experts"] = 8.0;
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "m");
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(shape.status().message(), "\"num_experts_per_tok\""));
}

// Falcon-40B's config.json: the new decoder architecture, 8 KV heads, no
// intermediate size (4·8192 = 32768), no tie_word_embeddings key.
HfConfig Falcon40b() {
  return {{"model_type", std::string("falcon")},
          {"hidden_size", 8192.0},
          {"num_attention_heads", 128.0},
          {"num_hidden_layers", 60.0},
          {"num_kv_heads", 8.0},
          {"new_decoder_architecture", true},
          {"parallel_attn", true},
          {"bias", false},
          {"vocab_size", 65024.0}};
}

TEST(HfConfigTest, Falcon40b) {
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(Falcon40b(), "f");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->kv_heads, 8);
  EXPECT_EQ(shape->ffn, 32768);
  EXPECT_EQ(shape->mlp, MlpKind::kGelu);
  EXPECT_EQ(shape->norm, NormKind::kLayerNorm);
  EXPECT_FALSE(shape->parallel_block);  // ln_attn and ln_mlp: two norms
  // FalconConfig ties lm_head by default; the catalog counts the published
  // 41.8B with lm_head separate, so they differ by exactly V·h =
  // 65024·8192 = 532,676,608.
  EXPECT_TRUE(shape->tied_embeddings);
  absl::StatusOr<ModelShape> catalog = FindModel("falcon-40b");
  ASSERT_TRUE(catalog.ok());
  EXPECT_EQ(CountParams(*catalog).total - CountParams(*shape).total, 532'676'608);
  HfConfig untied = Falcon40b();
  untied["tie_word_embeddings"] = false;
  ExpectSameCounts(untied, "falcon-40b");
}

TEST(HfConfigTest, Falcon7bIsMultiQueryWithOneNorm) {
  const HfConfig config = {{"model_type", std::string("falcon")},
                           {"hidden_size", 4544.0},
                           {"num_attention_heads", 71.0},
                           {"num_hidden_layers", 32.0},
                           {"multi_query", true},
                           {"new_decoder_architecture", false},
                           {"parallel_attn", true},
                           {"tie_word_embeddings", false},
                           {"vocab_size", 65024.0}};
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "f");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->kv_heads, 1);
  EXPECT_TRUE(shape->parallel_block);
  ExpectSameCounts(config, "falcon-7b");
}

TEST(HfConfigTest, OldRefinedWebKeys) {
  // falcon-40b's original RW config: model_type "RefinedWeb", n_head,
  // n_head_kv, n_layer.
  const HfConfig config = {{"model_type", std::string("RefinedWeb")},
                           {"hidden_size", 8192.0},
                           {"n_head", 128.0},
                           {"n_head_kv", 8.0},
                           {"n_layer", 60.0},
                           {"parallel_attn", true},
                           {"bias", false},
                           {"tie_word_embeddings", false},
                           {"vocab_size", 65024.0}};
  ExpectSameCounts(config, "falcon-40b");
}

TEST(HfConfigTest, Bloom) {
  // BLOOM names its sizes n_embed, n_layer, n_head and has no FFN or
  // activation keys: 4·14336 = 57344, GELU, biases, tied head.
  const HfConfig config = {{"model_type", std::string("bloom")},
                           {"n_embed", 14336.0},
                           {"n_layer", 70.0},
                           {"n_head", 112.0},
                           {"vocab_size", 250880.0},
                           {"layer_norm_epsilon", 1e-5}};
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "b");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->ffn, 57344);
  EXPECT_TRUE(shape->linear_bias);
  EXPECT_TRUE(shape->tied_embeddings);
  ExpectSameCounts(config, "bloom-176b");
}

TEST(HfConfigTest, GptNeox) {
  const HfConfig config = {{"model_type", std::string("gpt_neox")},
                           {"hidden_size", 6144.0},
                           {"num_attention_heads", 64.0},
                           {"num_hidden_layers", 44.0},
                           {"intermediate_size", 24576.0},
                           {"hidden_act", std::string("gelu_fast")},
                           {"use_parallel_residual", true},
                           {"tie_word_embeddings", false},
                           {"vocab_size", 50432.0}};
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "n");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->mlp, MlpKind::kGelu);
  // 20,554,567,680, the GPT-NeoX-20B paper's count.
  EXPECT_EQ(CountParams(*shape).total, 20'554'567'680);
  ExpectSameCounts(config, "gpt-neox-20b");
}

TEST(HfConfigTest, OptHasLearnedPositionsWithOffset) {
  const HfConfig config = {{"model_type", std::string("opt")},
                           {"hidden_size", 12288.0},
                           {"num_attention_heads", 96.0},
                           {"num_hidden_layers", 96.0},
                           {"ffn_dim", 49152.0},
                           {"activation_function", std::string("relu")},
                           {"max_position_embeddings", 2048.0},
                           {"vocab_size", 50272.0}};
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "o");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->learned_positions, 2050);  // 2048 + OPT's offset 2
  ExpectSameCounts(config, "opt-175b");
}

TEST(HfConfigTest, Gpt2StyleKeys) {
  // GPT-2 small: 12 layers of 768, n_inner absent (4·768 = 3072), 1024
  // positions, tied head. Block: 4·768² + 2·768·3072 + biases (3·768 + 768
  // + 3072 + 768) + 2 LayerNorms 4·768 = 7,087,872; embedding (50257 +
  // 1024)·768 = 39,383,808; final norm 1,536. Total 12·7,087,872 +
  // 39,383,808 + 1,536 = 124,439,808, GPT-2's published 124M.
  const HfConfig config = {{"model_type", std::string("gpt2")},
                           {"n_embd", 768.0},
                           {"n_layer", 12.0},
                           {"n_head", 12.0},
                           {"n_positions", 1024.0},
                           {"activation_function", std::string("gelu_new")},
                           {"vocab_size", 50257.0}};
  absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "gpt2");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(CountParams(*shape).total, 124'439'808);
}

TEST(HfConfigTest, TextConfigPrefix) {
  HfConfig config;
  for (const auto& [key, value] : Llama2_7b()) {
    config["text_config." + key] = value;
  }
  config["model_type"] = std::string("llava");
  ExpectSameCounts(config, "llama-2-7b");
}

TEST(HfConfigTest, MissingKeysAreNamed) {
  for (const char* key : {"num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size",
                          "intermediate_size"}) {
    HfConfig config = Llama2_7b();
    config.erase(key);
    absl::StatusOr<ModelShape> shape = ModelFromHfConfig(config, "m");
    EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(shape.status().message(), absl::StrCat("\"", key, "\"")))
        << shape.status();
  }
}

TEST(HfConfigTest, BadValuesAreNamed) {
  HfConfig config = Llama2_7b();
  config["hidden_size"] = -5.0;
  EXPECT_EQ(ModelFromHfConfig(config, "m").status().message(),
            "config.json: \"hidden_size\" must be a positive integer, got -5");
  config["hidden_size"] = 4096.5;
  EXPECT_EQ(ModelFromHfConfig(config, "m").status().message(),
            "config.json: \"hidden_size\" must be a positive integer, got "
            "4096.5");
  config["hidden_size"] = std::string("4096");
  EXPECT_TRUE(absl::StrContains(ModelFromHfConfig(config, "m").status().message(), "got \"4096\""));
  config = Llama2_7b();
  config["tie_word_embeddings"] = 1.0;
  EXPECT_TRUE(absl::StrContains(ModelFromHfConfig(config, "m").status().message(),
                                "\"tie_word_embeddings\" must be true or false"));
  config = Llama2_7b();
  config["hidden_act"] = std::string("tanh");
  EXPECT_TRUE(
      absl::StrContains(ModelFromHfConfig(config, "m").status().message(), "\"hidden_act\""));
}

TEST(HfConfigTest, ShapeIsValidated) {
  HfConfig config = Llama2_7b();
  config["num_attention_heads"] = 48.0;
  EXPECT_EQ(ModelFromHfConfig(config, "m").status().message(),
            "config.json: hidden: 4096 is not divisible by heads (48)");
  config = Llama2_7b();
  config["head_dim"] = 64.0;  // 4096 / 32 = 128: not expressible
  EXPECT_TRUE(absl::StrContains(ModelFromHfConfig(config, "m").status().message(), "\"head_dim\""));
}

}  // namespace
}  // namespace berth::planner
