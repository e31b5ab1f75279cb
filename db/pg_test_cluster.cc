#include "db/pg_test_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace berth::db {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;  // nobody:nogroup on Debian
constexpr char kSuperuser[] = "berth_test";

// $BERTH_PG_BINDIR, or the newest /usr/lib/postgresql/<version>/bin.
absl::StatusOr<std::string> FindBindir() {
  if (const char* env = getenv("BERTH_PG_BINDIR"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  std::error_code ec;
  std::vector<std::pair<int, std::string>> found;
  for (const fs::directory_entry& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (fs::exists(bin / "initdb", ec) && fs::exists(bin / "postgres", ec)) {
      found.emplace_back(atoi(entry.path().filename().c_str()), bin.string());
    }
  }
  if (found.empty()) {
    return absl::FailedPreconditionError(
        "no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin and "
        "no $BERTH_PG_BINDIR: install Debian's postgresql package (deploy/install-deps.sh)");
  }
  return std::max_element(found.begin(), found.end())->second;
}

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0;
  close(fd);
  if (!ok) return absl::InternalError("cannot bind a loopback port");
  return ntohs(addr.sin_port);
}

// Waits for `pid` up to `timeout`; true when it exited (status in *status).
bool WaitFor(pid_t pid, std::chrono::milliseconds timeout, int* status) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const pid_t done = waitpid(pid, status, WNOHANG);
    if (done == pid || done < 0) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

PgTestCluster::PgTestCluster(std::string dir, std::string bindir, int port,
                             PgTestClusterOptions options)
    : dir_(std::move(dir)), bindir_(std::move(bindir)), port_(port), options_(std::move(options)) {}

PgTestCluster::~PgTestCluster() {
  (void)Stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

absl::StatusOr<std::unique_ptr<PgTestCluster>> PgTestCluster::Start(PgTestClusterOptions options) {
  BERTH_ASSIGN_OR_RETURN(std::string bindir, FindBindir());
  std::string pattern = "/tmp/berth_pg_XXXXXX";  // short: the socket path has a limit
  if (mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  if (geteuid() == 0 && chown(pattern.c_str(), kNobody, kNobody) != 0) {
    fs::remove_all(pattern);
    return absl::InternalError(absl::StrCat("cannot give ", pattern, " to nobody"));
  }
  BERTH_ASSIGN_OR_RETURN(int port, FreeLoopbackPort());
  auto cluster = std::unique_ptr<PgTestCluster>(
      new PgTestCluster(pattern, std::move(bindir), port, std::move(options)));
  BERTH_RETURN_IF_ERROR(cluster->RunInitdb());
  // Another process may take the port between the probe and the bind: try
  // a few.
  absl::Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {
    launched = cluster->Launch();
    if (launched.ok()) return cluster;
    BERTH_ASSIGN_OR_RETURN(cluster->port_, FreeLoopbackPort());
  }
  return launched;
}

absl::StatusOr<pid_t> PgTestCluster::Spawn(const std::vector<std::string>& argv,
                                           const std::string& log) {
  // Everything the child needs is built before fork().
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const char* env[] = {"LC_ALL=C", "LANG=C", "TZ=UTC", "PATH=/usr/bin:/bin", nullptr};
  const bool drop = geteuid() == 0;
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    if (drop && (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)) {
      _exit(126);
    }
    // Set after the uid changed, which clears it: a test process that dies
    // takes its server with it (SIGQUIT: immediate shutdown).
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (chdir(dir_.c_str()) != 0) _exit(126);
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int in = open("/dev/null", O_RDONLY);
    if (out < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execve(args[0], args.data(), const_cast<char* const*>(env));
    _exit(127);
  }
  return pid;
}

absl::Status PgTestCluster::RunInitdb() {
  BERTH_ASSIGN_OR_RETURN(
      pid_t pid, Spawn({bindir_ + "/initdb", "-D", dir_ + "/data", "-U", kSuperuser, "--auth=trust",
                        "--encoding=UTF8", "--locale=C", "--no-sync"},
                       dir_ + "/initdb.log"));
  int status = 0;
  if (!WaitFor(pid, std::chrono::minutes(3), &status)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return absl::InternalError("initdb did not finish in 3 minutes");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream file(dir_ + "/initdb.log");
    std::stringstream text;
    text << file.rdbuf();
    return absl::InternalError(absl::StrCat("initdb failed (status ", status, "): ", text.str()));
  }
  return absl::OkStatus();
}

absl::Status PgTestCluster::Launch() {
  BERTH_ASSIGN_OR_RETURN(
      server_,
      Spawn({bindir_ + "/postgres", "-D", dir_ + "/data", "-p", absl::StrCat(port_), "-k", dir_,
             "-c", "listen_addresses=" + options_.listen_addresses, "-c", "fsync=off", "-c",
             "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=40"},
            dir_ + "/postgres.log"));
  const std::string ping = absl::StrFormat(
      "host=127.0.0.1 port=%d user=%s dbname=postgres connect_timeout=2", port_, kSuperuser);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(server_, &status, WNOHANG) == server_) {
      server_ = -1;
      return absl::InternalError(absl::StrCat("postgres exited (status ", status, "): ", Log()));
    }
    if (PQping(ping.c_str()) == PQPING_OK) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (void)Stop();
  return absl::InternalError(absl::StrCat("postgres did not accept connections: ", Log()));
}

std::string PgTestCluster::Log() const {
  std::ifstream file(dir_ + "/postgres.log");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::Status PgTestCluster::Stop() {
  if (server_ <= 0) return absl::OkStatus();
  const pid_t pid = std::exchange(server_, -1);
  kill(pid, SIGINT);  // fast shutdown
  int status = 0;
  if (WaitFor(pid, std::chrono::seconds(60), &status)) return absl::OkStatus();
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return absl::InternalError("postgres ignored a fast shutdown for 60 s; killed");
}

absl::Status PgTestCluster::Resume() {
  if (server_ > 0) return absl::FailedPreconditionError("the server is running");
  return Launch();
}

std::string PgTestCluster::Target(const std::string& name) const {
  return absl::StrFormat("postgresql://%s@127.0.0.1:%d/%s", kSuperuser, port_, name);
}

absl::StatusOr<std::string> PgTestCluster::CreateDatabase() {
  const std::string name = absl::StrCat("t", ++databases_);
  PGconn* conn = PQconnectdb(Target("postgres").c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(PQerrorMessage(conn));
  } else {
    // The name is made here from a counter; identifiers take no parameters.
    PGresult* result = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      status = absl::InternalError(PQresultErrorMessage(result));
    }
    PQclear(result);
  }
  PQfinish(conn);
  BERTH_RETURN_IF_ERROR(status);
  return Target(name);
}

}  // namespace berth::db
