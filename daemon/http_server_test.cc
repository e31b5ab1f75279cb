// The metrics port under slow clients (issue 18, finding 5): connections
// that send half a request neither block other requests nor stay open.
#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

// A TCP connection to 127.0.0.1:port with a receive timeout; -1 on failure.
int Connect(int port, absl::Duration timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(timeout)), .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void Send(int fd, const std::string& text) {
  ASSERT_EQ(send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// Everything the server sends until it closes or the timeout passes.
std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  while (true) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

TEST(HttpServerTest, HalfSentRequestsNeitherBlockOthersNorStayOpen) {
  auto server = HttpServer::Start("127.0.0.1:0", {{"/metrics", [] {
                                                     return HttpResponse{"text/plain", "up 1\n"};
                                                   }}});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  // More slow clients than the 2 workers berthd had before.
  std::vector<int> slow;
  for (int i = 0; i < 6; ++i) {
    const int fd = Connect(port, absl::Seconds(20));
    ASSERT_GE(fd, 0);
    Send(fd, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n");  // no blank line: never ends
    slow.push_back(fd);
  }
  absl::SleepFor(absl::Milliseconds(200));         // the workers have taken them
  const int fd = Connect(port, absl::Seconds(4));  // under the request timeout
  ASSERT_GE(fd, 0);
  Send(fd, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const std::string answer = ReadAll(fd);
  close(fd);
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_NE(answer.find("up 1"), std::string::npos) << answer;
  // The half-sent requests are dropped after the request timeout (5 s),
  // well before the clients' own 20 s.
  const absl::Time start = absl::Now();
  for (int s : slow) {
    ReadAll(s);  // returns when the server closes (or answers 4xx and closes)
    close(s);
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

}  // namespace
}  // namespace berth::daemon
