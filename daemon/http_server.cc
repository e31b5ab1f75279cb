#include "daemon/http_server.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "civetweb.h"

namespace berth::daemon {

int HttpServer::Dispatch(::mg_connection* conn, void* route) {
  const HttpResponse response = (*static_cast<Handler*>(route))();
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            response.content_type.c_str(), response.body.size());
  mg_write(conn, response.body.data(), response.body.size());
  return 200;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, std::map<std::string, Handler> routes) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen: expected host:port, got ", listen));
  }
  // civetweb takes "127.0.0.1:9464"; port 0 asks the kernel for one.
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->routes_ = std::move(routes);
  // Issue 18, finding 5: a few clients that send half a request must not
  // hold every worker. More workers than slow clients are likely, and a
  // request must arrive whole within kRequestTimeoutMs (then the worker is
  // free again); headers are small.
  const std::string threads = std::to_string(kHttpThreads);
  const std::string timeout = std::to_string(kRequestTimeoutMs);
  const char* options[] = {
      "listening_ports", listen.c_str(),     "num_threads", threads.c_str(), "request_timeout_ms",
      timeout.c_str(),   "max_request_size", "16384",       nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  server->context_ = mg_start(&callbacks, nullptr, options);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", listen));
  }
  for (auto& [path, handler] : server->routes_) {
    mg_set_request_handler(server->context_, path.c_str(), &HttpServer::Dispatch, &handler);
  }
  mg_server_port ports[4];
  const int count = mg_get_server_ports(server->context_, 4, ports);
  if (count < 1) return absl::UnavailableError("the HTTP server reports no port");
  server->port_ = ports[0].port;
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

}  // namespace berth::daemon
