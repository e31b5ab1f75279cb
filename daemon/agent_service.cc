#include "daemon/agent_service.h"

#include <deque>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/auth.h"
#include "daemon/convert.h"
#include "daemon/grpc_status.h"

namespace berth::daemon {

using berth::v1::AgentMessage;
using berth::v1::DaemonMessage;

// The write side of one stream. Writes go out one at a time; the reactor
// pointer is cleared when the stream is done, after which Push() drops.
class Outbox {
 public:
  explicit Outbox(grpc::ServerBidiReactor<AgentMessage, DaemonMessage>* reactor)
      : reactor_(reactor) {}

  bool Push(DaemonMessage message) {
    absl::MutexLock lock(&mu_);
    if (reactor_ == nullptr || closing_) return false;
    queue_.push_back(std::move(message));
    if (!writing_) StartNextLocked();
    return true;
  }

  // After a write completes: the next one, or Finish if closing.
  void WriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    if (!queue_.empty()) queue_.pop_front();
    writing_ = false;
    if (!ok) queue_.clear();
    if (reactor_ == nullptr) return;
    if (!queue_.empty() && !closing_) {
      StartNextLocked();
    } else if (closing_ && !finished_) {
      FinishLocked(finish_status_);
    }
  }

  // Finishes the stream once no write is in flight.
  void Close(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    if (closing_ || reactor_ == nullptr) return;
    closing_ = true;
    finish_status_ = std::move(status);
    if (!writing_) FinishLocked(finish_status_);
  }

  void Done() {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
  }

 private:
  void StartNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    reactor_->StartWrite(&queue_.front());
  }
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    reactor_->Finish(status);
  }

  absl::Mutex mu_;
  grpc::ServerBidiReactor<AgentMessage, DaemonMessage>* reactor_ ABSL_GUARDED_BY(mu_);
  std::deque<DaemonMessage> queue_ ABSL_GUARDED_BY(mu_);  // front is in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

namespace {

class AgentStream final : public grpc::ServerBidiReactor<AgentMessage, DaemonMessage> {
 public:
  AgentStream(AgentServiceImpl* service, std::vector<std::string> common_names, std::string peer)
      : service_(service),
        outbox_(std::make_shared<Outbox>(this)),
        common_names_(std::move(common_names)),
        peer_(std::move(peer)) {
    if (!service_->Admit(outbox_)) {
      service_->refusals().Refused(absl::StrCat("berthd: refused agent stream from ", peer_, ": ",
                                                kMaxUnregisteredStreams,
                                                " streams are already waiting to register"));
      outbox_->Close(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  "too many agent streams waiting to register; retry later"));
      return;
    }
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed or the connection broke
      outbox_->Close(grpc::Status::OK);
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
        outbox_->Close(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "register: sent twice on one stream"));
        return;
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override { outbox_->WriteDone(ok); }

  void OnDone() override {
    service_->Registered(outbox_.get());  // off the books if it never did
    outbox_->Done();
    if (!node_.empty() && service_->Detach(node_, outbox_.get())) {
      service_->core()->AgentDisconnected(node_);
    }
    delete this;
  }

 private:
  void HandleRegister() {
    service_->Registered(outbox_.get());  // answered one way or the other now
    if (incoming_.kind_case() != AgentMessage::kRegister || incoming_.register_().node().empty()) {
      outbox_->Close(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "register: the first message must be Register with a node"));
      return;
    }
    const berth::v1::Register& reg = incoming_.register_();
    if (service_->verify_node_certificates()) {
      if (absl::Status s = CheckAgentIdentity(common_names_, reg.node()); !s.ok()) {
        service_->refusals().Refused(
            absl::StrCat("berthd: refused agent stream from ", peer_, ": ", s.ToString()));
        outbox_->Close(ToGrpcStatus(s));
        return;
      }
    }
    if (absl::Status valid = ValidateRegister(reg); !valid.ok()) {
      outbox_->Close(ToGrpcStatus(valid));
      return;
    }
    node_ = reg.node();
    service_->Attach(node_, outbox_);
    std::weak_ptr<Outbox> outbox = outbox_;
    const int64_t interval = service_->heartbeat_interval_ms();
    // Registered goes out once the node is durable; the stream may be gone.
    service_->core()->RegisterNode(reg, [outbox, interval](absl::Status status) {
      std::shared_ptr<Outbox> box = outbox.lock();
      if (box == nullptr) return;
      if (!status.ok()) {
        box->Close(ToGrpcStatus(status));
        return;
      }
      DaemonMessage reply;
      reply.mutable_registered()->set_heartbeat_interval_ms(interval);
      box->Push(std::move(reply));
    });
    StartRead(&incoming_);
  }

  AgentServiceImpl* service_;
  std::shared_ptr<Outbox> outbox_;
  AgentMessage incoming_;
  std::string node_;
  const std::vector<std::string> common_names_;  // of the verified client certificate
  const std::string peer_;
};

// The common names of the peer's verified certificate; empty without one.
std::vector<std::string> PeerCommonNames(const grpc::CallbackServerContext* context) {
  std::vector<std::string> names;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return names;
  for (const grpc::string_ref& name : auth->FindPropertyValues("x509_common_name")) {
    names.emplace_back(name.data(), name.size());
  }
  return names;
}

}  // namespace

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
  stop_.Notify();
  sweeper_.join();
}

bool AgentServiceImpl::Admit(const std::shared_ptr<Outbox>& outbox) {
  absl::MutexLock lock(&pending_mu_);
  if (unregistered_.size() >= static_cast<size_t>(kMaxUnregisteredStreams)) return false;
  unregistered_[outbox.get()] = {outbox, absl::Now()};
  return true;
}

void AgentServiceImpl::Registered(const Outbox* outbox) {
  absl::MutexLock lock(&pending_mu_);
  unregistered_.erase(outbox);
}

void AgentServiceImpl::Sweep() {
  const absl::Duration deadline = absl::Milliseconds(heartbeat_interval_ms_ * kRegisterIntervals);
  while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    std::vector<std::shared_ptr<Outbox>> late;
    {
      absl::MutexLock lock(&pending_mu_);
      const absl::Time now = absl::Now();
      for (auto it = unregistered_.begin(); it != unregistered_.end();) {
        if (now - it->second.second < deadline) {
          ++it;
          continue;
        }
        if (std::shared_ptr<Outbox> box = it->second.first.lock()) late.push_back(std::move(box));
        it = unregistered_.erase(it);
      }
    }
    for (const std::shared_ptr<Outbox>& box : late) {
      refusals_.Refused("berthd: closed an agent stream that sent no Register in time");
      box->Close(grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrCat("register: no Register within ", absl::FormatDuration(deadline))));
    }
  }
}

grpc::ServerBidiReactor<AgentMessage, DaemonMessage>* AgentServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  std::vector<std::string> names;
  if (verify_node_certificates_) names = PeerCommonNames(context);
  return new AgentStream(this, std::move(names), context->peer());
}

bool AgentServiceImpl::Send(const std::string& node, DaemonMessage message) {
  std::shared_ptr<Outbox> outbox;
  {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(node);
    if (it == streams_.end()) return false;
    outbox = it->second;
  }
  return outbox->Push(std::move(message));
}

void AgentServiceImpl::Attach(const std::string& node, std::shared_ptr<Outbox> outbox) {
  std::shared_ptr<Outbox> old;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = streams_[node];
    old = std::move(slot);
    slot = std::move(outbox);
  }
  // A node that reconnects replaces its old stream.
  if (old != nullptr) {
    old->Close(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer stream"));
  }
}

bool AgentServiceImpl::Detach(const std::string& node, const Outbox* outbox) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(node);
  if (it == streams_.end() || it->second.get() != outbox) return false;
  streams_.erase(it);
  return true;
}

}  // namespace berth::daemon
