#include "agents/work_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace berth::agent {
namespace {

constexpr mode_t kPrivateDirMode = 0700;
constexpr mode_t kPrivateFileMode = 0600;

std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

bool IsAbsolute(absl::string_view path) { return !path.empty() && path.front() == '/'; }

// Why opening `name` in `dir_fd` failed with `error`: a symbolic link is
// named as such (O_NOFOLLOW reports it as ELOOP, or ENOTDIR with
// O_DIRECTORY).
std::string WhyNotOpened(int dir_fd, const std::string& name, int error) {
  struct stat st;
  if ((error == ELOOP || error == ENOTDIR) &&
      fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return "it is a symbolic link, which berth-agent does not follow";
  }
  return std::strerror(error);
}

// `path` made absolute, without "." or ".." or repeated slashes; links are
// not resolved. The components are returned in `parts`.
absl::StatusOr<std::string> Normalize(const std::string& path, std::vector<std::string>& parts) {
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error).lexically_normal();
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot make ", path, " absolute: ", error.message()));
  }
  for (const std::filesystem::path& part : absolute.relative_path()) {
    if (!part.empty()) parts.push_back(part.string());
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

// mkdir -p with mode 0700 for the folders that are missing.
absl::Status MakeMissingFolders(const std::vector<std::string>& parts) {
  std::string prefix;
  for (const std::string& part : parts) {
    absl::StrAppend(&prefix, "/", part);
    if (mkdir(prefix.c_str(), kPrivateDirMode) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create ", prefix, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// Opens the folder `name` in `dir_fd` (made 0700 when `create`), without
// following a link, and checks that it is private to us.
absl::StatusOr<UniqueFd> OpenPrivateDir(int dir_fd, const std::string& name,
                                        const std::string& path, bool create) {
  if (create && mkdirat(dir_fd, name.c_str(), kPrivateDirMode) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int error = errno;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", WhyNotOpened(dir_fd, name, error)));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  BERTH_RETURN_IF_ERROR(CheckPrivateDir(path, st, geteuid()));
  return fd;
}

}  // namespace

StateDirs StateDirsFromEnvironment() {
  return StateDirs{.state_directory = GetEnv("STATE_DIRECTORY"),
                   .xdg_state_home = GetEnv("XDG_STATE_HOME"),
                   .home = GetEnv("HOME"),
                   .root = geteuid() == 0};
}

absl::StatusOr<std::string> DefaultWorkDir(const StateDirs& dirs, absl::string_view node) {
  if (node.empty() || node == "." || node == ".." || node.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("node name \"", node, "\" cannot name a work dir; give --work_dir"));
  }
  // systemd sets a colon-separated list, one entry per StateDirectory=.
  const absl::string_view state =
      absl::string_view(dirs.state_directory).substr(0, dirs.state_directory.find(':'));
  if (IsAbsolute(state)) return absl::StrCat(state, "/", node);
  if (dirs.root) return absl::StrCat("/var/lib/berth-agent/", node);
  if (IsAbsolute(dirs.xdg_state_home)) {
    return absl::StrCat(dirs.xdg_state_home, "/berth-agent/", node);
  }
  if (IsAbsolute(dirs.home)) {
    return absl::StrCat(dirs.home, "/.local/state/berth-agent/", node);
  }
  return absl::FailedPreconditionError(
      "no default work dir: none of $STATE_DIRECTORY, $XDG_STATE_HOME and "
      "$HOME is set to an absolute path; give --work_dir DIR");
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

int UniqueFd::Release() { return std::exchange(fd_, -1); }

absl::Status CheckPrivateDir(const std::string& path, const struct stat& st, uid_t uid) {
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a directory"));
  }
  if (st.st_uid != uid) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is owned by uid ", st.st_uid, ", not by berth-agent's uid ", uid,
                     "; another user could change what the agent writes there. Give "
                     "--work_dir a folder of the agent's user"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is writable by group or others (mode %04o); another user could "
                        "plant links there. Make it private (chmod 700 %s) or give another "
                        "--work_dir",
                        path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

absl::StatusOr<PrivateDir> PrepareWorkDir(const std::string& work_dir) {
  if (work_dir.empty()) {
    return absl::InvalidArgumentError("the work dir is required");
  }
  std::vector<std::string> parts;
  BERTH_ASSIGN_OR_RETURN(const std::string path, Normalize(work_dir, parts));
  BERTH_RETURN_IF_ERROR(MakeMissingFolders(parts));
  BERTH_ASSIGN_OR_RETURN(UniqueFd dir, OpenPrivateDir(AT_FDCWD, path, path, false));
  const std::string jobs = path == "/" ? "/jobs" : path + "/jobs";
  BERTH_ASSIGN_OR_RETURN(UniqueFd fd, OpenPrivateDir(dir.get(), "jobs", jobs, true));
  return PrivateDir{.fd = std::move(fd), .path = jobs};
}

absl::StatusOr<PrivateDir> OpenJobFolder(const PrivateDir& jobs, int64_t job_id) {
  const std::string name = absl::StrCat(job_id);
  const std::string path = absl::StrCat(jobs.path, "/", name);
  BERTH_ASSIGN_OR_RETURN(UniqueFd fd, OpenPrivateDir(jobs.fd.get(), name, path, true));
  return PrivateDir{.fd = std::move(fd), .path = path};
}

absl::StatusOr<UniqueFd> OpenJobFile(const PrivateDir& folder, absl::string_view name,
                                     JobFile mode) {
  const std::string file(name);
  const std::string path = absl::StrCat(folder.path, "/", name);
  // O_NONBLOCK: a planted FIFO fails (ENXIO) instead of blocking the agent.
  const int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                    (mode == JobFile::kAppend ? O_APPEND : 0);
  UniqueFd fd(openat(folder.fd.get(), file.c_str(), flags, kPrivateFileMode));
  if (!fd.valid()) {
    const int error = errno;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", WhyNotOpened(folder.fd.get(), file, error)));
  }
  struct stat st;
  std::string problem;
  if (fstat(fd.get(), &st) != 0) {
    problem = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "it is not a regular file";
  } else if (st.st_uid != geteuid()) {
    problem = absl::StrCat("owned by uid ", st.st_uid, ", not by ", geteuid());
  } else if (st.st_nlink != 1) {
    problem = absl::StrCat("it has ", st.st_nlink, " hard links");
  } else if (fcntl(fd.get(), F_SETFL, flags & O_APPEND) != 0 ||
             (mode == JobFile::kReplace && ftruncate(fd.get(), 0) != 0)) {
    problem = std::strerror(errno);
  }
  if (!problem.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot use ", path, ": ", problem));
  }
  return fd;
}

absl::Status WriteJobFile(const PrivateDir& folder, absl::string_view name,
                          absl::string_view contents) {
  BERTH_ASSIGN_OR_RETURN(UniqueFd fd, OpenJobFile(folder, name, JobFile::kReplace));
  while (!contents.empty()) {
    const ssize_t n = write(fd.get(), contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write ", folder.path, "/", name, ": ", std::strerror(errno)));
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace berth::agent
