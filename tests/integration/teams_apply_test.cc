// `berth admin teams apply` and `berth admin teams show` end to end (issue
// 13): the real berth CLI against a real berthd started with --teams and a
// token file, and a real berth-agent (simulated GPUs). A teams file is
// checked and applied without a restart; a bad one names its line and field
// and leaves the old one in force; one that drops a team with live jobs is
// refused; only admins may apply or show; what was applied survives kill -9.
#include <signal.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/process_checks.h"

#ifndef BERTH_CLI_PATH
#error "BERTH_CLI_PATH must name the berth binary"
#endif

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-nlp-5d1e0c9b7a3f4826";  // team nlp
constexpr char kRootToken[] = "root-ops-9a7c3e1f5b2d4068";    // team ops, admin

constexpr char kTeamsV1[] = R"(preemption: {min_runtime: 0s, grace: 5s}
teams:
  - name: nlp
    quota:
      h100-80gb: {nominal: 8}
  - name: ops
    quota:
      h100-80gb: {nominal: 0}
)";
// v1 plus team vision.
constexpr char kTeamsV2[] = R"(preemption: {min_runtime: 0s, grace: 5s}
teams:
  - name: nlp
    quota:
      h100-80gb: {nominal: 8}
  - name: ops
    quota:
      h100-80gb: {nominal: 0}
  - name: vision
    quota:
      h100-80gb: {nominal: 4, borrowing_limit: 4}
)";
// Line 5: a negative quota.
constexpr char kTeamsBad[] = R"(teams:
  - name: nlp
    quota:
      h100-80gb:
        nominal: -4
)";
// v2 without nlp.
constexpr char kTeamsDropsNlp[] = R"(teams:
  - name: ops
    quota:
      h100-80gb: {nominal: 0}
  - name: vision
    quota:
      h100-80gb: {nominal: 4}
)";

class TeamsApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    teams_ = cluster_.dir() + "/teams.yaml";
    std::ofstream(teams_) << kTeamsV1;
    std::ofstream(cluster_.dir() + "/tokens.json") << absl::StrCat(
        R"({"tokens": [{"token": ")", kAliceToken, R"(", "team": "nlp", "name": "alice"},)",
        R"({"token": ")", kRootToken, R"(", "team": "ops", "admin": true, "name": "root"}]})");
    cluster_.SetDaemonFlags({"--teams=" + teams_,
                             "--tokens_file=" + cluster_.dir() + "/tokens.json",
                             "--insecure_agents"});
    ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
    ASSERT_TRUE(cluster_.StartAgent("h0", Inventory("h100-80gb", 8)).ok());
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    int code = 0;
    while (!absl::StrContains(Berth(kRootToken, "nodes", &code), "h0") && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_THAT(Berth(kRootToken, "nodes", &code), HasSubstr("h0")) << cluster_.Log("berthd");
  }

  void TearDown() override {
    absl::Status db = CheckDatabase(cluster_.db_path());
    EXPECT_TRUE(db.ok()) << db;
    if (HasFailure()) std::cout << "--- berthd log\n" << cluster_.Log("berthd");
  }

  // `berth ARGS` with `token`; its output, and its exit code in `*code`.
  std::string Berth(const std::string& token, const std::string& args, int* code) {
    return Shell(absl::StrCat("BERTH_TOKEN=", token, " ", BERTH_CLI_PATH, " --daemon ",
                              cluster_.address(), " ", args),
                 code);
  }

  // Writes `text` to a file of the test's folder; returns its path.
  std::string File(const std::string& name, const std::string& text) {
    const std::string path = cluster_.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // Submits a one-GPU job of `team` as `token`; the exit code.
  int SubmitFor(const std::string& token, const std::string& team, std::string* out) {
    const std::string spec = File("job-" + team + ".yaml",
                                  absl::StrCat("name: probe\nteam: ", team,
                                               "\ntask: infer\nmodel: {catalog_name: llama-2-7b}\n"
                                               "gpu_type: h100-80gb\ncommand: [sleep, '1000']\n"));
    int code = 0;
    *out = Berth(token, "submit " + spec, &code);
    return code;
  }

  Cluster cluster_;
  std::string teams_;
};

TEST_F(TeamsApplyTest, AppliedWithoutARestartCheckedFirstAndKeptAcrossOne) {
  int code = 0;
  // The file in force, for admins only.
  std::string out = Berth(kRootToken, "admin teams show", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("- name: nlp"));
  EXPECT_THAT(out, HasSubstr(teams_));
  out = Berth(kAliceToken, "admin teams show", &code);
  EXPECT_EQ(code, 7) << out;
  const std::string v2 = File("v2.yaml", kTeamsV2);
  out = Berth(kAliceToken, "admin teams apply " + v2, &code);
  EXPECT_EQ(code, 7) << out;

  // Team vision is not in force yet.
  EXPECT_EQ(SubmitFor(kRootToken, "vision", &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("not in the teams file"));

  // A bad file names its line and field; nothing changes.
  out = Berth(kRootToken, "admin teams apply " + File("bad.yaml", kTeamsBad), &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("bad.yaml:5: teams[0].quota.h100-80gb.nominal")) << out;
  out = Berth(kRootToken, "admin teams show", &code);
  EXPECT_THAT(out, Not(HasSubstr("-4"))) << "a refused file is in force";
  EXPECT_EQ(ReadFile(teams_), kTeamsV1) << "a refused file was written";

  // --check applies nothing.
  out = Berth(kRootToken, "admin teams apply --check " + v2, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("is valid: 3 teams (not applied)"));
  EXPECT_EQ(ReadFile(teams_), kTeamsV1);

  // Applied: in force at once, and in berthd's --teams file.
  out = Berth(kRootToken, "admin teams apply " + v2, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("applied: 3 teams"));
  EXPECT_EQ(ReadFile(teams_), kTeamsV2);
  out = Berth(kAliceToken, "teams", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("vision"));
  EXPECT_EQ(SubmitFor(kRootToken, "vision", &out), 0) << out;

  // Dropping a team whose job is live is refused; v2 stays.
  EXPECT_EQ(SubmitFor(kAliceToken, "nlp", &out), 0) << out;
  out = Berth(kRootToken, "admin teams apply " + File("drops.yaml", kTeamsDropsNlp), &code);
  EXPECT_EQ(code, 3) << out;
  EXPECT_THAT(out, HasSubstr("drops team nlp")) << out;
  EXPECT_EQ(ReadFile(teams_), kTeamsV2);
  EXPECT_EQ(SubmitFor(kAliceToken, "nlp", &out), 0) << out;

  // kill -9: the restarted berthd reads what was applied.
  ASSERT_TRUE(cluster_.StopDaemon(SIGKILL).ok());
  ASSERT_TRUE(cluster_.StartDaemon(cluster_.port()).ok()) << cluster_.Log("berthd");
  out = Berth(kRootToken, "admin teams show", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("- name: vision"));
  EXPECT_EQ(SubmitFor(kRootToken, "vision", &out), 0) << out;
  EXPECT_TRUE(cluster_.StopAgent("h0", SIGTERM).ok());
}

// Without --teams there is no file to apply: refused (exit 3), as is show.
TEST(TeamsApplyWithoutTeamsTest, IsRefusedWithoutATeamsFile) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartDaemon().ok()) << cluster.Log("berthd");
  const std::string path = cluster.dir() + "/v2.yaml";
  std::ofstream(path) << kTeamsV2;
  int code = 0;
  const std::string berth = absl::StrCat(BERTH_CLI_PATH, " --daemon ", cluster.address(), " ");
  std::string out = Shell(berth + "admin teams apply " + path, &code);
  EXPECT_EQ(code, 3) << out;
  EXPECT_THAT(out, HasSubstr("--teams FILE")) << out;
  out = Shell(berth + "admin teams show", &code);
  EXPECT_EQ(code, 3) << out;
}

}  // namespace
}  // namespace berth::testing
