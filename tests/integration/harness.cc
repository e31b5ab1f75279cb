#include "tests/integration/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/limits.h"
#include "db/database.h"
#include "db/store.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

#ifndef BERTHD_PATH
#error "BERTHD_PATH must name the berthd binary"
#endif
#ifndef BERTH_AGENT_PATH
#error "BERTH_AGENT_PATH must name the berth-agent binary"
#endif

extern char** environ;  // the parent's environment, copied into children

namespace berth::testing {

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const std::vector<std::string>& argv,
                                                        const std::string& log_path,
                                                        const std::vector<std::string>& env) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment, built before fork (the child only execs).
  std::map<std::string, std::string> vars;
  auto add = [&vars](const std::string& entry) {
    const size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0) vars[entry.substr(0, eq)] = entry;
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) add(*e);
  for (const std::string& entry : env) add(entry);
  std::vector<char*> envp;
  for (auto& [key, entry] : vars) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  auto process = std::make_unique<Process>();
  process->pid_ = pid;
  return process;
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Process::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("process ", pid_, " did not exit"));
}

bool Process::Running() {
  if (reaped_ || pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

Cluster::Cluster() {
  char pattern[] = "/tmp/berth-it-XXXXXX";
  dir_ = mkdtemp(pattern);
}

Cluster::~Cluster() {
  agents_.clear();
  daemon_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string Cluster::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string Cluster::Log(const std::string& name) const {
  std::ifstream in(dir_ + "/" + name + ".log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Cluster::DaemonRunning() { return daemon_ != nullptr && daemon_->Running(); }

bool Cluster::AgentRunning(const std::string& node) {
  auto it = agents_.find(node);
  return it != agents_.end() && it->second->Running();
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

absl::Status Cluster::StartDaemon(int port) {
  const std::string port_file = dir_ + "/port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {BERTHD_PATH,          absl::StrCat("--listen=127.0.0.1:", port),
                                   "--db=" + db_path(),  "--port_file=" + port_file,
                                   "--heartbeat_ms=200", "--metrics_listen=127.0.0.1:0"};
  argv.insert(argv.end(), daemon_flags_.begin(), daemon_flags_.end());
  auto process = Process::Start(argv, dir_ + "/berthd.log", daemon_env_);
  if (!process.ok()) return process.status();
  daemon_ = *std::move(process);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    std::ifstream in(port_file);
    std::string line;
    if (std::getline(in, line) && absl::StartsWith(line, "grpc=") &&
        absl::SimpleAtoi(line.substr(5), &port_)) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);  // as the CLI does
      stub_ = berth::v1::SchedulerService::NewStub(
          grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args));
      return WaitServing(deadline - absl::Now());
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("berthd wrote no port file:\n" + Log("berthd"));
}

absl::Status Cluster::WaitServing(absl::Duration timeout) {
  auto channel = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    grpc::health::v1::HealthCheckResponse response;
    auto context = Context(absl::Seconds(1));
    if (health->Check(context.get(), {}, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("berthd never reported SERVING:\n" + Log("berthd"));
}

absl::Status Cluster::StopDaemon(int signal) {
  if (daemon_ == nullptr) return absl::FailedPreconditionError("no daemon");
  daemon_->Signal(signal);
  absl::StatusOr<int> exit = daemon_->Wait(absl::Seconds(20));
  daemon_.reset();
  return exit.status();
}

absl::Status Cluster::StartAgent(const std::string& node, const std::string& inventory_json) {
  const std::string path = dir_ + "/inventory-" + node + ".json";
  std::ofstream(path) << inventory_json;
  auto process = Process::Start({BERTH_AGENT_PATH, "--daemon=" + address(), "--node=" + node,
                                 "--inventory=" + path, "--heartbeat_ms=200"},
                                dir_ + "/agent-" + node + ".log");
  if (!process.ok()) return process.status();
  agents_[node] = *std::move(process);
  return absl::OkStatus();
}

absl::Status Cluster::StartAgentWithFlags(const std::string& node,
                                          const std::string& inventory_json,
                                          const std::vector<std::string>& flags) {
  const std::string path = dir_ + "/inventory-" + node + ".json";
  std::ofstream(path) << inventory_json;
  std::vector<std::string> argv = {BERTH_AGENT_PATH, "--daemon=" + address(), "--node=" + node,
                                   "--inventory=" + path, "--heartbeat_ms=200"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto process = Process::Start(argv, dir_ + "/agent-" + node + ".log");
  if (!process.ok()) return process.status();
  agents_[node] = *std::move(process);
  return absl::OkStatus();
}

absl::Status Cluster::StopAgent(const std::string& node, int signal) {
  auto it = agents_.find(node);
  if (it == agents_.end()) return absl::NotFoundError(node);
  it->second->Signal(signal);
  absl::Status status = it->second->Wait(absl::Seconds(20)).status();
  agents_.erase(it);
  return status;
}

absl::Status Cluster::SignalAgent(const std::string& node, int signal) {
  auto it = agents_.find(node);
  if (it == agents_.end()) return absl::NotFoundError(node);
  it->second->Signal(signal);
  return absl::OkStatus();
}

absl::Status Cluster::WaitForConnectedNodes(int count, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    berth::v1::ListNodesResponse nodes;
    auto context = Context(absl::Seconds(2));
    if (stub_->ListNodes(context.get(), {}, &nodes).ok()) {
      int connected = 0;
      for (const auto& node : nodes.nodes()) connected += node.connected() ? 1 : 0;
      if (connected >= count) return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("fewer than ", count, " nodes connected"));
}

absl::StatusOr<berth::v1::Job> Cluster::WaitForState(int64_t id, berth::v1::JobState state,
                                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  berth::v1::Job job;
  while (absl::Now() < deadline) {
    berth::v1::GetJobRequest request;
    request.set_id(id);
    auto context = Context(absl::Seconds(2));
    if (stub_->GetJob(context.get(), request, &job).ok() && job.state() == state) return job;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("job ", id, " is ",
                                                  berth::v1::JobState_Name(job.state()), ", not ",
                                                  berth::v1::JobState_Name(state)));
}

absl::Status CheckDatabase(const std::string& db_path) {
  absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(db_path);
  if (!store.ok()) return store.status();
  return (*store)->CheckInvariants();
}

absl::StatusOr<std::vector<std::string>> EventKinds(const std::string& db_path, int64_t job_id) {
  absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(db_path);
  if (!store.ok()) return store.status();
  absl::StatusOr<std::vector<db::Event>> events =
      (*store)->Events({.job_id = job_id, .limit = 100});
  if (!events.ok()) return events.status();
  std::vector<std::string> kinds;
  for (const db::Event& event : *events) kinds.push_back(event.kind);
  return kinds;
}

absl::StatusOr<std::vector<JobRow>> ReadJobRows(const std::string& db_path) {
  absl::StatusOr<std::unique_ptr<db::Database>> db = db::Database::Open(db_path);
  if (!db.ok()) return db.status();
  static constexpr char kBusyTimeout[] = "PRAGMA busy_timeout = 5000";
  if (absl::Status s = (*db)->Exec(kBusyTimeout); !s.ok()) return s;
  static constexpr char kSelectJobs[] = "SELECT id, request_id, state FROM jobs ORDER BY id";
  absl::StatusOr<db::Statement> select = (*db)->Prepare(kSelectJobs);
  if (!select.ok()) return select.status();
  std::vector<JobRow> rows;
  while (true) {
    absl::StatusOr<bool> has_row = select->Step();
    if (!has_row.ok()) return has_row.status();
    if (!*has_row) return rows;
    rows.push_back(JobRow{.id = select->ColumnInt64(0),
                          .request_id = select->ColumnText(1),
                          .state = static_cast<berth::v1::JobState>(select->ColumnInt64(2))});
  }
}

namespace {

std::shared_ptr<grpc::Channel> FastReconnectChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC takes it as the time one
  // connection attempt may take (20 s by default), and 100 ms cut off the
  // handshake with a busy berthd ("tcp handshaker shutdown").
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);  // as the CLI does
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

absl::StatusOr<std::vector<berth::v1::Job>> ListAllJobs(berth::v1::SchedulerService::Stub* stub,
                                                        berth::v1::ListJobsRequest request) {
  std::vector<berth::v1::Job> jobs;
  request.set_limit(10000);
  for (int page = 0; page < 10000; ++page) {  // bounded: at most 10^8 jobs
    berth::v1::ListJobsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    const grpc::Status status = stub->ListJobs(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    jobs.insert(jobs.end(), response.jobs().begin(), response.jobs().end());
    if (response.next_before_id() == 0) break;
    request.set_before_id(response.next_before_id());
  }
  return jobs;
}

std::unique_ptr<berth::v1::SchedulerService::Stub> FastReconnectSchedulerStub(
    const std::string& address) {
  return berth::v1::SchedulerService::NewStub(FastReconnectChannel(address));
}

std::unique_ptr<berth::v1::AgentService::Stub> FastReconnectAgentStub(const std::string& address) {
  return berth::v1::AgentService::NewStub(FastReconnectChannel(address));
}

std::string Shell(const std::string& command, int* exit_code) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return "popen failed";
  }
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

std::string Inventory(const std::string& type, int count, const std::string& rack) {
  return absl::StrCat(R"({"gpus": [{"type": ")", type, R"(", "count": )", count,
                      R"(}], "labels": {"rack": ")", rack, R"("}})");
}

}  // namespace berth::testing
