#include "cli/submit_batch.h"

#include <sstream>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The indices, or {-1} when the text is refused.
std::vector<int32_t> Indices(const std::string& text) {
  absl::StatusOr<std::vector<int32_t>> parsed = ParseArrayIndices(text);
  return parsed.ok() ? *parsed : std::vector<int32_t>{-1};
}

TEST(ParseArrayIndicesTest, ReadsSlurmsSyntax) {
  EXPECT_THAT(Indices("7"), ElementsAre(7));
  EXPECT_THAT(Indices("1-4"), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(Indices("0-15:4"), ElementsAre(0, 4, 8, 12));
  EXPECT_THAT(Indices("1,3,5-7"), ElementsAre(1, 3, 5, 6, 7));
  EXPECT_THAT(Indices("0-999999:999999"), ElementsAre(0, 999999));
  absl::StatusOr<std::vector<int32_t>> sweep = ParseArrayIndices("1-500");
  ASSERT_TRUE(sweep.ok());
  EXPECT_EQ(sweep->size(), 500u);
}

TEST(ParseArrayIndicesTest, RefusesWhatIsNotAnArrayNamingTheFlag) {
  for (const char* bad : {"", "a", "-3", "5-", "4-1", "1:2", "0-10:0", "0-10:x", "1,,2", "1000000",
                          "+3", "1-2-3", "3,3", "1-5,4"}) {
    absl::StatusOr<std::vector<int32_t>> parsed = ParseArrayIndices(bad);
    EXPECT_THAT(parsed.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--array: ")) << bad;
  }
  EXPECT_THAT(ParseArrayIndices("3,3").status().message(), HasSubstr("index 3 is given twice"));
  EXPECT_THAT(ParseArrayIndices("0-10000").status().message(), HasSubstr("more than 10000 jobs"));
  EXPECT_THAT(ParseArrayIndices("0-9999"), IsOk());
}

berth::v1::JobSpec Spec(const std::string& name, const std::string& request_id = "") {
  berth::v1::JobSpec spec;
  spec.set_name(name);
  spec.set_request_id(request_id);
  return spec;
}

TEST(BuildSubmitJobsRequestTest, AnArrayGivesEachJobItsIndexAndItsOwnRequestId) {
  absl::StatusOr<berth::v1::SubmitJobsRequest> request =
      BuildSubmitJobsRequest({Spec("eval")}, "3,10-11", "cafe");
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->specs_size(), 3);
  EXPECT_EQ(request->specs(0).array_index(), 3);
  EXPECT_EQ(request->specs(2).array_index(), 11);
  EXPECT_EQ(request->specs(0).request_id(), "cafe/0");
  EXPECT_EQ(request->specs(2).request_id(), "cafe/2");
  EXPECT_EQ(request->specs(1).name(), "eval");

  // A spec's own id stays stable across retries: the index is appended.
  request = BuildSubmitJobsRequest({Spec("eval", "nightly")}, "0-1", "cafe");
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->specs(0).request_id(), "nightly[0]");
  EXPECT_EQ(request->specs(1).request_id(), "nightly[1]");
}

TEST(BuildSubmitJobsRequestTest, SeveralFilesKeepTheirOwnIdsAndGetNoIndex) {
  absl::StatusOr<berth::v1::SubmitJobsRequest> request =
      BuildSubmitJobsRequest({Spec("a", "mine"), Spec("b")}, std::nullopt, "cafe");
  ASSERT_TRUE(request.ok());
  ASSERT_EQ(request->specs_size(), 2);
  EXPECT_EQ(request->specs(0).request_id(), "mine");
  EXPECT_EQ(request->specs(1).request_id(), "cafe/1");
  EXPECT_FALSE(request->specs(0).has_array_index());
  EXPECT_FALSE(request->specs(1).has_array_index());
}

TEST(BuildSubmitJobsRequestTest, RefusesMoreThanOneCallHolds) {
  absl::StatusOr<berth::v1::SubmitJobsRequest> request =
      BuildSubmitJobsRequest({Spec("a"), Spec("b"), Spec("c")}, "0-3999", "cafe");
  EXPECT_THAT(request.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(request.status().message(),
              HasSubstr("12000 jobs (3 files × 4000 indices) is over the limit of 10000"));
}

TEST(PrintBatchSubmittedTest, RangesOfIdsThenEachRefusal) {
  berth::v1::SubmitJobsResponse response;
  for (int id : {101, 102, 103, 105}) {
    auto* r = response.add_results();
    r->mutable_job()->set_id(id);
    r->mutable_job()->set_state(berth::v1::PENDING);
  }
  auto* rejected = response.add_results();
  rejected->mutable_job()->set_id(106);
  rejected->mutable_job()->set_state(berth::v1::REJECTED);
  rejected->mutable_job()->set_reason("needs 9 GPUs;\x1b[2J more");
  response.add_results()->set_error("request_id x was used by job 7");
  std::ostringstream out;
  PrintBatchSubmitted(response, out);
  EXPECT_EQ(out.str(),
            "submitted 4 jobs: 101-103, 105\n"
            "job 106: REJECTED: needs 9 GPUs;\\x1b[2J more\n"
            "spec 5: not submitted: request_id x was used by job 7\n");
  EXPECT_EQ(BatchExitCode(response), 3);
  response.mutable_results()->DeleteSubrange(4, 2);
  EXPECT_EQ(BatchExitCode(response), 0);
}

}  // namespace
}  // namespace berth::cli
