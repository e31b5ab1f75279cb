// SchedulerCore: submissions on the callers' threads. Each spec is checked
// and admitted against the cluster as last published for admission (no
// wait for the writer), then queued for the writer's next round
// (ProcessSubmissions in core_changes.cc writes and answers it).
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/convert.h"
#include "daemon/scheduler_core.h"

namespace berth::daemon {

namespace {

// The job a submission makes, but for its submit time (the writer's):
// built on the caller's thread so that the writer neither copies the spec
// nor converts the plan.
berth::v1::Job NewJob(berth::v1::JobSpec spec, const AdmissionResult& admission,
                      int64_t default_max_runtime) {
  berth::v1::Job job;
  *job.mutable_spec() = std::move(spec);
  if (job.spec().max_runtime_seconds() == 0 && default_max_runtime > 0) {
    job.mutable_spec()->set_max_runtime_seconds(default_max_runtime);
  }
  if (admission.admitted) {
    const PoolVerdict& pool = admission.pools[admission.chosen];
    job.set_state(berth::v1::PENDING);
    job.set_gpu_type(pool.pool.gpu_type);
    *job.mutable_plan() = PlanReportOf(pool);
    // Runner-up splits belong to planning (PlanJob), not to a queued job:
    // they would be copied with the job everywhere it goes.
    job.mutable_plan()->clear_alternatives();
  } else {
    job.set_state(berth::v1::REJECTED);
    job.set_reason(admission.reason);
    if (!admission.pools.empty()) *job.mutable_plan() = PlanReportOf(admission.pools.front());
  }
  return job;
}

}  // namespace

SchedulerCore::AdmissionView SchedulerCore::CurrentAdmissionView() const {
  absl::ReaderMutexLock lock(&admission_mu_);
  return AdmissionView{.pools = pools_, .capacity = capacity_, .teams = admission_teams_};
}

absl::StatusOr<AdmissionResult> SchedulerCore::CheckAndAdmit(const berth::v1::JobSpec& spec,
                                                             const AdmissionView& view) {
  absl::StatusOr<AdmissionRequest> request = AdmissionRequestFromSpec(spec);
  if (request.ok() && view.teams != nullptr && view.teams->Find(spec.team()) == nullptr) {
    request = absl::InvalidArgumentError(absl::StrCat(
        "team \"", spec.team(), "\" is not in the teams file; teams: ", view.teams->NameList()));
  }
  if (!request.ok()) {
    if (options_.metrics != nullptr) options_.metrics->submissions_invalid.Increment();
    return request.status();
  }
  if (view.teams != nullptr) {
    std::map<std::string, int64_t> capacity;
    for (const PoolInfo& pool : view.pools) capacity[pool.gpu_type] += pool.total_gpus;
    request->team = spec.team();
    for (const auto& [type, gpus] : capacity) {
      request->team_ceilings[type] = TeamCeiling::Of(*view.teams, spec.team(), type, capacity);
    }
  }
  return Admit(*request, view.pools, *view.capacity, &plan_cache_);
}

void SchedulerCore::Submit(berth::v1::JobSpec spec, SubmitCallback done) {
  if (fenced_) {
    absl::MutexLock lock(&queue_mu_);
    done(FencedError(fence_cause_, "submission"));
    return;
  }
  absl::StatusOr<AdmissionResult> admission = CheckAndAdmit(spec, CurrentAdmissionView());
  if (!admission.ok()) {
    done(admission.status());
    return;
  }
  berth::v1::Job job = NewJob(std::move(spec), *admission, options_.default_max_runtime_seconds);
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    done(ShuttingDown());
    return;
  }
  submissions_.push_back(Submission{std::move(job), *std::move(admission), std::move(done)});
}

namespace {

// Collects the answers of a SubmitBatch's submissions (all on the writer
// thread, in one round) and answers the caller after the last. A failed
// commit (or fence, or shutdown) fails every submission of the round, so
// the first such error is the call's; a reused request id is its result's.
class BatchAnswer {
 public:
  BatchAnswer(size_t size, SchedulerCore::SubmitBatchCallback done)
      : left_(size), done_(std::move(done)) {
    response_.mutable_results()->Reserve(static_cast<int>(size));
    for (size_t i = 0; i < size; ++i) response_.add_results();
  }
  void Set(size_t i, absl::StatusOr<berth::v1::SubmitJobResponse> answer) {
    berth::v1::SubmitJobsResponse::Result& result = *response_.mutable_results(static_cast<int>(i));
    if (answer.ok()) {
      // Brief already (Submission::batch): GetJob has the spec and prose.
      *result.mutable_job() = std::move(*answer->mutable_job());
      result.set_duplicate(answer->duplicate());
    } else if (answer.status().code() == absl::StatusCode::kAlreadyExists) {
      result.set_error(std::string(answer.status().message()));
    } else if (failure_.ok()) {
      failure_ = answer.status();
    }
    if (--left_ > 0) return;
    if (!failure_.ok()) {
      done_(std::move(failure_));
    } else {
      done_(std::move(response_));
    }
  }

 private:
  size_t left_;
  SchedulerCore::SubmitBatchCallback done_;
  berth::v1::SubmitJobsResponse response_;
  absl::Status failure_;
};

}  // namespace

void SchedulerCore::SubmitBatch(std::vector<berth::v1::JobSpec> specs, SubmitBatchCallback done) {
  if (specs.empty()) {
    done(berth::v1::SubmitJobsResponse());
    return;
  }
  if (fenced_) {
    absl::MutexLock lock(&queue_mu_);
    done(FencedError(fence_cause_, "submission"));
    return;
  }
  const AdmissionView view = CurrentAdmissionView();
  std::vector<AdmissionResult> admissions;
  admissions.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StatusOr<AdmissionResult> admission = CheckAndAdmit(specs[i], view);
    if (!admission.ok()) {
      done(absl::Status(admission.status().code(),
                        absl::StrCat("specs[", i, "]: ", admission.status().message())));
      return;
    }
    admissions.push_back(*std::move(admission));
  }
  auto answer = std::make_shared<BatchAnswer>(specs.size(), std::move(done));
  std::vector<Submission> batch;
  batch.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    batch.push_back(Submission{
        .job = NewJob(std::move(specs[i]), admissions[i], options_.default_max_runtime_seconds),
        .admission = std::move(admissions[i]),
        .done =
            [answer, i](absl::StatusOr<berth::v1::SubmitJobResponse> r) {
              answer->Set(i, std::move(r));
            },
        .batch = true});
  }
  // One lock for all: the writer takes them into the same round.
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    // Not queued: answered here, once.
    for (size_t i = 0; i < batch.size(); ++i) answer->Set(i, ShuttingDown());
    return;
  }
  std::move(batch.begin(), batch.end(), std::back_inserter(submissions_));
}

}  // namespace berth::daemon
