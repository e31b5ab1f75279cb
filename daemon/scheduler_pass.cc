// SchedulerCore: the scheduling pass, and the views of the cluster that
// admission and placement work on.
#include <algorithm>
#include <iostream>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/scheduler_core.h"
#include "planner/catalog.h"

namespace berth::daemon {

using berth::v1::Job;

namespace {

bool Schedulable(const berth::v1::Node& node, bool connected) {
  return connected && node.state() == berth::v1::UP;
}

// The planner's GPU type for a pool: the catalog entry, or a custom card
// with the memory the agent reported (no speed figures).
planner::GpuType PoolGpu(const berth::v1::Gpu& gpu) {
  absl::StatusOr<planner::GpuType> known = planner::FindGpu(gpu.type());
  if (known.ok()) return *known;
  return planner::GpuType{.name = gpu.type(),
                          .memory_bytes = static_cast<int64_t>(gpu.memory_bytes())};
}

int64_t MaxRuntimeMs(const Job& job) { return job.spec().max_runtime_seconds() * 1000; }

GangShape ShapeOfJob(const Job& job) {
  return GangShape{.tp = std::max(1, job.plan().tp()), .pp = std::max(1, job.plan().pp()),
                   .dp = std::max(1, job.plan().dp())};
}

}  // namespace

namespace {

// Appends one view per GPU type on the node (almost always one).
void AppendNodeViews(const std::string& name, const berth::v1::Node& node, bool connected,
                     bool capacity, std::vector<NodeView>& views) {
  const size_t first = views.size();
  const bool schedulable = capacity || Schedulable(node, connected);
  for (const berth::v1::Gpu& gpu : node.gpus()) {
    size_t i = first;
    while (i < views.size() && views[i].gpu_type != gpu.type()) ++i;
    if (i == views.size()) {
      views.push_back(NodeView{.name = name, .gpu_type = gpu.type(), .free_gpus = {},
                               .total_gpus = 0, .schedulable = schedulable});
    }
    views[i].total_gpus++;
    if (capacity || gpu.job_id() == 0) views[i].free_gpus.push_back(gpu.index());
  }
  for (size_t i = first; i < views.size(); ++i) {
    std::sort(views[i].free_gpus.begin(), views[i].free_gpus.end());
  }
}

}  // namespace

std::vector<NodeView> SchedulerCore::ViewsLocked(bool capacity) const {
  std::vector<NodeView> views;
  views.reserve(nodes_.size());
  for (const auto& [name, entry] : nodes_) {
    AppendNodeViews(name, entry.node, entry.connected, capacity, views);
  }
  return views;
}

const std::vector<NodeView>& SchedulerCore::CurrentViewsLocked() {
  if (!views_stale_) {
    for (const std::string& name : dirty_nodes_) {
      auto span = view_span_.find(name);
      auto entry = nodes_.find(name);
      if (span == view_span_.end() || entry == nodes_.end()) {
        views_stale_ = true;
        break;
      }
      // Rebuild this node's views alone.
      std::vector<NodeView> fresh;
      AppendNodeViews(name, entry->second.node, entry->second.connected, false, fresh);
      if (fresh.size() != span->second.second - span->second.first) {
        views_stale_ = true;
        break;
      }
      std::move(fresh.begin(), fresh.end(), views_.begin() + span->second.first);
    }
  }
  dirty_nodes_.clear();
  if (views_stale_) {
    views_ = ViewsLocked(false);
    view_span_.clear();
    for (size_t i = 0; i < views_.size(); ++i) {
      auto [it, inserted] = view_span_.try_emplace(views_[i].name, i, i + 1);
      if (!inserted) it->second.second = i + 1;
    }
    pool_gpus_.clear();
    for (const auto& [name, entry] : nodes_) {
      for (const berth::v1::Gpu& gpu : entry.node.gpus()) {
        if (!pool_gpus_.contains(gpu.type())) pool_gpus_[gpu.type()] = PoolGpu(gpu);
      }
    }
    views_stale_ = false;
  }
  return views_;
}

void SchedulerCore::RefreshCaches() {
  absl::MutexLock lock(&mu_);
  RefreshCachesLocked();
}

void SchedulerCore::RefreshCachesLocked() {
  CurrentViewsLocked();
  pools_cache_ = PoolsLocked();
  if (topology_changed_) {
    capacity_cache_ = std::make_shared<const std::vector<NodeView>>(ViewsLocked(true));
    topology_changed_ = false;
  }
}

// Pools from the current views: one per GPU type, by name. Callers refresh
// the views first (CurrentViewsLocked).
std::vector<PoolInfo> SchedulerCore::PoolsLocked() const {
  std::vector<PoolInfo> pools;  // few: one per GPU type
  for (const NodeView& view : views_) {
    size_t i = 0;
    while (i < pools.size() && pools[i].gpu_type != view.gpu_type) ++i;
    if (i == pools.size()) {
      auto gpu = pool_gpus_.find(view.gpu_type);
      pools.push_back(PoolInfo{.gpu_type = view.gpu_type,
                               .gpu = gpu != pool_gpus_.end() ? gpu->second : planner::GpuType{}});
    }
    pools[i].total_gpus += view.total_gpus;
    if (view.schedulable) pools[i].free_gpus += static_cast<int64_t>(view.free_gpus.size());
    pools[i].gpus_per_node = std::max<int64_t>(pools[i].gpus_per_node, view.total_gpus);
  }
  std::sort(pools.begin(), pools.end(),
            [](const PoolInfo& a, const PoolInfo& b) { return a.gpu_type < b.gpu_type; });
  return pools;
}

void SchedulerCore::ObservePlacedLocked(const Job& job, int64_t now_ms) {
  auto since = pending_since_.find(job.id());
  if (since == pending_since_.end()) return;
  Metrics* m = options_.metrics;
  if (m != nullptr) {
    m->queue_wait_seconds.Observe(static_cast<double>(now_ms - since->second) / 1000.0);
    // Only a first placement counts as submit-to-placed.
    if (since->second == job.submit_time_ms()) {
      m->submit_to_placed_seconds.Observe(static_cast<double>(now_ms - job.submit_time_ms()) /
                                          1000.0);
    }
  }
  pending_since_.erase(since);
}

void SchedulerCore::RunPass() {
  const absl::Time started = absl::Now();
  RunPassTimed();
  if (options_.metrics != nullptr) {
    options_.metrics->scheduling_pass_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - started));
  }
}

void SchedulerCore::RunPassTimed() {
  dirty_ = false;
  const int64_t now = options_.now_ms();
  std::vector<PendingJob> pending;
  std::vector<RunningJob> running;
  std::vector<NodeView> views;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (int64_t id : live_) {
      const Job& job = jobs_.at(id);
      if (job.state() == berth::v1::PENDING) {
        pending.push_back(PendingJob{.id = id, .priority = job.spec().priority(),
                                     .submit_time_ms = job.submit_time_ms(),
                                     .gpu_type = job.gpu_type(), .shape = ShapeOfJob(job),
                                     .max_runtime_ms = MaxRuntimeMs(job)});
      } else {
        const int64_t limit = MaxRuntimeMs(job);
        running.push_back(RunningJob{.id = id, .gpu_type = job.gpu_type(),
                                     .gpus = job.gpus_size(),
                                     .end_by_ms = limit > 0 ? job.start_time_ms() + limit : 0});
      }
    }
  }
  if (pending.empty()) {
    absl::MutexLock lock(&mu_);
    waiting_.clear();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    views = CurrentViewsLocked();
  }
  PassResult result = SchedulePass(std::move(pending), running, std::move(views), now);

  std::vector<Job> placed;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const Decision& d : result.placed) {
      Job job = jobs_.at(d.job_id);
      for (const SlotAssignment& slot : d.slots) {
        berth::v1::GpuAssignment* gpu = job.add_gpus();
        gpu->set_node(slot.node);
        gpu->set_index(slot.gpu_index);
        gpu->set_tp_rank(slot.tp_rank);
        gpu->set_pp_rank(slot.pp_rank);
        gpu->set_dp_rank(slot.dp_rank);
        const berth::v1::Node& node = nodes_.at(slot.node).node;
        gpu->set_node_address(node.address());
        for (const auto& g : node.gpus()) {
          if (g.index() == slot.gpu_index) gpu->set_uuid(g.uuid());
        }
      }
      job.set_state(berth::v1::PLACED);
      job.set_start_time_ms(now);
      job.clear_reason();
      placed.push_back(std::move(job));
    }
  }
  if (!placed.empty()) {
    // Durable before anyone hears of it.
    for (const Job& job : placed) {
      std::set<std::string> job_nodes;
      for (const auto& gpu : job.gpus()) job_nodes.insert(gpu.node());
      Record(job.id(), "", "placed",
             absl::StrCat(job.gpus_size(), " GPUs on ", absl::StrJoin(job_nodes, ",")));
    }
    std::vector<db::Event> events;
    events.swap(events_);
    if (absl::Status s = Timed([&] { return store_->CommitPlacements(placed, events); });
        !s.ok()) {
      std::cerr << "berthd: placement not committed, will retry: " << s << "\n";
      dirty_ = true;
      placed.clear();
    }
  }
  absl::MutexLock lock(&mu_);
  waiting_.clear();
  for (const Waiting& w : result.waiting) waiting_[w.job_id] = w;
  for (Job& job : placed) {
    for (const auto& gpu : job.gpus()) {
      MarkDirtyLocked(gpu.node());
      for (auto& g : *nodes_.at(gpu.node()).node.mutable_gpus()) {
        if (g.index() == gpu.index()) g.set_job_id(job.id());
      }
    }
    std::set<std::string> job_nodes;
    for (const auto& gpu : job.gpus()) job_nodes.insert(gpu.node());
    ObservePlacedLocked(job, now);
    jobs_[job.id()] = job;
    for (const std::string& node : job_nodes) {
      berth::v1::DaemonMessage message;
      *message.mutable_start_job()->mutable_job() = job;
      Notify(node, std::move(message));
    }
  }
}

}  // namespace berth::daemon
