// berth-agent: reports one node's GPUs to berthd and runs the jobs it is
// given. Thin: flags, inventory, signals; the work is in berth_agent_lib.
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
#include "absl/time/time.h"
#include "agents/agent.h"
#include "agents/inventory.h"

ABSL_FLAG(std::string, daemon, "127.0.0.1:7070", "berthd's agent address");
ABSL_FLAG(std::string, node, "", "this node's name (default: the hostname)");
ABSL_FLAG(std::string, inventory, "",
          "JSON file listing this node's GPUs (berth.v1.Inventory); "
          "required until NVML discovery exists");
ABSL_FLAG(int64_t, heartbeat_ms, 1000,
          "heartbeat interval when the daemon does not set one");

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

absl::StatusOr<berth::agent::AgentOptions> OptionsFromFlags() {
  std::string node = absl::GetFlag(FLAGS_node);
  if (node.empty()) node = Hostname();
  const std::string inventory = absl::GetFlag(FLAGS_inventory);
  if (inventory.empty()) {
    return absl::InvalidArgumentError(
        "--inventory FILE is required: GPU discovery through NVML comes in "
        "a later version (see deploy/examples/inventory-*.json)");
  }
  if (absl::GetFlag(FLAGS_heartbeat_ms) <= 0) {
    return absl::InvalidArgumentError("--heartbeat_ms must be positive");
  }
  absl::StatusOr<berth::v1::Register> reg =
      berth::agent::LoadInventory(inventory, node);
  if (!reg.ok()) return reg.status();
  return berth::agent::AgentOptions{
      .daemon_address = absl::GetFlag(FLAGS_daemon),
      .node = node,
      .registration = *std::move(reg),
      .default_heartbeat_interval =
          absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_ms)),
  };
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "berth-agent --inventory FILE [--daemon HOST:PORT] [--node NAME]");
  // Abseil itself exits 1 on an unknown flag or a malformed value.
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return Fail(std::string("unexpected argument \"") + positional[1] +
                "\"; see --help");
  }

  // Block the signals before any thread starts, so every thread inherits the
  // mask and only the waiter below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<berth::agent::AgentOptions> options = OptionsFromFlags();
  if (!options.ok()) return Fail(std::string(options.status().message()));
  absl::StatusOr<std::unique_ptr<berth::agent::Agent>> agent =
      berth::agent::Agent::Create(*std::move(options));
  if (!agent.ok()) return Fail(std::string(agent.status().message()));

  std::atomic<bool> signalled{false};
  std::thread waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    signalled = true;
    std::cerr << "berth-agent: signal " << signal_number
              << ", shutting down\n";
    (*agent)->Shutdown();
  });
  (*agent)->Run();
  // Run() returns only after Shutdown(); wake the waiter if it still waits.
  if (!signalled) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}
