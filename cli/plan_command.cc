#include "cli/plan_command.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "cli/numbers.h"
#include "cli/plan_output.h"
#include "cli/spec_plan.h"
#include "common/status_macros.h"
#include "planner/catalog.h"
#include "planner/gpu.h"
#include "planner/model.h"
#include "planner/workload.h"
#include "proto/hf_config_json.h"
#include "proto/plan_convert.h"

namespace berth::cli {
namespace {

using Text = std::optional<std::string>;

absl::Status FlagError(absl::string_view flag, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", message));
}

// Prefixes an error from elsewhere (the catalog, a file reader) with a flag.
// NotFound and the like become InvalidArgument: to the command, an unknown
// name or a missing file is a bad request.
absl::Status AboutFlag(absl::string_view flag, const absl::Status& status) {
  return FlagError(flag, status.message());
}

// Reads an optional whole-number flag of at least `min` into `*out`.
absl::Status ReadCount(const Text& text, absl::string_view flag, int64_t min, int64_t* out) {
  if (!text) return absl::OkStatus();
  BERTH_ASSIGN_OR_RETURN(int64_t value, ParseCount(flag, *text));
  if (value < min) {
    return FlagError(flag, absl::StrCat("must be at least ", min, " (got \"", *text, "\")"));
  }
  *out = value;
  return absl::OkStatus();
}

// Reads an optional number flag into `*out`; it must be above zero, and at
// most `max` when `max` is positive.
absl::Status ReadPositive(const Text& text, absl::string_view flag, double max, double* out) {
  if (!text) return absl::OkStatus();
  BERTH_ASSIGN_OR_RETURN(double value, ParseNumber(flag, *text));
  if (value <= 0) {
    return FlagError(flag, absl::StrCat("must be above 0 (got \"", *text, "\")"));
  }
  if (max > 0 && value > max) {
    return FlagError(flag, absl::StrCat("must be at most ", max, " (got \"", *text, "\")"));
  }
  *out = value;
  return absl::OkStatus();
}

// GiB as a whole number of bytes.
int64_t GibToBytes(double gib) {
  return static_cast<int64_t>(std::llround(gib * static_cast<double>(planner::kGiB)));
}

// Parses a name with one of the planner's Parse* functions, whose errors
// start with a field name ("dtype: unknown value ..."); the flag replaces it.
template <typename T>
absl::Status ReadName(const Text& text, absl::string_view flag,
                      absl::StatusOr<T> (*parse)(absl::string_view), T* out) {
  if (!text) return absl::OkStatus();
  absl::StatusOr<T> value = parse(*text);
  if (!value.ok()) {
    absl::string_view message = value.status().message();
    size_t colon = message.find(": ");
    if (colon != absl::string_view::npos) message.remove_prefix(colon + 2);
    return FlagError(flag, message);
  }
  *out = *value;
  return absl::OkStatus();
}

// Planner field names (as its errors spell them) and the flags that set them.
constexpr std::pair<absl::string_view, absl::string_view> kFieldFlags[] = {
    {"params", "--params"},
    {"layers", "--layers"},
    {"hidden", "--hidden"},
    {"heads", "--heads"},
    {"kv_heads", "--kv-heads"},
    {"ffn", "--ffn"},
    {"vocab", "--vocab"},
    {"mlp", "--mlp"},
    {"objective", "--objective"},
    {"seq", "--seq"},
    {"micro_batch", "--micro-batch"},
    {"global_batch", "--global-batch"},
    {"virtual_stages", "--virtual-stages"},
    {"batch", "--batch"},
    {"context", "--context"},
    {"gpus_per_node", "--gpus-per-node"},
    {"max_gpus", "--max-gpus"},
    {"usable_fraction", "--usable-fraction"},
    {"overhead", "--overhead-gib"},
    {"overhead_bytes", "--overhead-gib"},
    {"gpu_memory", "--gpu-memory-gib"},
    {"memory_bytes", "--gpu-memory-gib"},
    {"zero", "--zero"},
    {"offload", "--offload"},
    {"declared_params", "--params"},
    {"tp", "--tp"},
    {"pp", "--pp"},
    {"dp", "--dp"},
    {"zero_stage", "--zero"},
    {"ep", "--ep"},
    {"tokens", "--tokens"},
    {"days", "--days"},
    {"tokens_per_second", "--tokens-per-second"},
    {"mfu", "--mfu"},
    {"max_alternatives", "--alternatives"},
};

// Rewrites a planner error that starts with a field name ("heads: ..." or
// "train.seq must ...") to start with the flag that sets the field.
absl::Status WithFlagName(const absl::Status& status) {
  absl::string_view message = status.message();
  size_t end = message.find_first_of(": ");
  if (end == absl::string_view::npos) return status;
  absl::string_view field = message.substr(0, end);
  if (size_t dot = field.rfind('.'); dot != absl::string_view::npos) {
    field.remove_prefix(dot + 1);
  }
  for (const auto& [name, flag] : kFieldFlags) {
    if (field != name) continue;
    absl::string_view rest =
        absl::StripLeadingAsciiWhitespace(absl::StripPrefix(message.substr(end), ":"));
    return absl::Status(status.code(), absl::StrCat(flag, ": ", rest));
  }
  return status;
}

bool AnyShapeFlag(const PlanOptions& o) {
  return o.params || o.layers || o.hidden || o.heads || o.kv_heads || o.ffn || o.vocab;
}

// Checks that exactly one model source is given, and --mlp only with an
// explicit shape.
absl::Status CheckModelSource(const PlanOptions& options) {
  if (options.mlp && !AnyShapeFlag(options)) {
    return FlagError("--mlp",
                     "only with the explicit shape flags (--params, --layers, --hidden, "
                     "--heads, ...); a --model or --hf-config model has its own MLP");
  }
  int sources =
      (options.model ? 1 : 0) + (options.hf_config ? 1 : 0) + (AnyShapeFlag(options) ? 1 : 0);
  if (sources == 0) {
    return FlagError("--model",
                     "no model given: use --model NAME, "
                     "--hf-config PATH, or --params/--layers/--hidden/--heads");
  }
  if (sources > 1) {
    absl::string_view flag = options.model ? "--model" : "--hf-config";
    return FlagError(flag,
                     "give only one of --model, --hf-config, or the "
                     "explicit shape flags (--params, --layers, ...)");
  }
  return absl::OkStatus();
}

absl::StatusOr<planner::ModelShape> ModelFromNumbers(const PlanOptions& o) {
  planner::ShapeNumbers n;
  BERTH_RETURN_IF_ERROR(ReadName(o.mlp, "--mlp", &planner::ParseMlpKind, &n.mlp));
  if (!o.layers) return FlagError("--layers", "required with --params");
  if (!o.hidden) return FlagError("--hidden", "required with --params");
  if (!o.heads) return FlagError("--heads", "required with --params");
  // A plain MLP without either has FFN 4·hidden (planner/model.h).
  if (!o.params && !o.ffn && n.mlp != planner::MlpKind::kGelu) {
    return FlagError("--params", "give --params or --ffn (or both), or --mlp plain");
  }
  BERTH_RETURN_IF_ERROR(ReadCount(o.params, "--params", 1, &n.params));
  BERTH_RETURN_IF_ERROR(ReadCount(o.layers, "--layers", 1, &n.layers));
  BERTH_RETURN_IF_ERROR(ReadCount(o.hidden, "--hidden", 1, &n.hidden));
  BERTH_RETURN_IF_ERROR(ReadCount(o.heads, "--heads", 1, &n.heads));
  BERTH_RETURN_IF_ERROR(ReadCount(o.kv_heads, "--kv-heads", 1, &n.kv_heads));
  BERTH_RETURN_IF_ERROR(ReadCount(o.ffn, "--ffn", 1, &n.ffn));
  BERTH_RETURN_IF_ERROR(ReadCount(o.vocab, "--vocab", 1, &n.vocab));
  if (n.hidden % n.heads != 0) {
    return FlagError("--heads", absl::StrCat(n.heads, " heads do not divide --hidden ", n.hidden));
  }
  if (n.kv_heads > 0 && n.heads % n.kv_heads != 0) {
    return FlagError("--kv-heads",
                     absl::StrCat(n.kv_heads, " KV heads do not divide --heads ", n.heads));
  }
  absl::StatusOr<planner::ModelShape> shape = planner::ShapeFromNumbers(n);
  if (!shape.ok()) return WithFlagName(shape.status());
  if (shape->name.empty()) shape->name = "custom";
  return shape;
}

absl::StatusOr<planner::ModelShape> ReadModel(const PlanOptions& options) {
  BERTH_RETURN_IF_ERROR(CheckModelSource(options));
  if (options.model) {
    absl::StatusOr<planner::ModelShape> shape = planner::FindModel(*options.model);
    if (!shape.ok()) return AboutFlag("--model", shape.status());
    return shape;
  }
  if (options.hf_config) {
    absl::StatusOr<planner::ModelShape> shape = proto::ModelFromHfConfigFile(*options.hf_config);
    if (!shape.ok()) return AboutFlag("--hf-config", shape.status());
    return shape;
  }
  return ModelFromNumbers(options);
}

absl::StatusOr<planner::GpuType> ReadGpuType(const PlanOptions& options) {
  if (options.gpu && options.gpu_memory_gib) {
    return FlagError("--gpu-memory-gib",
                     "give either --gpu or "
                     "--gpu-memory-gib, not both");
  }
  if (options.gpu_memory_gib) {
    double gib = 0;
    BERTH_RETURN_IF_ERROR(ReadPositive(options.gpu_memory_gib, "--gpu-memory-gib", 0, &gib));
    return planner::GpuType{.name = absl::StrFormat("custom-%ggib", gib),
                            .memory_bytes = GibToBytes(gib)};
  }
  absl::StatusOr<planner::GpuType> gpu = planner::FindGpu(options.gpu.value_or(kDefaultGpu));
  if (!gpu.ok()) return AboutFlag("--gpu", gpu.status());
  return gpu;
}

absl::StatusOr<planner::Hardware> ReadHardware(const PlanOptions& options) {
  planner::Hardware hardware;
  BERTH_ASSIGN_OR_RETURN(hardware.gpu, ReadGpuType(options));
  BERTH_RETURN_IF_ERROR(
      ReadCount(options.gpus_per_node, "--gpus-per-node", 1, &hardware.gpus_per_node));
  BERTH_RETURN_IF_ERROR(
      ReadPositive(options.usable_fraction, "--usable-fraction", 1.0, &hardware.usable_fraction));
  if (options.overhead_gib) {
    BERTH_ASSIGN_OR_RETURN(double gib, ParseNumber("--overhead-gib", *options.overhead_gib));
    hardware.overhead_bytes = GibToBytes(gib);
  }
  return hardware;
}

// A flag given for the other task is an error, not silently ignored.
absl::Status RejectOtherTaskFlags(const PlanOptions& o, planner::Task task) {
  const std::pair<bool, absl::string_view> train_only[] = {
      {o.seq.has_value(), "--seq"},
      {o.micro_batch.has_value(), "--micro-batch"},
      {o.global_batch.has_value(), "--global-batch"},
      {o.framework.has_value(), "--framework"},
      {o.recompute.has_value(), "--recompute"},
      {o.flash_attention.has_value(), "--flash-attention"},
      {o.sequence_parallel, "--sequence-parallel"},
      {o.virtual_stages.has_value(), "--virtual-stages"},
      {o.zero.has_value(), "--zero"},
      {o.ep.has_value(), "--ep"},
      {o.mfu.has_value(), "--mfu"}};
  const std::pair<bool, absl::string_view> infer_only[] = {
      {o.weights.has_value(), "--weights"}, {o.kv_dtype.has_value(), "--kv-dtype"},
      {o.batch.has_value(), "--batch"},     {o.context.has_value(), "--context"},
      {o.offload.has_value(), "--offload"}, {o.objective.has_value(), "--objective"},
  };
  if (task == planner::Task::kInfer) {
    // --tokens-per-second is a target for inference too (all replicas).
    absl::string_view pace = o.tokens ? "--tokens" : o.days ? "--days" : "";
    if (!pace.empty()) {
      return FlagError(pace,
                       "a pace in --tokens and --days applies to training only; "
                       "inference takes --tokens-per-second (decode tokens/s of all "
                       "replicas together)");
    }
    for (const auto& [given, flag] : train_only) {
      if (given) return FlagError(flag, "applies to --task train only");
    }
  } else {
    for (const auto& [given, flag] : infer_only) {
      if (given) return FlagError(flag, "applies to --task infer only");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadTrain(const PlanOptions& o, planner::TrainWorkload* train) {
  BERTH_RETURN_IF_ERROR(ReadCount(o.seq, "--seq", 1, &train->seq));
  BERTH_RETURN_IF_ERROR(ReadCount(o.micro_batch, "--micro-batch", 1, &train->micro_batch));
  BERTH_RETURN_IF_ERROR(ReadCount(o.global_batch, "--global-batch", 1, &train->global_batch));
  BERTH_RETURN_IF_ERROR(
      ReadName(o.framework, "--framework", &planner::ParseFramework, &train->framework));
  if (o.recompute && absl::AsciiStrToLower(*o.recompute) != "auto") {
    planner::Recompute recompute = planner::Recompute::kNone;
    absl::Status status =
        ReadName(o.recompute, "--recompute", &planner::ParseRecompute, &recompute);
    if (!status.ok()) {
      return FlagError("--recompute", absl::StrCat("unknown value \"", *o.recompute,
                                                   "\" (accepted: none, selective, full, auto)"));
    }
    train->recompute = recompute;
  }
  train->flash_attention = o.flash_attention.value_or(true);
  train->sequence_parallel = o.sequence_parallel;
  return ReadCount(o.virtual_stages, "--virtual-stages", 1, &train->virtual_stages);
}

absl::Status ReadInfer(const PlanOptions& o, planner::InferWorkload* infer) {
  BERTH_RETURN_IF_ERROR(ReadName(o.weights, "--weights", &planner::ParseDType, &infer->weights));
  BERTH_RETURN_IF_ERROR(ReadName(o.kv_dtype, "--kv-dtype", &planner::ParseDType, &infer->kv_dtype));
  BERTH_RETURN_IF_ERROR(ReadCount(o.batch, "--batch", 1, &infer->batch));
  BERTH_RETURN_IF_ERROR(ReadCount(o.context, "--context", 1, &infer->context));
  BERTH_RETURN_IF_ERROR(ReadName(o.offload, "--offload", &planner::ParseOffload, &infer->offload));
  return ReadName(o.objective, "--objective", &planner::ParseServingObjective, &infer->objective);
}

absl::Status ReadFixedSplit(const PlanOptions& o, planner::FixedSplit* fixed) {
  BERTH_RETURN_IF_ERROR(ReadCount(o.tp, "--tp", 1, &fixed->tp));
  BERTH_RETURN_IF_ERROR(ReadCount(o.pp, "--pp", 1, &fixed->pp));
  BERTH_RETURN_IF_ERROR(ReadCount(o.dp, "--dp", 1, &fixed->dp));
  BERTH_RETURN_IF_ERROR(ReadCount(o.ep, "--ep", 1, &fixed->ep));
  if (o.zero) {
    BERTH_ASSIGN_OR_RETURN(int64_t zero, ParseCount("--zero", *o.zero));
    if (zero > 3) {
      return FlagError("--zero", absl::StrCat("must be 0, 1, 2 or 3 (got \"", *o.zero, "\")"));
    }
    fixed->zero_stage = static_cast<int>(zero);
  }
  return absl::OkStatus();
}

// --tokens with --days, or --tokens-per-second, sets a pace; --tokens alone
// only asks for the days the chosen plan would take.
absl::Status ReadPace(const PlanOptions& o, planner::PlanRequest* request) {
  if (o.days && !o.tokens) {
    return FlagError("--days",
                     "needs --tokens (the tokens to process in that "
                     "many days)");
  }
  if (o.days && o.tokens_per_second) {
    return FlagError("--tokens-per-second",
                     "give either --tokens with --days, "
                     "or --tokens-per-second, not both");
  }
  BERTH_RETURN_IF_ERROR(ReadPositive(o.tokens, "--tokens", 0, &request->tokens));
  BERTH_RETURN_IF_ERROR(ReadPositive(o.days, "--days", 0, &request->days));
  BERTH_RETURN_IF_ERROR(
      ReadPositive(o.tokens_per_second, "--tokens-per-second", 0, &request->tokens_per_second));
  return ReadPositive(o.mfu, "--mfu", 1.0, &request->mfu);
}

absl::StatusOr<planner::Task> ReadTask(const PlanOptions& options) {
  planner::Task task = planner::Task::kTrain;
  BERTH_RETURN_IF_ERROR(ReadName(options.task, "--task", &planner::ParseTask, &task));
  BERTH_RETURN_IF_ERROR(RejectOtherTaskFlags(options, task));
  return task;
}

}  // namespace

absl::StatusOr<planner::Hardware> BuildHardware(const PlanOptions& options) {
  return ReadHardware(options);
}

absl::Status ApplyLimitFlags(const PlanOptions& options, planner::PlanRequest& request) {
  BERTH_RETURN_IF_ERROR(ReadCount(options.max_gpus, "--max-gpus", 1, &request.max_gpus));
  int64_t alternatives = request.max_alternatives;
  BERTH_RETURN_IF_ERROR(ReadCount(options.alternatives, "--alternatives", 0, &alternatives));
  if (alternatives > 100) {
    return FlagError("--alternatives", "must be at most 100");
  }
  request.max_alternatives = static_cast<int>(alternatives);
  return absl::OkStatus();
}

absl::StatusOr<planner::PlanRequest> BuildPlanRequest(const PlanOptions& options) {
  planner::PlanRequest request;
  BERTH_ASSIGN_OR_RETURN(request.task, ReadTask(options));
  BERTH_ASSIGN_OR_RETURN(request.model, ReadModel(options));
  BERTH_ASSIGN_OR_RETURN(request.hardware, ReadHardware(options));
  if (request.task == planner::Task::kTrain) {
    BERTH_RETURN_IF_ERROR(ReadTrain(options, &request.train));
    BERTH_RETURN_IF_ERROR(ReadPace(options, &request));
  } else {
    BERTH_RETURN_IF_ERROR(ReadInfer(options, &request.infer));
    BERTH_RETURN_IF_ERROR(ReadPositive(options.tokens_per_second, "--tokens-per-second", 0,
                                       &request.tokens_per_second));
  }
  BERTH_RETURN_IF_ERROR(ReadFixedSplit(options, &request.fixed));
  BERTH_RETURN_IF_ERROR(ApplyLimitFlags(options, request));
  absl::Status valid = planner::ValidateRequest(request);
  if (!valid.ok()) return WithFlagName(valid);
  return request;
}

int RunPlan(const PlanOptions& flags, std::ostream& out, std::ostream& err) {
  if (flags.list_models || flags.list_gpus) {
    if (flags.list_models) PrintModelList(out);
    if (flags.list_gpus) PrintGpuList(out);
    return kExitOk;
  }
  absl::StatusOr<planner::PlanRequest> request =
      flags.spec ? PlanRequestFromSpecFile(flags, err) : BuildPlanRequest(flags);
  if (!request.ok()) {
    err << "berth plan: " << request.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<planner::PlanResult> result = planner::SolvePlan(*request);
  if (!result.ok()) {
    absl::Status status = flags.spec ? SpecPlanError(flags, *flags.spec, result.status())
                                     : WithFlagName(result.status());
    err << "berth plan: " << status.message() << "\n";
    return absl::IsInvalidArgument(result.status()) ? kExitUsage : kExitInternal;
  }
  if (flags.json) {
    absl::StatusOr<std::string> json =
        proto::PlanReportToJson(proto::ToPlanReport(*request, *result));
    if (!json.ok()) {
      err << "berth plan: " << json.status().message() << "\n";
      return kExitInternal;
    }
    out << *json;
  } else {
    PrintPlan(*request, *result, out);
  }
  if (!result->feasible) {
    err << "berth plan: refused: " << result->reason << "\n";
    return kExitRefused;
  }
  return kExitOk;
}

}  // namespace berth::cli
