#include "daemon/agent_service.h"

#include <algorithm>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/auth.h"
#include "daemon/convert.h"
#include "daemon/grpc_status.h"

namespace berth::daemon {

int AgentQueueCount(unsigned cpus) {
  // hardware_concurrency() is 0 when it cannot tell: the fewest then.
  return std::clamp(2 * static_cast<int>(std::min(cpus, 1024u)), kMinAgentQueues, kMaxAgentQueues);
}

using berth::v1::AgentMessage;
using berth::v1::DaemonMessage;

// One Connect call on the async API. Its operations complete on the queue
// it was requested on, polled by one thread, so Proceed never runs twice at
// once for a stream; Push and Close come from other threads (the core's
// writer, the sweeper, a newer stream of the same node) and share mu_.
// Writes go out one at a time and Finish only when none is in flight. The
// stream keeps itself alive (self_) until its last operation is back.
class AgentStream final : public std::enable_shared_from_this<AgentStream> {
 public:
  enum class Op { kAccept, kRead, kWrite, kFinish };
  struct Tag {
    AgentStream* stream;
    Op op;
  };

  AgentStream(AgentServiceImpl* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq) {}

  // Requests the next Connect call on the stream's queue.
  static void Request(AgentServiceImpl* service, grpc::ServerCompletionQueue* cq) {
    auto stream = std::make_shared<AgentStream>(service, cq);
    AgentStream* raw = stream.get();
    raw->self_ = std::move(stream);
    service->RequestConnect(&raw->context_, &raw->io_, cq, cq, &raw->accept_);
  }

  // A completion of the stream's `op`; may end (and free) the stream.
  void Proceed(Op op, bool ok) {
    switch (op) {
      case Op::kAccept:
        if (!ok) {  // the server is shutting down: no call came
          std::shared_ptr<AgentStream> last = std::move(self_);  // frees this on return
          return;
        }
        service_->Accept(cq_);
        Begin();
        break;
      case Op::kRead:
        OnRead(ok);
        break;
      case Op::kWrite:
        WriteDone(ok);
        break;
      case Op::kFinish: {
        absl::MutexLock lock(&mu_);
        finished_ = true;
        break;
      }
    }
    if (Over()) End();
  }

  bool Push(DaemonMessage message) {
    absl::MutexLock lock(&mu_);
    if (closing_) return false;
    queue_.push_back(std::move(message));
    if (!writing_) StartNextLocked();
    return true;
  }

  // Finishes the stream once no write is in flight.
  void Close(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    if (closing_) return;
    closing_ = true;
    finish_status_ = std::move(status);
    if (!writing_) FinishLocked();
  }

 private:
  void Begin() {
    if (service_->verify_node_certificates()) common_names_ = PeerCommonNames();
    peer_ = context_.peer();
    if (!service_->Admit(shared_from_this())) {
      service_->refusals().Refused(absl::StrCat("berthd: refused agent stream from ", peer_, ": ",
                                                kMaxUnregisteredStreams,
                                                " streams are already waiting to register"));
      Close(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                         "too many agent streams waiting to register; retry later"));
      return;
    }
    StartRead();
  }

  void StartRead() {
    absl::MutexLock lock(&mu_);
    if (closing_) return;  // the read out now comes back once Finish is done
    reading_ = true;
    io_.Read(&incoming_, &read_);
  }

  void OnRead(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
    }
    if (!ok) {  // the agent closed, the connection broke, or we finished
      Close(grpc::Status::OK);
      return;
    }
    if (node_.empty()) {
      HandleRegister();
      return;
    }
    switch (incoming_.kind_case()) {
      case AgentMessage::kHeartbeat:
        service_->core()->Heartbeat(node_, incoming_.heartbeat());
        break;
      case AgentMessage::kJobStatus:
        service_->core()->ReportJobStatus(node_, incoming_.job_status());
        break;
      default:
        Close(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "register: sent twice on one stream"));
        return;
    }
    StartRead();
  }

  // After a write completes: the next one, or Finish if closing.
  void WriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    if (!queue_.empty()) queue_.pop_front();
    writing_ = false;
    if (!ok) queue_.clear();
    if (!queue_.empty() && !closing_) {
      StartNextLocked();
    } else if (closing_ && !finish_started_) {
      FinishLocked();
    }
  }

  void StartNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    io_.Write(queue_.front(), &write_);
  }
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finish_started_ = true;
    io_.Finish(finish_status_, &finish_);
  }

  // Finished, and no read or write still out.
  bool Over() {
    absl::MutexLock lock(&mu_);
    return finished_ && !reading_ && !writing_;
  }

  void End() {
    service_->Registered(this);  // off the books if it never did
    if (!node_.empty() && service_->Detach(node_, this)) {
      service_->core()->AgentDisconnected(node_);
    }
    std::shared_ptr<AgentStream> last = std::move(self_);  // frees this on return
  }

  void HandleRegister() {
    service_->Registered(this);  // answered one way or the other now
    if (incoming_.kind_case() != AgentMessage::kRegister || incoming_.register_().node().empty()) {
      Close(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         "register: the first message must be Register with a node"));
      return;
    }
    const berth::v1::Register& reg = incoming_.register_();
    if (service_->verify_node_certificates()) {
      if (absl::Status s = CheckAgentIdentity(common_names_, reg.node()); !s.ok()) {
        service_->refusals().Refused(
            absl::StrCat("berthd: refused agent stream from ", peer_, ": ", s.ToString()));
        Close(ToGrpcStatus(s));
        return;
      }
    }
    if (absl::Status valid = ValidateRegister(reg); !valid.ok()) {
      Close(ToGrpcStatus(valid));
      return;
    }
    node_ = reg.node();
    service_->Attach(node_, shared_from_this());
    std::weak_ptr<AgentStream> weak = weak_from_this();
    const int64_t interval = service_->heartbeat_interval_ms();
    // Registered goes out once the node is durable; the stream may be gone.
    service_->core()->RegisterNode(reg, [weak, interval](absl::Status status) {
      std::shared_ptr<AgentStream> stream = weak.lock();
      if (stream == nullptr) return;
      if (!status.ok()) {
        stream->Close(ToGrpcStatus(status));
        return;
      }
      DaemonMessage reply;
      reply.mutable_registered()->set_heartbeat_interval_ms(interval);
      stream->Push(std::move(reply));
    });
    StartRead();
  }

  // The common names of the peer's verified certificate; empty without one.
  std::vector<std::string> PeerCommonNames() const {
    std::vector<std::string> names;
    std::shared_ptr<const grpc::AuthContext> auth = context_.auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) return names;
    for (const grpc::string_ref& name : auth->FindPropertyValues("x509_common_name")) {
      names.emplace_back(name.data(), name.size());
    }
    return names;
  }

  AgentServiceImpl* const service_;
  grpc::ServerCompletionQueue* const cq_;
  std::shared_ptr<AgentStream> self_;  // until the last operation is back
  Tag accept_{this, Op::kAccept};
  Tag read_{this, Op::kRead};
  Tag write_{this, Op::kWrite};
  Tag finish_{this, Op::kFinish};
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<DaemonMessage, AgentMessage> io_{&context_};
  // Read side: only the polling thread touches these.
  AgentMessage incoming_;
  std::string node_;
  std::vector<std::string> common_names_;  // of the verified client certificate
  std::string peer_;

  absl::Mutex mu_;
  std::deque<DaemonMessage> queue_ ABSL_GUARDED_BY(mu_);  // front is in flight
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_started_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

void RefusalLog::Refused(const std::string& line, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (now - window_start_ >= absl::Minutes(1)) {
    if (suppressed_in_window_ > 0) {
      std::cerr << "berthd: " << suppressed_in_window_
                << " more agent refusals in the last minute (not logged)\n";
    }
    window_start_ = now;
    in_window_ = 0;
    suppressed_in_window_ = 0;
  }
  if (in_window_ < per_minute_) {
    ++in_window_;
    ++written_;
    std::cerr << line << "\n";
  } else {
    ++suppressed_in_window_;
    ++suppressed_;
  }
}

std::pair<int64_t, int64_t> RefusalLog::counts() const {
  absl::MutexLock lock(&mu_);
  return {written_, suppressed_};
}

AgentServiceImpl::AgentServiceImpl(SchedulerCore* core, int64_t heartbeat_interval_ms,
                                   bool verify_node_certificates)
    : core_(core),
      heartbeat_interval_ms_(heartbeat_interval_ms),
      verify_node_certificates_(verify_node_certificates),
      sweeper_([this] { Sweep(); }) {}

AgentServiceImpl::~AgentServiceImpl() {
  Stop();
  stop_.Notify();
  sweeper_.join();
}

void AgentServiceImpl::AddQueues(grpc::ServerBuilder& builder) {
  const int count = AgentQueueCount(std::thread::hardware_concurrency());
  for (int i = 0; i < count; ++i) queues_.push_back(builder.AddCompletionQueue());
}

void AgentServiceImpl::Start() {
  for (const auto& cq : queues_) {
    for (int i = 0; i < kAcceptsPerQueue; ++i) Accept(cq.get());
    pollers_.emplace_back([cq = cq.get()] { Poll(cq); });
  }
}

void AgentServiceImpl::Accept(grpc::ServerCompletionQueue* cq) {
  absl::MutexLock lock(&accept_mu_);
  if (!stopping_) AgentStream::Request(this, cq);
}

void AgentServiceImpl::Poll(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
    auto* t = static_cast<AgentStream::Tag*>(tag);
    t->stream->Proceed(t->op, ok);
  }
}

void AgentServiceImpl::Stop() {
  {
    absl::MutexLock lock(&accept_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (const auto& cq : queues_) cq->Shutdown();
  if (pollers_.empty()) {  // never started: drain here
    for (const auto& cq : queues_) Poll(cq.get());
  }
  for (std::thread& poller : pollers_) poller.join();
  pollers_.clear();
}

bool AgentServiceImpl::Admit(const std::shared_ptr<AgentStream>& stream) {
  absl::MutexLock lock(&pending_mu_);
  if (unregistered_.size() >= static_cast<size_t>(kMaxUnregisteredStreams)) return false;
  unregistered_[stream.get()] = {stream, absl::Now()};
  return true;
}

void AgentServiceImpl::Registered(const AgentStream* stream) {
  absl::MutexLock lock(&pending_mu_);
  unregistered_.erase(stream);
}

void AgentServiceImpl::Sweep() {
  const absl::Duration deadline = absl::Milliseconds(heartbeat_interval_ms_ * kRegisterIntervals);
  while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    std::vector<std::shared_ptr<AgentStream>> late;
    {
      absl::MutexLock lock(&pending_mu_);
      const absl::Time now = absl::Now();
      for (auto it = unregistered_.begin(); it != unregistered_.end();) {
        if (now - it->second.second < deadline) {
          ++it;
          continue;
        }
        if (std::shared_ptr<AgentStream> s = it->second.first.lock()) late.push_back(std::move(s));
        it = unregistered_.erase(it);
      }
    }
    for (const std::shared_ptr<AgentStream>& stream : late) {
      refusals_.Refused("berthd: closed an agent stream that sent no Register in time");
      stream->Close(grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrCat("register: no Register within ", absl::FormatDuration(deadline))));
    }
  }
}

bool AgentServiceImpl::Send(const std::string& node, DaemonMessage message) {
  std::shared_ptr<AgentStream> stream;
  {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(node);
    if (it == streams_.end()) return false;
    stream = it->second;
  }
  return stream->Push(std::move(message));
}

void AgentServiceImpl::Attach(const std::string& node, std::shared_ptr<AgentStream> stream) {
  std::shared_ptr<AgentStream> old;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = streams_[node];
    old = std::move(slot);
    slot = std::move(stream);
  }
  // A node that reconnects replaces its old stream.
  if (old != nullptr) {
    old->Close(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer stream"));
  }
}

bool AgentServiceImpl::Detach(const std::string& node, const AgentStream* stream) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(node);
  if (it == streams_.end() || it->second.get() != stream) return false;
  streams_.erase(it);
  return true;
}

}  // namespace berth::daemon
