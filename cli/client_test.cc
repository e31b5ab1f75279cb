#include "cli/client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/leader_hint.h"
#include "common/rpc_answer.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

TEST(ResolveAddressTest, FlagThenEnvironmentThenDefault) {
  EXPECT_EQ(ResolveAddress("10.0.0.1:7000", "10.0.0.2:7000"), "10.0.0.1:7000");
  EXPECT_EQ(ResolveAddress(std::nullopt, "10.0.0.2:7000"), "10.0.0.2:7000");
  EXPECT_EQ(ResolveAddress(std::string(""), "10.0.0.2:7000"), "10.0.0.2:7000");
  EXPECT_EQ(ResolveAddress(std::nullopt, ""), kDefaultDaemonAddress);
  EXPECT_EQ(ResolveAddress(std::nullopt, nullptr), "127.0.0.1:7070");
}

TEST(ExitCodeForTest, MapsEveryStatusTheDaemonUses) {
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INVALID_ARGUMENT), 2);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::OUT_OF_RANGE), 2);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::FAILED_PRECONDITION), 3);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::RESOURCE_EXHAUSTED), 3);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::NOT_FOUND), 4);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAVAILABLE), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::DEADLINE_EXCEEDED), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INTERNAL), 1);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::ABORTED), 1);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNIMPLEMENTED), 1);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAUTHENTICATED), 7);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::PERMISSION_DENIED), 7);
}

TEST(FlagOrEnvTest, FlagThenEnvironmentThenNothing) {
  EXPECT_EQ(FlagOrEnv(std::string("flag"), "env"), "flag");
  EXPECT_EQ(FlagOrEnv(std::string(""), "env"), "env");
  EXPECT_EQ(FlagOrEnv(std::nullopt, "env"), "env");
  EXPECT_EQ(FlagOrEnv(std::nullopt, nullptr), "");
}

// A CA file that cannot be read fails every call as bad input, before any
// attempt reaches the network.
TEST(ClientTest, UnreadableCaFileIsInvalidArgumentWithoutAttempts) {
  Client client(ClientOptions{.daemon = "127.0.0.1:1", .tls_ca = "/nonexistent/berth-ca.crt"});
  berth::v1::ListNodesResponse response;
  grpc::Status status =
      client.Call(&Client::Stub::ListNodes, berth::v1::ListNodesRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("--tls_ca /nonexistent/berth-ca.crt"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(client.attempts(), 0);
}

// Issue 17: addresses gRPC's resolver would only fail to connect to are bad
// input that says what to write.
TEST(CheckDaemonAddressTest, NeedsAPortAndNoUrl) {
  for (const char* good : {"127.0.0.1:7070", "berthd.example:1", "[::1]:7070",
                           "dns:///berthd.example:7070", "unix:/run/berthd.sock"}) {
    EXPECT_TRUE(CheckDaemonAddress("--daemon", good).ok()) << good;
  }
  EXPECT_EQ(CheckDaemonAddress("--daemon", "127.0.0.1").message(),
            "--daemon 127.0.0.1: needs a port from 1 to 65535, as HOST:PORT (berthd's default "
            "port is 7070: 127.0.0.1:7070)");
  EXPECT_EQ(CheckDaemonAddress("--daemon", "http://10.0.0.5:7070/").message(),
            "--daemon http://10.0.0.5:7070/: berthd speaks gRPC, not http; give HOST:PORT "
            "(10.0.0.5:7070), and --tls_ca for TLS");
  for (const char* bad : {"host:", "host:0", "host:70700", "host:http", "::1"}) {
    absl::Status status = CheckDaemonAddress("$BERTH_ADDR", bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(status.message(), absl::StrCat("$BERTH_ADDR ", bad, ": ")))
        << status;
  }
}

TEST(ClientTest, ABadAddressFailsEveryCallAsBadInput) {
  Client client(ClientOptions{.daemon = "127.0.0.1"});
  berth::v1::ListNodesResponse response;
  grpc::Status status =
      client.Call(&Client::Stub::ListNodes, berth::v1::ListNodesRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(client.attempts(), 0);
  EXPECT_EQ(ExitCodeFor(status.error_code()), kExitUsage);
}

// Runs RetryUnavailable over a scripted list of statuses, recording the
// waits instead of sleeping.
struct Script {
  std::vector<grpc::StatusCode> codes;
  int calls = 0;
  std::vector<absl::Duration> waits;

  grpc::Status Run(const RetryPolicy& policy, int* attempts) {
    return RetryUnavailable(
        policy,
        [this] {
          grpc::StatusCode code = codes[std::min<size_t>(calls, codes.size() - 1)];
          ++calls;
          return grpc::Status(code, "scripted");
        },
        [this](absl::Duration wait) { waits.push_back(wait); }, attempts);
  }
};

TEST(RetryUnavailableTest, RetriesUnavailableWithDoublingBackoff) {
  Script script{.codes = {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNAVAILABLE,
                          grpc::StatusCode::OK}};
  int attempts = 0;
  grpc::Status status = script.Run(
      RetryPolicy{.max_retries = 3, .initial_backoff = absl::Milliseconds(100)}, &attempts);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(attempts, 3);
  // 100 ms, then 2 × 100 = 200 ms.
  EXPECT_EQ(script.waits,
            (std::vector<absl::Duration>{absl::Milliseconds(100), absl::Milliseconds(200)}));
}

TEST(RetryUnavailableTest, GivesUpAfterMaxRetries) {
  Script script{.codes = {grpc::StatusCode::UNAVAILABLE}};
  int attempts = 0;
  grpc::Status status = script.Run(
      RetryPolicy{.max_retries = 3, .initial_backoff = absl::Milliseconds(10)}, &attempts);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(attempts, 4);  // 1 + 3 retries
  EXPECT_EQ(script.calls, 4);
  EXPECT_EQ(script.waits.size(), 3u);
}

TEST(RetryUnavailableTest, NeverRetriesOtherErrors) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION,
        grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::NOT_FOUND}) {
    Script script{.codes = {code}};
    int attempts = 0;
    grpc::Status status = script.Run(RetryPolicy{}, &attempts);
    EXPECT_EQ(status.error_code(), code);
    EXPECT_EQ(attempts, 1);
    EXPECT_TRUE(script.waits.empty());
  }
}

TEST(ReportRpcErrorTest, UnreachableNamesTheAddress) {
  Client client(ClientOptions{.daemon = "127.0.0.1:1"});
  std::ostringstream err;
  int code =
      ReportRpcError("jobs", client, grpc::Status(grpc::StatusCode::UNAVAILABLE, "refused"), err);
  EXPECT_EQ(code, kExitUnreachable);
  EXPECT_NE(err.str().find("berth jobs: cannot reach berthd at 127.0.0.1:1: is it running? "
                           "(BERTH_ADDR, --daemon)\n"),
            std::string::npos)
      << err.str();
}

// google.rpc.Status{code: 14, message: "x"}: tag 0x08, 14; tag 0x12, length 1, "x".
TEST(RpcStatusDetailsTest, EncodesAGoogleRpcStatus) {
  EXPECT_EQ(RpcStatusDetails(14, "x"), std::string("\x08\x0e\x12\x01x", 5));
  // 300 = 0b10'0101100: 0xac 0x02 as a varint.
  EXPECT_EQ(RpcStatusDetails(3, std::string(300, 'a')).substr(0, 5), "\x08\x03\x12\xac\x02");
}

// berthd's own UNAVAILABLE (fenced after a disk error) carries status
// details: one attempt, and berthd's words, not "is it running?".
TEST(RetryUnavailableTest, NeverRetriesAnUnavailableBerthdAnswered) {
  int calls = 0;
  int attempts = 0;
  std::vector<absl::Duration> waits;
  const std::string message = "berthd could not record the cancel: disk I/O error";
  grpc::Status status = RetryUnavailable(
      RetryPolicy{.max_retries = 3},
      [&] {
        ++calls;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, message,
                            RpcStatusDetails(grpc::StatusCode::UNAVAILABLE, message));
      },
      [&](absl::Duration wait) { waits.push_back(wait); }, &attempts);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(attempts, 1);
  EXPECT_TRUE(waits.empty());
}

TEST(ReportRpcErrorTest, AnUnavailableBerthdAnsweredIsNotCalledUnreachable) {
  Client client(ClientOptions{.daemon = "127.0.0.1:1"});
  std::ostringstream err;
  const std::string message = "berthd refuses the cancel: restart berthd";
  int code = ReportRpcError("cancel", client,
                            grpc::Status(grpc::StatusCode::UNAVAILABLE, message,
                                         RpcStatusDetails(grpc::StatusCode::UNAVAILABLE, message)),
                            err);
  EXPECT_EQ(code, kExitUnreachable);
  EXPECT_EQ(err.str(),
            "berth cancel: berthd at 127.0.0.1:1 cannot do this now: berthd refuses the cancel: "
            "restart berthd\n");
}

TEST(ReportRpcErrorTest, RefusalCarriesTheDaemonsMessage) {
  Client client(ClientOptions{.daemon = "127.0.0.1:1"});
  std::ostringstream err;
  int code =
      ReportRpcError("submit", client,
                     grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no pool holds it"), err);
  EXPECT_EQ(code, kExitRefused);
  EXPECT_EQ(err.str(), "berth submit: refused: no pool holds it\n");
}

// Nothing listens on port 1: the call fails as UNAVAILABLE, every retry is
// made, and the error is reported as exit code 5.
TEST(ClientTest, NothingListeningIsUnavailableAfterRetries) {
  Client client(
      ClientOptions{.daemon = "127.0.0.1:1",
                    .retry = {.max_retries = 2, .initial_backoff = absl::Milliseconds(1)}});
  berth::v1::ListNodesResponse response;
  grpc::Status status =
      client.Call(&Client::Stub::ListNodes, berth::v1::ListNodesRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(client.attempts(), 3);
  EXPECT_EQ(ExitCodeFor(status.error_code()), kExitUnreachable);
}

// A gRPC server on 127.0.0.1 that answers every call with one status, as a
// standby berthd (UNAVAILABLE naming the leader) or a stand-in leader does.
class FixedAnswerServer {
 public:
  explicit FixedAnswerServer(grpc::Status answer, const std::string& listen = "127.0.0.1:0")
      : service_(std::move(answer)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FixedAnswerServer() { server_->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  class Service final : public grpc::CallbackGenericService {
   public:
    explicit Service(grpc::Status answer) : answer_(std::move(answer)) {}
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
      class Reactor final : public grpc::ServerGenericBidiReactor {
       public:
        explicit Reactor(const grpc::Status& answer) { Finish(answer); }
        void OnDone() override { delete this; }
      };
      return new Reactor(answer_);
    }

   private:
    grpc::Status answer_;
  };
  Service service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// --daemon standby,dead,leader: the standby names the leader, and the next
// attempt goes straight there, past the address where nothing listens.
TEST(ClientTest, SeveralAddressesFollowTheLeaderAStandbyNames) {
  FixedAnswerServer leader(grpc::Status(grpc::StatusCode::NOT_FOUND, "no job 7 (the leader)"));
  FixedAnswerServer standby(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "berthd is a standby; " + LeaderHint(leader.address())));
  Client client(
      ClientOptions{.daemon = absl::StrCat(standby.address(), ",127.0.0.1:1,", leader.address()),
                    .retry = {.max_retries = 3, .initial_backoff = absl::Milliseconds(1)}});
  ASSERT_EQ(client.addresses().size(), 3u);
  berth::v1::Job response;
  grpc::Status status = client.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_EQ(status.error_message(), "no job 7 (the leader)");
  EXPECT_EQ(client.attempts(), 2);  // the standby, then the leader
  EXPECT_EQ(client.address(), leader.address());
}

// No hint (nothing listens): the next address, round the list; and the
// retries grow with the list, two per further address.
TEST(ClientTest, SeveralAddressesTryTheNextWhenOneIsDown) {
  FixedAnswerServer leader(grpc::Status(grpc::StatusCode::NOT_FOUND, "the leader"));
  Client client(
      ClientOptions{.daemon = absl::StrCat("127.0.0.1:1, ", leader.address()),
                    .retry = {.max_retries = 0, .initial_backoff = absl::Milliseconds(1)}});
  berth::v1::Job response;
  grpc::Status status = client.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_EQ(client.attempts(), 2);

  Client nobody(
      ClientOptions{.daemon = "127.0.0.1:1,127.0.0.1:2",
                    .retry = {.max_retries = 0, .initial_backoff = absl::Milliseconds(1)}});
  status = nobody.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(nobody.attempts(), 3);  // 1 + 0 retries + 2 for the second address
}

// A berthd that was not listening when a call failed (a standby switching to
// leader closes its port for a moment) answers the very next call: the
// failed channel is not reused, so its reconnect backoff cannot fail that
// call at once (issue 16: failovers took up to 14 s where the new leader
// had served from 6.6 s).
TEST(ClientTest, AnAddressThatRefusedIsCalledOnAFreshChannel) {
  int port = 0;
  {
    FixedAnswerServer probe(grpc::Status::OK);  // a free port, then closed
    port = std::stoi(probe.address().substr(probe.address().rfind(':') + 1));
  }
  const std::string address = absl::StrCat("127.0.0.1:", port);
  Client client(ClientOptions{
      .daemon = address, .retry = {.max_retries = 0, .initial_backoff = absl::Milliseconds(1)}});
  berth::v1::Job response;
  grpc::Status status = client.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  FixedAnswerServer leader(grpc::Status(grpc::StatusCode::NOT_FOUND, "the leader"), address);
  ASSERT_EQ(leader.address(), address);
  status = client.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

// A port on 127.0.0.1 that takes connections (the kernel's backlog) but
// never answers: to a client, a berthd cut off from the network.
class SilentPort {
 public:
  SilentPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { close(fd_); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// --daemon silent,leader: the attempt at the silent one runs out of time and
// the next goes to the leader at once, within the same call; alone, the
// silent one's DEADLINE_EXCEEDED is the answer, after one attempt.
TEST(ClientTest, SeveralAddressesTryTheNextWhenOneDoesNotAnswer) {
  SilentPort silent;
  FixedAnswerServer leader(grpc::Status(grpc::StatusCode::NOT_FOUND, "the leader"));
  Client client(ClientOptions{.daemon = absl::StrCat(silent.address(), ",", leader.address()),
                              .deadline = absl::Milliseconds(300),
                              .retry = {.max_retries = 0}});
  berth::v1::Job response;
  grpc::Status status = client.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_EQ(client.attempts(), 2);
  EXPECT_EQ(client.address(), leader.address());

  Client alone(ClientOptions{.daemon = silent.address(), .deadline = absl::Milliseconds(300)});
  status = alone.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_EQ(alone.attempts(), 1);
}

// --daemon silent,standby where the standby still names the silent leader
// (its lease has not run out), or says that none leads yet: the standby is
// asked again, never the silent one a second time in the call.
TEST(ClientTest, AStandbyIsAskedAgainRatherThanALeaderThatDidNotAnswer) {
  SilentPort silent;
  for (const std::string& answer :
       {"berthd is a standby; " + LeaderHint(silent.address()),
        std::string("berthd is a standby; no berthd leads now (one will within seconds)")}) {
    FixedAnswerServer standby(grpc::Status(grpc::StatusCode::UNAVAILABLE, answer));
    Client client(
        ClientOptions{.daemon = absl::StrCat(silent.address(), ",", standby.address()),
                      .deadline = absl::Milliseconds(300),
                      .retry = {.max_retries = 0, .initial_backoff = absl::Milliseconds(1)}});
    berth::v1::Job response;
    grpc::Status status = client.Call(&Client::Stub::GetJob, berth::v1::GetJobRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_EQ(status.error_message(), answer);
    // The silent one, the standby, then the standby twice more (0 retries
    // + 2 for the second address).
    EXPECT_EQ(client.attempts(), 4) << answer;
    EXPECT_EQ(client.address(), standby.address()) << answer;
  }
}

TEST(ClientTest, AnEmptyOrBadAddressInTheListIsBadInput) {
  Client empty(ClientOptions{.daemon = " , "});
  EXPECT_EQ(empty.setup_error().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(empty.setup_error().error_message().find("names no address"), std::string::npos);
  Client bad(ClientOptions{.daemon = "127.0.0.1:7070,http://b:7070"});
  EXPECT_EQ(bad.setup_error().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.setup_error().error_message().find("http://b:7070"), std::string::npos);
}

}  // namespace
}  // namespace berth::cli
