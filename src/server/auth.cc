// DevAuthenticator (auth.h).
#include "server/auth.h"

#include <openssl/crypto.h>

namespace quire::server {

Result<DevAuthenticator> DevAuthenticator::parse(std::string_view spec) {
  DevAuthenticator out;
  int index = 0;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    std::string_view entry = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    ++index;
    const std::size_t eq = entry.rfind('=');
    if (eq == std::string_view::npos) {
      return Error{"config", 1, "--dev-auth entry " + std::to_string(index) + " has no '=rw' or '=ro'"};
    }
    const std::string_view role = entry.substr(eq + 1);
    if (role != "rw" && role != "ro") {
      return Error{"config", 1, "--dev-auth entry " + std::to_string(index) + ": role must be rw or ro"};
    }
    std::string_view token = entry.substr(0, eq);
    std::string name = "dev-" + std::to_string(index);
    if (const std::size_t colon = token.find(':'); colon != std::string_view::npos) {
      name = std::string(token.substr(0, colon));
      token = token.substr(colon + 1);
    }
    if (token.empty() || name.empty()) {
      return Error{"config", 1, "--dev-auth entry " + std::to_string(index) + " has an empty name or token"};
    }
    out.tokens_[std::string(token)] = Principal{name, name, role == "ro", {}, 0, {}};
  }
  if (out.tokens_.empty()) return Error{"config", 1, "--dev-auth needs at least one token"};
  return out;
}

void DevAuthenticator::authenticate(std::string token, std::string, AuthDone done) {
  // Compare against every token in constant time so timing tells nothing.
  std::optional<Principal> found;
  for (const auto& [known, principal] : tokens_) {
    if (known.size() == token.size() && CRYPTO_memcmp(known.data(), token.data(), token.size()) == 0) {
      found = principal;
    }
  }
  done(std::move(found));
}

void DevAuthenticator::recheck(const Principal& principal, std::string, RecheckDone done) {
  done(Recheck{Recheck::Outcome::kValid, principal.read_only, {}});
}

}  // namespace quire::server
