// FUZZ_CHECK: an invariant that a fuzz target asserts on every input.
//
// A failed check prints the condition and a message, then aborts, which
// libFuzzer reports as a crash and saves the input:
//
//   FUZZ_CHECK(plan.gpus == plan.split.gpus(), "gpus ", plan.gpus);
//
// Only the fuzzers use this; library code returns absl::Status instead.
#ifndef BERTH_TESTS_FUZZ_FUZZ_CHECK_H_
#define BERTH_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

#define FUZZ_CHECK(cond, ...)                                                               \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::string fuzz_check_message = absl::StrCat(__VA_ARGS__);                           \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                   fuzz_check_message.c_str());                                             \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)

#endif  // BERTH_TESTS_FUZZ_FUZZ_CHECK_H_
