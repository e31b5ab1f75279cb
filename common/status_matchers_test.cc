#include "common/status_matchers.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace berth {
namespace {

using ::testing::ExplainMatchResult;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::StringMatchResultListener;

const absl::Status kBadSeq = absl::InvalidArgumentError("train.seq: -1 is out of range");

// The explanation a matcher gives for `value`, as a failure would print it.
template <typename Matcher, typename Value>
std::string Explain(const Matcher& matcher, const Value& value) {
  StringMatchResultListener listener;
  ExplainMatchResult(matcher, value, &listener);
  return listener.str();
}

template <typename Matcher>
std::string Describe(const Matcher& matcher) {
  return ::testing::DescribeMatcher<absl::Status>(matcher);
}

TEST(IsOkTest, MatchesOkStatusAndStatusOrWithAValue) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::StatusOr<int>(7), IsOk());
}

TEST(IsOkTest, FailsOnAnErrorAndExplainsWhy) {
  EXPECT_THAT(kBadSeq, Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(kBadSeq), Not(IsOk()));
  EXPECT_FALSE(::testing::Matches(IsOk())(kBadSeq));
  // The failure message carries the status, also for a StatusOr.
  EXPECT_EQ(Explain(IsOk(), absl::StatusOr<std::string>(kBadSeq)),
            "whose status is INVALID_ARGUMENT: train.seq: -1 is out of range");
  EXPECT_EQ(Describe(IsOk()), "is OK");
}

TEST(StatusIsTest, MatchesCodeAndMessageSubstring) {
  EXPECT_THAT(kBadSeq, StatusIs(absl::StatusCode::kInvalidArgument, "train.seq"));
  EXPECT_THAT(absl::StatusOr<int>(kBadSeq),
              StatusIs(absl::StatusCode::kInvalidArgument, std::string("out of range")));
  EXPECT_THAT(kBadSeq, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
}

TEST(StatusIsTest, FailsOnAnotherCodeOrMessage) {
  // Right message, wrong code.
  EXPECT_THAT(kBadSeq, Not(StatusIs(absl::StatusCode::kFailedPrecondition, "train.seq")));
  EXPECT_THAT(kBadSeq, Not(StatusIs(absl::StatusCode::kNotFound)));
  // Right code, message without the substring.
  EXPECT_THAT(kBadSeq, Not(StatusIs(absl::StatusCode::kInvalidArgument, "train.micro_batch")));
  // A StatusOr holding a value has an OK status.
  EXPECT_THAT(absl::StatusOr<int>(7), Not(StatusIs(absl::StatusCode::kInvalidArgument)));
  EXPECT_EQ(Explain(StatusIs(absl::StatusCode::kNotFound), absl::StatusOr<int>(kBadSeq)),
            "whose status is INVALID_ARGUMENT: train.seq: -1 is out of range");
  EXPECT_EQ(Describe(StatusIs(absl::StatusCode::kNotFound, "job 7")),
            "has status code NOT_FOUND and a message that has substring \"job 7\"");
}

TEST(StatusIsTest, TakesAnyStringMatcherForTheMessage) {
  EXPECT_THAT(kBadSeq, StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("train.")));
  EXPECT_THAT(kBadSeq, Not(StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("spec."))));
  // A matcher sees the whole message: Eq is not a substring test.
  EXPECT_THAT(kBadSeq,
              Not(StatusIs(absl::StatusCode::kInvalidArgument, ::testing::Eq("train.seq"))));
  EXPECT_THAT(kBadSeq, StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr("spec."))));
}

TEST(StatusIsTest, AFailedExpectationPrintsTheExpectedAndTheActualStatus) {
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::StatusOr<int>(kBadSeq), StatusIs(absl::StatusCode::kNotFound, "job")),
      "has status code NOT_FOUND and a message that has substring \"job\"");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::StatusOr<int>(kBadSeq), StatusIs(absl::StatusCode::kNotFound, "job")),
      "whose status is INVALID_ARGUMENT: train.seq: -1 is out of range");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(kBadSeq, IsOk()), "whose status is INVALID_ARGUMENT");
}

}  // namespace
}  // namespace berth
