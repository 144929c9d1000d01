// Authenticator: the one place a connection's credentials become an identity
// and a role for a document. The accounts issue replaces the development
// implementation here; sessions only see this interface.
// Thread-safety: authenticate() is called from any I/O thread concurrently.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace quire::server {

struct Principal {
  std::string user;          // stable identity, stored with every update
  std::string display_name;  // stamped into awareness
  bool read_only = true;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The identity `token` grants on `document`, or nothing (permission denied).
  [[nodiscard]] virtual std::optional<Principal> authenticate(std::string_view token,
                                                              std::string_view document) const = 0;
};

// `--dev-auth NAME:TOKEN=rw,TOKEN2=ro`: fixed tokens for development and tests,
// valid on every document. Only allowed on a loopback listener.
class DevAuthenticator final : public Authenticator {
 public:
  // Parses the flag's value: comma-separated `[name:]token=rw|ro` entries.
  static Result<DevAuthenticator> parse(std::string_view spec);
  [[nodiscard]] std::optional<Principal> authenticate(std::string_view token, std::string_view document) const override;

 private:
  std::map<std::string, Principal, std::less<>> tokens_;
};

}  // namespace quire::server
