#include "cli/event_commands.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/job_commands.h"
#include "cli/job_output.h"
#include "cli/numbers.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

// What berthd answers for one call (ListEventsRequest.limit).
constexpr int64_t kMaxEvents = 10000;

}  // namespace

absl::StatusOr<berth::v1::ListEventsRequest> BuildListEventsRequest(const EventsOptions& options) {
  berth::v1::ListEventsRequest request;
  if (options.job.has_value()) {
    BERTH_ASSIGN_OR_RETURN(int64_t id, ParseJobId(*options.job));
    request.set_job_id(id);
  }
  if (options.node.has_value()) {
    if (options.node->empty() || options.node->size() > 253) {
      return absl::InvalidArgumentError("--node: a node name of 1 to 253 characters is required");
    }
    request.set_node(*options.node);
  }
  if (options.limit.has_value()) {
    BERTH_ASSIGN_OR_RETURN(int64_t limit, ParseCount("--limit", *options.limit));
    if (limit < 1 || limit > kMaxEvents) {
      return absl::InvalidArgumentError(absl::StrCat("--limit: must be from 1 to ", kMaxEvents,
                                                     " (got \"", *options.limit, "\")"));
    }
    request.set_limit(static_cast<int32_t>(limit));
  }
  if (options.after.has_value()) {
    BERTH_ASSIGN_OR_RETURN(int64_t after, ParseCount("--after", *options.after));
    request.set_after_id(after);
  }
  return request;
}

std::string EventsTable(const google::protobuf::RepeatedPtrField<berth::v1::Event>& events,
                        absl::TimeZone zone) {
  std::vector<std::vector<std::string>> rows = {{"ID", "TIME", "JOB", "NODE", "KIND", "MESSAGE"}};
  for (const berth::v1::Event& event : events) {
    rows.push_back(
        {absl::StrCat(event.id()),
         absl::FormatTime("%Y-%m-%d %H:%M:%S %Ez", FromUnixMillis(event.time_ms()), zone),
         event.job_id() == 0 ? "-" : absl::StrCat(event.job_id()),
         event.node().empty() ? "-" : event.node(), event.kind(),
         event.message().empty() ? "-" : event.message()});
  }
  return AlignedTable(rows, {0, 2});
}

int RunEvents(const EventsOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<berth::v1::ListEventsRequest> request = BuildListEventsRequest(options);
  if (!request.ok()) {
    err << "berth events: " << request.status().message() << "\n";
    return kExitUsage;
  }
  Client client(options.client);
  berth::v1::ListEventsResponse response;
  grpc::Status status = client.Call(&Client::Stub::ListEvents, *request, &response);
  if (!status.ok()) return ReportRpcError("events", client, status, err);
  if (options.client.json) {
    return WriteJson("events", ToJsonArray(response.events()), out, err);
  }
  if (response.events_size() == 0) {
    out << "no events\n";
    return kExitOk;
  }
  out << EventsTable(response.events(), absl::LocalTimeZone());
  return kExitOk;
}

}  // namespace berth::cli
