// berth: the command-line client. Verbs: `berth plan` (no daemon needed),
// and the daemon verbs submit, jobs, job, cancel, why, watch, nodes, drain
// and undrain, which call berthd at --daemon (default $BERTH_ADDR, then
// 127.0.0.1:7070). Every verb's --help ends with its exit codes.
//
// Flags are defined here and parsed into one options struct per verb (see
// cli/plan_command.h, cli/job_commands.h, cli/node_commands.h); numeric flags
// are taken as text and parsed by berth (cli/numbers.h). CLI11 reports its
// own parse errors by exception, which is caught in exactly one place below
// and becomes exit code 2. Every verb returns the process exit code.
//
// --daemon, --token and --tls_ca may also come before the verb (`berth
// --daemon HOST:PORT submit x.yaml`); a verb's own flag wins over them.
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/client.h"
#include "cli/event_commands.h"
#include "cli/job_commands.h"
#include "cli/node_commands.h"
#include "cli/plan_command.h"
#include "cli/team_commands.h"
#include "cli/watch_command.h"
#include "common/limits.h"

namespace {

// Flushes the output once a verb is done: a failed write (a full disk, a
// closed pipe) is an error, not a silent success.
int Finish(int code) {
  std::cout.flush();
  std::cerr.flush();
  if (!std::cout || std::fflush(nullptr) != 0) {
    std::cerr << "berth: could not write the output\n";
    if (code == 0) code = 1;
  }
  return code;
}

using berth::cli::ClientOptions;
using berth::cli::ExitCodeFooter;
using berth::cli::PlanOptions;

// The exit codes most daemon verbs share (cli/exit_codes.h).
constexpr berth::cli::ExitCodeDoc kOk = {0, "done"};
constexpr berth::cli::ExitCodeDoc kInternal = {
    1, "an error berth has no code for (I/O, an internal error)"};
constexpr berth::cli::ExitCodeDoc kUsage = {2, "bad flags or a bad input file"};
constexpr berth::cli::ExitCodeDoc kNotFound = {4, "no such job or node"};
constexpr berth::cli::ExitCodeDoc kUnreachable = {5, "berthd did not answer (see --daemon)"};
constexpr berth::cli::ExitCodeDoc kNotAllowed = {
    7,
    "not allowed: no or an unknown --token, or the token's team or role "
    "may not do this"};

// Binds `--name VALUE` to an optional string; absent stays nullopt.
// `kind` names the value in --help: N (a number, cli/numbers.h), NAME, PATH.
void Text(CLI::App* app, const std::string& name, std::optional<std::string>* out,
          const std::string& help, const std::string& kind = "N") {
  app->add_option_function<std::string>(
         name, [out](const std::string& value) { *out = value; }, help)
      ->type_name(kind);
}

void AddModelFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--spec", &o->spec,
       "plan a job spec file (YAML or JSON), the file `berth submit` takes; "
       "only GPU and output flags may be given beside it",
       "FILE");
  Text(plan, "--model", &o->model, "catalogued model (see --list-models)", "NAME");
  Text(plan, "--hf-config", &o->hf_config, "a Hugging Face config.json", "PATH");
  Text(plan, "--params", &o->params, "parameter count (7B, 7e9, ...)");
  Text(plan, "--layers", &o->layers, "transformer layers");
  Text(plan, "--hidden", &o->hidden, "hidden size");
  Text(plan, "--heads", &o->heads, "attention heads");
  Text(plan, "--kv-heads", &o->kv_heads, "key/value heads (default: heads)");
  Text(plan, "--ffn", &o->ffn, "FFN size (default: solved from --params)");
  Text(plan, "--vocab", &o->vocab, "vocabulary size (default 32000)");
  Text(plan, "--mlp", &o->mlp,
       "with the explicit shape: gated (default; SwiGLU, as Llama) or plain "
       "(GELU, as GPT-3, BLOOM, OPT; FFN default 4 x hidden)",
       "KIND");
  Text(plan, "--task", &o->task, "train (default) or infer", "TASK");
}

void AddTrainFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--seq", &o->seq, "training: sequence length (default 4096)");
  Text(plan, "--micro-batch", &o->micro_batch,
       "training: micro-batch (default: searched 1, 2, 4, 8)");
  Text(plan, "--global-batch", &o->global_batch, "training: sequences per step");
  Text(plan, "--framework", &o->framework, "training: megatron (default) or deepspeed", "NAME");
  Text(plan, "--recompute", &o->recompute, "training: none, selective, full or auto (default)",
       "MODE");
  plan->add_flag_callback(
      "--flash-attention", [o] { o->flash_attention = true; },
      "training: flash attention (default)");
  plan->add_flag_callback(
      "--no-flash-attention", [o] { o->flash_attention = false; },
      "training: keep the attention scores");
  plan->add_flag("--sequence-parallel", o->sequence_parallel,
                 "training: Megatron sequence parallelism");
  Text(plan, "--virtual-stages", &o->virtual_stages,
       "training: interleaved pipeline stages (default 1)");
}

void AddInferFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--weights", &o->weights,
       "inference: weight type fp32, bf16 (default), fp16, fp8, int8, int4", "TYPE");
  Text(plan, "--kv-dtype", &o->kv_dtype, "inference: KV cache type (bf16)", "TYPE");
  Text(plan, "--batch", &o->batch, "inference: concurrent sequences (1)");
  Text(plan, "--context", &o->context, "inference: tokens per sequence (4096)");
  Text(plan, "--offload", &o->offload, "inference: none (default), layerwise or cpu", "MODE");
  Text(plan, "--objective", &o->objective,
       "inference: throughput (default; most tokens/s per GPU), fewest-gpus "
       "or latency (shortest time per output token)",
       "GOAL");
}

void AddGpuAndSplitFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--gpu", &o->gpu, "GPU type (default h100-80gb; --list-gpus)", "TYPE");
  Text(plan, "--gpu-memory-gib", &o->gpu_memory_gib, "a custom GPU with this much memory, in GiB");
  Text(plan, "--gpus-per-node", &o->gpus_per_node, "GPUs per node (8)");
  Text(plan, "--max-gpus", &o->max_gpus, "most GPUs the plan may use");
  Text(plan, "--usable-fraction", &o->usable_fraction,
       "share of each GPU's memory a plan may fill (0.90)");
  Text(plan, "--overhead-gib", &o->overhead_gib, "fixed per-GPU overhead in GiB (1)");
  Text(plan, "--tp", &o->tp, "fix tensor parallelism");
  Text(plan, "--pp", &o->pp, "fix pipeline parallelism");
  Text(plan, "--dp", &o->dp, "fix data parallelism");
  Text(plan, "--zero", &o->zero, "fix the ZeRO stage (0-3)");
  Text(plan, "--ep", &o->ep,
       "fix expert parallelism for a mixture-of-experts model (1: none); it "
       "must divide the experts and DP");
}

void AddPaceAndOutputFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--tokens", &o->tokens, "training: tokens to process (2T)");
  Text(plan, "--days", &o->days, "training: deadline for --tokens, in days");
  Text(plan, "--tokens-per-second", &o->tokens_per_second,
       "throughput to reach (inference: decode tokens/s of all replicas "
       "together)");
  Text(plan, "--mfu", &o->mfu, "model FLOPs utilisation assumed (0.40)");
  Text(plan, "--alternatives", &o->alternatives, "how many alternative splits to show (3)");
  plan->add_flag("--json", o->json, "print the plan as JSON");
  plan->add_flag("--list-models", o->list_models, "list catalogued models");
  plan->add_flag("--list-gpus", o->list_gpus, "list catalogued GPU types");
}

// --daemon, --token and --tls_ca (also taken before the verb).
void AddConnectionFlags(CLI::App* verb, ClientOptions* o) {
  Text(verb, "--daemon", &o->daemon,
       "berthd address, or several that share a PostgreSQL store, tried in turn (default "
       "$BERTH_ADDR, then 127.0.0.1:7070)",
       "HOST:PORT[,HOST:PORT]");
  Text(verb, "--token", &o->token, "bearer token berthd maps to your team (default $BERTH_TOKEN)",
       "TOKEN");
  Text(verb, "--tls_ca", &o->tls_ca,
       "connect with TLS, verifying berthd against this CA certificate "
       "(default $BERTH_TLS_CA; unset: no TLS)",
       "FILE");
}

// The connection flags and, where the verb prints, --json.
void AddClientFlags(CLI::App* verb, ClientOptions* o, bool with_json = true) {
  AddConnectionFlags(verb, o);
  if (with_json) verb->add_flag("--json", o->json, "print JSON");
}

// The options of every verb; main() fills one and runs it.
struct AllOptions {
  PlanOptions plan;
  berth::cli::SubmitOptions submit;
  berth::cli::JobsOptions jobs;
  berth::cli::JobIdOptions job, cancel, why, checkpoint;
  berth::cli::NodesOptions nodes;
  berth::cli::TeamsOptions teams, teams_show;
  berth::cli::TeamsApplyOptions teams_apply;
  berth::cli::NodeNameOptions drain, undrain;
  berth::cli::BackupOptions backup;
  berth::cli::PruneOptions prune;
  berth::cli::WatchOptions watch;
  berth::cli::EventsOptions events;
};

using Verb = std::pair<CLI::App*, std::function<int()>>;

// Fills what each verb's own flags left unset from the flags before the verb.
void ApplyGlobalClientFlags(const ClientOptions& global, AllOptions* o) {
  for (ClientOptions* client :
       {&o->submit.client, &o->jobs.client, &o->job.client, &o->cancel.client, &o->why.client,
        &o->checkpoint.client, &o->nodes.client, &o->teams.client, &o->drain.client,
        &o->undrain.client, &o->backup.client, &o->watch.client, &o->events.client,
        &o->teams_apply.client, &o->teams_show.client}) {
    if (!client->daemon) client->daemon = global.daemon;
    if (!client->token) client->token = global.token;
    if (!client->tls_ca) client->tls_ca = global.tls_ca;
  }
}

void AddJobVerbs(CLI::App* app, AllOptions* o, std::vector<Verb>* verbs) {
  CLI::App* submit = app->add_subcommand(
      "submit", "submit a job spec (YAML or JSON); several files or --array in one request");
  submit
      ->add_option("FILE", o->submit.files,
                   "berth.v1.JobSpec files as YAML (.yaml, .yml) or JSON; several are "
                   "submitted together, all or none")
      ->required();
  Text(submit, "--array", &o->submit.array,
       "a job array: one job per index (1-500, 0-15:4, 1,3,5-7; at most 10,000), each "
       "with BERTH_ARRAY_INDEX set",
       "INDICES");
  submit->add_flag("--wait", o->submit.wait,
                   "follow the job until it ends, printing state changes");
  Text(submit, "--timeout", &o->submit.timeout,
       "with --wait: stop waiting after this long (90, 90s, 10m, 1h30m)", "DURATION");
  AddClientFlags(submit, &o->submit.client);
  submit->footer(ExitCodeFooter({{0, "submitted (with --wait: the job SUCCEEDED)"},
                                 {1, "with --wait: the job ended FAILED or CANCELLED"},
                                 kUsage,
                                 {3, "refused: no GPU pool can ever hold the job"},
                                 kUnreachable,
                                 {6, "with --wait --timeout: the job had not ended in time"},
                                 kNotAllowed}));
  CLI::App* jobs = app->add_subcommand("jobs", "list jobs");
  jobs->add_option("--state", o->jobs.states, "only jobs in this state (repeatable)")
      ->type_name("STATE");
  Text(jobs, "--team", &o->jobs.team, "only this team's jobs", "TEAM");
  Text(jobs, "--limit", &o->jobs.limit, "at most N jobs (default 1000)");
  Text(jobs, "--since", &o->jobs.since,
       "only jobs submitted since: a duration back from now (2h, 30m) or an RFC 3339 time", "WHEN");
  AddClientFlags(jobs, &o->jobs.client);
  jobs->footer(ExitCodeFooter({kOk, kInternal, kUsage, kUnreachable, kNotAllowed}));
  auto id_verb = [&](const char* name, const char* help, berth::cli::JobIdOptions* options) {
    CLI::App* verb = app->add_subcommand(name, help);
    verb->add_option("ID", options->id, "job id")->required();
    AddClientFlags(verb, &options->client);
    verb->footer(ExitCodeFooter({kOk, kInternal, kUsage, kNotFound, kUnreachable, kNotAllowed}));
    return verb;
  };
  verbs->push_back({submit, [o] { return RunSubmit(o->submit, std::cout, std::cerr); }});
  verbs->push_back({jobs, [o] { return RunJobs(o->jobs, std::cout, std::cerr); }});
  verbs->push_back({id_verb("job", "show one job", &o->job),
                    [o] { return RunJob(o->job, std::cout, std::cerr); }});
  CLI::App* cancel = id_verb("cancel", "cancel a job", &o->cancel);
  cancel->footer(ExitCodeFooter({{0, "cancelled"},
                                 kInternal,
                                 kUsage,
                                 {3, "refused: the job has already ended"},
                                 kNotFound,
                                 kUnreachable,
                                 {7,
                                  "not allowed: no or an unknown --token, or another team's job "
                                  "(admins may cancel any)"}}));
  verbs->push_back({cancel, [o] { return RunCancel(o->cancel, std::cout, std::cerr); }});
  verbs->push_back({id_verb("why", "why a job waits, and until when", &o->why),
                    [o] { return RunWhy(o->why, std::cout, std::cerr); }});
  CLI::App* checkpoint =
      id_verb("checkpoint",
              "say a running job saved a checkpoint now: preempting it loses only the work since "
              "(as touching $BERTH_CHECKPOINT_FILE)",
              &o->checkpoint);
  checkpoint->footer(ExitCodeFooter({{0, "recorded"},
                                     kInternal,
                                     kUsage,
                                     {3, "refused: the job is not running"},
                                     kNotFound,
                                     kUnreachable,
                                     kNotAllowed}));
  verbs->push_back(
      {checkpoint, [o] { return RunCheckpoint(o->checkpoint, std::cout, std::cerr); }});
}

void AddNodeVerbs(CLI::App* app, AllOptions* o, std::vector<Verb>* verbs) {
  CLI::App* nodes = app->add_subcommand("nodes", "list nodes and their GPUs");
  AddClientFlags(nodes, &o->nodes.client);
  nodes->footer(ExitCodeFooter({kOk, kInternal, kUnreachable, kNotAllowed}));
  CLI::App* drain = app->add_subcommand("drain", "place no new jobs on a node");
  CLI::App* undrain = app->add_subcommand("undrain", "place jobs on a drained node again");
  for (auto [verb, options] : {std::pair{drain, &o->drain}, std::pair{undrain, &o->undrain}}) {
    verb->add_option("NODE", options->node, "node name")->required();
    AddClientFlags(verb, &options->client);
    verb->footer(ExitCodeFooter(
        {kOk, kInternal, kUsage, kNotFound, kUnreachable, {7, "not allowed: admins only"}}));
  }
  verbs->push_back({nodes, [o] { return RunNodes(o->nodes, std::cout, std::cerr); }});
  CLI::App* teams = app->add_subcommand(
      "teams", "per team and GPU type: quota, GPUs in use and borrowed, demand, fair share");
  AddClientFlags(teams, &o->teams.client);
  teams->footer(ExitCodeFooter({kOk, kInternal, kUnreachable, kNotAllowed}));
  verbs->push_back({teams, [o] { return RunTeams(o->teams, std::cout, std::cerr); }});
  verbs->push_back({drain, [o] { return RunDrain(o->drain, std::cout, std::cerr); }});
  verbs->push_back({undrain, [o] { return RunUndrain(o->undrain, std::cout, std::cerr); }});
  CLI::App* admin = app->add_subcommand("admin", "operator tasks on berthd");
  admin->require_subcommand(1);
  CLI::App* backup = admin->add_subcommand(
      "backup", "write an online backup of berthd's SQLite file to PATH on its host");
  backup->add_option("PATH", o->backup.path, "absolute path of the new backup file")->required();
  AddClientFlags(backup, &o->backup.client);
  backup->footer(
      ExitCodeFooter({kOk, kInternal, kUsage, kUnreachable, {7, "not allowed: admins only"}}));
  verbs->push_back({backup, [o] { return RunBackup(o->backup, std::cout, std::cerr); }});
  CLI::App* prune = admin->add_subcommand(
      "prune",
      "delete ended jobs (and their events) that retention lets go, now instead of at berthd's "
      "next minute; never a live job, one still stopping, one whose request id may still be "
      "retried (--request_id_window), or the newest job. Waits for berthd's answer up to 30 "
      "minutes (a stopped command's prune goes on in berthd)");
  prune->add_option("--older-than", o->prune.older_than,
                    "ended jobs that ended longer ago than this go, e.g. 30d, 720h "
                    "(default: berthd's --retain_ended_for)");
  prune
      ->add_option("--keep", o->prune.keep,
                   "ended jobs older than the newest N jobs go (default: berthd's --retain_jobs)")
      ->check(CLI::Range(int64_t{1}, berth::kMaxRetentionJobs));
  AddClientFlags(prune, &o->prune.client);
  prune->footer(ExitCodeFooter({kOk,
                                kInternal,
                                kUsage,
                                {3, "refused: no age and no count to prune by"},
                                kUnreachable,
                                {7, "not allowed: admins only"}}));
  verbs->push_back({prune, [o] { return RunPrune(o->prune, std::cout, std::cerr); }});
  CLI::App* admin_teams = admin->add_subcommand("teams", "the teams file in force (docs/TEAMS.md)");
  admin_teams->require_subcommand(1);
  CLI::App* apply = admin_teams->add_subcommand(
      "apply",
      "check a teams file and apply it without a restart (berthd writes it over its "
      "--teams file); a refused file leaves the old one in force");
  apply->add_option("FILE", o->teams_apply.file, "the teams YAML")->required();
  apply->add_flag("--check", o->teams_apply.check, "only check the file; apply nothing");
  AddClientFlags(apply, &o->teams_apply.client);
  apply->footer(ExitCodeFooter({kOk,
                                kInternal,
                                {2, "bad input: the file's line and field are named"},
                                {3, "refused: a team with live jobs dropped, or no --teams"},
                                kUnreachable,
                                {7, "not allowed: admins only"}}));
  verbs->push_back({apply, [o] { return RunTeamsApply(o->teams_apply, std::cout, std::cerr); }});
  CLI::App* show = admin_teams->add_subcommand("show", "print the teams file in force");
  AddClientFlags(show, &o->teams_show.client);
  show->footer(ExitCodeFooter({kOk,
                               kInternal,
                               {3, "refused: berthd runs without --teams"},
                               kUnreachable,
                               {7, "not allowed: admins only"}}));
  verbs->push_back({show, [o] { return RunTeamsShow(o->teams_show, std::cout, std::cerr); }});
}

void AddEventsVerb(CLI::App* app, AllOptions* o, std::vector<Verb>* verbs) {
  CLI::App* events = app->add_subcommand(
      "events", "berthd's event log: what happened to a job, a node or the cluster");
  events
      ->add_option_function<std::string>(
          "JOB", [o](const std::string& value) { o->events.job = value; }, "only this job's events")
      ->type_name("ID");
  Text(events, "--node", &o->events.node, "only this node's events", "NODE");
  Text(events, "--limit", &o->events.limit,
       "the newest N events that match (default 100, at most 10000)");
  Text(events, "--after", &o->events.after,
       "only events after this event id (read on from the last one seen)", "ID");
  AddClientFlags(events, &o->events.client);
  events->footer(ExitCodeFooter({kOk, kInternal, kUsage, kUnreachable, kNotAllowed}));
  verbs->push_back({events, [o] { return RunEvents(o->events, std::cout, std::cerr); }});
}

void AddWatchVerb(CLI::App* app, AllOptions* o, std::vector<Verb>* verbs) {
  CLI::App* watch =
      app->add_subcommand("watch", "live view of the queue and the cluster (Ctrl-C to stop)");
  Text(watch, "--interval", &o->watch.interval,
       "seconds between redraws (default 2; 0.5, 2, 10s, 1m)", "DURATION");
  watch->add_flag("--once", o->watch.once, "print one frame and exit (for scripts)");
  AddClientFlags(watch, &o->watch.client);
  watch->footer(ExitCodeFooter({{0, "done (the live view: stopped by Ctrl-C or SIGTERM)"},
                                kInternal,
                                {2, "bad flags (--json needs --once)"},
                                {5, "with --once: berthd did not answer (the live view retries)"},
                                kNotAllowed}));
  verbs->push_back({watch, [o] { return RunWatch(o->watch, std::cout, std::cerr); }});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("berth: plans and schedules LLM jobs on GPU clusters", "berth");
  app.set_version_flag("--version", "berth " BERTH_VERSION);
  app.require_subcommand(1);
  ClientOptions global_client;
  AddConnectionFlags(&app, &global_client);
  AllOptions options;
  CLI::App* plan = app.add_subcommand("plan", "how many GPUs a model needs, and how to split it");
  AddModelFlags(plan, &options.plan);
  AddTrainFlags(plan, &options.plan);
  AddInferFlags(plan, &options.plan);
  AddGpuAndSplitFlags(plan, &options.plan);
  AddPaceAndOutputFlags(plan, &options.plan);
  plan->footer(ExitCodeFooter({{0, "a plan that fits"},
                               kInternal,
                               kUsage,
                               {3, "no split fits (the closest one is still printed)"}}));
  std::vector<Verb> verbs = {{plan, [&] { return RunPlan(options.plan, std::cout, std::cerr); }}};
  AddJobVerbs(&app, &options, &verbs);
  AddNodeVerbs(&app, &options, &verbs);
  AddEventsVerb(&app, &options, &verbs);
  AddWatchVerb(&app, &options, &verbs);
  app.footer(
      ExitCodeFooter({{0, "done"},
                      {1, "an internal error; submit --wait: the job failed"},
                      {2, "bad input"},
                      {3, "refused"},
                      {4, "not found"},
                      {5, "berthd unreachable"},
                      {6, "submit --wait --timeout ran out"},
                      {7, "not allowed (UNAUTHENTICATED or PERMISSION_DENIED; see --token)"}}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help
    std::vector<CLI::App*> parsed = app.get_subcommands();
    std::cerr << "berth" << (parsed.empty() ? "" : " ")
              << (parsed.empty() ? "" : parsed.front()->get_name()) << ": " << error.what() << "\n";
    return berth::cli::kExitUsage;
  }
  ApplyGlobalClientFlags(global_client, &options);
  for (const auto& [verb, run] : verbs) {
    if (verb->parsed()) return Finish(run());
  }
  return berth::cli::kExitUsage;  // require_subcommand(1) makes this
                                  // unreachable
}
