// Number syntax of berth's command-line flags.
//
// A number is decimal, optionally with a fraction and an exponent, and one
// optional scale suffix: k/K = 1e3, M/m = 1e6, B/b/G = 1e9, T/t = 1e12. So
// `7e9`, `7B`, `70b`, `1.5T`, `8k`, `4096` and `1M` are all accepted. Empty
// text, signs, NaN, infinities, spaces and trailing junk are rejected.
//
//   absl::StatusOr<int64_t> layers = ParseCount("--layers", "80");
//   absl::StatusOr<double> days = ParseNumber("--days", "30.5");
//
// Errors are InvalidArgument and start with the flag: "--params: ...".
#ifndef BERTH_CLI_NUMBERS_H_
#define BERTH_CLI_NUMBERS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::cli {

// A non-negative finite number, fractions allowed.
absl::StatusOr<double> ParseNumber(absl::string_view flag, absl::string_view text);

// A non-negative whole number that fits in int64 ("1.5k" is 1500; "1.5" is
// an error). Integers without fraction, exponent or suffix parse exactly.
absl::StatusOr<int64_t> ParseCount(absl::string_view flag, absl::string_view text);

}  // namespace berth::cli

#endif  // BERTH_CLI_NUMBERS_H_
