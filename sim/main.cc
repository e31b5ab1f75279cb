// berth-sim: replays a job trace through berth's scheduling code on a
// simulated cluster (docs/SIMULATION.md).
//
//   berth-sim run --trace FILE [--format berth|alibaba|sacct]
//       [--cluster INVENTORY.csv | --nodes N --gpus-per-node 8 --gpu h100-80gb]
//       --policies fifo,easy,berth[,berth-elastic][,berth-teams] [--limit-factor F]
//       [--teams TEAMS.yaml] [--trace-limits] [--json] [--plot DIR] [--check-invariants]
//       [--no-fairness] [--full-pass]
//   berth-sim generate --like acme-seren|acme-kalos --jobs N --nodes N
//       [--gpus-per-node 8] --load 0.9 --teams K --seed S --out FILE
//   berth-sim convert --format sacct --trace FILE --out FILE
//
// Flags are parsed here into option structs; CLI11's parse errors are
// caught in one place and exit 2. Exit codes: 0 done, 1 I/O or internal
// error, 2 bad flags or a bad input file.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "daemon/teams_config.h"
#include "sim/cluster.h"
#include "sim/engine.h"
#include "sim/fairness.h"
#include "sim/generator.h"
#include "sim/metrics.h"
#include "sim/report.h"
#include "sim/trace.h"

namespace {

using berth::sim::ClusterSpec;

struct RunFlags {
  std::string trace;
  std::string format = "berth";
  std::string cluster;
  int64_t nodes = 16;
  int32_t gpus_per_node = 8;
  std::string gpu = "h100-80gb";
  std::string policies = "fifo,easy,berth";
  double limit_factor = 1.0;
  bool trace_limits = false;
  bool json = false;
  std::string plot;
  bool check_invariants = false;
  std::string teams;  // teams file; adds the berth-teams policy
  bool no_fairness = false;
  bool full_pass = false;
};

struct ConvertFlags {
  std::string format = "sacct";
  std::string trace;
  std::string out;
};

int Fail(const absl::Status& status) {
  std::cerr << "berth-sim: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kNotFound
             ? 2
             : 1;
}

int WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) return Fail(absl::UnavailableError("cannot write " + path));
  return 0;
}

int Run(const RunFlags& flags) {
  absl::StatusOr<berth::sim::TraceFormat> format = berth::sim::ParseTraceFormat(flags.format);
  if (!format.ok()) return Fail(format.status());
  absl::StatusOr<berth::sim::Trace> trace = berth::sim::ReadTrace(flags.trace, *format);
  if (!trace.ok()) return Fail(trace.status());
  absl::StatusOr<ClusterSpec> cluster =
      flags.cluster.empty() ? absl::StatusOr<ClusterSpec>(
                                  ClusterSpec{.groups = {{.count = flags.nodes,
                                                          .gpus_per_node = flags.gpus_per_node,
                                                          .gpu_type = flags.gpu}}})
                            : berth::sim::ReadInventory(flags.cluster);
  if (!cluster.ok()) return Fail(cluster.status());
  absl::StatusOr<std::vector<berth::sim::Policy>> policies =
      berth::sim::ParsePolicies(flags.policies);
  if (!policies.ok()) return Fail(policies.status());
  std::shared_ptr<const berth::daemon::TeamsConfig> teams;
  if (!flags.teams.empty()) {
    absl::StatusOr<berth::daemon::TeamsConfig> loaded = berth::daemon::LoadTeamsFile(flags.teams);
    if (!loaded.ok()) return Fail(loaded.status());
    teams = std::make_shared<const berth::daemon::TeamsConfig>(*std::move(loaded));
    if (std::find(policies->begin(), policies->end(), berth::sim::Policy::kBerthTeams) ==
        policies->end()) {
      policies->push_back(berth::sim::Policy::kBerthTeams);
    }
  }
  berth::sim::Report report{.trace = trace->name,
                            .cluster = cluster->Describe(),
                            .jobs = static_cast<int64_t>(trace->jobs.size())};
  // Each team alone on its share, once for every policy (sim/fairness.h).
  std::vector<berth::sim::TeamBaseline> baselines;
  if (!flags.no_fairness) {
    absl::StatusOr<std::vector<berth::sim::TeamBaseline>> alone =
        berth::sim::PrivateBaselines(*trace, *cluster, teams.get());
    if (!alone.ok()) return Fail(alone.status());
    baselines = *std::move(alone);
  }
  std::vector<berth::sim::RunResult> results;
  for (berth::sim::Policy policy : *policies) {
    const berth::sim::EngineOptions options{.policy = policy,
                                            .limit_factor = flags.limit_factor,
                                            .trace_limits = flags.trace_limits,
                                            .check_invariants = flags.check_invariants,
                                            .full_pass = flags.full_pass,
                                            .teams = teams};
    absl::StatusOr<berth::sim::RunResult> result = berth::sim::Replay(*trace, *cluster, options);
    if (!result.ok()) return Fail(result.status());
    berth::sim::PolicyMetrics metrics = berth::sim::Measure(*result);
    if (!baselines.empty()) {
      metrics.fairness = berth::sim::CompareWithBaselines(baselines, *result);
      metrics.max_rho = berth::sim::MaxRho(metrics.fairness);
    }
    report.policies.push_back(std::move(metrics));
    if (!flags.plot.empty()) results.push_back(std::move(*result));
  }
  std::cout << (flags.json ? berth::sim::FormatJson(report) : berth::sim::FormatTable(report));
  if (!flags.plot.empty()) {
    absl::StatusOr<std::string> plotted = berth::sim::WritePlots(flags.plot, results);
    if (!plotted.ok()) return Fail(plotted.status());
    std::cerr << "berth-sim: " << *plotted << "\n";
  }
  return 0;
}

int Generate(const berth::sim::GeneratorOptions& options, const std::string& out) {
  absl::StatusOr<berth::sim::Trace> trace = berth::sim::GenerateTrace(options);
  if (!trace.ok()) return Fail(trace.status());
  return WriteText(out, berth::sim::FormatBerthCsv(*trace));
}

int Convert(const ConvertFlags& flags) {
  absl::StatusOr<berth::sim::TraceFormat> format = berth::sim::ParseTraceFormat(flags.format);
  if (!format.ok()) return Fail(format.status());
  absl::StatusOr<berth::sim::Trace> trace = berth::sim::ReadTrace(flags.trace, *format);
  if (!trace.ok()) return Fail(trace.status());
  return WriteText(flags.out, berth::sim::FormatBerthCsv(*trace));
}

void AddRunFlags(CLI::App* run, RunFlags* f) {
  run->add_option("--trace", f->trace, "the trace file")->required();
  run->add_option("--format", f->format, "berth (default), alibaba or sacct");
  run->add_option("--cluster", f->cluster,
                  "inventory CSV (count,gpus,gpu_model per line; or Alibaba's nodes file)");
  run->add_option("--nodes", f->nodes, "nodes, when no --cluster (default 16)");
  run->add_option("--gpus-per-node", f->gpus_per_node, "GPUs per node (default 8)");
  run->add_option("--gpu", f->gpu, "GPU type of the nodes (default h100-80gb)");
  run->add_option("--policies", f->policies,
                  "comma-separated: fifo, easy, berth, berth-elastic, berth-teams (default "
                  "fifo,easy,berth)");
  run->add_option("--teams", f->teams,
                  "teams and quotas YAML (docs/TEAMS.md): adds the berth-teams policy, matching "
                  "the trace's teams by name");
  run->add_option("--limit-factor", f->limit_factor,
                  "time limit = real run time x F (default 1: perfect estimates)");
  run->add_flag("--trace-limits", f->trace_limits, "use the trace's own limits where it has them");
  run->add_flag("--no-fairness", f->no_fairness,
                "skip finish-time fairness (one more replay per team: each team alone on its "
                "share of the cluster)");
  run->add_flag("--json", f->json, "print JSON instead of the table");
  run->add_option("--plot", f->plot, "write CSV data and PNG charts (gnuplot) to DIR");
  run->add_flag("--check-invariants", f->check_invariants,
                "check the cluster state's invariants at every instant (slow)");
  run->add_flag("--full-pass", f->full_pass,
                "run the full SchedulePass over the whole queue (with teams, and reclaim) at "
                "every instant instead of berthd's indexed passes (same results, slower; to "
                "compare)");
}

void AddGenerateFlags(CLI::App* gen, berth::sim::GeneratorOptions* o, std::string* out) {
  gen->add_option("--like", o->like, "acme-seren (default) or acme-kalos");
  gen->add_option("--jobs", o->jobs, "jobs (default 1000)");
  gen->add_option("--nodes", o->nodes, "nodes of the cluster it is sized for (default 16)");
  gen->add_option("--gpus-per-node", o->gpus_per_node, "GPUs per node (default 8)");
  gen->add_option("--load", o->load, "offered GPU-time / capacity (default 0.9)");
  gen->add_option("--teams", o->teams, "teams (default 4)");
  gen->add_option("--seed", o->seed, "random seed (default 1)");
  gen->add_option("--out", *out, "the berth CSV to write")->required();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"berth-sim: replay GPU job traces through berth's scheduler"};
  app.require_subcommand(1);
  RunFlags run_flags;
  AddRunFlags(app.add_subcommand("run", "replay a trace and compare policies"), &run_flags);
  berth::sim::GeneratorOptions gen_options;
  std::string gen_out;
  AddGenerateFlags(app.add_subcommand("generate", "write an Acme-shaped synthetic trace"),
                   &gen_options, &gen_out);
  ConvertFlags convert_flags;
  CLI::App* convert = app.add_subcommand("convert", "convert a trace to berth's CSV");
  convert->add_option("--format", convert_flags.format, "sacct (default), alibaba or berth");
  convert->add_option("--trace", convert_flags.trace, "the input file")->required();
  convert->add_option("--out", convert_flags.out, "the berth CSV to write")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (app.got_subcommand("run")) return Run(run_flags);
  if (app.got_subcommand("generate")) return Generate(gen_options, gen_out);
  return Convert(convert_flags);
}
