// The node and admin verbs of `berth`: nodes, drain, undrain and admin backup. Like the job verbs
// (cli/job_commands.h) each takes an options struct filled by main.cc,
// calls berthd, prints a table or JSON, and returns the exit code: 0 done,
// 4 no such node, 5 berthd unreachable, 1 otherwise.
//
//   int code = RunDrain(NodeNameOptions{.node = "gpu-a"}, std::cout,
//                       std::cerr);
#ifndef BERTH_CLI_NODE_COMMANDS_H_
#define BERTH_CLI_NODE_COMMANDS_H_

#include <ostream>
#include <string>

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

}  // namespace berth::cli

#endif  // BERTH_CLI_NODE_COMMANDS_H_
