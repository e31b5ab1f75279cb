#include "cli/numbers.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace berth::cli {
namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", why, " (got \"", text, "\")"));
}

// The decimal exponent a suffix stands for, or nullopt if `c` is none.
std::optional<int> SuffixExponent(char c) {
  switch (c) {
    case 'k':
    case 'K':
      return 3;
    case 'm':
    case 'M':
      return 6;
    case 'b':
    case 'B':
    case 'G':
      return 9;
    case 't':
    case 'T':
      return 12;
    default:
      return std::nullopt;
  }
}

// Only digits: parsed as an integer so that values past 2^53 stay exact.
bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<double> ParseNumber(absl::string_view flag, absl::string_view text) {
  if (text.empty()) return Invalid(flag, text, "needs a number");
  if (text.front() == '-') return Invalid(flag, text, "must not be negative");
  if (!absl::ascii_isdigit(static_cast<unsigned char>(text.front())) && text.front() != '.') {
    return Invalid(flag, text, "not a number");
  }
  // "1.5T" is read as "1.5e12", so that decimal rounding happens once.
  std::string decimal(text);
  if (std::optional<int> exponent = SuffixExponent(decimal.back())) {
    decimal.pop_back();
    absl::StrAppend(&decimal, "e", *exponent);
  }
  double value = 0;
  const char* end = decimal.data() + decimal.size();
  auto [ptr, ec] = std::from_chars(decimal.data(), end, value);
  if (ec == std::errc::result_out_of_range) {
    return Invalid(flag, text, "out of range");
  }
  if (ec != std::errc() || ptr == decimal.data()) {
    return Invalid(flag, text, "not a number");
  }
  if (ptr != end) return Invalid(flag, text, "unexpected text after the number");
  if (!std::isfinite(value)) return Invalid(flag, text, "must be finite");
  return value;
}

absl::StatusOr<int64_t> ParseCount(absl::string_view flag, absl::string_view text) {
  if (AllDigits(text)) {
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Invalid(flag, text, "too large (beyond int64)");
    }
    return value;
  }
  absl::StatusOr<double> value = ParseNumber(flag, text);
  if (!value.ok()) return value.status();
  // 2^63 is the first double past int64's range.
  if (*value >= 9223372036854775808.0) {
    return Invalid(flag, text, "too large (beyond int64)");
  }
  if (std::floor(*value) != *value) {
    return Invalid(flag, text, "must be a whole number");
  }
  return static_cast<int64_t>(*value);
}

}  // namespace berth::cli
