// SchedulerService: the users' gRPC API (proto/berth/v1/scheduler.proto).
//
// Callback API; each handler authenticates the caller (daemon/auth.h: with a
// token table every call needs a bearer token; without one, development
// mode, every caller may do everything), validates what the core does not,
// calls the core and finishes. Changes finish from the core's writer thread once they
// are durable; reads finish at once.
#ifndef BERTH_DAEMON_SCHEDULER_SERVICE_H_
#define BERTH_DAEMON_SCHEDULER_SERVICE_H_

#include "berth/v1/scheduler.grpc.pb.h"
#include "common/limits.h"
#include "daemon/auth.h"
#include "daemon/reply_budget.h"
#include "daemon/scheduler_core.h"
#include "daemon/teams_file.h"

namespace berth::daemon {

class SchedulerServiceImpl final : public berth::v1::SchedulerService::CallbackService {
 public:
  // `tokens` may be null (development mode: no user authentication); it
  // must outlive the service.
  // `teams_file` (may be null: berthd runs without --teams) is the file
  // ApplyTeams writes; it must outlive the service.
  // `list_reply_budget_bytes` bounds the list replies held unsent at once
  // (daemon/reply_budget.h).
  explicit SchedulerServiceImpl(SchedulerCore* core, const TokenTable* tokens = nullptr,
                                TeamsFile* teams_file = nullptr,
                                int64_t list_reply_budget_bytes = kDefaultListReplyBudgetBytes)
      : core_(core),
        tokens_(tokens),
        teams_file_(teams_file),
        list_replies_(list_reply_budget_bytes) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const berth::v1::SubmitJobRequest* request,
                                      berth::v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* SubmitJobs(grpc::CallbackServerContext* context,
                                       const berth::v1::SubmitJobsRequest* request,
                                       berth::v1::SubmitJobsResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const berth::v1::GetJobRequest* request,
                                   berth::v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const berth::v1::ListJobsRequest* request,
                                     berth::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const berth::v1::CancelJobRequest* request,
                                      berth::v1::Job* response) override;
  grpc::ServerUnaryReactor* PlanJob(grpc::CallbackServerContext* context,
                                    const berth::v1::PlanJobRequest* request,
                                    berth::v1::PlanJobResponse* response) override;
  grpc::ServerUnaryReactor* ExplainJob(grpc::CallbackServerContext* context,
                                       const berth::v1::ExplainJobRequest* request,
                                       berth::v1::ExplainJobResponse* response) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* context,
                                      const berth::v1::ListNodesRequest* request,
                                      berth::v1::ListNodesResponse* response) override;
  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* context,
                                      const berth::v1::DrainNodeRequest* request,
                                      berth::v1::Node* response) override;
  grpc::ServerUnaryReactor* UndrainNode(grpc::CallbackServerContext* context,
                                        const berth::v1::DrainNodeRequest* request,
                                        berth::v1::Node* response) override;
  grpc::ServerUnaryReactor* ReportCheckpoint(
      grpc::CallbackServerContext* context, const berth::v1::ReportCheckpointRequest* request,
      berth::v1::ReportCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* BackupDatabase(grpc::CallbackServerContext* context,
                                           const berth::v1::BackupDatabaseRequest* request,
                                           berth::v1::BackupDatabaseResponse* response) override;
  grpc::ServerUnaryReactor* PruneJobs(grpc::CallbackServerContext* context,
                                      const berth::v1::PruneJobsRequest* request,
                                      berth::v1::PruneJobsResponse* response) override;
  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* context,
                                       const berth::v1::ListEventsRequest* request,
                                       berth::v1::ListEventsResponse* response) override;
  grpc::ServerUnaryReactor* ListTeams(grpc::CallbackServerContext* context,
                                      const berth::v1::ListTeamsRequest* request,
                                      berth::v1::ListTeamsResponse* response) override;
  grpc::ServerUnaryReactor* ApplyTeams(grpc::CallbackServerContext* context,
                                       const berth::v1::ApplyTeamsRequest* request,
                                       berth::v1::ApplyTeamsResponse* response) override;
  grpc::ServerUnaryReactor* GetTeams(grpc::CallbackServerContext* context,
                                     const berth::v1::GetTeamsRequest* request,
                                     berth::v1::GetTeamsResponse* response) override;

 private:
  // The caller of this call: Unauthenticated without a known token.
  absl::StatusOr<Caller> Authenticate(const grpc::CallbackServerContext* context) const;

  SchedulerCore* core_;
  const TokenTable* tokens_;
  TeamsFile* teams_file_;
  ReplyBudget list_replies_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_SCHEDULER_SERVICE_H_
