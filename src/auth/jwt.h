// Access tokens: JWTs (RFC 7519) signed with Ed25519, following the JWT BCP
// (RFC 8725) and the access-token profile (RFC 9068).
//
// One algorithm is pinned. The verifier never lets the token choose how it is
// checked: `alg` must be "EdDSA" or the token is refused; the key comes from
// the local KeySet by `kid` only (jwk, jku, x5u, x5c are ignored, and this file
// has no network or file code at all); `crit` is refused; the signature is
// checked before any claim is read. Claims carry identity only — roles come
// from the server's database, never from a token (SECURITY row 6), so no role
// claim is read even if present.
//
// JSON: Boost.JSON with a depth limit of 8, at most 32 members per object or
// array, strict UTF-8, and duplicate keys refused (a first pass over parse
// events; Boost 1.81 itself would keep the last duplicate silently).
// NumericDates must be JSON integers in [0, 253402300799] (year 9999);
// fractional seconds are refused rather than rounded.
//
// Thread-safety: free functions on immutable inputs, callable from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "auth/keys.h"
#include "base/result.h"

namespace quire::auth {

inline constexpr std::size_t kMaxTokenBytes = std::size_t{8} * 1024;
inline constexpr std::chrono::seconds kMaxLeeway{60};
inline constexpr std::chrono::seconds kMaxAccessLifetime{15 * 60};
// Upper bound of each string claim (sub, sid, jti, iss, aud) when signing and verifying.
inline constexpr std::size_t kMaxClaimBytes = 256;
inline constexpr std::string_view kAlgorithm = "EdDSA";
inline constexpr std::string_view kTokenType = "at+jwt";

struct AccessClaims {
  std::string issuer;      // iss
  std::string audience;    // aud; after verify, the audience that matched
  std::string subject;     // sub: the user id
  std::string session_id;  // sid: the refresh-token family, checked against revocations
  std::string token_id;    // jti: random, for logs and deny-lists
  UnixSeconds issued_at;   // iat
  UnixSeconds not_before;  // nbf; iat when the token has none
  UnixSeconds expires_at;  // exp
};

// Claims for a token issued at `now`: nbf = iat = now, exp = now + lifetime,
// and a random 128-bit jti. `lifetime` above kMaxAccessLifetime makes sign() fail.
AccessClaims new_access_claims(std::string issuer, std::string audience, std::string subject, std::string session_id,
                               UnixSeconds now, std::chrono::seconds lifetime = kMaxAccessLifetime);

// The compact JWS: header {"alg":"EdDSA","typ":"at+jwt","kid":KID} and the
// claims. kInvalidClaim for empty or over-long strings, times out of range or
// exp <= iat; kLifetimeTooLong if exp - iat > kMaxAccessLifetime.
Result<std::string> sign(const AccessClaims& claims, const SigningKey& key);

// base64url(header_json) "." base64url(payload_json) "." Ed25519 signature,
// with no checks at all: sign() builds on it, and tests and the fuzzer use it
// to make tokens that are correctly signed but otherwise hostile.
std::string sign_segments(std::string_view header_json, std::string_view payload_json, const SigningKey& key);

struct VerifyOptions {
  std::string issuer;    // the exact iss we issue
  std::string audience;  // the exact aud naming this service
  UnixSeconds now;
  // Clock skew allowed on exp, nbf and iat; capped at kMaxLeeway.
  std::chrono::seconds leeway = kMaxLeeway;
  // Longest exp - iat accepted; capped at kMaxAccessLifetime.
  std::chrono::seconds max_lifetime = kMaxAccessLifetime;
};

// Checks `token` and returns its claims, or an Error with one of the token
// codes of auth/error.h (kMalformed … kUnsupportedHeader). Order: size, shape,
// header (alg, crit, kid), signature, then typ and the claims.
Result<AccessClaims> verify(std::string_view token, const KeySet& keys, const VerifyOptions& options);

}  // namespace quire::auth
