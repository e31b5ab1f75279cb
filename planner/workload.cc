#include "planner/workload.h"

#include <array>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::planner {
namespace {

// Looks `text` up (case-insensitive) in a table of (name, value) pairs; the
// error names the field and lists the accepted names.
template <typename T, size_t N>
absl::StatusOr<T> ParseName(absl::string_view field, absl::string_view text,
                            const std::array<std::pair<absl::string_view, T>, N>& table) {
  std::string lower = absl::AsciiStrToLower(text);
  std::string accepted;
  for (const auto& [name, value] : table) {
    if (lower == name) return value;
    absl::StrAppend(&accepted, accepted.empty() ? "" : ", ", name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": unknown value \"", text, "\" (accepted: ", accepted, ")"));
}

constexpr std::array<std::pair<absl::string_view, Task>, 4> kTasks = {
    {{"train", Task::kTrain},
     {"training", Task::kTrain},
     {"infer", Task::kInfer},
     {"inference", Task::kInfer}}};
constexpr std::array<std::pair<absl::string_view, Framework>, 2> kFrameworks = {
    {{"megatron", Framework::kMegatron}, {"deepspeed", Framework::kDeepSpeed}}};
constexpr std::array<std::pair<absl::string_view, Recompute>, 3> kRecomputes = {
    {{"none", Recompute::kNone}, {"selective", Recompute::kSelective}, {"full", Recompute::kFull}}};
constexpr std::array<std::pair<absl::string_view, DType>, 6> kDTypes = {{{"fp32", DType::kFp32},
                                                                         {"bf16", DType::kBf16},
                                                                         {"fp16", DType::kFp16},
                                                                         {"fp8", DType::kFp8},
                                                                         {"int8", DType::kInt8},
                                                                         {"int4", DType::kInt4}}};
constexpr std::array<std::pair<absl::string_view, Offload>, 3> kOffloads = {
    {{"none", Offload::kNone}, {"layerwise", Offload::kLayerwise}, {"cpu", Offload::kCpu}}};

constexpr std::array<std::pair<absl::string_view, ServingObjective>, 3> kObjectives = {
    {{"throughput", ServingObjective::kThroughput},
     {"fewest-gpus", ServingObjective::kFewestGpus},
     {"latency", ServingObjective::kLatency}}};

template <typename T, size_t N>
absl::string_view NameOf(T value, const std::array<std::pair<absl::string_view, T>, N>& table) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

}  // namespace

double DTypeBytes(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
      return 4.0;
    case DType::kBf16:
    case DType::kFp16:
      return 2.0;
    case DType::kFp8:
    case DType::kInt8:
      return 1.0;
    // 4 bits plus one fp16 scale per group of 128 weights: 0.5 + 2/128.
    case DType::kInt4:
      return 0.5 + 2.0 / 128.0;
  }
  return 2.0;
}

absl::string_view TaskName(Task task) { return task == Task::kTrain ? "train" : "infer"; }
absl::string_view FrameworkName(Framework f) { return NameOf(f, kFrameworks); }
absl::string_view RecomputeName(Recompute r) { return NameOf(r, kRecomputes); }
absl::string_view DTypeName(DType d) { return NameOf(d, kDTypes); }
absl::string_view OffloadName(Offload o) { return NameOf(o, kOffloads); }
absl::string_view ServingObjectiveName(ServingObjective o) { return NameOf(o, kObjectives); }

absl::StatusOr<Task> ParseTask(absl::string_view text) { return ParseName("task", text, kTasks); }
absl::StatusOr<Framework> ParseFramework(absl::string_view text) {
  return ParseName("framework", text, kFrameworks);
}
absl::StatusOr<Recompute> ParseRecompute(absl::string_view text) {
  return ParseName("recompute", text, kRecomputes);
}
absl::StatusOr<DType> ParseDType(absl::string_view text) {
  return ParseName("dtype", text, kDTypes);
}
absl::StatusOr<Offload> ParseOffload(absl::string_view text) {
  return ParseName("offload", text, kOffloads);
}
absl::StatusOr<ServingObjective> ParseServingObjective(absl::string_view text) {
  return ParseName("objective", text, kObjectives);
}

}  // namespace berth::planner
