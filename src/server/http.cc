// HttpSession: reads HTTP/1.1 requests on one connection and answers them —
// health, readiness, metrics, static files — or hands the connection to a
// WebSocket session on an upgrade to /ws or /ws/y/{document}. Every response
// carries the security headers and the caching policy of ARCHITECTURE §2.5.
//
// Thread-safety: one strand per connection. Limitations: no TLS (the proxy
// terminates it), no range requests.
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <filesystem>
#include <fstream>

#include "base/log.h"
#include "server/api.h"
#include "server/http_util.h"
#include "server/server_internal.h"

namespace quire::server {
namespace {

namespace fs = std::filesystem;
using Response = http::response<http::string_body>;

// A relative path made only of plain segments: none empty, `.` or `..`, no
// NUL, backslash or percent sign — checked segment by segment, never resolved.
bool plain_segments(std::string_view rel) {
  for (std::size_t start = 0; start <= rel.size();) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    const std::string_view seg = rel.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == ".." ||
        seg.find_first_of(std::string_view("\0\\%", 3)) != std::string_view::npos) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

std::string_view content_type(const fs::path& path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const std::string ext = path.extension().string();
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(Server::Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset) {
      return close();
    }
    if (ec) {
      // Malformed or oversized request: answer once, then close.
      Request none;
      none.keep_alive(false);
      Response res = error(http::status::bad_request, "malformed request: " + ec.message(), none);
      return write(std::move(res));
    }
    Request req = parser_->release();
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    // SECURITY #21: off loopback, nothing travels in plain text. Probes may
    // reach the health routes directly.
    if (server_.config.behind_tls_proxy && req["X-Forwarded-Proto"] != "https" && path != "/healthz" &&
        path != "/readyz" && path != "/metrics") {
      server_.metrics.reject("tls_required");
      Response res =
          error_response(http::status::forbidden, "tls_required",
                         "this server is reached through its TLS proxy only (https, wss)", req, server_.config);
      res.keep_alive(false);
      return write(std::move(res));
    }
    if (beast::websocket::is_upgrade(req)) return upgrade(std::move(req));
    if (server_.api != nullptr && target.starts_with("/api/")) {
      // Off the I/O thread (argon2id, SQLite); the answer comes back to this strand.
      server_.api->handle(std::move(req), client_address(req), [self = shared_from_this()](Response res) {
        asio::post(self->stream_.get_executor(),
                   [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
      });
      return;
    }
    write(route(req));
  }

  Response json(http::status status, std::string body, const Request& req) {
    return json_response(status, std::move(body), req, server_.config);
  }

  Response error(http::status status, std::string_view message, const Request& req) {
    return error_response(status, error_code(status), message, req, server_.config);
  }

  static std::string_view error_code(http::status status) {
    switch (status) {
      case http::status::bad_request:
        return "bad_request";
      case http::status::unauthorized:
        return "unauthorized";
      case http::status::forbidden:
        return "forbidden";
      case http::status::method_not_allowed:
        return "method_not_allowed";
      case http::status::upgrade_required:
        return "upgrade_required";
      case http::status::service_unavailable:
        return "unavailable";
      default:
        return "not_found";
    }
  }

  Response route(const Request& req) {
    const unsigned v = req.version();
    const bool ka = req.keep_alive();
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    if (path == "/healthz" || path == "/readyz" || path == "/metrics" || path.starts_with("/ws")) {
      if (!get) return with_allow(error(http::status::method_not_allowed, "method not allowed", req));
      if (path == "/healthz") return json(http::status::ok, R"({"status":"ok"})", req);
      if (path == "/readyz") {
        if (server_.stopping) return json(http::status::service_unavailable, R"({"status":"stopping"})", req);
        // The bus is reported, not required: a node keeps serving its own
        // clients while Redis is away (ARCHITECTURE §2.3).
        return json(http::status::ok,
                    "{\"status\":\"ready\",\"rooms\":" + std::to_string(server_.rooms.size()) + ",\"node\":\"" +
                        server_.bus.node_id() + "\",\"bus\":" + (server_.bus.connected() ? "true" : "false") + "}",
                    req);
      }
      if (path == "/metrics") {
        Response res{http::status::ok, v};
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = server_.metrics.render() + render_bus_metrics(server_.bus);
        finish_response(res, CachePolicy::kNoStore, ka, server_.config);
        return res;
      }
      return error(http::status::upgrade_required, "this endpoint speaks WebSocket", req);
    }
    if (path.starts_with("/api/")) return error(http::status::not_found, "no such API route", req);
    if (!server_.config.static_dir.empty()) {
      if (!get) return with_allow(error(http::status::method_not_allowed, "method not allowed", req));
      if (auto res = static_file(path, req)) return std::move(*res);
      // Open by URL (/d/{id}, /login…): a browser navigation to a path without a
      // file gets the entry page, and the app routes it. Only for navigations
      // (Accept: text/html) outside /assets, so missing assets and non-browser
      // clients still get the JSON 404.
      if (spa_route(path, req)) {
        if (auto res = static_file("/", req)) return std::move(*res);
      }
    }
    return error(http::status::not_found, "not found", req);
  }

  static Response with_allow(Response res) {
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }

  // A path the web app routes itself: a navigation (Accept: text/html) to a
  // path made of plain segments (the same checks as static_file), not under
  // /assets and without a file extension in its last segment.
  static bool spa_route(std::string_view path, const Request& req) {
    if (req[http::field::accept].find("text/html") == std::string_view::npos) return false;
    if (path.size() < 2 || path[0] != '/' || path == "/api" || path.starts_with("/assets/")) return false;
    const std::string_view rel = path.substr(1);
    return plain_segments(rel) && rel.substr(rel.rfind('/') + 1).find('.') == std::string_view::npos;
  }

  // Files under --static-dir; `/` is index.html. The path is checked segment by
  // segment (no dot segments, no NUL or backslash), never resolved blindly.
  std::optional<Response> static_file(std::string_view path, const Request& req) {
    if (path.empty() || path[0] != '/') return std::nullopt;
    std::string_view rel = path.substr(1);
    if (rel.empty()) rel = "index.html";
    if (!plain_segments(rel)) return std::nullopt;
    const fs::path file = fs::path(server_.config.static_dir) / std::string(rel);
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return std::nullopt;
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    Response res{http::status::ok, req.version()};
    res.body().assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    res.set(http::field::content_type, content_type(file));
    // Content-hashed assets never change; entry pages are revalidated every time.
    finish_response(res, rel.starts_with("assets/") ? CachePolicy::kImmutable : CachePolicy::kNoCache, req.keep_alive(),
                    server_.config);
    if (req.method() == http::verb::head) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    return res;
  }

  void upgrade(Request req) {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (server_.stopping) return refuse(error(http::status::service_unavailable, "server shutting down", req));
    if (!origin_allowed(req, server_.config, false)) {
      server_.metrics.reject("origin");
      log::warn("origin_refused", {{"origin", std::string(req[http::field::origin]).substr(0, 200)}});
      return refuse(error(http::status::forbidden, "origin not allowed", req));
    }
    // Offered subprotocols: `quire` and `quire.auth.TOKEN` (the token never in a URL).
    bool offered_quire = false;
    std::optional<std::string> token;
    std::string_view offered = req[http::field::sec_websocket_protocol];
    while (!offered.empty()) {
      const std::size_t comma = offered.find(',');
      std::string_view p = offered.substr(0, comma);
      offered = comma == std::string_view::npos ? std::string_view{} : offered.substr(comma + 1);
      while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
      while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
      if (p == "quire") offered_quire = true;
      if (p.starts_with("quire.auth.")) token = std::string(p.substr(11));
    }
    if (path == "/ws") {
      return start_websocket(server_, std::move(stream_), std::move(req), protocol::Protocol::kHocuspocus, {},
                             std::nullopt, offered_quire);
    }
    if (path.starts_with("/ws/y/")) {
      const std::string doc(path.substr(6));
      if (!valid_document_id(doc)) {
        server_.metrics.reject("invalid_document");
        return refuse(error(http::status::bad_request, "invalid document name", req));
      }
      // Both subprotocols or nothing: answering `quire` is how the client knows
      // it reached a server that read its token.
      if (!token || !offered_quire) return refuse_unauthorized(doc, "no token", req);
      auto request = std::make_shared<Request>(std::move(req));
      server_.auth->authenticate(
          std::move(*token), doc, [self = shared_from_this(), request, doc](std::optional<Principal> principal) {
            asio::post(self->stream_.get_executor(), [self, request, doc, principal = std::move(principal)]() mutable {
              if (!principal) return self->refuse_unauthorized(doc, "bad token", *request);
              start_websocket(self->server_, std::move(self->stream_), std::move(*request),
                              protocol::Protocol::kYWebsocket, doc, std::move(principal), true);
            });
          });
      return;
    }
    refuse(error(http::status::not_found, "no WebSocket endpoint here", req));
  }

  // The client's address for rate limits and audit: the peer, or behind the
  // proxy the last X-Forwarded-For entry (the one our proxy appended).
  std::string client_address(const Request& req) {
    if (server_.config.behind_tls_proxy) {
      std::string_view forwarded = req["X-Forwarded-For"];
      if (const std::size_t comma = forwarded.rfind(','); comma != std::string_view::npos) {
        forwarded.remove_prefix(comma + 1);
      }
      while (!forwarded.empty() && forwarded.front() == ' ') forwarded.remove_prefix(1);
      if (!forwarded.empty() && forwarded.size() <= 64) return std::string(forwarded);
    }
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    return ec ? std::string() : peer.address().to_string();
  }

  void refuse_unauthorized(const std::string& doc, const char* reason, const Request& req) {
    server_.metrics.reject("auth_failed");
    log::warn("auth_failed", {{"doc", doc}, {"reason", reason}});
    refuse(
        error(http::status::unauthorized, "offer the subprotocols quire and quire.auth.TOKEN with a valid token", req));
  }

  void refuse(Response res) {
    res.keep_alive(false);
    write(std::move(res));
  }

  void write(Response res) {
    auto shared = std::make_shared<Response>(std::move(res));
    const bool keep = shared->keep_alive();
    http::async_write(stream_, *shared, [self = shared_from_this(), shared, keep](beast::error_code ec, std::size_t) {
      if (ec || !keep) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Server::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

void serve_http(Server::Impl& server, tcp::socket socket) {
  std::make_shared<HttpSession>(server, std::move(socket))->start();
}

bool valid_document_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (const char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace quire::server
