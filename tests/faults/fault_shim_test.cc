// The fault shim (fault_shim.cc) on its own, preloaded by ctest
// (LD_PRELOAD=libberth_fault_shim.so, BERTH_FAULTS=<control file>): the
// system calls it interposes fail on matching files only, as armed, and a
// real SQLite file in WAL mode, raw and through berth::db::Store, sees the
// failures as SQLITE_IOERR ("disk I/O error") and SQLITE_FULL ("database or
// disk is full"), and writes work again once the fault is disarmed.
#include <dlfcn.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/status_matchers.h"
#include "db/store.h"
#include "db/test_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;

berth::v1::Node MakeNode(const std::string& name) {
  berth::v1::Node node;
  node.set_name(name);
  node.set_state(berth::v1::UP);
  berth::v1::Gpu* gpu = node.add_gpus();
  gpu->set_index(0);
  gpu->set_uuid("GPU-" + name + "-0");
  gpu->set_type("h100-80gb");
  gpu->set_memory_bytes(85899345920.0);  // 80 GiB
  return node;
}

class FaultShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(dlsym(RTLD_DEFAULT, "berth_fault_shim_loaded"), nullptr)
        << "libberth_fault_shim.so is not preloaded: run this test through ctest";
    const char* control = getenv("BERTH_FAULTS");
    ASSERT_NE(control, nullptr) << "BERTH_FAULTS is not set: run this test through ctest";
    control_ = control;
    log_ = dir_.Path("faults.log");
    setenv("BERTH_FAULTS_LOG", log_.c_str(), 1);  // read by the shim on each fault
    Disarm();
  }

  void TearDown() override {
    Disarm();
    unsetenv("BERTH_FAULTS_LOG");
  }

  void Arm(const std::string& lines) {
    std::ofstream out(control_, std::ios::trunc);
    out << lines;
    ASSERT_TRUE(out.good()) << control_;
  }
  void Disarm() { Arm(""); }

  // What the shim logged: one `<op> <errno> <path>` line per injected fault.
  std::string FaultLog() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // An fd open for writing on `name` in the test's folder.
  int OpenFile(const std::string& name) {
    const int fd = open(dir_.Path(name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0) << name;
    return fd;
  }

  db::TestTempDir dir_;
  std::string control_;
  std::string log_;
};

// Each interposed call on a ".db" file: -1 with the armed errno (0 from
// posix_fallocate), only for the armed op; the real call otherwise.
TEST_F(FaultShimTest, ArmedCallsFailOnMatchingFiles) {
  const int fd = OpenFile("raw.db");
  ASSERT_GE(fd, 0);
  char byte = 'x';
  iovec iov{.iov_base = &byte, .iov_len = 1};

  Arm("fsync EIO\n");
  errno = 0;
  EXPECT_EQ(fsync(fd), -1);
  EXPECT_EQ(errno, EIO);
  errno = 0;
  EXPECT_EQ(fdatasync(fd), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(write(fd, &byte, 1), 1) << "write is not armed";

  Arm("write ENOSPC\n");
  EXPECT_EQ(fsync(fd), 0) << "fsync is not armed";
  errno = 0;
  EXPECT_EQ(write(fd, &byte, 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  errno = 0;
  EXPECT_EQ(pwrite(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ENOSPC);
  errno = 0;
  EXPECT_EQ(pwrite64(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ENOSPC);
  errno = 0;
  EXPECT_EQ(writev(fd, &iov, 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(posix_fallocate(fd, 0, 4096), ENOSPC);
  errno = 0;
  EXPECT_EQ(fallocate(fd, 0, 0, 4096), -1);
  EXPECT_EQ(errno, ENOSPC);

  Arm("write EIO\nfsync ENOSPC\n");
  errno = 0;
  EXPECT_EQ(pwrite(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, EIO);
  errno = 0;
  EXPECT_EQ(fdatasync(fd), -1);
  EXPECT_EQ(errno, ENOSPC);

  Disarm();
  EXPECT_EQ(write(fd, &byte, 1), 1);
  EXPECT_EQ(pwrite(fd, &byte, 1, 0), 1);
  EXPECT_EQ(pwrite64(fd, &byte, 1, 1), 1);
  EXPECT_EQ(writev(fd, &iov, 1), 1);
  EXPECT_EQ(posix_fallocate(fd, 0, 4096), 0);
  EXPECT_EQ(fsync(fd), 0);
  EXPECT_EQ(fdatasync(fd), 0);
  close(fd);

  // 2 fsync EIO + 6 write ENOSPC + 1 write EIO + 1 fsync ENOSPC = 10 faults.
  const std::string log = FaultLog();
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 10) << log;
  EXPECT_THAT(log, HasSubstr("fsync EIO " + dir_.Path("raw.db") + "\n"));
  EXPECT_THAT(log, HasSubstr("write ENOSPC " + dir_.Path("raw.db") + "\n"));
}

// Files whose path lacks ".db", pipes and descriptors 0-2 (even when they
// name a .db file) are never faulted.
TEST_F(FaultShimTest, OtherFilesPipesAndStandardStreamsAreUntouched) {
  Arm("fsync EIO\nwrite EIO\n");
  const int other = OpenFile("other.txt");
  ASSERT_GE(other, 0);
  EXPECT_EQ(write(other, "x", 1), 1);
  EXPECT_EQ(fsync(other), 0);
  EXPECT_EQ(fdatasync(other), 0);
  close(other);

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  EXPECT_EQ(write(pipe_fds[1], "x", 1), 1);
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  const int db = OpenFile("stderr.db");
  ASSERT_GE(db, 0);
  const int saved_stderr = dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  ASSERT_EQ(dup2(db, STDERR_FILENO), STDERR_FILENO);
  const ssize_t wrote = write(STDERR_FILENO, "x", 1);
  const int synced = fsync(STDERR_FILENO);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  EXPECT_EQ(wrote, 1);
  EXPECT_EQ(synced, 0);
  EXPECT_EQ(fsync(db), -1) << "the same file on another descriptor is faulted";
  close(db);
  EXPECT_EQ(FaultLog(), "fsync EIO " + dir_.Path("stderr.db") + "\n");
}

// A missing control file arms nothing; lines the shim does not understand
// are skipped, and the first valid line for an op wins.
TEST_F(FaultShimTest, ControlFileParsing) {
  const int fd = OpenFile("parse.db");
  ASSERT_GE(fd, 0);
  std::remove(control_.c_str());
  EXPECT_EQ(fsync(fd), 0);
  EXPECT_EQ(write(fd, "x", 1), 1);

  Arm("# fsync EIO\nfsync\nfsyncEIO\nwrite EBADF\n  write \t ENOSPC \r\nwrite EIO\n");
  EXPECT_EQ(fsync(fd), 0);
  errno = 0;
  EXPECT_EQ(write(fd, "x", 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  close(fd);
}

// Raw SQLite in WAL mode with synchronous=FULL, as berthd opens its file:
// a commit whose fsync fails is SQLITE_IOERR_FSYNC, one whose write fails
// with ENOSPC is SQLITE_FULL; once disarmed, the same connection commits.
TEST_F(FaultShimTest, SqliteCommitFailsWithIoerrAndFull) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.Path("raw-sqlite.db").c_str(), &db), SQLITE_OK);
  auto exec = [db](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
  ASSERT_EQ(exec("PRAGMA journal_mode = WAL"), SQLITE_OK);
  ASSERT_EQ(exec("PRAGMA synchronous = FULL"), SQLITE_OK);
  ASSERT_EQ(exec("CREATE TABLE t(x INTEGER)"), SQLITE_OK);
  ASSERT_EQ(exec("INSERT INTO t VALUES (1)"), SQLITE_OK);

  Arm("fsync EIO\n");
  const int fsync_rc = exec("INSERT INTO t VALUES (2)");
  EXPECT_EQ(fsync_rc & 0xff, SQLITE_IOERR);
  EXPECT_EQ(sqlite3_extended_errcode(db), SQLITE_IOERR_FSYNC);
  EXPECT_STREQ(sqlite3_errmsg(db), "disk I/O error");

  Arm("write ENOSPC\n");
  EXPECT_EQ(exec("INSERT INTO t VALUES (3)"), SQLITE_FULL);
  EXPECT_STREQ(sqlite3_errmsg(db), "database or disk is full");

  Disarm();
  EXPECT_EQ(exec("INSERT INTO t VALUES (4)"), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_stmt* count = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM t WHERE x IN (1, 3, 4)", -1, &count, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(count, 0), 2) << "rows 1 and 4; the full-disk insert left none";
  sqlite3_finalize(count);
  EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
  EXPECT_THAT(FaultLog(), HasSubstr("fsync EIO " + dir_.Path("raw-sqlite.db-wal")));
  EXPECT_THAT(FaultLog(), HasSubstr("write ENOSPC " + dir_.Path("raw-sqlite.db-wal")));
}

// berth's Store on a failing fsync: the write is refused with SQLite's
// text, and the file reopens with the earlier node and its invariants.
TEST_F(FaultShimTest, StoreRefusesWriteWhenFsyncFails) {
  const std::string path = dir_.Path("berth.db");
  {
    absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(path);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->UpsertNode(MakeNode("n1")), IsOk());
    Arm("fsync EIO\n");
    EXPECT_THAT((*store)->UpsertNode(MakeNode("n2")),
                StatusIs(absl::StatusCode::kDataLoss, "disk I/O error"));
    Disarm();
  }
  absl::StatusOr<std::unique_ptr<db::Store>> reopened = db::Store::Open(path);
  ASSERT_THAT(reopened, IsOk());
  EXPECT_THAT((*reopened)->CheckInvariants(), IsOk());
  absl::StatusOr<db::Snapshot> snapshot = (*reopened)->LoadAll();
  ASSERT_THAT(snapshot, IsOk());
  // n2 may be there or not: its frames reached the WAL, only the fsync
  // failed. n1 was committed and must be.
  ASSERT_GE(snapshot->nodes.size(), 1u);
  EXPECT_EQ(snapshot->nodes[0].name(), "n1");
}

// berth's Store on a full disk: the write is refused ("database or disk is
// full"), nothing of it is stored, and the same Store writes again once
// space is back.
TEST_F(FaultShimTest, StoreRefusesWriteOnFullDiskAndResumes) {
  const std::string path = dir_.Path("berth.db");
  absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(path);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->UpsertNode(MakeNode("n1")), IsOk());
  Arm("write ENOSPC\n");
  EXPECT_THAT((*store)->UpsertNode(MakeNode("n2")),
              StatusIs(absl::StatusCode::kResourceExhausted, "database or disk is full"));
  Disarm();
  absl::StatusOr<db::Snapshot> before = (*store)->LoadAll();
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->nodes.size(), 1u) << "the refused node was stored";
  ASSERT_THAT((*store)->UpsertNode(MakeNode("n2")), IsOk());
  EXPECT_THAT((*store)->CheckInvariants(), IsOk());
  store->reset();

  absl::StatusOr<std::unique_ptr<db::Store>> reopened = db::Store::Open(path);
  ASSERT_THAT(reopened, IsOk());
  absl::StatusOr<db::Snapshot> after = (*reopened)->LoadAll();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->nodes.size(), 2u);
  EXPECT_THAT((*reopened)->CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace berth::testing
