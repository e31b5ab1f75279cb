// berth-agent: reports one node's GPUs to berthd and runs the jobs it is
// given. Thin: flags, signals; the work is in berth_agent_lib (see
// node_setup.h, and docs/AGENT.md for the flags).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agents/agent.h"
#include "agents/node_setup.h"
#include "common/flags_help.h"
#include "common/limits.h"

ABSL_FLAG(std::string, daemon, "127.0.0.1:7070",
          "berthd's agent address, or several berthd sharing a PostgreSQL store: "
          "HOST:PORT,HOST:PORT (the agent follows the leader)");
ABSL_FLAG(std::string, node, "", "this node's name (default: the hostname)");
ABSL_FLAG(std::string, inventory, "",
          "JSON file listing this node's GPUs (berth.v1.Inventory); when "
          "given, NVML and nvidia-smi are not consulted");
ABSL_FLAG(int32_t, simulate, 0,
          "register this many simulated nodes <node>-0000... from one "
          "process, each with the --inventory GPUs (at most 512)");
ABSL_FLAG(int64_t, heartbeat_ms, 1000, "heartbeat interval when the daemon does not set one");
ABSL_FLAG(int64_t, keepalive_ms, 3000,
          "HTTP/2 keepalive PING interval to berthd (0: none, else >= 1000); a berthd that does "
          "not answer within 5 s is left for the next address (docs/HA.md)");
ABSL_FLAG(std::string, address, "127.0.0.1",
          "how other nodes reach this one (MASTER_ADDR of its jobs)");
ABSL_FLAG(std::string, work_dir, "",
          "jobs' logs and files go under <work_dir>/jobs/<id>/; it must be "
          "the agent user's and not writable by group or others (default: "
          "$STATE_DIRECTORY/<node>; as root /var/lib/berth-agent/<node>; "
          "else $XDG_STATE_HOME/berth-agent/<node> or "
          "~/.local/state/berth-agent/<node>)");
ABSL_FLAG(std::vector<std::string>, pass_env, {},
          "NAME,... of the agent's environment variables jobs inherit besides "
          "the built-in list (PATH, HOME, LANG, LC_*, CUDA_*, NCCL_*, ...; "
          "see docs/AGENT.md); NAME* passes every variable starting NAME");
ABSL_FLAG(int64_t, simulate_seconds, 0,
          "on simulated nodes (--simulate, or an inventory file): how long a "
          "job runs when its env sets no BERTH_SIMULATE_SECONDS; 0 runs it "
          "until it is cancelled or reaches its max run time");
ABSL_FLAG(std::string, nvml_library, "libnvidia-ml.so.1", "the NVML shared library to dlopen");
ABSL_FLAG(int64_t, stop_grace_ms, 10000,
          "SIGTERM to SIGKILL when a job is stopped and the daemon sets no "
          "grace, and for max run time");
ABSL_FLAG(std::string, jobs, "auto",
          "run: start the jobs' commands; simulate: only report them "
          "running; auto: run on discovered GPUs, simulate on --inventory "
          "and --simulate nodes");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that signed berthd's certificate; given (or with "
          "--tls_cert), the agent connects with TLS");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate whose common name is this node's name "
          "(berthd --tls_client_ca checks it); with --tls_key");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");

namespace {

constexpr int kUsageError = 2;

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

int Fail(const std::string& message) {
  std::cerr << "berth-agent: " << message << "\n";
  return kUsageError;
}

absl::StatusOr<berth::agent::NodeConfig> ConfigFromFlags() {
  std::string node = absl::GetFlag(FLAGS_node);
  if (node.empty()) node = Hostname();
  if (absl::GetFlag(FLAGS_heartbeat_ms) <= 0) {
    return absl::InvalidArgumentError("--heartbeat_ms must be positive");
  }
  if (const int64_t keepalive = absl::GetFlag(FLAGS_keepalive_ms);
      keepalive != 0 && (keepalive < berth::kMinPingIntervalMs || keepalive > 3600 * 1000)) {
    return absl::InvalidArgumentError(absl::StrCat("--keepalive_ms must be 0 (off) or in [",
                                                   berth::kMinPingIntervalMs, ", 3600000]"));
  }
  if (absl::GetFlag(FLAGS_stop_grace_ms) < 0) {
    return absl::InvalidArgumentError("--stop_grace_ms must be >= 0");
  }
  if (absl::GetFlag(FLAGS_simulate_seconds) < 0 ||
      absl::GetFlag(FLAGS_simulate_seconds) > 366LL * 86400) {
    return absl::InvalidArgumentError("--simulate_seconds must be in [0, 366 days]");
  }
  return berth::agent::NodeConfig{
      .daemon_address = absl::GetFlag(FLAGS_daemon),
      .node = node,
      .inventory_path = absl::GetFlag(FLAGS_inventory),
      .simulate = absl::GetFlag(FLAGS_simulate),
      .address = absl::GetFlag(FLAGS_address),
      .work_dir = absl::GetFlag(FLAGS_work_dir),
      .pass_env = absl::GetFlag(FLAGS_pass_env),
      .simulated_run = absl::Seconds(absl::GetFlag(FLAGS_simulate_seconds)),
      .nvml_library = absl::GetFlag(FLAGS_nvml_library),
      .jobs = absl::GetFlag(FLAGS_jobs),
      .heartbeat_interval = absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_ms)),
      .keepalive = absl::Milliseconds(absl::GetFlag(FLAGS_keepalive_ms)),
      .stop_grace = absl::Milliseconds(absl::GetFlag(FLAGS_stop_grace_ms)),
      .tls_ca = absl::GetFlag(FLAGS_tls_ca),
      .tls_cert = absl::GetFlag(FLAGS_tls_cert),
      .tls_key = absl::GetFlag(FLAGS_tls_key),
  };
}

}  // namespace

int main(int argc, char** argv) {
  berth::ShowFlagsOfFileInHelp("agents/main.cc");
  absl::SetProgramUsageMessage(
      "berth-agent [--daemon HOST:PORT] [--node NAME] [--inventory FILE "
      "[--simulate N]] [--address HOST] [--work_dir DIR] [--pass_env "
      "NAME,...] [--tls_ca FILE "
      "[--tls_cert FILE --tls_key FILE]]; see docs/AGENT.md and "
      "docs/SECURITY.md");
  // Abseil itself exits 1 on an unknown flag or a malformed value.
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // Lock-order checking costs a graph update per lock; tests run it instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (positional.size() > 1) {
    return Fail(std::string("unexpected argument \"") + positional[1] + "\"; see --help");
  }

  // Block the signals before any thread starts, so every thread inherits the
  // mask and only the waiter below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<berth::agent::NodeConfig> config = ConfigFromFlags();
  if (!config.ok()) return Fail(std::string(config.status().message()));
  absl::StatusOr<std::vector<std::unique_ptr<berth::agent::Agent>>> agents =
      berth::agent::SetUpNodes(*config);
  if (!agents.ok()) return Fail(std::string(agents.status().message()));

  std::atomic<bool> signalled{false};
  std::thread waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    signalled = true;
    std::cerr << "berth-agent: signal " << signal_number << ", shutting down\n";
    for (auto& agent : *agents) agent->Shutdown();
  });
  std::vector<std::thread> runs;
  for (auto& agent : *agents) {
    runs.emplace_back([&agent] { agent->Run(); });
  }
  for (std::thread& run : runs) run.join();
  // Run() returns only after Shutdown(); wake the waiter if it still waits.
  if (!signalled) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  agents->clear();  // stops the jobs still running
  return 0;
}
