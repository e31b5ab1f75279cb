// The environment a job's command sees on one node: pure functions over the
// Job message, no I/O.
//
// ShareOf() picks this node's GPUs out of the placement and works out the
// torchrun rendezvous: nodes are ranked in order of first appearance in
// `job.gpus`; MASTER_ADDR is the node_address of the GPU whose tp, pp and dp
// ranks are all 0. This node's GPUs are ordered by (pp, dp, tp) rank, the
// order Megatron-LM gives global ranks (tp fastest), so local rank i runs on
// CUDA_VISIBLE_DEVICES' i-th entry.
//
// JobVariables() returns the variables berth sets (see docs/AGENT.md for the
// table). A job does not inherit the agent's whole environment (it may hold
// the agent's secrets): InheritedEnvironment() keeps only the variables of
// kInheritedVariables and the operator's `--pass_env`, and
// MergeEnvironment() lays the spec's `env` and then berth's variables over
// them (berth's win) as "KEY=VALUE" strings for execve:
//
//   MergeEnvironment(InheritedEnvironment(CurrentEnvironment(), pass_env),
//                    job.spec(), JobVariables(job, share, deepspeed_path, checkpoint_path));
#ifndef BERTH_AGENTS_JOB_ENV_H_
#define BERTH_AGENTS_JOB_ENV_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/plan.pb.h"

namespace berth::agent {

inline constexpr int kMasterPortBase = 20000;
inline constexpr int kMasterPortRange = 20000;

struct NodeShare {
  std::vector<v1::GpuAssignment> gpus;  // this node's, in rank order
  int node_rank = 0;
  int nnodes = 1;
  int world_size = 0;  // GPUs of the whole job
  std::string master_addr = "127.0.0.1";
};

// This node's part of `job`. A job without a placement runs on this node
// alone, with no GPU.
NodeShare ShareOf(const v1::Job& job, absl::string_view node);

// 20000 + id % 20000: the same on every node, with no coordination.
int MasterPort(int64_t job_id);

// "--tensor-model-parallel-size 4 --pipeline-model-parallel-size 2
//  --micro-batch-size 1 --use-distributed-optimizer
//  --recompute-granularity selective --sequence-parallel"
std::string MegatronArgs(const v1::PlanReport& plan, bool sequence_parallel);

// {"train_micro_batch_size_per_gpu": B, "zero_optimization": {"stage": Z},
//  "bf16": {"enabled": true}}
std::string DeepSpeedConfigJson(const v1::PlanReport& plan);

// Every variable berth sets for this node's share of the job, among them
// BERTH_CHECKPOINT_FILE: a path the job touches after each checkpoint (the
// agent reports the file's time; reclaim counts work since then as lost).
std::map<std::string, std::string> JobVariables(const v1::Job& job, const NodeShare& share,
                                                absl::string_view deepspeed_config_path,
                                                absl::string_view checkpoint_path);

// The agent's variables every job inherits: exact names, and prefixes
// ending in '*'. Documented in docs/AGENT.md; keep the two in step.
inline constexpr absl::string_view kInheritedVariables[] = {
    "PATH",     "HOME",     "USER",   "LOGNAME", "LANG",
    "LANGUAGE", "LC_*",     "TZ",     "TMPDIR",  "LD_LIBRARY_PATH",
    "CUDA_*",   "NVIDIA_*", "NCCL_*",
};

// InvalidArgument unless each entry is a variable name ([A-Za-z_][A-Za-z0-9_]*),
// or one followed by '*' for every variable with that prefix.
absl::Status CheckPassEnv(const std::vector<std::string>& pass_env);

// The entries of `agent_env` ("K=V", as environ) whose name matches
// kInheritedVariables or `pass_env` (see CheckPassEnv), in their order.
std::vector<std::string> InheritedEnvironment(const std::vector<std::string>& agent_env,
                                              const std::vector<std::string>& pass_env);

// `base` ("K=V" entries, as environ) overlaid with the spec's env, then
// with `variables`; sorted by key.
std::vector<std::string> MergeEnvironment(const std::vector<std::string>& base,
                                          const v1::JobSpec& spec,
                                          const std::map<std::string, std::string>& variables);

}  // namespace berth::agent

#endif  // BERTH_AGENTS_JOB_ENV_H_
