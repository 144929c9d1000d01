// The account service: sessions as refresh-token families over the
// AccountStore, access tokens from the KeyStore, rate limits and audit events.
#include "auth/service.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "auth/error.h"
#include "auth/jwt.h"
#include "auth/tokens.h"
#include "base/log.h"

namespace quire::auth {

namespace {

using std::chrono::seconds;

// 128-bit random ids for users and families.
constexpr std::size_t kIdBytes = 16;
constexpr std::size_t kMaxLocalPartBytes = 64;
constexpr std::size_t kMaxRemoteBytes = 256;

storage::Time to_store(UnixSeconds t) {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(t);
}

Error unavailable(const Error& error) {
  return auth_error(kUnavailable, "account store: " + error.to_string());
}

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool is_valid_domain(std::string_view domain) {
  if (domain.empty() || domain.find('.') == std::string_view::npos) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= domain.size(); ++i) {
    if (i == domain.size() || domain[i] == '.') {
      // Labels of 1..63 bytes that neither start nor end with '-'.
      if (label == 0 || label > 63 || domain[i - label] == '-' || domain[i - 1] == '-') return false;
      label = 0;
    } else if (is_alnum(domain[i]) || domain[i] == '-') {
      ++label;
    } else {
      return false;
    }
  }
  return true;
}

UserInfo user_info(const storage::User& user) {
  return UserInfo{user.id, user.username, user.email, user.display_name};
}

// A short, secret-free description of a refresh-family id for logs and audit
// details: the id itself is the access tokens' sid, an identifier, not a credential.
std::string family_detail(std::string_view prefix, std::string_view family_id) {
  std::string detail(prefix);
  return detail.append(" (session ").append(family_id).append(")");
}

}  // namespace

bool is_valid_username(std::string_view username) {
  if (username.size() < 3 || username.size() > 32) return false;
  return std::all_of(username.begin(), username.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_valid_email(std::string_view email) {
  if (email.size() > storage::kMaxEmailBytes || !is_printable_ascii(email)) return false;
  const auto at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos) return false;
  const std::string_view local = email.substr(0, at);
  if (local.empty() || local.size() > kMaxLocalPartBytes) return false;
  if (local.find_first_of("\"(),:;<>[\\]") != std::string_view::npos) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  return is_valid_domain(email.substr(at + 1));
}

Status check_config(const AuthConfig& config) {
  auto bad = [](std::string what) { return auth_error(kBadOptions, "auth configuration: " + std::move(what)); };
  if (config.issuer.empty() || config.issuer.size() > kMaxClaimBytes) return bad("issuer must have 1-256 bytes");
  if (config.audience.empty() || config.audience.size() > kMaxClaimBytes) {
    return bad("audience must have 1-256 bytes");
  }
  if (config.access_ttl < seconds(1) || config.access_ttl > kMaxAccessLifetime) {
    return bad("access_ttl must be 1 s to 15 min");
  }
  if (config.leeway < seconds(0) || config.leeway > kMaxLeeway) return bad("leeway must be 0 to 60 s");
  if (config.refresh_idle < seconds(1)) return bad("refresh_idle must be at least 1 s");
  if (config.refresh_absolute < seconds(1)) return bad("refresh_absolute must be at least 1 s");
  if (config.refresh_grace < seconds(0) || config.refresh_grace > seconds(60)) {
    return bad("refresh_grace must be 0 to 60 s");
  }
  for (const RateLimit* limit : {&config.per_address, &config.per_account}) {
    if (limit->burst < 1 || limit->period < seconds(1) || limit->max_keys < 1) {
      return bad("rate limits need burst >= 1, period >= 1 s and max_keys >= 1");
    }
  }
  return {};
}

namespace {

AuthConfig checked(AuthConfig config) {
  if (Status s = check_config(config); !s) throw std::invalid_argument(s.error().message);
  return config;
}

// The hash an unknown login is verified against: a real argon2id hash of a
// random password with the configured parameters, so it costs what a real one does.
std::string make_dummy_hash(const PasswordParams& params) {
  auto hash = hash_password(random_token(), params);
  if (!hash) throw std::runtime_error("auth: cannot make the dummy password hash: " + hash.error().message);
  return std::move(hash).value();
}

}  // namespace

struct AuthService::Rotation {
  storage::RotateOutcome outcome = storage::RotateOutcome::kUnknown;
  std::string family_id;
  std::string user_id;
  std::string token;  // the new raw refresh token when kRotated
};

AuthService::AuthService(storage::AccountStore& store, KeyStore& keys, AuthConfig config)
    : store_(store),
      keys_(keys),
      config_(checked(std::move(config))),
      dummy_hash_(make_dummy_hash(config_.password)),
      per_address_(config_.per_address),
      per_account_(config_.per_account) {}

// ---------------------------------------------------------------- helpers

Result<bool> AuthService::verify_counted(std::string_view password, std::string_view hash) {
  auto result = verify_password(password, hash);
  // verify_password hashes only for a parseable hash and an in-bounds password.
  if (result.ok() && check_password(password).ok()) ++password_verifications_;
  return result;
}

void AuthService::audit(std::string_view kind, std::string_view user_id, std::string_view remote,
                        std::string_view detail, UnixSeconds now) {
  remote = remote.substr(0, kMaxRemoteBytes);
  const bool alarming =
      kind == "login_failed" || kind == "refresh_reuse" || kind == "rate_limited" || kind == "password_change_failed";
  log::write(alarming ? log::Level::kWarn : log::Level::kInfo, "auth_event",
             {{"kind", kind}, {"user", user_id}, {"remote", remote}, {"detail", detail}});
  const storage::AuditEvent event{to_store(now), std::string(kind), std::string(user_id), std::string(remote),
                                  std::string(detail)};
  Status s = with_store([&](storage::AccountStore& store) { return store.append_audit(event); });
  if (!s) log::error("audit_failed", {{"kind", kind}, {"error", s.error().to_string()}});
}

Status AuthService::take_address_token(std::string_view action, std::string_view remote, UnixSeconds now) {
  const RateLimiter::Decision d = per_address_.acquire(remote, now);
  if (d.allowed) return {};
  if (d.tripped) audit("rate_limited", "", remote, action, now);  // once per trip, not per refused attempt
  return rate_limited_error(action, d.retry_after);
}

Status AuthService::take_account_token(std::string_view action, std::string_view account_key, std::string_view user_id,
                                       std::string_view remote, UnixSeconds now) {
  const RateLimiter::Decision d = per_account_.acquire(account_key, now);
  if (d.allowed) return {};
  if (d.tripped) audit("rate_limited", user_id, remote, action, now);
  return rate_limited_error(action, d.retry_after);
}

void AuthService::revoke_quietly(std::string_view family_id, std::string_view reason, UnixSeconds now) {
  Status s =
      with_store([&](storage::AccountStore& store) { return store.revoke_family(family_id, reason, to_store(now)); });
  if (!s) log::error("auth_revoke_failed", {{"session", family_id}, {"error", s.error().to_string()}});
}

Result<Session> AuthService::make_session(const storage::User& user, std::string family_id, std::string refresh_token,
                                          storage::Time absolute_expires_at, UnixSeconds now) {
  const auto snapshot = keys_.snapshot();
  auto token = sign(new_access_claims(config_.issuer, config_.audience, user.id, family_id, now, config_.access_ttl),
                    *snapshot->signing);
  if (!token) return token.error();
  Session session;
  session.access_token = std::move(token).value();
  session.expires_in = config_.access_ttl;
  session.refresh_token = std::move(refresh_token);
  const auto absolute_left = std::chrono::duration_cast<seconds>(absolute_expires_at - to_store(now));
  session.refresh_expires_in = std::max(seconds(0), std::min<seconds>(config_.refresh_idle, absolute_left));
  session.session_id = std::move(family_id);
  session.user = user_info(user);
  return session;
}

Result<Session> AuthService::start_session(const storage::User& user, std::string_view expected_hash, UnixSeconds now) {
  std::string family_id = random_id(kIdBytes);
  std::string refresh_token = random_token();
  const storage::Time absolute = to_store(now) + config_.refresh_absolute;
  auto fresh = with_store([&](storage::AccountStore& store) -> Result<std::optional<storage::User>> {
    if (Status s = store.create_family(family_id, user.id, hash_token(refresh_token), to_store(now), absolute); !s) {
      return s.error();
    }
    // Re-read after the family exists: a password change or disable that
    // committed before create_family is seen here; one after it revokes the
    // new family itself. Either way no session outlives them.
    return store.find_user_by_id(user.id);
  });
  if (!fresh) return unavailable(fresh.error());
  const std::optional<storage::User>& now_user = *fresh;
  if (!now_user || now_user->disabled || now_user->password_hash != expected_hash) {
    const bool disabled = now_user && now_user->disabled;
    revoke_quietly(family_id, disabled ? "disabled" : "password", now);
    if (disabled) return auth_error(kDisabled, "the account is disabled");
    return auth_error(kInvalidCredentials, "the password changed meanwhile");
  }
  return make_session(*now_user, std::move(family_id), std::move(refresh_token), absolute, now);
}

Result<AuthService::Rotation> AuthService::rotate(std::string_view raw_refresh_token, UnixSeconds now,
                                                  std::string_view remote) {
  Rotation rotation;
  if (!is_token(raw_refresh_token)) return rotation;  // kUnknown, store untouched
  rotation.token = random_token();
  auto result = with_store([&](storage::AccountStore& store) {
    return store.rotate(hash_token(raw_refresh_token), hash_token(rotation.token), to_store(now), config_.refresh_idle,
                        config_.refresh_grace);
  });
  if (!result) return unavailable(result.error());
  rotation.outcome = result->outcome;
  rotation.family_id = std::move(result->family_id);
  rotation.user_id = std::move(result->user_id);
  if (rotation.outcome != storage::RotateOutcome::kRotated) rotation.token.clear();
  if (rotation.outcome == storage::RotateOutcome::kReuse) {
    // The store revoked the family in the same transaction; the WebSocket
    // layer closes its sockets when it sees the revocation.
    audit("refresh_reuse", rotation.user_id, remote,
          family_detail("a rotated-away refresh token was presented; family revoked", rotation.family_id), now);
    if (revoked_) revoked_("family", rotation.family_id);
  }
  return rotation;
}

Status AuthService::revoke_presented(std::string_view raw_refresh_token, std::string_view reason,
                                     std::string_view audit_kind, UnixSeconds now, std::string_view remote) {
  // The store finds a family only through rotate(), so the token is rotated
  // into one nobody receives and the family then revoked. A stale token
  // counts as reuse on the way, which is what it is.
  auto rotation = rotate(raw_refresh_token, now, remote);
  if (!rotation) return rotation.error();
  if (rotation->outcome == storage::RotateOutcome::kUnknown) return {};
  Status s = with_store(
      [&](storage::AccountStore& store) { return store.revoke_family(rotation->family_id, reason, to_store(now)); });
  if (!s) return unavailable(s.error());
  audit(audit_kind, rotation->user_id, remote, family_detail(reason, rotation->family_id), now);
  if (revoked_) revoked_("family", rotation->family_id);
  return {};
}

// ---------------------------------------------------------------- accounts

Result<Session> AuthService::register_user(std::string_view username, std::string_view email, std::string_view password,
                                           UnixSeconds now, std::string_view remote) {
  if (!is_valid_username(username)) {
    return auth_error(kInvalidInput, "a username has 3-32 characters from A-Z a-z 0-9 _ . -");
  }
  if (!is_valid_email(email)) return auth_error(kInvalidInput, "not a valid email address");
  if (Status s = check_password(password); !s) return auth_error(kInvalidInput, s.error().message);
  if (Status s = take_address_token("registration per address", remote, now); !s) return s.error();

  auto hash = hash_password(password, config_.password);
  if (!hash) return hash.error();
  const storage::NewUser new_user{random_id(kIdBytes), std::string(username), storage::lower_ascii(email), *hash,
                                  std::string(username)};
  auto user = with_store([&](storage::AccountStore& store) -> Result<std::optional<storage::User>> {
    if (Status s = store.create_user(new_user, to_store(now)); !s) return s.error();
    return store.find_user_by_id(new_user.id);
  });
  if (!user) {
    if (user.error().domain == storage::kDomain && user.error().code == storage::kUsernameTaken) {
      return auth_error(kUsernameTaken, "this username is taken");
    }
    if (user.error().domain == storage::kDomain && user.error().code == storage::kEmailTaken) {
      return auth_error(kEmailTaken, "an account with this email exists");
    }
    return unavailable(user.error());
  }
  if (!*user) return auth_error(kUnavailable, "account store: the new user is missing");
  audit("register", new_user.id, remote, "", now);
  return start_session(**user, *hash, now);
}

Result<Session> AuthService::login(std::string_view login, std::string_view password, UnixSeconds now,
                                   std::string_view remote, std::string_view replaced_refresh_token) {
  if (login.empty() || login.size() > storage::kMaxEmailBytes || !is_printable_ascii(login)) {
    return auth_error(kInvalidInput, "a login is a username or an email address");
  }
  if (Status s = take_address_token("login per address", remote, now); !s) return s.error();

  auto found = with_store([&](storage::AccountStore& store) { return store.find_user_by_login(login); });
  std::optional<storage::User> user;
  if (found.ok()) {
    user = std::move(*found);
  } else if (found.error().domain != storage::kDomain || found.error().code != storage::kInvalid) {
    return unavailable(found.error());
  }  // a login the store refuses to look up is an unknown account

  // Username and email of one account share a bucket; an unknown login has
  // its own, so unknown and known accounts are limited alike.
  const std::string account_key = user ? "user:" + user->id : "login:" + storage::lower_ascii(login);
  const std::string user_id = user ? user->id : std::string();
  if (Status s = take_account_token("login per account", account_key, user_id, remote, now); !s) return s.error();

  // Exactly one argon2id verification whether or not the account exists.
  auto verified = verify_counted(password, user ? user->password_hash : dummy_hash_);
  if (!verified) log::error("auth_bad_stored_hash", {{"user", user_id}, {"error", verified.error().message}});
  if (!user || !verified.ok() || !*verified) {
    audit("login_failed", user_id, remote, user ? "wrong password" : "unknown account", now);
    return auth_error(kInvalidCredentials, "wrong login or password");
  }
  per_account_.refund(account_key, now);  // only failures count against the account
  if (user->disabled) {
    audit("login_failed", user_id, remote, "account disabled", now);
    return auth_error(kDisabled, "the account is disabled");
  }

  std::string expected_hash = user->password_hash;
  if (needs_rehash(expected_hash, config_.password)) {
    if (auto rehashed = hash_password(password, config_.password)) {
      Status s = with_store([&](storage::AccountStore& store) -> Status {
        // Only over the hash just verified, never over a password changed meanwhile.
        auto current = store.find_user_by_id(user->id);
        if (!current) return current.error();
        if (!*current || (*current)->password_hash != expected_hash) return {};
        if (Status set = store.set_password_hash(user->id, *rehashed, to_store(now)); !set) return set;
        expected_hash = *rehashed;
        return {};
      });
      if (!s) log::error("auth_rehash_failed", {{"user", user_id}, {"error", s.error().to_string()}});
    }
  }

  auto session = start_session(*user, expected_hash, now);
  if (!session) {
    if (session.error().domain == kDomain && session.error().code != kUnavailable) {
      audit("login_failed", user_id, remote, "account changed during login", now);
    }
    return session.error();
  }
  audit("login", user_id, remote, family_detail("new session", session->session_id), now);
  if (!replaced_refresh_token.empty()) {
    // Never reuse a presented token; the cookie is about to be overwritten, so
    // its family would only linger.
    if (Status s = revoke_presented(replaced_refresh_token, "replaced", "session_replaced", now, remote); !s) {
      log::error("auth_revoke_failed", {{"user", user_id}, {"error", s.error().to_string()}});
    }
  }
  return session;
}

Result<Session> AuthService::change_password(std::string_view user_id, std::string_view old_password,
                                             std::string_view new_password, UnixSeconds now, std::string_view remote) {
  if (Status s = check_password(new_password); !s) return auth_error(kInvalidInput, s.error().message);
  if (user_id.empty() || user_id.size() > storage::kMaxIdBytes) {
    return auth_error(kInvalidCredentials, "unknown account");
  }
  if (Status s = take_address_token("password change per address", remote, now); !s) return s.error();
  auto found = with_store([&](storage::AccountStore& store) { return store.find_user_by_id(user_id); });
  if (!found) return unavailable(found.error());
  if (!*found) return auth_error(kInvalidCredentials, "unknown account");
  const storage::User& user = **found;
  if (user.disabled) return auth_error(kDisabled, "the account is disabled");

  const std::string account_key = "user:" + user.id;
  if (Status s = take_account_token("password change per account", account_key, user.id, remote, now); !s) {
    return s.error();
  }
  auto verified = verify_counted(old_password, user.password_hash);
  if (!verified.ok() || !*verified) {
    audit("password_change_failed", user.id, remote, "wrong current password", now);
    return auth_error(kInvalidCredentials, "the current password is wrong");
  }
  per_account_.refund(account_key, now);

  auto hash = hash_password(new_password, config_.password);
  if (!hash) return hash.error();
  Status s =
      with_store([&](storage::AccountStore& store) { return store.set_password_hash(user.id, *hash, to_store(now)); });
  if (!s) {
    if (s.error().domain == storage::kDomain && s.error().code == storage::kNotFound) {
      return auth_error(kInvalidCredentials, "unknown account");
    }
    return unavailable(s.error());
  }
  audit("password_changed", user.id, remote, "every session revoked", now);
  if (revoked_) revoked_("user", user.id);
  return start_session(user, *hash, now);
}

// ---------------------------------------------------------------- sessions

Result<Session> AuthService::refresh(std::string_view raw_refresh_token, UnixSeconds now, std::string_view remote) {
  if (!is_token(raw_refresh_token)) return auth_error(kSessionRevoked, "not a refresh token");
  auto rotation = rotate(raw_refresh_token, now, remote);
  if (!rotation) return rotation.error();
  switch (rotation->outcome) {
    case storage::RotateOutcome::kUnknown:
      return auth_error(kSessionRevoked, "unknown refresh token");
    case storage::RotateOutcome::kRevokedFamily:
      return auth_error(kSessionRevoked, "the session was revoked");
    case storage::RotateOutcome::kExpired:
      return auth_error(kSessionExpired, "the session expired");
    case storage::RotateOutcome::kReuse:
      return auth_error(kReuseDetected, "a refresh token was used twice; the session is revoked");
    case storage::RotateOutcome::kRotated:
      break;
  }
  auto state = with_store([&](storage::AccountStore& store)
                              -> Result<std::pair<std::optional<storage::User>, std::optional<storage::TokenFamily>>> {
    auto user = store.find_user_by_id(rotation->user_id);
    if (!user) return user.error();
    auto family = store.find_family(rotation->family_id);
    if (!family) return family.error();
    return std::pair(std::move(*user), std::move(*family));
  });
  if (!state) return unavailable(state.error());
  auto& [user, family] = *state;
  if (!user || !family) {
    revoke_quietly(rotation->family_id, "user", now);
    return auth_error(kSessionRevoked, "the session's account is gone");
  }
  if (user->disabled) {
    revoke_quietly(rotation->family_id, "disabled", now);
    return auth_error(kDisabled, "the account is disabled");
  }
  return make_session(*user, std::move(rotation->family_id), std::move(rotation->token), family->absolute_expires_at,
                      now);
}

Status AuthService::logout(std::string_view raw_refresh_token, UnixSeconds now, std::string_view remote) {
  return revoke_presented(raw_refresh_token, "logout", "logout", now, remote);
}

Result<Identity> AuthService::verify_access(std::string_view access_token, UnixSeconds now) {
  const auto snapshot = keys_.snapshot();
  VerifyOptions options;
  options.issuer = config_.issuer;
  options.audience = config_.audience;
  options.now = now;
  options.leeway = config_.leeway;
  auto claims = auth::verify(access_token, snapshot->verification, options);
  if (!claims) return claims.error();
  auto identity = check_session(claims->subject, claims->session_id, now);
  if (identity) identity->expires_at = claims->expires_at;
  return identity;
}

Result<Identity> AuthService::check_session(std::string_view user_id, std::string_view session_id, UnixSeconds now) {
  if (user_id.empty() || user_id.size() > storage::kMaxIdBytes || session_id.empty() ||
      session_id.size() > storage::kMaxIdBytes) {
    return auth_error(kSessionRevoked, "unknown session");
  }
  // Checked on every call, no cache: two primary-key reads, and revocation
  // then has no delay to document on this node or on any node sharing the database.
  auto state = with_store([&](storage::AccountStore& store)
                              -> Result<std::pair<std::optional<storage::TokenFamily>, std::optional<storage::User>>> {
    auto family = store.find_family(session_id);
    if (!family) return family.error();
    auto user = store.find_user_by_id(user_id);
    if (!user) return user.error();
    return std::pair(std::move(*family), std::move(*user));
  });
  if (!state) return unavailable(state.error());
  const auto& [family, user] = *state;
  if (!family || family->user_id != user_id || !user) return auth_error(kSessionRevoked, "unknown session");
  if (family->revoked_at) return auth_error(kSessionRevoked, "the session was revoked (" + family->revoke_reason + ")");
  if (to_store(now) >= family->absolute_expires_at) return auth_error(kSessionExpired, "the session expired");
  if (user->disabled) return auth_error(kDisabled, "the account is disabled");
  return Identity{user->id, family->id, user->display_name};
}

Result<std::optional<storage::DocumentRole>> AuthService::document_role(std::string_view user_id,
                                                                        std::string_view document_id) {
  if (!storage::is_document_id(document_id)) return auth_error(kInvalidInput, "not a document id");
  if (user_id.empty() || user_id.size() > storage::kMaxIdBytes) return std::optional<storage::DocumentRole>();
  auto role = with_store([&](storage::AccountStore& store) { return store.role_of(document_id, user_id); });
  if (!role) return unavailable(role.error());
  return *role;
}

}  // namespace quire::auth
