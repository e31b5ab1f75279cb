// Tests of the workload value types: names, parsing and element sizes.
#include "planner/workload.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace berth::planner {
namespace {

TEST(DTypeTest, BytesPerElement) {
  EXPECT_EQ(DTypeBytes(DType::kFp32), 4.0);
  EXPECT_EQ(DTypeBytes(DType::kBf16), 2.0);
  EXPECT_EQ(DTypeBytes(DType::kFp16), 2.0);
  EXPECT_EQ(DTypeBytes(DType::kFp8), 1.0);
  EXPECT_EQ(DTypeBytes(DType::kInt8), 1.0);
  // 4 bits + one fp16 scale per 128 weights: 0.5 + 2/128 = 0.515625.
  EXPECT_EQ(DTypeBytes(DType::kInt4), 0.515625);
}

TEST(ParseTest, RoundTripsEveryName) {
  for (DType d :
       {DType::kFp32, DType::kBf16, DType::kFp16, DType::kFp8, DType::kInt8, DType::kInt4}) {
    EXPECT_EQ(ParseDType(DTypeName(d)).value(), d);
  }
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    EXPECT_EQ(ParseRecompute(RecomputeName(r)).value(), r);
  }
  for (Offload o : {Offload::kNone, Offload::kLayerwise, Offload::kCpu}) {
    EXPECT_EQ(ParseOffload(OffloadName(o)).value(), o);
  }
  for (Framework f : {Framework::kMegatron, Framework::kDeepSpeed}) {
    EXPECT_EQ(ParseFramework(FrameworkName(f)).value(), f);
  }
  for (ServingObjective o :
       {ServingObjective::kThroughput, ServingObjective::kFewestGpus, ServingObjective::kLatency}) {
    EXPECT_EQ(ParseServingObjective(ServingObjectiveName(o)).value(), o);
  }
  EXPECT_EQ(ServingObjectiveName(InferWorkload{}.objective), "throughput");
  EXPECT_EQ(ParseTask("train").value(), Task::kTrain);
  EXPECT_EQ(ParseTask("Inference").value(), Task::kInfer);
}

TEST(ParseTest, UnknownNameListsTheAccepted) {
  absl::StatusOr<DType> d = ParseDType("fp4");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(d.status().message(), "dtype:"));
  EXPECT_TRUE(absl::StrContains(d.status().message(), "int4"));
  EXPECT_FALSE(ParseFramework("").ok());
}

TEST(SplitTest, GpusIsTheProduct) {
  Split s{.tp = 8, .pp = 4, .dp = 3};
  EXPECT_EQ(s.gpus(), 96);
}

}  // namespace
}  // namespace berth::planner
