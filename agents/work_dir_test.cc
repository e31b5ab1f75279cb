#include "agents/work_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "agents/node_setup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process_checks.h"

namespace berth::agent {
namespace {

using berth::testing::ReadFile;
using ::testing::HasSubstr;

// The permission bits of `path` (following no symlink), or -1.
int Mode(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

TEST(DefaultWorkDirTest, PrefersSystemdsStateDirectoryThenRootThenXdg) {
  const StateDirs all = {.state_directory = "/var/lib/berth-agent:/var/lib/x",
                         .xdg_state_home = "/home/u/.state",
                         .home = "/home/u",
                         .root = true};
  EXPECT_EQ(DefaultWorkDir(all, "gpu-01").value(), "/var/lib/berth-agent/gpu-01");
  StateDirs dirs = all;
  dirs.state_directory = "";
  EXPECT_EQ(DefaultWorkDir(dirs, "gpu-01").value(), "/var/lib/berth-agent/gpu-01");
  dirs.root = false;
  EXPECT_EQ(DefaultWorkDir(dirs, "gpu-01").value(), "/home/u/.state/berth-agent/gpu-01");
  dirs.xdg_state_home = "relative/is/ignored";
  EXPECT_EQ(DefaultWorkDir(dirs, "gpu-01").value(), "/home/u/.local/state/berth-agent/gpu-01");
  dirs.home = "";
  absl::StatusOr<std::string> none = DefaultWorkDir(dirs, "gpu-01");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("--work_dir"));
}

TEST(DefaultWorkDirTest, NeverUsesTmpAndRefusesNodeNamesThatAreNotAFolder) {
  const StateDirs root = {.root = true};
  for (const std::string node : {"a", "n-0001", "gpu.example.com"}) {
    EXPECT_FALSE(DefaultWorkDir(root, node).value().starts_with("/tmp"));
  }
  for (const std::string node : {"", ".", "..", "a/b"}) {
    EXPECT_EQ(DefaultWorkDir(root, node).status().code(), absl::StatusCode::kInvalidArgument)
        << node;
  }
}

TEST(CheckPrivateDirTest, RefusesAnotherOwnerAndGroupOrOtherWrite) {
  struct stat st = {};
  st.st_mode = S_IFDIR | 0755;
  st.st_uid = 1000;
  EXPECT_TRUE(CheckPrivateDir("/w", st, 1000).ok());
  absl::Status foreign = CheckPrivateDir("/w", st, 0);
  EXPECT_EQ(foreign.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(foreign.message(), HasSubstr("/w is owned by uid 1000, not by berth-agent's uid 0"));
  for (const mode_t mode : {0775, 0757, 01777}) {
    st.st_mode = S_IFDIR | mode;
    absl::Status writable = CheckPrivateDir("/w", st, 1000);
    EXPECT_THAT(writable.message(), HasSubstr("/w is writable by group or others")) << mode;
  }
  st.st_mode = S_IFREG | 0700;
  EXPECT_THAT(CheckPrivateDir("/w", st, 1000).message(), HasSubstr("not a directory"));
}

class WorkDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir() + "/work_dir_test_" +
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name())
               .lexically_normal();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  std::string dir_;
};

TEST_F(WorkDirTest, CreatesMissingFoldersPrivate) {
  absl::StatusOr<PrivateDir> jobs = PrepareWorkDir(dir_ + "/state/berth-agent/n1/");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->path, dir_ + "/state/berth-agent/n1/jobs");
  for (const std::string path :
       {"/state", "/state/berth-agent", "/state/berth-agent/n1", "/state/berth-agent/n1/jobs"}) {
    EXPECT_EQ(Mode(dir_ + path), 0700) << path;
  }
  // Preparing again (an agent restart) is fine.
  EXPECT_TRUE(PrepareWorkDir(dir_ + "/state/berth-agent/n1").ok());
}

TEST_F(WorkDirTest, ARelativeWorkDirBecomesAbsolute) {
  const std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  absl::StatusOr<PrivateDir> jobs = PrepareWorkDir("work/./x/..");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->path, dir_ + "/work/jobs");
}

TEST_F(WorkDirTest, RefusesAJobsFolderThatIsALinkOrShared) {
  ASSERT_EQ(mkdir((dir_ + "/a").c_str(), 0700), 0);
  std::filesystem::create_directory_symlink(dir_, dir_ + "/a/jobs");
  absl::StatusOr<PrivateDir> link = PrepareWorkDir(dir_ + "/a");
  ASSERT_FALSE(link.ok());
  EXPECT_THAT(
      link.status().message(),
      HasSubstr(dir_ + "/a/jobs: it is a symbolic link, which berth-agent does not follow"));

  ASSERT_EQ(mkdir((dir_ + "/b").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((dir_ + "/b/jobs").c_str(), 0700), 0);
  ASSERT_EQ(chmod((dir_ + "/b/jobs").c_str(), 0777), 0);
  absl::StatusOr<PrivateDir> shared = PrepareWorkDir(dir_ + "/b");
  ASSERT_FALSE(shared.ok());
  EXPECT_THAT(shared.status().message(),
              HasSubstr(dir_ + "/b/jobs is writable by group or others (mode 0777)"));
}

TEST_F(WorkDirTest, AJobFolderIsReusedOnlyWhenPrivate) {
  absl::StatusOr<PrivateDir> jobs = PrepareWorkDir(dir_ + "/w");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  absl::StatusOr<PrivateDir> first = OpenJobFolder(*jobs, 7);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->path, dir_ + "/w/jobs/7");
  EXPECT_TRUE(OpenJobFolder(*jobs, 7).ok());  // run again after a requeue
  ASSERT_EQ(chmod((dir_ + "/w/jobs/7").c_str(), 0775), 0);
  absl::StatusOr<PrivateDir> shared = OpenJobFolder(*jobs, 7);
  ASSERT_FALSE(shared.ok());
  EXPECT_THAT(shared.status().message(), HasSubstr("writable by group or others"));
}

TEST_F(WorkDirTest, JobFilesAppendOrReplaceAndRefuseLinksFifosAndHardLinks) {
  absl::StatusOr<PrivateDir> jobs = PrepareWorkDir(dir_ + "/w");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  absl::StatusOr<PrivateDir> job = OpenJobFolder(*jobs, 1);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string path = job->path;

  ASSERT_TRUE(WriteJobFile(*job, "deepspeed.json", "first, longer\n").ok());
  ASSERT_TRUE(WriteJobFile(*job, "deepspeed.json", "second\n").ok());
  EXPECT_EQ(ReadFile(path + "/deepspeed.json"), "second\n");
  EXPECT_EQ(Mode(path + "/deepspeed.json"), 0600);
  for (const char* line : {"a\n", "b\n"}) {
    absl::StatusOr<UniqueFd> log = OpenJobFile(*job, "stdout.log", JobFile::kAppend);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_EQ(write(log->get(), line, 2), 2);
    EXPECT_EQ(fcntl(log->get(), F_GETFL) & O_NONBLOCK, 0);
  }
  EXPECT_EQ(ReadFile(path + "/stdout.log"), "a\nb\n");

  const std::string outside = dir_ + "/outside";
  std::ofstream(outside) << "keep\n";
  std::filesystem::create_symlink(outside, path + "/link");
  std::filesystem::create_symlink(dir_ + "/missing", path + "/dangling");
  ASSERT_EQ(link(outside.c_str(), (path + "/hard").c_str()), 0);
  ASSERT_EQ(mkfifo((path + "/fifo").c_str(), 0600), 0);
  const struct {
    const char* name;
    const char* problem;
  } bad[] = {{"link", "symbolic link"},
             {"dangling", "symbolic link"},
             {"hard", "it has 2 hard links"},
             {"fifo", "No such device or address"}};
  for (const auto& [name, problem] : bad) {
    for (const JobFile mode : {JobFile::kAppend, JobFile::kReplace}) {
      absl::StatusOr<UniqueFd> fd = OpenJobFile(*job, name, mode);
      ASSERT_FALSE(fd.ok()) << name;
      EXPECT_EQ(fd.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_THAT(fd.status().message(), HasSubstr(path + "/" + name));
      EXPECT_THAT(fd.status().message(), HasSubstr(problem));
    }
  }
  EXPECT_EQ(ReadFile(outside), "keep\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/missing"));
}

// The whole set-up path: berth-agent --jobs=run with a shared --work_dir
// stops at start, naming the folder.
TEST_F(WorkDirTest, SetUpNodesRefusesASharedWorkDir) {
  const std::string inventory = dir_ + "/inventory.json";
  std::ofstream(inventory) << R"({"gpus": [{"type": "h100-80gb", "count": 8}]})";
  const std::string work = dir_ + "/shared";
  ASSERT_EQ(mkdir(work.c_str(), 0700), 0);
  ASSERT_EQ(chmod(work.c_str(), 01777), 0);
  NodeConfig config = {.node = "n1", .inventory_path = inventory, .work_dir = work, .jobs = "run"};
  auto agents = SetUpNodes(config);
  ASSERT_FALSE(agents.ok());
  EXPECT_EQ(agents.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(agents.status().message(), HasSubstr(work + " is writable by group or others"));
  // Simulated jobs write nothing, so the folder is not looked at.
  config.jobs = "simulate";
  EXPECT_TRUE(SetUpNodes(config).ok());
}

TEST_F(WorkDirTest, SetUpNodesRefusesABadPassEnv) {
  const std::string inventory = dir_ + "/inventory.json";
  std::ofstream(inventory) << R"({"gpus": [{"type": "h100-80gb", "count": 8}]})";
  auto agents = SetUpNodes({.node = "n1",
                            .inventory_path = inventory,
                            .work_dir = dir_ + "/w",
                            .pass_env = {"HF_TOKEN", "BAD-NAME"},
                            .jobs = "run"});
  ASSERT_FALSE(agents.ok());
  EXPECT_EQ(agents.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(agents.status().message(), HasSubstr("BAD-NAME"));
}

}  // namespace
}  // namespace berth::agent
