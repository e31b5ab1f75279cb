#include "daemon/auth.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "berth/v1/auth.pb.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace berth::daemon {
namespace {

constexpr int64_t kMaxCredentialFileBytes = 1 << 20;

absl::Status CheckEntry(const berth::v1::TokenEntry& entry, int index, absl::string_view source) {
  const std::string where = absl::StrCat(source, ": tokens[", index, "]");
  if (entry.token().size() < kMinTokenLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".token: at least ", kMinTokenLength, " characters are required"));
  }
  for (char c : entry.token()) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        !absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".token: printable characters without spaces only"));
    }
  }
  if (entry.team().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".team: a team is required"));
  }
  return absl::OkStatus();
}

// Text from a request, fit for an error message (and berthd's log): escaped
// and cut short.
std::string Echo(absl::string_view text) {
  constexpr size_t kMaxEchoed = 253;
  return absl::StrCat(absl::CHexEscape(text.substr(0, kMaxEchoed)),
                      text.size() > kMaxEchoed ? "..." : "");
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  // Different lengths differ; every byte position is still visited.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view json, absl::string_view source) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  berth::v1::TokenFile file;
  const auto status =
      google::protobuf::util::JsonStringToMessage({json.data(), json.size()}, &file, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ",
                     absl::StrReplaceAll(absl::StripAsciiWhitespace(std::string(status.message())),
                                         {{"\n", " "}})));
  }
  TokenTable table;
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < file.tokens_size(); ++i) {
    const berth::v1::TokenEntry& entry = file.tokens(i);
    BERTH_RETURN_IF_ERROR(CheckEntry(entry, i, source));
    if (!seen.insert(entry.token()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": tokens[", i, "].token: given twice"));
    }
    table.entries_.push_back(Entry{
        .token = entry.token(),
        .caller =
            Caller{.name = entry.name().empty() ? absl::StrCat("tokens[", i, "]") : entry.name(),
                   .team = entry.team(),
                   .admin = entry.admin()}});
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(std::string text, ReadCredentialFile(path, "--tokens_file"));
  return Parse(text, path);
}

absl::StatusOr<Caller> TokenTable::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no bearer token: send `authorization: Bearer <token>` (berth --token)");
  }
  const size_t prefix = sizeof(kBearerPrefix) - 1;
  if (authorization.size() <= prefix ||
      !absl::EqualsIgnoreCase(authorization.substr(0, prefix), kBearerPrefix)) {
    return absl::UnauthenticatedError("authorization: expected \"Bearer <token>\"");
  }
  const absl::string_view token = authorization.substr(prefix);
  const Caller* found = nullptr;
  for (const Entry& entry : entries_) {  // no early exit
    if (ConstantTimeEquals(entry.token, token)) found = &entry.caller;
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  return *found;
}

absl::Status AuthorizeSubmit(const Caller& caller, berth::v1::JobSpec& spec) {
  if (spec.team().empty()) {
    spec.set_team(caller.team);
    return absl::OkStatus();
  }
  if (spec.team() == caller.team || caller.admin) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("team: ", caller.name, " submits for team \"",
                                                  caller.team, "\", not \"", Echo(spec.team()),
                                                  "\""));
}

absl::Status AuthorizeJobAccess(const Caller& caller, int64_t id, absl::string_view job_team) {
  if (job_team == caller.team || caller.admin) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("job ", id, " belongs to team \"", job_team,
                                                  "\"; ", caller.name, " is in team \"",
                                                  caller.team, "\" and not an admin"));
}

absl::Status AuthorizeAdmin(const Caller& caller, absl::string_view what) {
  if (caller.admin) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(what, " is for admins; ", caller.name, " is not one"));
}

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view flag) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, ": cannot open"));
  std::string text;
  text.resize(kMaxCredentialFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<int64_t>(text.size()) > kMaxCredentialFileBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, " ", path, ": larger than ", kMaxCredentialFileBytes, " bytes"));
  }
  if (text.empty()) return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, ": empty"));
  return text;
}

absl::Status CheckAgentIdentity(const std::vector<std::string>& common_names,
                                absl::string_view node) {
  if (common_names.empty()) {
    return absl::UnauthenticatedError(
        "register: berthd requires a client certificate (berth-agent --tls_cert/--tls_key)");
  }
  for (const std::string& cn : common_names) {
    if (cn == node) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "register.node: \"", Echo(node), "\" does not match the client certificate's common name \"",
      absl::StrJoin(common_names, "\", \"",
                    [](std::string* out, const std::string& cn) { out->append(Echo(cn)); }),
      "\""));
}

}  // namespace berth::daemon
