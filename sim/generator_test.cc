#include <string>

#include "gtest/gtest.h"
#include "sim/generator.h"
#include "sim/metrics.h"
#include "sim/trace.h"

namespace berth::sim {
namespace {

TEST(GeneratorTest, SameSeedSameTrace) {
  GeneratorOptions options{.like = "acme-kalos", .jobs = 200, .nodes = 32, .seed = 5};
  absl::StatusOr<Trace> a = GenerateTrace(options);
  absl::StatusOr<Trace> b = GenerateTrace(options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(FormatBerthCsv(*a), FormatBerthCsv(*b));
  options.seed = 6;
  EXPECT_NE(FormatBerthCsv(*GenerateTrace(options)), FormatBerthCsv(*a));
}

TEST(GeneratorTest, FollowsTheSerenMixRoughly) {
  absl::StatusOr<Trace> trace = GenerateTrace(
      GeneratorOptions{.like = "acme-seren", .jobs = 20000, .nodes = 256, .teams = 4, .seed = 1});
  ASSERT_TRUE(trace.ok()) << trace.status();
  int64_t one = 0, small = 0, with_model = 0;
  for (const TraceJob& job : trace->jobs) {
    one += job.gpus == 1;
    small += job.gpus >= 2 && job.gpus <= 8;
    with_model += !job.model.empty();
    EXPECT_LE(job.gpus, 256 * 8);
  }
  // Seren: 54.0% one GPU, 42.7% 2-8 (± 1.5 points at 20,000 jobs).
  EXPECT_NEAR(static_cast<double>(one) / 20000, 0.540, 0.015);
  EXPECT_NEAR(static_cast<double>(small) / 20000, 0.427, 0.015);
  EXPECT_GT(with_model, 10000);  // evaluation jobs (65%) carry a model
  absl::StatusOr<Trace> reread = ParseBerthCsv(FormatBerthCsv(*trace), "g");
  EXPECT_TRUE(reread.ok()) << reread.status();
}

TEST(GeneratorTest, RefusesBadOptions) {
  EXPECT_FALSE(GenerateTrace(GeneratorOptions{.like = "philly"}).ok());
  EXPECT_FALSE(GenerateTrace(GeneratorOptions{.load = 0}).ok());
}

}  // namespace
}  // namespace berth::sim
