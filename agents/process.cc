#include "agents/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace berth::agent {
namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings)
    out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// In the child: only async-signal-safe calls. Reports errno on `error_fd`.
[[noreturn]] void Child(char* const* argv, char* const* envp, int out_fd,
                        int err_fd, int error_fd, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent thread is already gone
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  const int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  execvpe(argv[0], argv, envp);
  const int error = errno;
  ssize_t ignored = write(error_fd, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

// Waits for exec: the pipe closes on success and carries errno on failure.
int ExecErrno(int error_fd) {
  int error = 0;
  ssize_t n;
  do {
    n = read(error_fd, &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  return n == sizeof(error) ? error : 0;
}

}  // namespace

absl::StatusOr<pid_t> SpawnProcessGroup(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env,
                                        const std::string& stdout_path,
                                        const std::string& stderr_path) {
  if (argv.empty()) return absl::InvalidArgumentError("no command");
  std::vector<char*> args = CStrings(argv);
  std::vector<char*> envp = CStrings(env);
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  const int out_fd = open(stdout_path.c_str(), flags, 0644);
  const int err_fd = open(stderr_path.c_str(), flags, 0644);
  int error_pipe[2] = {-1, -1};
  if (out_fd < 0 || err_fd < 0 || pipe2(error_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    for (int fd : {out_fd, err_fd, error_pipe[0], error_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the job's log files: ", std::strerror(error)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0)
    Child(args.data(), envp.data(), out_fd, err_fd, error_pipe[1], parent);
  close(error_pipe[1]);
  close(out_fd);
  close(err_fd);
  if (pid < 0) {
    close(error_pipe[0]);
    return absl::UnavailableError("fork failed");
  }
  setpgid(pid, pid);  // also here, so killpg works before the child runs
  const int error = ExecErrno(error_pipe[0]);
  close(error_pipe[0]);
  if (error == 0) return pid;
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return absl::FailedPreconditionError(
      absl::StrCat("cannot run ", argv[0], ": ", std::strerror(error)));
}

std::string SignalName(int signal) {
  switch (signal) {
    case SIGHUP:
      return "SIGHUP";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGKILL:
      return "SIGKILL";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGALRM:
      return "SIGALRM";
    case SIGTERM:
      return "SIGTERM";
    default:
      return absl::StrCat("signal ", signal);
  }
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    env.emplace_back(*e);
  return env;
}

}  // namespace berth::agent
