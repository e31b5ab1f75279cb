// Issue 18, finding 7: text from a user or a node prints escaped in every
// human-form verb (`berth job`, `jobs`, `nodes`, `events`, `why`, `watch`,
// `submit --wait`, and the daemon's error messages).
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/event_commands.h"
#include "cli/exit_codes.h"
#include "cli/job_output.h"
#include "cli/wait.h"
#include "cli/watch_command.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

// Red text and a forged line, as a hostile user or node would send them.
constexpr char kHostile[] = "x\x1b[31mred\nforged";
constexpr char kEscaped[] = "x\\x1b[31mred\\nforged";
const absl::Time kNow = absl::FromUnixSeconds(1714564800);

// True when `text` holds a control character other than the newlines that
// end its own lines.
bool HasRawControl(const std::string& text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  }
  return false;
}

// How many times `text` holds `needle`.
int Count(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

berth::v1::Job HostileJob(berth::v1::JobState state) {
  berth::v1::Job job;
  job.set_id(5);
  job.set_state(state);
  job.mutable_spec()->set_name(absl::StrCat("name-", kHostile));
  job.mutable_spec()->set_team(absl::StrCat("team-", kHostile));
  job.mutable_spec()->add_command(absl::StrCat("cmd-", kHostile));
  job.set_gpu_type(absl::StrCat("type-", kHostile));
  job.set_reason(absl::StrCat("why-", kHostile));
  job.set_submit_time_ms(absl::ToUnixMillis(kNow - absl::Minutes(1)));
  job.mutable_plan()->set_gpus(1);
  job.add_gpus()->set_node(absl::StrCat("node-", kHostile));
  return job;
}

berth::v1::Node HostileNode() {
  berth::v1::Node node;
  node.set_name(absl::StrCat("node-", kHostile));
  node.set_state(berth::v1::UP);
  (*node.mutable_labels())[absl::StrCat("key-", kHostile)] = absl::StrCat("value-", kHostile);
  berth::v1::Gpu* gpu = node.add_gpus();
  gpu->set_type(absl::StrCat("type-", kHostile));
  return node;
}

// Every part must show escaped, and nothing raw may remain.
void ExpectEscaped(const std::string& text, std::initializer_list<const char*> parts) {
  EXPECT_FALSE(HasRawControl(text)) << text;
  for (const char* part : parts) {
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat(part, kEscaped))) << part << "\n" << text;
  }
}

TEST(EscapedOutputTest, JobTableAndDetails) {
  google::protobuf::RepeatedPtrField<berth::v1::Job> jobs;
  *jobs.Add() = HostileJob(berth::v1::PENDING);
  std::string table = JobsTable(jobs, kNow);
  ExpectEscaped(table, {"name-", "team-", "type-", "why-"});
  EXPECT_EQ(Count(table, "\n"), 2);  // the header and one row: no forged line
  std::ostringstream job;
  PrintJob(HostileJob(berth::v1::RUNNING), kNow, absl::UTCTimeZone(), job);
  ExpectEscaped(job.str(), {"name-", "team-", "type-", "why-", "cmd-", "node-"});
  EXPECT_EQ(Count(job.str(), "forged"), 6);
}

TEST(EscapedOutputTest, WhySubmitAndStateChanges) {
  berth::v1::ExplainJobResponse why;
  *why.mutable_job() = HostileJob(berth::v1::PENDING);
  why.set_summary(absl::StrCat("summary-", kHostile));
  why.add_details(absl::StrCat("detail-", kHostile));
  std::ostringstream out;
  PrintExplanation(why, kNow, absl::UTCTimeZone(), out);
  ExpectEscaped(out.str(), {"summary-", "detail-"});
  berth::v1::SubmitJobResponse submitted;
  *submitted.mutable_job() = HostileJob(berth::v1::PENDING);
  std::ostringstream submit;
  PrintSubmitted(submitted, submit);
  ExpectEscaped(submit.str(), {"type-", "why-"});
  ExpectEscaped(StateChangeLine(HostileJob(berth::v1::RUNNING), kNow, absl::UTCTimeZone()),
                {"node-"});
  ExpectEscaped(StateChangeLine(HostileJob(berth::v1::PENDING), kNow, absl::UTCTimeZone()),
                {"why-"});
}

TEST(EscapedOutputTest, NodesAndDrain) {
  google::protobuf::RepeatedPtrField<berth::v1::Node> nodes;
  *nodes.Add() = HostileNode();
  ExpectEscaped(NodesTable(nodes), {"node-", "key-", "value-", "type-"});
  std::ostringstream drained;
  PrintNodeState(HostileNode(), drained);
  ExpectEscaped(drained.str(), {"node-"});
}

TEST(EscapedOutputTest, Events) {
  google::protobuf::RepeatedPtrField<berth::v1::Event> events;
  berth::v1::Event* event = events.Add();
  event->set_id(1);
  event->set_job_id(5);
  event->set_node(absl::StrCat("node-", kHostile));
  event->set_kind("failed");
  event->set_message(absl::StrCat("message-", kHostile));
  ExpectEscaped(EventsTable(events, absl::UTCTimeZone()), {"node-", "message-"});
}

TEST(EscapedOutputTest, WatchFrame) {
  ClusterSnapshot snapshot;
  berth::v1::ExplainJobResponse waiting;
  *waiting.mutable_job() = HostileJob(berth::v1::PENDING);
  waiting.set_queue_position(1);
  snapshot.queue.push_back(waiting);
  snapshot.pending_total = 1;
  *snapshot.active.Add() = HostileJob(berth::v1::RUNNING);
  *snapshot.nodes.Add() = HostileNode();
  std::string frame = RenderFrame(snapshot, "127.0.0.1:7070", kNow, absl::UTCTimeZone());
  ExpectEscaped(frame, {"name-", "team-", "why-", "node-", "type-"});
}

TEST(EscapedOutputTest, DaemonErrorMessages) {
  Client client(ClientOptions{.daemon = "127.0.0.1:1"});
  std::ostringstream err;
  int code = ReportRpcError(
      "submit", client,
      grpc::Status(grpc::StatusCode::ALREADY_EXISTS, absl::StrCat("id-", kHostile)), err);
  EXPECT_EQ(code, ExitCodeFor(grpc::StatusCode::ALREADY_EXISTS));
  ExpectEscaped(err.str(), {"id-"});
}

}  // namespace
}  // namespace berth::cli
