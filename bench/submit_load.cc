// submit_load: a load generator for berthd.
//
// Registers --nodes simulated 8-GPU nodes over the agent protocol from this
// one process (one Connect stream each, async API, on 8 completion queues), then runs --threads
// concurrent submitters that send --jobs jobs in SubmitJob calls, or in
// SubmitJobs calls of --batch jobs each (bounded also by --max_seconds). Each acknowledgement is
// durable: berthd answers only after the job's row is committed (WAL, synchronous=FULL). A
// simulated node answers StartJob by reporting the job SUCCEEDED after --hold_ms, so GPUs churn.
// Measures: acknowledged submissions per second, ack latency, and submit-to-placed latency (from
// the submit call to the StartJob arriving at the node). Talks only to the --daemon address
// (loopback by default).
//
// At scale (issue 15): nodes register in waves (berthd admits 1,024
// unregistered streams at once), 50 to a connection (berthd allows 100
// calls on one), and each heartbeats every --heartbeat_ms. --prefill N
// first fills all but --free_nodes nodes with 8-GPU jobs that keep running,
// then queues N 256-GPU gangs that cannot fit now (the first is the blocked
// head); the measured jobs then fit now: 1-GPU inference jobs of one
// minute, which EASY backfills. --mix makes the measured jobs 70% 1-GPU,
// 20% 8-GPU and 10% 256-GPU gangs (only the first two count in the placed
// latencies). --json prints one line with the figures; --daemon_pid adds
// berthd's resident memory (VmRSS) to it.
//
// End to end (bench/compare_slurm.sh): --nodes 0 registers no simulated
// node, so real berth-agents run the jobs; --wait_done makes the measured
// jobs 1-GPU ones of one command and, after submitting, waits (at most
// --wait_seconds) until every job sent has ended; the figures then add how
// many succeeded and the jobs ended per second from the first submission.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/end_to_end.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/scheduler.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

ABSL_FLAG(std::string, daemon, "127.0.0.1:7070", "berthd address (loopback)");
ABSL_FLAG(int, nodes, 1000, "simulated nodes of 8 × h100-80gb");
ABSL_FLAG(int, threads, 32, "concurrent submitters");
ABSL_FLAG(int, jobs, 20000, "submissions in all");
ABSL_FLAG(int, max_seconds, 60, "stop submitting after this long");
ABSL_FLAG(int, hold_ms, 0, "how long a simulated job runs before it succeeds");
ABSL_FLAG(std::string, model, "llama-2-7b", "catalog model of every job");
ABSL_FLAG(int, prefill, 0, "256-GPU gangs queued before measuring (see the top)");
ABSL_FLAG(int, free_nodes, 10, "with --prefill: nodes left free for the measured jobs");
ABSL_FLAG(bool, mix, false, "measured jobs: 1-GPU, 8-GPU and 256-GPU gangs");
ABSL_FLAG(bool, json, false, "print the figures as one JSON object");
ABSL_FLAG(int, teams, 0,
          "spread every job over this many teams, team-00 onwards, in turn (berthd then needs "
          "a teams file naming them: BERTHD_FLAGS=--teams=FILE bench/run_submit_load.sh); "
          "0: every job is team load's");
ABSL_FLAG(int, daemon_pid, 0, "berthd's pid, to read its resident memory");
ABSL_FLAG(int, heartbeat_ms, 1000, "each simulated node's heartbeat interval; 0: none");
ABSL_FLAG(int, batch, 1,
          "jobs per call: 1 sends SubmitJob, more send SubmitJobs of that many (at most "
          "10000); acknowledged counts jobs, ack latency is per call");
ABSL_FLAG(bool, wait_done, false,
          "measured jobs are 1-GPU ones; after submitting, wait until all have ended and report "
          "jobs ended per second (end to end)");
ABSL_FLAG(int, wait_seconds, 300, "with --wait_done: wait at most this long");

namespace {

using berth::v1::AgentMessage;
using berth::v1::DaemonMessage;

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

// Submit start times by request id, and the placed latencies seen.
struct Clocks {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, int64_t> submitted ABSL_GUARDED_BY(mu);
  std::vector<int64_t> placed_us ABSL_GUARDED_BY(mu);
  std::atomic<int> registered{0};

  std::atomic<int> held{0};  // prefill jobs placed

  void Placed(const std::string& request_id) {
    const int64_t now = NowUs();
    if (absl::StartsWith(request_id, "hold-")) {
      held++;
      return;
    }
    absl::MutexLock lock(&mu);
    auto it = submitted.find(request_id);
    if (it != submitted.end()) placed_us.push_back(now - it->second);
  }
};

// One simulated agent on gRPC's async API, its operations completing on one
// of kNodeQueues queues (the callback API would put every stream's on one
// queue, searched in full on each completion by Debian's libgrpc; see
// daemon/agent_service.h).
class SimNode {
 public:
  enum class Op { kStart, kRead, kWrite };
  struct Tag {
    SimNode* node;
    Op op;
  };

  SimNode(berth::v1::AgentService::Stub* stub, std::string name, Clocks* clocks,
          grpc::CompletionQueue* cq)
      : name_(std::move(name)), clocks_(clocks), io_(stub->PrepareAsyncConnect(&context_, cq)) {
    AgentMessage hello;
    berth::v1::Register* reg = hello.mutable_register_();
    reg->set_node(name_);
    for (int i = 0; i < 8; ++i) {
      berth::v1::Gpu* gpu = reg->add_gpus();
      gpu->set_index(i);
      gpu->set_type("h100-80gb");
      gpu->set_memory_bytes(81559.0 * 1024 * 1024);
      gpu->set_uuid(absl::StrCat("GPU-load-", name_, "-", i));
    }
    Write(std::move(hello));  // goes out once the call has started
    io_->StartCall(&start_);
  }

  void Proceed(Op op, bool ok) {
    switch (op) {
      case Op::kStart: {
        if (!ok) return;
        {
          absl::MutexLock lock(&mu_);
          started_ = true;
          if (!queue_.empty()) io_->Write(queue_.front(), &write_);
        }
        io_->Read(&incoming_, &read_);
        break;
      }
      case Op::kRead:
        OnReadDone(ok);
        break;
      case Op::kWrite:
        OnWriteDone(ok);
        break;
    }
  }

  void Cancel() { context_.TryCancel(); }
  void Heartbeat() {
    AgentMessage beat;
    beat.mutable_heartbeat()->set_sent_ms(NowUs() / 1000);
    Write(std::move(beat));
  }

 private:
  void OnReadDone(bool ok) {
    if (!ok) return;
    if (incoming_.has_registered()) clocks_->registered++;
    if (incoming_.has_start_job()) {
      const berth::v1::Job& job = incoming_.start_job().job();
      clocks_->Placed(job.spec().request_id());
      // Prefill jobs keep running: they hold their GPUs to the end.
      if (!absl::StartsWith(job.spec().request_id(), "hold-")) {
        if (absl::GetFlag(FLAGS_hold_ms) > 0)
          absl::SleepFor(absl::Milliseconds(absl::GetFlag(FLAGS_hold_ms)));
        AgentMessage done;
        done.mutable_job_status()->set_job_id(job.id());
        done.mutable_job_status()->set_state(berth::v1::SUCCEEDED);
        done.mutable_job_status()->set_time_ms(NowUs() / 1000);
        Write(std::move(done));
      }
    }
    io_->Read(&incoming_, &read_);
  }

  void OnWriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (ok && !queue_.empty()) io_->Write(queue_.front(), &write_);
  }

  void Write(AgentMessage message) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(message));
    if (started_ && queue_.size() == 1) io_->Write(queue_.front(), &write_);
  }

  std::string name_;
  Clocks* clocks_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<AgentMessage, DaemonMessage>> io_;
  Tag start_{this, Op::kStart};
  Tag read_{this, Op::kRead};
  Tag write_{this, Op::kWrite};
  DaemonMessage incoming_;
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<AgentMessage> queue_ ABSL_GUARDED_BY(mu_);  // front is in flight once started
};

// The simulated agents' queues, each drained by its own thread until exit.
constexpr int kNodeQueues = 8;
class NodeQueues {
 public:
  NodeQueues() {
    for (int i = 0; i < kNodeQueues; ++i) {
      queues_.push_back(std::make_unique<grpc::CompletionQueue>());
      std::thread([cq = queues_.back().get()] {
        void* tag = nullptr;
        bool ok = false;
        while (cq->Next(&tag, &ok)) {
          auto* t = static_cast<SimNode::Tag*>(tag);
          t->node->Proceed(t->op, ok);
        }
      }).detach();  // the process ends with _Exit
    }
  }
  grpc::CompletionQueue* For(int node) { return queues_[node % kNodeQueues].get(); }

 private:
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues_;
};

int64_t Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[index];
}

berth::v1::JobSpec Spec() {
  berth::v1::JobSpec spec;
  spec.set_team("load");
  spec.set_task("train");
  spec.mutable_model()->set_catalog_name(absl::GetFlag(FLAGS_model));
  spec.set_gpu_type("h100-80gb");
  spec.set_max_runtime_seconds(3600);
  spec.add_command("true");
  return spec;
}

// The team of job number i (--teams).
std::string TeamOf(int i) {
  const int teams = absl::GetFlag(FLAGS_teams);
  return teams > 0 ? absl::StrFormat("team-%02d", i % teams) : std::string("load");
}

enum class Kind { kOneGpu, kNode, kGang };

// A job of `gpus` 1, 8 or 256 h100s with a fixed split.
berth::v1::JobSpec SpecOf(Kind kind, int64_t max_runtime_seconds) {
  berth::v1::JobSpec spec = Spec();
  spec.set_max_runtime_seconds(max_runtime_seconds);
  switch (kind) {
    case Kind::kOneGpu:
      spec.set_task("infer");
      spec.mutable_model()->set_catalog_name("llama-3-8b");
      spec.mutable_split()->set_tp(1);
      break;
    case Kind::kNode:
      spec.mutable_model()->set_catalog_name("llama-2-7b");
      spec.mutable_split()->set_tp(8);
      break;
    case Kind::kGang:
      spec.mutable_model()->set_catalog_name("llama-3-70b");
      spec.mutable_split()->set_tp(8);
      spec.mutable_split()->set_pp(4);
      spec.mutable_split()->set_dp(8);
      break;
  }
  spec.mutable_split()->set_pp(std::max(1, spec.split().pp()));
  spec.mutable_split()->set_dp(std::max(1, spec.split().dp()));
  return spec;
}

// The measured job number i: the default spec, a 1-GPU job with a prefill,
// or the mix.
berth::v1::JobSpec MeasuredSpec(int i) {
  if (absl::GetFlag(FLAGS_mix)) {
    const int slot = i % 10;
    if (slot == 9) return SpecOf(Kind::kGang, 600);
    return SpecOf(slot >= 7 ? Kind::kNode : Kind::kOneGpu, 60);
  }
  if (absl::GetFlag(FLAGS_prefill) > 0 || absl::GetFlag(FLAGS_wait_done)) {
    return SpecOf(Kind::kOneGpu, 60);
  }
  return Spec();
}

// berthd's VmRSS in bytes, from /proc; 0 when unknown.
int64_t DaemonRss() {
  const int pid = absl::GetFlag(FLAGS_daemon_pid);
  if (pid <= 0) return 0;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      int64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

// Submits `count` jobs of `kind` in SubmitJobs calls of 1,000, request ids
// "hold-<tag>-i"; returns how many were acknowledged.
int SubmitHeld(berth::v1::SchedulerService::Stub& stub, Kind kind, int count,
               const std::string& tag, int64_t max_runtime_seconds, absl::Time deadline) {
  int acked = 0;
  for (int i = 0; i < count && absl::Now() < deadline; i += 1000) {
    berth::v1::SubmitJobsRequest request;
    for (int k = i; k < std::min(count, i + 1000); ++k) {
      berth::v1::JobSpec& spec = *request.add_specs();
      spec = SpecOf(kind, max_runtime_seconds);
      spec.set_team(TeamOf(k));
      spec.set_request_id(absl::StrCat("hold-", tag, "-", k));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    berth::v1::SubmitJobsResponse response;
    const grpc::Status status = stub.SubmitJobs(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "prefill: %s\n", status.error_message().c_str());
      continue;
    }
    for (const auto& result : response.results()) {
      if (result.job().state() == berth::v1::PENDING || result.job().state() == berth::v1::PLACED) {
        acked++;
      } else if (acked == 0) {
        std::fprintf(stderr, "prefill refused: %s%s\n", result.job().reason().c_str(),
                     result.error().c_str());
      }
    }
  }
  return acked;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Lock-order checking costs a graph update per lock; tests run it instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string address = absl::GetFlag(FLAGS_daemon);
  // Connections of their own: berthd allows 100 concurrent calls on one
  // (common/limits.h), and real agents each have theirs. Nodes share one
  // per kNodesPerConnection; the submitters have another.
  auto Connection = [&address] {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  };
  constexpr int kNodesPerConnection = 50;
  constexpr int kNodesPerWave = 500;
  auto channel = Connection();
  std::vector<std::unique_ptr<berth::v1::AgentService::Stub>> agents;
  Clocks clocks;
  std::vector<std::unique_ptr<SimNode>> nodes;
  auto* node_queues = new NodeQueues();  // lives until _Exit
  const int node_count = absl::GetFlag(FLAGS_nodes);
  const int64_t rss_empty = DaemonRss();
  for (int i = 0; i < node_count; ++i) {
    if (i % kNodesPerConnection == 0)
      agents.push_back(berth::v1::AgentService::NewStub(Connection()));
    nodes.push_back(std::make_unique<SimNode>(agents.back().get(), absl::StrFormat("sim-%05d", i),
                                              &clocks, node_queues->For(i)));
    if ((i + 1) % kNodesPerWave != 0 && i + 1 != node_count) continue;
    const absl::Time wave_deadline = absl::Now() + absl::Seconds(60);
    while (clocks.registered < i + 1 && absl::Now() < wave_deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  std::fprintf(stderr, "registered %d of %d nodes\n", clocks.registered.load(), node_count);
  // Heartbeats, as agents send them, until the end.
  std::atomic<bool> stop_beats{false};
  std::thread beats([&] {
    const int interval = absl::GetFlag(FLAGS_heartbeat_ms);
    while (interval > 0 && !stop_beats) {
      const absl::Time next_round = absl::Now() + absl::Milliseconds(interval);
      for (auto& node : nodes) node->Heartbeat();
      while (!stop_beats && absl::Now() < next_round) absl::SleepFor(absl::Milliseconds(10));
    }
  });
  const int64_t rss_nodes = DaemonRss();
  std::fprintf(stderr, "berthd VmRSS with no node: %lld bytes; with %d nodes: %lld bytes\n",
               static_cast<long long>(rss_empty), node_count, static_cast<long long>(rss_nodes));
  int pending_at_start = 0;
  if (absl::GetFlag(FLAGS_prefill) > 0) {
    auto stub = berth::v1::SchedulerService::NewStub(channel);
    const absl::Time deadline = absl::Now() + absl::Seconds(600);
    const int blockers = std::max(0, node_count - absl::GetFlag(FLAGS_free_nodes));
    const int blocked = SubmitHeld(*stub, Kind::kNode, blockers, "block", 3600, deadline);
    while (clocks.held < blocked && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    pending_at_start =
        SubmitHeld(*stub, Kind::kGang, absl::GetFlag(FLAGS_prefill), "pre", 7200, deadline);
    absl::SleepFor(absl::Seconds(1));  // the passes after the last batch
    const int64_t rss_prefill = DaemonRss();
    std::fprintf(stderr,
                 "prefill: %d nodes filled by 8-GPU jobs (%d placed), %d 256-GPU gangs queued; "
                 "berthd VmRSS %lld bytes (+%lld)\n",
                 blocked, clocks.held.load(), pending_at_start, static_cast<long long>(rss_prefill),
                 static_cast<long long>(rss_prefill - rss_nodes));
  }

  std::atomic<int> next{0}, acked{0}, failed{0};
  const int total = absl::GetFlag(FLAGS_jobs);
  const absl::Time stop_at = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_max_seconds));
  absl::Mutex ack_mu;
  std::vector<int64_t> ack_us;
  const int64_t start_us = NowUs();
  std::vector<std::thread> threads;
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    threads.emplace_back([&, t] {
      auto stub = berth::v1::SchedulerService::NewStub(channel);
      std::vector<int64_t> mine;
      const int batch = std::clamp(absl::GetFlag(FLAGS_batch), 1, 10000);
      for (int i = next.fetch_add(batch); i < total && absl::Now() < stop_at;
           i = next.fetch_add(batch)) {
        const int count = std::min(batch, total - i);
        berth::v1::SubmitJobsRequest request;
        for (int k = 0; k < count; ++k) {
          berth::v1::JobSpec& spec = *request.add_specs();
          spec = MeasuredSpec(i + k);
          spec.set_team(TeamOf(i + k));
          spec.set_request_id(absl::StrCat("load-", start_us, "-", i + k));
        }
        const int64_t begin = NowUs();
        {
          absl::MutexLock lock(&clocks.mu);
          // Gangs wait behind the queue: placed latencies are of jobs that fit now.
          for (const auto& spec : request.specs()) {
            if (spec.split().dp() < 8) clocks.submitted[spec.request_id()] = begin;
          }
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        bool ok = false;
        if (batch == 1) {
          berth::v1::SubmitJobRequest one;
          *one.mutable_spec() = request.specs(0);
          berth::v1::SubmitJobResponse response;
          ok = stub->SubmitJob(&context, one, &response).ok();
        } else {
          berth::v1::SubmitJobsResponse response;
          ok = stub->SubmitJobs(&context, request, &response).ok();
        }
        if (ok) {
          acked += count;
          mine.push_back(NowUs() - begin);
        } else {
          failed += count;
        }
      }
      absl::MutexLock lock(&ack_mu);
      ack_us.insert(ack_us.end(), mine.begin(), mine.end());
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = static_cast<double>(NowUs() - start_us) / 1e6;
  berth::bench::EndedJobs ended;
  double ended_seconds = 0;
  bool all_succeeded = true;
  if (absl::GetFlag(FLAGS_wait_done)) {
    auto stub = berth::v1::SchedulerService::NewStub(channel);
    absl::StatusOr<berth::bench::EndedJobs> waited = berth::bench::WaitUntilEnded(
        *stub, {.team = Spec().team(),
                .submitted_after_ms = start_us / 1000 - 1,
                .deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_wait_seconds))});
    if (!waited.ok()) std::fprintf(stderr, "wait_done: %s\n", waited.status().ToString().c_str());
    if (waited.ok()) ended = *waited;
    ended_seconds = absl::ToDoubleSeconds(ended.all_ended - absl::FromUnixMicros(start_us));
    all_succeeded = waited.ok() && ended.succeeded == acked.load() && ended.still_active == 0;
  }
  absl::SleepFor(absl::Seconds(1));  // let the last placements arrive
  std::vector<int64_t> placed;
  {
    absl::MutexLock lock(&clocks.mu);
    placed = clocks.placed_us;
  }
  const int64_t rss = DaemonRss();
  const int threads_count = absl::GetFlag(FLAGS_threads);
  const double ended_rate =
      ended_seconds > 0 ? (ended.succeeded + ended.other) / ended_seconds : 0.0;
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"submissions_per_second\": %.1f, \"ack_p50_ms\": %.3f, \"ack_p99_ms\": %.3f, "
        "\"placed_p50_ms\": %.3f, \"placed_p99_ms\": %.3f, \"nodes\": %d, "
        "\"pending_at_start\": %d, \"threads\": %d, \"jobs\": %d, \"seconds\": %.3f, "
        "\"daemon_rss_bytes\": %lld",
        acked.load() / seconds, Percentile(ack_us, 0.50) / 1e3, Percentile(ack_us, 0.99) / 1e3,
        Percentile(placed, 0.50) / 1e3, Percentile(placed, 0.99) / 1e3, node_count,
        pending_at_start, threads_count, acked.load(), seconds, static_cast<long long>(rss));
    if (absl::GetFlag(FLAGS_wait_done)) {
      std::printf(
          ", \"succeeded\": %d, \"ended_other\": %d, \"still_active\": %d, "
          "\"end_to_end_seconds\": %.3f, \"end_to_end_per_second\": %.1f",
          ended.succeeded, ended.other, ended.still_active, ended_seconds, ended_rate);
    }
    std::printf("}\n");
  } else {
    std::printf("submitted %d, acknowledged %d, failed %d in %.2f s: %.0f acknowledged/s\n",
                next.load() > total ? total : next.load(), acked.load(), failed.load(), seconds,
                acked.load() / seconds);
    std::printf("ack latency (per call of %d): p50 %.2f ms, p99 %.2f ms\n",
                std::clamp(absl::GetFlag(FLAGS_batch), 1, 10000), Percentile(ack_us, 0.50) / 1e3,
                Percentile(ack_us, 0.99) / 1e3);
    std::printf("submit-to-placed (%zu placed): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                placed.size(), Percentile(placed, 0.50) / 1e3, Percentile(placed, 0.99) / 1e3,
                Percentile(placed, 1.0) / 1e3);
    std::printf("nodes %d, pending at start %d, berthd VmRSS %lld bytes\n", node_count,
                pending_at_start, static_cast<long long>(rss));
    if (absl::GetFlag(FLAGS_wait_done)) {
      std::printf(
          "end to end: %d succeeded, %d ended otherwise, %d still active; all ended %.2f s after "
          "the first submission: %.1f jobs/s\n",
          ended.succeeded, ended.other, ended.still_active, ended_seconds, ended_rate);
    }
  }
  stop_beats = true;
  beats.join();
  for (auto& node : nodes) node->Cancel();
  absl::SleepFor(absl::Milliseconds(200));
  std::fflush(stdout);
  std::_Exit(failed.load() == 0 && all_succeeded ? 0 : 1);
}
