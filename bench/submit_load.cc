// submit_load: a load generator for berthd.
//
// Registers --nodes simulated 8-GPU nodes over the agent protocol from this
// one process (one Connect stream each, callback API), then runs --threads
// concurrent submitters that send --jobs jobs in SubmitJob calls, or in
// SubmitJobs calls of --batch jobs each (bounded also by --max_seconds). Each acknowledgement is durable: berthd answers only after
// the job's row is committed (WAL, synchronous=FULL). A simulated node
// answers StartJob by reporting the job SUCCEEDED after --hold_ms, so GPUs
// churn. Measures: acknowledged submissions per second, ack latency, and
// submit-to-placed latency (from the submit call to the StartJob arriving
// at the node). Talks only to the --daemon address (loopback by default).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
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
ABSL_FLAG(int, batch, 1,
          "jobs per call: 1 sends SubmitJob, more send SubmitJobs of that many (at most "
          "10000); acknowledged counts jobs, ack latency is per call");

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

  void Placed(const std::string& request_id) {
    const int64_t now = NowUs();
    absl::MutexLock lock(&mu);
    auto it = submitted.find(request_id);
    if (it != submitted.end()) placed_us.push_back(now - it->second);
  }
};

class SimNode final : public grpc::ClientBidiReactor<AgentMessage, DaemonMessage> {
 public:
  SimNode(berth::v1::AgentService::Stub* stub, std::string name, Clocks* clocks)
      : name_(std::move(name)), clocks_(clocks) {
    stub->async()->Connect(&context_, this);
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
    Write(std::move(hello));
    StartRead(&incoming_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (incoming_.has_registered()) clocks_->registered++;
    if (incoming_.has_start_job()) {
      const berth::v1::Job& job = incoming_.start_job().job();
      clocks_->Placed(job.spec().request_id());
      if (absl::GetFlag(FLAGS_hold_ms) > 0) absl::SleepFor(absl::Milliseconds(absl::GetFlag(FLAGS_hold_ms)));
      AgentMessage done;
      done.mutable_job_status()->set_job_id(job.id());
      done.mutable_job_status()->set_state(berth::v1::SUCCEEDED);
      done.mutable_job_status()->set_time_ms(NowUs() / 1000);
      Write(std::move(done));
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (ok && !queue_.empty()) StartWrite(&queue_.front());
  }

  void OnDone(const grpc::Status& status) override {}
  void Cancel() { context_.TryCancel(); }

 private:
  void Write(AgentMessage message) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(message));
    if (queue_.size() == 1) StartWrite(&queue_.front());
  }

  std::string name_;
  Clocks* clocks_;
  grpc::ClientContext context_;
  DaemonMessage incoming_;
  absl::Mutex mu_;
  std::deque<AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
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

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
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
  auto channel = Connection();
  std::vector<std::unique_ptr<berth::v1::AgentService::Stub>> agents;
  Clocks clocks;
  std::vector<std::unique_ptr<SimNode>> nodes;
  for (int i = 0; i < absl::GetFlag(FLAGS_nodes); ++i) {
    if (i % kNodesPerConnection == 0) agents.push_back(berth::v1::AgentService::NewStub(Connection()));
    nodes.push_back(
        std::make_unique<SimNode>(agents.back().get(), absl::StrFormat("sim-%04d", i), &clocks));
  }
  const absl::Time register_deadline = absl::Now() + absl::Seconds(60);
  while (clocks.registered < absl::GetFlag(FLAGS_nodes) && absl::Now() < register_deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::printf("registered %d of %d nodes\n", clocks.registered.load(), absl::GetFlag(FLAGS_nodes));

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
          spec = Spec();
          spec.set_request_id(absl::StrCat("load-", start_us, "-", i + k));
        }
        const int64_t begin = NowUs();
        {
          absl::MutexLock lock(&clocks.mu);
          for (const auto& spec : request.specs()) clocks.submitted[spec.request_id()] = begin;
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
  absl::SleepFor(absl::Seconds(1));  // let the last placements arrive
  std::vector<int64_t> placed;
  {
    absl::MutexLock lock(&clocks.mu);
    placed = clocks.placed_us;
  }
  std::printf("submitted %d, acknowledged %d, failed %d in %.2f s: %.0f acknowledged/s\n",
              next.load() > total ? total : next.load(), acked.load(), failed.load(), seconds,
              acked.load() / seconds);
  std::printf("ack latency (per call of %d): p50 %.2f ms, p99 %.2f ms\n",
              std::clamp(absl::GetFlag(FLAGS_batch), 1, 10000), Percentile(ack_us, 0.50) / 1e3,
              Percentile(ack_us, 0.99) / 1e3);
  std::printf("submit-to-placed (%zu placed): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              placed.size(), Percentile(placed, 0.50) / 1e3, Percentile(placed, 0.99) / 1e3,
              Percentile(placed, 1.0) / 1e3);
  for (auto& node : nodes) node->Cancel();
  absl::SleepFor(absl::Milliseconds(200));
  std::fflush(stdout);
  std::_Exit(failed.load() == 0 ? 0 : 1);
}
