// What only the PostgreSQL store does: choose itself from a connection
// string, keep passwords out of messages, migrate from every older version
// in its own dialect, answer Unavailable while the server is gone and
// reconnect when it is back.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status_matchers.h"
#include "db/pg_connection.h"
#include "db/pg_schema.h"
#include "db/pg_store.h"
#include "db/pg_test_cluster.h"
#include "db/schema.h"
#include "db/store_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using testing::HasSubstr;
using testing::Not;

TEST(PgStoreTargetTest, OpenChoosesTheBackendFromTheTarget) {
  EXPECT_TRUE(Store::IsPostgresTarget("postgresql://berthd@db1:5432/berth"));
  EXPECT_TRUE(Store::IsPostgresTarget("postgres://db1/berth"));
  EXPECT_TRUE(Store::IsPostgresTarget("host=db1 port=5432 dbname=berth user=berthd"));
  EXPECT_TRUE(Store::IsPostgresTarget("dbname=berth"));
  EXPECT_TRUE(Store::IsPostgresTarget("hostaddr=10.0.0.5 dbname=berth"));
  EXPECT_FALSE(Store::IsPostgresTarget("berth.db"));
  EXPECT_FALSE(Store::IsPostgresTarget("/var/lib/berth/berth.db"));
  EXPECT_FALSE(Store::IsPostgresTarget("./postgresql/berth.db"));
  EXPECT_FALSE(Store::IsPostgresTarget("/data/host=a/berth.db"));
}

TEST(PgStoreTargetTest, PasswordsStayOutOfMessages) {
  EXPECT_EQ(RedactConnectionString("postgresql://berthd:s3cret@db1:5432/berth"),
            "postgresql://berthd:***@db1:5432/berth");
  EXPECT_EQ(RedactConnectionString("host=db1 password=s3cret dbname=berth"),
            "host=db1 password=*** dbname=berth");
  EXPECT_EQ(RedactConnectionString("postgresql://berthd@db1/berth?password=s3cret"),
            "postgresql://berthd@db1/berth?password=***");
  EXPECT_EQ(RedactConnectionString("postgres://db1/berth?sslmode=require&password=s3&x=1"),
            "postgres://db1/berth?sslmode=require&password=***&x=1");
  EXPECT_EQ(RedactConnectionString("postgresql://db1/berth?sslmode=require"),
            "postgresql://db1/berth?sslmode=require");
  // Nothing listens on port 1 of loopback: the failure names the target
  // without its password.
  auto store =
      Store::Open("postgresql://berth_test:s3cret@127.0.0.1:1/berth", {.connect_timeout_ms = 2000});
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kUnavailable, Not(HasSubstr("s3cret"))));
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("berth_test:***@")));
}

TEST(PgStoreTest, KeyValueTargetOpensPostgres) {
  const std::string uri = NewPgDatabase();
  // postgresql://berth_test@127.0.0.1:PORT/tN → host=... port=... form.
  const size_t at = uri.find('@');
  const size_t colon = uri.find(':', at);
  const size_t slash = uri.find('/', colon);
  ASSERT_NE(slash, std::string::npos) << uri;
  const std::string key_value = "host=127.0.0.1 port=" + uri.substr(colon + 1, slash - colon - 1) +
                                " user=berth_test dbname=" + uri.substr(slash + 1);
  auto store = Store::Open(key_value);
  ASSERT_THAT(store, IsOk());
  EXPECT_STREQ((*store)->backend(), "postgresql");
  EXPECT_THAT((*store)->Backup("/tmp/never.db"),
              StatusIs(absl::StatusCode::kUnimplemented, "pg_dump"));
}

TEST(PgSchemaTest, BothDialectsHaveTheSameSteps) {
  ASSERT_EQ(PgMigrations().size(), Migrations().size());
  for (size_t i = 0; i < PgMigrations().size(); ++i) {
    EXPECT_EQ(PgMigrations()[i].version, static_cast<int>(i) + 1);
  }
}

// From every older version to the latest, keeping what was stored: a node
// stored as DRAINED before version 4 comes back drained.
TEST(PgSchemaTest, MigratesFromEveryOlderVersion) {
  for (int from = 0; from < LatestSchemaVersion(); ++from) {
    SCOPED_TRACE("from version " + std::to_string(from));
    const std::string target = NewPgDatabase();
    auto conn = PgConnection::Open(target, {});
    ASSERT_THAT(conn, IsOk());
    ASSERT_THAT(MigratePg(**conn, from), IsOk());
    auto version = PgSchemaVersion(**conn);
    ASSERT_THAT(version, IsOk());
    EXPECT_EQ(*version, from);
    if (from >= 1) {
      ASSERT_THAT((*conn)->Exec("INSERT INTO nodes(name, state) VALUES ('old', 3);"
                                " INSERT INTO gpus(node, idx, type) VALUES ('old', 0, 'a100');"
                                " INSERT INTO jobs(request_id, team, state) VALUES ('old', '', 1)"),
                  IsOk());
    }
    auto store = Store::Open(target);
    ASSERT_THAT(store, IsOk());
    version = PgSchemaVersion(**conn);
    ASSERT_THAT(version, IsOk());
    EXPECT_EQ(*version, LatestSchemaVersion());
    auto snapshot = (*store)->LoadAll();
    ASSERT_THAT(snapshot, IsOk());
    if (from >= 1) {
      ASSERT_EQ(snapshot->nodes.size(), 1u);
      EXPECT_EQ(snapshot->nodes[0].drained(), from < 4);  // set by step 4 only
      EXPECT_EQ(snapshot->nodes[0].gpus(0).type(), "a100");
      // Version 6: the old job was never preempted.
      ASSERT_EQ(snapshot->jobs.size(), 1u);
      EXPECT_EQ(snapshot->jobs[0].preemptions(), 0);
      EXPECT_EQ(snapshot->jobs[0].preempted_by(), 0);
    }
    // Request ids are scoped by team after the migration.
    ASSERT_THAT((*store)->AcquireLeadership("t", 60000), IsOk());
    Job other = MakeJob("x", "req-1");
    other.mutable_spec()->set_team("nlp");
    std::vector<Job> jobs = {MakeJob("x", "req-1"), other};
    auto outcomes = (*store)->InsertJobs(jobs);
    ASSERT_THAT(outcomes, IsOk());
    EXPECT_FALSE((*outcomes)[1].duplicate);
    // Version 7: fair-share usage, empty until saved, then kept.
    EXPECT_TRUE(snapshot->team_usage.rows.empty());
    ASSERT_THAT((*store)->SaveTeamUsage({.as_of_ms = 5, .rows = {{"nlp", "a100", 12}}}), IsOk());
    auto again = (*store)->LoadAll();
    ASSERT_THAT(again, IsOk());
    ASSERT_EQ(again->team_usage.rows.size(), 1u);
    EXPECT_EQ(again->team_usage.rows[0].gpu_ms, 12);
    EXPECT_EQ(again->team_usage.as_of_ms, 5);
  }
}

TEST(PgSchemaTest, NewerDatabaseIsRefused) {
  const std::string target = NewPgDatabase();
  ASSERT_THAT(Store::Open(target), IsOk());
  auto conn = PgConnection::Open(target, {});
  ASSERT_THAT(conn, IsOk());
  ASSERT_THAT((*conn)->Exec("UPDATE schema_version SET version = version + 1"), IsOk());
  EXPECT_THAT(Store::Open(target),
              StatusIs(absl::StatusCode::kFailedPrecondition, "newer than this berthd knows"));
  EXPECT_THAT(MigratePg(**conn, LatestSchemaVersion() + 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// A server that goes away makes every call Unavailable (a retry is safe);
// once it is back the store reconnects by itself.
TEST(PgStoreTest, ServerGoneIsUnavailableThenReconnects) {
  auto cluster = PgTestCluster::Start();  // its own: this test stops it
  ASSERT_THAT(cluster, IsOk());
  auto target = (*cluster)->CreateDatabase();
  ASSERT_THAT(target, IsOk());
  auto store = Store::Open(*target);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->AcquireLeadership("berthd-a", 600000), IsOk());
  ASSERT_THAT((*store)->UpsertNode(MakeNode("n1", 2)), IsOk());
  ASSERT_THAT((*store)->BeginBatch(), IsOk());
  ASSERT_THAT((*store)->UpsertNode(MakeNode("n2", 2)), IsOk());

  ASSERT_THAT((*cluster)->Stop(), IsOk());
  EXPECT_THAT((*store)->CommitBatch(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT((*store)->UpsertNode(MakeNode("n3", 2)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT((*store)->LoadAll(), StatusIs(absl::StatusCode::kUnavailable));

  ASSERT_THAT((*cluster)->Resume(), IsOk());
  ASSERT_THAT((*store)->UpsertNode(MakeNode("n3", 2)), IsOk());
  auto snapshot = (*store)->LoadAll();
  ASSERT_THAT(snapshot, IsOk());
  ASSERT_EQ(snapshot->nodes.size(), 2u);  // n1 and n3: the batch with n2 was lost
  EXPECT_EQ(snapshot->nodes[1].name(), "n3");
  EXPECT_THAT((*store)->CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace berth::db
