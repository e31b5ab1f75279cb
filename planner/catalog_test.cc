#include "planner/catalog.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "planner/gpu.h"
#include "planner/model.h"

namespace berth::planner {
namespace {

TEST(ModelCatalogTest, EveryModelValidatesAndMatchesItsDeclaredCount) {
  const std::vector<std::string> names = ModelNames();
  EXPECT_GE(names.size(), 20u);
  for (const std::string& name : names) {
    absl::StatusOr<ModelShape> shape = FindModel(name);
    ASSERT_TRUE(shape.ok()) << name << ": " << shape.status();
    EXPECT_EQ(shape->name, name);
    EXPECT_TRUE(ValidateShape(*shape).ok()) << name;
    ASSERT_GT(shape->declared_params, 0) << name;
    const double derived = static_cast<double>(CountParams(*shape).total);
    const double declared = static_cast<double>(shape->declared_params);
    EXPECT_LE(std::abs(derived - declared), 0.01 * declared) << name;
  }
}

TEST(ModelCatalogTest, NamesAreSortedAndUnique) {
  const std::vector<std::string> names = ModelNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  for (const char* expected : {"llama-2-7b", "llama-3.1-405b", "mixtral-8x7b", "qwen2-72b",
                               "gpt3-175b", "bloom-176b", "falcon-180b", "gpt-neox-20b"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
}

TEST(ModelCatalogTest, ShapesFromConfigJson) {
  absl::StatusOr<ModelShape> llama = FindModel("llama-2-70b");
  ASSERT_TRUE(llama.ok());
  EXPECT_EQ(llama->layers, 80);
  EXPECT_EQ(llama->kv_heads, 8);  // GQA: 64 query heads share 8 KV heads
  EXPECT_EQ(llama->ffn, 28672);
  EXPECT_FALSE(llama->tied_embeddings);
  absl::StatusOr<ModelShape> mixtral = FindModel("mixtral-8x7b");
  ASSERT_TRUE(mixtral.ok());
  EXPECT_EQ(mixtral->experts, 8);
  EXPECT_EQ(mixtral->experts_per_token, 2);
  absl::StatusOr<ModelShape> gpt3 = FindModel("gpt3-175b");
  ASSERT_TRUE(gpt3.ok());
  EXPECT_EQ(gpt3->learned_positions, 2048);
  EXPECT_EQ(gpt3->mlp, MlpKind::kGelu);
  EXPECT_TRUE(gpt3->linear_bias);
  absl::StatusOr<ModelShape> falcon = FindModel("falcon-7b");
  ASSERT_TRUE(falcon.ok());
  EXPECT_EQ(falcon->kv_heads, 1);  // multi-query
  EXPECT_TRUE(falcon->parallel_block);
  absl::StatusOr<ModelShape> qwen = FindModel("qwen2-7b");
  ASSERT_TRUE(qwen.ok());
  EXPECT_TRUE(qwen->qkv_bias);
  EXPECT_FALSE(qwen->linear_bias);
}

TEST(ModelCatalogTest, LookupIgnoresCaseAndAcceptsAliases) {
  for (const char* name :
       {"LLAMA-2-7B", "llama2-7b", "Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf", "llama_2_7b"}) {
    absl::StatusOr<ModelShape> shape = FindModel(name);
    ASSERT_TRUE(shape.ok()) << name << ": " << shape.status();
    EXPECT_EQ(shape->name, "llama-2-7b") << name;
  }
  EXPECT_EQ(FindModel("Meta-Llama-3.1-8B")->name, "llama-3.1-8b");
  EXPECT_EQ(FindModel("llama-3-8b")->name, "llama-3-8b");
  EXPECT_EQ(FindModel("mistralai/Mixtral-8x7B-v0.1")->name, "mixtral-8x7b");
  EXPECT_EQ(FindModel("GPT3")->name, "gpt3-175b");
}

TEST(ModelCatalogTest, UnknownModelListsKnownNames) {
  absl::StatusOr<ModelShape> shape = FindModel("llama-9-1b");
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(shape.status().message(), "llama-9-1b"));
  EXPECT_TRUE(absl::StrContains(shape.status().message(), "llama-2-7b"));
  EXPECT_TRUE(absl::StrContains(shape.status().message(), "mixtral-8x22b"));
  EXPECT_EQ(FindModel("").status().code(), absl::StatusCode::kNotFound);
}

TEST(GpuCatalogTest, SortedByMemoryThenName) {
  const std::vector<GpuType>& gpus = GpuCatalog();
  ASSERT_GE(gpus.size(), 12u);
  for (size_t i = 1; i < gpus.size(); ++i) {
    const GpuType& a = gpus[i - 1];
    const GpuType& b = gpus[i];
    EXPECT_TRUE(a.memory_bytes < b.memory_bytes ||
                (a.memory_bytes == b.memory_bytes && a.name < b.name))
        << a.name << " before " << b.name;
  }
  EXPECT_EQ(gpus.front().name, "a10-24gb");
  EXPECT_EQ(gpus.back().name, "mi300x-192gb");
}

TEST(GpuCatalogTest, EveryGpuHasFiguresAndIsFoundByName) {
  for (const GpuType& gpu : GpuCatalog()) {
    EXPECT_GT(gpu.memory_bytes, 16 * kGiB) << gpu.name;
    EXPECT_GT(Peak16BitFlops(gpu), 1e14) << gpu.name;
    EXPECT_GT(gpu.memory_bandwidth_bytes, 1e11) << gpu.name;
    absl::StatusOr<GpuType> found = FindGpu(gpu.name);
    ASSERT_TRUE(found.ok()) << gpu.name;
    EXPECT_EQ(found->name, gpu.name);
  }
}

TEST(GpuCatalogTest, Figures) {
  absl::StatusOr<GpuType> h100 = FindGpu("H100");
  ASSERT_TRUE(h100.ok()) << h100.status();
  EXPECT_EQ(h100->name, "h100-80gb");
  // nvidia-smi: 81559 MiB = 85,520,809,984 bytes.
  EXPECT_EQ(h100->memory_bytes, 85'520'809'984);
  EXPECT_DOUBLE_EQ(h100->peak_bf16_flops, 989e12);
  absl::StatusOr<GpuType> a100 = FindGpu("a100");
  ASSERT_TRUE(a100.ok());
  EXPECT_EQ(a100->name, "a100-80gb");
  EXPECT_EQ(a100->memory_bytes, 80 * kGiB);  // 81920 MiB
  EXPECT_DOUBLE_EQ(a100->peak_bf16_flops, 312e12);
  EXPECT_EQ(FindGpu("A100-40GB")->memory_bytes, 40 * kGiB);
  // Issue 17: the V100 was listed with 125 bf16 TFLOP/s, but it has no bf16;
  // 125 TFLOP/s is its fp16 peak.
  const GpuType v100 = FindGpu("v100").value();
  EXPECT_FALSE(v100.bf16);
  EXPECT_EQ(v100.peak_bf16_flops, 0);
  EXPECT_DOUBLE_EQ(v100.peak_fp16_flops, 125e12);
  EXPECT_DOUBLE_EQ(Peak16BitFlops(v100), 125e12);
  EXPECT_TRUE(h100->bf16);
  EXPECT_DOUBLE_EQ(Peak16BitFlops(*h100), 989e12);
  EXPECT_EQ(FindGpu("h100-pcie")->name, "h100-pcie-80gb");
  EXPECT_LT(FindGpu("h100-pcie-80gb")->peak_bf16_flops, h100->peak_bf16_flops);
}

TEST(GpuCatalogTest, OnlyTheV100LacksBf16) {
  for (const GpuType& gpu : GpuCatalog()) {
    EXPECT_EQ(gpu.bf16, gpu.name != "v100-32gb") << gpu.name;
    if (gpu.bf16) {
      EXPECT_GT(gpu.peak_bf16_flops, 1e14) << gpu.name;
    }
  }
}

TEST(GpuCatalogTest, UnknownGpuListsKnownNames) {
  absl::StatusOr<GpuType> gpu = FindGpu("a100-100gb");
  EXPECT_EQ(gpu.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(gpu.status().message(), "a100-100gb"));
  EXPECT_TRUE(absl::StrContains(gpu.status().message(), "h200-141gb"));
}

// Issue 17: one resolver for plan, submit and berthd, and unknown names
// suggest the nearest known one.
TEST(NameResolverTest, AliasesResolveToCatalogNames) {
  EXPECT_EQ(ResolveGpuName("h100").value(), "h100-80gb");
  EXPECT_EQ(ResolveGpuName("H100-SXM").value(), "h100-80gb");
  EXPECT_EQ(ResolveGpuName("h100-80gb").value(), "h100-80gb");
  EXPECT_EQ(ResolveModelName("llama2-7b").value(), "llama-2-7b");
  EXPECT_EQ(ResolveModelName("Llama-2-7B").value(), "llama-2-7b");
  EXPECT_EQ(ResolveModelName("meta-llama/Meta-Llama-3-70B").value(), "llama-3-70b");
}

TEST(NameResolverTest, UnknownNamesSuggestTheNearest) {
  absl::StatusOr<std::string> gpu = ResolveGpuName("h100x");
  EXPECT_EQ(gpu.status().code(), absl::StatusCode::kNotFound);
  // "h100x" is one edit from the alias "h100" of h100-80gb.
  EXPECT_TRUE(absl::StrContains(gpu.status().message(),
                                "unknown GPU type \"h100x\"; did you mean h100-80gb?"))
      << gpu.status();
  absl::StatusOr<std::string> model = ResolveModelName("lama-2-7b");
  EXPECT_TRUE(absl::StrContains(model.status().message(), "did you mean llama-2-7b?"))
      << model.status();
  // Nothing near: no suggestion, only the list.
  absl::StatusOr<std::string> far = ResolveModelName("bert-base");
  EXPECT_FALSE(absl::StrContains(far.status().message(), "did you mean")) << far.status();
  EXPECT_TRUE(absl::StrContains(far.status().message(), "known: "));
}

TEST(NameResolverTest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0);
  EXPECT_EQ(EditDistance("abc", ""), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);  // k→s, e→i, +g
  EXPECT_EQ(EditDistance("h100x", "h100"), 1);
}

}  // namespace
}  // namespace berth::planner
