#include "agents/job_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agents/job_env.h"
#include "agents/process.h"
#include "common/status_macros.h"

namespace berth::agent {
namespace {

// True once `pid` has exited, without reaping it: the zombie keeps the
// process group id reserved, so a killpg() that follows cannot reach a
// stranger's group.
bool LeaderExited(pid_t pid) {
  siginfo_t info = {};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// How long a simulated job runs: its env's BERTH_SIMULATE_SECONDS, else
// `fallback`. InvalidArgument for a value that is not seconds >= 0.
absl::StatusOr<absl::Duration> SimulatedRun(const v1::JobSpec& spec, absl::Duration fallback) {
  auto it = spec.env().find(kSimulateSecondsEnv);
  if (it == spec.env().end()) return fallback;
  double seconds = 0;
  if (!absl::SimpleAtod(it->second, &seconds) || !std::isfinite(seconds) || seconds < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kSimulateSecondsEnv, "=\"", it->second.substr(0, 32), "\": not a number of seconds >= 0"));
  }
  return absl::Seconds(seconds);
}

// The longest the reaper sleeps, while a timer is set, before looking at
// the clock again, so that a clock that jumps is noticed.
constexpr absl::Duration kMaxTimerSleep = absl::Seconds(1);

// A pidfd for the child `pid` (readable once it exits), or -1 where the
// kernel has none. Close-on-exec, as pidfds always are.
int OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobRunner>> JobRunner::Create(JobRunnerOptions options) {
  if (!options.on_status) {
    return absl::InvalidArgumentError("job runner: on_status is required");
  }
  if (options.default_stop_grace < absl::ZeroDuration() ||
      options.poll_interval <= absl::ZeroDuration() ||
      options.simulated_run < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "job runner: the stop grace and simulated run must be >= 0 and the poll interval > 0");
  }
  BERTH_RETURN_IF_ERROR(CheckPassEnv(options.pass_env));
  PrivateDir jobs_dir;
  if (options.run_commands) {
    if (options.work_dir.empty()) {
      return absl::InvalidArgumentError("job runner: work_dir is required");
    }
    absl::StatusOr<PrivateDir> prepared = PrepareWorkDir(options.work_dir);
    if (!prepared.ok()) {
      return absl::Status(prepared.status().code(),
                          absl::StrCat("work dir: ", prepared.status().message()));
    }
    jobs_dir = *std::move(prepared);
  }
  if (!options.now) options.now = [] { return absl::Now(); };
  return std::unique_ptr<JobRunner>(new JobRunner(std::move(options), std::move(jobs_dir)));
}

JobRunner::JobRunner(JobRunnerOptions options, PrivateDir jobs_dir)
    : options_(std::move(options)),
      jobs_dir_(std::move(jobs_dir)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (options_.run_commands) {
    for (int i = 0; i < std::max(1, options_.launch_threads); ++i) {
      launchers_.emplace_back([this] { LaunchLoop(); });
    }
  }
  reaper_ = std::thread([this] { ReaperLoop(); });
}

// The launchers outlive the reaper's StopAll(): a job's leader gets
// SIGKILL (PR_SET_PDEATHSIG) when the thread that forked it ends.
JobRunner::~JobRunner() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  Wake();
  if (reaper_.joinable()) reaper_.join();
  {
    absl::MutexLock lock(&mu_);
    launchers_stop_ = true;
  }
  for (std::thread& launcher : launchers_) launcher.join();
}

void JobRunner::Start(const v1::Job& job) {
  std::vector<v1::JobStatus> reports;
  {
    absl::MutexLock lock(&mu_);
    auto known = jobs_.find(job.id());
    if (known != jobs_.end() && known->second.phase == Phase::kDone && known->second.stopped) {
      jobs_.erase(known);  // stopped, then placed again (a requeue): rerun
    }
    auto [it, inserted] = jobs_.try_emplace(job.id());
    Entry& entry = it->second;
    if (!inserted) {
      Log(absl::StrCat("job ", job.id(), " is known; not starting it again"));
      if (entry.has_status) reports.push_back(entry.status);
    } else {
      entry.job = job;
      for (const v1::GpuAssignment& gpu : ShareOf(job, options_.node).gpus) {
        entry.gpu_indices.push_back(gpu.index());
      }
      if (!options_.run_commands) {
        reports.push_back(StartSimulated(entry));
      } else if (job.spec().command().empty()) {
        reports.push_back(Finish(entry, v1::FAILED, 0, "no command"));
      } else {
        launch_queue_.push_back(job.id());
      }
    }
  }
  Report(reports);
}

void JobRunner::Stop(int64_t job_id, absl::Duration grace) {
  if (grace <= absl::ZeroDuration()) grace = options_.default_stop_grace;
  std::vector<v1::JobStatus> reports;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      v1::JobStatus ack;  // not ours (any more): acknowledge
      ack.set_job_id(job_id);
      ack.set_state(v1::CANCELLED);
      ack.set_time_ms(absl::ToUnixMillis(options_.now()));
      ack.set_message("not running on this node");
      reports.push_back(ack);
    } else if (Entry& entry = it->second; entry.phase == Phase::kDone) {
      entry.stopped = true;
      reports.push_back(entry.status);
    } else if (entry.pgid == 0 && entry.phase == Phase::kRunning) {
      entry.stopped = true;
      reports.push_back(Finish(entry, v1::CANCELLED, 0, "cancelled"));
    } else {
      SendStop(entry, StopReason::kCancelled, grace, options_.now());
    }
  }
  Wake();  // a SIGKILL may be due
  Report(reports);
}

std::vector<v1::JobCheckpoint> JobRunner::Checkpoints() const {
  std::vector<int64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : jobs_) {
      if (entry.phase == Phase::kRunning && entry.pgid != 0) ids.push_back(id);
    }
  }
  std::vector<v1::JobCheckpoint> out;
  if (!options_.run_commands) return out;
  for (int64_t id : ids) {
    // Relative to the jobs folder held open; a link is not followed, and
    // only a plain file counts.
    const std::string name = absl::StrCat(id, "/", kCheckpointFile);
    struct stat info;
    if (fstatat(jobs_dir_.fd.get(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(info.st_mode)) {
      continue;
    }
    v1::JobCheckpoint& checkpoint = out.emplace_back();
    checkpoint.set_job_id(id);
    checkpoint.set_time_ms(static_cast<int64_t>(info.st_mtim.tv_sec) * 1000 +
                           info.st_mtim.tv_nsec / 1'000'000);
  }
  return out;
}

std::vector<int64_t> JobRunner::RunningJobs() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> ids;
  for (const auto& [id, entry] : jobs_) {
    if (entry.phase != Phase::kDone) ids.push_back(id);
  }
  return ids;
}

absl::btree_map<int, int64_t> JobRunner::GpuMemoryInUse() const {
  absl::MutexLock lock(&mu_);
  absl::btree_map<int, int64_t> in_use;
  for (const auto& [id, entry] : jobs_) {
    if (entry.phase == Phase::kDone) continue;
    const auto bytes = static_cast<int64_t>(entry.job.plan().per_gpu().total_bytes());
    for (int index : entry.gpu_indices) in_use[index] = bytes;
  }
  return in_use;
}

pid_t JobRunner::ProcessGroup(int64_t job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.phase != Phase::kRunning) return 0;
  return it->second.pgid;
}

void JobRunner::ReaperLoop() {
  while (true) {
    std::vector<v1::JobStatus> reports;
    std::vector<int> fds;
    absl::Duration sleep;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) break;
      timers_changed_ = false;
      reports = Poll();
      sleep = NextPoll();
      if (options_.run_commands) fds = WatchedFds();
    }
    Report(reports);
    if (options_.run_commands) {
      WaitForExits(std::move(fds), sleep);
    } else {
      absl::MutexLock lock(&mu_);
      auto wake = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutdown_ || timers_changed_; };
      mu_.AwaitWithTimeout(absl::Condition(&wake), sleep);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return launching_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }
  StopAll();
}

void JobRunner::WaitForExits(std::vector<int> fds, absl::Duration timeout) {
  std::vector<pollfd> polled;
  polled.reserve(fds.size());
  for (int fd : fds) polled.push_back({.fd = fd, .events = POLLIN, .revents = 0});
  const int ms =
      timeout == absl::InfiniteDuration()
          ? -1
          : static_cast<int>(absl::ToInt64Milliseconds(timeout + absl::Microseconds(999)));
  if (poll(polled.data(), polled.size(), ms) > 0 && !polled.empty() &&
      (polled[0].revents & POLLIN) != 0) {
    uint64_t count = 0;
    ssize_t ignored = read(wake_fd_.get(), &count, sizeof(count));
    (void)ignored;
  }
}

std::vector<int> JobRunner::WatchedFds() const {
  std::vector<int> fds = {wake_fd_.get()};
  for (const auto& [id, entry] : jobs_) {
    if (entry.phase == Phase::kRunning && entry.pidfd >= 0 && entry.reported_running) {
      fds.push_back(entry.pidfd);
    }
  }
  return fds;
}

void JobRunner::Wake() const {
  if (!wake_fd_.valid()) return;
  const uint64_t one = 1;
  ssize_t ignored = write(wake_fd_.get(), &one, sizeof(one));
  (void)ignored;
}

absl::Duration JobRunner::NextPoll() const {
  absl::Time next = absl::InfiniteFuture();
  bool unwatched = false;
  for (const auto& [id, entry] : jobs_) {
    if (entry.phase != Phase::kRunning) continue;
    if (entry.reason == StopReason::kNone) next = std::min(next, entry.deadline);
    next = std::min({next, entry.simulated_end, entry.kill_at});
    if (entry.pgid != 0 && (entry.pidfd < 0 || !wake_fd_.valid())) unwatched = true;
  }
  absl::Duration sleep = absl::InfiniteDuration();
  if (next != absl::InfiniteFuture()) {
    sleep = std::clamp(next - options_.now(), absl::ZeroDuration(), kMaxTimerSleep);
  }
  return unwatched ? std::min(sleep, options_.poll_interval) : sleep;
}

// Takes queued jobs, oldest first, until the runner is destroyed.
void JobRunner::LaunchLoop() {
  while (true) {
    int64_t job_id = 0;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return launchers_stop_ || (!shutdown_ && !launch_queue_.empty());
      };
      mu_.Await(absl::Condition(&ready));
      if (launchers_stop_) return;
      job_id = launch_queue_.front();
      launch_queue_.pop_front();
      ++launching_;
    }
    Launch(job_id);
    absl::MutexLock lock(&mu_);
    --launching_;
  }
}

v1::JobStatus JobRunner::StartSimulated(Entry& entry) {
  absl::StatusOr<absl::Duration> run = SimulatedRun(entry.job.spec(), options_.simulated_run);
  if (!run.ok()) return Finish(entry, v1::FAILED, 0, run.status().message());
  const absl::Time now = options_.now();
  entry.phase = Phase::kRunning;
  entry.simulated_run = *run;
  if (*run > absl::ZeroDuration()) entry.simulated_end = now + *run;
  const int64_t max_s = entry.job.spec().max_runtime_seconds();
  if (max_s > 0) entry.deadline = now + absl::Seconds(max_s);
  timers_changed_ = true;
  return Finish(entry, v1::RUNNING, 0, "simulated");
}

void JobRunner::PollSimulated(absl::Time now, std::vector<v1::JobStatus>& reports) {
  for (auto& [id, entry] : jobs_) {
    if (entry.phase != Phase::kRunning || entry.pgid != 0) continue;
    if (now >= entry.deadline && entry.deadline <= entry.simulated_end) {
      reports.push_back(
          Finish(entry, v1::FAILED, 0,
                 absl::StrCat("exceeded max run time of ", entry.job.spec().max_runtime_seconds(),
                              " s (simulated)")));
    } else if (now >= entry.simulated_end) {
      reports.push_back(
          Finish(entry, v1::SUCCEEDED, 0,
                 absl::StrCat("simulated: ran ", absl::FormatDuration(entry.simulated_run))));
    }
  }
}

// Starts a queued job unless it was cancelled first; reports the outcome.
void JobRunner::Launch(int64_t job_id) {
  v1::Job job;
  std::vector<v1::JobStatus> reports;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || it->second.phase != Phase::kQueued) return;
    Entry& entry = it->second;
    if (entry.reason == StopReason::kCancelled) {
      reports.push_back(Finish(entry, v1::CANCELLED, 0, "cancelled before it started"));
    } else {
      entry.phase = Phase::kStarting;
      job = entry.job;
    }
  }
  if (!reports.empty()) {
    Report(reports);
    return;
  }
  absl::StatusOr<pid_t> pid = Spawn(job);
  {
    absl::MutexLock lock(&mu_);
    Entry& entry = jobs_.at(job_id);
    if (!pid.ok()) {
      reports.push_back(Finish(entry, v1::FAILED, 127, pid.status().message()));
    } else {
      const absl::Time now = options_.now();
      entry.phase = Phase::kRunning;
      entry.pgid = *pid;
      entry.pidfd = OpenPidFd(*pid);
      const int64_t max_s = job.spec().max_runtime_seconds();
      if (max_s > 0) entry.deadline = now + absl::Seconds(max_s);
      reports.push_back(Finish(entry, v1::RUNNING, 0, ""));
      entry.phase = Phase::kRunning;  // Finish marks only end states done
      if (entry.reason == StopReason::kCancelled) {
        SendStop(entry, StopReason::kCancelled, entry.grace, now);
      }
      Log(absl::StrCat("job ", job_id, " started: pid ", *pid));
    }
  }
  Report(reports);
  if (!pid.ok()) return;
  {
    // Only now may the reaper report its exit: RUNNING goes out first.
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) it->second.reported_running = true;
  }
  Wake();
}

// Writes the job's folder and files, then starts its command there.
absl::StatusOr<pid_t> JobRunner::Spawn(const v1::Job& job) {
  BERTH_ASSIGN_OR_RETURN(PrivateDir folder, OpenJobFolder(jobs_dir_, job.id()));
  BERTH_RETURN_IF_ERROR(WriteJobFile(folder, "deepspeed.json", DeepSpeedConfigJson(job.plan())));
  BERTH_ASSIGN_OR_RETURN(UniqueFd out, OpenJobFile(folder, "stdout.log", JobFile::kAppend));
  BERTH_ASSIGN_OR_RETURN(UniqueFd err, OpenJobFile(folder, "stderr.log", JobFile::kAppend));
  const NodeShare share = ShareOf(job, options_.node);
  return SpawnProcessGroup({
      .argv = {job.spec().command().begin(), job.spec().command().end()},
      .env = MergeEnvironment(InheritedEnvironment(CurrentEnvironment(), options_.pass_env),
                              job.spec(),
                              JobVariables(job, share, folder.path + "/deepspeed.json",
                                           absl::StrCat(folder.path, "/", kCheckpointFile))),
      .stdout_fd = out.get(),
      .stderr_fd = err.get(),
      .cwd_fd = folder.fd.get(),
  });
}

std::vector<v1::JobStatus> JobRunner::Poll() {
  std::vector<v1::JobStatus> reports;
  const absl::Time now = options_.now();
  if (!options_.run_commands) PollSimulated(now, reports);
  for (auto& [id, entry] : jobs_) {
    if (entry.phase != Phase::kRunning || entry.pgid == 0) continue;
    if (entry.reported_running && LeaderExited(entry.pgid)) {
      if (entry.pidfd >= 0) close(entry.pidfd);
      entry.pidfd = -1;
      killpg(entry.pgid, SIGKILL);  // what the leader left behind
      int wait_status = 0;
      waitpid(entry.pgid, &wait_status, 0);
      reports.push_back(Exited(entry, wait_status));
      continue;
    }
    if (entry.reason == StopReason::kNone && now >= entry.deadline) {
      Log(absl::StrCat("job ", id, " exceeded its max run time; stopping it"));
      SendStop(entry, StopReason::kTimedOut, options_.default_stop_grace, now);
    }
    if (now >= entry.kill_at) {
      Log(absl::StrCat("job ", id, " outlived its grace; SIGKILL"));
      killpg(entry.pgid, SIGKILL);
      entry.kill_at = absl::InfiniteFuture();
    }
  }
  ForgetOldJobs();
  return reports;
}

void JobRunner::SendStop(Entry& entry, StopReason reason, absl::Duration grace, absl::Time now) {
  entry.reason = reason;
  if (reason == StopReason::kCancelled) entry.stopped = true;
  entry.grace = grace;
  if (entry.phase != Phase::kRunning || entry.pgid == 0) return;
  killpg(entry.pgid, SIGTERM);
  entry.kill_at = std::min(entry.kill_at, now + grace);
}

v1::JobStatus JobRunner::Exited(Entry& entry, int wait_status) {
  const bool signalled = WIFSIGNALED(wait_status);
  const int code = signalled ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
  const std::string how = signalled ? absl::StrCat("killed by ", SignalName(WTERMSIG(wait_status)))
                                    : absl::StrCat("exit code ", code);
  switch (entry.reason) {
    case StopReason::kCancelled:
      return Finish(entry, v1::CANCELLED, code, "cancelled; " + how);
    case StopReason::kTimedOut:
      return Finish(entry, v1::FAILED, code,
                    absl::StrCat("exceeded max run time of ",
                                 entry.job.spec().max_runtime_seconds(), " s; ", how));
    case StopReason::kNone:
      break;
  }
  if (!signalled && code == 0) return Finish(entry, v1::SUCCEEDED, 0, "");
  return Finish(entry, v1::FAILED, code, how);
}

// Records the status on the entry (an end state marks the job done).
v1::JobStatus JobRunner::Finish(Entry& entry, v1::JobState state, int exit_code,
                                absl::string_view message) {
  v1::JobStatus& status = entry.status;
  status.set_job_id(entry.job.id());
  status.set_state(state);
  status.set_exit_code(exit_code);
  status.set_time_ms(absl::ToUnixMillis(options_.now()));
  status.set_message(std::string(message));
  entry.has_status = true;
  if (state != v1::RUNNING) {
    entry.phase = Phase::kDone;
    entry.pgid = 0;
    finished_.push_back(entry.job.id());
    Log(absl::StrCat("job ", entry.job.id(), " ", v1::JobState_Name(state),
                     message.empty() ? "" : ": ", message));
  }
  return status;
}

void JobRunner::ForgetOldJobs() {
  while (static_cast<int>(finished_.size()) > options_.max_finished_jobs) {
    auto it = jobs_.find(finished_.front());
    if (it != jobs_.end() && it->second.phase == Phase::kDone) jobs_.erase(it);
    finished_.pop_front();
  }
}

// On shutdown: SIGTERM every group, SIGKILL what is left after the grace.
void JobRunner::StopAll() {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + options_.default_stop_grace;
  for (auto& [id, entry] : jobs_) {
    if (entry.phase == Phase::kRunning && entry.pgid != 0) {
      killpg(entry.pgid, SIGTERM);
    }
  }
  for (auto& [id, entry] : jobs_) {
    if (entry.phase != Phase::kRunning || entry.pgid == 0) continue;
    while (!LeaderExited(entry.pgid) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    killpg(entry.pgid, SIGKILL);
    while (waitpid(entry.pgid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (entry.pidfd >= 0) close(entry.pidfd);
    entry.pidfd = -1;
    entry.phase = Phase::kDone;
    entry.pgid = 0;
    Log(absl::StrCat("job ", id, " stopped: the agent is shutting down"));
  }
}

void JobRunner::Report(const std::vector<v1::JobStatus>& statuses) const {
  for (const v1::JobStatus& status : statuses) options_.on_status(status);
}

void JobRunner::Log(absl::string_view line) const {
  if (options_.log) options_.log(line);
}

}  // namespace berth::agent
