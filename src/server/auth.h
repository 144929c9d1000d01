// Authenticator: the one place a connection's credentials become an identity
// and a role for a document. Asynchronous, because a real check verifies a
// token and reads roles from storage, which must never block an I/O thread;
// sessions only see this interface.
// An open socket keeps what it was granted only while it stays true: sessions
// ask recheck() every few seconds (--recheck-ms) and act on the answer
// (docs/protocol.md, "Live enforcement").
// Thread-safety: authenticate() and recheck() are called from any I/O thread
// concurrently; `done` may run on any thread (callers post back to their strand).
#pragma once

#include <cstdint>
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
  // From an access token: its session (the `sid`, re-checked while the socket
  // is open) and the unix second after which it no longer counts — its `exp`
  // plus the verifier's leeway. Empty and 0 for dev tokens: no re-check, no expiry.
  std::string session;
  std::int64_t valid_until = 0;
  // The workspace of the document this principal was granted (its storage
  // partition); empty outside workspaces and for dev tokens.
  std::string workspace;
};

// What a re-check found out about an open socket's principal on one document.
struct Recheck {
  enum class Outcome {
    kValid,    // the session is good; `read_only` is the role now
    kRemoved,  // the session is good but the user has no role on the document any more
    kRevoked,  // the session is revoked or expired, or the user disabled: `reason` says which
    kUnknown,  // the check could not be made (storage unavailable): nothing changes this round
  };
  Outcome outcome = Outcome::kUnknown;
  bool read_only = true;
  std::string reason;
};
using RecheckDone = std::function<void(Recheck)>;

// Called exactly once with the identity a token grants, or nothing (denied).
using AuthDone = std::function<void(std::optional<Principal>)>;

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Checks `token` for `document` and calls `done`, possibly before returning.
  virtual void authenticate(std::string token, std::string document, AuthDone done) = 0;
  // Is `principal` still allowed on `document`, and with which role? Calls
  // `done` exactly once, possibly before returning.
  virtual void recheck(const Principal& principal, std::string document, RecheckDone done) = 0;
};

// `--dev-auth NAME:TOKEN=rw,TOKEN2=ro`: fixed tokens for development and tests,
// valid on every document. Only allowed on a loopback listener.
class DevAuthenticator final : public Authenticator {
 public:
  // Parses the flag's value: comma-separated `[name:]token=rw|ro` entries.
  static Result<DevAuthenticator> parse(std::string_view spec);
  void authenticate(std::string token, std::string document, AuthDone done) override;
  // Dev tokens never change: always valid with the role they were given.
  void recheck(const Principal& principal, std::string document, RecheckDone done) override;

 private:
  std::map<std::string, Principal, std::less<>> tokens_;
};

}  // namespace quire::server
