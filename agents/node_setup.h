// From berth-agent's configuration to the Agents that serve it.
//
// SetUpNodes() discovers the node's GPUs (discovery.h) and logs the choice
// ("berth-agent[n1]: discovery: nvml (8 GPUs)"), then builds one Agent — or,
// with `simulate` N > 0, N Agents named "<node>-0000" … from the inventory
// file, each with its own stream, registered as discovery "simulated".
// `jobs` picks whether commands run: "run", "simulate", or "auto" (run on
// nodes whose GPUs were discovered, simulate on inventory and simulated
// nodes). main.cc parses the flags into a NodeConfig and runs the agents.
//
// Jobs' folders go under `work_dir` (with `simulate`, `<work_dir>/<node>`);
// without it, when commands run, under DefaultWorkDir() of work_dir.h (a
// state folder of the agent's user, e.g. /var/lib/berth-agent/<node> as
// root). `pass_env` names more of the agent's variables jobs inherit.
//
// With `tls_ca` (berthd's CA) the agents connect with TLS, and with
// `tls_cert`/`tls_key` they present that client certificate, whose common
// name must be the node's name when berthd runs with --tls_client_ca (so
// --simulate, which registers many names, cannot be used there).
#ifndef BERTH_AGENTS_NODE_SETUP_H_
#define BERTH_AGENTS_NODE_SETUP_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agents/agent.h"
#include "agents/nvml.h"

namespace berth::agent {

inline constexpr int kMaxSimulatedNodes = 512;

struct NodeConfig {
  std::string daemon_address = "127.0.0.1:7070";
  std::string node;
  std::string inventory_path;
  int simulate = 0;
  std::string address = "127.0.0.1";
  std::string work_dir;               // empty: DefaultWorkDir() (work_dir.h)
  std::vector<std::string> pass_env;  // see job_env.h
  // Simulated nodes: a job's run time without BERTH_SIMULATE_SECONDS; 0:
  // until it is stopped.
  absl::Duration simulated_run = absl::ZeroDuration();
  std::string nvml_library = kDefaultNvmlLibrary;
  std::string nvidia_smi = "nvidia-smi";
  std::string jobs = "auto";
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration keepalive = absl::Seconds(3);  // AgentOptions::keepalive_time
  absl::Duration stop_grace = absl::Seconds(10);
  // PEM files; all empty: an insecure channel (docs/SECURITY.md).
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

// The channel credentials for `config`'s TLS files: null when none is given
// (insecure); InvalidArgument when tls_cert and tls_key are not given
// together, FailedPrecondition when a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const NodeConfig& config);

// InvalidArgument for a bad configuration; FailedPrecondition when no GPU
// is found and no inventory is given.
absl::StatusOr<std::vector<std::unique_ptr<Agent>>> SetUpNodes(const NodeConfig& config);

}  // namespace berth::agent

#endif  // BERTH_AGENTS_NODE_SETUP_H_
