// The store tests' fixture, run against both backends: StoreTest is
// parameterized by Backend, opens a fresh store of that kind for each test
// (a SQLite file in a temporary folder, or a new database on the test
// process's throwaway PostgreSQL server, pg_test_cluster.h), takes the
// leadership, adds nodes n1 (4 GPUs) and n2 (2 GPUs), and checks the
// store's invariants when the test ends. Count() and Exec() run raw SQL on a
// second connection, as an operator or a bug would.
//
//   TEST_P(StoreTest, Something) { ... store_->InsertJobs(jobs) ... }
//   INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, kBothBackends, BackendName);
#ifndef BERTH_DB_STORE_TEST_FIXTURE_H_
#define BERTH_DB_STORE_TEST_FIXTURE_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "berth/v1/job.pb.h"
#include "db/store.h"
#include "db/test_temp_dir.h"
#include "gtest/gtest.h"

namespace berth::db {

enum class Backend { kSqlite, kPostgres };

inline const auto kBothBackends = testing::Values(Backend::kSqlite, Backend::kPostgres);
std::string BackendName(const testing::TestParamInfo<Backend>& info);
// "Sqlite" or "Postgres" in test names and messages.
void PrintTo(Backend backend, std::ostream* os);

berth::v1::Node MakeNode(const std::string& name, int gpus);
berth::v1::Job MakeJob(const std::string& name, const std::string& request_id = "");
// `job` with its gpus set to `gpus` on `node`, tp ranks 0, 1, ...
berth::v1::Job Placed(berth::v1::Job job, const std::string& node, const std::vector<int>& gpus);
std::string Dump(const Snapshot& snapshot);
const berth::v1::Node* FindNode(const Snapshot& snapshot, const std::string& name);

// A new PostgreSQL database on this process's shared test server (started
// on first use, stopped at exit); fails the test when there is none.
std::string NewPgDatabase();

class StoreTest : public testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Closes the store and opens the same database again, taking the
  // leadership again (a restarted berthd).
  void Reopen(const StoreOptions& options = {});
  // Inserts jobs and returns them with their ids.
  std::vector<berth::v1::Job> Insert(std::vector<berth::v1::Job> jobs);
  Snapshot Load();

  // Raw SQL on a second connection; -1 when the query fails.
  int64_t Count(const std::string& sql);
  absl::Status Exec(const std::string& sql);
  // `sqlite` or `postgres`, whichever dialect this test runs.
  const std::string& Dialect(const std::string& sqlite, const std::string& postgres) const {
    return GetParam() == Backend::kSqlite ? sqlite : postgres;
  }

  TestTempDir dir_;
  std::string target_;  // the SQLite path or the PostgreSQL connection string
  std::unique_ptr<Store> store_;
};

}  // namespace berth::db

#endif  // BERTH_DB_STORE_TEST_FIXTURE_H_
