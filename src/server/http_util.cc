// HTTP response helpers (http_util.h).
#include "server/http_util.h"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

namespace quire::server {
namespace {

constexpr std::string_view kCsp =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'";

}  // namespace

void finish_response(Response& res, CachePolicy cache, bool keep_alive, const ServerConfig& config) {
  res.set(http::field::server, "quire");
  res.set("Content-Security-Policy", kCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
  if (config.hsts) res.set(http::field::strict_transport_security, "max-age=63072000; includeSubDomains");
  switch (cache) {
    case CachePolicy::kNoStore:
      res.set(http::field::cache_control, "no-store");
      break;
    case CachePolicy::kNoCache:
      res.set(http::field::cache_control, "no-cache");
      break;
    case CachePolicy::kImmutable:
      res.set(http::field::cache_control, "public, max-age=31536000, immutable");
      break;
  }
  res.keep_alive(keep_alive);
  res.prepare_payload();
}

Response json_response(http::status status, std::string body, const Request& req, const ServerConfig& config) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  finish_response(res, CachePolicy::kNoStore, req.keep_alive(), config);
  return res;
}

Response error_response(http::status status, std::string_view code, std::string_view message, const Request& req,
                        const ServerConfig& config) {
  return json_response(status, boost::json::serialize(boost::json::object{{"error", code}, {"message", message}}), req,
                       config);
}

bool origin_allowed(const Request& req, const ServerConfig& config, bool require) {
  auto it = req.find(http::field::origin);
  if (it == req.end()) return !require;
  const std::string_view origin = it->value();
  if (config.allowed_origins.empty()) {
    const std::string host(req[http::field::host]);
    return !host.empty() && (origin == "http://" + host || origin == "https://" + host);
  }
  for (const std::string& allowed : config.allowed_origins) {
    if (origin == allowed) return true;
  }
  return false;
}

std::optional<std::string> percent_decode(std::string_view segment) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(segment.size());
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    if (i + 2 >= segment.size()) return std::nullopt;  // a truncated escape
    const int hi = hex(segment[i + 1]);
    const int lo = hex(segment[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0' || c == '/') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
}

}  // namespace quire::server
