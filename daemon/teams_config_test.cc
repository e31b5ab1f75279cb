#include "daemon/teams_config.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

// The issue's example, verbatim shape (plus the parent it names).
constexpr char kGood[] = R"(fair_share:
  half_life: 7d
preemption:
  min_runtime: 10m
  grace: 2m
teams:
  - name: ml
    quota:
      h100-80gb: {nominal: 96}
  - name: research
    parent: ml
    weight: 1
    quota:
      h100-80gb: {nominal: 64, borrowing_limit: 64, lending_limit: 32}
  - name: prod
    weight: 2
    quota:
      h100-80gb: {nominal: 32}
)";

// The error for `text`, which must not parse.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<TeamsConfig> config = ParseTeamsYaml(text, "t.yaml");
  EXPECT_FALSE(config.ok()) << text;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

// `text` with `from` replaced by `to` (once; it must be there).
std::string With(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(TeamsConfigTest, ParsesTheIssuesShape) {
  absl::StatusOr<TeamsConfig> config = ParseTeamsYaml(kGood, "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->half_life_ms, 7 * 24 * 3600 * 1000LL);
  EXPECT_EQ(config->min_runtime_ms, 10 * 60 * 1000);
  EXPECT_EQ(config->grace_ms, 2 * 60 * 1000);
  ASSERT_EQ(config->teams.size(), 3u);
  const TeamSpec* research = config->Find("research");
  ASSERT_NE(research, nullptr);
  EXPECT_EQ(research->parent, "ml");
  EXPECT_EQ(research->weight, 1.0);
  const TeamQuota& q = research->quota.at("h100-80gb");
  EXPECT_EQ(q.nominal, 64);
  EXPECT_EQ(q.borrowing_limit, 64);
  EXPECT_EQ(q.lending_limit, 32);
  const TeamSpec* prod = config->Find("prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(prod->weight, 2.0);
  EXPECT_EQ(prod->quota.at("h100-80gb").nominal, 32);
  EXPECT_FALSE(prod->quota.at("h100-80gb").borrowing_limit.has_value());  // unlimited
  EXPECT_FALSE(prod->quota.at("h100-80gb").lending_limit.has_value());    // lends all
  EXPECT_EQ(config->NameList(), "ml, prod, research");
  EXPECT_EQ(config->Find("nobody"), nullptr);
}

TEST(TeamsConfigTest, DefaultsAndAliases) {
  absl::StatusOr<TeamsConfig> config =
      ParseTeamsYaml("teams:\n  - name: a\n    quota:\n      h100: {nominal: 8}\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->half_life_ms, 7 * 24 * 3600 * 1000LL);
  EXPECT_EQ(config->teams[0].weight, 1.0);
  // The alias is stored under the catalogued name.
  EXPECT_EQ(config->teams[0].quota.count("h100-80gb"), 1u);
}

TEST(TeamsConfigTest, Durations) {
  EXPECT_EQ(*ParseDurationMs("90s"), 90'000);
  EXPECT_EQ(*ParseDurationMs("2m"), 120'000);
  EXPECT_EQ(*ParseDurationMs("12h"), 12 * 3'600'000);
  EXPECT_EQ(*ParseDurationMs("7d"), 7 * 86'400'000LL);
  EXPECT_FALSE(ParseDurationMs("7").ok());
  EXPECT_FALSE(ParseDurationMs("d").ok());
  EXPECT_FALSE(ParseDurationMs("-1m").ok());
  EXPECT_FALSE(ParseDurationMs("1.5h").ok());
  EXPECT_FALSE(ParseDurationMs("3w").ok());
}

TEST(TeamsConfigTest, BadValuesNameLineAndField) {
  EXPECT_EQ(ErrorOf(With(kGood, "half_life: 7d", "half_life: 7 days")),
            "t.yaml:2: fair_share.half_life: must be a duration such as 90s, 10m, 12h or 7d, "
            "got \"7 days\"");
  EXPECT_EQ(ErrorOf(With(kGood, "{nominal: 32}", "{nominal: -4}")),
            "t.yaml:18: teams[2].quota.h100-80gb.nominal: must be >= 0, got -4");
  EXPECT_EQ(ErrorOf(With(kGood, "borrowing_limit: 64", "borrowing_limit: lots")),
            "t.yaml:14: teams[1].quota.h100-80gb.borrowing_limit: must be a whole number of "
            "GPUs, got \"lots\"");
  EXPECT_EQ(ErrorOf(With(kGood, "lending_limit: 32", "lending_limit: -1")),
            "t.yaml:14: teams[1].quota.h100-80gb.lending_limit: must be >= 0, got -1");
  EXPECT_EQ(ErrorOf(With(kGood, "weight: 2", "weight: 0")),
            "t.yaml:16: teams[2].weight: must be a number > 0, got \"0\"");
  EXPECT_EQ(ErrorOf(With(kGood, "min_runtime: 10m", "min_runtime: soon")).substr(0, 32),
            "t.yaml:4: preemption.min_runtime");
}

TEST(TeamsConfigTest, AgingIsOffUnlessGivenAndMustBePositive) {
  absl::StatusOr<TeamsConfig> off = ParseTeamsYaml(kGood, "t.yaml");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->reserve_after_ms, 0);
  const std::string aged = With(kGood, "teams:", "aging: {reserve_after: 1h}\nteams:");
  absl::StatusOr<TeamsConfig> on = ParseTeamsYaml(aged, "t.yaml");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(on->reserve_after_ms, 3'600'000);
  EXPECT_EQ(ErrorOf(With(aged, "reserve_after: 1h", "reserve_after: 0s")),
            "t.yaml:6: aging.reserve_after: must be > 0 (leave aging out to turn it off), got "
            "\"0s\"");
  EXPECT_EQ(ErrorOf(With(aged, "reserve_after: 1h", "reserve_after: later")),
            "t.yaml:6: aging.reserve_after: must be a duration such as 90s, 10m, 12h or 7d, got "
            "\"later\"");
  EXPECT_EQ(ErrorOf(With(aged, "reserve_after: 1h", "reserve_afer: 1h")).substr(0, 43),
            "t.yaml:6: aging.reserve_afer: unknown field");
}

TEST(TeamsConfigTest, UnknownGpuTypeSuggestsTheNearest) {
  const std::string error =
      ErrorOf(With(kGood, "h100-80gb: {nominal: 32}", "h100-80g: {nominal: 32}"));
  EXPECT_EQ(error.substr(0, 40), "t.yaml:18: teams[2].quota.h100-80g: unkn");
  EXPECT_NE(error.find("did you mean h100-80gb"), std::string::npos) << error;
}

TEST(TeamsConfigTest, UnknownFieldsAreErrors) {
  EXPECT_EQ(ErrorOf(With(kGood, "weight: 2", "wieght: 2")).substr(0, 41),
            "t.yaml:16: teams[2].wieght: unknown field");
  EXPECT_EQ(ErrorOf(With(kGood, "{nominal: 32}", "{nominal: 32, burst: 4}")).substr(0, 52),
            "t.yaml:18: teams[2].quota.h100-80gb.burst: unknown f");
  EXPECT_EQ(ErrorOf(With(kGood, "{nominal: 32}", "{borrowing_limit: 4}")),
            "t.yaml:18: teams[2].quota.h100-80gb: nominal is required");
}

TEST(TeamsConfigTest, HierarchyMustBeSound) {
  EXPECT_EQ(ErrorOf(With(kGood, "parent: ml", "parent: mll")),
            "t.yaml:11: teams[1].parent: no team named \"mll\"; teams: ml, prod, research");
  EXPECT_EQ(ErrorOf(With(kGood, "name: ml\n", "name: ml\n    parent: research\n")),
            "t.yaml:8: teams[0].parent: parents form a cycle through \"ml\"");
  EXPECT_EQ(ErrorOf(With(kGood, "name: prod", "name: ml")),
            "t.yaml:15: teams[2].name: team \"ml\" is defined twice");
  EXPECT_EQ(ErrorOf(With(kGood, "name: prod", "name: prod\n    parent: prod")),
            "t.yaml:16: teams[2].parent: parents form a cycle through \"prod\"");
}

TEST(TeamsConfigTest, ShapeErrors) {
  EXPECT_EQ(ErrorOf(""), "t.yaml:1: must be a mapping");
  EXPECT_EQ(ErrorOf("teams: []\n"), "t.yaml:1: teams: must list at least one team");
  EXPECT_EQ(ErrorOf("fair_share: {half_life: 1d}\n"),
            "t.yaml:1: teams: must list at least one team");
  EXPECT_EQ(ErrorOf("teams:\n  - weight: 1\n"), "t.yaml:2: teams[0]: name is required");
  EXPECT_EQ(ErrorOf("teams:\n  - name: a\n    quota: 8\n"),
            "t.yaml:3: teams[0].quota: must map GPU types to {nominal: N, ...}");
  const std::string broken = ErrorOf("teams:\n  - name: [a\n");
  EXPECT_EQ(broken.substr(0, 7), "t.yaml:");
  EXPECT_NE(broken.find("not valid YAML"), std::string::npos) << broken;
}

TEST(TeamsConfigTest, LoadsAFile) {
  const std::string path = ::testing::TempDir() + "/teams_config_test.yaml";
  {
    std::ofstream out(path);
    out << kGood;
  }
  absl::StatusOr<TeamsConfig> config = LoadTeamsFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->teams.size(), 3u);
  std::remove(path.c_str());
  EXPECT_EQ(LoadTeamsFile(path).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace berth::daemon
