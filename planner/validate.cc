// ValidateRequest(): every field of a PlanRequest checked against its limit,
// with an InvalidArgument error that names the field.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "planner/solver.h"
#include "planner/solver_internal.h"

namespace berth::planner {
namespace {

// Limits far beyond any real job that keep every product in int64/double.
constexpr int64_t kMaxSeq = int64_t{1} << 22;  // 4M tokens
constexpr int64_t kMaxMicroBatch = 65536;
constexpr int64_t kMaxGlobalBatch = int64_t{1} << 26;  // 67M sequences
constexpr int64_t kMaxBatch = 1 << 20;
constexpr int64_t kMaxContext = int64_t{1} << 24;  // 16M tokens
constexpr int64_t kMaxGpusPerNode = 1024;
constexpr int64_t kMaxGpusLimit = 10'000'000;
constexpr int64_t kMaxGpuMemory = int64_t{1} << 50;  // 1 PiB

absl::Status Range(absl::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value, " is out of range [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

// Byte limits read better in GiB: "gpu_memory: 0.10 GiB is out of range
// [0.25 GiB, 1048576 GiB]".
absl::Status ByteRange(absl::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    const double gib = static_cast<double>(kGiB);
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %.2f GiB is out of range [%.2f GiB, %.0f GiB]", field,
                        static_cast<double>(value) / gib, static_cast<double>(lo) / gib,
                        static_cast<double>(hi) / gib));
  }
  return absl::OkStatus();
}

absl::Status NonNegativeFinite(absl::string_view field, double value) {
  if (!std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a finite number ≥ 0, got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateTrain(const PlanRequest& r) {
  const TrainWorkload& w = r.train;
  BERTH_RETURN_IF_ERROR(Range("seq", w.seq, 1, kMaxSeq));
  BERTH_RETURN_IF_ERROR(Range("micro_batch", w.micro_batch, 0, kMaxMicroBatch));
  BERTH_RETURN_IF_ERROR(Range("global_batch", w.global_batch, 0, kMaxGlobalBatch));
  BERTH_RETURN_IF_ERROR(Range("virtual_stages", w.virtual_stages, 1, r.model.layers));
  if (w.global_batch > 0 && w.micro_batch > 0 && w.global_batch % w.micro_batch != 0) {
    return absl::InvalidArgumentError(absl::StrCat("global_batch: ", w.global_batch,
                                                   " is not divisible by micro_batch (",
                                                   w.micro_batch, ")"));
  }
  if (r.fixed.zero_stage > 1 && w.framework == Framework::kMegatron) {
    return absl::InvalidArgumentError(
        absl::StrCat("zero: Megatron supports ZeRO 0 or 1 (the distributed optimizer), got ",
                     r.fixed.zero_stage, "; use framework deepspeed for stages 2 and 3"));
  }
  if (r.fixed.zero_stage > 1 && r.fixed.pp > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("zero: DeepSpeed runs ZeRO ", r.fixed.zero_stage,
                     " only without pipeline parallelism (pp must be 1, got ", r.fixed.pp, ")"));
  }
  if (r.fixed.dp > 0 && w.global_batch > 0) {
    const int64_t b = w.micro_batch > 0 ? w.micro_batch : 1;
    if (w.global_batch % (b * r.fixed.dp) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("dp: global_batch ", w.global_batch,
                                                     " is not divisible by dp × micro_batch (",
                                                     r.fixed.dp, " × ", b, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateInfer(const PlanRequest& r) {
  const InferWorkload& w = r.infer;
  BERTH_RETURN_IF_ERROR(Range("batch", w.batch, 1, kMaxBatch));
  BERTH_RETURN_IF_ERROR(Range("context", w.context, 1, kMaxContext));
  BERTH_RETURN_IF_ERROR(Range("prefill_chunk", w.prefill_chunk, 1, kMaxContext));
  if (r.tokens > 0 || r.days > 0) {
    return absl::InvalidArgumentError(
        "tokens: a pace in tokens and days applies to training only; inference takes a "
        "tokens_per_second target");
  }
  if (w.offload != Offload::kNone && (r.fixed.tp > 1 || r.fixed.pp > 1 || r.fixed.dp > 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "offload: ", OffloadName(w.offload), " offload runs on one GPU; tp, pp and dp must be 1"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHardware(const Hardware& h) {
  BERTH_RETURN_IF_ERROR(ByteRange("gpu_memory", h.gpu.memory_bytes, 256 * kMiB, kMaxGpuMemory));
  BERTH_RETURN_IF_ERROR(Range("gpus_per_node", h.gpus_per_node, 1, kMaxGpusPerNode));
  if (!std::isfinite(h.usable_fraction) || h.usable_fraction <= 0 || h.usable_fraction > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("usable_fraction: must be in (0, 1], got ", h.usable_fraction));
  }
  if (h.overhead_bytes < 0 || h.overhead_bytes >= h.gpu.memory_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("overhead: %.2f GiB must be ≥ 0 and below the GPU's memory (%.2f GiB)",
                        static_cast<double>(h.overhead_bytes) / static_cast<double>(kGiB),
                        static_cast<double>(h.gpu.memory_bytes) / static_cast<double>(kGiB)));
  }
  BERTH_RETURN_IF_ERROR(NonNegativeFinite("gpu peak FLOP/s", h.gpu.peak_bf16_flops));
  BERTH_RETURN_IF_ERROR(NonNegativeFinite("gpu peak FLOP/s", h.gpu.peak_fp16_flops));
  return NonNegativeFinite("gpu memory bandwidth", h.gpu.memory_bandwidth_bytes);
}

absl::Status ValidateFixed(const PlanRequest& r) {
  const FixedSplit& f = r.fixed;
  BERTH_RETURN_IF_ERROR(Range("tp", f.tp, 0, r.hardware.gpus_per_node));
  BERTH_RETURN_IF_ERROR(Range("pp", f.pp, 0, r.model.layers));
  BERTH_RETURN_IF_ERROR(Range("dp", f.dp, 0, r.max_gpus));
  BERTH_RETURN_IF_ERROR(Range("zero", f.zero_stage, -1, 3));
  BERTH_RETURN_IF_ERROR(Range("ep", f.ep, 0, r.max_gpus));
  if (f.ep > 1) {
    if (r.task != Task::kTrain) {
      return absl::InvalidArgumentError(
          "ep: expert parallelism is planned for training only; inference splits experts by tp");
    }
    if (r.model.experts == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ep: ", f.ep, " needs a mixture-of-experts model (this one has no experts)"));
    }
    if (r.model.experts % f.ep != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ep: ", f.ep, " does not divide the experts (", r.model.experts, ")"));
    }
    if (f.dp > 0 && f.dp % f.ep != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ep: ", f.ep, " must divide dp (", f.dp,
                       "): expert-parallel groups are made of data-parallel ranks"));
    }
  }
  if (r.task == Task::kTrain && f.pp > 1 &&
      internal::StageLayouts(r, f.pp, /*even_only=*/false).empty()) {
    std::string divisors;
    int listed = 0;
    for (int64_t p = 1; p <= r.model.layers && listed < 12; ++p) {
      if (r.model.layers % p != 0) continue;
      absl::StrAppend(&divisors, listed++ == 0 ? "" : ", ", p);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "pp: ", f.pp, " pipeline stages cannot hold the ", r.model.layers,
        " layers (stages hold the same number of layers",
        r.train.virtual_stages > 1 ? " with virtual_stages" : ", or all but the first and last",
        "); pp values that divide the layers: ", divisors));
  }
  if (f.tp > 0 && r.model.heads % f.tp != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tp: ", f.tp, " does not divide the attention heads (", r.model.heads, ")"));
  }
  if (f.tp > 0 && r.model.kv_heads % f.tp != 0 && f.tp % r.model.kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tp: ", f.tp, " and the KV heads (",
                                                   r.model.kv_heads, ") must divide one another"));
  }
  const int64_t gpus =
      std::max<int64_t>(1, f.tp) * std::max<int64_t>(1, f.pp) * std::max({int64_t{1}, f.dp, f.ep});
  if (gpus > r.max_gpus) {
    return absl::InvalidArgumentError(absl::StrCat("max_gpus: the fixed split needs at least ",
                                                   gpus, " GPUs, above max_gpus ", r.max_gpus));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const PlanRequest& request) {
  BERTH_RETURN_IF_ERROR(ValidateShape(request.model));
  BERTH_RETURN_IF_ERROR(ValidateHardware(request.hardware));
  BERTH_RETURN_IF_ERROR(Range("max_gpus", request.max_gpus, 1, kMaxGpusLimit));
  BERTH_RETURN_IF_ERROR(ValidateFixed(request));
  BERTH_RETURN_IF_ERROR(NonNegativeFinite("tokens", request.tokens));
  BERTH_RETURN_IF_ERROR(NonNegativeFinite("days", request.days));
  BERTH_RETURN_IF_ERROR(NonNegativeFinite("tokens_per_second", request.tokens_per_second));
  // A pace beyond these is a typo, not a plan: 1e18 tokens, 100 years.
  if (request.tokens > 1e18 || request.days > 36500 || request.tokens_per_second > 1e15) {
    return absl::InvalidArgumentError(absl::StrCat(request.tokens > 1e18 ? "tokens: at most 1e18"
                                                   : request.days > 36500
                                                       ? "days: at most 36500 (100 years)"
                                                       : "tokens_per_second: at most 1e15"));
  }
  if (!std::isfinite(request.mfu) || request.mfu <= 0 || request.mfu > 1) {
    return absl::InvalidArgumentError(absl::StrCat("mfu: must be in (0, 1], got ", request.mfu));
  }
  if (request.days > 0 && request.tokens <= 0) {
    return absl::InvalidArgumentError("days: a pace in days needs tokens as well");
  }
  BERTH_RETURN_IF_ERROR(Range("alternatives", request.max_alternatives, 0, 32));
  return request.task == Task::kTrain ? ValidateTrain(request) : ValidateInfer(request);
}

}  // namespace berth::planner
