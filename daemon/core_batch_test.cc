// SubmitBatch (the SubmitJobs RPC: job arrays and several spec files): all
// queued in one transaction or none, a refused job a REJECTED result, a
// retried call the same jobs.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/core_test_fixture.h"
#include "daemon/state_convert.h"
#include "google/protobuf/util/message_differencer.h"

namespace berth::daemon {
namespace {

using berth::v1::JobSpec;

class CoreBatchTest : public CoreFixture {
 protected:
  std::vector<JobSpec> Array(const std::string& model, int n, const std::string& id) {
    std::vector<JobSpec> specs;
    for (int i = 0; i < n; ++i) {
      specs.push_back(TrainSpec(model, id + "[" + std::to_string(i) + "]"));
      specs.back().set_array_index(i);
    }
    return specs;
  }
};

TEST_F(CoreBatchTest, AnArrayIsQueuedInOrderWithItsIndices) {
  Register("n1", "h100-80gb", 8);
  auto response = SubmitBatch(Array("llama-2-7b", 6, "sweep"));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 6);
  const int64_t first = response->results(0).job().id();
  for (int i = 0; i < 6; ++i) {
    const auto& result = response->results(i);
    EXPECT_TRUE(result.error().empty());
    EXPECT_FALSE(result.duplicate());
    EXPECT_EQ(result.job().id(), first + i);
    EXPECT_NE(result.job().state(), berth::v1::REJECTED);
    EXPECT_FALSE(result.job().has_spec());  // the caller sent it
    EXPECT_GT(result.job().plan().gpus(), 0);
    EXPECT_EQ(result.job().plan().explanation_size(), 0);  // GetJob has the prose
    auto stored = core_->GetJob(first + i);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->spec().array_index(), i);
    EXPECT_GT(stored->plan().explanation_size(), 0);
    EXPECT_EQ(stored->plan().tp(), result.job().plan().tp());
  }
  Sync();
  EXPECT_GE(notifier_.starts(), 1);  // the ones that fit now were placed
}

// Every field of `message` set away from its default, nested ones too.
void FillEveryField(google::protobuf::Message& message, int depth = 0) {
  using google::protobuf::FieldDescriptor;
  ASSERT_LT(depth, 4) << "a recursive message";
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  const google::protobuf::Reflection* r = message.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        r->AddString(&message, f, "line");
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        FillEveryField(*r->AddMessage(&message, f), depth + 1);
      } else {
        ADD_FAILURE() << "fill " << f->full_name() << " here";
      }
      continue;
    }
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(&message, f, 100 + i);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(&message, f, 1000 + i);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(&message, f, 0.5 + i);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(&message, f, true);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(&message, f, "value " + std::to_string(i));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        FillEveryField(*r->MutableMessage(&message, f), depth + 1);
        break;
      default:
        ADD_FAILURE() << "fill " << f->full_name() << " here";
    }
  }
}

// A field added to PlanReport must be copied by PlanWithoutProse too, or
// SubmitJobs answers would lose it.
TEST(PlanWithoutProseTest, CopiesEveryFieldButExplanationAlternativesAndLaunch) {
  berth::v1::PlanReport plan;
  FillEveryField(plan);
  const berth::v1::PlanReport brief = PlanWithoutProse(plan);
  EXPECT_EQ(brief.explanation_size(), 0);
  EXPECT_EQ(brief.alternatives_size(), 0);
  EXPECT_EQ(brief.launch_size(), 0);
  google::protobuf::util::MessageDifferencer differ;
  const google::protobuf::Descriptor* d = plan.GetDescriptor();
  for (const char* prose : {"explanation", "alternatives", "launch"}) {
    ASSERT_NE(d->FindFieldByName(prose), nullptr) << prose;
    differ.IgnoreField(d->FindFieldByName(prose));
  }
  std::string differences;
  differ.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differ.Compare(plan, brief)) << differences;
}

TEST_F(CoreBatchTest, OneMalformedSpecQueuesNoneAndNamesIt) {
  Register("n1", "h100-80gb", 8);
  std::vector<JobSpec> specs = Array("llama-2-7b", 4, "sweep");
  specs[2].mutable_model()->set_catalog_name("llama-2-7");
  auto response = SubmitBatch(specs);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(response.status().message(), "specs[2]: ")) << response.status();
  specs[2].mutable_model()->set_catalog_name("llama-2-7b");
  specs[3].set_array_index(1000000);
  response = SubmitBatch(specs);
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::StrContains(response.status().message(),
                                "specs[3]: spec.array_index: must be in [0, 999999]"))
      << response.status();
  Sync();
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 0);
}

TEST_F(CoreBatchTest, ARefusedJobIsARejectedResultBesideTheQueuedOnes) {
  Register("n1", "h100-80gb", 8);
  std::vector<JobSpec> specs = {TrainSpec("llama-2-7b", "a"), TrainSpec("llama-3.1-405b", "b"),
                                TrainSpec("llama-2-7b", "c")};
  auto response = SubmitBatch(specs);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 3);
  EXPECT_NE(response->results(0).job().state(), berth::v1::REJECTED);
  EXPECT_EQ(response->results(1).job().state(), berth::v1::REJECTED);
  EXPECT_FALSE(response->results(1).job().reason().empty());
  EXPECT_NE(response->results(2).job().state(), berth::v1::REJECTED);
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 3);  // the refusal is recorded too
}

TEST_F(CoreBatchTest, ARetriedCallReturnsTheSameJobsAndAReusedIdIsItsResultsError) {
  Register("n1", "h100-80gb", 8);
  std::vector<JobSpec> specs = Array("llama-2-7b", 3, "sweep");
  auto first = SubmitBatch(specs);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = SubmitBatch(specs);
  ASSERT_TRUE(again.ok()) << again.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(again->results(i).duplicate());
    EXPECT_EQ(again->results(i).job().id(), first->results(i).job().id());
  }
  // The same request id with another spec is not a retry: that spec makes
  // no job, and says why; the others of the call are still made.
  std::vector<JobSpec> mixed = {TrainSpec("llama-2-13b", "sweep[1]"),
                                TrainSpec("llama-2-7b", "fresh")};
  auto response = SubmitBatch(mixed);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(absl::StrContains(response->results(0).error(), "request_id sweep[1] was used"))
      << response->results(0).error();
  EXPECT_FALSE(response->results(0).has_job());
  EXPECT_TRUE(response->results(1).error().empty());
  EXPECT_EQ(core_->ListJobs({}).jobs_size(), 4);
}

// A retry answered from the file (the job has left memory) is as brief as
// one answered from memory.
TEST_F(CoreBatchTest, ARetryOfAJobNoLongerInMemoryIsAnsweredBriefToo) {
  keep_finished_ = 0;
  core_.reset();
  Open();
  Register("n1", "h100-80gb", 8);
  std::vector<JobSpec> specs = Array("llama-2-7b", 3, "sweep");
  auto first = SubmitBatch(specs);
  ASSERT_TRUE(first.ok()) << first.status();
  // Cancelled, and its stop confirmed by the node, it leaves memory.
  const int64_t last = first->results(2).job().id();
  ASSERT_TRUE(Cancel(last).ok());
  Report("n1", last, berth::v1::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return !core_->GetJob(last).ok(); }));
  auto again = SubmitBatch(specs);
  ASSERT_TRUE(again.ok()) << again.status();
  const berth::v1::Job& retried = again->results(2).job();
  EXPECT_TRUE(again->results(2).duplicate());
  EXPECT_EQ(retried.id(), last);
  EXPECT_EQ(retried.state(), berth::v1::CANCELLED);
  EXPECT_FALSE(retried.has_spec());
  EXPECT_EQ(retried.plan().explanation_size(), 0);
  EXPECT_GT(retried.plan().gpus(), 0);
}

TEST_F(CoreBatchTest, AnEmptyCallQueuesNothing) {
  auto response = SubmitBatch({});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->results_size(), 0);
}

}  // namespace
}  // namespace berth::daemon
