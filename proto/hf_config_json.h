// Reading a Hugging Face `config.json` into the planner's model shape.
//
// `ParseHfConfigJson()` parses the JSON text with protobuf's JSON parser into
// a `google::protobuf::Struct` and flattens it into the planner's `HfConfig`
// map: nested objects join their keys with a dot ("text_config.hidden_size"),
// lists and nulls are skipped. `ModelFromHfConfigFile()` reads a file, parses
// it and derives the shape with `planner::ModelFromHfConfig()`, naming the
// model after the file's folder (".../llama-2-7b/config.json" gives
// "llama-2-7b") or, for any other file name, after the file's stem.
#ifndef BERTH_PROTO_HF_CONFIG_JSON_H_
#define BERTH_PROTO_HF_CONFIG_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/hf_config.h"
#include "planner/model.h"

namespace berth::proto {

// Texts and files larger than this are refused; real config.json files are
// a few kilobytes, and a whole job spec is at most 256 KiB
// (common/limits.h kMaxSpecBytes).
inline constexpr int64_t kMaxHfConfigBytes = int64_t{192} << 10;  // 192 KiB

// InvalidArgument "config.json: malformed JSON: ..." for text that is not a
// JSON object, or text over kMaxHfConfigBytes.
absl::StatusOr<planner::HfConfig> ParseHfConfigJson(absl::string_view json_text);

// NotFound when the file does not exist, InvalidArgument (with the path) when
// it cannot be read, is too large, or does not describe a supported model.
absl::StatusOr<planner::ModelShape> ModelFromHfConfigFile(const std::string& path);

}  // namespace berth::proto

#endif  // BERTH_PROTO_HF_CONFIG_JSON_H_
