#include "cli/watch_command.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/job_output.h"
#include "cli/text.h"
#include "cli/wait.h"

namespace berth::cli {
namespace {

using Row = std::vector<std::string>;
using Stub = Client::Stub;

// Terminal control: the alternate screen and the cursor, and a redraw.
constexpr char kEnterScreen[] = "\x1b[?1049h\x1b[?25l";
constexpr char kLeaveScreen[] = "\x1b[?25h\x1b[?1049l";
constexpr char kClearScreen[] = "\x1b[H\x1b[2J";

// Set by SIGINT and SIGTERM while the live view runs.
std::atomic<bool> stop_requested{false};
extern "C" void RequestStop(int) { stop_requested.store(true); }

// Installs the stop handler for SIGINT and SIGTERM, and puts the previous
// handlers back when it goes out of scope.
class StopSignals {
 public:
  StopSignals() {
    stop_requested.store(false);
    struct sigaction action = {};
    action.sa_handler = RequestStop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string GpuTypeOf(const berth::v1::Job& job) {
  if (!job.gpu_type().empty()) return job.gpu_type();
  return OrDash(job.spec().gpu_type());
}

std::string QueueTable(const ClusterSnapshot& snapshot, absl::Time now) {
  std::vector<Row> rows = {{"POS", "ID", "NAME", "TEAM", "GPUS", "TYPE", "WAIT", "REASON"}};
  for (const berth::v1::ExplainJobResponse& entry : snapshot.queue) {
    const berth::v1::Job& job = entry.job();
    rows.push_back({entry.queue_position() > 0 ? absl::StrCat(entry.queue_position()) : "-",
                    absl::StrCat(job.id()), OrDash(job.spec().name()), OrDash(job.spec().team()),
                    job.plan().gpus() > 0 ? absl::StrCat(job.plan().gpus()) : "-", GpuTypeOf(job),
                    HumanDuration(now - FromUnixMillis(job.submit_time_ms())),
                    Truncate(Printable(job.reason()), kReasonColumnWidth)});
  }
  return AlignedTable(rows, {0, 1, 4, 6});
}

struct PoolUse {
  int total = 0;
  int busy = 0;
  int unavailable = 0;  // free GPUs on DRAINED or DOWN nodes
};

// "[##########..........]  50%": `width` characters of busy share.
std::string ShareBar(int busy, int total, int width) {
  int filled = total > 0 ? (busy * width + total / 2) / total : 0;
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "] ",
                      total > 0 ? (busy * 100 + total / 2) / total : 0, "%");
}

std::string PoolsTable(const google::protobuf::RepeatedPtrField<berth::v1::Node>& nodes) {
  std::map<std::string, PoolUse> pools;
  for (const berth::v1::Node& node : nodes) {
    bool usable = node.state() == berth::v1::UP;
    for (const berth::v1::Gpu& gpu : node.gpus()) {
      PoolUse& pool = pools[gpu.type()];
      ++pool.total;
      if (gpu.job_id() != 0) {
        ++pool.busy;
      } else if (!usable) {
        ++pool.unavailable;
      }
    }
  }
  std::vector<Row> rows = {{"POOL", "GPUS", "BUSY", "FREE", "UNAVAILABLE", "USE"}};
  for (const auto& [type, pool] : pools) {
    rows.push_back({type, absl::StrCat(pool.total), absl::StrCat(pool.busy),
                    absl::StrCat(pool.total - pool.busy - pool.unavailable),
                    absl::StrCat(pool.unavailable), ShareBar(pool.busy, pool.total, 20)});
  }
  return AlignedTable(rows, {1, 2, 3, 4});
}

std::string NodeTable(const google::protobuf::RepeatedPtrField<berth::v1::Node>& nodes) {
  std::vector<Row> rows = {{"NODE", "STATE", "GPU TYPE", "USED", "GPUS"}};
  for (const berth::v1::Node& node : nodes) {
    rows.push_back({node.name(), NodeStateLabel(node), GpuTypesCell(node), UsedGpusCell(node),
                    OccupancyBar(node)});
  }
  return AlignedTable(rows, {3});
}

// Indents every line of `table` by two spaces.
std::string Indented(const std::string& table) {
  std::string text;
  for (absl::string_view line : absl::StrSplit(table, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&text, "  ", line, "\n");
  }
  return text;
}

// Asks ExplainJob about up to kMaxQueueShown PENDING jobs (highest priority,
// then oldest, first) and orders the answers by queue position.
grpc::Status ExplainQueue(Client& client, const std::vector<berth::v1::Job>& pending,
                          ClusterSnapshot* snapshot) {
  std::vector<berth::v1::Job> order = pending;
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (a.spec().priority() != b.spec().priority()) {
      return a.spec().priority() > b.spec().priority();
    }
    return a.id() < b.id();
  });
  if (order.size() > static_cast<size_t>(kMaxQueueShown)) {
    order.resize(kMaxQueueShown);
  }
  for (const berth::v1::Job& job : order) {
    berth::v1::ExplainJobRequest request;
    request.set_id(job.id());
    berth::v1::ExplainJobResponse response;
    grpc::Status status = client.Call(&Stub::ExplainJob, request, &response);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;
    if (!status.ok()) return status;
    if (response.job().state() != berth::v1::PENDING) continue;  // moved on
    snapshot->queue.push_back(std::move(response));
  }
  auto position = [](const berth::v1::ExplainJobResponse& r) {
    return r.queue_position() > 0 ? r.queue_position() : INT32_MAX;
  };
  std::stable_sort(snapshot->queue.begin(), snapshot->queue.end(),
                   [&](const auto& a, const auto& b) { return position(a) < position(b); });
  return grpc::Status::OK;
}

grpc::Status FetchSnapshot(Client& client, ClusterSnapshot* snapshot) {
  berth::v1::ListJobsRequest list;
  for (berth::v1::JobState state : {berth::v1::PENDING, berth::v1::PLACED, berth::v1::RUNNING}) {
    list.add_states(state);
  }
  berth::v1::ListJobsResponse jobs;
  grpc::Status status = client.Call(&Stub::ListJobs, list, &jobs);
  if (!status.ok()) return status;
  std::vector<berth::v1::Job> pending;
  for (berth::v1::Job& job : *jobs.mutable_jobs()) {
    if (job.state() == berth::v1::PENDING) {
      pending.push_back(std::move(job));
    } else {
      *snapshot->active.Add() = std::move(job);
    }
  }
  snapshot->pending_total = static_cast<int>(pending.size());
  status = ExplainQueue(client, pending, snapshot);
  if (!status.ok()) return status;
  berth::v1::ListNodesResponse nodes;
  status = client.Call(&Stub::ListNodes, berth::v1::ListNodesRequest{}, &nodes);
  if (!status.ok()) return status;
  snapshot->nodes = std::move(*nodes.mutable_nodes());
  return grpc::Status::OK;
}

absl::StatusOr<absl::Duration> ReadInterval(const WatchOptions& options) {
  if (!options.interval.has_value()) return kDefaultWatchInterval;
  absl::StatusOr<absl::Duration> interval = ParseTimeout("--interval", *options.interval);
  if (!interval.ok()) return interval.status();
  if (*interval < kMinWatchInterval) {
    return absl::InvalidArgumentError(absl::StrCat("--interval: must be at least ",
                                                   absl::FormatDuration(kMinWatchInterval),
                                                   " (got \"", *options.interval, "\")"));
  }
  return interval;
}

// The live view: redraws until a stop signal, then exits 0; a bad address
// or CA file is reported at once instead (exit 2).
int RunLive(const WatchOptions& options, absl::Duration interval, std::ostream& out,
            std::ostream& err) {
  Client client(options.client);
  if (!client.setup_error().ok()) return ReportRpcError("watch", client, client.setup_error(), err);
  StopSignals signals;
  out << kEnterScreen;
  while (!stop_requested.load()) {
    ClusterSnapshot snapshot;
    grpc::Status status = FetchSnapshot(client, &snapshot);
    std::string frame =
        status.ok() ? RenderFrame(snapshot, client.address(), absl::Now(), absl::LocalTimeZone())
                    : absl::StrCat("berth watch  ", client.address(), "\n\nberthd ",
                                   "did not answer: ", Printable(status.error_message()),
                                   "\nretrying every ", absl::FormatDuration(interval),
                                   "; Ctrl-C to stop\n");
    out << kClearScreen << frame << std::flush;
    absl::Time next = absl::Now() + interval;
    while (!stop_requested.load() && absl::Now() < next) {
      absl::SleepFor(std::min(absl::Milliseconds(50), next - absl::Now()));
    }
  }
  out << kLeaveScreen << std::flush;
  return kExitOk;
}

}  // namespace

std::string OccupancyBar(const berth::v1::Node& node) {
  std::vector<std::pair<int, bool>> gpus;
  for (const berth::v1::Gpu& gpu : node.gpus()) {
    gpus.emplace_back(gpu.index(), gpu.job_id() != 0);
  }
  std::sort(gpus.begin(), gpus.end());
  char free_mark = node.state() == berth::v1::UP ? '.' : 'x';
  std::string bar = "[";
  for (const auto& [index, used] : gpus) bar.push_back(used ? '#' : free_mark);
  return bar + "]";
}

std::string RenderFrame(const ClusterSnapshot& snapshot, absl::string_view address, absl::Time now,
                        absl::TimeZone zone) {
  std::string text = absl::StrCat("berth watch  ", address, "  ",
                                  absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", now, zone), "\n\n");
  absl::StrAppend(&text, "QUEUE: ", snapshot.pending_total, " pending\n");
  if (!snapshot.queue.empty()) {
    absl::StrAppend(&text, Indented(QueueTable(snapshot, now)));
  }
  int hidden = snapshot.pending_total - static_cast<int>(snapshot.queue.size());
  if (hidden > 0) absl::StrAppend(&text, "  ... and ", hidden, " more\n");
  int active_gpus = 0;
  for (const berth::v1::Job& job : snapshot.active) {
    active_gpus += job.gpus_size();
  }
  absl::StrAppend(&text, "\nACTIVE: ", Counted(static_cast<int64_t>(snapshot.active.size()), "job"),
                  " on ", Counted(active_gpus, "GPU"), "\n");
  if (!snapshot.active.empty()) {
    absl::StrAppend(&text, Indented(JobsTable(snapshot.active, now)));
  }
  absl::StrAppend(
      &text, "\nCLUSTER: ", Counted(static_cast<int64_t>(snapshot.nodes.size()), "node"), "\n");
  if (!snapshot.nodes.empty()) {
    absl::StrAppend(&text, Indented(PoolsTable(snapshot.nodes)), "\n",
                    Indented(NodeTable(snapshot.nodes)));
  }
  return text;
}

absl::StatusOr<std::string> SnapshotJson(const ClusterSnapshot& snapshot, absl::string_view address,
                                         absl::Time now) {
  std::vector<const google::protobuf::Message*> queue;
  for (const auto& entry : snapshot.queue) queue.push_back(&entry);
  absl::StatusOr<std::string> queue_json = ToJsonArray(queue);
  absl::StatusOr<std::string> active_json = ToJsonArray(snapshot.active);
  absl::StatusOr<std::string> nodes_json = ToJsonArray(snapshot.nodes);
  for (const auto* json : {&queue_json, &active_json, &nodes_json}) {
    if (!json->ok()) return json->status();
  }
  // Each array ends in a newline; JSON does not mind the whitespace.
  std::string address_json;
  for (char c : address) {
    if (c == '"' || c == '\\') address_json.push_back('\\');
    address_json.push_back(c);
  }
  return absl::StrCat("{\n\"time_ms\": ", absl::ToUnixMillis(now), ",\n\"daemon\": \"",
                      address_json, "\",\n\"pending_total\": ", snapshot.pending_total,
                      ",\n\"queue\": ", *queue_json, ",\"active\": ", *active_json,
                      ",\"nodes\": ", *nodes_json, "}\n");
}

int RunWatch(const WatchOptions& options, std::ostream& out, std::ostream& err) {
  if (options.client.json && !options.once) {
    err << "berth watch: --json: needs --once (a live view is for people)\n";
    return kExitUsage;
  }
  absl::StatusOr<absl::Duration> interval = ReadInterval(options);
  if (!interval.ok()) {
    err << "berth watch: " << interval.status().message() << "\n";
    return kExitUsage;
  }
  if (!options.once) return RunLive(options, *interval, out, err);
  Client client(options.client);
  ClusterSnapshot snapshot;
  grpc::Status status = FetchSnapshot(client, &snapshot);
  if (!status.ok()) return ReportRpcError("watch", client, status, err);
  if (options.client.json) {
    return WriteJson("watch", SnapshotJson(snapshot, client.address(), absl::Now()), out, err);
  }
  out << RenderFrame(snapshot, client.address(), absl::Now(), absl::LocalTimeZone());
  return kExitOk;
}

}  // namespace berth::cli
