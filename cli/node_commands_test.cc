#include "cli/node_commands.h"

#include <cstdint>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

void ExpectAge(const char* text, int64_t ms) {
  absl::StatusOr<int64_t> age = ParseAge(text);
  ASSERT_TRUE(age.ok()) << text << ": " << age.status();
  EXPECT_EQ(*age, ms) << text;
}

TEST(ParseAgeTest, DurationsAndWholeDays) {
  ExpectAge("30d", 30 * kDayMs);
  ExpectAge("720h", 30 * kDayMs);
  ExpectAge("90m", 90 * 60 * 1000);
  ExpectAge("1h30m", 90 * 60 * 1000);
  ExpectAge("36500d", 36500 * kDayMs);
}

TEST(ParseAgeTest, RefusesWhatIsNotAPositiveAgeOfAtMostACentury) {
  for (const char* bad :
       {"", "0h", "0d", "-1d", "-2h", "2x", "d", "1.5d", "36501d", "900000h", "inf"}) {
    EXPECT_THAT(ParseAge(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "--older-than: expected a positive age"))
        << bad;
  }
}

}  // namespace
}  // namespace berth::cli
