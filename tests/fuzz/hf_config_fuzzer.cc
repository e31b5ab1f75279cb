// Fuzzes the config.json reader: arbitrary text → ParseHfConfigJson() →
// ModelFromHfConfig(). Neither may crash; a shape that comes back must pass
// ValidateShape() (ModelFromHfConfig promises it) and count to a positive
// parameter total no smaller than the active count.
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/hf_config.h"
#include "planner/model.h"
#include "proto/hf_config_json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<berth::planner::HfConfig> config = berth::proto::ParseHfConfigJson(text);
  if (!config.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(config.status()), config.status().ToString());
    return 0;
  }
  absl::StatusOr<berth::planner::ModelShape> shape =
      berth::planner::ModelFromHfConfig(*config, "fuzz");
  if (!shape.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(shape.status()), shape.status().ToString());
    return 0;
  }
  FUZZ_CHECK(berth::planner::ValidateShape(*shape).ok(),
             "ModelFromHfConfig returned an invalid shape");
  const berth::planner::ParamCounts params = berth::planner::CountParams(*shape);
  FUZZ_CHECK(params.total > 0, "total ", params.total);
  FUZZ_CHECK(params.active > 0 && params.active <= params.total, "active ", params.active,
             " total ", params.total);
  return 0;
}
