// Runs this node's share of the jobs the daemon starts, and reports how
// they end.
//
// Create() prepares `work_dir` (work_dir.h: made 0700, refused unless it is
// the agent user's and private) and holds its `jobs` folder open.
// Start() launches the spec's command (argv, no shell) as its own process
// group in the job's folder `<work_dir>/jobs/<id>/` (made 0700), with the
// environment of job_env.h (the allowlisted part of the agent's, plus
// `pass_env`), stdout and stderr appended to `stdout.log` and `stderr.log`
// there, and the DeepSpeed config written to `deepspeed.json` (files 0600,
// opened without following links; a job whose folder or files are not the
// agent's plain files FAILs and says why). `launch_threads` launcher
// threads take queued jobs in order and launch them side by side (each
// job's leader is the child of a launcher, which PR_SET_PDEATHSIG ties it
// to, and launchers live until the runner is destroyed) and report RUNNING as soon as the command
// has been exec'd. One reaper thread reaps every child: it sleeps in poll()
// on a pidfd per job (an eventfd wakes it when a job starts or is stopped)
// until a leader exits or the next max run time or SIGKILL is due, and
// reports the exit at once; where pidfds are not available it polls every
// `poll_interval`. On simulated nodes it only ends simulated jobs, and
// sleeps while none has an end.
// `on_status` receives, from the reaper thread or the caller's:
//   RUNNING    when the process has started (time_ms = start);
//   SUCCEEDED  exit 0;  FAILED  exit code N, or 128 + signal with the
//              signal named, or "no command", or "cannot run ...";
//   CANCELLED  after Stop(): SIGTERM to the group, SIGKILL after the grace;
//   FAILED     "exceeded max run time of N s", stopped the same way once
//              spec.max_runtime_seconds have passed.
// After the leader exits, whatever is left of its group gets SIGKILL.
//
// A job id seen before is not started again (StartJob is resent after a
// reconnect): Start() of a running or finished job repeats its latest
// status, and so does Stop() of a finished one. The exception is a job that
// was stopped and is then started again — the daemon requeued it and placed
// it here anew — which runs again, appending to the same log files. With
// `run_commands` false (simulated nodes) nothing is started (and an empty
// command is fine): a job is RUNNING from Start() until Stop(), or until its
// simulated run time has passed, when it SUCCEEDS ("simulated: ran N s").
// That time is the job's env BERTH_SIMULATE_SECONDS (whole or decimal
// seconds; a value that is not a number FAILs the job), else
// `simulated_run`; 0 runs until stopped. Simulated jobs keep
// spec.max_runtime_seconds too: FAILED "exceeded max run time of N s" when
// it comes first. Destruction stops every running job as Stop() does and
// reaps it.
#ifndef BERTH_AGENTS_JOB_RUNNER_H_
#define BERTH_AGENTS_JOB_RUNNER_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agents/work_dir.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/job.pb.h"

namespace berth::agent {

// The file in a job's folder that the job touches after each checkpoint;
// its path is the job's BERTH_CHECKPOINT_FILE.
inline constexpr char kCheckpointFile[] = "checkpoint";

// The job env variable that sets a simulated job's run time in seconds.
inline constexpr char kSimulateSecondsEnv[] = "BERTH_SIMULATE_SECONDS";

struct JobRunnerOptions {
  std::string node;
  std::string work_dir;  // required when run_commands
  bool run_commands = true;
  // More of the agent's variables for jobs: names, or prefixes ending in
  // '*' (job_env.h's CheckPassEnv).
  std::vector<std::string> pass_env;
  absl::Duration default_stop_grace = absl::Seconds(10);
  // How often the reaper looks for exits when it cannot wait on pidfds.
  absl::Duration poll_interval = absl::Milliseconds(20);
  // Jobs launched at once (commands only).
  int launch_threads = 4;
  // Without run_commands: how long a job runs unless its env sets
  // BERTH_SIMULATE_SECONDS; zero: until stopped.
  absl::Duration simulated_run = absl::ZeroDuration();
  // Finished jobs remembered for repeated Start/Stop; older ones forgotten.
  int max_finished_jobs = 4096;
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::function<void(const v1::JobStatus&)> on_status;
  std::function<void(absl::string_view)> log;
};

class JobRunner {
 public:
  // InvalidArgument without on_status, without work_dir when running
  // commands, or for a bad pass_env; FailedPrecondition when work_dir cannot
  // be created or is not private to the agent's user (the message says why).
  static absl::StatusOr<std::unique_ptr<JobRunner>> Create(JobRunnerOptions options);

  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;
  ~JobRunner();

  void Start(const v1::Job& job);
  // grace <= 0: the default grace.
  void Stop(int64_t job_id, absl::Duration grace);

  // Jobs started and not yet ended, increasing ids.
  std::vector<int64_t> RunningJobs() const;
  // For each running job whose checkpoint file exists (a plain file), the
  // file's modification time; increasing ids. Empty on simulated nodes.
  std::vector<v1::JobCheckpoint> Checkpoints() const;
  // GPU index → the plan's bytes per GPU, for GPUs of running jobs.
  absl::btree_map<int, int64_t> GpuMemoryInUse() const;
  // The process group of a running job (0 when none), for tests.
  pid_t ProcessGroup(int64_t job_id) const;

 private:
  enum class Phase { kQueued, kStarting, kRunning, kDone };
  enum class StopReason { kNone, kCancelled, kTimedOut };
  struct Entry {
    v1::Job job;
    std::vector<int> gpu_indices;  // this node's
    Phase phase = Phase::kQueued;
    pid_t pgid = 0;                                // 0: simulated
    int pidfd = -1;                                // the leader's, when the kernel has pidfds
    bool reported_running = false;                 // exits are reaped only after RUNNING is out
    absl::Time deadline = absl::InfiniteFuture();  // max run time
    absl::Duration simulated_run;                  // simulated: how long
    absl::Time simulated_end = absl::InfiniteFuture();  // simulated: SUCCEEDED then
    absl::Time kill_at = absl::InfiniteFuture();        // SIGKILL after SIGTERM
    absl::Duration grace;
    StopReason reason = StopReason::kNone;
    bool stopped = false;  // Stop() was called: a later Start() reruns it
    bool has_status = false;
    v1::JobStatus status;  // the latest reported
  };

  JobRunner(JobRunnerOptions options, PrivateDir jobs_dir);

  void ReaperLoop();
  // Waits in poll() on `fds` (the eventfd first) for at most `timeout`.
  void WaitForExits(std::vector<int> fds, absl::Duration timeout);
  // The fds the reaper waits on: the eventfd, then each running job's pidfd.
  std::vector<int> WatchedFds() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the reaper (its timers or watched jobs changed).
  void Wake() const;
  void LaunchLoop();
  void Launch(int64_t job_id);
  // A simulated job starts: RUNNING, with its end and deadline set.
  v1::JobStatus StartSimulated(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends simulated jobs whose time or max run time has come.
  void PollSimulated(absl::Time now, std::vector<v1::JobStatus>& reports)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How long the reaper may sleep: until the next max run time, SIGKILL,
  // or simulated end (at most 1 s), forever when there is none (Start(),
  // Stop() and a launch wake it); at most the poll interval while a running
  // job has no pidfd.
  absl::Duration NextPoll() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<pid_t> Spawn(const v1::Job& job);
  // Reaps exited jobs and enforces deadlines; returns statuses to report.
  std::vector<v1::JobStatus> Poll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendStop(Entry& entry, StopReason reason, absl::Duration grace, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::JobStatus Finish(Entry& entry, v1::JobState state, int exit_code, absl::string_view message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::JobStatus Exited(Entry& entry, int wait_status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetOldJobs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopAll();
  void Report(const std::vector<v1::JobStatus>& statuses) const;
  void Log(absl::string_view line) const;

  const JobRunnerOptions options_;
  PrivateDir jobs_dir_;  // <work_dir>/jobs, open; only when run_commands
  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::btree_map<int64_t, Entry> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> launch_queue_ ABSL_GUARDED_BY(mu_);
  int launching_ ABSL_GUARDED_BY(mu_) = 0;  // launches in progress
  bool launchers_stop_ ABSL_GUARDED_BY(mu_) = false;
  bool timers_changed_ ABSL_GUARDED_BY(mu_) = false;   // wakes the reaper
  std::deque<int64_t> finished_ ABSL_GUARDED_BY(mu_);  // oldest first
  UniqueFd wake_fd_;                                   // eventfd; invalid: the reaper polls
  std::vector<std::thread> launchers_;
  std::thread reaper_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENTS_JOB_RUNNER_H_
