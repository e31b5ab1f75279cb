#include "proto/hf_config_json.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/catalog.h"
#include "planner/hf_config.h"
#include "planner/model.h"

namespace berth::proto {
namespace {

// meta-llama/Llama-2-7b-hf config.json.
constexpr char kLlama2_7b[] = R"json({
  "_name_or_path": "meta-llama/Llama-2-7b-hf",
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 11008,
  "max_position_embeddings": 4096,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 32,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
})json";

// mistralai/Mixtral-8x7B-v0.1 config.json.
constexpr char kMixtral8x7b[] = R"json({
  "architectures": ["MixtralForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 32768,
  "model_type": "mixtral",
  "num_attention_heads": 32,
  "num_experts_per_tok": 2,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "num_local_experts": 8,
  "output_router_logits": false,
  "rms_norm_eps": 1e-05,
  "rope_theta": 1e6,
  "router_aux_loss_coef": 0.02,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.36.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
})json";

// bigscience/bloom config.json (abridged: dropout and token ids left out).
constexpr char kBloom[] = R"json({
  "apply_residual_connection_post_layernorm": false,
  "architectures": ["BloomForCausalLM"],
  "layer_norm_epsilon": 1e-05,
  "model_type": "bloom",
  "n_embed": 14336,
  "n_layer": 70,
  "num_attention_heads": 112,
  "pretraining_tp": 4,
  "slow_but_exact": false,
  "use_cache": true,
  "vocab_size": 250880
})json";

void ExpectCatalogCounts(const planner::ModelShape& shape, const std::string& name) {
  absl::StatusOr<planner::ModelShape> catalog = planner::FindModel(name);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const planner::ParamCounts a = planner::CountParams(shape);
  const planner::ParamCounts b = planner::CountParams(*catalog);
  EXPECT_EQ(a.total, b.total) << name;
  EXPECT_EQ(a.active, b.active) << name;
  EXPECT_EQ(a.layer_tp_replicated, b.layer_tp_replicated) << name;
}

absl::StatusOr<planner::ModelShape> FromText(const char* text, const std::string& name) {
  absl::StatusOr<planner::HfConfig> config = ParseHfConfigJson(text);
  if (!config.ok()) return config.status();
  return planner::ModelFromHfConfig(*config, name);
}

TEST(ParseHfConfigJsonTest, KeepsNumbersBoolsAndStrings) {
  absl::StatusOr<planner::HfConfig> config = ParseHfConfigJson(kLlama2_7b);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(std::get<double>(config->at("hidden_size")), 4096.0);
  EXPECT_EQ(std::get<bool>(config->at("tie_word_embeddings")), false);
  EXPECT_EQ(std::get<std::string>(config->at("model_type")), "llama");
  // Lists and nulls are skipped.
  EXPECT_FALSE(config->contains("architectures"));
  EXPECT_FALSE(config->contains("rope_scaling"));
}

TEST(ParseHfConfigJsonTest, RealConfigsCountAsTheCatalog) {
  absl::StatusOr<planner::ModelShape> llama = FromText(kLlama2_7b, "l");
  ASSERT_TRUE(llama.ok()) << llama.status();
  ExpectCatalogCounts(*llama, "llama-2-7b");
  EXPECT_EQ(planner::CountParams(*llama).total, 6'738'415'616);
  absl::StatusOr<planner::ModelShape> mixtral = FromText(kMixtral8x7b, "m");
  ASSERT_TRUE(mixtral.ok()) << mixtral.status();
  ExpectCatalogCounts(*mixtral, "mixtral-8x7b");
  absl::StatusOr<planner::ModelShape> bloom = FromText(kBloom, "b");
  ASSERT_TRUE(bloom.ok()) << bloom.status();
  ExpectCatalogCounts(*bloom, "bloom-176b");
}

TEST(ParseHfConfigJsonTest, FlattensTextConfig) {
  // A LLaVA-style wrapper: the language model's keys live in text_config.
  constexpr char kLlava[] = R"json({
    "model_type": "llava",
    "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24},
    "text_config": {
      "model_type": "llama",
      "hidden_size": 4096,
      "intermediate_size": 11008,
      "num_attention_heads": 32,
      "num_hidden_layers": 32,
      "vocab_size": 32000,
      "nested": {"deeper": true}
    }
  })json";
  absl::StatusOr<planner::HfConfig> config = ParseHfConfigJson(kLlava);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(std::get<double>(config->at("text_config.hidden_size")), 4096.0);
  EXPECT_EQ(std::get<double>(config->at("vision_config.hidden_size")), 1024.0);
  EXPECT_TRUE(std::get<bool>(config->at("text_config.nested.deeper")));
  absl::StatusOr<planner::ModelShape> shape = planner::ModelFromHfConfig(*config, "llava");
  ASSERT_TRUE(shape.ok()) << shape.status();
  ExpectCatalogCounts(*shape, "llama-2-7b");
}

TEST(ParseHfConfigJsonTest, MalformedJson) {
  for (const char* text : {"{\"hidden_size\": 4096,", "", "[1, 2]", "{\"a\": }", "not json"}) {
    EXPECT_THAT(ParseHfConfigJson(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::StartsWith("config.json: malformed JSON: ")))
        << text;
  }
}

TEST(ParseHfConfigJsonTest, RefusesHugeText) {
  const std::string text = absl::StrCat("{\"pad\": \"", std::string(kMaxHfConfigBytes, 'x'), "\"}");
  EXPECT_THAT(ParseHfConfigJson(text),
              StatusIs(absl::StatusCode::kInvalidArgument, "bytes is more than 196608"));
}

TEST(ParseHfConfigJsonTest, BadValueNamesTheKey) {
  absl::StatusOr<planner::ModelShape> shape = FromText(
      R"json({"model_type": "llama", "num_hidden_layers": 32,
              "hidden_size": -5, "num_attention_heads": 32,
              "intermediate_size": 11008, "vocab_size": 32000})json",
      "x");
  EXPECT_EQ(shape.status().message(),
            "config.json: \"hidden_size\" must be a positive integer, got -5");
}

class HfConfigFileTest : public ::testing::Test {
 protected:
  // Writes `text` to <temp>/<folder>/<file> and returns the path.
  std::string Write(const std::string& folder, const std::string& file, const std::string& text) {
    const std::filesystem::path dir =
        std::filesystem::path(::testing::TempDir()) / "hf_config_json_test" / folder;
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / file;
    std::ofstream(path) << text;
    return path.string();
  }
};

TEST_F(HfConfigFileTest, NamesTheModelAfterItsFolder) {
  const std::string path = Write("my-llama", "config.json", kLlama2_7b);
  absl::StatusOr<planner::ModelShape> shape = ModelFromHfConfigFile(path);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->name, "my-llama");
  ExpectCatalogCounts(*shape, "llama-2-7b");
}

TEST_F(HfConfigFileTest, NamesTheModelAfterAnyOtherFilesStem) {
  const std::string path = Write("models", "mixtral.json", kMixtral8x7b);
  absl::StatusOr<planner::ModelShape> shape = ModelFromHfConfigFile(path);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->name, "mixtral");
  EXPECT_EQ(shape->experts, 8);
}

TEST_F(HfConfigFileTest, Errors) {
  const std::string missing =
      (std::filesystem::path(::testing::TempDir()) / "no-such-config.json").string();
  EXPECT_THAT(ModelFromHfConfigFile(missing),
              StatusIs(absl::StatusCode::kNotFound, missing + ": no such file"));

  const std::string bad = Write("bad", "config.json", "{\"hidden_size\":");
  absl::StatusOr<planner::ModelShape> shape = ModelFromHfConfigFile(bad);
  EXPECT_THAT(shape, StatusIs(absl::StatusCode::kInvalidArgument, bad));
  EXPECT_THAT(shape, StatusIs(absl::StatusCode::kInvalidArgument, "malformed JSON"));

  const std::string big = Write("big", "config.json", std::string(kMaxHfConfigBytes + 1, ' '));
  EXPECT_THAT(ModelFromHfConfigFile(big),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat(big, ": larger than ", kMaxHfConfigBytes,
                                    " bytes; not a config.json")));

  const std::string dir =
      std::filesystem::path(Write("dir", "config.json", "{}")).parent_path().string();
  EXPECT_THAT(ModelFromHfConfigFile(dir),
              StatusIs(absl::StatusCode::kInvalidArgument, dir + ": not a file"));
}

// The samples under tests/data/hf/, found from this file's path.
TEST(HfConfigSamplesTest, RepositorySamplesCountAsTheCatalog) {
  const std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path();
  const std::filesystem::path data = root / "tests" / "data" / "hf";
  if (!std::filesystem::exists(data)) {
    GTEST_SKIP() << "no " << data << " (built outside the source tree)";
  }
  for (const char* name : {"llama-2-7b", "mixtral-8x7b"}) {
    absl::StatusOr<planner::ModelShape> shape =
        ModelFromHfConfigFile((data / name / "config.json").string());
    ASSERT_TRUE(shape.ok()) << shape.status();
    EXPECT_EQ(shape->name, name);
    ExpectCatalogCounts(*shape, name);
  }
  // Falcon-40B's config.json has no tie_word_embeddings, so FalconConfig's
  // default ties lm_head; the catalog counts the published 41.8B with
  // lm_head separate: the difference is V·h = 65024·8192 = 532,676,608.
  absl::StatusOr<planner::ModelShape> falcon =
      ModelFromHfConfigFile((data / "falcon-40b" / "config.json").string());
  ASSERT_TRUE(falcon.ok()) << falcon.status();
  EXPECT_EQ(falcon->kv_heads, 8);
  EXPECT_EQ(planner::CountParams(*planner::FindModel("falcon-40b")).total -
                planner::CountParams(*falcon).total,
            532'676'608);
}

}  // namespace
}  // namespace berth::proto
