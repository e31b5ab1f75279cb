// Small status helpers that Debian's Abseil (20220623) lacks.
//
//   BERTH_RETURN_IF_ERROR(DoThing());
//   BERTH_ASSIGN_OR_RETURN(Foo foo, MakeFoo());
//
// Every berth library links berth_planner, so these live here once.
#ifndef BERTH_PLANNER_STATUS_MACROS_H_
#define BERTH_PLANNER_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BERTH_RETURN_IF_ERROR(expr)                    \
  do {                                                 \
    ::absl::Status berth_status_ = (expr);             \
    if (!berth_status_.ok()) return berth_status_;     \
  } while (false)

#define BERTH_STATUS_CONCAT_INNER_(a, b) a##b
#define BERTH_STATUS_CONCAT_(a, b) BERTH_STATUS_CONCAT_INNER_(a, b)

#define BERTH_ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_ASSIGN_OR_RETURN_IMPL_(           \
      BERTH_STATUS_CONCAT_(berth_statusor_, __LINE__), lhs, expr)

#define BERTH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // BERTH_PLANNER_STATUS_MACROS_H_
