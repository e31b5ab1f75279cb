// The teams file (`berthd --teams FILE`, docs/TEAMS.md): teams, their GPU
// quotas per type, fair-share and preemption settings, read from YAML of
// exactly this shape:
//
//   fair_share: {half_life: 7d}
//   preemption: {min_runtime: 10m, grace: 2m}
//   aging: {reserve_after: 1h}  # optional; a job waiting longer gets a reservation
//   teams:
//     - name: research
//       parent: ml            # optional; must name another team, no cycles
//       weight: 1             # > 0; default 1
//       quota:
//         h100-80gb: {nominal: 64, borrowing_limit: 64, lending_limit: 32}
//
// A missing borrowing_limit means "may borrow without limit", a missing
// lending_limit "lends all its idle quota". Quota keys are catalogued GPU
// names (planner/catalog.h) or their aliases, stored under the catalogued
// name. Unknown keys are errors, so a typo never silently changes a quota.
// Every error names the line and the field:
//   teams.yaml:7: teams[1].quota.h100-80gb.nominal: must be >= 0, got -4
//
// Usage:
//   absl::StatusOr<TeamsConfig> teams = LoadTeamsFile("/etc/berth/teams.yaml");
//   const TeamSpec* prod = teams->Find("prod");
#ifndef BERTH_DAEMON_TEAMS_CONFIG_H_
#define BERTH_DAEMON_TEAMS_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::daemon {

struct TeamQuota {
  int64_t nominal = 0;                     // GPUs guaranteed
  std::optional<int64_t> borrowing_limit;  // beyond nominal; nullopt: no limit
  std::optional<int64_t> lending_limit;    // of its idle nominal; nullopt: all
};

struct TeamSpec {
  std::string name;
  std::string parent;  // "" for a root
  double weight = 1.0;
  std::map<std::string, TeamQuota> quota;  // by catalogued GPU name
};

struct TeamsConfig {
  int64_t half_life_ms = 7 * 24 * 3600 * 1000LL;
  int64_t min_runtime_ms = 10 * 60 * 1000;
  int64_t grace_ms = 2 * 60 * 1000;
  // aging.reserve_after: a job that has waited this long gets a reservation
  // of its own, as the blocked head does (queue_policy.h); 0: no aging.
  int64_t reserve_after_ms = 0;
  std::vector<TeamSpec> teams;  // in file order

  const TeamSpec* Find(absl::string_view name) const;
  // "ml, prod, research": every team, sorted, for error messages.
  std::string NameList() const;
};

// A duration as the file writes it: an integer and one unit of s, m, h, d
// ("7d", "10m", "90s"). InvalidArgument otherwise or when negative.
absl::StatusOr<int64_t> ParseDurationMs(absl::string_view text);

// `source` names the text in errors (a file name). InvalidArgument with
// "source:line: field: problem" on any error.
absl::StatusOr<TeamsConfig> ParseTeamsYaml(absl::string_view text, absl::string_view source);
// Reads and parses a file; NotFound or InvalidArgument.
absl::StatusOr<TeamsConfig> LoadTeamsFile(const std::string& path);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_TEAMS_CONFIG_H_
