// attack_load: the resource attacks of issue 18, replayed against a berthd
// on loopback so that bench/run_attack_rss.sh can read its memory before
// and after. Every attack is bounded in count and time.
//
//   --attack idle_streams   --count N: N AgentService.Connect streams that
//                           never send Register, held --hold_s seconds;
//                           prints how many berthd closed by then.
//   --attack huge_heartbeat one node registers, then sends one Heartbeat of
//                           --count GPU samples (NaN and unknown indices
//                           among them).
//   --attack fat_lists      --count N jobs of ~200 KiB specs are submitted,
//                           then 50 concurrent ListJobs(limit 10000) calls.
//   --attack unread_lists   --count N such jobs, then 5 connections each
//                           start 100 ListJobs(limit 10000) calls and never
//                           read a reply (no Finish), for --hold_s seconds.
//   --attack big_spec       one 4 MiB spec (64 env values of 64 KiB); prints
//                           berthd's answer.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/scheduler.grpc.pb.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"

ABSL_FLAG(std::string, daemon, "127.0.0.1:7070", "berthd address (loopback)");
ABSL_FLAG(std::string, attack, "idle_streams",
          "idle_streams | huge_heartbeat | fat_lists | unread_lists | big_spec");
ABSL_FLAG(int, count, 1000, "streams, samples or jobs, by attack (at most 200,000)");
ABSL_FLAG(int, hold_s, 15, "how long idle streams are held (at most 120)");

namespace {

using berth::v1::AgentMessage;
using berth::v1::DaemonMessage;

// A channel of its own (its own TCP connection): berthd allows 100
// concurrent streams per connection.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address, int i) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("berth.attack.channel", i);  // distinct args: no shared subchannel
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

int IdleStreams(const std::string& address, int count, int hold_s) {
  constexpr int kPerChannel = 90;
  std::vector<std::unique_ptr<berth::v1::AgentService::Stub>> stubs;
  for (int i = 0; i * kPerChannel < count; ++i) {
    stubs.push_back(berth::v1::AgentService::NewStub(OwnChannel(address, i)));
  }
  std::atomic<int> closed{0};
  std::vector<std::thread> holders;
  for (size_t c = 0; c < stubs.size(); ++c) {
    holders.emplace_back([&, c] {
      const int n = std::min(kPerChannel, count - static_cast<int>(c) * kPerChannel);
      std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
      std::vector<std::unique_ptr<grpc::ClientReaderWriter<AgentMessage, DaemonMessage>>> streams;
      for (int i = 0; i < n; ++i) {
        contexts.push_back(Context(absl::Seconds(hold_s)));
        streams.push_back(stubs[c]->Connect(contexts.back().get()));
      }
      for (auto& stream : streams) {
        DaemonMessage reply;
        while (stream->Read(&reply)) {
        }
        const grpc::Status status = stream->Finish();
        if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED ||
            status.error_message().find("register") != std::string::npos) {
          closed.fetch_add(1);  // berthd's doing, not the client's deadline
        }
      }
    });
  }
  for (std::thread& t : holders) t.join();
  std::printf("idle_streams: %d opened, %d closed by berthd within %d s\n", count, closed.load(),
              hold_s);
  return 0;
}

berth::v1::Register Registration(const std::string& node) {
  berth::v1::Register reg;
  reg.set_node(node);
  reg.set_discovery("simulated");
  for (int i = 0; i < 8; ++i) {
    berth::v1::Gpu* gpu = reg.add_gpus();
    gpu->set_index(i);
    gpu->set_type("h100-80gb");
    gpu->set_uuid(absl::StrCat(node, "-", i));
    gpu->set_memory_bytes(80.0 * (1LL << 30));
  }
  return reg;
}

int HugeHeartbeat(const std::string& address, int count) {
  auto stub = berth::v1::AgentService::NewStub(OwnChannel(address, 0));
  auto context = Context(absl::Seconds(30));
  auto stream = stub->Connect(context.get());
  AgentMessage hello;
  *hello.mutable_register_() = Registration("attack-heartbeat");
  stream->Write(hello);
  DaemonMessage reply;
  if (!stream->Read(&reply) || !reply.has_registered()) {
    std::printf("huge_heartbeat: not registered\n");
    return 1;
  }
  AgentMessage beat;
  berth::v1::Heartbeat* heartbeat = beat.mutable_heartbeat();
  heartbeat->set_sent_ms(absl::ToUnixMillis(absl::Now()));
  for (int i = 0; i < count; ++i) {
    berth::v1::GpuSample* sample = heartbeat->add_gpus();
    sample->set_index(i % 3 == 0 ? -i : i);
    sample->set_utilization(i % 2 == 0 ? std::nan("") : std::numeric_limits<double>::infinity());
    sample->set_memory_used_bytes(1e18);
  }
  const bool sent = stream->Write(beat);
  absl::SleepFor(absl::Seconds(2));  // berthd takes it in
  context->TryCancel();
  std::printf("huge_heartbeat: %d samples (%zu bytes) %s\n", count, beat.ByteSizeLong(),
              sent ? "sent" : "refused at the transport");
  return 0;
}

// Submits `count` jobs of ~200 KiB specs; returns how many berthd kept.
int FillJobs(const std::string& address, int count) {
  auto stub = berth::v1::SchedulerService::NewStub(OwnChannel(address, 0));
  berth::v1::JobSpec spec;
  spec.set_team("attack");
  spec.set_task("train");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  for (int k = 0; k < 3; ++k) {
    (*spec.mutable_env())[absl::StrCat("BLOB", k)] = std::string(64 * 1024 - 64, 'a' + k);
  }
  int stored = 0;  // admitted, or refused and kept as REJECTED (no nodes)
  for (int i = 0; i < count; ++i) {
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    berth::v1::SubmitJobResponse response;
    auto context = Context(absl::Seconds(20));
    const grpc::Status status = stub->SubmitJob(context.get(), request, &response);
    if (status.ok() || status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) ++stored;
  }
  return stored;
}

int FatLists(const std::string& address, int count) {
  const int stored = FillJobs(address, count);
  std::atomic<int64_t> bytes{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> listers;
  for (int i = 0; i < 50; ++i) {
    listers.emplace_back([&, i] {
      auto own = berth::v1::SchedulerService::NewStub(OwnChannel(address, 1 + i));
      berth::v1::ListJobsRequest request;
      request.set_limit(10000);
      berth::v1::ListJobsResponse response;
      auto context = Context(absl::Seconds(60));
      const grpc::Status status = own->ListJobs(context.get(), request, &response);
      if (!status.ok()) failed.fetch_add(1);
      bytes.fetch_add(static_cast<int64_t>(response.ByteSizeLong()));
    });
  }
  for (std::thread& t : listers) t.join();
  std::printf("fat_lists: %d of %d jobs stored; 50 lists got %.1f MiB in all, %d failed\n", stored,
              count, static_cast<double>(bytes.load()) / (1 << 20), failed.load());
  return 0;
}

// The attack 3: replies berthd must hold because the client never
// reads them (its HTTP/2 window is never reopened).
int UnreadLists(const std::string& address, int count, int hold_s) {
  const int stored = FillJobs(address, count);
  constexpr int kConnections = 5;
  constexpr int kCallsPerConnection = 100;
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientAsyncResponseReader<berth::v1::ListJobsResponse>> reader;
    berth::v1::ListJobsResponse response;
    grpc::Status status;
  };
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<berth::v1::SchedulerService::Stub>> stubs;
  std::vector<Pending> calls(kConnections * kCallsPerConnection);
  berth::v1::ListJobsRequest request;
  request.set_limit(10000);
  for (int c = 0; c < kConnections; ++c) {
    stubs.push_back(berth::v1::SchedulerService::NewStub(OwnChannel(address, 1 + c)));
    for (int i = 0; i < kCallsPerConnection; ++i) {
      Pending& call = calls[c * kCallsPerConnection + i];
      call.context = Context(absl::Seconds(hold_s + 60));
      call.reader = stubs.back()->PrepareAsyncListJobs(call.context.get(), request, &queue);
      call.reader->StartCall();  // sends the request; nothing is read yet
    }
  }
  absl::SleepFor(absl::Seconds(hold_s));
  // Then read them all, to show the replies were real (and berthd let go).
  for (Pending& call : calls) call.reader->Finish(&call.response, &call.status, &call);
  int64_t bytes = 0;
  int answered = 0;
  void* tag;
  bool ok;
  for (size_t n = 0; n < calls.size(); ++n) {
    if (queue.AsyncNext(&tag, &ok, absl::ToChronoTime(absl::Now() + absl::Seconds(60))) !=
        grpc::CompletionQueue::GOT_EVENT) {
      break;
    }
    Pending* call = static_cast<Pending*>(tag);
    if (call->status.ok()) ++answered;
    bytes += static_cast<int64_t>(call->response.ByteSizeLong());
  }
  std::printf(
      "unread_lists: %d jobs stored; %zu ListJobs calls held unread for %d s, then read: %d "
      "answered, %.1f MiB\n",
      stored, calls.size(), hold_s, answered, static_cast<double>(bytes) / (1 << 20));
  for (Pending& call : calls) call.context->TryCancel();
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return 0;
}

int BigSpec(const std::string& address) {
  auto stub = berth::v1::SchedulerService::NewStub(OwnChannel(address, 0));
  berth::v1::SubmitJobRequest request;
  berth::v1::JobSpec* spec = request.mutable_spec();
  spec->set_team("attack");
  spec->set_task("train");
  spec->mutable_model()->set_catalog_name("llama-2-7b");
  for (int i = 0; i < 64; ++i) {
    (*spec->mutable_env())[absl::StrCat("K", i)] = std::string(64 * 1024 - 64, 'v');
  }
  berth::v1::SubmitJobResponse response;
  auto context = Context(absl::Seconds(20));
  const grpc::Status status = stub->SubmitJob(context.get(), request, &response);
  std::printf("big_spec: %zu bytes: code %d %s\n", request.ByteSizeLong(), status.error_code(),
              status.ok() ? absl::StrCat("accepted as job ", response.job().id()).c_str()
                          : status.error_message().substr(0, 120).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string address = absl::GetFlag(FLAGS_daemon);
  const std::string attack = absl::GetFlag(FLAGS_attack);
  const int count = std::clamp(absl::GetFlag(FLAGS_count), 1, 200000);
  const int hold_s = std::clamp(absl::GetFlag(FLAGS_hold_s), 1, 120);
  if (attack == "idle_streams") return IdleStreams(address, count, hold_s);
  if (attack == "huge_heartbeat") return HugeHeartbeat(address, count);
  if (attack == "fat_lists") return FatLists(address, count);
  if (attack == "unread_lists") return UnreadLists(address, count, hold_s);
  if (attack == "big_spec") return BigSpec(address);
  std::fprintf(stderr, "attack_load: unknown --attack %s\n", attack.c_str());
  return 2;
}
