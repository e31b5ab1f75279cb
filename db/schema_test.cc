#include "db/schema.h"

#include <memory>
#include <string>

#include "db/database.h"
#include "db/store.h"
#include "db/test_temp_dir.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

std::unique_ptr<Database> OpenOrDie(const std::string& path) {
  auto db = Database::Open(path);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? *std::move(db) : nullptr;
}

int Version(Database& db) {
  auto version = SchemaVersion(db);
  EXPECT_TRUE(version.ok()) << version.status();
  return version.value_or(-1);
}

int64_t QueryInt(Database& db, const std::string& sql) {
  auto stmt = db.Prepare(sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status();
  if (!stmt.ok()) return -1;
  auto has_row = stmt->Step();
  EXPECT_TRUE(has_row.ok() && *has_row) << sql;
  return stmt->ColumnInt64(0);
}

bool HasObject(Database& db, const std::string& name) {
  return QueryInt(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = '" + name + "'") == 1;
}

TEST(SchemaTest, StepsAreNumberedOneToLatest) {
  auto steps = Migrations();
  ASSERT_FALSE(steps.empty());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(steps[i].sql.empty());
  }
  EXPECT_EQ(LatestSchemaVersion(), static_cast<int>(steps.size()));
  EXPECT_GE(LatestSchemaVersion(), 2);  // at least one real upgrade is tested
}

TEST(SchemaTest, FreshFileGetsNewestVersion) {
  TestTempDir dir;
  auto db = OpenOrDie(dir.Path("fresh.db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Version(*db), 0);
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(Version(*db), LatestSchemaVersion());
  for (const char* name :
       {"nodes", "gpus", "jobs", "reservations", "events", "jobs_team_request_id",
        "reservations_active_gpu", "jobs_state", "events_job"}) {
    EXPECT_TRUE(HasObject(*db, name)) << name;
  }
  // Running it again is a no-op.
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(Version(*db), LatestSchemaVersion());
}

TEST(SchemaTest, TargetOutsideKnownVersionsIsInvalidArgument) {
  TestTempDir dir;
  auto db = OpenOrDie(dir.Path("x.db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Migrate(*db, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(*db, LatestSchemaVersion() + 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Version(*db), 0);
}

TEST(SchemaTest, NewerThanKnownIsRefused) {
  TestTempDir dir;
  const std::string path = dir.Path("future.db");
  const int future = LatestSchemaVersion() + 1;
  {
    auto db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(Migrate(*db).ok());
    ASSERT_TRUE(db->Exec("PRAGMA user_version = " + std::to_string(future)).ok());
  }
  auto db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  absl::Status status = Migrate(*db);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("newer"), std::string::npos) << status;
  EXPECT_EQ(Version(*db), future);  // untouched
  db.reset();
  auto store = Store::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

// Rows written with only the columns version 1 has, so that they are valid
// at every version.
constexpr char kVersion1Rows[] = R"sql(
INSERT INTO nodes(name, state, labels, last_heartbeat_ms) VALUES ('n1', 1, x'', 100);
INSERT INTO gpus(node, idx, uuid, type, memory_bytes, pci_bus_id)
  VALUES ('n1', 0, 'GPU-0', 'h100-80gb', 85899345920, '0000:01:00.0');
INSERT INTO jobs(id, request_id, team, name, priority, state, spec, plan, submit_time_ms)
  VALUES (7, 'req-7', 'infra', 'old', 3, 2, x'', x'', 1000);
INSERT INTO reservations(job_id, node, gpu_index, tp_rank, active, created_ms)
  VALUES (7, 'n1', 0, 0, 1, 1000);
INSERT INTO events(time_ms, job_id, node, kind, message) VALUES (1000, 7, 'n1', 'placed', '');
)sql";

class SchemaUpgradeTest : public testing::TestWithParam<int> {};

// Before version 4 a drained node was stored only as state DRAINED (3); the
// upgrade turns that into the drained flag and keeps the state.
TEST(SchemaTest, Version4RemembersNodesDrainedBefore) {
  TestTempDir dir;
  const std::string path = dir.Path("old.db");
  auto db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, 3).ok());
  ASSERT_TRUE(db->Exec("INSERT INTO nodes(name, state) VALUES ('up', 1), ('drained', 3),"
                       " ('down', 2)")
                  .ok());
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(QueryInt(*db, "SELECT drained FROM nodes WHERE name = 'drained'"), 1);
  EXPECT_EQ(QueryInt(*db, "SELECT state FROM nodes WHERE name = 'drained'"), 3);
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM nodes WHERE drained = 1"), 1);
  EXPECT_EQ(db->Exec("UPDATE nodes SET drained = 2 WHERE name = 'up'").code(),
            absl::StatusCode::kFailedPrecondition);  // CHECK (drained IN (0, 1))
}

// Version 5 scopes request ids by team: before it, a request id used by one
// team could not be used by any other.
TEST(SchemaTest, Version5ScopesRequestIdsByTeam) {
  TestTempDir dir;
  auto db = OpenOrDie(dir.Path("old.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Migrate(*db, 4).ok());
  constexpr char kInsertNlp[] =
      "INSERT INTO jobs(request_id, team, state) VALUES ('req-7', 'nlp', 1)";
  ASSERT_TRUE(
      db->Exec("INSERT INTO jobs(request_id, team, state) VALUES ('req-7', 'infra', 1)").ok());
  EXPECT_EQ(db->Exec(kInsertNlp).code(), absl::StatusCode::kAlreadyExists);  // version 4
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_FALSE(HasObject(*db, "jobs_request_id"));
  EXPECT_TRUE(HasObject(*db, "jobs_team_request_id"));
  EXPECT_TRUE(db->Exec(kInsertNlp).ok());
  EXPECT_EQ(db->Exec(kInsertNlp).code(), absl::StatusCode::kAlreadyExists);
  // Jobs without a request id are never unique.
  EXPECT_TRUE(db->Exec("INSERT INTO jobs(team, state) VALUES ('nlp', 1), ('nlp', 1)").ok());
}

TEST_P(SchemaUpgradeTest, MigratesForwardKeepingRows) {
  const int from = GetParam();
  TestTempDir dir;
  const std::string path = dir.Path("old.db");
  {
    auto db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(Migrate(*db, from).ok());
    ASSERT_EQ(Version(*db), from);
    ASSERT_TRUE(db->Exec(kVersion1Rows).ok());
  }
  auto db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  absl::Status status = Migrate(*db);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(Version(*db), LatestSchemaVersion());
  for (const char* table : {"nodes", "gpus", "jobs", "reservations", "events"}) {
    EXPECT_EQ(QueryInt(*db, std::string("SELECT COUNT(*) FROM ") + table), 1) << table;
  }
  EXPECT_EQ(QueryInt(*db, "SELECT priority FROM jobs WHERE request_id = 'req-7'"), 3);
  // Version 2's indexes and version 3's column exist after the upgrade.
  EXPECT_TRUE(HasObject(*db, "jobs_state"));
  EXPECT_TRUE(HasObject(*db, "events_job"));
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM gpus WHERE nvlink_peers = ''"), 1);
  // Version 4's drained flag: n1 was UP (state 1), so not drained.
  EXPECT_EQ(QueryInt(*db, "SELECT drained FROM nodes WHERE name = 'n1'"), 0);
  // Version 5: the old job's request id is unique within its team only.
  EXPECT_EQ(
      db->Exec("INSERT INTO jobs(request_id, team, state) VALUES ('req-7', 'infra', 1)").code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(
      db->Exec("INSERT INTO jobs(request_id, team, state) VALUES ('req-7', 'nlp', 1)").ok());
  // Version 6: the old job was never preempted.
  EXPECT_EQ(QueryInt(*db, "SELECT preemptions FROM jobs WHERE id = 7"), 0);
  EXPECT_EQ(QueryInt(*db, "SELECT preempted_by FROM jobs WHERE id = 7"), 0);
  // Version 7: fair-share usage starts empty.
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM team_usage"), 0);
  EXPECT_TRUE(
      db->Exec("INSERT INTO team_usage(team, gpu_type, gpu_ms, as_of_ms) VALUES ('a', 't', 1, 2)")
          .ok());
  EXPECT_FALSE(
      db->Exec("INSERT INTO team_usage(team, gpu_type, gpu_ms, as_of_ms) VALUES ('b', 't', -1, 2)")
          .ok());
  // The unique index still guards the old reservation.
  EXPECT_EQ(
      db->Exec("INSERT INTO reservations(job_id, node, gpu_index) VALUES (7, 'n1', 0)").code(),
      absl::StatusCode::kAlreadyExists);
}

TEST_P(SchemaUpgradeTest, StoreOpensOldFileAndLoadsIt) {
  const int from = GetParam();
  TestTempDir dir;
  const std::string path = dir.Path("old.db");
  {
    auto db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(Migrate(*db, from).ok());
    ASSERT_TRUE(db->Exec(kVersion1Rows).ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto snapshot = (*store)->LoadAll();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->jobs.size(), 1u);
  EXPECT_EQ(snapshot->jobs[0].id(), 7);
  ASSERT_EQ(snapshot->jobs[0].gpus_size(), 1);
  EXPECT_EQ(snapshot->jobs[0].gpus(0).uuid(), "GPU-0");
  ASSERT_EQ(snapshot->nodes.size(), 1u);
  ASSERT_EQ(snapshot->nodes[0].gpus_size(), 1);
  EXPECT_EQ(snapshot->nodes[0].gpus(0).job_id(), 7);
  EXPECT_EQ(snapshot->next_job_id, 8);
  EXPECT_TRUE((*store)->CheckInvariants().ok());
}

// Every version older than the newest that has tables (an empty file, 0,
// is FreshFileGetsNewestVersion).
INSTANTIATE_TEST_SUITE_P(EveryOlderVersion, SchemaUpgradeTest,
                         testing::Range(1, LatestSchemaVersion()),
                         [](const testing::TestParamInfo<int>& info) {
                           return "FromVersion" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace berth::db
