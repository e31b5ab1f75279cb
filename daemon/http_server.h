// A small HTTP server for berthd's metrics port, on civetweb's C API (the
// server prometheus-cpp itself embeds). Routes are exact paths mapped to
// functions that return a body and its content type; requests are served
// on civetweb's own threads.
//
//   auto server = HttpServer::Start("127.0.0.1:0", {{"/metrics", ...}});
//   int port = (*server)->port();
#ifndef BERTH_DAEMON_HTTP_SERVER_H_
#define BERTH_DAEMON_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct mg_context;
struct mg_connection;

namespace berth::daemon {

struct HttpResponse {
  std::string content_type;
  std::string body;
};

// Workers, and how long a request may take to arrive (docs/SECURITY.md).
inline constexpr int kHttpThreads = 16;
inline constexpr int kRequestTimeoutMs = 5000;

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  // `listen` is host:port (port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           std::map<std::string, Handler> routes);
  ~HttpServer();  // stops serving
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer() = default;
  static int Dispatch(::mg_connection* conn, void* route);
  std::map<std::string, Handler> routes_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_HTTP_SERVER_H_
