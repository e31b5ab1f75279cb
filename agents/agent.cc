#include "agents/agent.h"

#include <algorithm>
#include <iostream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agents/inventory.h"
#include "common/leader_hint.h"
#include "common/limits.h"
#include "common/status_macros.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace berth::agent {

// One Connect stream and the state its reader and heartbeat threads share.
struct Agent::Session {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::DaemonMessage>> stream;
  absl::Mutex write_mu;  // gRPC allows one writer at a time
  absl::Mutex mu;
  bool registered ABSL_GUARDED_BY(mu) = false;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Duration heartbeat_interval ABSL_GUARDED_BY(mu);

  // On failure cancels the stream, so the reader sees the end too.
  bool Write(const v1::AgentMessage& message) {
    absl::MutexLock lock(&write_mu);
    if (stream->Write(message)) return true;
    context.TryCancel();
    return false;
  }
};

namespace {

int ToIntMillis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), int64_t{1} << 30));
}

std::string GrpcStatusText(const grpc::Status& status) {
  return absl::StrCat("grpc code ", static_cast<int>(status.error_code()),
                      status.error_message().empty() ? "" : ": ", status.error_message());
}

// True when the job's placement names no GPU on `node` (an empty placement
// is taken as this node's).
bool PlacedElsewhere(const v1::Job& job, absl::string_view node) {
  if (job.gpus().empty()) return false;
  return std::none_of(job.gpus().begin(), job.gpus().end(),
                      [node](const v1::GpuAssignment& gpu) { return gpu.node() == node; });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(AgentOptions options) {
  BERTH_RETURN_IF_ERROR(ValidateNodeName(options.node));
  if (options.registration.gpus().empty()) {
    return absl::InvalidArgumentError("agent: the registration lists no GPUs");
  }
  if (options.default_heartbeat_interval <= absl::ZeroDuration() ||
      options.reconnect_backoff_min <= absl::ZeroDuration() ||
      options.reconnect_backoff_max < options.reconnect_backoff_min ||
      options.register_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "agent: heartbeat interval, register timeout and backoff must be "
        "positive, with backoff min <= max");
  }
  if (options.keepalive_time != absl::ZeroDuration() &&
      (options.keepalive_time < absl::Milliseconds(kMinPingIntervalMs) ||
       options.keepalive_timeout <= absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent: keepalive must be 0 (off) or at least ", kMinPingIntervalMs,
                     " ms (berthd refuses PINGs more often), with a positive timeout"));
  }
  if (options.max_unacknowledged == 0) {
    return absl::InvalidArgumentError("agent: max_unacknowledged must be positive");
  }
  if (!options.now) options.now = [] { return absl::Now(); };
  options.registration.set_node(options.node);
  auto agent = std::unique_ptr<Agent>(new Agent(std::move(options)));
  Agent* self = agent.get();
  BERTH_ASSIGN_OR_RETURN(agent->runner_,
                         JobRunner::Create({
                             .node = self->options_.node,
                             .work_dir = self->options_.work_dir,
                             .run_commands = self->options_.run_jobs,
                             .pass_env = self->options_.pass_env,
                             .default_stop_grace = self->options_.stop_grace,
                             .simulated_run = self->options_.simulated_run,
                             .now = self->options_.now,
                             .on_status = [self](const v1::JobStatus& s) { self->Deliver(s); },
                             .log = [self](absl::string_view line) { self->Log(line); },
                         }));
  return agent;
}

Agent::Agent(AgentOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  // gRPC's own reconnect backoff (1 s up to 120 s by default) would keep a
  // restarted daemon unreachable long after our backoff ends.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ToIntMillis(options_.reconnect_backoff_min));
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC takes it as the time one
  // connection attempt may take (20 s by default), and 100 ms cut off the
  // handshake with a busy berthd ("tcp handshaker shutdown").
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ToIntMillis(options_.reconnect_backoff_max));
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  args.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  // A connection of its own: the nodes of `--simulate N` would otherwise
  // share one, and berthd serves 100 streams on a connection
  // (kMaxStreamsPerConnection), so the 101st node would never register.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (options_.keepalive_time > absl::ZeroDuration()) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ToIntMillis(options_.keepalive_time));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ToIntMillis(options_.keepalive_timeout));
    // The heartbeats are data, but a PING must not wait for one.
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  addresses_ = SplitAddresses(options_.daemon_address);
  if (addresses_.empty()) addresses_.push_back(options_.daemon_address);
  for (const std::string& address : addresses_) {
    stubs_.push_back(v1::AgentService::NewStub(grpc::CreateCustomChannel(
        address,
        options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials(),
        args)));
  }
}

Agent::~Agent() { runner_.reset(); }

void Agent::Run() {
  absl::Duration backoff = options_.reconnect_backoff_min;
  while (true) {
    bool registered = false;
    const absl::Status status = RunSession(registered);
    if (registered) backoff = options_.reconnect_backoff_min;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) break;
    }
    const std::string why(status.message());
    const size_t next = NextAddress(addresses_, current_, why);
    // A standby named the leader: go there without the backoff's growth.
    if (ParseLeaderHint(why).has_value()) backoff = options_.reconnect_backoff_min;
    Log(absl::StrCat("connection to ", addresses_[current_], " ended (", why, "); reconnecting to ",
                     addresses_[next], " in ", absl::FormatDuration(backoff)));
    current_ = next;
    if (!SleepUnlessShutdown(backoff)) break;
    backoff = std::min(backoff * 2, options_.reconnect_backoff_max);
  }
  Log("shut down");
}

void Agent::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  if (session_ != nullptr) session_->context.TryCancel();
}

std::vector<int64_t> Agent::RunningJobs() const { return runner_->RunningJobs(); }

std::vector<v1::JobStatus> Agent::UnacknowledgedStatuses() const {
  absl::MutexLock lock(&outbox_mu_);
  std::vector<v1::JobStatus> out;
  out.reserve(unacked_.size());
  for (const Unacknowledged& entry : unacked_) out.push_back(entry.status);
  return out;
}

absl::Status Agent::RunSession(bool& registered) {
  Session session;
  v1::AgentMessage hello;
  *hello.mutable_register_() = options_.registration;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::CancelledError("shutting down");
    session_ = &session;
  }
  const std::vector<int64_t> running = RunningJobs();
  hello.mutable_register_()->mutable_running_jobs()->Add(running.begin(), running.end());
  session.stream = stubs_[current_]->Connect(&session.context);
  session.Write(hello);
  std::thread heartbeats([this, &session] { HeartbeatLoop(session); });
  absl::Status status = AwaitRegistered(session);
  if (status.ok()) {
    registered = true;
    SetLiveSession(&session);
    v1::DaemonMessage message;
    while (session.stream->Read(&message)) HandleMessage(message);
    SetLiveSession(nullptr);
    status = absl::UnavailableError("the stream ended");
  } else if (!absl::IsUnavailable(status)) {
    // The stream is still open: end it. (When it has already ended, Finish
    // below gives the daemon's reason, e.g. PERMISSION_DENIED.)
    session.context.TryCancel();
  }
  {
    absl::MutexLock lock(&session.mu);
    session.done = true;
  }
  heartbeats.join();
  v1::DaemonMessage ignored;
  while (session.stream->Read(&ignored)) {
  }
  const grpc::Status finish = session.stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    session_ = nullptr;
  }
  if (finish.ok()) return status;
  return absl::UnavailableError(absl::StrCat(status.message(), ": ", GrpcStatusText(finish)));
}

absl::Status Agent::AwaitRegistered(Session& session) {
  v1::DaemonMessage message;
  if (!session.stream->Read(&message)) {
    return absl::UnavailableError("the stream ended before Registered");
  }
  if (!message.has_registered()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the daemon's first message is not Registered (kind ",
                     static_cast<int>(message.kind_case()), ")"));
  }
  const int64_t ms = message.registered().heartbeat_interval_ms();
  const absl::Duration interval =
      ms > 0 ? absl::Milliseconds(ms) : options_.default_heartbeat_interval;
  {
    absl::MutexLock lock(&session.mu);
    session.registered = true;
    session.heartbeat_interval = interval;
  }
  Log(absl::StrCat("registered with ", addresses_[current_], ": ",
                   options_.registration.gpus_size(), " GPUs, ", RunningJobs().size(),
                   " running jobs, heartbeat every ", absl::FormatDuration(interval)));
  return absl::OkStatus();
}

// Waits for Registered (cancelling the stream if it does not come in time),
// then sends a heartbeat every interval until the session is done, each
// followed by the unacknowledged statuses that are due again.
void Agent::HeartbeatLoop(Session& session) {
  absl::Duration interval;
  {
    absl::MutexLock lock(&session.mu);
    auto ready = [&session]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(session.mu) {
      return session.registered || session.done;
    };
    session.mu.AwaitWithTimeout(absl::Condition(&ready), options_.register_timeout);
    if (session.done) return;
    if (!session.registered) {
      Log("no Registered from the daemon in time; dropping the connection");
      session.context.TryCancel();
      return;
    }
    interval = session.heartbeat_interval;
  }
  absl::Time next = absl::Now() + interval;
  while (true) {
    {
      absl::MutexLock lock(&session.mu);
      if (session.mu.AwaitWithDeadline(absl::Condition(&session.done), next)) {
        return;
      }
    }
    // Fixed delay: a late heartbeat never makes the next one come early.
    next = absl::Now() + interval;
    if (session.Write(HeartbeatMessage())) ResendDue(session);
  }
}

v1::AgentMessage Agent::HeartbeatMessage() const {
  v1::AgentMessage out;
  v1::Heartbeat* beat = out.mutable_heartbeat();
  beat->set_sent_ms(absl::ToUnixMillis(options_.now()));
  for (v1::JobCheckpoint& checkpoint : runner_->Checkpoints()) {
    *beat->add_checkpoints() = std::move(checkpoint);
  }
  if (options_.sample_gpus) {
    for (v1::GpuSample& sample : options_.sample_gpus()) {
      *beat->add_gpus() = std::move(sample);
    }
    return out;
  }
  const absl::btree_map<int, int64_t> in_use = runner_->GpuMemoryInUse();
  for (const v1::Gpu& gpu : options_.registration.gpus()) {
    v1::GpuSample* sample = beat->add_gpus();
    sample->set_index(gpu.index());
    auto it = in_use.find(gpu.index());
    if (it == in_use.end()) continue;
    sample->set_utilization(1.0);
    sample->set_memory_used_bytes(static_cast<double>(it->second));
  }
  return out;
}

void Agent::HandleMessage(const v1::DaemonMessage& message) {
  switch (message.kind_case()) {
    case v1::DaemonMessage::kStartJob: {
      const v1::Job& job = message.start_job().job();
      if (PlacedElsewhere(job, options_.node)) {
        Log(absl::StrCat("StartJob ", job.id(), " names no GPU on this node"));
        v1::JobStatus failed;
        failed.set_job_id(job.id());
        failed.set_state(v1::FAILED);
        failed.set_time_ms(absl::ToUnixMillis(options_.now()));
        failed.set_message("the placement names no GPU on node " + options_.node);
        Deliver(failed);
        return;
      }
      runner_->Start(job);
      return;
    }
    case v1::DaemonMessage::kStopJob:
      runner_->Stop(message.stop_job().job_id(), absl::Milliseconds(message.stop_job().grace_ms()));
      return;
    case v1::DaemonMessage::kJobStatusAck:
      Acknowledge(message.job_status_ack());
      return;
    case v1::DaemonMessage::kRegistered:
      Log("ignoring a second Registered");
      return;
    default:
      Log(absl::StrCat("ignoring a daemon message of unknown kind ",
                       static_cast<int>(message.kind_case())));
      return;
  }
}

void Agent::Deliver(const v1::JobStatus& status) {
  absl::MutexLock lock(&outbox_mu_);
  if (unacked_.size() >= options_.max_unacknowledged) {
    const v1::JobStatus& oldest = unacked_.front().status;
    Log(absl::StrCat(unacked_.size(), " job statuses unacknowledged; dropping the oldest: job ",
                     oldest.job_id(), " ", v1::JobState_Name(oldest.state())));
    unacked_.pop_front();
  }
  unacked_.push_back({.status = status});
  // A failed write ends the session; the next one sends the status again.
  if (live_session_ != nullptr) {
    SendLocked(unacked_.back(), kStatusResendHeartbeats);
  }
}

void Agent::Acknowledge(const v1::JobStatusAck& ack) {
  absl::MutexLock lock(&outbox_mu_);
  std::erase_if(unacked_, [&ack](const Unacknowledged& entry) {
    return entry.status.job_id() == ack.job_id() && entry.status.state() == ack.state();
  });
}

bool Agent::SendLocked(Unacknowledged& entry, int wait) {
  entry.wait = wait;
  entry.resend_in = wait;
  v1::AgentMessage message;
  *message.mutable_job_status() = entry.status;
  return live_session_->Write(message);
}

void Agent::ResendDue(Session& session) {
  absl::MutexLock lock(&outbox_mu_);
  if (live_session_ != &session) return;
  for (Unacknowledged& entry : unacked_) {
    if (--entry.resend_in > 0) continue;
    const int wait = std::min(entry.wait * 2, kStatusResendMaxHeartbeats);
    if (!SendLocked(entry, wait)) return;
  }
}

void Agent::SetLiveSession(Session* session) {
  absl::MutexLock lock(&outbox_mu_);
  live_session_ = session;
  if (session == nullptr || unacked_.empty()) return;
  Log(absl::StrCat("sending ", unacked_.size(), " job statuses berthd has not acknowledged"));
  for (Unacknowledged& entry : unacked_) {
    if (!SendLocked(entry, kStatusResendHeartbeats)) return;
  }
}

bool Agent::SleepUnlessShutdown(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  return !mu_.AwaitWithTimeout(absl::Condition(&shutdown_), delay);
}

void Agent::Log(absl::string_view line) const {
  std::cerr << absl::StrCat("berth-agent[", options_.node, "]: ", line, "\n") << std::flush;
}

}  // namespace berth::agent
