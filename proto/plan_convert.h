// Conversions from the planner's result structs to the v1 plan messages, and
// the JSON form of a plan report.
//
//   berth::v1::PlanReport report = ToPlanReport(request, result);
//   absl::StatusOr<std::string> json = PlanReportToJson(report);
//
// The JSON keeps the proto field names (`per_gpu.total_bytes`), prints every
// primitive field (zeros included), and carries byte and parameter counts as
// JSON numbers. `reason` appears only for an infeasible plan, `estimate` only
// when the planner knows one, and `estimate.days` only when a token count was
// given.
#ifndef BERTH_PROTO_PLAN_CONVERT_H_
#define BERTH_PROTO_PLAN_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "berth/v1/plan.pb.h"
#include "google/protobuf/message.h"
#include "planner/solver.h"

namespace berth::proto {

// The report for `result`, which SolvePlan() returned for `request`.
berth::v1::PlanReport ToPlanReport(const planner::PlanRequest& request,
                                   const planner::PlanResult& result);

// One candidate split as a PlanOption.
berth::v1::PlanOption ToPlanOption(const planner::PlanRequest& request, const planner::Plan& plan);

// Any message as berth prints JSON: indented, proto field names, every
// primitive field present, one trailing newline.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message);

// Indented JSON with a trailing newline.
absl::StatusOr<std::string> PlanReportToJson(const berth::v1::PlanReport& report);

}  // namespace berth::proto

#endif  // BERTH_PROTO_PLAN_CONVERT_H_
