// Fuzzes the planner on random shapes, workloads and splits.
//
// The bytes become a PlanRequest through FuzzedDataProvider: sizes are drawn
// mostly from ranges the solver searches quickly (layers ≤ 128, up to 16
// GPUs a node), with a few fields free to reach their validation limits and
// beyond, so that ValidateRequest() sees out-of-range, negative and NaN
// values. Only a request that validates is solved. On every solved result:
//  - each plan's memory total equals the sum of its parts;
//  - a feasible result's best plan fits: total ≤ usable bytes, as do the
//    alternatives marked fits;
//  - every plan's gpus == tp·pp·dp, and fixed fields of the split are held.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <fuzzer/FuzzedDataProvider.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "planner/gpu.h"
#include "planner/memory.h"
#include "planner/model.h"
#include "planner/solver.h"
#include "planner/workload.h"
#include "tests/fuzz/fuzz_check.h"

namespace berth::planner {
namespace {

// A value in [lo, hi] most of the time; now and then any int64, so that
// validation sees zero, negative and enormous numbers.
int64_t Int(FuzzedDataProvider& in, int64_t lo, int64_t hi) {
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0) return in.ConsumeIntegral<int64_t>();
  return in.ConsumeIntegralInRange<int64_t>(lo, hi);
}

double Real(FuzzedDataProvider& in, double lo, double hi) {
  switch (in.ConsumeIntegralInRange<int>(0, 31)) {
    case 0:
      return std::numeric_limits<double>::quiet_NaN();
    case 1:
      return std::numeric_limits<double>::infinity();
    case 2:
      return -in.ConsumeFloatingPoint<double>();
    default:
      return in.ConsumeFloatingPointInRange<double>(lo, hi);
  }
}

ModelShape Shape(FuzzedDataProvider& in) {
  ModelShape s;
  s.name = "fuzz";
  s.layers = Int(in, 1, 128);
  s.heads = Int(in, 1, 128);
  s.kv_heads = in.ConsumeBool() ? s.heads : Int(in, 1, 128);
  // Mostly a whole head dimension; heads may be any int64 here, so multiply
  // only a small head count.
  const bool whole_heads = in.ConsumeBool() && s.heads >= 1 && s.heads <= 128;
  s.hidden = whole_heads ? s.heads * in.ConsumeIntegralInRange<int64_t>(1, 256) : Int(in, 1, 65536);
  s.ffn = Int(in, 1, 1 << 18);
  s.vocab = Int(in, 1, 1 << 18);
  s.tied_embeddings = in.ConsumeBool();
  s.mlp = in.ConsumeBool() ? MlpKind::kSwiGlu : MlpKind::kGelu;
  s.norm = in.ConsumeBool() ? NormKind::kRmsNorm : NormKind::kLayerNorm;
  s.qkv_bias = in.ConsumeBool();
  s.linear_bias = in.ConsumeBool();
  s.parallel_block = in.ConsumeBool();
  s.learned_positions = in.ConsumeBool() ? 0 : Int(in, 0, 1 << 16);
  if (in.ConsumeBool()) {
    s.experts = Int(in, 0, 64);
    s.experts_per_token = Int(in, 0, 8);
  }
  return s;
}

Hardware Hw(FuzzedDataProvider& in) {
  Hardware h;
  h.gpu.name = "fuzz-gpu";
  h.gpu.memory_bytes = Int(in, 256 * kMiB, 1024 * kGiB);
  h.gpu.peak_bf16_flops = Real(in, 0, 1e16);
  h.gpu.memory_bandwidth_bytes = Real(in, 0, 1e13);
  h.gpus_per_node = Int(in, 1, 16);
  h.usable_fraction = Real(in, 0, 1);
  h.overhead_bytes = Int(in, 0, 4 * kGiB);
  return h;
}

DType AnyDType(FuzzedDataProvider& in) {
  return in.PickValueInArray(
      {DType::kFp32, DType::kBf16, DType::kFp16, DType::kFp8, DType::kInt8, DType::kInt4});
}

void Workloads(FuzzedDataProvider& in, PlanRequest& r) {
  r.train.seq = Int(in, 1, 1 << 17);
  r.train.micro_batch = in.ConsumeBool() ? 0 : Int(in, 0, 16);
  r.train.global_batch = in.ConsumeBool() ? 0 : Int(in, 0, 1 << 14);
  r.train.framework = in.ConsumeBool() ? Framework::kMegatron : Framework::kDeepSpeed;
  if (in.ConsumeBool()) {
    r.train.recompute =
        in.PickValueInArray({Recompute::kNone, Recompute::kSelective, Recompute::kFull});
  }
  r.train.flash_attention = in.ConsumeBool();
  r.train.sequence_parallel = in.ConsumeBool();
  r.train.virtual_stages = in.ConsumeBool() ? 1 : Int(in, 1, 8);
  r.infer.weights = AnyDType(in);
  r.infer.kv_dtype = AnyDType(in);
  r.infer.batch = Int(in, 1, 1024);
  r.infer.context = Int(in, 1, 1 << 20);
  r.infer.offload = in.PickValueInArray({Offload::kNone, Offload::kLayerwise, Offload::kCpu});
  r.infer.prefill_chunk = in.ConsumeBool() ? kDefaultPrefillChunk : Int(in, 1, 1 << 16);
}

PlanRequest Request(FuzzedDataProvider& in) {
  PlanRequest r;
  r.task = in.ConsumeBool() ? Task::kTrain : Task::kInfer;
  r.model = Shape(in);
  r.hardware = Hw(in);
  Workloads(in, r);
  r.max_gpus = Int(in, 1, 4096);
  if (in.ConsumeBool()) r.fixed.tp = Int(in, 0, 16);
  if (in.ConsumeBool()) r.fixed.pp = Int(in, 0, 16);
  if (in.ConsumeBool()) r.fixed.dp = Int(in, 0, 64);
  if (in.ConsumeBool()) r.fixed.zero_stage = static_cast<int>(Int(in, -1, 3));
  if (in.ConsumeBool()) {
    r.tokens = Real(in, 0, 1e13);
    r.days = in.ConsumeBool() ? Real(in, 0, 365) : 0;
    r.tokens_per_second = in.ConsumeBool() ? Real(in, 0, 1e8) : 0;
  }
  r.mfu = in.ConsumeBool() ? kDefaultMfu : Real(in, 0, 1);
  r.max_alternatives = static_cast<int>(Int(in, 0, 4));
  // Read last, so that inputs kept from before EP existed decode as they did.
  if (in.ConsumeBool()) r.fixed.ep = Int(in, 0, 64);
  return r;
}

void CheckPlan(const PlanRequest& r, const PlanResult& result, const Plan& p) {
  const MemoryBreakdown& m = p.memory;
  const int64_t parts = m.weights_bytes + m.gradients_bytes + m.optimizer_bytes +
                        m.activations_bytes + m.kv_cache_bytes + m.workspace_bytes +
                        m.overhead_bytes;
  FUZZ_CHECK(m.total_bytes == parts, "total ", m.total_bytes, " parts ", parts);
  FUZZ_CHECK(p.gpus == p.split.gpus(), "gpus ", p.gpus, " split ", p.split.tp, "x", p.split.pp, "x",
             p.split.dp);
  FUZZ_CHECK(p.gpus >= 1 && p.gpus <= r.max_gpus, "gpus ", p.gpus, " max ", r.max_gpus);
  if (p.fits) {
    FUZZ_CHECK(m.total_bytes <= result.usable_bytes, "fits but total ", m.total_bytes, " > usable ",
               result.usable_bytes);
  }
  if (r.fixed.tp > 0) FUZZ_CHECK(p.split.tp == r.fixed.tp, "tp not held");
  if (r.fixed.pp > 0) FUZZ_CHECK(p.split.pp == r.fixed.pp, "pp not held");
  if (r.fixed.dp > 0) FUZZ_CHECK(p.split.dp == r.fixed.dp, "dp not held");
  if (r.fixed.ep > 0) FUZZ_CHECK(p.split.ep == r.fixed.ep, "ep not held");
  FUZZ_CHECK(p.split.ep >= 1 && p.split.dp % p.split.ep == 0, "ep ", p.split.ep, " dp ",
             p.split.dp);
  if (p.split.ep > 1) {
    FUZZ_CHECK(r.task == Task::kTrain && r.model.experts % p.split.ep == 0, "ep ", p.split.ep,
               " experts ", r.model.experts);
  }
}

void Run(FuzzedDataProvider& in) {
  const PlanRequest request = Request(in);
  const absl::Status valid = ValidateRequest(request);
  if (!valid.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(valid), valid.ToString());
    return;
  }
  absl::StatusOr<PlanResult> result = SolvePlan(request);
  FUZZ_CHECK(result.ok(), "a valid request failed to solve: ", result.status().ToString());
  FUZZ_CHECK(result->usable_bytes == UsableBytes(request.hardware), "usable bytes");
  if (result->feasible) {
    FUZZ_CHECK(result->best.fits, "feasible but best does not fit");
    FUZZ_CHECK(result->best.memory.total_bytes <= result->usable_bytes, "best over usable");
    CheckPlan(request, *result, result->best);
  } else {
    FUZZ_CHECK(!result->reason.empty(), "infeasible without a reason");
  }
  for (const Plan& alternative : result->alternatives) {
    CheckPlan(request, *result, alternative);
  }
}

}  // namespace
}  // namespace berth::planner

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  berth::planner::Run(in);
  return 0;
}
