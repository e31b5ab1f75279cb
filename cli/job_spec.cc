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
#include "google/protobuf/util/json_util.h"

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
    return absl::StrCat(path, path.empty() ? "" : ".", message,
                        ": unknown field");
  }
  if (path.empty()) return absl::StrCat("malformed JSON: ", message);
  return absl::StrCat(path, ": ", message);
}

bool IsYamlName(const std::string& path) {
  std::string lower = absl::AsciiStrToLower(path);
  return absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml");
}

}  // namespace

absl::StatusOr<berth::v1::JobSpec> ParseJobSpecJson(absl::string_view name,
                                                    absl::string_view json) {
  if (static_cast<int64_t>(json.size()) > kMaxJobSpecBytes) {
    return SpecError(name,
                     absl::StrCat("larger than ", kMaxJobSpecBytes, " bytes"));
  }
  if (absl::StripAsciiWhitespace(json).empty()) {
    return SpecError(name, "empty file; expected a JSON object");
  }
  berth::v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json),
                                                            &spec, options);
  if (!status.ok()) {
    absl::string_view message(status.message().data(), status.message().size());
    return SpecError(name, DescribeJsonError(message));
  }
  return spec;
}

absl::StatusOr<berth::v1::JobSpec> ReadJobSpecFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return SpecError(path, "cannot open the file");
  std::string text;
  text.resize(kMaxJobSpecBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (file.bad()) return SpecError(path, "cannot read the file");
  text.resize(static_cast<size_t>(file.gcount()));
  if (IsYamlName(path)) return ParseJobSpecYaml(path, text);
  return ParseJobSpecJson(path, text);
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
