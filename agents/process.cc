#include "agents/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace berth::agent {
namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// What the child sends on the error pipe when it cannot exec.
struct ChildError {
  int step = 0;  // kChdirFailed or kExecFailed
  int error = 0;
};
constexpr int kChdirFailed = 1;
constexpr int kExecFailed = 2;

// In the child: only async-signal-safe calls. Reports failures on
// `error_fd`.
[[noreturn]] void Child(char* const* argv, char* const* envp, int out_fd, int err_fd, int cwd_fd,
                        int error_fd, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent thread is already gone
  // The agent's handlers would run on its memory: default them all before
  // unblocking (the dispositions are the child's own copy).
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old = {};
    if (sigaction(sig, nullptr, &old) != 0) continue;
    if (sig == SIGPIPE || (old.sa_handler != SIG_IGN && old.sa_handler != SIG_DFL)) {
      signal(sig, SIG_DFL);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) dup2(null, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  ChildError failure{.step = kChdirFailed};
  if (cwd_fd < 0 || fchdir(cwd_fd) == 0) {
    execvpe(argv[0], argv, envp);
    failure.step = kExecFailed;
  }
  failure.error = errno;
  ssize_t ignored = write(error_fd, &failure, sizeof(failure));
  (void)ignored;
  _exit(127);
}

// Waits for exec: the pipe closes on success and carries the failure
// otherwise (step 0: none).
ChildError ReadChildError(int error_fd) {
  ChildError failure;
  ssize_t n;
  do {
    n = read(error_fd, &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  return n == sizeof(failure) ? failure : ChildError{};
}

struct ChildArgs {
  char* const* argv;
  char* const* envp;
  int out_fd, err_fd, cwd_fd, error_fd;
  pid_t parent;
};

int ChildMain(void* arg) {
  const auto* a = static_cast<const ChildArgs*>(arg);
  Child(a->argv, a->envp, a->out_fd, a->err_fd, a->cwd_fd, a->error_fd, a->parent);
}

// The child shares the agent's memory until it execs (CLONE_VM |
// CLONE_VFORK, as posix_spawn does): no page tables are copied, which made
// fork() of the agent take hundreds of ms under load. Every signal is
// blocked around it, so no handler of the agent's runs in the child.
// Under ASan or TSan a plain fork() instead: their runtimes cannot follow a
// child running on its own stack in the agent's memory (ASan: "ignoring
// requested __asan_handle_no_return", with false reports to follow).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BERTH_SPAWN_WITH_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BERTH_SPAWN_WITH_FORK 1
#endif
#endif
pid_t CloneChild(ChildArgs& args) {
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
#ifdef BERTH_SPAWN_WITH_FORK
  const pid_t pid = fork();
  if (pid == 0) ChildMain(&args);
#else
  constexpr size_t kStackBytes = 256 * 1024;
  auto stack = std::make_unique<char[]>(kStackBytes);
  const pid_t pid =
      clone(ChildMain, stack.get() + kStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
#endif
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

}  // namespace

absl::StatusOr<pid_t> SpawnProcessGroup(const SpawnRequest& request) {
  if (request.argv.empty()) return absl::InvalidArgumentError("no command");
  if (request.stdout_fd < 0 || request.stderr_fd < 0) {
    return absl::InvalidArgumentError("no stdout or stderr for the job");
  }
  std::vector<char*> args = CStrings(request.argv);
  std::vector<char*> envp = CStrings(request.env);
  int error_pipe[2] = {-1, -1};
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot make a pipe: ", std::strerror(errno)));
  }
  ChildArgs child{.argv = args.data(),
                  .envp = envp.data(),
                  .out_fd = request.stdout_fd,
                  .err_fd = request.stderr_fd,
                  .cwd_fd = request.cwd_fd,
                  .error_fd = error_pipe[1],
                  .parent = getpid()};
  const pid_t pid = CloneChild(child);
  close(error_pipe[1]);
  if (pid < 0) {
    close(error_pipe[0]);
    return absl::UnavailableError(absl::StrCat("clone failed: ", std::strerror(errno)));
  }
  setpgid(pid, pid);  // also here, so killpg works before the child runs
  const ChildError failure = ReadChildError(error_pipe[0]);
  close(error_pipe[0]);
  if (failure.step == 0) return pid;
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (failure.step == kChdirFailed) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot enter the job's folder: ", std::strerror(failure.error)));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("cannot run ", request.argv[0], ": ", std::strerror(failure.error)));
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
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

}  // namespace berth::agent
