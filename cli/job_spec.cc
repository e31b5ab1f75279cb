#include "cli/job_spec.h"

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cli/job_spec_yaml.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "planner/catalog.h"
#include "planner/workload.h"

namespace berth::cli {
namespace {

absl::Status SpecError(absl::string_view name, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", message));
}

// Protobuf's JSON parser reports "(model) catalog_nam: Cannot find field."
// for an unknown field, "(split.tp): invalid value ..." for a bad value, and
// a message with a caret diagram for malformed JSON. This rewrites them as
// "model.catalog_nam: unknown field", "split.tp: invalid value ..." and
// "malformed JSON: ...".
std::string DescribeJsonError(absl::string_view message) {
  message = message.substr(0, message.find('\n'));
  message = absl::StripAsciiWhitespace(message);
  std::string path;
  if (absl::ConsumePrefix(&message, "(")) {
    size_t close = message.find(')');
    if (close == absl::string_view::npos) return std::string(message);
    path = std::string(message.substr(0, close));
    message.remove_prefix(close + 1);
    absl::ConsumePrefix(&message, ":");
    message = absl::StripLeadingAsciiWhitespace(message);
  }
  if (absl::ConsumeSuffix(&message, ": Cannot find field.")) {
    // `message` is now the unknown key itself.
    return absl::StrCat(path, path.empty() ? "" : ".", message, ": unknown field");
  }
  if (path.empty()) return absl::StrCat("malformed JSON: ", message);
  return absl::StrCat(path, ": ", message);
}

// Protobuf's JSON parser accepts a comma before "}" or "]" (its stream
// parser closes an object wherever it expects a key, "this allows for
// trailing commas"); JSON does not, and other tools reading the same file
// would refuse it. Returns the 1-based line of the first such comma, or 0.
int TrailingCommaLine(absl::string_view json) {
  int line = 1;
  char quote = 0;  // the open string's quote, or 0 outside strings
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '\n') ++line;
    if (quote != 0) {
      if (c == '\\') {
        ++i;  // an escaped character cannot end the string
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    if (c != ',') continue;
    size_t next = i + 1;
    while (next < json.size() && absl::ascii_isspace(static_cast<unsigned char>(json[next]))) {
      ++next;
    }
    if (next < json.size() && (json[next] == '}' || json[next] == ']')) return line;
  }
  return 0;
}

bool IsYamlName(const std::string& path) {
  std::string lower = absl::AsciiStrToLower(path);
  return absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml");
}

}  // namespace

absl::StatusOr<berth::v1::JobSpec> ParseJobSpecJson(absl::string_view name,
                                                    absl::string_view json) {
  if (static_cast<int64_t>(json.size()) > kMaxJobSpecBytes) {
    return SpecError(name, absl::StrCat("larger than ", kMaxJobSpecBytes, " bytes"));
  }
  if (absl::StripAsciiWhitespace(json).empty()) {
    return SpecError(name, "empty file; expected a JSON object");
  }
  if (int line = TrailingCommaLine(json); line > 0) {
    return SpecError(name, absl::StrCat("malformed JSON: a comma before } or ] on line ", line,
                                        " (JSON allows no trailing comma)"));
  }
  berth::v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &spec, options);
  if (!status.ok()) {
    absl::string_view message(status.message().data(), status.message().size());
    return SpecError(name, DescribeJsonError(message));
  }
  return spec;
}

absl::Status NormalizeJobSpec(absl::string_view name, berth::v1::JobSpec* spec) {
  if (!spec->task().empty()) {
    absl::StatusOr<planner::Task> task = planner::ParseTask(spec->task());
    if (!task.ok()) return SpecError(name, task.status().message());
    spec->set_task(std::string(planner::TaskName(*task)));
    const bool train = *task == planner::Task::kTrain;
    if (train ? spec->has_infer() : spec->has_train()) {
      const absl::string_view section = train ? "infer" : "train";
      return SpecError(name,
                       absl::StrCat(section, ": a section for task ", section, ", but the task is ",
                                    spec->task(), "; remove it or change the task"));
    }
  }
  if (spec->model().has_catalog_name()) {
    absl::StatusOr<std::string> model = planner::ResolveModelName(spec->model().catalog_name());
    if (!model.ok()) {
      return SpecError(name, absl::StrCat("model.catalog_name: ", model.status().message()));
    }
    spec->mutable_model()->set_catalog_name(*model);
  }
  if (!spec->gpu_type().empty()) {
    absl::StatusOr<std::string> gpu = planner::ResolveGpuName(spec->gpu_type());
    if (gpu.ok()) spec->set_gpu_type(*gpu);
  }
  return absl::OkStatus();
}

absl::StatusOr<berth::v1::JobSpec> ReadJobSpecFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return SpecError(path, "cannot open the file");
  // In pieces, up to one byte past the limit (which the parsers refuse):
  // a spec is a few hundred bytes, and each submit reads one.
  std::string text;
  char piece[16384];
  const size_t limit = static_cast<size_t>(kMaxJobSpecBytes);
  while (text.size() <= limit && file) {
    file.read(piece, sizeof(piece));
    text.append(piece, static_cast<size_t>(file.gcount()));
  }
  if (file.bad()) return SpecError(path, "cannot read the file");
  if (text.size() > limit + 1) text.resize(limit + 1);
  absl::StatusOr<berth::v1::JobSpec> spec =
      IsYamlName(path) ? ParseJobSpecYaml(path, text) : ParseJobSpecJson(path, text);
  if (!spec.ok()) return spec;
  BERTH_RETURN_IF_ERROR(NormalizeJobSpec(path, &*spec));
  return spec;
}

std::string NewRequestId() {
  std::random_device device;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppendFormat(&id, "%08x", static_cast<uint32_t>(device()));
  }
  return id;
}

}  // namespace berth::cli
