// Authenticator: the one place a connection's credentials become an identity
// and a role for a document. Asynchronous, because a real check verifies a
// token and reads roles from storage, which must never block an I/O thread;
// sessions only see this interface.
// Thread-safety: authenticate() is called from any I/O thread concurrently;
// `done` may run on any thread (callers post back to their strand).
#pragma once

#include <functional>
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

// Called exactly once with the identity a token grants, or nothing (denied).
using AuthDone = std::function<void(std::optional<Principal>)>;

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Checks `token` for `document` and calls `done`, possibly before returning.
  virtual void authenticate(std::string token, std::string document, AuthDone done) = 0;
};

// `--dev-auth NAME:TOKEN=rw,TOKEN2=ro`: fixed tokens for development and tests,
// valid on every document. Only allowed on a loopback listener.
class DevAuthenticator final : public Authenticator {
 public:
  // Parses the flag's value: comma-separated `[name:]token=rw|ro` entries.
  static Result<DevAuthenticator> parse(std::string_view spec);
  void authenticate(std::string token, std::string document, AuthDone done) override;

 private:
  std::map<std::string, Principal, std::less<>> tokens_;
};

}  // namespace quire::server
