#include "cli/job_spec_yaml.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/job_spec.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/eventhandler.h"
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

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms,
// surrogates or code points past U+10FFFF). proto3 string fields must be;
// yaml-cpp passes any bytes through, and a spec with others fails to parse
// at the daemon instead of here.
bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t min = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2, code = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code = lead & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
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

  absl::Status ReadMessage(const YAML::Node& node, const std::string& path, Message* message) const;

 private:
  // "`name_`:LINE: PATH: MESSAGE", LINE being `at`'s (1-based).
  absl::Status Error(const YAML::Node& at, const std::string& path,
                     absl::string_view message) const {
    int line = at.Mark().is_null() ? 0 : at.Mark().line + 1;
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ":", line, ": ", path, path.empty() ? "" : ": ", message));
  }

  absl::Status ReadField(const YAML::Node& value, const std::string& path,
                         const FieldDescriptor* field, Message* message) const;
  absl::Status ReadMap(const YAML::Node& value, const std::string& path,
                       const FieldDescriptor* field, Message* message) const;
  absl::Status ReadScalar(const YAML::Node& value, const std::string& path,
                          const FieldDescriptor* field, Message* message) const;
  absl::Status SetInteger(const YAML::Node& value, const std::string& path,
                          const FieldDescriptor* field, Message* message) const;

  std::string name_;
};

absl::Status SpecReader::ReadMessage(const YAML::Node& node, const std::string& path,
                                     Message* message) const {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) {
    return Error(node, path,
                 absl::StrCat("expected a mapping of fields, got ", KindName(node),
                              node.IsScalar() ? " " : "", node.IsScalar() ? Quoted(node) : ""));
  }
  const google::protobuf::Descriptor* descriptor = message->GetDescriptor();
  const Reflection* reflection = message->GetReflection();
  std::set<int> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    std::string key_text = key.IsScalar() ? key.Scalar() : "";
    std::string field_path = path.empty() ? key_text : absl::StrCat(path, ".", key_text);
    if (!key.IsScalar()) return Error(key, path, "a key must be a name");
    const FieldDescriptor* field = descriptor->FindFieldByName(key_text);
    if (field == nullptr) return Error(key, field_path, "unknown field");
    if (!seen.insert(field->number()).second) {
      return Error(key, field_path, "given twice");
    }
    const google::protobuf::OneofDescriptor* oneof = field->real_containing_oneof();
    if (oneof != nullptr && reflection->HasOneof(*message, oneof)) {
      std::vector<std::string> names;
      for (int i = 0; i < oneof->field_count(); ++i) {
        names.push_back(oneof->field(i)->name());
      }
      return Error(key, field_path,
                   absl::StrCat("give only one of ", absl::StrJoin(names, ", "), " in ",
                                path.empty() ? "the spec" : path));
    }
    BERTH_RETURN_IF_ERROR(ReadField(entry.second, field_path, field, message));
  }
  return absl::OkStatus();
}

absl::Status SpecReader::ReadField(const YAML::Node& value, const std::string& path,
                                   const FieldDescriptor* field, Message* message) const {
  if (value.IsNull()) return absl::OkStatus();  // `field:` leaves it unset
  if (field->is_map()) return ReadMap(value, path, field, message);
  if (field->is_repeated()) {
    if (!value.IsSequence()) {
      return Error(value, path, absl::StrCat("expected a list, got ", KindName(value)));
    }
    for (size_t i = 0; i < value.size(); ++i) {
      BERTH_RETURN_IF_ERROR(ReadScalar(value[i], absl::StrCat(path, "[", i, "]"), field, message));
    }
    return absl::OkStatus();
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return ReadMessage(value, path, message->GetReflection()->MutableMessage(message, field));
  }
  return ReadScalar(value, path, field, message);
}

absl::Status SpecReader::ReadMap(const YAML::Node& value, const std::string& path,
                                 const FieldDescriptor* field, Message* message) const {
  if (!value.IsMap()) {
    return Error(value, path, absl::StrCat("expected a mapping, got ", KindName(value)));
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
    Message* item = message->GetReflection()->AddMessage(message, field);
    BERTH_RETURN_IF_ERROR(ReadScalar(entry.first, entry_path, key_field, item));
    if (entry.second.IsNull()) {
      return Error(entry.first, entry_path, "expected a value");
    }
    BERTH_RETURN_IF_ERROR(ReadScalar(entry.second, entry_path, value_field, item));
  }
  return absl::OkStatus();
}

absl::Status SpecReader::SetInteger(const YAML::Node& value, const std::string& path,
                                    const FieldDescriptor* field, Message* message) const {
  int64_t number = 0;
  if (!absl::SimpleAtoi(value.Scalar(), &number)) {
    return Error(value, path, absl::StrCat("expected an integer, got ", Quoted(value)));
  }
  const Reflection* r = message->GetReflection();
  bool repeated = field->is_repeated();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
    repeated ? r->AddInt64(message, field, number) : r->SetInt64(message, field, number);
    return absl::OkStatus();
  }
  if (number < std::numeric_limits<int32_t>::min() ||
      number > std::numeric_limits<int32_t>::max()) {
    return Error(value, path, absl::StrCat(number, " is out of range for a 32-bit integer"));
  }
  int32_t small = static_cast<int32_t>(number);
  repeated ? r->AddInt32(message, field, small) : r->SetInt32(message, field, small);
  return absl::OkStatus();
}

absl::Status SpecReader::ReadScalar(const YAML::Node& value, const std::string& path,
                                    const FieldDescriptor* field, Message* message) const {
  if (!value.IsScalar()) {
    return Error(value, path, absl::StrCat("expected a single value, got ", KindName(value)));
  }
  const Reflection* r = message->GetReflection();
  bool repeated = field->is_repeated();
  const std::string& text = value.Scalar();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (!IsValidUtf8(text)) {
        return Error(value, path, absl::StrCat("not valid UTF-8 text: ", Quoted(value)));
      }
      repeated ? r->AddString(message, field, text) : r->SetString(message, field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return SetInteger(value, path, field, message);
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double number = 0;
      if (!absl::SimpleAtod(text, &number) || !std::isfinite(number)) {
        return Error(value, path, absl::StrCat("expected a number, got ", Quoted(value)));
      }
      repeated ? r->AddDouble(message, field, number) : r->SetDouble(message, field, number);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      if (text != "true" && text != "false") {
        return Error(value, path, absl::StrCat("expected true or false, got ", Quoted(value)));
      }
      repeated ? r->AddBool(message, field, text == "true")
               : r->SetBool(message, field, text == "true");
      return absl::OkStatus();
    }
    default:
      return Error(value, path, "this field cannot be set from YAML");
  }
}

// Finds where the second document of a stream starts, if there is one: the
// line of its first node, or of the document itself when it is empty.
class SecondDocumentFinder final : public YAML::EventHandler {
 public:
  std::optional<int> line() const { return line_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) line_ = mark.line + 1;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark) {
    if (documents_ == 2 && !node_seen_) {
      node_seen_ = true;
      line_ = mark.line + 1;
    }
  }

  int documents_ = 0;
  bool node_seen_ = false;
  std::optional<int> line_;
};

struct Documents {
  YAML::Node first;
  std::optional<int> second_line;  // where a second document starts
};

// Loads the first document and looks for a second, reading no further: a
// stray "," at the top level makes yaml-cpp 0.7 yield empty documents
// without end, so YAML::LoadAll() never returns (found by
// tests/fuzz/job_spec_fuzzer). A syntax error becomes "`name`:LINE: YAML
// syntax error: ...". The one place that catches yaml-cpp's exceptions.
absl::StatusOr<Documents> LoadDocuments(absl::string_view name, absl::string_view yaml) {
  try {
    Documents documents;
    documents.first = YAML::Load(std::string(yaml));
    std::istringstream input{std::string(yaml)};
    YAML::Parser parser(input);
    SecondDocumentFinder finder;
    if (parser.HandleNextDocument(finder) && parser.HandleNextDocument(finder)) {
      documents.second_line = finder.line();
    }
    return documents;
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
  BERTH_ASSIGN_OR_RETURN(Documents documents, LoadDocuments(name, yaml));
  if (!documents.first.IsDefined() || documents.first.IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": empty file; expected a YAML mapping of fields"));
  }
  SpecReader reader(name);
  if (documents.second_line.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ":", *documents.second_line,
                     ": one job spec per file; found a second YAML document"));
  }
  berth::v1::JobSpec spec;
  BERTH_RETURN_IF_ERROR(reader.ReadMessage(documents.first, "", &spec));
  return spec;
}

}  // namespace berth::cli
