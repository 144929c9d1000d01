// The auth module's error domain and codes, shared by passwords, keys and
// tokens, so a caller (HTTP route, WebSocket auth) can map a failure to a
// response and a log reason without parsing messages.
#pragma once

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
};

inline Error auth_error(ErrorCode code, std::string message) {
  return Error{kDomain, code, std::move(message)};
}

}  // namespace quire::auth
