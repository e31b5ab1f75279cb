#include "cli/numbers.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

int64_t Count(const std::string& text) {
  absl::StatusOr<int64_t> value = ParseCount("--n", text);
  EXPECT_TRUE(value.ok()) << value.status();
  return value.value_or(-1);
}

std::string CountError(const std::string& text) {
  absl::StatusOr<int64_t> value = ParseCount("--params", text);
  EXPECT_FALSE(value.ok()) << text << " parsed as " << *value;
  if (value.ok()) return "";
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(value.status().message());
}

TEST(ParseCountTest, PlainIntegers) {
  EXPECT_EQ(Count("0"), 0);
  EXPECT_EQ(Count("4096"), 4096);
  // 2^63 - 1 parses exactly, past double's 2^53 precision.
  EXPECT_EQ(Count("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(Count("9007199254740993"), 9007199254740993);
}

TEST(ParseCountTest, Suffixes) {
  EXPECT_EQ(Count("8k"), 8000);
  EXPECT_EQ(Count("8K"), 8000);
  EXPECT_EQ(Count("1M"), 1000000);
  EXPECT_EQ(Count("1m"), 1000000);
  EXPECT_EQ(Count("7B"), 7000000000);
  EXPECT_EQ(Count("70b"), 70000000000);
  EXPECT_EQ(Count("7G"), 7000000000);
  EXPECT_EQ(Count("1.5T"), 1500000000000);
  EXPECT_EQ(Count("2t"), 2000000000000);
  // 1.1 is not exact in binary, but "1.1e9" rounds once to 1100000000.
  EXPECT_EQ(Count("1.1B"), 1100000000);
  EXPECT_EQ(Count("0.3k"), 300);
}

TEST(ParseCountTest, Exponents) {
  EXPECT_EQ(Count("7e9"), 7000000000);
  EXPECT_EQ(Count("1.5e3"), 1500);
  EXPECT_EQ(Count("9.2e18"), 9200000000000000000);
}

TEST(ParseCountTest, RejectsBadText) {
  EXPECT_EQ(CountError(""), "--params: needs a number (got \"\")");
  EXPECT_EQ(CountError("-7B"), "--params: must not be negative (got \"-7B\")");
  EXPECT_EQ(CountError("nan"), "--params: not a number (got \"nan\")");
  EXPECT_EQ(CountError("NaN"), "--params: not a number (got \"NaN\")");
  EXPECT_EQ(CountError("inf"), "--params: not a number (got \"inf\")");
  EXPECT_EQ(CountError("7x"), "--params: unexpected text after the number (got \"7x\")");
  EXPECT_EQ(CountError("7BB"), "--params: unexpected text after the number (got \"7BB\")");
  EXPECT_EQ(CountError(" 7"), "--params: not a number (got \" 7\")");
  EXPECT_EQ(CountError("7 "), "--params: unexpected text after the number (got \"7 \")");
  EXPECT_EQ(CountError("+7"), "--params: not a number (got \"+7\")");
  EXPECT_EQ(CountError("0x10"), "--params: unexpected text after the number (got \"0x10\")");
  EXPECT_EQ(CountError("1e"), "--params: unexpected text after the number (got \"1e\")");
  EXPECT_EQ(CountError("B"), "--params: not a number (got \"B\")");
}

TEST(ParseCountTest, RejectsFractionsAndOverflow) {
  EXPECT_EQ(CountError("1.5"), "--params: must be a whole number (got \"1.5\")");
  EXPECT_EQ(CountError("1.0001k"), "--params: must be a whole number (got \"1.0001k\")");
  EXPECT_EQ(CountError("9223372036854775808"),
            "--params: too large (beyond int64) (got \"9223372036854775808\")");
  EXPECT_EQ(CountError("1e19"), "--params: too large (beyond int64) (got \"1e19\")");
  EXPECT_EQ(CountError("10000000T"), "--params: too large (beyond int64) (got \"10000000T\")");
  EXPECT_EQ(CountError("1e400"), "--params: out of range (got \"1e400\")");
}

TEST(ParseNumberTest, AcceptsFractions) {
  EXPECT_DOUBLE_EQ(*ParseNumber("--mfu", "0.4"), 0.4);
  EXPECT_DOUBLE_EQ(*ParseNumber("--days", "30.5"), 30.5);
  EXPECT_DOUBLE_EQ(*ParseNumber("--tokens", "2T"), 2e12);
  EXPECT_DOUBLE_EQ(*ParseNumber("--gpu-memory-gib", ".5"), 0.5);
}

TEST(ParseNumberTest, RejectsNegativeAndNonFinite) {
  EXPECT_THAT(ParseNumber("--mfu", "-0.4"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--mfu: must not be negative"));
  EXPECT_THAT(ParseNumber("--mfu", "inf"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--mfu: not a number"));
  EXPECT_THAT(ParseNumber("--mfu", "nan"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--mfu: not a number"));
  EXPECT_THAT(ParseNumber("--mfu", "1e999"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--mfu: out of range"));
  EXPECT_EQ(ParseNumber("--days", "").status().message(), "--days: needs a number (got \"\")");
}

}  // namespace
}  // namespace berth::cli
