// `berth watch`: a live view of the queue and the cluster.
//
// Every frame is one snapshot of berthd: the PENDING jobs in queue order
// (with their position and what they wait for, from ExplainJob), the PLACED
// and RUNNING jobs, and every node with a bar of its GPUs, plus one line per
// GPU pool. The live view clears the screen (on the terminal's alternate
// screen) and redraws every --interval until SIGINT or SIGTERM, then restores
// the terminal and exits 0; a daemon that stops answering is shown in the
// frame and retried. `--once` prints one frame and exits, for scripts and
// tests, and `--once --json` prints the snapshot as JSON:
//
//   {"time_ms": ..., "daemon": "127.0.0.1:7070",
//    "queue":   [ExplainJobResponse, ...],   // queue order
//    "active":  [Job, ...],                  // PLACED and RUNNING
//    "nodes":   [Node, ...]}
//
// Rendering is a pure function of a snapshot, the time and the zone, so
// tests build snapshots in code.
#ifndef BERTH_CLI_WATCH_COMMAND_H_
#define BERTH_CLI_WATCH_COMMAND_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/scheduler.pb.h"
#include "cli/client.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace berth::cli {

struct WatchOptions {
  ClientOptions client;
  std::optional<std::string> interval;  // --interval, seconds or a duration
  bool once = false;                    // --once
};

// The default and smallest --interval.
inline constexpr absl::Duration kDefaultWatchInterval = absl::Seconds(2);
inline constexpr absl::Duration kMinWatchInterval = absl::Milliseconds(100);
// At most this many PENDING jobs are asked about (one ExplainJob each) and
// shown; the rest are counted.
inline constexpr int kMaxQueueShown = 50;

struct ClusterSnapshot {
  std::vector<berth::v1::ExplainJobResponse> queue;           // by queue position
  int pending_total = 0;                                      // PENDING jobs, shown or not
  google::protobuf::RepeatedPtrField<berth::v1::Job> active;  // PLACED,
                                                              // RUNNING
  google::protobuf::RepeatedPtrField<berth::v1::Node> nodes;
};

// One character per GPU in index order: '#' held by a job, '.' free; a
// DRAINED or DOWN node shows its free GPUs as 'x': "[####....]".
std::string OccupancyBar(const berth::v1::Node& node);

// One frame for a person: header, QUEUE, ACTIVE, POOLS and NODES.
std::string RenderFrame(const ClusterSnapshot& snapshot, absl::string_view address, absl::Time now,
                        absl::TimeZone zone);

// The snapshot as JSON (see the header comment), with a trailing newline.
absl::StatusOr<std::string> SnapshotJson(const ClusterSnapshot& snapshot, absl::string_view address,
                                         absl::Time now);

// Validates the flags (--json needs --once; --interval at least
// kMinWatchInterval) and runs the view. Exit codes: 0, 2 bad flags, 5 (and
// others from cli/client.h) when --once cannot get a snapshot.
int RunWatch(const WatchOptions& options, std::ostream& out, std::ostream& err);

}  // namespace berth::cli

#endif  // BERTH_CLI_WATCH_COMMAND_H_
