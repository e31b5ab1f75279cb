// The job and node verbs against a fake SchedulerService on 127.0.0.1 (an
// in-process gRPC server on a port the system picks): exit codes, retries
// of UNAVAILABLE with the same request id, and the requests sent.
#include "cli/job_commands.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "berth/v1/scheduler.grpc.pb.h"
#include "cli/node_commands.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using berth::v1::SchedulerService;

// Answers from fields the test sets; records what it was asked.
class FakeScheduler final : public SchedulerService::CallbackService {
 public:
  int unavailable_submits = 0;  // fail this many submits first
  grpc::Status submit_status = grpc::Status::OK;
  berth::v1::Job job;
  std::vector<std::string> request_ids;
  berth::v1::ListJobsRequest list_request;

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const berth::v1::SubmitJobRequest* request,
                                      berth::v1::SubmitJobResponse* response) override {
    request_ids.push_back(request->spec().request_id());
    grpc::Status status = submit_status;
    if (static_cast<int>(request_ids.size()) <= unavailable_submits) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "starting up");
    }
    *response->mutable_job() = job;
    return Finish(context, status);
  }
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const berth::v1::GetJobRequest* request,
                                   berth::v1::Job* response) override {
    if (request->id() != job.id()) {
      return Finish(context, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                          absl::StrCat("no job ", request->id())));
    }
    *response = job;
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const berth::v1::ListJobsRequest* request,
                                     berth::v1::ListJobsResponse* response) override {
    list_request = *request;
    *response->add_jobs() = job;
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* context,
                                      const berth::v1::DrainNodeRequest* request,
                                      berth::v1::Node* response) override {
    response->set_name(request->name());
    response->set_state(berth::v1::DRAINED);
    return Finish(context, grpc::Status::OK);
  }

 private:
  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }
};

class JobCommandsTest : public testing::Test {
 protected:
  void SetUp() override {
    service_.job.set_id(5);
    service_.job.set_state(berth::v1::PENDING);
    service_.job.set_gpu_type("h100-80gb");
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    client_.daemon = absl::StrCat("127.0.0.1:", port);
    client_.retry.initial_backoff = absl::Milliseconds(1);
    spec_path_ = testing::TempDir() + "/job_commands_test.json";
    std::ofstream(spec_path_) << R"({"team": "nlp", "task": "train",
        "model": {"catalog_name": "llama-2-7b"}})";
  }
  void TearDown() override { server_->Shutdown(); }

  FakeScheduler service_;
  std::unique_ptr<grpc::Server> server_;
  ClientOptions client_;
  std::string spec_path_;
  std::ostringstream out_, err_;
};

TEST_F(JobCommandsTest, SubmitRetriesUnavailableWithOneRequestId) {
  service_.unavailable_submits = 2;
  int code = RunSubmit({.client = client_, .files = {spec_path_}}, out_, err_);
  EXPECT_EQ(code, kExitOk) << err_.str();
  // Two UNAVAILABLE answers, then the job: three requests, one id.
  ASSERT_EQ(service_.request_ids.size(), 3u);
  EXPECT_EQ(service_.request_ids[0].size(), 32u);
  EXPECT_EQ(service_.request_ids[1], service_.request_ids[0]);
  EXPECT_EQ(service_.request_ids[2], service_.request_ids[0]);
  EXPECT_TRUE(absl::StartsWith(out_.str(), "job 5: PENDING\n")) << out_.str();
}

TEST_F(JobCommandsTest, SubmitExitCodesFollowTheStatus) {
  struct Case {
    grpc::StatusCode code;
    int exit_code;
  };
  for (Case c : {Case{grpc::StatusCode::FAILED_PRECONDITION, kExitRefused},
                 Case{grpc::StatusCode::INVALID_ARGUMENT, kExitUsage}}) {
    service_.submit_status = grpc::Status(c.code, "no pool can hold it");
    std::ostringstream out, err;
    EXPECT_EQ(RunSubmit({.client = client_, .files = {spec_path_}}, out, err), c.exit_code);
    EXPECT_TRUE(absl::StrContains(err.str(), "no pool can hold it")) << err.str();
  }
  EXPECT_EQ(service_.request_ids.size(), 2u);  // neither was retried
}

TEST_F(JobCommandsTest, SubmitOfABadFileNeverCallsTheDaemon) {
  std::string yaml = testing::TempDir() + "/job.yaml";
  EXPECT_EQ(RunSubmit({.client = client_, .files = {yaml}}, out_, err_), kExitUsage);
  EXPECT_TRUE(service_.request_ids.empty());
}

TEST_F(JobCommandsTest, JobNotFoundIsExitCode4) {
  EXPECT_EQ(RunJob({.client = client_, .id = "6"}, out_, err_), kExitNotFound);
  EXPECT_TRUE(absl::StrContains(err_.str(), "no job 6")) << err_.str();
  std::ostringstream out, err;
  EXPECT_EQ(RunJob({.client = client_, .id = "5"}, out, err), kExitOk);
  EXPECT_TRUE(absl::StartsWith(out.str(), "job 5")) << out.str();
}

TEST_F(JobCommandsTest, JobsSendsFiltersAndPrintsAnArray) {
  client_.json = true;
  JobsOptions options{
      .client = client_, .states = {"pending,Running", "placed"}, .team = "nlp", .limit = "10"};
  EXPECT_EQ(RunJobs(options, out_, err_), kExitOk) << err_.str();
  EXPECT_EQ(service_.list_request.states_size(), 3);
  EXPECT_EQ(service_.list_request.states(1), berth::v1::RUNNING);
  EXPECT_EQ(service_.list_request.team(), "nlp");
  EXPECT_EQ(service_.list_request.limit(), 10);
  EXPECT_TRUE(absl::StartsWith(out_.str(), "[\n{")) << out_.str();
}

TEST(BuildListJobsRequestTest, SinceIsADurationBackOrAnRfc3339Time) {
  const absl::Time now = absl::FromUnixMillis(1'800'000'000'000);
  auto two_hours = BuildListJobsRequest({.since = "2h"}, now);
  ASSERT_TRUE(two_hours.ok()) << two_hours.status();
  EXPECT_EQ(two_hours->submitted_after_ms(), 1'800'000'000'000 - 7'200'000);
  auto at = BuildListJobsRequest({.since = "2026-12-02T18:00:00Z"}, now);
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(at->submitted_after_ms(), 1'796'234'400'000);
  EXPECT_EQ(BuildListJobsRequest({}, now)->submitted_after_ms(), 0);
  for (const char* bad : {"-1h", "0s", "yesterday", "2026-13-01T00:00:00Z"}) {
    auto refused = BuildListJobsRequest({.since = bad}, now);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(refused.status().message(), "--since:")) << bad;
  }
}

TEST_F(JobCommandsTest, BadFlagsAreExitCode2) {
  EXPECT_EQ(RunJobs({.client = client_, .limit = "0"}, out_, err_), kExitUsage);
  EXPECT_EQ(RunCancel({.client = client_, .id = "-3"}, out_, err_), kExitUsage);
  EXPECT_TRUE(absl::StrContains(err_.str(), "berth jobs: --limit:")) << err_.str();
}

TEST_F(JobCommandsTest, DrainPrintsTheNewState) {
  EXPECT_EQ(RunDrain({.client = client_, .node = "gpu-a"}, out_, err_), kExitOk);
  EXPECT_EQ(out_.str(), "node gpu-a: DRAINED\n");
}

// A method the fake does not implement answers UNIMPLEMENTED: exit code 1.
TEST_F(JobCommandsTest, UnimplementedIsAnInternalError) {
  EXPECT_EQ(RunNodes({.client = client_}, out_, err_), kExitInternal);
}

}  // namespace
}  // namespace berth::cli
