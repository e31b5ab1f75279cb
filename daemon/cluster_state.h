// ClusterState: what berthd knows of its cluster — jobs, nodes, their GPUs
// and which job holds each — with the changes between states as named
// methods, and the invariant check that every test ends with.
//
// Plain structs only: no threads, no store, no protobuf. The caller (the
// daemon's writer, or a test, or a simulator) owns the locking and the
// durability; a test builds a cluster in a few lines:
//
//   ClusterState state;
//   state.PutNode(NodeRecord{.name = "n1", .connected = true,
//                            .gpus = {{.index = 0, .type = "h100-80gb"}}});
//   state.AddJob(JobRecord{.id = 1, .gpu_type = "h100-80gb"});
//   ASSERT_TRUE(state.Place(1, {{.node = "n1", .index = 0}}, now).ok());
//   EXPECT_TRUE(state.CheckInvariants().ok());
//
// Job states: PENDING → PLACED → RUNNING → SUCCEEDED | FAILED | CANCELLED,
// REJECTED at admission; Requeue takes a placed or running job back to
// PENDING. A transition from the wrong state is FailedPrecondition and
// changes nothing. Each job carries an opaque `detail` (the spec and plan
// as the wire carries them) that ClusterState never looks into.
//
// The placement views (cluster_views.h) are kept here and rebuilt
// incrementally: a change marks its nodes dirty, and only those are rebuilt;
// so are the pass's indexes (queue_index.h: the queue in order, the GPUs
// running jobs give back; PoolCounts: nodes by free GPUs), which every
// transition updates.
#ifndef BERTH_DAEMON_CLUSTER_STATE_H_
#define BERTH_DAEMON_CLUSTER_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/cluster_views.h"
#include "daemon/indexed_pass.h"
#include "daemon/placement.h"
#include "daemon/queue_index.h"
#include "daemon/queue_policy.h"

namespace berth::daemon {

enum class JobState { kPending, kPlaced, kRunning, kSucceeded, kFailed, kCancelled, kRejected };
enum class NodeState { kUp, kDown, kDrained };
// What happens to a job whose node is lost: back to the queue, or failed.
enum class OnNodeLoss { kRequeue, kFail };

bool IsLive(JobState state);               // PENDING, PLACED or RUNNING
const char* JobStateName(JobState state);  // "PENDING", as the wire spells it

struct JobDetail;  // the spec and plan as the wire carries them (state_convert.h)

// One GPU a placed job holds, with its ranks in the split.
struct GpuHold {
  std::string node;
  int32_t index = 0;
  std::string uuid;
  std::string node_address;
  int32_t tp_rank = 0;
  int32_t pp_rank = 0;
  int32_t dp_rank = 0;
};

struct JobRecord {
  int64_t id = 0;
  std::string request_id;
  std::string team;
  int32_t priority = 0;
  JobState state = JobState::kPending;
  std::string reason;
  std::string gpu_type;  // the pool chosen at admission
  GangShape shape;
  int64_t submit_time_ms = 0;
  int64_t start_time_ms = 0;
  int64_t end_time_ms = 0;
  int32_t exit_code = 0;
  int64_t max_runtime_ms = 0;  // 0: unbounded
  OnNodeLoss on_node_loss = OnNodeLoss::kRequeue;
  std::vector<GpuHold> gpus;  // while PLACED or RUNNING; after, where it ran
  // An ended job still holds its GPUs on these nodes until each confirms
  // that the job's processes are gone (or is declared DOWN): a cancelled
  // job's GPUs are not offered again while its process may still run.
  std::set<std::string> stopping_on;
  // Times it was preempted and requeued.
  int32_t preemptions = 0;
  // A placed or running job being preempted: the job it makes room for.
  // It keeps all its GPUs until every node in `stopping_on` has confirmed
  // the stop, then goes back to PENDING (RequeuePreempted). 0 otherwise.
  int64_t preempted_by = 0;
  std::shared_ptr<const JobDetail> detail;
};

struct GpuRecord {
  int32_t index = 0;
  std::string uuid;
  std::string type;
  int64_t memory_bytes = 0;
  std::string pci_bus_id;
  std::vector<int32_t> nvlink_peers;
  int64_t job_id = 0;  // the job holding it; 0 when free
};

struct NodeRecord {
  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;
  NodeState state = NodeState::kUp;
  bool drained = false;    // an operator's drain; outlives DOWN
  bool connected = false;  // an agent stream is open now
  std::vector<GpuRecord> gpus;
};

class ClusterState {
 public:
  ClusterState() = default;

  // Adds or replaces a node. GPUs keep the holder they had by index (a
  // node that registers again keeps its jobs' GPUs), and a GPU that a live
  // job holds stays held even if the new record says free.
  void PutNode(NodeRecord node);
  // Adds a job as it is (recovery, admission). A placed or running job's
  // GPUs are marked held by it.
  void AddJob(JobRecord job);

  const JobRecord* FindJob(int64_t id) const;
  const NodeRecord* FindNode(const std::string& name) const;
  const std::map<int64_t, JobRecord>& jobs() const { return jobs_; }
  const std::map<std::string, NodeRecord>& nodes() const { return nodes_; }
  const std::set<int64_t>& live() const { return live_; }  // by id: oldest first
  // When each pending job last became PENDING (submit or requeue).
  const std::map<int64_t, int64_t>& pending_since() const { return pending_since_; }
  // The distinct nodes a job holds GPUs on.
  std::set<std::string> NodesOf(const JobRecord& job) const;

  // Transitions. FailedPrecondition (changing nothing) from a wrong state,
  // NotFound for an unknown job or node.
  absl::Status Place(int64_t id, std::vector<GpuHold> gpus, int64_t now_ms);  // PENDING → PLACED
  absl::Status Start(int64_t id, int64_t time_ms);  // PLACED → RUNNING; 0 keeps the time
  // A live job ends (SUCCEEDED, FAILED or CANCELLED) and frees its GPUs,
  // except those on `hold_on`: nodes that must first confirm the stop.
  absl::Status Finish(int64_t id, JobState end, std::string reason, int32_t exit_code,
                      int64_t now_ms, const std::set<std::string>& hold_on = {});
  absl::Status Cancel(int64_t id, int64_t now_ms) {
    return Finish(id, JobState::kCancelled, "cancelled by request", 0, now_ms);
  }
  // A placed or running job goes back to the queue and frees its GPUs.
  absl::Status Requeue(int64_t id, std::string reason, int64_t now_ms);
  // A placed or running job is preempted for `preemptor`: it keeps its
  // GPUs until each of `stop_on` (a non-empty subset of its nodes) confirms
  // the stop (ConfirmStopped); then the caller requeues it with
  // RequeuePreempted. FailedPrecondition when it is not placed or running,
  // or is being preempted already.
  absl::Status Preempt(int64_t id, int64_t preemptor, std::set<std::string> stop_on);
  // Requeue of a preempted job whose nodes all confirmed: its count rises.
  absl::Status RequeuePreempted(int64_t id, std::string reason, int64_t now_ms);
  // Jobs being preempted (live, with preempted_by set).
  const std::set<int64_t>& preempting() const { return preempting_; }

  // A node confirmed that an ended job's processes are gone: the GPUs the
  // job still held there are free. For a job being preempted the node only
  // leaves its stopping_on (its GPUs are freed all at once when it is
  // requeued). NotFound when it held none there.
  absl::Status ConfirmStopped(int64_t id, const std::string& node);
  // Ended jobs whose GPUs on `node` wait for a stop confirmation.
  std::vector<int64_t> StoppingOn(const std::string& node) const;
  const std::set<int64_t>& stopping() const { return stopping_; }

  absl::Status NodeDown(const std::string& name);
  // A DOWN node that heartbeats again: UP, or DRAINED if an operator drained it.
  absl::Status NodeUp(const std::string& name);
  // A DOWN node stays DOWN; the flag decides what it comes back as.
  absl::Status SetDrained(const std::string& name, bool drained);
  absl::Status SetConnected(const std::string& name, bool connected);

  // Notes that one of a live job's nodes reported success; returns how many
  // of its nodes have (the job succeeds when all have).
  size_t NoteNodeSucceeded(int64_t id, const std::string& node);

  // Drops the oldest ended jobs beyond `keep` from memory (never one that
  // still holds GPUs while its nodes stop it).
  void EvictFinished(size_t keep);
  // Drops these jobs from memory (retention pruned them from the store);
  // ids of live or still stopping jobs, or unknown ones, are ignored.
  void ForgetEnded(const std::vector<int64_t>& ids);

  // The last scheduling pass's verdicts on the jobs it left waiting.
  void SetWaiting(const std::vector<Waiting>& waiting);
  const std::map<int64_t, Waiting>& waiting() const { return waiting_; }

  // Views with current free GPUs, kept up to date incrementally.
  const std::vector<NodeView>& PlacementViews();
  // The views as of the last PlacementViews() call (for readers that may
  // not change the state).
  const std::vector<NodeView>& CurrentViews() const { return views_; }
  // Views with every GPU free and every node counted (admission).
  std::vector<NodeView> CapacityViews() const;
  // Pools from the placement views (call PlacementViews() first).
  std::vector<PoolInfo> Pools() const;
  // True once since the last call when nodes or their GPUs changed (a
  // capacity view built before is stale).
  bool TakeTopologyChanged();

  // The pass's inputs: pending jobs and running jobs (by id), with their
  // teams (and the running jobs' starts and priorities).
  std::vector<PendingJob> PendingJobs() const;
  std::vector<RunningJob> RunningJobs() const;
  // The same, kept up to date by every transition (SchedulePassIndexed's
  // input), and the pools' node counts as of the last PlacementViews().
  const QueueIndex& queue_index() const { return index_; }
  const std::map<std::string, PoolCounts>& pool_counts() const { return pool_counts_; }

  // Every GPU's holder is a placed or running job that lists it (or an
  // ended one stopping on that node), every such job's GPUs name it,
  // allocated + free = capacity per node, other ended jobs hold nothing,
  // and the placement views, pool counts and queue index match a rebuild. Internal with
  // the first violation.
  absl::Status CheckInvariants() const;

 private:
  JobRecord* MutableJob(int64_t id);
  NodeRecord* MutableNode(const std::string& name);
  // Frees the job's GPUs, on every node or only on `node`.
  void Release(JobRecord& job, const std::string* node = nullptr);
  void Hold(const JobRecord& job, const GpuHold& hold);
  void SetState(JobRecord& job, JobState state);
  // Tells the queue index the job's state after a change.
  void Track(const JobRecord& job);
  void MarkDirty(const std::string& node) { dirty_nodes_.insert(node); }
  std::vector<NodeView> BuildViews(bool capacity) const;

  std::map<std::string, NodeRecord> nodes_;
  std::map<int64_t, JobRecord> jobs_;
  std::set<int64_t> live_;        // PENDING, PLACED, RUNNING
  std::set<int64_t> finished_;    // the other jobs in jobs_
  std::set<int64_t> stopping_;    // ended jobs with a non-empty stopping_on
  std::set<int64_t> preempting_;  // live jobs with preempted_by set
  std::map<int64_t, int64_t> pending_since_;
  std::map<int64_t, Waiting> waiting_;
  std::map<int64_t, std::set<std::string>> succeeded_nodes_;

  // Placement views: node name → [first, last) in views_.
  std::vector<NodeView> views_;
  absl::flat_hash_map<std::string, std::pair<size_t, size_t>> view_span_;
  std::set<std::string> dirty_nodes_;
  bool views_stale_ = true;
  bool topology_changed_ = true;
  absl::flat_hash_map<std::string, planner::GpuType> pool_gpus_;
  std::map<std::string, PoolCounts> pool_counts_;  // of views_
  QueueIndex index_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_CLUSTER_STATE_H_
