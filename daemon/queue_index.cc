#include "daemon/queue_index.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::daemon {

LaneKey LaneKeyOf(const PendingJob& job) {
  return LaneKey{.tp = job.shape.tp,
                 .pp = job.shape.pp,
                 .dp = job.shape.dp,
                 .max_runtime_ms = job.max_runtime_ms,
                 .team = job.team,
                 .priority = job.priority};
}

void PoolReleases::Add(int64_t end_ms, int64_t gpus, int sign) {
  if (end_ms <= 0) {
    unbounded_gpus += sign * gpus;
    return;
  }
  auto& [at_gpus, at_jobs] = bounded[end_ms];
  at_gpus += sign * gpus;
  at_jobs += sign;
  bounded_gpus += sign * gpus;
  if (at_jobs == 0) bounded.erase(end_ms);
}

void QueueIndex::Track(int64_t id, std::optional<Entry> entry) {
  if (entry && entry->held) {
    held_.insert(id);
  } else {
    held_.erase(id);
  }
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.held && it->second.held->first > 0) {
    held_ends_.erase({it->second.held->first, id});
  }
  if (entry && entry->held && entry->held->first > 0) held_ends_.emplace(entry->held->first, id);
  if (it != entries_.end()) {
    Add(it->second, -1);
    if (!entry) {
      entries_.erase(it);
      return;
    }
    it->second = std::move(*entry);
    Add(it->second, +1);
    return;
  }
  if (!entry) return;
  Add(entries_.emplace(id, std::move(*entry)).first->second, +1);
}

void QueueIndex::Add(const Entry& entry, int sign) {
  if (entry.pending) {
    PoolQueue& queue = queues_[entry.pool];
    const auto& [lane_key, key] = *entry.pending;
    if (sign > 0) {
      queue.lanes[lane_key].insert(key);
      queue.jobs++;
      pending_++;
    } else {
      auto lane = queue.lanes.find(lane_key);
      lane->second.erase(key);
      if (lane->second.empty()) queue.lanes.erase(lane);
      queue.jobs--;
      pending_--;
      if (queue.jobs == 0) queues_.erase(entry.pool);
    }
  }
  if (entry.held) {
    PoolReleases& pool = releases_[entry.pool];
    const auto [end_ms, gpus] = *entry.held;
    pool.Add(end_ms, gpus, sign);
    if (pool.empty()) releases_.erase(entry.pool);
    auto& by_pool = team_held_[entry.team];
    TeamHeld& team = by_pool[entry.pool];
    team.gpus += sign * gpus;
    team.jobs += sign;
    if (sign > 0) {
      team.starts.emplace(entry.priority, entry.start_ms);
    } else {
      team.starts.erase(team.starts.find({entry.priority, entry.start_ms}));
    }
    if (team.jobs == 0) {
      by_pool.erase(entry.pool);
      if (by_pool.empty()) team_held_.erase(entry.team);
    }
  }
}

TeamGpus QueueIndex::HeldGpusByTeam() const {
  TeamGpus held;
  for (const auto& [team, pools] : team_held_) {
    for (const auto& [pool, h] : pools) held[team][pool] = h.gpus;
  }
  return held;
}

std::vector<int64_t> QueueIndex::PendingInOrder() const {
  std::vector<QueueKey> keys;
  keys.reserve(pending_);
  for (const auto& [pool, queue] : queues_) {
    for (const auto& [lane, jobs] : queue.lanes) keys.insert(keys.end(), jobs.begin(), jobs.end());
  }
  std::sort(keys.begin(), keys.end());
  std::vector<int64_t> ids;
  ids.reserve(keys.size());
  for (const QueueKey& key : keys) ids.push_back(key.id);
  return ids;
}

absl::Status QueueIndex::Verify(const std::vector<PendingJob>& pending,
                                const std::vector<RunningJob>& running) const {
  QueueIndex fresh;
  for (const PendingJob& job : pending) {
    const LaneKey lane = LaneKeyOf(job);
    const QueueKey key{
        .priority = job.priority, .submit_time_ms = job.submit_time_ms, .id = job.id};
    fresh.Track(job.id, Entry{.pool = job.gpu_type, .pending = std::pair(lane, key)});
  }
  for (const RunningJob& job : running) {
    fresh.Track(job.id, Entry{.pool = job.gpu_type,
                              .held = std::pair(job.end_by_ms, job.gpus),
                              .team = job.team,
                              .priority = job.priority,
                              .start_ms = job.start_ms});
  }
  if (fresh.pending_ != pending_ || fresh.queues_.size() != queues_.size()) {
    return absl::InternalError(absl::StrCat("queue index holds ", pending_,
                                            " pending jobs; the state has ", fresh.pending_));
  }
  for (const auto& [pool, queue] : fresh.queues_) {
    auto mine = queues_.find(pool);
    if (mine == queues_.end() || mine->second.jobs != queue.jobs ||
        mine->second.lanes != queue.lanes) {
      return absl::InternalError(absl::StrCat("queue index differs in pool ", pool));
    }
  }
  if (fresh.held_ != held_) return absl::InternalError("queue index: held jobs differ");
  if (fresh.held_ends_ != held_ends_) {
    return absl::InternalError("queue index: held jobs' ends differ");
  }
  if (fresh.team_held_.size() != team_held_.size()) {
    return absl::InternalError("queue index: held jobs differ in their teams");
  }
  for (const auto& [team, pools] : fresh.team_held_) {
    auto mine = team_held_.find(team);
    bool same = mine != team_held_.end() && mine->second.size() == pools.size();
    for (auto a = pools.begin(); same && a != pools.end(); ++a) {
      auto b = mine->second.find(a->first);
      same = b != mine->second.end() && b->second.gpus == a->second.gpus &&
             b->second.jobs == a->second.jobs && b->second.starts == a->second.starts;
    }
    if (!same)
      return absl::InternalError(absl::StrCat("queue index: team ", team, "'s held jobs differ"));
  }
  if (fresh.releases_.size() != releases_.size()) {
    return absl::InternalError("queue index: releases differ in their pools");
  }
  for (const auto& [pool, r] : fresh.releases_) {
    auto mine = releases_.find(pool);
    if (mine == releases_.end() || mine->second.bounded != r.bounded ||
        mine->second.bounded_gpus != r.bounded_gpus ||
        mine->second.unbounded_gpus != r.unbounded_gpus) {
      return absl::InternalError(absl::StrCat("queue index: releases differ in pool ", pool));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::daemon
