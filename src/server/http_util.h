// What every HTTP response of the server shares: the security headers, the
// caching policy of ARCHITECTURE §2.5, JSON bodies and errors, and the Origin
// rule. Used by the static/health routes (http.cc) and the API (api.cc).
// Thread-safety: free functions.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "server/config.h"

namespace quire::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

enum class CachePolicy { kNoStore, kNoCache, kImmutable };

// Sets the security headers, Cache-Control, keep-alive and Content-Length.
void finish_response(Response& res, CachePolicy cache, bool keep_alive, const ServerConfig& config);
// A `no-store` JSON response.
Response json_response(http::status status, std::string body, const Request& req, const ServerConfig& config);
// {"error": code, "message": text}, `no-store`.
Response error_response(http::status status, std::string_view code, std::string_view message, const Request& req,
                        const ServerConfig& config);

// The WebSocket and cookie-route `Origin` rule (SECURITY #18, #22): exactly one
// of the allowed origins; without a list, the request's own host. With
// `require` false a request without Origin (not a browser) passes.
bool origin_allowed(const Request& req, const ServerConfig& config, bool require);

// One path segment with its %XX escapes decoded (RFC 3986); nullopt for a
// malformed escape or an escaped NUL or '/', which no name may contain.
std::optional<std::string> percent_decode(std::string_view segment);

}  // namespace quire::server
