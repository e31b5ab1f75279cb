#include "agents/nvidia_smi.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace berth::agent {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr size_t kFields = 7;
constexpr size_t kMaxOutputBytes = 1 << 20;

absl::Status BadLine(int line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("nvidia-smi output line ", line, ": ", why));
}

absl::StatusOr<SmiGpu> ParseLine(absl::string_view text, int line) {
  std::vector<std::string> fields = absl::StrSplit(text, ',');
  if (fields.size() != kFields) {
    return BadLine(line,
                   absl::StrCat(fields.size(), " fields, expected ", kFields, ": \"", text, "\""));
  }
  for (std::string& field : fields) absl::StripAsciiWhitespace(&field);
  SmiGpu gpu{.name = fields[1], .uuid = fields[2], .pci_bus_id = fields[3]};
  int64_t total_mib = 0, used_mib = 0;
  if (!absl::SimpleAtoi(fields[0], &gpu.index) || gpu.index < 0) {
    return BadLine(line, absl::StrCat("index \"", fields[0], "\""));
  }
  if (!absl::SimpleAtoi(fields[4], &total_mib) || total_mib <= 0) {
    return BadLine(line, absl::StrCat("memory.total \"", fields[4], "\""));
  }
  if (!absl::SimpleAtoi(fields[5], &used_mib) || used_mib < 0) used_mib = 0;
  if (!absl::SimpleAtoi(fields[6], &gpu.utilization_percent) || gpu.utilization_percent < 0 ||
      gpu.utilization_percent > 100) {
    gpu.utilization_percent = 0;  // "[N/A]", "[Not Supported]"
  }
  if (gpu.name.empty() || gpu.uuid.empty()) {
    return BadLine(line, "empty name or uuid");
  }
  gpu.pci_bus_id = absl::AsciiStrToUpper(gpu.pci_bus_id);
  gpu.memory_total_bytes = total_mib * kMiB;
  gpu.memory_used_bytes = used_mib * kMiB;
  return gpu;
}

}  // namespace

absl::StatusOr<std::vector<SmiGpu>> ParseNvidiaSmiCsv(absl::string_view text) {
  std::vector<SmiGpu> gpus;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    absl::StatusOr<SmiGpu> gpu = ParseLine(line, line_number);
    if (!gpu.ok()) return gpu.status();
    gpus.push_back(*std::move(gpu));
  }
  if (gpus.empty()) return absl::NotFoundError("nvidia-smi listed no GPUs");
  return gpus;
}

namespace {

// Reads `fd` until EOF or `deadline`; false on timeout.
bool ReadAll(int fd, absl::Time deadline, std::string& out) {
  char buffer[4096];
  while (true) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) return false;
    pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    if (out.size() < kMaxOutputBytes) out.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::string> RunNvidiaSmi(const std::string& binary, absl::Duration timeout) {
  const std::string query = absl::StrCat("--query-gpu=", kNvidiaSmiFields);
  const char* argv[] = {binary.c_str(), query.c_str(), "--format=csv,noheader,nounits", nullptr};
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDERR_FILENO);
    execvp(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  const bool finished = ReadAll(out[0], absl::Now() + timeout, text);
  close(out[0]);
  if (!finished) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) {
    return absl::DeadlineExceededError(
        absl::StrCat(binary, " did not finish in ", absl::FormatDuration(timeout)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return absl::NotFoundError(absl::StrCat("cannot run ", binary));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat(binary, " failed (wait status ", status, ")"));
  }
  return text;
}

}  // namespace berth::agent
