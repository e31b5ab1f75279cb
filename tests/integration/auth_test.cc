// Authentication and authorisation end to end: a real berthd with TLS,
// client-certificate verification (--tls_client_ca) and a token file, real
// berth-agents, on 127.0.0.1. Certificates come from deploy/dev-ca.sh: one
// CA for berthd and the nodes h1 and h2, and a second, foreign CA with its
// own certificate for h1.
//
// Users: alice (team nlp), bob (team vision), root (team ops, admin).
// After every test berthd must still be running and SERVING.
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

#ifndef BERTH_CLI_PATH
#error "BERTH_CLI_PATH must name the berth binary"
#endif
#ifndef BERTH_SOURCE_DIR
#error "BERTH_SOURCE_DIR must name the repository root"
#endif

namespace berth::testing {
namespace {

using berth::v1::SchedulerService;

constexpr char kAliceToken[] = "alice-nlp-5d1e0c9b7a3f4826";
constexpr char kBobToken[] = "bob-vision-2c8e6f1a9d0b7345";
constexpr char kRootToken[] = "root-ops-admin-7f4a2d9c1e6b";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

grpc::SslCredentialsOptions TlsOptions(const std::string& ca_dir, const std::string& client) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(ca_dir + "/ca.crt");
  if (!client.empty()) {
    options.pem_cert_chain = ReadFile(client + ".crt");
    options.pem_private_key = ReadFile(client + ".key");
  }
  return options;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-auth-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ca_ = dir_ + "/ca";
    foreign_ = dir_ + "/foreign";
    int code = 0;
    const std::string dev_ca = std::string(BERTH_SOURCE_DIR) + "/deploy/dev-ca.sh";
    std::string out = Shell(absl::StrCat("bash ", dev_ca, " ", ca_, " h1 h2"), &code);
    ASSERT_EQ(code, 0) << out;
    out = Shell(absl::StrCat("bash ", dev_ca, " ", foreign_, " h1"), &code);
    ASSERT_EQ(code, 0) << out;
    // The server certificate must name the address the clients dial.
    out = Shell(absl::StrCat("openssl x509 -in ", ca_, "/berthd.crt -noout -text"), &code);
    ASSERT_EQ(code, 0) << out;
    ASSERT_TRUE(absl::StrContains(out, "IP Address:127.0.0.1")) << out;
    ASSERT_TRUE(absl::StrContains(out, "DNS:localhost")) << out;

    std::ofstream(dir_ + "/tokens.json") << absl::StrCat(
        R"({"tokens": [)", R"({"token": ")", kAliceToken, R"(", "team": "nlp", "name": "alice"},)",
        R"({"token": ")", kBobToken, R"(", "team": "vision", "name": "bob"},)", R"({"token": ")",
        kRootToken, R"(", "team": "ops", "admin": true, "name": "root"}]})");
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
  }

  void TearDown() override {
    // The daemon kept serving through whatever the test threw at it.
    EXPECT_TRUE(daemon_ != nullptr && daemon_->Running()) << Log("berthd");
    EXPECT_TRUE(Serving()) << Log("berthd");
    agents_.clear();
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartDaemon() {
    const std::string port_file = dir_ + "/port";
    auto process = Process::Start(
        {BERTHD_PATH, "--listen=127.0.0.1:0", "--db=" + dir_ + "/berth.db",
         "--port_file=" + port_file, "--heartbeat_ms=200", "--tls_cert=" + ca_ + "/berthd.crt",
         "--tls_key=" + ca_ + "/berthd.key", "--tls_client_ca=" + ca_ + "/ca.crt",
         "--tokens_file=" + dir_ + "/tokens.json"},
        dir_ + "/berthd.log");
    ASSERT_TRUE(process.ok()) << process.status();
    daemon_ = *std::move(process);
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (port_ == 0 && absl::Now() < deadline) {
      std::ifstream in(port_file);
      std::string line;
      if (!(std::getline(in, line) && absl::StartsWith(line, "grpc=") &&
            absl::SimpleAtoi(line.substr(5), &port_))) {
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
    ASSERT_NE(port_, 0) << "berthd wrote no port file:\n" << Log("berthd");
    channel_ = grpc::CreateChannel(address(), grpc::SslCredentials(TlsOptions(ca_, "")));
    scheduler_ = SchedulerService::NewStub(channel_);
    while (!Serving() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(Serving()) << "berthd never reported SERVING over TLS:\n" << Log("berthd");
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string Log(const std::string& name) const { return ReadFile(dir_ + "/" + name + ".log"); }

  bool Serving() {
    if (channel_ == nullptr) return false;
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckResponse response;
    auto context = Context(absl::Seconds(2));
    return health->Check(context.get(), {}, &response).ok() &&
           response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  // A call context carrying `token` (none when empty).
  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = Context(absl::Seconds(10));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  // Starts berth-agent for `node`; `flags` add the TLS files.
  void StartAgent(const std::string& node, const std::vector<std::string>& flags) {
    const std::string inventory = dir_ + "/inventory-" + node + ".json";
    std::ofstream(inventory) << Inventory("h100-80gb", 8);
    std::vector<std::string> argv = {BERTH_AGENT_PATH, "--daemon=" + address(), "--node=" + node,
                                     "--inventory=" + inventory, "--heartbeat_ms=200"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto process = Process::Start(argv, dir_ + "/agent-" + node + ".log");
    ASSERT_TRUE(process.ok()) << process.status();
    agents_.push_back(*std::move(process));
  }

  std::vector<std::string> AgentTls(const std::string& ca_dir, const std::string& client) {
    return {"--tls_ca=" + ca_ + "/ca.crt", "--tls_cert=" + ca_dir + "/agent-" + client + ".crt",
            "--tls_key=" + ca_dir + "/agent-" + client + ".key"};
  }

  // Whether ListNodes (as root) shows `node` connected.
  bool Connected(const std::string& node) {
    berth::v1::ListNodesResponse nodes;
    auto context = As(kRootToken);
    if (!scheduler_->ListNodes(context.get(), {}, &nodes).ok()) return false;
    for (const auto& n : nodes.nodes()) {
      if (n.name() == node && n.connected()) return true;
    }
    return false;
  }

  bool WaitConnected(const std::string& node, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Connected(node)) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return Connected(node);
  }

  // Waits until `name`'s log contains `text`.
  bool WaitLog(const std::string& name, const std::string& text, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (absl::StrContains(Log(name), text)) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::StrContains(Log(name), text);
  }

  // Opens an agent stream with `credentials`, registers `node` and returns
  // how the daemon ended the stream (or OK once Registered came back).
  grpc::Status RegisterDirectly(const grpc::SslCredentialsOptions& credentials,
                                const std::string& node) {
    auto channel = grpc::CreateChannel(address(), grpc::SslCredentials(credentials));
    auto stub = berth::v1::AgentService::NewStub(channel);
    auto context = Context(absl::Seconds(10));
    auto stream = stub->Connect(context.get());
    berth::v1::AgentMessage hello;
    hello.mutable_register_()->set_node(node);
    berth::v1::Gpu* gpu = hello.mutable_register_()->add_gpus();
    gpu->set_index(0);
    gpu->set_type("h100-80gb");
    gpu->set_memory_bytes(80.0 * (1 << 30));
    stream->Write(hello);
    berth::v1::DaemonMessage reply;
    if (stream->Read(&reply) && reply.has_registered()) {
      context->TryCancel();
      return grpc::Status::OK;
    }
    stream->WritesDone();
    return stream->Finish();
  }

  berth::v1::JobSpec Spec(const std::string& team) {
    berth::v1::JobSpec spec;
    spec.set_name("auth-test");
    spec.set_team(team);
    spec.set_task("train");
    spec.mutable_model()->set_catalog_name("llama-2-7b");
    spec.set_max_runtime_seconds(3600);
    spec.add_command("python");
    spec.add_command("train.py");
    return spec;
  }

  grpc::Status Submit(const std::string& token, const berth::v1::JobSpec& spec,
                      berth::v1::SubmitJobResponse* response) {
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    auto context = As(token);
    return scheduler_->SubmitJob(context.get(), request, response);
  }

  grpc::Status Cancel(const std::string& token, int64_t id, berth::v1::Job* job) {
    berth::v1::CancelJobRequest request;
    request.set_id(id);
    auto context = As(token);
    return scheduler_->CancelJob(context.get(), request, job);
  }

  std::string dir_, ca_, foreign_;
  int port_ = 0;
  std::unique_ptr<Process> daemon_;
  std::vector<std::unique_ptr<Process>> agents_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<SchedulerService::Stub> scheduler_;
};

TEST_F(AuthTest, NoTokenOrAnUnknownOneIsUnauthenticated) {
  for (const std::string& token : {std::string(), std::string("not-a-known-token-at-all")}) {
    berth::v1::ListNodesResponse nodes;
    auto context = As(token);
    grpc::Status status = scheduler_->ListNodes(context.get(), {}, &nodes);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << token << ": " << status.error_message();
    berth::v1::SubmitJobResponse submitted;
    status = Submit(token, Spec("nlp"), &submitted);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
    berth::v1::ListEventsResponse events;
    auto events_context = As(token);
    status = scheduler_->ListEvents(events_context.get(), {}, &events);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  }
  // Not even a bad request gets past authentication first.
  berth::v1::Job job;
  EXPECT_EQ(Cancel("", -1, &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Any valid token may read.
  berth::v1::ListNodesResponse nodes;
  auto context = As(kBobToken);
  grpc::Status status = scheduler_->ListNodes(context.get(), {}, &nodes);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(AuthTest, TeamsOwnTheirJobsAndAdminsOwnAll) {
  ASSERT_NO_FATAL_FAILURE(StartAgent("h1", AgentTls(ca_, "h1")));
  ASSERT_TRUE(WaitConnected("h1", absl::Seconds(20))) << Log("agent-h1") << Log("berthd");

  // alice's spec names no team: it becomes hers.
  berth::v1::SubmitJobResponse submitted;
  grpc::Status status = Submit(kAliceToken, Spec(""), &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const int64_t id = submitted.job().id();
  berth::v1::Job job;
  berth::v1::GetJobRequest get;
  get.set_id(id);
  auto context = As(kAliceToken);
  ASSERT_TRUE(scheduler_->GetJob(context.get(), get, &job).ok());
  EXPECT_EQ(job.spec().team(), "nlp");

  // Issue 18, finding 13: reads are scoped by team (a spec holds the
  // command and env); bob (vision) reads none of nlp's jobs.
  context = As(kBobToken);
  status = scheduler_->GetJob(context.get(), get, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  berth::v1::ExplainJobRequest explain;
  explain.set_id(id);
  berth::v1::ExplainJobResponse explained;
  context = As(kBobToken);
  status = scheduler_->ExplainJob(context.get(), explain, &explained);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  berth::v1::ListEventsRequest job_events;
  job_events.set_job_id(id);
  berth::v1::ListEventsResponse events;
  context = As(kBobToken);
  status = scheduler_->ListEvents(context.get(), job_events, &events);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  context = As(kBobToken);
  status = scheduler_->ListEvents(context.get(), {}, &events);  // the whole log
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  berth::v1::ListJobsResponse listed;
  context = As(kBobToken);
  ASSERT_TRUE(scheduler_->ListJobs(context.get(), {}, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 0);  // only vision's, and it has none
  berth::v1::ListJobsRequest nlp_jobs;
  nlp_jobs.set_team("nlp");
  context = As(kBobToken);
  status = scheduler_->ListJobs(context.get(), nlp_jobs, &listed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  context = As(kAliceToken);
  ASSERT_TRUE(scheduler_->ListEvents(context.get(), job_events, &events).ok());
  EXPECT_GT(events.events_size(), 0);
  context = As(kRootToken);  // an admin reads every team's
  ASSERT_TRUE(scheduler_->ListJobs(context.get(), {}, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 1);

  // alice may not submit for vision.
  status = Submit(kAliceToken, Spec("vision"), &submitted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();

  // bob (vision) may not cancel nlp's job, nor drain a node.
  status = Cancel(kBobToken, id, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  berth::v1::DrainNodeRequest drain;
  drain.set_name("h1");
  berth::v1::Node node;
  context = As(kBobToken);
  status = scheduler_->DrainNode(context.get(), drain, &node);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  berth::v1::BackupDatabaseRequest backup;
  backup.set_path(dir_ + "/backup.db");
  berth::v1::BackupDatabaseResponse backed_up;
  context = As(kAliceToken);
  status = scheduler_->BackupDatabase(context.get(), backup, &backed_up);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();

  // The job is untouched; root (admin, team ops) cancels it.
  context = As(kAliceToken);
  ASSERT_TRUE(scheduler_->GetJob(context.get(), get, &job).ok());
  EXPECT_NE(job.state(), berth::v1::CANCELLED);
  status = Cancel(kRootToken, id, &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.state(), berth::v1::CANCELLED);

  // alice cancels her own team's next job; root drains and undrains.
  status = Submit(kAliceToken, Spec("nlp"), &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = Cancel(kAliceToken, submitted.job().id(), &job);
  EXPECT_TRUE(status.ok()) << status.error_message();
  context = As(kRootToken);
  status = scheduler_->DrainNode(context.get(), drain, &node);
  EXPECT_TRUE(status.ok()) << status.error_message();
  context = As(kRootToken);
  status = scheduler_->UndrainNode(context.get(), drain, &node);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(AuthTest, AnAgentWithItsNodesCertificateRegisters) {
  ASSERT_NO_FATAL_FAILURE(StartAgent("h1", AgentTls(ca_, "h1")));
  EXPECT_TRUE(WaitConnected("h1", absl::Seconds(20))) << Log("agent-h1") << Log("berthd");
  EXPECT_TRUE(RegisterDirectly(TlsOptions(ca_, ca_ + "/agent-h2"), "h2").ok());
}

TEST_F(AuthTest, AnAgentFromAnotherCaCannotRegister) {
  // The foreign certificate even names the right node.
  ASSERT_NO_FATAL_FAILURE(StartAgent("h1", AgentTls(foreign_, "h1")));
  // berth-agent reconnects with backoff; it logs each failure.
  EXPECT_TRUE(WaitLog("agent-h1", "connection to " + address() + " ended", absl::Seconds(15)))
      << Log("agent-h1");
  EXPECT_FALSE(WaitConnected("h1", absl::Seconds(3))) << Log("agent-h1");
  // The same straight through gRPC: the TLS handshake fails, so the stream
  // never reaches the AgentService.
  grpc::Status status = RegisterDirectly(TlsOptions(ca_, foreign_ + "/agent-h1"), "h1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_FALSE(Connected("h1"));
  // berthd's log (gRPC's own line) says why.
  EXPECT_TRUE(WaitLog("berthd", "certificate verify failed", absl::Seconds(5))) << Log("berthd");
}

TEST_F(AuthTest, ANodeNameThatDoesNotMatchTheCertificateIsRefused) {
  // h1's certificate, registering h2.
  ASSERT_NO_FATAL_FAILURE(StartAgent("h2", AgentTls(ca_, "h1")));
  EXPECT_TRUE(WaitLog("agent-h2", "does not match the client certificate", absl::Seconds(15)))
      << Log("agent-h2");
  EXPECT_TRUE(absl::StrContains(Log("agent-h2"),
                                absl::StrCat("grpc code ", grpc::StatusCode::PERMISSION_DENIED)))
      << Log("agent-h2");
  EXPECT_TRUE(absl::StrContains(Log("berthd"), "refused agent stream")) << Log("berthd");
  EXPECT_FALSE(WaitConnected("h2", absl::Seconds(2)));

  grpc::Status status = RegisterDirectly(TlsOptions(ca_, ca_ + "/agent-h1"), "h2");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  // No certificate at all: unauthenticated.
  status = RegisterDirectly(TlsOptions(ca_, ""), "h2");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_FALSE(Connected("h2"));
}

// The berth CLI sends --token (or $BERTH_TOKEN) over TLS (--tls_ca) and
// exits 7 when berthd says no.
TEST_F(AuthTest, CliSendsItsTokenOverTlsAndExitsSevenWhenRefused) {
  const std::string env = "env -u BERTH_TOKEN -u BERTH_TLS_CA -u BERTH_ADDR ";
  const std::string berth = absl::StrCat(env, BERTH_CLI_PATH, " ");
  const std::string tls = absl::StrCat(" --daemon ", address(), " --tls_ca ", ca_, "/ca.crt");
  int code = 0;
  std::string out = Shell(berth + "nodes" + tls, &code);
  EXPECT_EQ(code, 7) << out;
  EXPECT_TRUE(absl::StrContains(out, "not authenticated")) << out;
  out = Shell(absl::StrCat(env, "BERTH_TOKEN=", kAliceToken, " ", BERTH_CLI_PATH, " nodes", tls),
              &code);
  EXPECT_EQ(code, 0) << out;
  out = Shell(absl::StrCat(berth, "drain h9 --token ", kAliceToken, tls), &code);
  EXPECT_EQ(code, 7) << out;  // admins only
  out = Shell(absl::StrCat(berth, "drain h9 --token ", kRootToken, tls), &code);
  EXPECT_EQ(code, 4) << out;  // allowed; there is no node h9
  // Plain text to a TLS port: unreachable.
  out = Shell(absl::StrCat(berth, "nodes --token ", kRootToken, " --daemon ", address()), &code);
  EXPECT_EQ(code, 5) << out;
}

}  // namespace
}  // namespace berth::testing
