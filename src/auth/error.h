// The auth module's error domain and codes, shared by passwords, keys, tokens
// and the account service, so a caller (HTTP route, WebSocket auth) can map a
// failure to a response and a log reason without parsing messages.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace quire::auth {

inline constexpr std::string_view kDomain = "auth";

enum ErrorCode : int {
  // Access tokens (jwt.h). Every one of these is a 401; the codes exist for
  // logs and tests, never for the client (which learns only "invalid token").
  kMalformed = 1,           // not three strict base64url segments of JSON objects
  kBadAlgorithm = 2,        // header alg is not EdDSA
  kUnknownKey = 3,          // kid missing, not a valid key id, or not in the key set
  kBadSignature = 4,        // Ed25519 verification failed
  kExpired = 5,             // now >= exp + leeway
  kNotYetValid = 6,         // nbf or iat later than now + leeway
  kWrongIssuer = 7,         // iss differs from the expected issuer
  kWrongAudience = 8,       // aud does not name this service
  kWrongType = 9,           // typ is not at+jwt
  kMissingClaim = 10,       // a required claim is absent
  kInvalidClaim = 11,       // a claim has the wrong JSON type or an out-of-range value
  kLifetimeTooLong = 12,    // exp - iat above the maximum access-token lifetime
  kTooLarge = 13,           // token above the size limit
  kUnsupportedHeader = 14,  // crit present: we implement no extensions
  // Passwords (password.h).
  kInvalidPassword = 20,  // length out of bounds or contains NUL
  kBadHash = 21,          // stored hash is not an argon2id string we accept
  kHashFailed = 22,       // libsodium could not hash (out of memory)
  // Keys (keys.h).
  kBadKey = 30,      // key material refused (size, all zero, halves disagree)
  kKeyStoreIo = 31,  // file system error or unsafe permissions in the key directory
  kBadOptions = 32,  // configuration out of range
  // Accounts and sessions (service.h). Each has its own name (error_name) for
  // the JSON body {"error": name, "message": text}; the HTTP status in brackets.
  kInvalidInput = 40,        // [400] a field has the wrong shape (username, email, new password, document id)
  kUsernameTaken = 41,       // [409] another account has this username (case-insensitively)
  kEmailTaken = 42,          // [409] another account has this email
  kInvalidCredentials = 43,  // [401] unknown login or wrong password (never says which)
  kDisabled = 44,            // [403] the account is disabled (only told after a correct password)
  kRateLimited = 45,         // [429] too many attempts; retry_after() says how long to wait
  kSessionExpired = 46,      // [401] the refresh family reached its idle or absolute lifetime
  kSessionRevoked = 47,      // [401] unknown refresh token, or its family (sid) was revoked
  kReuseDetected = 48,       // [401] a rotated-away refresh token came back: its family is now revoked
  kForbidden = 49,           // [403] authenticated, but no role allows this
  kUnavailable = 50,         // [503] the account store failed (the message names the storage error)
};

inline Error auth_error(ErrorCode code, std::string message) {
  return Error{kDomain, code, std::move(message)};
}

// The stable name of an auth code for the JSON `error` field: "invalid_input",
// "username_taken", ... for the account codes; every access-token code is
// "invalid_token" (a client learns nothing about why a token failed);
// "internal_error" for anything else, including errors of other domains.
std::string_view error_name(int code);
std::string_view error_name(const Error& error);

// A kRateLimited error. Error has no field for the wait, so it is the end of
// the message ("...; retry after N s"), written only here and read back only
// by retry_after(); `retry_after` is at least 1 s.
Error rate_limited_error(std::string_view what, std::chrono::seconds retry_after);
// The wait of a rate_limited_error(); nullopt for any other error.
std::optional<std::chrono::seconds> retry_after(const Error& error);

}  // namespace quire::auth
