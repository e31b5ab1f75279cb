// The teams file berthd runs with (`berthd --teams FILE`) and its
// replacement at run time (`berth admin teams apply FILE`, the ApplyTeams
// RPC). A new text is checked as berthd checks the file at start (the line
// and field of the first error), then written over the --teams file the
// way a crash cannot tear it: a temporary file in the same folder, fsync,
// rename, fsync of the folder. So a restart reads what was applied last, and
// a failed write leaves the old file, and the old teams, in force.
//
//   BERTH_ASSIGN_OR_RETURN(std::unique_ptr<TeamsFile> file,
//                          TeamsFile::Load("/etc/berth/teams.yaml"));
//   BERTH_ASSIGN_OR_RETURN(TeamsConfig next, CheckTeamsText(yaml, "teams.yaml"));
//   BERTH_RETURN_IF_ERROR(file->Replace(yaml));   // then hand `next` to the core
#ifndef BERTH_DAEMON_TEAMS_FILE_H_
#define BERTH_DAEMON_TEAMS_FILE_H_

#include <cstddef>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "daemon/teams_config.h"

namespace berth::daemon {

// The largest teams text ApplyTeams accepts, and the longest name of it.
inline constexpr size_t kMaxTeamsTextBytes = 1 << 20;
inline constexpr size_t kMaxTeamsSourceBytes = 256;

// Parses a teams text sent to berthd: InvalidArgument naming `yaml` or
// `source` when over their limits (or `source` not printable), else what
// ParseTeamsYaml says ("source:line: field: problem"). An empty source
// reads as "teams file".
absl::StatusOr<TeamsConfig> CheckTeamsText(absl::string_view yaml, absl::string_view source);

// FailedPrecondition naming each team of `live_teams` (the teams of jobs
// not yet ended) that `next` does not have: dropping it would leave those
// jobs without a team.
absl::Status CheckTeamsKeepLiveJobs(const TeamsConfig& next,
                                    const std::set<std::string>& live_teams);

class TeamsFile {
 public:
  // Reads and checks the file at `path`; its text is what Text() returns
  // until Replace(). NotFound or InvalidArgument as LoadTeamsFile.
  static absl::StatusOr<std::unique_ptr<TeamsFile>> Load(const std::string& path);

  const std::string& path() const { return path_; }
  TeamsConfig config() const { return config_; }  // as loaded at start
  std::string Text() const;
  // Writes `text` over the file (temporary file, fsync, rename, fsync of
  // the folder). FailedPrecondition naming the path and the error when any
  // step fails; the old file is then untouched.
  absl::Status Replace(const std::string& text);

 private:
  TeamsFile(std::string path, std::string text, TeamsConfig config)
      : path_(std::move(path)), config_(std::move(config)), text_(std::move(text)) {}
  std::string path_;
  TeamsConfig config_;
  mutable absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_TEAMS_FILE_H_
