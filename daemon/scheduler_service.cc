#include "daemon/scheduler_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/limits.h"
#include "daemon/grpc_status.h"

namespace berth::daemon {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// Finishes `reactor` with `result`, copying the value into `response`.
template <typename T>
void Finish(ServerUnaryReactor* reactor, T* response, absl::StatusOr<T> result) {
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
}

ServerUnaryReactor* Reject(CallbackServerContext* context, const absl::Status& status) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Admin calls: the caller must be known and an admin.
absl::Status AuthorizeCaller(const absl::StatusOr<Caller>& caller, absl::string_view what) {
  if (!caller.ok()) return caller.status();
  return AuthorizeAdmin(*caller, what);
}

absl::Status CheckId(int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("id: must be positive, got ", id));
  return absl::OkStatus();
}

// ListJobs' submit-time range: bounds ≥ 0 (0: none), after before before.
absl::Status CheckTimeRange(int64_t after_ms, int64_t before_ms) {
  if (after_ms < 0 || before_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        after_ms < 0 ? "submitted_after_ms" : "submitted_before_ms", ": must be ≥ 0 (Unix ms)"));
  }
  if (before_ms > 0 && after_ms >= before_ms) {
    return absl::InvalidArgumentError(absl::StrCat("submitted_after_ms (", after_ms,
                                                   ") must be before submitted_before_ms (",
                                                   before_ms, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckNodeName(const std::string& name) {
  if (name.empty() || name.size() > 253) {
    return absl::InvalidArgumentError("name: a node name of 1 to 253 characters is required");
  }
  return absl::OkStatus();
}

// ListEvents: at most this many events per call; 0 asks for the default.
constexpr int kMaxEvents = 10000;
constexpr int kDefaultEvents = 100;

absl::Status CheckEventsRequest(const berth::v1::ListEventsRequest& request) {
  if (request.job_id() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_id: must be 0 (every job) or a job id, got ", request.job_id()));
  }
  if (request.node().size() > 253) {
    return absl::InvalidArgumentError("node: a node name has at most 253 characters");
  }
  if (request.after_id() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_id: must be 0 or more, got ", request.after_id()));
  }
  if (request.limit() < 0 || request.limit() > kMaxEvents) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be in [0, ", kMaxEvents, "], got ", request.limit()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Caller> SchedulerServiceImpl::Authenticate(
    const CallbackServerContext* context) const {
  // Development mode: anyone may do anything, and specs keep their team.
  if (tokens_ == nullptr) return Caller{.name = "anonymous", .admin = true};
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kAuthorizationMetadata);
  if (it == metadata.end()) return tokens_->Authenticate("");
  return tokens_->Authenticate(absl::string_view(it->second.data(), it->second.size()));
}

ServerUnaryReactor* SchedulerServiceImpl::SubmitJob(CallbackServerContext* context,
                                                    const berth::v1::SubmitJobRequest* request,
                                                    berth::v1::SubmitJobResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  berth::v1::JobSpec spec = request->spec();
  if (absl::Status s = AuthorizeSubmit(*caller, spec); !s.ok()) return Reject(context, s);
  ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Submit(std::move(spec),
                [reactor, response](absl::StatusOr<berth::v1::SubmitJobResponse> result) {
                  Finish(reactor, response, std::move(result));
                });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::SubmitJobs(CallbackServerContext* context,
                                                     const berth::v1::SubmitJobsRequest* request,
                                                     berth::v1::SubmitJobsResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (request->specs_size() > kMaxSubmitBatch) {
    return Reject(context, absl::InvalidArgumentError(absl::StrCat(
                               "specs: ", request->specs_size(), " jobs is over the limit of ",
                               kMaxSubmitBatch, " a call; submit them in several calls")));
  }
  std::vector<berth::v1::JobSpec> specs(request->specs().begin(), request->specs().end());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (absl::Status s = AuthorizeSubmit(*caller, specs[i]); !s.ok()) {
      return Reject(context, absl::Status(s.code(), absl::StrCat("specs[", i, "]: ", s.message())));
    }
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->SubmitBatch(std::move(specs),
                     [reactor, response](absl::StatusOr<berth::v1::SubmitJobsResponse> result) {
                       Finish(reactor, response, std::move(result));
                     });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::GetJob(CallbackServerContext* context,
                                                 const berth::v1::GetJobRequest* request,
                                                 berth::v1::Job* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (absl::Status s = CheckId(request->id()); !s.ok()) return Reject(context, s);
  ServerUnaryReactor* reactor = context->DefaultReactor();
  // From memory, or from the file for an ended job dropped from memory;
  // another team's job is PERMISSION_DENIED (its spec holds env values).
  const int64_t id = request->id();
  core_->LookupJob(
      id, [caller = *caller, id, reactor, response](absl::StatusOr<berth::v1::Job> job) {
        if (job.ok()) {
          if (absl::Status s = AuthorizeJobAccess(caller, id, job->spec().team()); !s.ok()) job = s;
        }
        Finish(reactor, response, std::move(job));
      });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::ListJobs(CallbackServerContext* context,
                                                   const berth::v1::ListJobsRequest* request,
                                                   berth::v1::ListJobsResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (request->limit() < 0 || request->limit() > 10000) {
    return Reject(context, absl::InvalidArgumentError("limit: must be in [0, 10000]"));
  }
  if (request->before_id() < 0) {
    return Reject(context, absl::InvalidArgumentError("before_id: must be ≥ 0"));
  }
  if (absl::Status s =
          CheckTimeRange(request->submitted_after_ms(), request->submitted_before_ms());
      !s.ok()) {
    return Reject(context, s);
  }
  for (int state : request->states()) {
    if (!berth::v1::JobState_IsValid(state)) {
      return Reject(context,
                    absl::InvalidArgumentError(absl::StrCat("states: unknown job state ", state)));
    }
  }
  // A caller who is not an admin lists their own team's jobs.
  berth::v1::ListJobsRequest scoped = *request;
  if (!caller->admin) {
    if (!scoped.team().empty() && scoped.team() != caller->team) {
      return Reject(context, absl::PermissionDeniedError(absl::StrCat(
                                 "team: ", caller->name, " may list the jobs of team \"",
                                 caller->team, "\" only (not an admin)")));
    }
    scoped.set_team(caller->team);
  }
  auto* reactor = new BudgetedReactor(&list_replies_);
  *response = core_->ListJobs(scoped);
  absl::Status held = reactor->Take(static_cast<int64_t>(response->ByteSizeLong()), "ListJobs");
  if (!held.ok()) response->Clear();
  reactor->Finish(ToGrpcStatus(held));
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::CancelJob(CallbackServerContext* context,
                                                    const berth::v1::CancelJobRequest* request,
                                                    berth::v1::Job* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (absl::Status s = CheckId(request->id()); !s.ok()) return Reject(context, s);
  ServerUnaryReactor* reactor = context->DefaultReactor();
  SchedulerCore* core = core_;
  const int64_t id = request->id();
  auto cancel = [core, id, reactor, response] {
    core->Cancel(id, [reactor, response](absl::StatusOr<berth::v1::Job> result) {
      Finish(reactor, response, std::move(result));
    });
  };
  if (caller->admin) {  // admins may cancel any job
    cancel();
    return reactor;
  }
  // A job's team never changes after submission, so checking it first, before
  // the cancel is queued, cannot race. LookupJob also finds an ended job that
  // left memory, so another team's old job is PERMISSION_DENIED, not NOT_FOUND.
  core_->LookupJob(id, [caller = *caller, id, reactor, cancel](absl::StatusOr<berth::v1::Job> job) {
    if (!job.ok()) {
      reactor->Finish(ToGrpcStatus(job.status()));
      return;
    }
    if (absl::Status s = AuthorizeJobAccess(caller, id, job->spec().team()); !s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return;
    }
    cancel();
  });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::PlanJob(CallbackServerContext* context,
                                                  const berth::v1::PlanJobRequest* request,
                                                  berth::v1::PlanJobResponse* response) {
  if (absl::StatusOr<Caller> caller = Authenticate(context); !caller.ok()) {
    return Reject(context, caller.status());
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  Finish(reactor, response, core_->Plan(request->spec()));
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::ExplainJob(CallbackServerContext* context,
                                                     const berth::v1::ExplainJobRequest* request,
                                                     berth::v1::ExplainJobResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (absl::Status s = CheckId(request->id()); !s.ok()) return Reject(context, s);
  ServerUnaryReactor* reactor = context->DefaultReactor();
  if (caller->admin) {
    Finish(reactor, response, core_->Explain(request->id()));
    return reactor;
  }
  const int64_t id = request->id();
  SchedulerCore* core = core_;
  core_->LookupJob(
      id, [caller = *caller, id, core, reactor, response](absl::StatusOr<berth::v1::Job> job) {
        if (!job.ok()) {
          reactor->Finish(ToGrpcStatus(job.status()));
          return;
        }
        if (absl::Status s = AuthorizeJobAccess(caller, id, job->spec().team()); !s.ok()) {
          reactor->Finish(ToGrpcStatus(s));
          return;
        }
        Finish(reactor, response, core->Explain(id));
      });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::ListNodes(CallbackServerContext* context,
                                                    const berth::v1::ListNodesRequest* request,
                                                    berth::v1::ListNodesResponse* response) {
  if (absl::StatusOr<Caller> caller = Authenticate(context); !caller.ok()) {
    return Reject(context, caller.status());
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  *response = core_->ListNodes();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// Read-only, for any authenticated user: quotas and use are no secret
// between the teams that share a cluster.
ServerUnaryReactor* SchedulerServiceImpl::ListTeams(CallbackServerContext* context,
                                                    const berth::v1::ListTeamsRequest* request,
                                                    berth::v1::ListTeamsResponse* response) {
  if (absl::StatusOr<Caller> caller = Authenticate(context); !caller.ok()) {
    return Reject(context, caller.status());
  }
  absl::StatusOr<berth::v1::ListTeamsResponse> teams = core_->ListTeams();
  if (!teams.ok()) return Reject(context, teams.status());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  *response = *std::move(teams);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

absl::Status NoTeamsFile() {
  return absl::FailedPreconditionError(
      "berthd runs without a teams file: start it with --teams FILE to use teams");
}

}  // namespace

// Admins only. The text is checked here (its size, then line and field);
// the core checks it against the live jobs, has the file written, and only
// then takes it into force.
ServerUnaryReactor* SchedulerServiceImpl::ApplyTeams(CallbackServerContext* context,
                                                     const berth::v1::ApplyTeamsRequest* request,
                                                     berth::v1::ApplyTeamsResponse* response) {
  if (absl::Status s = AuthorizeCaller(Authenticate(context), "apply a teams file"); !s.ok()) {
    return Reject(context, s);
  }
  if (teams_file_ == nullptr) return Reject(context, NoTeamsFile());
  absl::StatusOr<TeamsConfig> next = CheckTeamsText(request->yaml(), request->source());
  if (!next.ok()) return Reject(context, next.status());
  response->set_teams(static_cast<int32_t>(next->teams.size()));
  response->set_path(teams_file_->path());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->dry_run()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  core_->ApplyTeams(
      std::make_shared<const TeamsConfig>(*std::move(next)),
      [file = teams_file_, yaml = request->yaml()] { return file->Replace(yaml); },
      [reactor, response](absl::Status status) {
        response->set_applied(status.ok());
        reactor->Finish(ToGrpcStatus(std::move(status)));
      });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::GetTeams(CallbackServerContext* context,
                                                   const berth::v1::GetTeamsRequest* request,
                                                   berth::v1::GetTeamsResponse* response) {
  if (absl::Status s = AuthorizeCaller(Authenticate(context), "show the teams file"); !s.ok()) {
    return Reject(context, s);
  }
  if (teams_file_ == nullptr) return Reject(context, NoTeamsFile());
  response->set_yaml(teams_file_->Text());
  response->set_path(teams_file_->path());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::DrainNode(CallbackServerContext* context,
                                                    const berth::v1::DrainNodeRequest* request,
                                                    berth::v1::Node* response) {
  if (absl::Status s = AuthorizeCaller(Authenticate(context), "drain"); !s.ok()) {
    return Reject(context, s);
  }
  if (absl::Status s = CheckNodeName(request->name()); !s.ok()) return Reject(context, s);
  ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->SetDrained(request->name(), true,
                    [reactor, response](absl::StatusOr<berth::v1::Node> result) {
                      Finish(reactor, response, std::move(result));
                    });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::UndrainNode(CallbackServerContext* context,
                                                      const berth::v1::DrainNodeRequest* request,
                                                      berth::v1::Node* response) {
  if (absl::Status s = AuthorizeCaller(Authenticate(context), "undrain"); !s.ok()) {
    return Reject(context, s);
  }
  if (absl::Status s = CheckNodeName(request->name()); !s.ok()) return Reject(context, s);
  ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->SetDrained(request->name(), false,
                    [reactor, response](absl::StatusOr<berth::v1::Node> result) {
                      Finish(reactor, response, std::move(result));
                    });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::BackupDatabase(
    CallbackServerContext* context, const berth::v1::BackupDatabaseRequest* request,
    berth::v1::BackupDatabaseResponse* response) {
  if (absl::Status s = AuthorizeCaller(Authenticate(context), "backup"); !s.ok()) {
    return Reject(context, s);
  }
  const std::string& path = request->path();
  if (path.empty() || path.front() != '/' || path.size() > 4096 ||
      path.find('\0') != std::string::npos) {
    return Reject(context, absl::InvalidArgumentError(
                               "path: an absolute path of at most 4096 bytes is required"));
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Backup(path, [reactor, response, path](absl::StatusOr<int64_t> bytes) {
    if (bytes.ok()) {
      response->set_path(path);
      response->set_bytes(static_cast<double>(*bytes));
    }
    reactor->Finish(ToGrpcStatus(bytes.status()));
  });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::PruneJobs(CallbackServerContext* context,
                                                    const berth::v1::PruneJobsRequest* request,
                                                    berth::v1::PruneJobsResponse* response) {
  if (absl::Status s = AuthorizeCaller(Authenticate(context), "prune"); !s.ok()) {
    return Reject(context, s);
  }
  if (request->older_than_ms() < 0 || request->older_than_ms() > kMaxRetentionAgeMs) {
    return Reject(context,
                  absl::InvalidArgumentError(absl::StrCat(
                      "older_than_ms: must be in [0, ", kMaxRetentionAgeMs,
                      "] (0: berthd's --retain_ended_for), got ", request->older_than_ms())));
  }
  if (request->keep_jobs() < 0 || request->keep_jobs() > kMaxRetentionJobs) {
    return Reject(context, absl::InvalidArgumentError(absl::StrCat(
                               "keep_jobs: must be in [0, ", kMaxRetentionJobs,
                               "] (0: berthd's --retain_jobs), got ", request->keep_jobs())));
  }
  ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Prune(request->older_than_ms(), request->keep_jobs(),
               [reactor, response](absl::StatusOr<PruneCounts> deleted) {
                 if (deleted.ok()) {
                   response->set_jobs(deleted->jobs);
                   response->set_events(deleted->events);
                 }
                 reactor->Finish(ToGrpcStatus(deleted.status()));
               });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::ListEvents(CallbackServerContext* context,
                                                     const berth::v1::ListEventsRequest* request,
                                                     berth::v1::ListEventsResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (absl::Status s = CheckEventsRequest(*request); !s.ok()) return Reject(context, s);
  // The whole log names every team's jobs: admins read it; others read the
  // events of one job of their team.
  if (!caller->admin && request->job_id() == 0) {
    return Reject(context, absl::PermissionDeniedError(absl::StrCat(
                               "job_id: the whole event log is for admins; ", caller->name,
                               " may read the events of their team's jobs (berth events JOB)")));
  }
  db::EventQuery query{.job_id = request->job_id(),
                       .node = request->node(),
                       .after_id = request->after_id(),
                       .limit = request->limit() == 0 ? kDefaultEvents : request->limit()};
  auto* reactor = new BudgetedReactor(&list_replies_);
  SchedulerCore* core = core_;
  auto list = [core, query = std::move(query), reactor, response]() mutable {
    core->ListEvents(
        std::move(query), [reactor, response](absl::StatusOr<std::vector<db::Event>> events) {
          if (events.ok()) {
            // The newest that fit in kMaxReplyBytes (events
            // come oldest first): a reply stays bounded
            // whatever the events' sizes.
            size_t first = events->size();
            for (size_t bytes = 0; first > 0; --first) {
              const db::Event& e = (*events)[first - 1];
              bytes += e.node.size() + e.kind.size() + e.message.size() + 32;
              if (bytes > kMaxReplyBytes && first < events->size()) break;
            }
            for (db::Event& event : absl::MakeSpan(*events).subspan(first)) {
              berth::v1::Event* out = response->add_events();
              out->set_id(event.id);
              out->set_time_ms(event.time_ms);
              out->set_job_id(event.job_id);
              out->set_node(std::move(event.node));
              out->set_kind(std::move(event.kind));
              out->set_message(std::move(event.message));
            }
          }
          absl::Status status = events.status();
          if (status.ok()) {
            status = reactor->Take(static_cast<int64_t>(response->ByteSizeLong()), "ListEvents");
            if (!status.ok()) response->Clear();
          }
          reactor->Finish(ToGrpcStatus(status));
        });
  };
  if (caller->admin) {
    list();
    return reactor;
  }
  const int64_t id = request->job_id();
  core_->LookupJob(id, [caller = *caller, id, reactor,
                        list = std::move(list)](absl::StatusOr<berth::v1::Job> job) mutable {
    if (job.ok()) {
      if (absl::Status s = AuthorizeJobAccess(caller, id, job->spec().team()); !s.ok()) job = s;
    }
    if (!job.ok()) {
      reactor->Finish(ToGrpcStatus(job.status()));
      return;
    }
    list();
  });
  return reactor;
}

ServerUnaryReactor* SchedulerServiceImpl::ReportCheckpoint(
    CallbackServerContext* context, const berth::v1::ReportCheckpointRequest* request,
    berth::v1::ReportCheckpointResponse* response) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Reject(context, caller.status());
  if (absl::Status s = CheckId(request->id()); !s.ok()) return Reject(context, s);
  if (request->time_ms() < 0) {
    return Reject(context, absl::InvalidArgumentError("time_ms: must be 0 (now) or Unix ms"));
  }
  // A job of the caller's team (admins: any job).
  absl::StatusOr<berth::v1::Job> job = core_->GetJob(request->id());
  if (job.ok() && !caller->admin) {
    if (absl::Status s = AuthorizeJobAccess(*caller, request->id(), job->spec().team()); !s.ok()) {
      return Reject(context, s);
    }
  }
  absl::StatusOr<int64_t> recorded = core_->ReportCheckpoint(request->id(), request->time_ms());
  ServerUnaryReactor* reactor = context->DefaultReactor();
  if (recorded.ok()) response->set_time_ms(*recorded);
  reactor->Finish(ToGrpcStatus(recorded.status()));
  return reactor;
}

}  // namespace berth::daemon
