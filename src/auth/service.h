// AuthService: the account logic the HTTP API and the WebSocket call —
// registration, login, refresh-token rotation, logout, password change,
// access-token verification with live revocation, document roles, rate limits
// and audit events. It holds no HTTP: callers map the auth error codes
// (error.h) to responses and put Session::refresh_token in the cookie only.
//
// Sessions are refresh-token families in the AccountStore (ARCHITECTURE §2.4):
// every login, registration and password change starts a new family; every
// refresh rotates the token (the store decides races, reuse and lifetimes);
// access tokens carry the family id as `sid`, and verify_access() checks the
// family and the user on every call, so a logout, password change, reuse or
// disable takes effect on this node at once and on other nodes sharing the
// database at once as well (no cache: the check is two primary-key reads).
//
// Thread-safety: every method may be called from several worker threads at
// once. Methods block (argon2id takes tens of milliseconds and 64 MiB; SQLite
// may wait for its write lock): call them from a worker pool, never an I/O
// thread, and size the pool to bound argon2's memory. The AccountStore is used
// by one thread at a time, so every store call holds store_mutex_; password
// hashing runs outside it.
// Limitations: rate limits are per process (see rate_limiter.h). Store calls
// are serialised on one connection. The store offers no compare-and-set on the
// password hash, so the rehash after a login (when PasswordParams are raised)
// re-reads the hash just before writing it and could still, in a window of
// microseconds, overwrite a new password set by another process; and it goes
// through set_password_hash, which revokes the user's other sessions once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "auth/keys.h"
#include "auth/password.h"
#include "auth/rate_limiter.h"
#include "base/result.h"
#include "storage/account_store.h"

namespace quire::auth {

// Username shape: [A-Za-z0-9_.-]{3,32} (ASCII only: the store's case-folding
// is ASCII, and no '@', so a login is never ambiguous).
bool is_valid_username(std::string_view username);
// A sane email: printable ASCII, at most 254 bytes, one '@', a local part of
// 1–64 bytes without quotes, spaces or brackets, and a domain of dot-separated
// [A-Za-z0-9-] labels with at least one dot.
bool is_valid_email(std::string_view email);

struct AuthConfig {
  std::string issuer;                                                  // the access tokens' exact `iss`
  std::string audience;                                                // and `aud`
  std::chrono::seconds access_ttl{10 * 60};                            // <= 15 min (jwt::kMaxAccessLifetime)
  std::chrono::seconds refresh_idle{std::chrono::hours(14 * 24)};      // a family unused this long dies
  std::chrono::seconds refresh_absolute{std::chrono::hours(30 * 24)};  // a family dies this long after login
  // Clock skew allowed on an access token's exp, nbf and iat; <= 60 s (jwt::kMaxLeeway).
  std::chrono::seconds leeway{60};
  // How long the token just rotated away still works while its successor is
  // unused (two tabs refreshing at once); <= 60 s.
  std::chrono::seconds refresh_grace{10};
  PasswordParams password;
  // Every login, registration and password change, per client address.
  RateLimit per_address{10, std::chrono::seconds(60)};
  // Failed logins and password changes per account (an unknown login counts
  // under its lower-cased text, so unknown and known accounts behave alike).
  RateLimit per_account{5, std::chrono::seconds(60)};
};

// kBadOptions naming the first field out of range.
Status check_config(const AuthConfig& config);

// What the API may show about a user: never the password hash.
struct UserInfo {
  std::string id;
  std::string username;
  std::string email;
  std::string display_name;
};

struct Session {
  std::string access_token;                    // for the response body
  std::chrono::seconds expires_in{0};          // the access token's lifetime
  std::string refresh_token;                   // raw: for the __Host- cookie only, never a body or a log
  std::chrono::seconds refresh_expires_in{0};  // the cookie's Max-Age: the earlier of idle and absolute
  std::string session_id;                      // the family id (the access token's sid)
  UserInfo user;
};

struct Identity {
  std::string user_id;
  std::string session_id;
  std::string display_name;
  UnixSeconds expires_at{};  // the access token's exp (verify_access only; check_session leaves it 0)
};

class AuthService {
 public:
  // Throws std::invalid_argument if check_config() fails (start-up only), and
  // std::runtime_error if the dummy password hash cannot be made.
  AuthService(storage::AccountStore& store, KeyStore& keys, AuthConfig config);
  AuthService(const AuthService&) = delete;
  AuthService& operator=(const AuthService&) = delete;

  // A new account and its first session. kInvalidInput (username, email or
  // password shape), kUsernameTaken, kEmailTaken, kRateLimited, kUnavailable.
  // The display name starts as the username.
  Result<Session> register_user(std::string_view username, std::string_view email, std::string_view password,
                                UnixSeconds now, std::string_view remote);

  // `login` is a username or an email. Always runs exactly one argon2id
  // verification once past the rate limits and the shape check — against a
  // fixed dummy hash when the account is unknown — so the time taken does
  // not tell whether an account exists. Always starts a new family; a refresh
  // token the client still presented (`replaced_refresh_token`, e.g. a
  // planted cookie) is never reused: after a successful login its family is
  // revoked, since the cookie is about to be overwritten (SECURITY row 16).
  // kInvalidInput (login shape), kInvalidCredentials, kDisabled (only after
  // a correct password), kRateLimited, kUnavailable.
  Result<Session> login(std::string_view login, std::string_view password, UnixSeconds now, std::string_view remote,
                        std::string_view replaced_refresh_token = {});

  // Rotates the refresh token. Anything not shaped like a token is refused
  // without touching the store. kSessionRevoked (malformed, unknown, revoked
  // family, user gone), kSessionExpired, kReuseDetected (the family is now
  // revoked and an audit event written), kDisabled, kUnavailable.
  Result<Session> refresh(std::string_view raw_refresh_token, UnixSeconds now, std::string_view remote);

  // Revokes the token's family. Idempotent: unknown, malformed and already
  // revoked tokens succeed. kUnavailable only.
  Status logout(std::string_view raw_refresh_token, UnixSeconds now, std::string_view remote);

  // Verifies the access token (signature, claims, exp with leeway) against the
  // current key set, then check_session() on its sub and sid. The token codes
  // of error.h, or check_session()'s.
  Result<Identity> verify_access(std::string_view access_token, UnixSeconds now);

  // Is the session still good? The family exists, belongs to `user_id`, is not
  // revoked, and its absolute lifetime has not passed; the user exists and is
  // not disabled. For verify_access() and for the WebSocket's periodic check
  // of an open socket (SECURITY row 9). kSessionRevoked, kSessionExpired,
  // kDisabled, kUnavailable.
  Result<Identity> check_session(std::string_view user_id, std::string_view session_id, UnixSeconds now);

  // The user's role on the document, from the server's records only
  // (SECURITY row 6); nullopt if none. kInvalidInput (document id shape),
  // kUnavailable.
  Result<std::optional<storage::DocumentRole>> document_role(std::string_view user_id, std::string_view document_id);

  // Verifies the old password, sets the new one — which revokes every family
  // of the user in the same transaction — and starts a new session for the
  // caller. kInvalidInput (new password), kInvalidCredentials (old password,
  // or no such user), kDisabled, kRateLimited, kUnavailable.
  Result<Session> change_password(std::string_view user_id, std::string_view old_password,
                                  std::string_view new_password, UnixSeconds now, std::string_view remote);

  // Told of every session the service revokes — ("family", session id) on
  // logout and refresh-token reuse, ("user", user id) on a password change —
  // so the server can close the sockets on every node at once. Set before use.
  using RevocationListener = std::function<void(std::string_view kind, std::string_view subject)>;
  void set_revocation_listener(RevocationListener listener) { revoked_ = std::move(listener); }

  // argon2id verifications that ran (the login timing rule's test hook, and a metric).
  [[nodiscard]] std::uint64_t password_verifications() const { return password_verifications_.load(); }
  [[nodiscard]] const AuthConfig& config() const { return config_; }

 private:
  struct Rotation;

  Result<bool> verify_counted(std::string_view password, std::string_view hash);
  Status take_address_token(std::string_view action, std::string_view remote, UnixSeconds now);
  Status take_account_token(std::string_view action, std::string_view account_key, std::string_view user_id,
                            std::string_view remote, UnixSeconds now);
  Result<Session> start_session(const storage::User& user, std::string_view expected_hash, UnixSeconds now);
  Result<Session> make_session(const storage::User& user, std::string family_id, std::string refresh_token,
                               storage::Time absolute_expires_at, UnixSeconds now);
  Result<Rotation> rotate(std::string_view raw_refresh_token, UnixSeconds now, std::string_view remote);
  Status revoke_presented(std::string_view raw_refresh_token, std::string_view reason, std::string_view audit_kind,
                          UnixSeconds now, std::string_view remote);
  void revoke_quietly(std::string_view family_id, std::string_view reason, UnixSeconds now);
  void audit(std::string_view kind, std::string_view user_id, std::string_view remote, std::string_view detail,
             UnixSeconds now);

  // Runs `f(store_)` holding store_mutex_: the store is one-thread-at-a-time.
  template <class F>
  auto with_store(F&& f) {
    std::lock_guard lock(store_mutex_);
    return f(store_);
  }

  storage::AccountStore& store_;
  std::mutex store_mutex_;
  KeyStore& keys_;
  const AuthConfig config_;
  const std::string dummy_hash_;  // argon2id of a random password with config_.password
  RateLimiter per_address_;
  RateLimiter per_account_;
  std::atomic<std::uint64_t> password_verifications_{0};
  RevocationListener revoked_;
};

}  // namespace quire::auth
