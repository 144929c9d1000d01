// Ed25519 JWT signing and verification; the rules are listed in jwt.h.
#include "auth/jwt.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <optional>
#include <vector>

#include "auth/crypto.h"
#include "auth/error.h"
#include "auth/tokens.h"

namespace quire::auth {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxJsonDepth = 8;
constexpr std::size_t kMaxJsonMembers = 32;
constexpr std::int64_t kMaxNumericDate = 253402300799;  // 9999-12-31T23:59:59Z
constexpr std::size_t kJtiBytes = 16;

json::parse_options strict_options() {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;  // comments, trailing commas, invalid UTF-8: off by default
  return options;
}

// Parse events only: refuses duplicate keys (Boost's DOM parser keeps the last
// one silently, so two parsers — ours and a proxy's — could read different
// claims) and bounds sizes. Escaped keys arrive unescaped, so "\u0061lg" and
// "alg" count as the same key.
class DuplicateKeyCheck {
 public:
  // Names required by Boost's handler concept.
  static constexpr std::size_t max_object_size = kMaxJsonMembers;  // NOLINT(readability-identifier-naming)
  static constexpr std::size_t max_array_size = kMaxJsonMembers;   // NOLINT(readability-identifier-naming)
  static constexpr std::size_t max_key_size = kMaxClaimBytes;      // NOLINT(readability-identifier-naming)
  static constexpr std::size_t max_string_size = kMaxTokenBytes;   // NOLINT(readability-identifier-naming)

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    keys_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, json::error_code& ec) {
    key_.append(part.data(), part.size());
    std::vector<std::string>& seen = keys_.back();
    if (std::find(seen.begin(), seen.end(), key_) != seen.end()) {
      duplicate_ = true;
      ec = json::error::syntax;
      return false;
    }
    seen.push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  [[nodiscard]] bool duplicate() const { return duplicate_; }

 private:
  std::vector<std::vector<std::string>> keys_;  // one list per open object
  std::string key_;
  bool duplicate_ = false;
};

Error malformed(std::string message) {
  return auth_error(kMalformed, std::move(message));
}

// Decodes one base64url segment and parses it as a JSON object.
Result<json::object> decode_object(std::string_view segment, std::string_view what) {
  Bytes text;
  if (!base64url_decode(segment, kMaxTokenBytes, text)) return malformed(std::string(what) + " is not base64url");
  const std::string_view chars = as_chars(text);

  json::basic_parser<DuplicateKeyCheck> check(strict_options());
  json::error_code ec;
  const std::size_t used = check.write_some(false, chars.data(), chars.size(), ec);
  if (check.handler().duplicate()) return malformed(std::string(what) + " has a duplicate key");
  if (ec || !check.done() || used != chars.size()) return malformed(std::string(what) + " is not valid JSON");

  json::value value = json::parse(json::string_view(chars.data(), chars.size()), ec, {}, strict_options());
  if (ec) return malformed(std::string(what) + " is not valid JSON");
  if (!value.is_object()) return malformed(std::string(what) + " is not a JSON object");
  return std::move(value.as_object());
}

// A required string claim of 1..kMaxClaimBytes bytes.
Result<std::string> string_claim(const json::object& claims, std::string_view name) {
  const json::value* value = claims.if_contains(json::string_view(name.data(), name.size()));
  if (value == nullptr) return auth_error(kMissingClaim, "missing claim " + std::string(name));
  if (!value->is_string() || value->as_string().empty() || value->as_string().size() > kMaxClaimBytes) {
    return auth_error(kInvalidClaim, "claim " + std::string(name) + " must be a string of 1 to 256 bytes");
  }
  return std::string(value->as_string().c_str(), value->as_string().size());
}

// A NumericDate claim; nullopt if absent and `required` is false.
Result<std::optional<UnixSeconds>> time_claim(const json::object& claims, std::string_view name, bool required) {
  const json::value* value = claims.if_contains(json::string_view(name.data(), name.size()));
  if (value == nullptr) {
    if (required) return auth_error(kMissingClaim, "missing claim " + std::string(name));
    return std::optional<UnixSeconds>{};
  }
  std::int64_t seconds = -1;
  if (value->is_int64()) {
    seconds = value->as_int64();
  } else if (value->is_uint64() && value->as_uint64() <= static_cast<std::uint64_t>(kMaxNumericDate)) {
    seconds = static_cast<std::int64_t>(value->as_uint64());
  }
  if (seconds < 0 || seconds > kMaxNumericDate) {
    return auth_error(kInvalidClaim, "claim " + std::string(name) + " must be an integer NumericDate");
  }
  return std::optional<UnixSeconds>{UnixSeconds{std::chrono::seconds(seconds)}};
}

bool in_range(UnixSeconds t) {
  return t.time_since_epoch().count() >= 0 && t.time_since_epoch().count() <= kMaxNumericDate;
}

Status check_audience(const json::object& claims, std::string_view audience) {
  const json::value* aud = claims.if_contains("aud");
  if (aud == nullptr) return auth_error(kMissingClaim, "missing claim aud");
  const json::string_view expected(audience.data(), audience.size());
  if (aud->is_string()) {
    if (aud->as_string() == expected) return {};
    return auth_error(kWrongAudience, "aud does not name this service");
  }
  if (!aud->is_array()) return auth_error(kInvalidClaim, "claim aud must be a string or an array of strings");
  bool found = false;
  for (const json::value& entry : aud->as_array()) {
    if (!entry.is_string()) return auth_error(kInvalidClaim, "claim aud must be a string or an array of strings");
    found = found || entry.as_string() == expected;
  }
  if (!found) return auth_error(kWrongAudience, "aud does not name this service");
  return {};
}

// The claims of an authenticated payload.
Result<AccessClaims> read_claims(const json::object& payload, const VerifyOptions& options) {
  const std::chrono::seconds leeway = std::clamp(options.leeway, std::chrono::seconds(0), kMaxLeeway);
  const std::chrono::seconds max_lifetime = std::min(options.max_lifetime, kMaxAccessLifetime);
  AccessClaims claims;

  auto iss = string_claim(payload, "iss");
  if (!iss) return iss.error();
  if (*iss != options.issuer) return auth_error(kWrongIssuer, "iss is not this service's issuer");
  claims.issuer = std::move(*iss);
  if (Status s = check_audience(payload, options.audience); !s) return s.error();
  claims.audience = options.audience;

  auto exp = time_claim(payload, "exp", true);
  if (!exp) return exp.error();
  auto iat = time_claim(payload, "iat", true);
  if (!iat) return iat.error();
  auto nbf = time_claim(payload, "nbf", false);
  if (!nbf) return nbf.error();
  claims.expires_at = **exp;
  claims.issued_at = **iat;
  claims.not_before = nbf->value_or(**iat);

  if (options.now >= claims.expires_at + leeway) return auth_error(kExpired, "token expired");
  if (claims.not_before > options.now + leeway) return auth_error(kNotYetValid, "token not valid yet (nbf)");
  if (claims.issued_at > options.now + leeway) return auth_error(kNotYetValid, "token issued in the future (iat)");
  if (claims.expires_at <= claims.issued_at) return auth_error(kInvalidClaim, "exp is not after iat");
  if (claims.expires_at - claims.issued_at > max_lifetime) {
    return auth_error(kLifetimeTooLong, "token lifetime exceeds the maximum for access tokens");
  }

  for (auto [name, field] :
       {std::pair{"sub", &claims.subject}, std::pair{"sid", &claims.session_id}, std::pair{"jti", &claims.token_id}}) {
    auto value = string_claim(payload, name);
    if (!value) return value.error();
    *field = std::move(*value);
  }
  return claims;
}

bool header_string_is(const json::object& header, std::string_view name, std::string_view expected) {
  const json::value* value = header.if_contains(json::string_view(name.data(), name.size()));
  return value != nullptr && value->is_string() &&
         value->as_string() == json::string_view(expected.data(), expected.size());
}

}  // namespace

AccessClaims new_access_claims(std::string issuer, std::string audience, std::string subject, std::string session_id,
                               UnixSeconds now, std::chrono::seconds lifetime) {
  return AccessClaims{
      std::move(issuer), std::move(audience), std::move(subject), std::move(session_id), random_id(kJtiBytes), now, now,
      now + lifetime};
}

std::string sign_segments(std::string_view header_json, std::string_view payload_json, const SigningKey& key) {
  require_crypto();
  std::string token = base64url_encode(as_bytes(header_json));
  token += '.';
  token += base64url_encode(as_bytes(payload_json));
  std::array<std::uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr, reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                       key.secret().data());
  token += '.';
  token += base64url_encode(signature);
  return token;
}

Result<std::string> sign(const AccessClaims& claims, const SigningKey& key) {
  for (const std::string* field :
       {&claims.issuer, &claims.audience, &claims.subject, &claims.session_id, &claims.token_id}) {
    if (field->empty() || field->size() > kMaxClaimBytes) {
      return auth_error(kInvalidClaim, "string claims must have 1 to 256 bytes");
    }
  }
  if (!in_range(claims.issued_at) || !in_range(claims.not_before) || !in_range(claims.expires_at) ||
      claims.expires_at <= claims.issued_at) {
    return auth_error(kInvalidClaim, "times out of range or exp not after iat");
  }
  if (claims.expires_at - claims.issued_at > kMaxAccessLifetime) {
    return auth_error(kLifetimeTooLong, "access tokens live at most 15 minutes");
  }
  // kid is [A-Za-z0-9_-] (SigningKey checks it), so it needs no JSON escaping.
  const std::string header = R"({"alg":")" + std::string(kAlgorithm) + R"(","typ":")" + std::string(kTokenType) +
                             R"(","kid":")" + key.kid() + R"("})";
  const json::object payload{
      {"iss", claims.issuer},
      {"aud", claims.audience},
      {"sub", claims.subject},
      {"sid", claims.session_id},
      {"iat", claims.issued_at.time_since_epoch().count()},
      {"nbf", claims.not_before.time_since_epoch().count()},
      {"exp", claims.expires_at.time_since_epoch().count()},
      {"jti", claims.token_id},
  };
  std::string token = sign_segments(header, json::serialize(payload), key);
  if (token.size() > kMaxTokenBytes) return auth_error(kTooLarge, "token would exceed the size limit");
  return token;
}

Result<AccessClaims> verify(std::string_view token, const KeySet& keys, const VerifyOptions& options) {
  require_crypto();
  if (token.size() > kMaxTokenBytes) return auth_error(kTooLarge, "token larger than 8 KiB");
  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return malformed("a token has exactly three segments");
  }
  const std::string_view signing_input = token.substr(0, second);
  const std::string_view header_segment = token.substr(0, first);
  const std::string_view payload_segment = token.substr(first + 1, second - first - 1);
  const std::string_view signature_segment = token.substr(second + 1);

  // The header is read before the signature only to find the key; nothing in
  // it is trusted, and alg is compared, never used to choose a verifier.
  auto header = decode_object(header_segment, "header");
  if (!header) return header.error();
  if (!header_string_is(*header, "alg", kAlgorithm)) return auth_error(kBadAlgorithm, "alg is not EdDSA");
  if (header->contains("crit")) return auth_error(kUnsupportedHeader, "crit header parameters are not supported");
  const json::value* kid = header->if_contains("kid");
  if (kid == nullptr || !kid->is_string()) return auth_error(kUnknownKey, "header has no kid");
  const PublicKey* key = keys.find(std::string_view(kid->as_string().data(), kid->as_string().size()));
  if (key == nullptr) return auth_error(kUnknownKey, "kid is not a known key");

  Bytes signature;
  if (!base64url_decode(signature_segment, crypto_sign_BYTES, signature) || signature.size() != crypto_sign_BYTES) {
    return auth_error(kBadSignature, "signature is not 64 bytes of base64url");
  }
  if (crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size(), key->data()) != 0) {
    return auth_error(kBadSignature, "signature does not verify");
  }

  // Authenticated from here on.
  if (!header_string_is(*header, "typ", kTokenType)) return auth_error(kWrongType, "typ is not at+jwt");
  auto payload = decode_object(payload_segment, "payload");
  if (!payload) return payload.error();
  return read_claims(*payload, options);
}

}  // namespace quire::auth
