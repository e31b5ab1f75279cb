// Exit codes of every berth verb, in one place so that scripts can rely on
// them. `plan` uses 0-3; the daemon verbs add 4 and 5. cli/client.h maps a
// gRPC status to one of these.
#ifndef BERTH_CLI_EXIT_CODES_H_
#define BERTH_CLI_EXIT_CODES_H_

namespace berth::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;     // a bug, an I/O failure, or an
                                            // error berth has no code for
inline constexpr int kExitUsage = 2;        // bad flags or bad input files
inline constexpr int kExitRefused = 3;      // refused: the job cannot fit,
                                            // or the state forbids it
inline constexpr int kExitNotFound = 4;     // no such job or node
inline constexpr int kExitUnreachable = 5;  // berthd did not answer

}  // namespace berth::cli

#endif  // BERTH_CLI_EXIT_CODES_H_
