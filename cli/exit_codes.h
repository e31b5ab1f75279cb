// Exit codes of every berth verb, in one place so that scripts can rely on
// them. `plan` uses 0-3; the daemon verbs add 4, 5 and 7; `submit --wait`
// adds its own meaning of 1 and 6. cli/client.h maps a gRPC status to one of
// these. Every verb's --help ends with the codes it can return
// (`ExitCodeFooter()`).
#ifndef BERTH_CLI_EXIT_CODES_H_
#define BERTH_CLI_EXIT_CODES_H_

#include <initializer_list>
#include <string>

namespace berth::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;     // a bug, an I/O failure, or an
                                            // error berth has no code for
inline constexpr int kExitJobFailed = 1;    // submit --wait: the job ended
                                            // FAILED or CANCELLED
inline constexpr int kExitUsage = 2;        // bad flags or bad input files
inline constexpr int kExitRefused = 3;      // refused: the job cannot fit,
                                            // or the state forbids it
inline constexpr int kExitNotFound = 4;     // no such job or node
inline constexpr int kExitUnreachable = 5;  // berthd did not answer
inline constexpr int kExitTimedOut = 6;     // submit --wait --timeout: the
                                            // job had not ended in time
inline constexpr int kExitNotAllowed = 7;   // no or an unknown token
                                            // (UNAUTHENTICATED), or the
                                            // token may not do this
                                            // (PERMISSION_DENIED)

// One exit code and what it means for a verb.
struct ExitCodeDoc {
  int code;
  const char* meaning;
};

// The --help footer: "Exit codes:" and one aligned line per code.
std::string ExitCodeFooter(std::initializer_list<ExitCodeDoc> codes);

}  // namespace berth::cli

#endif  // BERTH_CLI_EXIT_CODES_H_
