#include "agents/node_setup.h"

#include <fstream>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agents/discovery.h"
#include "agents/inventory.h"
#include "agents/work_dir.h"
#include "common/status_macros.h"

namespace berth::agent {
namespace {

void LogLine(absl::string_view node, absl::string_view line) {
  std::cerr << absl::StrCat("berth-agent[", node, "]: ", line, "\n") << std::flush;
}

std::function<std::vector<v1::GpuSample>()> NvmlSampler(std::shared_ptr<Nvml> nvml) {
  return [nvml = std::move(nvml)] {
    std::vector<v1::GpuSample> samples;
    absl::StatusOr<std::vector<NvmlSample>> read = nvml->Samples();
    if (!read.ok()) return samples;
    for (const NvmlSample& s : *read) {
      v1::GpuSample& sample = samples.emplace_back();
      sample.set_index(s.index);
      sample.set_utilization(s.utilization_percent / 100.0);
      sample.set_memory_used_bytes(static_cast<double>(s.memory_used_bytes));
    }
    return samples;
  };
}

constexpr int64_t kMaxPemFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, ": cannot open"));
  }
  std::string text;
  text.resize(kMaxPemFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.empty() || static_cast<int64_t>(text.size()) > kMaxPemFileBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, " ", path, ": empty or larger than ", kMaxPemFileBytes, " bytes"));
  }
  return text;
}

absl::StatusOr<bool> RunJobs(const std::string& jobs, bool discovered) {
  if (jobs == "run") return true;
  if (jobs == "simulate") return false;
  if (jobs == "auto") return discovered;
  return absl::InvalidArgumentError(
      absl::StrCat("--jobs must be auto, run or simulate, not \"", jobs, "\""));
}

// --work_dir (a folder per node with --simulate), else the default when
// commands run; nothing is written when they do not.
absl::StatusOr<std::string> WorkDirFor(const NodeConfig& config, const std::string& node,
                                       bool run_jobs) {
  if (!config.work_dir.empty()) {
    return config.simulate > 0 ? absl::StrCat(config.work_dir, "/", node) : config.work_dir;
  }
  if (!run_jobs) return std::string();
  return DefaultWorkDir(StateDirsFromEnvironment(), node);
}

absl::StatusOr<AgentOptions> BaseOptions(
    const NodeConfig& config, const std::string& node, v1::Register reg, bool run_jobs,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  reg.set_address(config.address);
  BERTH_ASSIGN_OR_RETURN(std::string work_dir, WorkDirFor(config, node, run_jobs));
  return AgentOptions{
      .daemon_address = config.daemon_address,
      .credentials = credentials,
      .node = node,
      .registration = std::move(reg),
      .default_heartbeat_interval = config.heartbeat_interval,
      .keepalive_time = config.keepalive,
      .run_jobs = run_jobs,
      .work_dir = std::move(work_dir),
      .stop_grace = config.stop_grace,
      .pass_env = config.pass_env,
      .simulated_run = config.simulated_run,
  };
}

absl::StatusOr<std::vector<std::unique_ptr<Agent>>> Simulated(
    const NodeConfig& config, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  if (config.simulate > kMaxSimulatedNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--simulate ", config.simulate, " is more than ", kMaxSimulatedNodes));
  }
  if (config.inventory_path.empty()) {
    return absl::InvalidArgumentError(
        "--simulate needs --inventory FILE: the GPUs of each simulated node");
  }
  BERTH_ASSIGN_OR_RETURN(bool run_jobs, RunJobs(config.jobs, false));
  std::vector<std::unique_ptr<Agent>> agents;
  for (int i = 0; i < config.simulate; ++i) {
    const std::string node = absl::StrFormat("%s-%04d", config.node, i);
    BERTH_ASSIGN_OR_RETURN(v1::Register reg, LoadInventory(config.inventory_path, node));
    reg.set_discovery("simulated");
    BERTH_ASSIGN_OR_RETURN(AgentOptions options,
                           BaseOptions(config, node, std::move(reg), run_jobs, credentials));
    BERTH_ASSIGN_OR_RETURN(agents.emplace_back(), Agent::Create(std::move(options)));
  }
  LogLine(config.node, absl::StrCat("discovery: simulated (", config.simulate, " nodes from ",
                                    config.inventory_path, ")"));
  return agents;
}

absl::StatusOr<std::vector<std::unique_ptr<Agent>>> Discovered(
    const NodeConfig& config, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  BERTH_ASSIGN_OR_RETURN(Discovery found, Discover({.node = config.node,
                                                    .inventory_path = config.inventory_path,
                                                    .nvml_library = config.nvml_library,
                                                    .nvidia_smi = config.nvidia_smi}));
  LogLine(config.node, absl::StrCat("discovery: ", found.method, " (",
                                    found.registration.gpus_size(), " GPUs)"));
  BERTH_ASSIGN_OR_RETURN(bool run_jobs, RunJobs(config.jobs, found.method != "inventory"));
  BERTH_ASSIGN_OR_RETURN(
      AgentOptions options,
      BaseOptions(config, config.node, std::move(found.registration), run_jobs, credentials));
  if (found.nvml != nullptr) {
    options.sample_gpus = NvmlSampler(std::shared_ptr<Nvml>(std::move(found.nvml)));
  }
  std::vector<std::unique_ptr<Agent>> agents;
  BERTH_ASSIGN_OR_RETURN(agents.emplace_back(), Agent::Create(std::move(options)));
  return agents;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const NodeConfig& config) {
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (config.tls_ca.empty() && config.tls_cert.empty()) return nullptr;
  grpc::SslCredentialsOptions options;
  // Without --tls_ca, gRPC's default roots verify berthd.
  if (!config.tls_ca.empty()) {
    BERTH_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPemFile(config.tls_ca, "--tls_ca"));
  }
  if (!config.tls_cert.empty()) {
    BERTH_ASSIGN_OR_RETURN(options.pem_cert_chain, ReadPemFile(config.tls_cert, "--tls_cert"));
    BERTH_ASSIGN_OR_RETURN(options.pem_private_key, ReadPemFile(config.tls_key, "--tls_key"));
  }
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::vector<std::unique_ptr<Agent>>> SetUpNodes(const NodeConfig& config) {
  if (config.simulate < 0) {
    return absl::InvalidArgumentError("--simulate must be >= 0");
  }
  BERTH_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                         ChannelCredentialsFor(config));
  if (config.simulate > 0) return Simulated(config, credentials);
  return Discovered(config, credentials);
}

}  // namespace berth::agent
