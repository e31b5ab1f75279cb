// SchedulerCore: submissions on the callers' threads. Each spec is checked
// and admitted against the cluster as last published for admission (no
// wait for the writer), then queued for the writer's next round
// (ProcessSubmissions in core_changes.cc writes and answers it).
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/convert.h"
#include "daemon/scheduler_core.h"

namespace berth::daemon {

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
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    done(ShuttingDown());
    return;
  }
  submissions_.push_back(Submission{std::move(spec), *std::move(admission), std::move(done)});
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
      berth::v1::Job& job = *result.mutable_job();
      job = *std::move(answer->mutable_job());
      // The caller sent the spec; GetJob has the plan's prose.
      job.clear_spec();
      job.mutable_plan()->clear_explanation();
      job.mutable_plan()->clear_launch();
      job.mutable_plan()->clear_alternatives();
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
  // One lock for all: the writer takes them into the same round.
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    // Not queued: answered here, once.
    for (size_t i = 0; i < specs.size(); ++i) answer->Set(i, ShuttingDown());
    return;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    submissions_.push_back(Submission{std::move(specs[i]), std::move(admissions[i]),
                                      [answer, i](absl::StatusOr<berth::v1::SubmitJobResponse> r) {
                                        answer->Set(i, std::move(r));
                                      },
                                      /*rejected_as_job=*/true});
  }
}

}  // namespace berth::daemon
