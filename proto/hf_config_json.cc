#include "proto/hf_config_json.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "planner/hf_config.h"

namespace berth::proto {
namespace {

void Flatten(const google::protobuf::Struct& object, const std::string& prefix,
             planner::HfConfig& out) {
  for (const auto& [key, value] : object.fields()) {
    const std::string name = prefix + key;
    switch (value.kind_case()) {
      case google::protobuf::Value::kNumberValue:
        out[name] = value.number_value();
        break;
      case google::protobuf::Value::kBoolValue:
        out[name] = value.bool_value();
        break;
      case google::protobuf::Value::kStringValue:
        out[name] = value.string_value();
        break;
      case google::protobuf::Value::kStructValue:
        Flatten(value.struct_value(), name + ".", out);
        break;
      default:  // lists and nulls carry nothing the planner reads
        break;
    }
  }
}

absl::Status WithPath(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

// The file's contents, refusing files over kMaxHfConfigBytes.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  }
  std::string text(kMaxHfConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": read failed"));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<int64_t>(text.size()) > kMaxHfConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxHfConfigBytes, " bytes; not a config.json"));
  }
  return text;
}

// "models/llama-2-7b/config.json" → "llama-2-7b"; "mixtral.json" → "mixtral".
std::string ModelNameFromPath(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string folder = p.parent_path().filename().string();
  if (p.filename() == "config.json" && !folder.empty() && folder != "." && folder != "..") {
    return folder;
  }
  return p.stem().string();
}

}  // namespace

absl::StatusOr<planner::HfConfig> ParseHfConfigJson(absl::string_view json_text) {
  if (static_cast<int64_t>(json_text.size()) > kMaxHfConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: ", json_text.size(),
                                                   " bytes is more than ", kMaxHfConfigBytes,
                                                   "; not a config.json"));
  }
  google::protobuf::Struct object;
  const auto status =
      google::protobuf::util::JsonStringToMessage({json_text.data(), json_text.size()}, &object);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: malformed JSON: ",
                     absl::StrReplaceAll(absl::StripAsciiWhitespace(std::string(status.message())),
                                         {{"\n", " "}})));
  }
  planner::HfConfig config;
  Flatten(object, "", config);
  return config;
}

absl::StatusOr<planner::ModelShape> ModelFromHfConfigFile(const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  absl::StatusOr<planner::HfConfig> config = ParseHfConfigJson(text);
  if (!config.ok()) return WithPath(config.status(), path);
  absl::StatusOr<planner::ModelShape> shape =
      planner::ModelFromHfConfig(*config, ModelNameFromPath(path));
  if (!shape.ok()) return WithPath(shape.status(), path);
  return shape;
}

}  // namespace berth::proto
