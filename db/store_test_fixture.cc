#include "db/store_test_fixture.h"

#include <utility>

#include "db/database.h"
#include "db/pg_connection.h"
#include "db/pg_test_cluster.h"

namespace berth::db {

using berth::v1::Job;
using berth::v1::Node;

std::string BackendName(const testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

void PrintTo(Backend backend, std::ostream* os) {
  *os << (backend == Backend::kSqlite ? "Sqlite" : "Postgres");
}

Node MakeNode(const std::string& name, int gpus) {
  Node node;
  node.set_name(name);
  node.set_state(berth::v1::UP);
  node.set_last_heartbeat_ms(5000);
  (*node.mutable_labels())["rack"] = "r1";
  for (int i = 0; i < gpus; ++i) {
    berth::v1::Gpu* gpu = node.add_gpus();
    gpu->set_index(i);
    gpu->set_uuid("GPU-" + name + "-" + std::to_string(i));
    gpu->set_type("h100-80gb");
    gpu->set_memory_bytes(85899345920.0);  // 80 GiB
    gpu->set_pci_bus_id("0000:0" + std::to_string(i) + ":00.0");
    for (int peer = 0; peer < gpus; ++peer) {
      if (peer != i) gpu->add_nvlink_peers(peer);
    }
  }
  return node;
}

Job MakeJob(const std::string& name, const std::string& request_id) {
  Job job;
  job.set_state(berth::v1::PENDING);
  job.set_gpu_type("h100-80gb");
  job.set_submit_time_ms(1000);
  berth::v1::JobSpec& spec = *job.mutable_spec();
  spec.set_name(name);
  spec.set_team("infra");
  spec.set_priority(2);
  spec.set_task("train");
  spec.set_request_id(request_id);
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.add_command("python");
  spec.add_command("train.py");
  (*spec.mutable_env())["SEED"] = "1";
  job.mutable_plan()->set_feasible(true);
  job.mutable_plan()->set_gpus(2);
  job.mutable_plan()->set_tp(2);
  return job;
}

Job Placed(Job job, const std::string& node, const std::vector<int>& gpus) {
  job.clear_gpus();
  for (size_t i = 0; i < gpus.size(); ++i) {
    berth::v1::GpuAssignment* gpu = job.add_gpus();
    gpu->set_node(node);
    gpu->set_index(gpus[i]);
    gpu->set_tp_rank(static_cast<int32_t>(i));
    gpu->set_dp_rank(1);
  }
  return job;
}

std::string Dump(const Snapshot& snapshot) {
  std::string out = "next_job_id: " + std::to_string(snapshot.next_job_id) + "\n";
  for (const Node& node : snapshot.nodes) out += "node {\n" + node.DebugString() + "}\n";
  for (const Job& job : snapshot.jobs) out += "job {\n" + job.DebugString() + "}\n";
  return out;
}

const Node* FindNode(const Snapshot& snapshot, const std::string& name) {
  for (const Node& node : snapshot.nodes) {
    if (node.name() == name) return &node;
  }
  return nullptr;
}

std::string NewPgDatabase() {
  // One server per test process, stopped and removed when the process exits.
  static absl::StatusOr<std::unique_ptr<PgTestCluster>> cluster = PgTestCluster::Start();
  if (!cluster.ok()) {
    ADD_FAILURE() << "no PostgreSQL test server: " << cluster.status();
    return "";
  }
  absl::StatusOr<std::string> target = (*cluster)->CreateDatabase();
  EXPECT_TRUE(target.ok()) << target.status();
  return target.ok() ? *target : "";
}

// ---------------------------------------------------------------- StoreTest

void StoreTest::SetUp() {
  target_ = GetParam() == Backend::kSqlite ? dir_.Path("berth.db") : NewPgDatabase();
  ASSERT_FALSE(target_.empty());
  Reopen();
  ASSERT_NE(store_, nullptr);
  ASSERT_TRUE(store_->UpsertNode(MakeNode("n1", 4)).ok());
  ASSERT_TRUE(store_->UpsertNode(MakeNode("n2", 2)).ok());
}

void StoreTest::TearDown() {
  if (store_ != nullptr) {
    absl::Status status = store_->CheckInvariants();
    EXPECT_TRUE(status.ok()) << status;
  }
}

void StoreTest::Reopen(const StoreOptions& options) {
  store_.reset();
  auto store = Store::Open(target_, options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_STREQ((*store)->backend(), GetParam() == Backend::kSqlite ? "sqlite" : "postgresql");
  auto term = (*store)->AcquireLeadership("store_test", 60000);
  ASSERT_TRUE(term.ok()) << term.status();
  store_ = *std::move(store);
}

std::vector<Job> StoreTest::Insert(std::vector<Job> jobs) {
  auto outcomes = store_->InsertJobs(jobs);
  EXPECT_TRUE(outcomes.ok()) << outcomes.status();
  return jobs;
}

Snapshot StoreTest::Load() {
  auto snapshot = store_->LoadAll();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? *std::move(snapshot) : Snapshot{};
}

int64_t StoreTest::Count(const std::string& sql) {
  if (GetParam() == Backend::kSqlite) {
    auto db = Database::Open(target_);
    if (!db.ok()) return -1;
    auto stmt = (*db)->Prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status();
    if (!stmt.ok() || !stmt->Step().value_or(false)) return -1;
    return stmt->ColumnInt64(0);
  }
  auto conn = PgConnection::Open(target_, {});
  if (!conn.ok()) return -1;
  auto result = (*conn)->Exec(sql);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok() || result->rows() != 1) return -1;
  return result->Int64(0, 0);
}

absl::Status StoreTest::Exec(const std::string& sql) {
  if (GetParam() == Backend::kSqlite) {
    auto db = Database::Open(target_);
    if (!db.ok()) return db.status();
    return (*db)->Exec(sql);
  }
  auto conn = PgConnection::Open(target_, {});
  if (!conn.ok()) return conn.status();
  return (*conn)->Exec(sql).status();
}

}  // namespace berth::db
