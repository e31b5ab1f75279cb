// Fuzzes the daemon's one proto-to-planner conversion: the bytes are a
// serialized berth.v1.JobSpec (as a gRPC client could send), handed to
// ValidateSpecEnvelope() and PlanRequestFromSpec() on the pool named by
// spec.gpu_type (or the first catalogued GPU), then solved as admission
// does. Errors must be InvalidArgument; a converted request must validate;
// a solve that stays within bounds (≤ 256 layers, so each run is fast) must
// succeed and keep gpus == tp·pp·dp.
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "daemon/convert.h"
#include "planner/catalog.h"
#include "planner/gpu.h"
#include "planner/solver.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  berth::v1::JobSpec spec;
  if (!spec.ParseFromArray(data, static_cast<int>(size))) return 0;

  const absl::Status envelope = berth::daemon::ValidateSpecEnvelope(spec);
  if (!envelope.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(envelope), envelope.ToString());
  }

  berth::planner::Hardware hardware;
  absl::StatusOr<berth::planner::GpuType> gpu = berth::planner::FindGpu(spec.gpu_type());
  hardware.gpu = gpu.ok() ? *gpu : berth::planner::GpuCatalog().front();
  absl::StatusOr<berth::planner::PlanRequest> request =
      berth::daemon::PlanRequestFromSpec(spec, hardware);
  if (!request.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(request.status()), request.status().ToString());
    return 0;
  }
  request->max_gpus = 4096;
  const absl::Status valid = berth::planner::ValidateRequest(*request);
  if (!valid.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(valid), valid.ToString());
    return 0;
  }
  if (request->model.layers > 256) return 0;
  absl::StatusOr<berth::planner::PlanResult> result = berth::planner::SolvePlan(*request);
  FUZZ_CHECK(result.ok(), result.status().ToString());
  FUZZ_CHECK(result->best.gpus == result->best.split.gpus(), "gpus ", result->best.gpus);
  return 0;
}
