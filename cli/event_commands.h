// `berth events`: berthd's event log (submitted, placed, running, requeued,
// node_down, ...), oldest first, for one job, one node or the whole cluster.
//
//   berth events 42                 # what happened to job 42
//   berth events --node gpu-a       # what happened on node gpu-a
//   berth events --limit 20         # the last 20 events
//   berth events --after 1200       # only events after event 1200
#ifndef BERTH_CLI_EVENT_COMMANDS_H_
#define BERTH_CLI_EVENT_COMMANDS_H_

#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/v1/scheduler.pb.h"
#include "cli/client.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace berth::cli {

struct EventsOptions {
  ClientOptions client;
  std::optional<std::string> job;    // JOB, a job id
  std::optional<std::string> node;   // --node
  std::optional<std::string> limit;  // --limit, 1 to 10000
  std::optional<std::string> after;  // --after, an event id
};

// The ListEvents request; InvalidArgument starting with the argument
// ("--limit: ...", "job id: ...") otherwise.
absl::StatusOr<berth::v1::ListEventsRequest> BuildListEventsRequest(const EventsOptions& options);

// ID, TIME (in `zone`, with its UTC offset: "2024-05-01 14:00:00 +02:00"),
// JOB, NODE, KIND, MESSAGE; "-" for no job or node.
std::string EventsTable(const google::protobuf::RepeatedPtrField<berth::v1::Event>& events,
                        absl::TimeZone zone);

// Exit codes: 0 done, 2 bad arguments, 5 berthd unreachable, 7 not
// allowed, 1 otherwise.
int RunEvents(const EventsOptions& options, std::ostream& out, std::ostream& err);

}  // namespace berth::cli

#endif  // BERTH_CLI_EVENT_COMMANDS_H_
