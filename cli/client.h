// The CLI's connection to berthd: address resolution, calls with a deadline
// and retries, and the mapping from a gRPC status to an exit code.
//
// Every daemon verb takes a `ClientOptions` (filled from --daemon and
// --json in main.cc), opens a `Client` and calls the SchedulerService through
// it:
//
//   Client client(options);
//   v1::ListJobsResponse response;
//   grpc::Status status = client.Call(&Stub::ListJobs, request, &response);
//   if (!status.ok()) return ReportRpcError("jobs", client, status, err);
//
// Each attempt gets its own deadline (5 s unless set). UNAVAILABLE, which
// means the request was not processed, is retried with exponential backoff;
// submit stays idempotent because the retried request keeps its request_id.
//
// Several berthd (docs/HA.md): the address may be a list, "a:7070,b:7070".
// After UNAVAILABLE the next attempt goes to the leader the answer names
// (a standby's message, common/leader_hint.h) when it is in the list, else
// to the next address; each further address adds two retries. An attempt
// that runs out of time (DEADLINE_EXCEEDED: a berthd cut off from the
// network answers nothing) is followed at once by one at the next address
// not yet timed out in this call, and no later attempt of the call goes
// back to it: a standby that names it as the leader, or says none leads
// yet, is asked again after the backoff. With one address, or every one
// timed out, DEADLINE_EXCEEDED is returned. A submission that reached the
// berthd that went silent is answered as a duplicate by its successor.
// An UNAVAILABLE berthd answered itself (fenced after a disk error, shutting
// down; common/rpc_answer.h) is reported at once, as berthd said it, unless
// it names a leader.
// Nothing here throws.
//
// Security (docs/SECURITY.md): a token (--token, else $BERTH_TOKEN) goes
// with every call as `authorization: Bearer <token>`; a CA file (--tls_ca,
// else $BERTH_TLS_CA) turns TLS on and verifies berthd against it. A CA file
// that cannot be read fails every call with INVALID_ARGUMENT (exit 2)
// without contacting berthd.
#ifndef BERTH_CLI_CLIENT_H_
#define BERTH_CLI_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "berth/v1/scheduler.grpc.pb.h"
#include "cli/exit_codes.h"
#include "grpcpp/grpcpp.h"

namespace berth::cli {

// Used when neither --daemon nor $BERTH_ADDR gives an address.
inline constexpr char kDefaultDaemonAddress[] = "127.0.0.1:7070";
// The environment variable that names the daemon.
inline constexpr char kDaemonAddressEnv[] = "BERTH_ADDR";
// The environment variables for the bearer token and berthd's CA.
inline constexpr char kTokenEnv[] = "BERTH_TOKEN";
inline constexpr char kTlsCaEnv[] = "BERTH_TLS_CA";

// How UNAVAILABLE is retried: up to `max_retries` more attempts, waiting
// `initial_backoff`, then twice as long each time.
struct RetryPolicy {
  int max_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(100);
};

// What every daemon verb shares.
struct ClientOptions {
  std::optional<std::string> daemon;           // --daemon HOST:PORT
  bool json = false;                           // --json
  absl::Duration deadline = absl::Seconds(5);  // per attempt
  RetryPolicy retry;
  std::optional<std::string> token;   // --token; else $BERTH_TOKEN
  std::optional<std::string> tls_ca;  // --tls_ca FILE; else $BERTH_TLS_CA
};

// The flag if given and not empty, else `env_value` if not empty, else "".
std::string FlagOrEnv(const std::optional<std::string>& flag, const char* env_value);

// The flag if given and not empty, else `env_value` (the value of
// $BERTH_ADDR, or null) if not empty, else kDefaultDaemonAddress.
std::string ResolveAddress(const std::optional<std::string>& flag, const char* env_value);

// OK when `address` can name berthd; else InvalidArgument saying why and
// what to write instead. `source` names where the address came from
// ("--daemon", "$BERTH_ADDR") and starts the message.
absl::Status CheckDaemonAddress(absl::string_view source, absl::string_view address);

// 0 OK; 2 INVALID_ARGUMENT, OUT_OF_RANGE; 3 FAILED_PRECONDITION,
// RESOURCE_EXHAUSTED; 4 NOT_FOUND; 5 UNAVAILABLE, DEADLINE_EXCEEDED;
// 7 UNAUTHENTICATED, PERMISSION_DENIED; 1 for everything else.
int ExitCodeFor(grpc::StatusCode code);

// Runs `attempt` once, and again while it returns UNAVAILABLE without
// details (gRPC's, not berthd's answer: common/rpc_answer.h), at most
// `policy.max_retries` more times, calling `sleep` with the backoff in
// between. Returns the last status; `*attempts` (if not null) gets the count.
grpc::Status RetryUnavailable(const RetryPolicy& policy,
                              const std::function<grpc::Status()>& attempt,
                              const std::function<void(absl::Duration)>& sleep, int* attempts);

class Client {
 public:
  using Stub = berth::v1::SchedulerService::Stub;

  // Creates the channel (no connection is made until the first call).
  // The address comes from ResolveAddress(options.daemon, $BERTH_ADDR), the
  // token and CA file from FlagOrEnv.
  explicit Client(const ClientOptions& options);

  // The address of the last attempt (the first of the list before any).
  const std::string& address() const { return addresses_[last_]; }
  const std::vector<std::string>& addresses() const { return addresses_; }
  int attempts() const { return attempts_; }  // of the last call
  // Not OK when no call can be made (a bad address or CA file); every call
  // returns it.
  const grpc::Status& setup_error() const { return setup_error_; }
  absl::Duration deadline() const { return options_.deadline; }

  // Calls one unary method of the stub, e.g. `&Stub::GetJob`, with retries.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    return CallWithRetry([&](grpc::ClientContext* context) {
      return (CurrentStub()->*method)(context, request, response);
    });
  }

 private:
  grpc::Status CallWithRetry(const std::function<grpc::Status(grpc::ClientContext*)>& call);

  // The stub of addresses_[current_], made on first use.
  Stub* CurrentStub();
  // After an UNAVAILABLE or DEADLINE_EXCEEDED `status`: the leader it names
  // if listed, else the next address; but never one in `timed_out` (one
  // entry per address): then another that is not, else the same one.
  void MoveOn(const grpc::Status& status, const std::vector<bool>& timed_out);

  ClientOptions options_;
  std::vector<std::string> addresses_;        // at least one
  std::vector<std::unique_ptr<Stub>> stubs_;  // one per address, made on first use
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  size_t current_ = 0;        // where the next attempt goes
  size_t last_ = 0;           // where the last attempt went
  std::string token_;         // empty: none sent
  grpc::Status setup_error_;  // not OK: every call returns it
  int attempts_ = 0;
};

// Writes "berth <verb>: <what went wrong>" to `err` and returns the exit
// code for `status`. An unreachable daemon is named by its address; an
// UNAVAILABLE berthd answered says "cannot do this now" and berthd's reason.
int ReportRpcError(absl::string_view verb, const Client& client, const grpc::Status& status,
                   std::ostream& err);

}  // namespace berth::cli

#endif  // BERTH_CLI_CLIENT_H_
