#include "daemon/auth.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

// Three users: alice (nlp), bob (vision), root (ops, admin).
constexpr char kTokens[] = R"({"tokens": [
  {"token": "alice-0123456789abcdef", "team": "nlp", "name": "alice"},
  {"token": "bob-0123456789abcdefgh", "team": "vision", "name": "bob"},
  {"token": "root-0123456789abcdefg", "team": "ops", "admin": true, "name": "root"}
]})";

TokenTable Table() {
  absl::StatusOr<TokenTable> table = TokenTable::Parse(kTokens, "tokens.json");
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *std::move(table) : TokenTable();
}

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));  // a prefix is not equal
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", std::string("abc\0", 4)));
}

TEST(TokenTableTest, AuthenticatesEachTokenToItsCaller) {
  TokenTable table = Table();
  EXPECT_EQ(table.size(), 3u);
  absl::StatusOr<Caller> alice = table.Authenticate("Bearer alice-0123456789abcdef");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->team, "nlp");
  EXPECT_FALSE(alice->admin);
  absl::StatusOr<Caller> root = table.Authenticate("bearer root-0123456789abcdefg");
  ASSERT_TRUE(root.ok()) << root.status();  // the scheme in any case
  EXPECT_TRUE(root->admin);
}

TEST(TokenTableTest, UnknownOrMissingTokensAreUnauthenticated) {
  TokenTable table = Table();
  for (const char* header : {"", "Bearer ", "Bearer alice-0123456789abcde",
                             "Bearer alice-0123456789abcdefX", "Basic alice-0123456789abcdef",
                             "alice-0123456789abcdef", "Bearer  alice-0123456789abcdef"}) {
    absl::StatusOr<Caller> caller = table.Authenticate(header);
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated) << header;
  }
}

TEST(TokenTableTest, RejectsBadFilesNamingTheEntry) {
  struct Case {
    const char* json;
    const char* message;
  };
  const std::vector<Case> cases = {
      {R"({"tokens": [{"token": "short", "team": "nlp"}]})", "tokens[0].token: at least 16"},
      {R"({"tokens": [{"token": "0123456789abcdef", "team": ""}]})", "tokens[0].team"},
      {R"({"tokens": [{"token": "0123456789 abcdef", "team": "t"}]})", "without spaces"},
      {R"({"tokens": [{"token": "0123456789abcdef", "team": "a"},
                      {"token": "0123456789abcdef", "team": "b"}]})",
       "tokens[1].token: given twice"},
      {R"({"tokens": [{"token": "0123456789abcdef", "team": "a", "role": "x"}]})", "role"},
      {R"({"tokens": )", "tokens.json"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TokenTable> table = TokenTable::Parse(c.json, "tokens.json");
    ASSERT_FALSE(table.ok()) << c.json;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(table.status().message().find(c.message), std::string::npos) << table.status();
  }
}

TEST(TokenTableTest, EmptyFileAcceptsNoOne) {
  absl::StatusOr<TokenTable> table = TokenTable::Parse("{}", "tokens.json");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Authenticate("Bearer 0123456789abcdef").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenTableTest, MissingFileIsFailedPrecondition) {
  absl::StatusOr<TokenTable> table = TokenTable::Load("/nonexistent/berth-tokens.json");
  EXPECT_EQ(table.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(table.status().message().find("--tokens_file"), std::string::npos);
}

const Caller kAlice{.name = "alice", .team = "nlp", .admin = false};
const Caller kRoot{.name = "root", .team = "ops", .admin = true};

TEST(AuthorizeSubmitTest, EmptyTeamBecomesTheCallersTeam) {
  berth::v1::JobSpec spec;
  ASSERT_TRUE(AuthorizeSubmit(kAlice, spec).ok());
  EXPECT_EQ(spec.team(), "nlp");
}

TEST(AuthorizeSubmitTest, OwnTeamAllowedOtherTeamDeniedUnlessAdmin) {
  berth::v1::JobSpec own;
  own.set_team("nlp");
  EXPECT_TRUE(AuthorizeSubmit(kAlice, own).ok());
  EXPECT_EQ(own.team(), "nlp");
  berth::v1::JobSpec other;
  other.set_team("vision");
  EXPECT_EQ(AuthorizeSubmit(kAlice, other).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other.team(), "vision");  // unchanged
  EXPECT_TRUE(AuthorizeSubmit(kRoot, other).ok());
  EXPECT_EQ(other.team(), "vision");  // an admin submits for any team
}

TEST(AuthorizeJobAccessTest, OwnTeamOrAdmin) {
  EXPECT_TRUE(AuthorizeJobAccess(kAlice, 7, "nlp").ok());
  absl::Status denied = AuthorizeJobAccess(kAlice, 7, "vision");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("job 7 belongs to team \"vision\""), std::string::npos) << denied;
  EXPECT_TRUE(AuthorizeJobAccess(kRoot, 7, "vision").ok());
}

TEST(AuthorizeAdminTest, AdminsOnly) {
  EXPECT_EQ(AuthorizeAdmin(kAlice, "drain").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(AuthorizeAdmin(kRoot, "drain").ok());
}

TEST(CheckAgentIdentityTest, CommonNameMustBeTheNode) {
  EXPECT_TRUE(CheckAgentIdentity({"h1"}, "h1").ok());
  EXPECT_EQ(CheckAgentIdentity({}, "h1").code(), absl::StatusCode::kUnauthenticated);
  absl::Status wrong = CheckAgentIdentity({"h2"}, "h1");
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.message().find("\"h1\""), std::string::npos) << wrong;
  EXPECT_NE(wrong.message().find("\"h2\""), std::string::npos) << wrong;
  EXPECT_EQ(CheckAgentIdentity({"h1"}, "h10").code(), absl::StatusCode::kPermissionDenied);
  // A hostile name is escaped and cut short in the message (berthd logs it).
  absl::Status hostile =
      CheckAgentIdentity({"h1"}, "evil\nberthd: fake line" + std::string(5000, 'x'));
  EXPECT_EQ(hostile.message().find('\n'), std::string::npos) << hostile;
  EXPECT_LT(hostile.message().size(), 400u) << hostile;
}

}  // namespace
}  // namespace berth::daemon
