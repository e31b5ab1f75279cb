#include "cli/plan_output.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "planner/catalog.h"
#include "planner/gpu.h"
#include "planner/model.h"
#include "planner/workload.h"

namespace berth::cli {
namespace {

using Row = std::vector<std::string>;

bool IsTrain(const planner::PlanRequest& request) { return request.task == planner::Task::kTrain; }

std::string Seconds(double seconds) {
  return seconds < 10 ? absl::StrFormat("%.2f s", seconds) : absl::StrFormat("%.1f s", seconds);
}

// "52,429": whole tokens with thousands separators.
std::string Grouped(double value) {
  std::string digits = absl::StrFormat("%.0f", value);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it, ++count) {
    if (count > 0 && count % 3 == 0) out.push_back(',');
    out.push_back(*it);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Tokens per second: one decimal below 100, else grouped whole tokens.
std::string Rate(double value) {
  return value < 100 ? absl::StrFormat("%.1f", value) : Grouped(value);
}

// The 16-bit type the plan runs in when it is not the one asked for: bf16
// for training, the weights' type for inference (fp16 on a card without
// bf16, such as the V100).
void PrintPrecision(const planner::PlanRequest& request, const planner::PlanResult& result,
                    std::ostream& out) {
  const planner::DType asked = IsTrain(request) ? planner::DType::kBf16 : request.infer.weights;
  if (result.precision == asked) return;
  out << "  precision " << planner::DTypeName(result.precision);
  if (!request.hardware.gpu.bf16) {
    out << " (" << request.hardware.gpu.name << " has no bf16)";
  }
  out << "\n";
}

void PrintHeader(const planner::PlanRequest& request, const planner::PlanResult& result,
                 std::ostream& out) {
  const planner::ModelShape& model = request.model;
  out << model.name << " (" << ShortCount(result.params.total) << " params";
  if (model.experts > 0) {
    out << ", " << ShortCount(result.params.active) << " active";
  }
  out << "), " << planner::TaskName(request.task) << ", on " << request.hardware.gpu.name << " ("
      << Gib(request.hardware.gpu.memory_bytes) << " GiB, " << request.hardware.gpus_per_node
      << " per node)\n";
  if (IsTrain(request)) {
    out << "  seq " << request.train.seq << ", " << planner::FrameworkName(request.train.framework)
        << ", flash attention " << (request.train.flash_attention ? "on" : "off") << "\n";
  } else {
    out << "  weights " << planner::DTypeName(request.infer.weights) << ", KV cache "
        << planner::DTypeName(request.infer.kv_dtype) << ", batch " << request.infer.batch
        << ", context " << request.infer.context << "\n";
    out << "  objective " << planner::ObjectiveName(result.objective);
    if (request.tokens_per_second > 0) {
      out << " (" << Rate(request.tokens_per_second) << " decode tokens/s, all replicas)";
    }
    out << "\n";
  }
  PrintPrecision(request, result, out);
}

void PrintVerdict(const planner::PlanResult& result, std::ostream& out) {
  if (result.feasible) {
    out << "\nPlan: fits on " << result.best.gpus << " GPU" << (result.best.gpus == 1 ? "" : "s")
        << "\n";
  } else {
    out << "\nPlan: REFUSED: " << result.reason << "\n";
  }
}

// Below the split table: the layers of uneven pipeline stages, and for
// inference with DP > 1 the sequences each replica holds.
void PrintSplitDetails(const planner::PlanRequest& request, const planner::Split& split,
                       std::ostream& out) {
  if (split.uneven()) {
    out << "  stages: first " << split.first_stage_layers << " layers, last "
        << split.last_stage_layers << " layers";
    if (split.pp > 2) {
      const int64_t middle =
          request.model.layers - split.first_stage_layers - split.last_stage_layers;
      out << ", " << middle / (split.pp - 2) << " in each of the other " << split.pp - 2;
    }
    out << "\n";
  }
  if (!IsTrain(request) && split.dp > 1) {
    const int64_t per_replica = split.replica_batch > 0
                                    ? split.replica_batch
                                    : (request.infer.batch + split.dp - 1) / split.dp;
    out << "  each of the " << split.dp << " replicas holds up to " << per_replica << " sequence"
        << (per_replica == 1 ? "" : "s") << "\n";
  }
}

void PrintSplit(const planner::PlanRequest& request, const planner::PlanResult& result,
                std::ostream& out) {
  const planner::Plan& plan = result.best;
  const planner::Split& split = plan.split;
  out << "\n"
      << (result.feasible ? "Split" : "Closest split (does not fit)") << ":  " << plan.gpus
      << " GPU" << (plan.gpus == 1 ? "" : "s") << " on " << plan.nodes << " node"
      << (plan.nodes == 1 ? "" : "s") << "\n";
  Row names = {"TP", "PP", "DP"};
  Row values = {absl::StrCat(split.tp), absl::StrCat(split.pp), absl::StrCat(split.dp)};
  if (IsTrain(request) && request.model.experts > 0) {
    names.push_back("EP");
    values.push_back(absl::StrCat(split.ep));
  }
  if (IsTrain(request)) {
    names.insert(names.end(), {"ZeRO", "micro-batch", "recompute"});
    values.insert(values.end(), {absl::StrCat(split.zero_stage), absl::StrCat(split.micro_batch),
                                 std::string(planner::RecomputeName(split.recompute))});
  } else {
    names.push_back("offload");
    values.push_back(std::string(planner::OffloadName(request.infer.offload)));
  }
  out << FormatTable({names, values}, 2);
  PrintSplitDetails(request, split, out);
}

void PrintMemory(const planner::PlanRequest& request, const planner::PlanResult& result,
                 std::ostream& out) {
  const planner::MemoryBreakdown& m = result.best.memory;
  out << "\nMemory of the most loaded GPU (GiB):\n";
  std::vector<Row> rows;
  auto add = [&rows](const char* label, int64_t bytes, bool always) {
    if (bytes != 0 || always) rows.push_back({label, Gib(bytes), ""});
  };
  add("weights", m.weights_bytes, true);
  add("gradients", m.gradients_bytes, false);
  add("optimizer", m.optimizer_bytes, false);
  add("activations", m.activations_bytes, false);
  add("KV cache", m.kv_cache_bytes, false);
  add("workspace", m.workspace_bytes, false);
  add("overhead", m.overhead_bytes, true);
  const planner::Hardware& hw = request.hardware;
  rows.push_back({"total", Gib(m.total_bytes),
                  absl::StrFormat("of %s usable (%.0f%% of %s)", Gib(result.usable_bytes),
                                  hw.usable_fraction * 100, Gib(hw.gpu.memory_bytes))});
  if (m.host_bytes > 0) {
    rows.push_back({"host memory", Gib(m.host_bytes),
                    absl::StrCat("offloaded; ", m.gpu_layers, " of ", request.model.layers,
                                 " layers on the GPU")});
  }
  out << FormatTable(rows, 2);
}

void PrintEstimate(const planner::PlanRequest& request, const planner::Estimate& estimate,
                   std::ostream& out) {
  if (!estimate.known) return;
  if (!IsTrain(request)) {
    out << "\nEstimate:  decode step " << Seconds(estimate.step_seconds) << ", "
        << Rate(estimate.tokens_per_second)
        << " tokens/s (bound by memory, disk or PCIe bandwidth)\n";
    return;
  }
  out << "\nEstimate:  step " << Seconds(estimate.step_seconds) << ", "
      << Rate(estimate.tokens_per_second) << " tokens/s";
  if (request.tokens > 0) {
    out << absl::StrFormat(", %.1f days for %s tokens", estimate.days, ShortCount(request.tokens));
  }
  out << absl::StrFormat(" (MFU %.2f)\n", request.mfu);
}

// One line per engine: "Launch (vllm):  --tensor-parallel-size 4 ...".
void PrintLaunch(const planner::PlanResult& result, std::ostream& out) {
  if (!result.feasible || result.launch.empty()) return;
  out << "\n";
  for (const planner::LaunchArgs& launch : result.launch) {
    out << "Launch (" << launch.engine << "):  " << launch.args << "\n";
  }
}

void PrintExplanation(const planner::PlanResult& result, std::ostream& out) {
  if (result.explanation.empty()) return;
  out << "\nWhy:\n";
  for (const std::string& line : result.explanation) {
    out << "  - " << line << "\n";
  }
}

Row AlternativeRow(const planner::PlanRequest& request, const planner::Plan& plan) {
  const planner::Split& s = plan.split;
  Row row = {absl::StrCat(plan.gpus), absl::StrCat(plan.nodes), absl::StrCat(s.tp),
             absl::StrCat(s.pp),
             s.ep > 1 ? absl::StrCat(s.dp, " (EP ", s.ep, ")") : absl::StrCat(s.dp)};
  if (IsTrain(request)) {
    row.insert(row.end(), {absl::StrCat(s.zero_stage), absl::StrCat(s.micro_batch),
                           std::string(planner::RecomputeName(s.recompute))});
  } else {
    row.push_back(std::string(planner::OffloadName(request.infer.offload)));
  }
  row.insert(row.end(), {Gib(plan.memory.total_bytes), plan.fits ? "yes" : "no",
                         plan.estimate.known ? Rate(plan.estimate.tokens_per_second) : "-"});
  return row;
}

void PrintAlternatives(const planner::PlanRequest& request, const planner::PlanResult& result,
                       std::ostream& out) {
  if (result.alternatives.empty()) return;
  out << "\nAlternatives:\n";
  std::vector<Row> rows;
  if (IsTrain(request)) {
    rows.push_back({"GPUs", "nodes", "TP", "PP", "DP", "ZeRO", "micro-batch", "recompute",
                    "GiB/GPU", "fits", "tokens/s"});
  } else {
    rows.push_back({"GPUs", "nodes", "TP", "PP", "DP", "offload", "GiB/GPU", "fits", "tokens/s"});
  }
  for (const planner::Plan& plan : result.alternatives) {
    rows.push_back(AlternativeRow(request, plan));
  }
  out << FormatTable(rows, 2);
}

// Only headers and words start with a letter; numbers are right-aligned.
bool RightAligned(const std::string& cell) {
  return !cell.empty() && (absl::ascii_isdigit(static_cast<unsigned char>(cell[0])) || cell == "-");
}

}  // namespace

std::string Gib(int64_t bytes) {
  return absl::StrFormat("%.2f", static_cast<double>(bytes) / static_cast<double>(planner::kGiB));
}

std::string ShortCount(double count) {
  struct Scale {
    double factor;
    const char* suffix;
  };
  for (Scale scale : {Scale{1e12, "T"}, Scale{1e9, "B"}, Scale{1e6, "M"}, Scale{1e3, "k"}}) {
    if (count >= scale.factor) {
      return absl::StrFormat("%.2f%s", count / scale.factor, scale.suffix);
    }
  }
  return absl::StrFormat("%.0f", count);
}

std::string FormatTable(const std::vector<Row>& rows, int indent) {
  std::vector<size_t> widths;
  for (const Row& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string text;
  for (const Row& row : rows) {
    std::string line(indent, ' ');
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      std::string pad(widths[i] - row[i].size(), ' ');
      line += RightAligned(row[i]) ? pad + row[i] : row[i] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&text, line, "\n");
  }
  return text;
}

void PrintPlan(const planner::PlanRequest& request, const planner::PlanResult& result,
               std::ostream& out) {
  PrintHeader(request, result, out);
  PrintVerdict(result, out);
  if (result.best.gpus > 0) {
    PrintSplit(request, result, out);
    PrintMemory(request, result, out);
    PrintEstimate(request, result.best.estimate, out);
    PrintLaunch(result, out);
  }
  PrintExplanation(result, out);
  PrintAlternatives(request, result, out);
}

void PrintModelList(std::ostream& out) {
  std::vector<Row> rows = {
      {"model", "params", "layers", "hidden", "heads", "kv-heads", "ffn", "vocab", "experts"}};
  for (const std::string& name : planner::ModelNames()) {
    absl::StatusOr<planner::ModelShape> shape = planner::FindModel(name);
    if (!shape.ok()) continue;
    planner::ParamCounts params = planner::CountParams(*shape);
    rows.push_back(
        {name, ShortCount(params.total), absl::StrCat(shape->layers), absl::StrCat(shape->hidden),
         absl::StrCat(shape->heads), absl::StrCat(shape->kv_heads), absl::StrCat(shape->ffn),
         absl::StrCat(shape->vocab),
         shape->experts > 0 ? absl::StrCat(shape->experts_per_token, " of ", shape->experts)
                            : "-"});
  }
  out << FormatTable(rows, 0);
}

void PrintGpuList(std::ostream& out) {
  std::vector<Row> rows = {{"gpu", "memory GiB", "16-bit TFLOPS", "TB/s", "16-bit type"}};
  for (const planner::GpuType& gpu : planner::GpuCatalog()) {
    rows.push_back({gpu.name, Gib(gpu.memory_bytes),
                    absl::StrFormat("%.0f", planner::Peak16BitFlops(gpu) / 1e12),
                    absl::StrFormat("%.2f", gpu.memory_bandwidth_bytes / 1e12),
                    gpu.bf16 ? "bf16" : "fp16 only"});
  }
  out << FormatTable(rows, 0);
}

}  // namespace berth::cli
