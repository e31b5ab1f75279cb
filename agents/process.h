// Starting a job's command as its own process group.
//
// SpawnProcessGroup() forks and execs `argv` (looked up in PATH, no shell)
// with exactly `env`, in a new process group whose id is the returned pid,
// stdin from /dev/null and stdout/stderr appended to the two files. The
// child gets SIGKILL when the thread that called this exits
// (PR_SET_PDEATHSIG), and starts with no signal blocked. When exec fails the
// error says why ("cannot run foo: No such file or directory") and the child
// has been reaped.
#ifndef BERTH_AGENTS_PROCESS_H_
#define BERTH_AGENTS_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::agent {

absl::StatusOr<pid_t> SpawnProcessGroup(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env,
                                        const std::string& stdout_path,
                                        const std::string& stderr_path);

// "SIGTERM", "SIGKILL", ... or "signal N".
std::string SignalName(int signal);

// This process's environment as "K=V" strings.
std::vector<std::string> CurrentEnvironment();

}  // namespace berth::agent

#endif  // BERTH_AGENTS_PROCESS_H_
