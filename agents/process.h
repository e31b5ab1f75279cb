// Starting a job's command as its own process group.
//
// SpawnProcessGroup() starts (clone with CLONE_VM | CLONE_VFORK) and execs `argv` (looked up in the
// agent's own PATH, no shell) with exactly `env`, in a new process group whose id is the returned
// pid, stdin from /dev/null, stdout and stderr on the given descriptors (the caller opened them,
// see work_dir.h, and still owns them) and, with `cwd_fd`, in that folder. The child gets SIGKILL
// when the thread that called this exits (PR_SET_PDEATHSIG), and starts with no signal blocked.
// When exec fails the error says why ("cannot run foo: No such file or directory") and the child
// has been reaped.
#ifndef BERTH_AGENTS_PROCESS_H_
#define BERTH_AGENTS_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::agent {

struct SpawnRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V"
  int stdout_fd = -1;            // required
  int stderr_fd = -1;            // required
  int cwd_fd = -1;               // -1: the caller's working directory
};

absl::StatusOr<pid_t> SpawnProcessGroup(const SpawnRequest& request);

// "SIGTERM", "SIGKILL", ... or "signal N".
std::string SignalName(int signal);

// This process's environment as "K=V" strings.
std::vector<std::string> CurrentEnvironment();

}  // namespace berth::agent

#endif  // BERTH_AGENTS_PROCESS_H_
