// What only the SQLite store does: refuse a corrupt file, back itself up
// through SQLite's backup API, and lead alone.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status_matchers.h"
#include "db/store.h"
#include "db/store_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using berth::v1::Node;

// The SQLite cases of the shared fixture.
class SqliteStoreTest : public StoreTest {};

TEST_P(SqliteStoreTest, CorruptHeaderIsRefused) {
  Insert({MakeJob("a")});
  store_.reset();
  {
    std::fstream file(target_, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.is_open());
    file.write("this is garbage!", 16);  // over "SQLite format 3\0"
  }
  auto store = Store::Open(target_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("database " + target_ + " is corrupt"), std::string::npos)
      << store.status();
}

TEST_P(SqliteStoreTest, CorruptPagesAreRefused) {
  std::vector<Job> jobs;
  for (int i = 0; i < 300; ++i) {
    jobs.push_back(MakeJob(std::string(500, 'a' + i % 26)));  // ~40 pages of jobs
  }
  Insert(std::move(jobs));
  store_.reset();
  {
    std::fstream file(target_, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.is_open());
    file.seekp(4096 * 20);  // past the schema and the tables' root pages
    const std::string garbage(4096 * 10, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto store = Store::Open(target_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("is corrupt"), std::string::npos) << store.status();
}

TEST_P(SqliteStoreTest, BackupOpensWithTheSameJobs) {
  std::vector<Job> jobs = Insert({MakeJob("a", "req-a"), MakeJob("b")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[1], "n1", {3})}).ok());
  const std::string backup_path = dir_.Path("backup.db");
  absl::Status status = store_->Backup(backup_path);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(store_->Backup(backup_path),
              StatusIs(absl::StatusCode::kAlreadyExists, "already exists"));

  auto backup = Store::Open(backup_path);
  ASSERT_TRUE(backup.ok()) << backup.status();
  auto copied = (*backup)->LoadAll();
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(Dump(*copied), Dump(Load()));
  EXPECT_EQ(copied->jobs.size(), 2u);
  EXPECT_TRUE((*backup)->CheckInvariants().ok());
}

// Issue 18, finding 9: a backup never goes through a link, never touches
// files beside its target, is private, and a missing folder is the
// caller's mistake.
TEST_P(SqliteStoreTest, BackupRefusesLinksLeavesSiblingsAloneAndIsPrivate) {
  namespace fs = std::filesystem;
  const std::string victim = dir_.Path("victim.db");
  const std::string link = dir_.Path("link.db");
  fs::create_symlink(victim, link);  // dangling
  { std::ofstream(victim + "-wal") << "someone else's"; }
  EXPECT_THAT(store_->Backup(link), StatusIs(absl::StatusCode::kAlreadyExists, "link.db"));
  EXPECT_FALSE(fs::exists(victim));
  EXPECT_TRUE(fs::exists(victim + "-wal"));
  // A sibling file that exists: refused, left alone.
  const std::string beside = dir_.Path("beside.db");
  { std::ofstream(beside + "-journal") << "keep"; }
  EXPECT_THAT(store_->Backup(beside), StatusIs(absl::StatusCode::kAlreadyExists, "-journal"));
  EXPECT_TRUE(fs::exists(beside + "-journal"));
  EXPECT_FALSE(fs::exists(beside));
  EXPECT_THAT(store_->Backup(dir_.Path("no/such/folder/b.db")),
              StatusIs(absl::StatusCode::kInvalidArgument, "not an existing folder"));
  const std::string good = dir_.Path("good.db");
  ASSERT_TRUE(store_->Backup(good).ok());
  EXPECT_EQ(fs::status(good).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // The database itself was created private too.
  EXPECT_EQ(fs::status(target_).permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
}

TEST_P(SqliteStoreTest, AlwaysLeadsWithTermOne) {
  EXPECT_EQ(store_->term(), 1);
  auto again = store_->AcquireLeadership("another", 1000);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, 1);
  EXPECT_THAT(store_->RenewLeadership(1, 1000), IsOk());
  EXPECT_THAT(store_->RenewLeadership(2, 1000),
              StatusIs(absl::StatusCode::kFailedPrecondition, "lost leadership"));
  auto leader = store_->Leader();
  ASSERT_THAT(leader, IsOk());
  EXPECT_EQ(leader->holder, "another");
  EXPECT_TRUE(leader->live);
  EXPECT_THAT(store_->ResignLeadership(1), IsOk());
  EXPECT_THAT(store_->UpsertNode(MakeNode("n3", 1)), IsOk());  // still the only writer
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteStoreTest, testing::Values(Backend::kSqlite), BackendName);

}  // namespace
}  // namespace berth::db
