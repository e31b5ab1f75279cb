// Small status helpers that Debian's Abseil (20220623) lacks.
//
//   BERTH_RETURN_IF_ERROR(DoThing());
//   BERTH_ASSIGN_OR_RETURN(Foo foo, MakeFoo());
//
// They live once here, in berth_common (links only Abseil), which every berth
// library links; tests check statuses with common/status_matchers.h.
#ifndef BERTH_COMMON_STATUS_MACROS_H_
#define BERTH_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BERTH_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status berth_status_ = (expr);         \
    if (!berth_status_.ok()) return berth_status_; \
  } while (false)

#define BERTH_STATUS_CONCAT_INNER_(a, b) a##b
#define BERTH_STATUS_CONCAT_(a, b) BERTH_STATUS_CONCAT_INNER_(a, b)

#define BERTH_ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_ASSIGN_OR_RETURN_IMPL_(BERTH_STATUS_CONCAT_(berth_statusor_, __LINE__), lhs, expr)

#define BERTH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // BERTH_COMMON_STATUS_MACROS_H_
