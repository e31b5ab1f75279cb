#include "daemon/cluster_map.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"

namespace berth::daemon {
namespace {

std::string Escape(const std::string& text) {
  return absl::StrReplaceAll(
      text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

// A stable colour per job id: hue spread by the golden angle.
std::string JobColour(int64_t id) { return absl::StrCat("hsl(", (id * 137) % 360, ",65%,55%)"); }

constexpr char kStyle[] = R"(
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em} .sub{color:#666;margin-bottom:1em}
.wrap{display:flex;gap:2em;align-items:flex-start}
table{border-collapse:collapse} td,th{padding:.25em .6em;text-align:left;font-size:.9em}
.node td{border-bottom:1px solid #e4e4e4}
.gpu{display:inline-block;width:2.2em;height:1.6em;margin:1px;border-radius:3px;
 text-align:center;font-size:.75em;line-height:1.6em;background:#ddd;color:#fff}
.free{background:#e6e6e6;color:#888} .down{background:#444}
.state-DOWN{color:#b00} .state-DRAINED{color:#a60}
.queue td{border-bottom:1px solid #eee}
.legend{color:#555;font-size:.85em;margin-bottom:1em} .legend .gpu{vertical-align:middle}
)";

// What the boxes mean, with one box of each kind.
constexpr char kLegend[] =
    "<div class=\"legend\">Each box is one GPU. "
    "<span class=\"gpu\" style=\"background:hsl(137,65%,55%)\">17</span> held by the job "
    "with that id (same job, same colour; hover for the GPU index and the job's name) "
    "<span class=\"gpu free\"></span> free "
    "<span class=\"gpu down\"></span> on a DOWN node</div>\n";

std::string Plural(int64_t count, const char* noun) {
  return absl::StrCat(count, " ", noun, count == 1 ? "" : "s");
}

std::string NodeRow(const berth::v1::Node& node, const std::map<int64_t, std::string>& names) {
  std::string cells;
  for (const auto& gpu : node.gpus()) {
    if (gpu.job_id() == 0) {
      // Empty: only a held GPU shows a number (its job's id).
      const bool down = node.state() == berth::v1::DOWN;
      absl::StrAppend(&cells, "<span class=\"gpu ", down ? "down" : "free", "\" title=\"GPU ",
                      gpu.index(), down ? " (node DOWN)" : " free", "\"></span>");
      continue;
    }
    auto name = names.find(gpu.job_id());
    absl::StrAppend(&cells, "<span class=\"gpu\" style=\"background:", JobColour(gpu.job_id()),
                    "\" title=\"GPU ", gpu.index(), ": job ", gpu.job_id(), " ",
                    Escape(name != names.end() ? name->second : ""), "\">", gpu.job_id(),
                    "</span>");
  }
  const std::string state = berth::v1::NodeState_Name(node.state());
  return absl::StrCat(
      "<tr class=\"node\"><td>", Escape(node.name()), "</td><td class=\"state-", state, "\">",
      state, node.drained() && node.state() != berth::v1::DRAINED ? " (drained)" : "",
      node.connected() ? "" : " (no agent)", "</td><td>",
      node.gpus_size() > 0 ? Escape(node.gpus(0).type()) : "", "</td><td>", cells, "</td></tr>\n");
}

std::string QueueRows(const std::vector<berth::v1::Job>& jobs) {
  std::string rows;
  int position = 0;
  for (const auto& job : jobs) {
    if (job.state() != berth::v1::PENDING) continue;
    absl::StrAppend(&rows, "<tr><td>", ++position, "</td><td>", job.id(), "</td><td>",
                    Escape(job.spec().name()), "</td><td>", Escape(job.spec().team()), "</td><td>",
                    job.plan().gpus(), " × ", Escape(job.gpu_type()), "</td></tr>\n");
  }
  if (rows.empty()) rows = "<tr><td colspan=5>The queue is empty.</td></tr>\n";
  return rows;
}

}  // namespace

std::string RenderClusterMap(const std::vector<berth::v1::Node>& nodes,
                             const std::vector<berth::v1::Job>& jobs, int64_t now_ms) {
  std::map<int64_t, std::string> names;
  int placed = 0;
  for (const auto& job : jobs) {
    names[job.id()] = job.spec().name();
    placed += job.state() == berth::v1::PLACED || job.state() == berth::v1::RUNNING;
  }
  std::string rows;
  for (const auto& node : nodes) rows += NodeRow(node, names);
  return absl::StrCat(
      "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"5\"><title>berth cluster map</title><style>",
      kStyle, "</style></head><body>\n<h1>berth cluster map</h1><div class=\"sub\">",
      Plural(static_cast<int64_t>(nodes.size()), "node"), ", ", Plural(placed, "job"),
      " placed or running; updated ",
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(now_ms), absl::UTCTimeZone()),
      "</div>\n", kLegend,
      "<div class=\"wrap\"><table><tr><th>node</th><th>state</th><th>type</th><th>GPUs "
      "(number: the job holding it)</th></tr>\n",
      rows,
      "</table>\n<table class=\"queue\"><tr><th>#</th><th>job</th><th>name</th><th>team"
      "</th><th>needs</th></tr>\n",
      QueueRows(jobs), "</table></div>\n</body></html>\n");
}

}  // namespace berth::daemon
