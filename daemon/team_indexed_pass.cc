#include "daemon/team_indexed_pass.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "daemon/team_policy.h"
#include "daemon/work_pool.h"

namespace berth::daemon {
namespace {

// One lane during the pass.
struct Cursor {
  const std::string* pool = nullptr;
  const LaneKey* key = nullptr;
  std::set<QueueKey>::const_iterator next;
  std::set<QueueKey>::const_iterator end;
  int64_t max_submit_ms = 0;  // of the lane's jobs
  size_t size = 0;
  size_t placed = 0;
};

// One team's open lanes, as a heap by their next job (min first).
struct TeamLanes {
  const std::string* name = nullptr;
  std::vector<size_t> heap;  // indices into the cursors
  std::tuple<int, double> key;
  bool fresh = false;
};

// A pool during the pass, with its placer once one is needed.
struct PassPool {
  bool schedulable = false;
  WorkPool work;
  std::optional<PoolPlacer> placer;
};

// GPUs of each type over every node (CapacityByType of the views).
std::map<std::string, int64_t> CapacityOf(const std::map<std::string, PoolCounts>& counts) {
  std::map<std::string, int64_t> capacity;
  for (const auto& [type, c] : counts) {
    int64_t nodes = 0, gpus = 0;
    for (size_t k = 0; k < c.all_by_total.size(); ++k) {
      nodes += c.all_by_total[k];
      gpus += static_cast<int64_t>(k) * c.all_by_total[k];
    }
    if (nodes > 0) capacity[type] = gpus;
  }
  return capacity;
}

class Pass {
 public:
  Pass(const QueueIndex& index, const std::map<std::string, PoolCounts>& counts,
       const std::vector<NodeView>& views, int64_t now_ms, const TeamPassInput& teams)
      : index_(index),
        counts_(counts),
        views_(views),
        now_ms_(now_ms),
        config_(*teams.config),
        ledger_(config_, index.HeldGpusByTeam(), CapacityOf(counts),
                teams.usage != nullptr ? *teams.usage : no_history_) {}

  TeamIndexedResult Run() {
    BuildLanes();
    while (TeamLanes* team = NextTeam()) {
      const size_t c = team->heap.front();
      std::pop_heap(team->heap.begin(), team->heap.end(), ComesLater{&cursors_});
      team->heap.pop_back();
      team->fresh = false;
      Cursor& cursor = cursors_[c];
      if (Decide(*team->name, cursor) && ++cursor.next != cursor.end) {
        team->heap.push_back(c);
        std::push_heap(team->heap.begin(), team->heap.end(), ComesLater{&cursors_});
      }
    }
    result_.reclaim_may_act = ReclaimMayAct();
    return std::move(result_);
  }

 private:
  // Heap order: the cursor whose next job comes later is lower.
  struct ComesLater {
    const std::vector<Cursor>* cursors = nullptr;
    bool operator()(size_t a, size_t b) const { return *(*cursors)[b].next < *(*cursors)[a].next; }
  };

  void BuildLanes() {
    std::map<std::string, std::vector<size_t>> by_team;
    for (const auto& [pool, queue] : index_.queues()) {
      for (const auto& [key, jobs] : queue.lanes) {
        by_team[key.team].push_back(cursors_.size());
        cursors_.push_back(Cursor{.pool = &pool,
                                  .key = &key,
                                  .next = jobs.begin(),
                                  .end = jobs.end(),
                                  .max_submit_ms = std::prev(jobs.end())->submit_time_ms,
                                  .size = jobs.size()});
      }
    }
    for (auto& [team, lanes] : by_team) {
      TeamLanes& t = teams_.emplace_back(TeamLanes{.name = &cursors_[lanes.front()].key->team});
      t.heap = std::move(lanes);
      std::make_heap(t.heap.begin(), t.heap.end(), ComesLater{&cursors_});
    }
  }

  // The team whose next job goes next (TeamQueue::Next); null when none.
  TeamLanes* NextTeam() {
    TeamLanes* best = nullptr;
    for (TeamLanes& team : teams_) {  // by name: ties go to the first
      if (team.heap.empty()) continue;
      if (!team.fresh) {
        const Cursor& head = cursors_[team.heap.front()];
        team.key = {ledger_.WithinNominal(*team.name, *head.pool, head.key->gpus()) ? 0 : 1,
                    ledger_.WeightedShare(*team.name)};
        team.fresh = true;
      }
      if (best == nullptr || team.key < best->key) best = &team;
    }
    return best;
  }

  PassPool& PoolOf(const std::string& name) {
    auto [it, added] = pools_.try_emplace(name);
    PassPool& pool = it->second;
    if (!added) return pool;
    auto count = counts_.find(name);
    const PoolCounts* kept = count == counts_.end() ? nullptr : &count->second;
    pool.schedulable = kept != nullptr && kept->schedulable_nodes > 0;
    pool.work = KeptWorkPool(name, kept, index_);
    return pool;
  }

  PoolPlacer& PlacerOf(PassPool& pool) {
    if (!pool.placer) {
      pool.placer.emplace(NodesWithFreeGpus(views_, pool.work.name), &pool.work.by_free);
    }
    return *pool.placer;
  }

  // The team pass's decision on the cursor's next job; false when it ends
  // the lane.
  bool Decide(const std::string& team, Cursor& cursor) {
    const LaneKey& lane = *cursor.key;
    const std::string& type = *cursor.pool;
    const QueueKey& job = *cursor.next;
    const int64_t gpus = lane.gpus();
    const bool within = ledger_.WithinNominal(team, type, gpus);
    if (ledger_.Refusal(team, type, gpus) || (!within && guaranteed_waiting_.contains(type))) {
      return false;
    }
    PassPool& pool = PoolOf(type);
    WorkPool& work = pool.work;
    if (pool.schedulable) {
      const GangShape shape = lane.shape();
      const bool fits = FitsByCount(work.by_free, shape);
      const int64_t blocker = fits ? BackfillBlocker(work, lane, now_ms_) : 0;
      std::optional<std::vector<SlotAssignment>> slots;
      if (fits && blocker == 0) slots = PlacerOf(pool).Place(shape);
      if (slots) {
        Commit(*slots, lane, now_ms_, work);
        result_.placed.push_back(Decision{
            .job_id = job.id, .slots = std::move(*slots), .backfilled = work.head.has_value()});
        ledger_.Take(team, type, gpus);
        ++cursor.placed;
        return true;
      }
      if (within) guaranteed_waiting_.insert(type);
      const int64_t reserve_after = config_.reserve_after_ms;
      const bool aged = reserve_after > 0 && now_ms_ - job.submit_time_ms >= reserve_after;
      if (blocker != 0) return aged && ReserveAged(work, job.id, gpus, now_ms_);
      const bool could_fit = FitsByCount(*work.by_total, shape);
      if (work.head) return aged && could_fit && ReserveAged(work, job.id, gpus, now_ms_);
      if (!could_fit) return false;
      work.head = MakeReservation(work, job.id, gpus, now_ms_);
      return true;
    }
    if (within) guaranteed_waiting_.insert(type);
    return false;
  }

  // See the header: whether a lane left waiting meets a necessary condition
  // of a preemption.
  bool ReclaimMayAct() const {
    for (const Cursor& cursor : cursors_) {
      if (cursor.placed == cursor.size) continue;
      const std::string& team = cursor.key->team;
      const std::string& type = *cursor.pool;
      if (ledger_.WithinNominal(team, type, cursor.key->gpus()) &&
          ledger_.OthersBorrow(team, type)) {
        return true;
      }
      auto held = index_.team_held().find(team);
      if (held == index_.team_held().end()) continue;
      auto in_pool = held->second.find(type);
      if (in_pool == held->second.end()) continue;
      const auto& starts = in_pool->second.starts;  // by (priority, start)
      for (auto it = starts.begin(); it != starts.end() && it->first < cursor.key->priority;
           it = starts.upper_bound({it->first, std::numeric_limits<int64_t>::max()})) {
        // The earliest start of this priority.
        if (it->second < cursor.max_submit_ms && now_ms_ - it->second >= config_.min_runtime_ms) {
          return true;
        }
      }
    }
    return false;
  }

  const QueueIndex& index_;
  const std::map<std::string, PoolCounts>& counts_;
  const std::vector<NodeView>& views_;
  const int64_t now_ms_;
  const TeamsConfig& config_;
  const DecayedUsage no_history_;
  TeamLedger ledger_;
  std::vector<Cursor> cursors_;
  std::vector<TeamLanes> teams_;  // by name
  std::map<std::string, PassPool> pools_;
  std::set<std::string> guaranteed_waiting_;  // as queue_policy.cc's TeamPass
  TeamIndexedResult result_;
};

}  // namespace

TeamIndexedResult SchedulePassTeamsIndexed(const QueueIndex& index,
                                           const std::map<std::string, PoolCounts>& counts,
                                           const std::vector<NodeView>& views, int64_t now_ms,
                                           const TeamPassInput& teams) {
  return Pass(index, counts, views, now_ms, teams).Run();
}

}  // namespace berth::daemon
