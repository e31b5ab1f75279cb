// berth: the command-line client. Verbs: `berth plan` (no daemon needed).
//
// Flags are defined here and parsed into cli::PlanOptions; numeric flags are
// taken as text and parsed by berth (cli/numbers.h). CLI11 reports its own
// parse errors by exception, which is caught in exactly one place below and
// becomes exit code 2.
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/plan_command.h"

namespace {

using berth::cli::PlanOptions;

// Binds `--name VALUE` to an optional string; absent stays nullopt.
// `kind` names the value in --help: N (a number, cli/numbers.h), NAME, PATH.
void Text(CLI::App* app, const std::string& name,
          std::optional<std::string>* out, const std::string& help,
          const std::string& kind = "N") {
  app->add_option_function<std::string>(
         name, [out](const std::string& value) { *out = value; }, help)
      ->type_name(kind);
}

void AddModelFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--model", &o->model, "catalogued model (see --list-models)",
       "NAME");
  Text(plan, "--hf-config", &o->hf_config, "a Hugging Face config.json",
       "PATH");
  Text(plan, "--params", &o->params, "parameter count (7B, 7e9, ...)");
  Text(plan, "--layers", &o->layers, "transformer layers");
  Text(plan, "--hidden", &o->hidden, "hidden size");
  Text(plan, "--heads", &o->heads, "attention heads");
  Text(plan, "--kv-heads", &o->kv_heads, "key/value heads (default: heads)");
  Text(plan, "--ffn", &o->ffn, "FFN size (default: solved from --params)");
  Text(plan, "--vocab", &o->vocab, "vocabulary size (default 32000)");
  Text(plan, "--task", &o->task, "train (default) or infer", "TASK");
}

void AddTrainFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--seq", &o->seq, "training: sequence length (default 4096)");
  Text(plan, "--micro-batch", &o->micro_batch,
       "training: micro-batch (default: searched 1, 2, 4, 8)");
  Text(plan, "--global-batch", &o->global_batch,
       "training: sequences per step");
  Text(plan, "--framework", &o->framework,
       "training: megatron (default) or deepspeed", "NAME");
  Text(plan, "--recompute", &o->recompute,
       "training: none, selective, full or auto (default)", "MODE");
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
       "inference: weight type fp32, bf16 (default), fp16, fp8, int8, int4",
       "TYPE");
  Text(plan, "--kv-dtype", &o->kv_dtype, "inference: KV cache type (bf16)",
       "TYPE");
  Text(plan, "--batch", &o->batch, "inference: concurrent sequences (1)");
  Text(plan, "--context", &o->context, "inference: tokens per sequence (4096)");
  Text(plan, "--offload", &o->offload,
       "inference: none (default), layerwise or cpu", "MODE");
}

void AddGpuAndSplitFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--gpu", &o->gpu, "GPU type (default h100-80gb; --list-gpus)",
       "TYPE");
  Text(plan, "--gpu-memory-gib", &o->gpu_memory_gib,
       "a custom GPU with this much memory, in GiB");
  Text(plan, "--gpus-per-node", &o->gpus_per_node, "GPUs per node (8)");
  Text(plan, "--max-gpus", &o->max_gpus, "most GPUs the plan may use");
  Text(plan, "--usable-fraction", &o->usable_fraction,
       "share of each GPU's memory a plan may fill (0.90)");
  Text(plan, "--overhead-gib", &o->overhead_gib,
       "fixed per-GPU overhead in GiB (1)");
  Text(plan, "--tp", &o->tp, "fix tensor parallelism");
  Text(plan, "--pp", &o->pp, "fix pipeline parallelism");
  Text(plan, "--dp", &o->dp, "fix data parallelism");
  Text(plan, "--zero", &o->zero, "fix the ZeRO stage (0-3)");
}

void AddPaceAndOutputFlags(CLI::App* plan, PlanOptions* o) {
  Text(plan, "--tokens", &o->tokens, "training: tokens to process (2T)");
  Text(plan, "--days", &o->days, "training: deadline for --tokens, in days");
  Text(plan, "--tokens-per-second", &o->tokens_per_second,
       "training: throughput to reach");
  Text(plan, "--mfu", &o->mfu, "model FLOPs utilisation assumed (0.40)");
  Text(plan, "--alternatives", &o->alternatives,
       "how many alternative splits to show (3)");
  plan->add_flag("--json", o->json, "print the plan as JSON");
  plan->add_flag("--list-models", o->list_models, "list catalogued models");
  plan->add_flag("--list-gpus", o->list_gpus, "list catalogued GPU types");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("berth: plans GPU splits for LLM training and inference",
               "berth");
  app.require_subcommand(1);
  PlanOptions options;
  CLI::App* plan = app.add_subcommand(
      "plan", "how many GPUs a model needs, and how to split it");
  AddModelFlags(plan, &options);
  AddTrainFlags(plan, &options);
  AddInferFlags(plan, &options);
  AddGpuAndSplitFlags(plan, &options);
  AddPaceAndOutputFlags(plan, &options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help
    std::cerr << (plan->parsed() ? "berth plan: " : "berth: ") << error.what()
              << "\n";
    return berth::cli::kExitUsage;
  }
  return berth::cli::RunPlan(options, std::cout, std::cerr);
}
