#include "cli/job_spec_yaml.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/job_spec.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "planner/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace berth::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// A scalar as the user wrote it, cut for an error message.
std::string Quoted(const YAML::Node& node) {
  std::string text = node.IsScalar() ? node.Scalar() : "";
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return absl::StrCat("\"", absl::CEscape(text), "\"");
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

// Walks one YAML document alongside a message's descriptor.
class SpecReader {
 public:
  explicit SpecReader(absl::string_view name) : name_(name) {}

  absl::Status ReadMessage(const YAML::Node& node, const std::string& path,
                           Message* message) const;

 private:
  // "`name_`:LINE: PATH: MESSAGE", LINE being `at`'s (1-based).
  absl::Status Error(const YAML::Node& at, const std::string& path,
                     absl::string_view message) const {
    int line = at.Mark().is_null() ? 0 : at.Mark().line + 1;
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ":", line, ": ", path, path.empty() ? "" : ": ",
                     message));
  }

  absl::Status ReadField(const YAML::Node& value, const std::string& path,
                         const FieldDescriptor* field, Message* message) const;
  absl::Status ReadMap(const YAML::Node& value, const std::string& path,
                       const FieldDescriptor* field, Message* message) const;
  absl::Status ReadScalar(const YAML::Node& value, const std::string& path,
                          const FieldDescriptor* field,
                          Message* message) const;
  absl::Status SetInteger(const YAML::Node& value, const std::string& path,
                          const FieldDescriptor* field,
                          Message* message) const;

  std::string name_;
};

absl::Status SpecReader::ReadMessage(const YAML::Node& node,
                                     const std::string& path,
                                     Message* message) const {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) {
    return Error(node, path,
                 absl::StrCat("expected a mapping of fields, got ",
                              KindName(node), node.IsScalar() ? " " : "",
                              node.IsScalar() ? Quoted(node) : ""));
  }
  const google::protobuf::Descriptor* descriptor = message->GetDescriptor();
  const Reflection* reflection = message->GetReflection();
  std::set<int> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    std::string key_text = key.IsScalar() ? key.Scalar() : "";
    std::string field_path =
        path.empty() ? key_text : absl::StrCat(path, ".", key_text);
    if (!key.IsScalar()) return Error(key, path, "a key must be a name");
    const FieldDescriptor* field = descriptor->FindFieldByName(key_text);
    if (field == nullptr) return Error(key, field_path, "unknown field");
    if (!seen.insert(field->number()).second) {
      return Error(key, field_path, "given twice");
    }
    const google::protobuf::OneofDescriptor* oneof =
        field->real_containing_oneof();
    if (oneof != nullptr && reflection->HasOneof(*message, oneof)) {
      std::vector<std::string> names;
      for (int i = 0; i < oneof->field_count(); ++i) {
        names.push_back(oneof->field(i)->name());
      }
      return Error(key, field_path,
                   absl::StrCat("give only one of ", absl::StrJoin(names, ", "),
                                " in ", path.empty() ? "the spec" : path));
    }
    BERTH_RETURN_IF_ERROR(ReadField(entry.second, field_path, field, message));
  }
  return absl::OkStatus();
}

absl::Status SpecReader::ReadField(const YAML::Node& value,
                                   const std::string& path,
                                   const FieldDescriptor* field,
                                   Message* message) const {
  if (value.IsNull()) return absl::OkStatus();  // `field:` leaves it unset
  if (field->is_map()) return ReadMap(value, path, field, message);
  if (field->is_repeated()) {
    if (!value.IsSequence()) {
      return Error(value, path,
                   absl::StrCat("expected a list, got ", KindName(value)));
    }
    for (size_t i = 0; i < value.size(); ++i) {
      BERTH_RETURN_IF_ERROR(ReadScalar(value[i], absl::StrCat(path, "[", i, "]"),
                                       field, message));
    }
    return absl::OkStatus();
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return ReadMessage(value, path,
                       message->GetReflection()->MutableMessage(message, field));
  }
  return ReadScalar(value, path, field, message);
}

absl::Status SpecReader::ReadMap(const YAML::Node& value,
                                 const std::string& path,
                                 const FieldDescriptor* field,
                                 Message* message) const {
  if (!value.IsMap()) {
    return Error(value, path,
                 absl::StrCat("expected a mapping, got ", KindName(value)));
  }
  const FieldDescriptor* key_field = field->message_type()->map_key();
  const FieldDescriptor* value_field = field->message_type()->map_value();
  std::set<std::string> seen;
  for (const auto& entry : value) {
    if (!entry.first.IsScalar()) {
      return Error(entry.first, path, "a key must be a scalar");
    }
    std::string entry_path = absl::StrCat(path, ".", entry.first.Scalar());
    if (!seen.insert(entry.first.Scalar()).second) {
      return Error(entry.first, entry_path, "given twice");
    }
    Message* item =
        message->GetReflection()->AddMessage(message, field);
    BERTH_RETURN_IF_ERROR(ReadScalar(entry.first, entry_path, key_field, item));
    if (entry.second.IsNull()) {
      return Error(entry.first, entry_path, "expected a value");
    }
    BERTH_RETURN_IF_ERROR(
        ReadScalar(entry.second, entry_path, value_field, item));
  }
  return absl::OkStatus();
}

absl::Status SpecReader::SetInteger(const YAML::Node& value,
                                    const std::string& path,
                                    const FieldDescriptor* field,
                                    Message* message) const {
  int64_t number = 0;
  if (!absl::SimpleAtoi(value.Scalar(), &number)) {
    return Error(value, path,
                 absl::StrCat("expected an integer, got ", Quoted(value)));
  }
  const Reflection* r = message->GetReflection();
  bool repeated = field->is_repeated();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
    repeated ? r->AddInt64(message, field, number)
             : r->SetInt64(message, field, number);
    return absl::OkStatus();
  }
  if (number < std::numeric_limits<int32_t>::min() ||
      number > std::numeric_limits<int32_t>::max()) {
    return Error(value, path,
                 absl::StrCat(number, " is out of range for a 32-bit integer"));
  }
  int32_t small = static_cast<int32_t>(number);
  repeated ? r->AddInt32(message, field, small)
           : r->SetInt32(message, field, small);
  return absl::OkStatus();
}

absl::Status SpecReader::ReadScalar(const YAML::Node& value,
                                    const std::string& path,
                                    const FieldDescriptor* field,
                                    Message* message) const {
  if (!value.IsScalar()) {
    return Error(value, path,
                 absl::StrCat("expected a single value, got ",
                              KindName(value)));
  }
  const Reflection* r = message->GetReflection();
  bool repeated = field->is_repeated();
  const std::string& text = value.Scalar();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? r->AddString(message, field, text)
               : r->SetString(message, field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return SetInteger(value, path, field, message);
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double number = 0;
      if (!absl::SimpleAtod(text, &number) || !std::isfinite(number)) {
        return Error(value, path,
                     absl::StrCat("expected a number, got ", Quoted(value)));
      }
      repeated ? r->AddDouble(message, field, number)
               : r->SetDouble(message, field, number);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      if (text != "true" && text != "false") {
        return Error(value, path,
                     absl::StrCat("expected true or false, got ",
                                  Quoted(value)));
      }
      repeated ? r->AddBool(message, field, text == "true")
               : r->SetBool(message, field, text == "true");
      return absl::OkStatus();
    }
    default:
      return Error(value, path, "this field cannot be set from YAML");
  }
}

// Loads every document; a syntax error becomes "`name`:LINE: YAML syntax
// error: ...". The one place that catches yaml-cpp's exceptions.
absl::StatusOr<std::vector<YAML::Node>> LoadDocuments(absl::string_view name,
                                                      absl::string_view yaml) {
  try {
    return YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& error) {
    int line = error.mark.is_null() ? 0 : error.mark.line + 1;
    return absl::InvalidArgumentError(
        absl::StrCat(name, ":", line, ": YAML syntax error: ", error.msg));
  }
}

}  // namespace

absl::StatusOr<berth::v1::JobSpec> ParseJobSpecYaml(absl::string_view name,
                                                    absl::string_view yaml) {
  if (static_cast<int64_t>(yaml.size()) > kMaxJobSpecBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": larger than ", kMaxJobSpecBytes, " bytes"));
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<YAML::Node> documents,
                         LoadDocuments(name, yaml));
  if (documents.empty() || documents.front().IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": empty file; expected a YAML mapping of fields"));
  }
  SpecReader reader(name);
  if (documents.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":", documents[1].Mark().line + 1,
        ": one job spec per file; found a second YAML document"));
  }
  berth::v1::JobSpec spec;
  BERTH_RETURN_IF_ERROR(reader.ReadMessage(documents.front(), "", &spec));
  return spec;
}

}  // namespace berth::cli
