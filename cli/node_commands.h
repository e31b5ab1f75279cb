// The node and admin verbs of `berth`: nodes, drain, undrain, admin backup and
// admin prune. Like the job verbs
// (cli/job_commands.h) each takes an options struct filled by main.cc,
// calls berthd, prints a table or JSON, and returns the exit code: 0 done,
// 4 no such node, 5 berthd unreachable, 1 otherwise.
//
//   int code = RunDrain(NodeNameOptions{.node = "gpu-a"}, std::cout,
//                       std::cerr);
#ifndef BERTH_CLI_NODE_COMMANDS_H_
#define BERTH_CLI_NODE_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "cli/client.h"

namespace berth::cli {

struct NodesOptions {
  ClientOptions client;
};

// `drain NODE` and `undrain NODE`.
struct NodeNameOptions {
  ClientOptions client;
  std::string node;
};

int RunNodes(const NodesOptions& options, std::ostream& out, std::ostream& err);
// Stops placing new jobs on the node; prints its new state.
int RunDrain(const NodeNameOptions& options, std::ostream& out, std::ostream& err);
// Lets jobs be placed on the node again.
int RunUndrain(const NodeNameOptions& options, std::ostream& out, std::ostream& err);

// `admin backup PATH`: an online backup of berthd's database, written by the
// daemon to PATH on its own host (a new file).
struct BackupOptions {
  ClientOptions client;
  std::string path;
};
int RunBackup(const BackupOptions& options, std::ostream& out, std::ostream& err);

// `admin prune [--older-than AGE] [--keep N]`: retention now; empty
// older_than and keep 0 use berthd's own settings.
struct PruneOptions {
  ClientOptions client;
  std::string older_than;  // "720h", "30d", "90m"; empty: berthd's --retain_ended_for
  int64_t keep = 0;        // 0: berthd's --retain_jobs
};
// Waits up to kPruneDeadline for berthd's answer; an interrupted prune goes
// on in berthd, batch by batch, and what it deleted stays deleted.
inline constexpr absl::Duration kPruneDeadline = absl::Minutes(30);
int RunPrune(const PruneOptions& options, std::ostream& out, std::ostream& err);
// --older-than: a duration ("720h", "90m") or whole days ("30d"), positive
// and at most 100 years; milliseconds.
absl::StatusOr<int64_t> ParseAge(const std::string& text);

}  // namespace berth::cli

#endif  // BERTH_CLI_NODE_COMMANDS_H_
