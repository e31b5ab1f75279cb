// Who may call berthd, and what they may do (docs/SECURITY.md).
//
// Users present a bearer token (`authorization: Bearer <token>` metadata);
// the TokenTable, read from --tokens_file, maps it to a Caller: a name, a
// team and whether they are an admin. The checks below are pure functions
// of the caller and the request; the services call them before the core:
//
//   BERTH_ASSIGN_OR_RETURN(TokenTable tokens, TokenTable::Load(path));
//   absl::StatusOr<Caller> caller = tokens.Authenticate(header_value);
//   if (caller.ok()) status = AuthorizeSubmit(*caller, spec);  // sets spec.team
//
// Agents are identified by their TLS client certificate instead: with
// --tls_client_ca the certificate's common name must equal the node the
// agent registers (CheckAgentIdentity).
//
// Codes: Unauthenticated when the caller is unknown (no or a wrong token, no
// certificate), PermissionDenied when a known caller may not do this.
#ifndef BERTH_DAEMON_AUTH_H_
#define BERTH_DAEMON_AUTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/v1/job.pb.h"

namespace berth::daemon {

// The metadata key and scheme users send their token under.
inline constexpr char kAuthorizationMetadata[] = "authorization";
inline constexpr char kBearerPrefix[] = "Bearer ";
// Shorter tokens are refused when the file is read: they can be guessed.
inline constexpr size_t kMinTokenLength = 16;

// An authenticated user.
struct Caller {
  std::string name;
  std::string team;
  bool admin = false;
};

// Equality that takes the same time wherever the strings differ (it still
// depends on the longer length, which is not secret enough to matter).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

class TokenTable {
 public:
  // Parses the JSON of berth.v1.TokenFile (proto/berth/v1/auth.proto).
  // InvalidArgument, naming `source` and the entry, for unknown fields, an
  // empty team, a token shorter than kMinTokenLength or with whitespace, or
  // a token given twice.
  static absl::StatusOr<TokenTable> Parse(absl::string_view json, absl::string_view source);
  // Reads and parses `path`; FailedPrecondition when it cannot be read.
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // `authorization` is the metadata value, "Bearer <token>" (the scheme in
  // any case). Unauthenticated when empty, malformed or unknown. Every entry
  // is compared, in constant time, whether or not one matched earlier.
  absl::StatusOr<Caller> Authenticate(absl::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    Caller caller;
  };
  std::vector<Entry> entries_;
};

// SubmitJob: an empty spec.team becomes the caller's team; another team is
// PermissionDenied unless the caller is an admin.
absl::Status AuthorizeSubmit(const Caller& caller, berth::v1::JobSpec& spec);
// Cancelling or reading job `id` (its spec carries a command and env; issue
// 18, finding 13), which belongs to `job_team`: the caller's own team, or any
// team for an admin.
absl::Status AuthorizeJobAccess(const Caller& caller, int64_t id, absl::string_view job_team);
// Operator calls (drain, undrain, backup): admins only. `what` names the call.
absl::Status AuthorizeAdmin(const Caller& caller, absl::string_view what);

// Reads a token file or a PEM file named by `flag` (e.g. "--tls_cert"), at
// most 1 MiB. FailedPrecondition, naming the flag and path, when it cannot.
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view flag);

// An agent's stream registering `node`: `common_names` are the verified
// client certificate's CNs (empty: no certificate). Unauthenticated without
// a certificate; PermissionDenied unless a CN equals `node`.
absl::Status CheckAgentIdentity(const std::vector<std::string>& common_names,
                                absl::string_view node);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_AUTH_H_
