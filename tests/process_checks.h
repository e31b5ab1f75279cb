// Test helpers for checking on processes a job started: read the pids it
// wrote, and wait (bounded) until they are gone. Shared by the agent's job
// runner tests and the integration tests that run real jobs.
#ifndef BERTH_TESTS_PROCESS_CHECKS_H_
#define BERTH_TESTS_PROCESS_CHECKS_H_

#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace berth::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The pids a job wrote, one a line.
inline std::vector<pid_t> Pids(const std::string& path) {
  std::vector<pid_t> pids;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n')) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
  }
  return pids;
}

// kill(pid, 0) succeeds on a zombie too: an orphan killed with its group
// stays one until init reaps it, so a zombie counts as gone.
inline bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] != 'Z';
}

// Waits (at most 20 s) until none of `pids` is alive; returns those still
// alive.
inline std::vector<pid_t> WaitUntilGone(std::vector<pid_t> pids) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (true) {
    std::erase_if(pids, [](pid_t pid) { return !Alive(pid); });
    if (pids.empty() || absl::Now() >= deadline) return pids;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace berth::testing

#endif  // BERTH_TESTS_PROCESS_CHECKS_H_
