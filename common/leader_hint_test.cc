// The leader hint a standby gives, and how clients pick the next address.
#include "common/leader_hint.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace berth {
namespace {

TEST(LeaderHintTest, ParsesWhatLeaderHintWrites) {
  const std::string message =
      "berthd at 127.0.0.1:7071 is a standby; " + LeaderHint("127.0.0.1:7070");
  EXPECT_EQ(ParseLeaderHint(message), "127.0.0.1:7070");
  // gRPC may append its own text after a blank; the address stops there.
  EXPECT_EQ(ParseLeaderHint(message + " (stream ended)"), "127.0.0.1:7070");
  EXPECT_EQ(ParseLeaderHint("the leader is at [::1]:7070; retry"), "[::1]:7070");
}

TEST(LeaderHintTest, NoHintWithoutALeader) {
  EXPECT_EQ(ParseLeaderHint(""), std::nullopt);
  EXPECT_EQ(ParseLeaderHint("failed to connect to all addresses"), std::nullopt);
  EXPECT_EQ(ParseLeaderHint("berthd at a:1 is a standby; the leader is at "), std::nullopt);
}

TEST(SplitAddressesTest, TrimsDropsEmptyAndRepeats) {
  EXPECT_EQ(SplitAddresses("a:7070"), (std::vector<std::string>{"a:7070"}));
  EXPECT_EQ(SplitAddresses(" a:7070 , b:7070,,a:7070, "),
            (std::vector<std::string>{"a:7070", "b:7070"}));
  EXPECT_TRUE(SplitAddresses(" , ").empty());
}

TEST(NextAddressTest, TheNamedLeaderFirstElseRoundTheList) {
  const std::vector<std::string> addresses = {"a:1", "b:1", "c:1"};
  // A standby at a names c: c next, skipping b.
  EXPECT_EQ(NextAddress(addresses, 0, "standby; " + LeaderHint("c:1")), 2u);
  // No hint (a connection failure): the next one, wrapping round.
  EXPECT_EQ(NextAddress(addresses, 0, "connection refused"), 1u);
  EXPECT_EQ(NextAddress(addresses, 2, "connection refused"), 0u);
  // A leader that is not in the list, or the address just tried: the next.
  EXPECT_EQ(NextAddress(addresses, 0, LeaderHint("z:1")), 1u);
  EXPECT_EQ(NextAddress(addresses, 1, LeaderHint("b:1")), 2u);
  // One address: always it.
  EXPECT_EQ(NextAddress({"a:1"}, 0, LeaderHint("b:1")), 0u);
}

}  // namespace
}  // namespace berth
