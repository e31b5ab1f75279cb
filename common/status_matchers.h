// gMock matchers for absl::Status and absl::StatusOr<T>, which Debian's
// Abseil (20220623) lacks. For tests only (CMake target
// berth_common_testing):
//
//   EXPECT_THAT(store.UpsertNode(node), IsOk());
//   EXPECT_THAT(ParseCount("--seq", "x"),
//               StatusIs(absl::StatusCode::kInvalidArgument, "--seq: "));
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound,
//                                ::testing::StartsWith("job 7")));
//
// StatusIs(code, text) matches a status with that code whose message
// contains `text`; StatusIs(code, matcher) hands the whole message to any
// gMock string matcher; StatusIs(code) ignores the message. On a mismatch
// the failure message prints the actual status ("whose status is
// INVALID_ARGUMENT: ..."), also for a StatusOr, which gtest cannot print.
// The matchers live in namespace `berth`, so that tests in berth::<folder>
// name them unqualified.
#ifndef BERTH_COMMON_STATUS_MATCHERS_H_
#define BERTH_COMMON_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"

namespace berth {
namespace status_matchers_internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

class IsOkMatcher {
 public:
  template <typename StatusType>
  bool MatchAndExplain(const StatusType& actual, ::testing::MatchResultListener* listener) const {
    const absl::Status& status = GetStatus(actual);
    *listener << "whose status is " << status;
    return status.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class StatusIsMatcher {
 public:
  StatusIsMatcher(absl::StatusCode code, ::testing::Matcher<const std::string&> message)
      : code_(code), message_(std::move(message)) {}

  template <typename StatusType>
  bool MatchAndExplain(const StatusType& actual, ::testing::MatchResultListener* listener) const {
    const absl::Status& status = GetStatus(actual);
    *listener << "whose status is " << status;
    return status.code() == code_ && message_.Matches(std::string(status.message()));
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has status code " << absl::StatusCodeToString(code_) << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has a status code other than " << absl::StatusCodeToString(code_)
        << " or a message that ";
    message_.DescribeNegationTo(os);
  }

 private:
  absl::StatusCode code_;
  ::testing::Matcher<const std::string&> message_;
};

}  // namespace status_matchers_internal

// Matches an OK absl::Status, or an absl::StatusOr<T> that holds a value.
inline ::testing::PolymorphicMatcher<status_matchers_internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(status_matchers_internal::IsOkMatcher());
}

// Matches a status (or a StatusOr's status) with code `code` and a message
// that contains `message` when it is text, or that `message` matches when
// it is a gMock matcher (::testing::StartsWith("spec."), ::testing::Eq(...)).
template <typename MessageMatcher>
::testing::PolymorphicMatcher<status_matchers_internal::StatusIsMatcher> StatusIs(
    absl::StatusCode code, MessageMatcher&& message) {
  if constexpr (std::is_convertible_v<MessageMatcher, absl::string_view>) {
    return ::testing::MakePolymorphicMatcher(status_matchers_internal::StatusIsMatcher(
        code, ::testing::HasSubstr(std::string(absl::string_view(message)))));
  } else {
    return ::testing::MakePolymorphicMatcher(status_matchers_internal::StatusIsMatcher(
        code,
        ::testing::SafeMatcherCast<const std::string&>(std::forward<MessageMatcher>(message))));
  }
}

// Matches a status (or a StatusOr's status) with code `code`, whatever its
// message.
inline ::testing::PolymorphicMatcher<status_matchers_internal::StatusIsMatcher> StatusIs(
    absl::StatusCode code) {
  return ::testing::MakePolymorphicMatcher(
      status_matchers_internal::StatusIsMatcher(code, ::testing::A<const std::string&>()));
}

}  // namespace berth

#endif  // BERTH_COMMON_STATUS_MATCHERS_H_
