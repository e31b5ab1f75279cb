#include "planner/launch.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::planner {
namespace {

// vLLM's --dtype for 16- and 32-bit weights; quantized weights keep the
// checkpoint's compute type.
std::string VllmPrecision(const InferWorkload& w) {
  switch (w.weights) {
    case DType::kBf16:
      return " --dtype bfloat16";
    case DType::kFp16:
      return " --dtype float16";
    case DType::kFp32:
      return " --dtype float32";
    case DType::kFp8:
      return " --quantization fp8";
    case DType::kInt8:
    case DType::kInt4:
      break;  // the checkpoint's own quantization (AWQ, GPTQ...)
  }
  return "";
}

std::vector<LaunchArgs> Serving(const PlanRequest& request, const Plan& plan) {
  if (request.infer.offload != Offload::kNone) return {};
  const Split& s = plan.split;
  const InferWorkload& w = request.infer;
  const int64_t seqs = s.replica_batch > 0 ? s.replica_batch : w.batch;
  std::string vllm =
      absl::StrCat("--tensor-parallel-size ", s.tp, " --pipeline-parallel-size ", s.pp,
                   " --max-model-len ", w.context, " --max-num-seqs ", seqs, VllmPrecision(w));
  if (w.kv_dtype == DType::kFp8) absl::StrAppend(&vllm, " --kv-cache-dtype fp8");
  if (request.hardware.usable_fraction != kDefaultUsableFraction) {
    absl::StrAppend(
        &vllm, absl::StrFormat(" --gpu-memory-utilization %.2f", request.hardware.usable_fraction));
  }
  return {{"vllm", vllm},
          {"tensorrt-llm", absl::StrCat("--tp_size ", s.tp, " --pp_size ", s.pp,
                                        " --max_batch_size ", seqs, " --max_seq_len ", w.context)}};
}

std::string MegatronArgs(const PlanRequest& request, const Plan& plan, bool fp16) {
  const Split& s = plan.split;
  const TrainWorkload& w = request.train;
  std::string args =
      absl::StrCat("--tensor-model-parallel-size ", s.tp, " --pipeline-model-parallel-size ", s.pp,
                   " --micro-batch-size ", s.micro_batch);
  if (w.global_batch > 0) absl::StrAppend(&args, " --global-batch-size ", w.global_batch);
  if (s.ep > 1) absl::StrAppend(&args, " --expert-model-parallel-size ", s.ep);
  if (s.zero_stage >= 1) absl::StrAppend(&args, " --use-distributed-optimizer");
  if (s.recompute == Recompute::kFull) {
    absl::StrAppend(&args,
                    " --recompute-granularity full --recompute-method uniform"
                    " --recompute-num-layers 1");
  } else if (s.recompute == Recompute::kSelective) {
    absl::StrAppend(&args, " --recompute-granularity selective");
  }
  if (w.sequence_parallel) absl::StrAppend(&args, " --sequence-parallel");
  if (w.virtual_stages > 1 && s.pp > 1) {
    absl::StrAppend(&args, " --num-layers-per-virtual-pipeline-stage ",
                    request.model.layers / s.pp / w.virtual_stages);
  }
  if (s.uneven()) {
    absl::StrAppend(&args, " --decoder-first-pipeline-num-layers ", s.first_stage_layers,
                    " --decoder-last-pipeline-num-layers ", s.last_stage_layers);
  }
  absl::StrAppend(&args, fp16 ? " --fp16" : " --bf16");
  return args;
}

std::string DeepSpeedConfig(const Plan& plan, bool fp16) {
  return absl::StrCat(R"({"train_micro_batch_size_per_gpu": )", plan.split.micro_batch,
                      R"(, "zero_optimization": {"stage": )", plan.split.zero_stage, "}, ",
                      fp16 ? R"("fp16")" : R"("bf16")", R"(: {"enabled": true}})");
}

}  // namespace

std::vector<LaunchArgs> LaunchArgsFor(const PlanRequest& request, const Plan& plan) {
  if (request.task == Task::kInfer) return Serving(request, plan);
  const bool fp16 = !request.hardware.gpu.bf16;
  if (request.train.framework == Framework::kDeepSpeed) {
    return {{"deepspeed", DeepSpeedConfig(plan, fp16)}};
  }
  return {{"megatron", MegatronArgs(request, plan, fp16)}};
}

}  // namespace berth::planner
