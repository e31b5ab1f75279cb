#include "daemon/teams_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::daemon {

namespace {

// Closes a descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::Status WriteFailed(const std::string& path, const char* step) {
  return absl::FailedPreconditionError(absl::StrCat("cannot write the teams file ", path, " (",
                                                    step, ": ", std::strerror(errno),
                                                    "); the teams in force are unchanged"));
}

std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

absl::StatusOr<TeamsConfig> CheckTeamsText(absl::string_view yaml, absl::string_view source) {
  if (yaml.size() > kMaxTeamsTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("yaml: at most ", kMaxTeamsTextBytes, " bytes, got ", yaml.size()));
  }
  if (source.size() > kMaxTeamsSourceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("source: at most ", kMaxTeamsSourceBytes, " bytes, got ", source.size()));
  }
  for (char c : source) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("source: printable characters only");
    }
  }
  return ParseTeamsYaml(yaml, source.empty() ? "teams file" : source);
}

absl::Status CheckTeamsKeepLiveJobs(const TeamsConfig& next,
                                    const std::set<std::string>& live_teams) {
  std::vector<std::string> dropped;
  for (const std::string& team : live_teams) {
    if (next.Find(team) == nullptr) dropped.push_back(team);
  }
  if (dropped.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the new teams file drops ", dropped.size() == 1 ? "team " : "teams ",
      absl::StrJoin(dropped, ", "), ", which still ", dropped.size() == 1 ? "has" : "have",
      " jobs not ended; keep ", dropped.size() == 1 ? "it" : "them",
      " in the file until those jobs end (or cancel them); the teams in force are unchanged"));
}

absl::StatusOr<std::unique_ptr<TeamsFile>> TeamsFile::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read teams file ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<TeamsConfig> config = ParseTeamsYaml(text.str(), path);
  if (!config.ok()) return config.status();
  return std::unique_ptr<TeamsFile>(new TeamsFile(path, text.str(), *std::move(config)));
}

std::string TeamsFile::Text() const {
  absl::MutexLock lock(&mu_);
  return text_;
}

absl::Status TeamsFile::Replace(const std::string& text) {
  absl::MutexLock lock(&mu_);
  const std::string tmp = absl::StrCat(path_, ".apply-tmp");
  struct stat old_stat;
  const mode_t mode = stat(path_.c_str(), &old_stat) == 0 ? (old_stat.st_mode & 0777) : 0644;
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) return WriteFailed(path_, "open");
  absl::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const absl::Status failed = WriteFailed(path_, "write");
      unlink(tmp.c_str());
      return failed;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (fsync(fd.get()) != 0 || close(fd.Release()) != 0) {
    const absl::Status failed = WriteFailed(path_, "fsync");
    unlink(tmp.c_str());
    return failed;
  }
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    const absl::Status failed = WriteFailed(path_, "rename");
    unlink(tmp.c_str());
    return failed;
  }
  Fd folder(open(FolderOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder.get() >= 0) fsync(folder.get());  // the rename itself, durable
  text_ = text;
  return absl::OkStatus();
}

}  // namespace berth::daemon
