// The agent's work dir and the job files in it, made so that no other local
// user can steer what the agent writes (it often runs as root).
//
// DefaultWorkDir() picks the folder when --work_dir is not given: a state
// folder of the agent's own user, never a shared one like /tmp (see
// docs/AGENT.md). It is pure; StateDirsFromEnvironment() reads its inputs.
//
// PrepareWorkDir() creates the work dir (each missing folder 0700) and its
// `jobs` folder, refusing a work dir or `jobs` that is a symbolic link, is
// not a directory, is owned by another user than the agent's effective uid,
// or is writable by group or others. It returns the open `jobs` folder, so
// that job folders are made relative to the folder that was checked:
//
//   BERTH_ASSIGN_OR_RETURN(PrivateDir jobs, PrepareWorkDir("/var/lib/x/n1"));
//   BERTH_ASSIGN_OR_RETURN(PrivateDir job, OpenJobFolder(jobs, 12));
//   BERTH_ASSIGN_OR_RETURN(UniqueFd log,
//                          OpenJobFile(job, "stdout.log", JobFile::kAppend));
//
// OpenJobFolder() makes `jobs/<id>` with mkdir 0700; an existing one (a job
// run again after a requeue) is used only when it passes the same checks.
// OpenJobFile() opens a file in it with O_NOFOLLOW (mode 0600 when created)
// and refuses anything but a regular file of the agent's user with one link.
// Symbolic links are never followed. Every error is FailedPrecondition and
// names the path and the problem.
#ifndef BERTH_AGENTS_WORK_DIR_H_
#define BERTH_AGENTS_WORK_DIR_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::agent {

// The environment DefaultWorkDir() looks at.
struct StateDirs {
  std::string state_directory;  // $STATE_DIRECTORY (systemd StateDirectory=)
  std::string xdg_state_home;   // $XDG_STATE_HOME
  std::string home;             // $HOME
  bool root = false;            // the effective uid is 0
};

StateDirs StateDirsFromEnvironment();

// In order: $STATE_DIRECTORY/<node> (its first entry, when absolute); as
// root /var/lib/berth-agent/<node>; $XDG_STATE_HOME/berth-agent/<node>;
// $HOME/.local/state/berth-agent/<node>. FailedPrecondition when none
// applies; InvalidArgument for a node name that is not one path component.
absl::StatusOr<std::string> DefaultWorkDir(const StateDirs& dirs, absl::string_view node);

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();

 private:
  int fd_ = -1;
};

// OK when `st` (of `path`) is a directory owned by `uid` that neither group
// nor others may write; otherwise FailedPrecondition saying which.
absl::Status CheckPrivateDir(const std::string& path, const struct stat& st, uid_t uid);

// A folder that passed CheckPrivateDir(), open, with its absolute path.
struct PrivateDir {
  UniqueFd fd;
  std::string path;
};

// The `jobs` folder of `work_dir`, which is made absolute first (links are
// not resolved); InvalidArgument when empty.
absl::StatusOr<PrivateDir> PrepareWorkDir(const std::string& work_dir);

// `<jobs>/<job_id>`.
absl::StatusOr<PrivateDir> OpenJobFolder(const PrivateDir& jobs, int64_t job_id);

enum class JobFile {
  kAppend,   // a log: appended to when the job runs again
  kReplace,  // a generated file: truncated, then written
};
absl::StatusOr<UniqueFd> OpenJobFile(const PrivateDir& folder, absl::string_view name,
                                     JobFile mode);

// Replaces the file's contents with `contents` (OpenJobFile kReplace).
absl::Status WriteJobFile(const PrivateDir& folder, absl::string_view name,
                          absl::string_view contents);

}  // namespace berth::agent

#endif  // BERTH_AGENTS_WORK_DIR_H_
