// TeamsFile and the checks of a teams text sent to berthd (teams_file.h),
// on real files in a temporary folder.
#include "daemon/teams_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr char kV1[] = "teams:\n  - name: a\n";
constexpr char kV2[] = "teams:\n  - name: a\n  - name: b\n";

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class TeamsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-teams-XXXXXX";
    dir_ = mkdtemp(pattern);
    path_ = dir_ + "/teams.yaml";
    std::ofstream(path_) << kV1;
    chmod(path_.c_str(), 0640);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(TeamsFileTest, ReplaceWritesTheNewTextKeepingTheMode) {
  auto file = TeamsFile::Load(path_);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Text(), kV1);
  EXPECT_EQ((*file)->config().teams.size(), 1u);
  ASSERT_TRUE((*file)->Replace(kV2).ok());
  EXPECT_EQ((*file)->Text(), kV2);
  EXPECT_EQ(Read(path_), kV2);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".apply-tmp"));
}

TEST_F(TeamsFileTest, AFailedWriteLeavesTheOldFileAndText) {
  auto file = TeamsFile::Load(path_);
  ASSERT_TRUE(file.ok()) << file.status();
  // A folder where the temporary file must go makes open() fail.
  std::filesystem::create_directory(path_ + ".apply-tmp");
  absl::Status s = (*file)->Replace(kV2);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), path_)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "unchanged")) << s;
  EXPECT_EQ((*file)->Text(), kV1);
  EXPECT_EQ(Read(path_), kV1);
}

TEST_F(TeamsFileTest, LoadNamesTheLineAndField) {
  std::ofstream(path_) << "teams:\n  - name: a\n    weight: -1\n";
  auto file = TeamsFile::Load(path_);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(file.status().message(), path_ + ":3: teams[0].weight"))
      << file.status();
}

TEST(CheckTeamsTextTest, BoundsTheTextAndItsName) {
  // 1 MiB + 1 byte of comment: over the limit, named.
  const std::string huge = std::string("#") + std::string(kMaxTeamsTextBytes, 'x');
  absl::StatusOr<TeamsConfig> r = CheckTeamsText(huge, "big.yaml");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "yaml: at most 1048576 bytes")) << r.status();
  r = CheckTeamsText(kV1, std::string(257, 'n'));
  EXPECT_TRUE(absl::StrContains(r.status().message(), "source: at most 256 bytes")) << r.status();
  r = CheckTeamsText(kV1, "evil\x1b[2J.yaml");
  EXPECT_TRUE(absl::StrContains(r.status().message(), "source: printable")) << r.status();
  r = CheckTeamsText("teams:\n  - name: a\n    parent: nobody\n", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(r.status().message(), "teams file:3:")) << r.status();
  EXPECT_TRUE(CheckTeamsText(kV2, "v2.yaml").ok());
}

TEST(CheckTeamsKeepLiveJobsTest, NamesEachDroppedTeamWithJobs) {
  absl::StatusOr<TeamsConfig> next = ParseTeamsYaml(kV1, "v1.yaml");
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(CheckTeamsKeepLiveJobs(*next, {"a"}).ok());
  absl::Status s = CheckTeamsKeepLiveJobs(*next, {"a", "b", "c"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "drops teams b, c, which still have jobs"))
      << s.message();
}

}  // namespace
}  // namespace berth::daemon
