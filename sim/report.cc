#include "sim/report.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace berth::sim {
namespace {

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string SummaryFields(const Summary& s) {
  return absl::StrFormat(
      "\"jobs\": %d, \"avg_jct_s\": %.1f, \"p50_jct_s\": %.1f, \"p99_jct_s\": %.1f, "
      "\"avg_queue_s\": %.1f, \"p50_queue_s\": %.1f, \"p99_queue_s\": %.1f",
      s.jobs, s.avg_jct_s, s.p50_jct_s, s.p99_jct_s, s.avg_queue_s, s.p50_queue_s, s.p99_queue_s);
}

std::string Groups(const std::vector<std::pair<std::string, Summary>>& groups) {
  return absl::StrCat("{",
                      absl::StrJoin(groups, ", ",
                                    [](std::string* out, const auto& group) {
                                      absl::StrAppend(out, JsonString(group.first), ": {",
                                                      SummaryFields(group.second), "}");
                                    }),
                      "}");
}

std::string FairnessJson(const std::vector<TeamFairness>& fairness) {
  return absl::StrCat(
      "{",
      absl::StrJoin(fairness, ", ",
                    [](std::string* out, const TeamFairness& f) {
                      absl::StrAppend(
                          out, JsonString(f.team),
                          absl::StrFormat(
                              ": {\"share\": %.4f, \"private_gpus\": %d, \"jobs\": %d, "
                              "\"shared_avg_jct_s\": %.1f, \"private_avg_jct_s\": %.1f, "
                              "\"rho\": %.3f}",
                              f.share, f.private_gpus, f.jobs, f.shared_avg_jct_s,
                              f.private_avg_jct_s, f.rho));
                    }),
      "}");
}

std::string PolicyJson(const PolicyMetrics& m) {
  return absl::StrCat(
      "{\"name\": ", JsonString(m.name), ", \"completed\": ", m.completed,
      ", \"refused\": ", m.refused, ", \"cancelled_waiting\": ", m.cancelled_waiting,
      ", \"resized\": ", m.resized, ", ", SummaryFields(m.all),
      absl::StrFormat(", \"makespan_s\": %.1f, \"utilization\": %.4f", m.makespan_s, m.utilization),
      ", \"gpu_seconds\": ", m.gpu_seconds, ", \"preemptions\": ", m.preemptions,
      absl::StrFormat(", \"gpu_hours_lost\": %.1f", m.gpu_hours_lost),
      absl::StrFormat(", \"passes\": %d, \"pass_p50_ms\": %.3f, \"pass_p99_ms\": %.3f", m.passes,
                      m.pass_p50_ms, m.pass_p99_ms),
      ", \"by_size\": ", Groups(m.by_size), ", \"by_team\": ", Groups(m.by_team),
      absl::StrFormat(", \"max_rho\": %.3f", m.max_rho),
      ", \"fairness\": ", FairnessJson(m.fairness), "}");
}

std::string Row(const std::string& label, const PolicyMetrics& m, const Summary& s) {
  return absl::StrFormat("%-14s %-10s %7d %10.0f %10.0f %10.0f %10.0f %10.0f\n", m.name, label,
                         s.jobs, s.avg_jct_s, s.p50_jct_s, s.p99_jct_s, s.avg_queue_s,
                         s.p99_queue_s);
}

}  // namespace

std::string FormatJson(const Report& report) {
  return absl::StrCat(
      "{\"trace\": ", JsonString(report.trace), ", \"cluster\": ", JsonString(report.cluster),
      ", \"jobs\": ", report.jobs, ", \"policies\": [",
      absl::StrJoin(report.policies, ", ",
                    [](std::string* out, const PolicyMetrics& m) { out->append(PolicyJson(m)); }),
      "]}\n");
}

std::string FormatTable(const Report& report) {
  std::string out =
      absl::StrCat("trace ", report.trace, ": ", report.jobs, " jobs on ", report.cluster, "\n\n");
  absl::StrAppendFormat(&out, "%-14s %9s %9s %8s %8s %8s %8s %12s %9s %9s\n", "policy",
                        "makespan_s", "util", "ran", "refused", "cancel_w", "resized",
                        "preemptions", "pass_p50", "pass_p99");
  for (const PolicyMetrics& m : report.policies) {
    absl::StrAppendFormat(&out, "%-14s %10.0f %9.3f %8d %8d %8d %8d %12d %7.2fms %7.2fms\n", m.name,
                          m.makespan_s, m.utilization, m.completed, m.refused, m.cancelled_waiting,
                          m.resized, m.preemptions, m.pass_p50_ms, m.pass_p99_ms);
  }
  absl::StrAppendFormat(&out, "\n%-14s %-10s %7s %10s %10s %10s %10s %10s\n", "policy", "group",
                        "jobs", "avg_jct_s", "p50_jct_s", "p99_jct_s", "avg_queue", "p99_queue");
  for (const PolicyMetrics& m : report.policies) {
    out += Row("all", m, m.all);
    for (const auto& [bucket, s] : m.by_size) out += Row(absl::StrCat("gpus ", bucket), m, s);
    for (const auto& [team, s] : m.by_team) out += Row(absl::StrCat("team ", team), m, s);
  }
  bool any_fairness = false;
  for (const PolicyMetrics& m : report.policies) any_fairness |= !m.fairness.empty();
  if (!any_fairness) return out;
  absl::StrAppendFormat(
      &out, "\nfinish-time fairness (rho = avg JCT shared / alone on the team's share)\n");
  absl::StrAppendFormat(&out, "%-14s %-10s %7s %7s %7s %12s %12s %7s\n", "policy", "team", "share",
                        "gpus", "jobs", "shared_jct", "alone_jct", "rho");
  for (const PolicyMetrics& m : report.policies) {
    for (const TeamFairness& f : m.fairness) {
      absl::StrAppendFormat(&out, "%-14s %-10s %7.3f %7d %7d %12.0f %12.0f %7.3f\n", m.name, f.team,
                            f.share, f.private_gpus, f.jobs, f.shared_avg_jct_s,
                            f.private_avg_jct_s, f.rho);
    }
    if (!m.fairness.empty()) {
      absl::StrAppendFormat(&out, "%-14s %-10s %55.3f\n", m.name, "max rho", m.max_rho);
    }
  }
  return out;
}

namespace {

std::string QueueCdf(const std::vector<RunResult>& results) {
  std::string out = "policy,queue_s,fraction\n";
  for (const RunResult& result : results) {
    std::vector<double> queue;
    for (const JobOutcome& job : result.jobs) {
      if (job.start_ms >= 0)
        queue.push_back(static_cast<double>(job.start_ms - job.submit_ms) / 1000.0);
    }
    std::sort(queue.begin(), queue.end());
    // At most ~200 points per policy: every k-th sample and the last.
    const size_t step = std::max<size_t>(1, queue.size() / 200);
    for (size_t i = 0; i < queue.size(); i += step) {
      absl::StrAppendFormat(&out, "%s,%.1f,%.5f\n", PolicyName(result.policy), queue[i],
                            static_cast<double>(i + 1) / static_cast<double>(queue.size()));
    }
    if (!queue.empty())
      absl::StrAppendFormat(&out, "%s,%.1f,1\n", PolicyName(result.policy), queue.back());
  }
  return out;
}

std::string Usage(const std::vector<RunResult>& results) {
  std::string out = "policy,hour,busy_fraction\n";
  for (const RunResult& result : results) {
    for (const UsagePoint& point : result.usage) {
      absl::StrAppendFormat(&out, "%s,%.4f,%.4f\n", PolicyName(result.policy),
                            static_cast<double>(point.time_ms) / 3.6e6,
                            static_cast<double>(point.busy_gpus) /
                                static_cast<double>(std::max<int64_t>(1, result.capacity_gpus)));
    }
  }
  return out;
}

std::string GnuplotScript(const std::vector<RunResult>& results) {
  std::string script =
      "set datafile separator ','\nset terminal png size 900,540\nset key bottom right\n"
      "set output 'queue_cdf.png'\nset title 'Queueing delay, CDF'\nset logscale x\n"
      "set xlabel 'queueing delay (s, log; 0 shown at 0.1)'\nset ylabel 'fraction of jobs'\nplot ";
  std::vector<std::string> parts, usage;
  for (const RunResult& result : results) {
    const std::string name = PolicyName(result.policy);
    parts.push_back(absl::StrCat("'queue_cdf.csv' using ($2<0.1?0.1:$2):(strcol(1) eq '", name,
                                 "' ? $3 : 1/0) with steps title '", name, "'"));
    usage.push_back(absl::StrCat("'utilization.csv' using 2:(strcol(1) eq '", name,
                                 "' ? $3 : 1/0) with steps title '", name, "'"));
  }
  absl::StrAppend(
      &script, absl::StrJoin(parts, ", "), "\n",
      "set output 'utilization.png'\nset title 'GPUs busy'\nunset logscale x\n"
      "set xlabel 'hours'\nset ylabel 'fraction of GPUs allocated'\nset yrange [0:1.05]\n"
      "plot ",
      absl::StrJoin(usage, ", "), "\n");
  return script;
}

absl::Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> WritePlots(const std::string& dir,
                                       const std::vector<RunResult>& results) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  const std::filesystem::path base(dir);
  for (auto [name, text] : {std::pair<const char*, std::string>{"queue_cdf.csv", QueueCdf(results)},
                            {"utilization.csv", Usage(results)},
                            {"plots.gp", GnuplotScript(results)}}) {
    if (absl::Status s = WriteFile(base / name, text); !s.ok()) return s;
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    return absl::StrCat("wrote ", dir,
                        "/{queue_cdf,utilization}.csv and plots.gp; gnuplot is not "
                        "installed, so no PNG was made (apt-get install gnuplot-nox, then run "
                        "`gnuplot plots.gp` in ",
                        dir, ")");
  }
  const std::string command = absl::StrCat("cd '", dir, "' && gnuplot plots.gp");
  if (std::system(command.c_str()) != 0) {
    return absl::StrCat("wrote the CSV files to ", dir, ", but gnuplot failed on plots.gp");
  }
  return absl::StrCat("wrote ", dir, "/queue_cdf.png and utilization.png (with their CSV data)");
}

}  // namespace berth::sim
