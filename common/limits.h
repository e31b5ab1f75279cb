// The sizes every berth channel and record agrees on (issue 18, finding 1).
// berthd, berth-agent and the berth CLI all set their gRPC message limits
// from here, so that nothing one side may send is refused by the other;
// docs/SECURITY.md "Limits" lists them for operators.
#ifndef BERTH_COMMON_LIMITS_H_
#define BERTH_COMMON_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace berth {

// The largest gRPC message any berth process sends or receives, either
// direction. A StartJob carries one job (spec ≤ kMaxSpecBytes plus its GPU
// assignments), a page of ListJobs at most kMaxReplyBytes: both well inside.
inline constexpr int kMaxGrpcMessageBytes = 16 << 20;

// A whole job spec, serialized: command, env and config.json together.
inline constexpr size_t kMaxSpecBytes = 256 << 10;

// Jobs one SubmitJobs call (a job array, several files) may carry, and the
// largest array index.
inline constexpr int kMaxSubmitBatch = 10000;
inline constexpr int kMaxArrayIndex = 999999;

// Jobs one agent's registration may say it runs (one per GPU, with room
// for jobs still stopping).
inline constexpr int kMaxRunningJobsPerNode = 4096;

// List replies (ListJobs, ListEvents pages) berthd holds built but not yet
// sent, all calls together; more is RESOURCE_EXHAUSTED (daemon/reply_budget.h).
// berthd's --list_reply_budget_mb sets it.
inline constexpr int64_t kDefaultListReplyBudgetBytes = int64_t{128} << 20;

// Retention's bounds: the longest age berthd accepts (--retain_ended_for,
// --request_id_window, PruneJobs' older_than_ms, `berth admin prune
// --older-than`: 100 years) and the largest job count (--retain_jobs,
// keep_jobs, --keep).
inline constexpr int64_t kMaxRetentionAgeMs = 100LL * 365 * 24 * 3600 * 1000;
inline constexpr int64_t kMaxRetentionJobs = 1'000'000'000;

// The most one page of a list reply (jobs, events) carries; the rest comes
// in the next page.
inline constexpr size_t kMaxReplyBytes = 4 << 20;

// Concurrent calls (HTTP/2 streams) one client connection may hold open in
// berthd; further calls wait for one to finish.
inline constexpr int kMaxStreamsPerConnection = 100;

// The shortest interval between HTTP/2 PINGs berthd accepts from a client
// (agents send them as keepalives, AgentOptions::keepalive_time); a client
// that pings more often is told GOAWAY after two such PINGs (gRPC's ping
// strikes).
inline constexpr int kMinPingIntervalMs = 1000;

// Memory berthd's gRPC server may use for buffered calls and replies
// (grpc::ResourceQuota); beyond it new calls are refused with
// RESOURCE_EXHAUSTED rather than grow the process.
inline constexpr size_t kServerMemoryQuotaBytes = size_t{512} << 20;

}  // namespace berth

#endif  // BERTH_COMMON_LIMITS_H_
