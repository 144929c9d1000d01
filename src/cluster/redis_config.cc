// parse_redis_url (redis_config.h).
#include "cluster/redis_config.h"

#include <charconv>

#include "cluster/bus.h"

namespace quire::cluster {
namespace {

Error bad_url(std::string message) {
  return cluster_error(kBadUrl, "redis url: " + std::move(message));
}

bool parse_int(std::string_view text, int min, int max, int& out) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max) return false;
  out = value;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const bool complete = i + 2 < text.size();
    const int hi = complete ? hex_digit(text[i + 1]) : -1;
    const int lo = complete ? hex_digit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return bad_url("bad percent-escape in user info");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

Result<RedisConfig> parse_redis_url(std::string_view url, RedisConfig base) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad_url("must start with redis:// (no TLS, no unix sockets)");
  std::string_view rest = url.substr(kScheme.size());

  std::string_view path;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  base.username.clear();
  base.password.clear();
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return bad_url("user info needs ':password'");
    auto user = percent_decode(userinfo.substr(0, colon));
    if (!user) return user.error();
    auto password = percent_decode(userinfo.substr(colon + 1));
    if (!password) return password.error();
    base.username = std::move(*user);
    base.password = std::move(*password);
  }

  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad_url("unclosed '[' in host");
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad_url("junk after ']'");
      port = after.substr(1);
    }
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return bad_url("no host");
  base.host = std::string(host);
  base.port = 6379;
  if (!port.empty() && !parse_int(port, 1, 65535, base.port)) return bad_url("port must be 1..65535");
  base.db = 0;
  if (!path.empty() && !parse_int(path, 0, 1 << 20, base.db)) return bad_url("database must be a number");
  return base;
}

}  // namespace quire::cluster
