#include "daemon/teams_config.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "planner/catalog.h"
#include "yaml-cpp/yaml.h"

// yaml-cpp reports errors by exception; they are caught here, at the one
// call that parses, and every later access avoids throwing calls (no as<>):
// scalars are read as text and converted with Abseil.

namespace berth::daemon {
namespace {

// Where an error is: the file, the node's line (1-based) and the field.
struct Where {
  std::string source;
  std::string field;
  int line = 0;
};

absl::Status Bad(const Where& at, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(at.source, ":", at.line, ": ", at.field, at.field.empty() ? "" : ": ", problem));
}

Where Child(const Where& parent, const YAML::Node& node, absl::string_view key) {
  const int line = node.Mark().is_null() ? parent.line : node.Mark().line + 1;
  return Where{parent.source,
               parent.field.empty() ? std::string(key) : absl::StrCat(parent.field, ".", key),
               line};
}

// Every key of `map` must be one of `allowed`.
absl::Status CheckKeys(const YAML::Node& map, const Where& at,
                       const std::set<std::string>& allowed) {
  if (!map.IsMap()) return Bad(at, "must be a mapping");
  for (const auto& entry : map) {
    const std::string key = entry.first.Scalar();
    if (!allowed.contains(key)) {
      return Bad(Child(at, entry.first, key),
                 absl::StrCat("unknown field; expected one of ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReadCount(const YAML::Node& node, const Where& at) {
  int64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return Bad(at, absl::StrCat("must be a whole number of GPUs, got \"",
                                node.IsScalar() ? node.Scalar() : "", "\""));
  }
  if (value < 0) return Bad(at, absl::StrCat("must be >= 0, got ", value));
  return value;
}

absl::StatusOr<int64_t> ReadDuration(const YAML::Node& node, const Where& at) {
  absl::StatusOr<int64_t> ms =
      node.IsScalar() ? ParseDurationMs(node.Scalar()) : absl::InvalidArgumentError("");
  if (!ms.ok()) {
    return Bad(at, absl::StrCat("must be a duration such as 90s, 10m, 12h or 7d, got \"",
                                node.IsScalar() ? node.Scalar() : "", "\""));
  }
  return *ms;
}

absl::StatusOr<TeamQuota> ReadQuota(const YAML::Node& node, const Where& at) {
  BERTH_RETURN_IF_ERROR(CheckKeys(node, at, {"nominal", "borrowing_limit", "lending_limit"}));
  TeamQuota quota;
  if (const YAML::Node n = node["nominal"]) {
    BERTH_ASSIGN_OR_RETURN(quota.nominal, ReadCount(n, Child(at, n, "nominal")));
  } else {
    return Bad(at, "nominal is required");
  }
  if (const YAML::Node n = node["borrowing_limit"]) {
    BERTH_ASSIGN_OR_RETURN(quota.borrowing_limit, ReadCount(n, Child(at, n, "borrowing_limit")));
  }
  if (const YAML::Node n = node["lending_limit"]) {
    BERTH_ASSIGN_OR_RETURN(quota.lending_limit, ReadCount(n, Child(at, n, "lending_limit")));
  }
  return quota;
}

absl::StatusOr<std::map<std::string, TeamQuota>> ReadQuotas(const YAML::Node& node,
                                                            const Where& at) {
  if (!node.IsMap()) return Bad(at, "must map GPU types to {nominal: N, ...}");
  std::map<std::string, TeamQuota> quotas;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    const Where here = Child(at, entry.first, key);
    absl::StatusOr<std::string> gpu = planner::ResolveGpuName(key);
    if (!gpu.ok()) {
      const std::string nearest = planner::SuggestGpuName(key);
      return Bad(
          here, absl::StrCat("unknown GPU type",
                             nearest.empty() ? "" : absl::StrCat("; did you mean ", nearest, "?")));
    }
    if (quotas.contains(*gpu)) return Bad(here, absl::StrCat(*gpu, " is given twice"));
    BERTH_ASSIGN_OR_RETURN(quotas[*gpu], ReadQuota(entry.second, here));
  }
  return quotas;
}

absl::StatusOr<TeamSpec> ReadTeam(const YAML::Node& node, const Where& at) {
  BERTH_RETURN_IF_ERROR(CheckKeys(node, at, {"name", "parent", "weight", "quota"}));
  TeamSpec team;
  const YAML::Node name = node["name"];
  if (!name || !name.IsScalar() || name.Scalar().empty()) return Bad(at, "name is required");
  team.name = name.Scalar();
  if (const YAML::Node parent = node["parent"]) {
    if (!parent.IsScalar() || parent.Scalar().empty()) {
      return Bad(Child(at, parent, "parent"), "must name a team");
    }
    team.parent = parent.Scalar();
  }
  if (const YAML::Node weight = node["weight"]) {
    const Where here = Child(at, weight, "weight");
    if (!weight.IsScalar() || !absl::SimpleAtod(weight.Scalar(), &team.weight) ||
        !(team.weight > 0) || team.weight > 1e9) {
      return Bad(here, absl::StrCat("must be a number > 0, got \"",
                                    weight.IsScalar() ? weight.Scalar() : "", "\""));
    }
  }
  if (const YAML::Node quota = node["quota"]) {
    BERTH_ASSIGN_OR_RETURN(team.quota, ReadQuotas(quota, Child(at, quota, "quota")));
  }
  return team;
}

// Names are unique, parents exist, and following parents never loops.
// `where[i]` is team i's, `parent_at[i]` its parent field's.
absl::Status CheckHierarchy(const TeamsConfig& config, const std::vector<Where>& where,
                            const std::vector<Where>& parent_at) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < config.teams.size(); ++i) {
    const Where name_at{where[i].source, absl::StrCat(where[i].field, ".name"), where[i].line};
    if (!index.emplace(config.teams[i].name, i).second) {
      return Bad(name_at, absl::StrCat("team \"", config.teams[i].name, "\" is defined twice"));
    }
  }
  for (size_t i = 0; i < config.teams.size(); ++i) {
    const Where& at = parent_at[i];
    const std::string& parent = config.teams[i].parent;
    if (!parent.empty() && !index.contains(parent)) {
      return Bad(at, absl::StrCat("no team named \"", parent, "\"; teams: ", config.NameList()));
    }
    std::set<std::string> seen{config.teams[i].name};
    for (std::string p = parent; !p.empty(); p = config.teams[index[p]].parent) {
      if (!seen.insert(p).second) {
        return Bad(at, absl::StrCat("parents form a cycle through \"", config.teams[i].name, "\""));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TeamsConfig> ReadConfig(const YAML::Node& root, const Where& at) {
  BERTH_RETURN_IF_ERROR(CheckKeys(root, at, {"fair_share", "preemption", "aging", "teams"}));
  TeamsConfig config;
  if (const YAML::Node fair = root["fair_share"]) {
    const Where here = Child(at, fair, "fair_share");
    BERTH_RETURN_IF_ERROR(CheckKeys(fair, here, {"half_life"}));
    if (const YAML::Node n = fair["half_life"]) {
      BERTH_ASSIGN_OR_RETURN(config.half_life_ms, ReadDuration(n, Child(here, n, "half_life")));
      if (config.half_life_ms <= 0) return Bad(Child(here, n, "half_life"), "must be > 0");
    }
  }
  if (const YAML::Node pre = root["preemption"]) {
    const Where here = Child(at, pre, "preemption");
    BERTH_RETURN_IF_ERROR(CheckKeys(pre, here, {"min_runtime", "grace"}));
    if (const YAML::Node n = pre["min_runtime"]) {
      BERTH_ASSIGN_OR_RETURN(config.min_runtime_ms, ReadDuration(n, Child(here, n, "min_runtime")));
    }
    if (const YAML::Node n = pre["grace"]) {
      BERTH_ASSIGN_OR_RETURN(config.grace_ms, ReadDuration(n, Child(here, n, "grace")));
    }
  }
  if (const YAML::Node aging = root["aging"]) {
    const Where here = Child(at, aging, "aging");
    BERTH_RETURN_IF_ERROR(CheckKeys(aging, here, {"reserve_after"}));
    if (const YAML::Node n = aging["reserve_after"]) {
      const Where field = Child(here, n, "reserve_after");
      BERTH_ASSIGN_OR_RETURN(config.reserve_after_ms, ReadDuration(n, field));
      if (config.reserve_after_ms <= 0) {
        return Bad(field, absl::StrCat("must be > 0 (leave aging out to turn it off), got \"",
                                       n.Scalar(), "\""));
      }
    }
  }
  const YAML::Node teams = root["teams"];
  if (!teams || !teams.IsSequence() || teams.size() == 0) {
    return Bad(teams ? Child(at, teams, "teams") : Where{at.source, "teams", at.line},
               "must list at least one team");
  }
  std::vector<Where> where;
  std::vector<Where> parent_at;
  for (size_t i = 0; i < teams.size(); ++i) {
    const Where here = Child(at, teams[i], absl::StrCat("teams[", i, "]"));
    BERTH_ASSIGN_OR_RETURN(TeamSpec team, ReadTeam(teams[i], here));
    config.teams.push_back(std::move(team));
    where.push_back(here);
    const YAML::Node parent = teams[i]["parent"];
    parent_at.push_back(parent ? Child(here, parent, "parent")
                               : Where{here.source, here.field + ".parent", here.line});
  }
  BERTH_RETURN_IF_ERROR(CheckHierarchy(config, where, parent_at));
  return config;
}

}  // namespace

const TeamSpec* TeamsConfig::Find(absl::string_view name) const {
  for (const TeamSpec& team : teams) {
    if (team.name == name) return &team;
  }
  return nullptr;
}

std::string TeamsConfig::NameList() const {
  std::vector<std::string> names;
  for (const TeamSpec& team : teams) names.push_back(team.name);
  std::sort(names.begin(), names.end());
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<int64_t> ParseDurationMs(absl::string_view text) {
  static const std::map<char, int64_t> kUnitMs = {
      {'s', 1000}, {'m', 60 * 1000}, {'h', 3600 * 1000}, {'d', 24 * 3600 * 1000}};
  if (text.size() < 2 || !kUnitMs.contains(text.back())) {
    return absl::InvalidArgumentError(absl::StrCat("not a duration: \"", text, "\""));
  }
  int64_t count = 0;
  const int64_t unit = kUnitMs.at(text.back());
  text.remove_suffix(1);
  if (!absl::SimpleAtoi(text, &count) || count < 0 ||
      count > std::numeric_limits<int64_t>::max() / unit) {
    return absl::InvalidArgumentError(absl::StrCat("not a duration: \"", text, "\""));
  }
  return count * unit;
}

absl::StatusOr<TeamsConfig> ParseTeamsYaml(absl::string_view text, absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  return ReadConfig(root, Where{std::string(source), "", 1});
}

absl::StatusOr<TeamsConfig> LoadTeamsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read teams file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseTeamsYaml(text.str(), path);
}

}  // namespace berth::daemon
