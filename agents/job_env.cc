#include "agents/job_env.h"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace berth::agent {

NodeShare ShareOf(const v1::Job& job, absl::string_view node) {
  NodeShare share;
  share.world_size = job.gpus_size();
  std::vector<std::string> nodes;  // in order of first appearance
  for (const v1::GpuAssignment& gpu : job.gpus()) {
    if (std::find(nodes.begin(), nodes.end(), gpu.node()) == nodes.end()) {
      nodes.push_back(gpu.node());
    }
    if (gpu.node() == node) share.gpus.push_back(gpu);
    if (gpu.tp_rank() == 0 && gpu.pp_rank() == 0 && gpu.dp_rank() == 0 &&
        !gpu.node_address().empty()) {
      share.master_addr = gpu.node_address();
    }
  }
  if (nodes.empty()) return share;
  share.nnodes = static_cast<int>(nodes.size());
  share.node_rank = static_cast<int>(std::find(nodes.begin(), nodes.end(), node) - nodes.begin());
  std::sort(share.gpus.begin(), share.gpus.end(),
            [](const v1::GpuAssignment& a, const v1::GpuAssignment& b) {
              return std::tuple(a.pp_rank(), a.dp_rank(), a.tp_rank(), a.index()) <
                     std::tuple(b.pp_rank(), b.dp_rank(), b.tp_rank(), b.index());
            });
  return share;
}

int MasterPort(int64_t job_id) {
  const int64_t offset = job_id % kMasterPortRange;
  return kMasterPortBase + static_cast<int>(offset < 0 ? offset + kMasterPortRange : offset);
}

std::string MegatronArgs(const v1::PlanReport& plan, bool sequence_parallel) {
  std::string args = absl::StrCat("--tensor-model-parallel-size ", std::max(plan.tp(), 1),
                                  " --pipeline-model-parallel-size ", std::max(plan.pp(), 1),
                                  " --micro-batch-size ", std::max(plan.micro_batch(), 1));
  if (plan.ep() > 1) absl::StrAppend(&args, " --expert-model-parallel-size ", plan.ep());
  if (plan.zero_stage() >= 1) absl::StrAppend(&args, " --use-distributed-optimizer");
  if (plan.recompute() == "full" || plan.recompute() == "selective") {
    absl::StrAppend(&args, " --recompute-granularity ", plan.recompute());
  }
  if (sequence_parallel) absl::StrAppend(&args, " --sequence-parallel");
  return args;
}

std::string DeepSpeedConfigJson(const v1::PlanReport& plan) {
  return absl::StrCat(R"({"train_micro_batch_size_per_gpu": )", std::max(plan.micro_batch(), 1),
                      R"(, "zero_optimization": {"stage": )", plan.zero_stage(),
                      R"(}, "bf16": {"enabled": true}})", "\n");
}

std::map<std::string, std::string> JobVariables(const v1::Job& job, const NodeShare& share,
                                                absl::string_view deepspeed_config_path,
                                                absl::string_view checkpoint_path) {
  std::vector<int> indices;
  for (const v1::GpuAssignment& gpu : share.gpus) indices.push_back(gpu.index());
  const v1::PlanReport& plan = job.plan();
  std::map<std::string, std::string> vars = {
      {"CUDA_VISIBLE_DEVICES", absl::StrJoin(indices, ",")},
      {"BERTH_JOB_ID", absl::StrCat(job.id())},
      {"BERTH_TP", absl::StrCat(plan.tp())},
      {"BERTH_PP", absl::StrCat(plan.pp())},
      {"BERTH_DP", absl::StrCat(plan.dp())},
      {"BERTH_EP", absl::StrCat(std::max(plan.ep(), 1))},
      {"BERTH_ZERO_STAGE", absl::StrCat(plan.zero_stage())},
      {"BERTH_MICRO_BATCH", absl::StrCat(plan.micro_batch())},
      {"BERTH_MEGATRON_ARGS", MegatronArgs(plan, job.spec().train().sequence_parallel())},
      {"BERTH_DEEPSPEED_CONFIG", std::string(deepspeed_config_path)},
      {"BERTH_CHECKPOINT_FILE", std::string(checkpoint_path)},
      {"MASTER_ADDR", share.master_addr},
      {"MASTER_PORT", absl::StrCat(MasterPort(job.id()))},
      {"NNODES", absl::StrCat(share.nnodes)},
      {"NODE_RANK", absl::StrCat(share.node_rank)},
      {"NPROC_PER_NODE", absl::StrCat(share.gpus.size())},
      {"WORLD_SIZE", absl::StrCat(share.world_size)},
  };
  if (job.spec().has_array_index()) {
    vars["BERTH_ARRAY_INDEX"] = absl::StrCat(job.spec().array_index());
  }
  return vars;
}

namespace {

bool IsNameChar(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && c >= '0' && c <= '9');
}

// `pattern` is a name, or a prefix followed by '*'.
bool Matches(absl::string_view name, absl::string_view pattern) {
  if (absl::ConsumeSuffix(&pattern, "*")) return absl::StartsWith(name, pattern);
  return name == pattern;
}

}  // namespace

absl::Status CheckPassEnv(const std::vector<std::string>& pass_env) {
  for (const std::string& entry : pass_env) {
    absl::string_view name = entry;
    absl::ConsumeSuffix(&name, "*");
    bool valid = !name.empty();
    for (size_t i = 0; i < name.size() && valid; ++i) {
      valid = IsNameChar(name[i], i == 0);
    }
    if (!valid) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pass_env: \"", entry,
                       "\" is not a variable name (letters, digits, _) or a name prefix "
                       "followed by *"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> InheritedEnvironment(const std::vector<std::string>& agent_env,
                                              const std::vector<std::string>& pass_env) {
  std::vector<std::string> out;
  for (const std::string& entry : agent_env) {
    const absl::string_view name = absl::string_view(entry).substr(0, entry.find('='));
    auto matches = [name](absl::string_view p) { return Matches(name, p); };
    if (name.size() == entry.size() || name.empty()) continue;  // not K=V
    if (std::any_of(std::begin(kInheritedVariables), std::end(kInheritedVariables), matches) ||
        std::any_of(pass_env.begin(), pass_env.end(), matches)) {
      out.push_back(entry);
    }
  }
  return out;
}

std::vector<std::string> MergeEnvironment(const std::vector<std::string>& base,
                                          const v1::JobSpec& spec,
                                          const std::map<std::string, std::string>& variables) {
  std::map<std::string, std::string> merged;
  for (const std::string& entry : base) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : spec.env()) merged[key] = value;
  for (const auto& [key, value] : variables) merged[key] = value;
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [key, value] : merged) out.push_back(absl::StrCat(key, "=", value));
  return out;
}

}  // namespace berth::agent
