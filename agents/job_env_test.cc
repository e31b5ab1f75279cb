#include "agents/job_env.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::agent {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

void AddGpu(v1::Job& job, const std::string& node, int index, int tp, int pp, int dp) {
  v1::GpuAssignment* gpu = job.add_gpus();
  gpu->set_node(node);
  gpu->set_index(index);
  gpu->set_tp_rank(tp);
  gpu->set_pp_rank(pp);
  gpu->set_dp_rank(dp);
  gpu->set_node_address(node == "a" ? "10.0.0.1" : "10.0.0.2");
}

// tp 2 × pp 2 × dp 2 = 8 GPUs on nodes b (first listed) and a; the GPU with
// all ranks 0 is on node a.
v1::Job TwoNodeJob() {
  v1::Job job;
  job.set_id(20042);
  job.mutable_plan()->set_tp(2);
  job.mutable_plan()->set_pp(2);
  job.mutable_plan()->set_dp(2);
  job.mutable_plan()->set_zero_stage(1);
  job.mutable_plan()->set_micro_batch(4);
  job.mutable_plan()->set_recompute("selective");
  AddGpu(job, "b", 7, 1, 1, 0);
  AddGpu(job, "b", 6, 0, 1, 0);
  AddGpu(job, "b", 5, 1, 1, 1);
  AddGpu(job, "b", 4, 0, 1, 1);
  AddGpu(job, "a", 3, 1, 0, 1);
  AddGpu(job, "a", 2, 0, 0, 1);
  AddGpu(job, "a", 1, 1, 0, 0);
  AddGpu(job, "a", 0, 0, 0, 0);
  return job;
}

std::vector<int> Indices(const NodeShare& share) {
  std::vector<int> out;
  for (const auto& gpu : share.gpus) out.push_back(gpu.index());
  return out;
}

TEST(ShareOfTest, RanksNodesByFirstAppearanceAndGpusByRank) {
  const v1::Job job = TwoNodeJob();
  const NodeShare a = ShareOf(job, "a");
  const NodeShare b = ShareOf(job, "b");
  EXPECT_EQ(b.node_rank, 0);  // listed first
  EXPECT_EQ(a.node_rank, 1);
  EXPECT_EQ(a.nnodes, 2);
  EXPECT_EQ(a.world_size, 8);
  EXPECT_EQ(a.master_addr, "10.0.0.1");  // node a holds tp=pp=dp=0
  EXPECT_EQ(b.master_addr, "10.0.0.1");
  // (pp, dp, tp) order: (0,0,0)=0 (0,0,1)=1 (0,1,0)=2 (0,1,1)=3.
  EXPECT_THAT(Indices(a), ElementsAre(0, 1, 2, 3));
  // (1,0,0)=6 (1,0,1)=7 (1,1,0)=4 (1,1,1)=5.
  EXPECT_THAT(Indices(b), ElementsAre(6, 7, 4, 5));
}

TEST(ShareOfTest, AJobWithoutPlacementRunsAloneHere) {
  v1::Job job;
  job.set_id(1);
  const NodeShare share = ShareOf(job, "a");
  EXPECT_EQ(share.nnodes, 1);
  EXPECT_EQ(share.node_rank, 0);
  EXPECT_EQ(share.world_size, 0);
  EXPECT_EQ(share.master_addr, "127.0.0.1");
  EXPECT_TRUE(share.gpus.empty());
}

TEST(JobVariablesTest, SetsThePlanAndRendezvous) {
  const v1::Job job = TwoNodeJob();
  const auto vars =
      JobVariables(job, ShareOf(job, "b"), "/w/jobs/20042/ds.json", "/w/jobs/20042/checkpoint");
  EXPECT_EQ(vars.at("CUDA_VISIBLE_DEVICES"), "6,7,4,5");
  EXPECT_EQ(vars.at("BERTH_JOB_ID"), "20042");
  EXPECT_EQ(vars.at("BERTH_TP"), "2");
  EXPECT_EQ(vars.at("BERTH_PP"), "2");
  EXPECT_EQ(vars.at("BERTH_DP"), "2");
  EXPECT_EQ(vars.at("BERTH_EP"), "1");  // no EP in the plan
  EXPECT_EQ(vars.at("BERTH_ZERO_STAGE"), "1");
  EXPECT_EQ(vars.at("BERTH_MICRO_BATCH"), "4");
  EXPECT_EQ(vars.at("MASTER_ADDR"), "10.0.0.1");
  EXPECT_EQ(vars.at("MASTER_PORT"), "20042");  // 20000 + 20042 % 20000
  EXPECT_EQ(vars.at("NNODES"), "2");
  EXPECT_EQ(vars.at("NODE_RANK"), "0");
  EXPECT_EQ(vars.at("NPROC_PER_NODE"), "4");
  EXPECT_EQ(vars.at("WORLD_SIZE"), "8");
  EXPECT_EQ(vars.at("BERTH_DEEPSPEED_CONFIG"), "/w/jobs/20042/ds.json");
  EXPECT_EQ(vars.at("BERTH_CHECKPOINT_FILE"), "/w/jobs/20042/checkpoint");
  EXPECT_EQ(vars.at("BERTH_MEGATRON_ARGS"),
            "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 "
            "--micro-batch-size 4 --use-distributed-optimizer "
            "--recompute-granularity selective");
}

TEST(JobVariablesTest, AnArrayJobGetsItsIndexAndOnlyItsIndex) {
  v1::Job job = TwoNodeJob();
  auto vars = [&job] { return JobVariables(job, ShareOf(job, "b"), "ds.json", "ckpt"); };
  EXPECT_EQ(vars().count("BERTH_ARRAY_INDEX"), 0u);
  job.mutable_spec()->set_array_index(0);  // index 0 is set, not absent
  EXPECT_EQ(vars().at("BERTH_ARRAY_INDEX"), "0");
  job.mutable_spec()->set_array_index(417);
  EXPECT_EQ(vars().at("BERTH_ARRAY_INDEX"), "417");
}

TEST(JobVariablesTest, MasterPortIsDeterministicAndInRange) {
  EXPECT_EQ(MasterPort(0), 20000);
  EXPECT_EQ(MasterPort(7), 20007);
  EXPECT_EQ(MasterPort(19999), 39999);
  EXPECT_EQ(MasterPort(40001), 20001);
}

TEST(MegatronArgsTest, OmitsWhatThePlanDoesNotUse) {
  v1::PlanReport plan;
  plan.set_tp(8);
  plan.set_pp(1);
  plan.set_micro_batch(1);
  plan.set_recompute("none");
  EXPECT_EQ(MegatronArgs(plan, false),
            "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 1 "
            "--micro-batch-size 1");
  plan.set_recompute("full");
  EXPECT_EQ(MegatronArgs(plan, true),
            "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 1 "
            "--micro-batch-size 1 --recompute-granularity full "
            "--sequence-parallel");
  plan.set_ep(8);
  plan.set_recompute("none");
  EXPECT_EQ(MegatronArgs(plan, false),
            "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 1 "
            "--micro-batch-size 1 --expert-model-parallel-size 8");
}

TEST(DeepSpeedConfigTest, IsTheThreeKeyObject) {
  v1::PlanReport plan;
  plan.set_micro_batch(2);
  plan.set_zero_stage(3);
  EXPECT_EQ(DeepSpeedConfigJson(plan),
            "{\"train_micro_batch_size_per_gpu\": 2, \"zero_optimization\": "
            "{\"stage\": 3}, \"bf16\": {\"enabled\": true}}\n");
}

TEST(MergeEnvironmentTest, BerthWinsOverSpecWinsOverAgent) {
  v1::JobSpec spec;
  (*spec.mutable_env())["NCCL_DEBUG"] = "INFO";
  (*spec.mutable_env())["PATH"] = "/opt/bin";
  (*spec.mutable_env())["WORLD_SIZE"] = "99";
  const std::vector<std::string> env =
      MergeEnvironment({"PATH=/usr/bin", "HOME=/root", "WORLD_SIZE=1", "=junk", "NOEQUALS"}, spec,
                       {{"WORLD_SIZE", "8"}});
  EXPECT_THAT(env, ElementsAre("HOME=/root", "NCCL_DEBUG=INFO", "PATH=/opt/bin", "WORLD_SIZE=8"));
  EXPECT_THAT(env, Not(Contains("NOEQUALS")));
}

TEST(InheritedEnvironmentTest, KeepsTheAllowlistAndPassEnvOnly) {
  const std::vector<std::string> agent = {"PATH=/usr/bin",
                                          "HOME=/root",
                                          "LC_ALL=C.UTF-8",
                                          "CUDA_HOME=/usr/cuda",
                                          "NCCL_IB_HCA=mlx5",
                                          "NVIDIA_VISIBLE_DEVICES=all",
                                          "BERTH_TOKEN=secret",
                                          "AWS_SECRET_ACCESS_KEY=k",
                                          "HF_TOKEN=hf",
                                          "HF_HOME=/data/hf",
                                          "PATHX=no",
                                          "NOEQUALS",
                                          "=junk",
                                          "MY_VAR=1",
                                          "MY_VARIANT=2"};
  EXPECT_THAT(InheritedEnvironment(agent, {}),
              ElementsAre("PATH=/usr/bin", "HOME=/root", "LC_ALL=C.UTF-8", "CUDA_HOME=/usr/cuda",
                          "NCCL_IB_HCA=mlx5", "NVIDIA_VISIBLE_DEVICES=all"));
  // An exact name, and a prefix.
  EXPECT_THAT(InheritedEnvironment(agent, {"MY_VAR", "HF_*"}),
              ElementsAre("PATH=/usr/bin", "HOME=/root", "LC_ALL=C.UTF-8", "CUDA_HOME=/usr/cuda",
                          "NCCL_IB_HCA=mlx5", "NVIDIA_VISIBLE_DEVICES=all", "HF_TOKEN=hf",
                          "HF_HOME=/data/hf", "MY_VAR=1"));
}

TEST(CheckPassEnvTest, TakesNamesAndPrefixes) {
  EXPECT_TRUE(CheckPassEnv({}).ok());
  EXPECT_TRUE(CheckPassEnv({"HF_TOKEN", "WANDB_*", "_X1"}).ok());
  for (const std::string bad : {"", "*", "1X", "A-B", "A=B", "A*B", "A**"}) {
    absl::Status status = CheckPassEnv({"OK", bad});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace berth::agent
