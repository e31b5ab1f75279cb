// How a standby berthd names the leader, and how clients read it back.
//
// A standby answers every call with UNAVAILABLE and a message that ends in
// LeaderHint(address) when it knows the leader's advertised address:
//
//   "berthd at 127.0.0.1:7071 is a standby; the leader is at 127.0.0.1:7070"
//
// ParseLeaderHint() finds that address again, so that the CLI and agents
// try the leader next (NextAddress()). SplitAddresses() reads
// `--daemon a:7070,b:7070`.
// Header-only, standard library only.
#ifndef BERTH_COMMON_LEADER_HINT_H_
#define BERTH_COMMON_LEADER_HINT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

inline constexpr char kLeaderHintPrefix[] = "the leader is at ";

inline std::string LeaderHint(std::string_view address) {
  return std::string(kLeaderHintPrefix) + std::string(address);
}

// The address after the last "the leader is at " in `message`, up to a
// blank, ',' or ';'; nullopt when there is none.
inline std::optional<std::string> ParseLeaderHint(std::string_view message) {
  const size_t at = message.rfind(kLeaderHintPrefix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = message.substr(at + std::string_view(kLeaderHintPrefix).size());
  rest = rest.substr(0, rest.find_first_of(" \t\n,;"));
  if (rest.empty()) return std::nullopt;
  return std::string(rest);
}

// "a:7070, b:7070" → {"a:7070", "b:7070"}: split at commas, blanks
// trimmed, empty items dropped, repeats kept once (the first).
inline std::vector<std::string> SplitAddresses(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) continue;
    bool seen = false;
    for (const std::string& existing : out) seen = seen || existing == item;
    if (!seen) out.emplace_back(item);
  }
  return out;
}

// Which of `addresses` to try after `current` answered UNAVAILABLE with
// `message`: the leader the message names when it is listed (and not
// `current`), else the next one round the list.
inline size_t NextAddress(const std::vector<std::string>& addresses, size_t current,
                          std::string_view message) {
  if (addresses.empty()) return 0;
  const std::optional<std::string> leader = ParseLeaderHint(message);
  if (leader.has_value()) {
    for (size_t i = 0; i < addresses.size(); ++i) {
      if (addresses[i] == *leader && i != current) return i;
    }
  }
  return (current + 1) % addresses.size();
}

}  // namespace berth

#endif  // BERTH_COMMON_LEADER_HINT_H_
