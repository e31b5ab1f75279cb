#include "cli/client.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/text.h"
#include "common/leader_hint.h"
#include "common/limits.h"
#include "grpcpp/grpcpp.h"

namespace berth::cli {
namespace {

// How long a failed connection waits before the channel tries again; gRPC's
// default (1 s, growing to 120 s) would make our retries see only the cached
// failure.
constexpr int kReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 1000;

constexpr int64_t kMaxCaFileBytes = 1 << 20;

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address,
                                          std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffMs);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC takes it as the time one
  // connection attempt may take (20 s by default), and 100 ms cut off the
  // handshake with a busy berthd ("tcp handshaker shutdown").
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  args.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  return grpc::CreateCustomChannel(address, std::move(credentials), args);
}

// TLS credentials verifying berthd against the CA in `path`; an empty path:
// insecure. INVALID_ARGUMENT when the file cannot be read.
grpc::Status CredentialsFor(const std::string& path,
                            std::shared_ptr<grpc::ChannelCredentials>* out) {
  if (path.empty()) {
    *out = grpc::InsecureChannelCredentials();
    return grpc::Status::OK;
  }
  std::ifstream in(path, std::ios::binary);
  std::string pem;
  if (in) {
    pem.resize(kMaxCaFileBytes + 1);
    in.read(pem.data(), static_cast<std::streamsize>(pem.size()));
    pem.resize(static_cast<size_t>(in.gcount()));  // a short read sets failbit
  }
  if (pem.empty() || static_cast<int64_t>(pem.size()) > kMaxCaFileBytes) {
    *out = grpc::InsecureChannelCredentials();  // unused: calls fail first
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("--tls_ca ", path, ": cannot read a PEM CA certificate from it"));
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = std::move(pem);
  *out = grpc::SslCredentials(options);
  return grpc::Status::OK;
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid argument";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "refused";
    case grpc::StatusCode::NOT_FOUND:
      return "not found";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "already exists";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "quota exceeded";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "not allowed";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "not authenticated (see --token)";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "not implemented by berthd";
    case grpc::StatusCode::ABORTED:
      return "aborted";
    default:
      return "error";
  }
}

// Schemes gRPC's resolver knows; an address with one is passed through.
constexpr absl::string_view kGrpcSchemes[] = {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:"};

bool IsPort(absl::string_view text) {
  int port = 0;
  return !text.empty() && text.size() <= 5 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         absl::SimpleAtoi(text, &port) && port >= 1 && port <= 65535;
}

// "host:7070" → "7070"; "[::1]:7070" → "7070"; no port: "".
absl::string_view PortOf(absl::string_view address) {
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return "";
    }
    return address.substr(close + 2);
  }
  const size_t colon = address.rfind(':');
  return colon == absl::string_view::npos ? "" : address.substr(colon + 1);
}

}  // namespace

absl::Status CheckDaemonAddress(absl::string_view source, absl::string_view address) {
  for (absl::string_view scheme : kGrpcSchemes) {
    if (absl::StartsWith(address, scheme)) return absl::OkStatus();
  }
  const size_t scheme_end = address.find("://");
  if (scheme_end != absl::string_view::npos) {
    absl::string_view rest = address.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find('/'));
    return absl::InvalidArgumentError(absl::StrCat(
        source, " ", address, ": berthd speaks gRPC, not ", address.substr(0, scheme_end),
        "; give HOST:PORT (", rest.empty() ? "127.0.0.1:7070" : rest, "), and --tls_ca for TLS"));
  }
  const bool bare_ipv6 =
      !absl::StartsWith(address, "[") && std::count(address.begin(), address.end(), ':') > 1;
  if (bare_ipv6) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " ", address, ": write an IPv6 address in brackets with a port, as [::1]:7070"));
  }
  if (!IsPort(PortOf(address))) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " ", address,
                     ": needs a port from 1 to 65535, as HOST:PORT (berthd's default port is "
                     "7070: ",
                     address.substr(0, address.rfind(':')), ":7070)"));
  }
  return absl::OkStatus();
}

std::string ResolveAddress(const std::optional<std::string>& flag, const char* env_value) {
  if (flag.has_value() && !flag->empty()) return *flag;
  if (env_value != nullptr && env_value[0] != '\0') return env_value;
  return kDefaultDaemonAddress;
}

std::string FlagOrEnv(const std::optional<std::string>& flag, const char* env_value) {
  if (flag.has_value() && !flag->empty()) return *flag;
  if (env_value != nullptr) return env_value;
  return "";
}

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return kExitUsage;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return kExitRefused;
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitUnreachable;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitNotAllowed;
    default:
      return kExitInternal;
  }
}

grpc::Status RetryUnavailable(const RetryPolicy& policy,
                              const std::function<grpc::Status()>& attempt,
                              const std::function<void(absl::Duration)>& sleep, int* attempts) {
  absl::Duration backoff = policy.initial_backoff;
  int count = 1;
  grpc::Status status = attempt();
  // An UNAVAILABLE with details is berthd's own answer (common/rpc_answer.h:
  // fenced after a disk error, shutting down): asking again at once changes
  // nothing and would hide the first answer behind later ones.
  // One that names a leader (a standby, common/leader_hint.h) is followed.
  auto retry = [&status] {
    return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
           (status.error_details().empty() || ParseLeaderHint(status.error_message()).has_value());
  };
  while (retry() && count <= policy.max_retries) {
    sleep(backoff);
    backoff *= 2;
    ++count;
    status = attempt();
  }
  if (attempts != nullptr) *attempts = count;
  return status;
}

Client::Client(const ClientOptions& options)
    : options_(options),
      addresses_(SplitAddresses(ResolveAddress(options.daemon, std::getenv(kDaemonAddressEnv)))),
      token_(FlagOrEnv(options.token, std::getenv(kTokenEnv))) {
  setup_error_ = CredentialsFor(FlagOrEnv(options.tls_ca, std::getenv(kTlsCaEnv)), &credentials_);
  const bool from_flag = options.daemon.has_value() && !options.daemon->empty();
  const bool from_env = !from_flag && std::getenv(kDaemonAddressEnv) != nullptr &&
                        std::getenv(kDaemonAddressEnv)[0] != '\0';
  const char* source = from_flag ? "--daemon" : from_env ? "$BERTH_ADDR" : "address";
  absl::Status address_ok = addresses_.empty()
                                ? absl::InvalidArgumentError(absl::StrCat(
                                      source, " names no address; give HOST:PORT[,HOST:PORT...]"))
                                : absl::OkStatus();
  for (const std::string& address : addresses_) {
    if (address_ok.ok()) address_ok = CheckDaemonAddress(source, address);
  }
  if (!address_ok.ok()) {
    setup_error_ =
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(address_ok.message()));
    addresses_ = {kDefaultDaemonAddress};  // unused: every call fails first
  }
  stubs_.resize(addresses_.size());
  // Each further berthd may cost a refusal and a move to the leader.
  options_.retry.max_retries += 2 * static_cast<int>(addresses_.size() - 1);
}

Client::Stub* Client::CurrentStub() {
  std::unique_ptr<Stub>& stub = stubs_[current_];
  if (stub == nullptr) {
    stub = berth::v1::SchedulerService::NewStub(NewChannel(addresses_[current_], credentials_));
  }
  return stub.get();
}

void Client::MoveOn(const grpc::Status& status, const std::vector<bool>& timed_out) {
  const size_t next = NextAddress(addresses_, current_, status.error_message());
  if (!timed_out[next]) {
    current_ = next;
    return;
  }
  // Not back to one that ran out of time in this call: another, else stay.
  // (A standby that names such a leader, or says none leads, is asked again
  // after the backoff; it leads, or names another, once the lease runs out.)
  for (size_t step = 1; step < addresses_.size(); ++step) {
    const size_t other = (current_ + step) % addresses_.size();
    if (!timed_out[other]) {
      current_ = other;
      return;
    }
  }
}

grpc::Status Client::CallWithRetry(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  if (!setup_error_.ok()) {
    attempts_ = 0;
    return setup_error_;
  }
  auto attempt = [&] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
    if (!token_.empty()) {
      context.AddMetadata("authorization", "Bearer " + token_);
    }
    last_ = current_;
    return call(&context);
  };
  // The addresses where an attempt of this call ran out of time.
  std::vector<bool> timed_out(addresses_.size(), false);
  int extra = 0;  // attempts RetryUnavailable does not count
  const grpc::Status status = RetryUnavailable(
      options_.retry,
      [&] {
        grpc::Status status = attempt();
        // A berthd cut off from the network answers nothing, not even
        // UNAVAILABLE: with several, try each other one at once (docs/HA.md).
        while (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
               addresses_.size() > 1) {
          timed_out[last_] = true;
          MoveOn(status, timed_out);
          if (timed_out[current_]) break;
          status = attempt();
          ++extra;
        }
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
          // No berthd answered (the connection failed): the next attempt
          // there gets a new channel. The old one's reconnect backoff would
          // keep failing calls at once for a while after a berthd that was
          // switching from standby to leader listens again (docs/HA.md).
          if (status.error_details().empty()) stubs_[last_].reset();
          MoveOn(status, timed_out);
        }
        return status;
      },
      [](absl::Duration wait) { absl::SleepFor(wait); }, &attempts_);
  attempts_ += extra;
  return status;
}

int ReportRpcError(absl::string_view verb, const Client& client, const grpc::Status& status,
                   std::ostream& err) {
  const std::string message = Printable(status.error_message());
  const bool answered = !status.error_details().empty();  // common/rpc_answer.h
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (answered) {
        err << "berth " << verb << ": berthd at " << client.address()
            << " cannot do this now: " << message << "\n";
        break;
      }
      err << "berth " << verb << ": cannot reach berthd at " << client.address()
          << ": is it running? (" << kDaemonAddressEnv << ", --daemon)\n  " << client.attempts()
          << (client.attempts() == 1 ? " attempt" : " attempts") << ", the last: " << message
          << "\n";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << "berth " << verb << ": berthd at " << client.address() << " did not answer within "
          << absl::FormatDuration(client.deadline()) << ": " << message << "\n";
      break;
    default:
      err << "berth " << verb << ": " << CodeName(status.error_code())
          << (message.empty() ? "" : ": ") << message << "\n";
  }
  return ExitCodeFor(status.error_code());
}

}  // namespace berth::cli
