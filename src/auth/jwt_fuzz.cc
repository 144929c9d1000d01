// libFuzzer target for the access-token verifier. The first input byte picks
// what the rest is:
//   0: a token, verified as is against a fixed one-key set;
//   1: HEADER_JSON \0 PAYLOAD_JSON, signed with that trusted key, then verified
//      (the only way to reach claim parsing, which sits behind the signature);
//   2: the same, signed with an untrusted key;
//   3: a token, verified against an empty key set.
// Checks: nothing crashes; modes 2 and 3 are never accepted; anything accepted
// really carries a valid signature of the trusted key over its first two
// segments (checked here independently) and claims within the rules.
// Seeds: `node tools/fuzz-seeds.mjs SHARED OUT jwt` signs tokens with the same
// fixed key (kSeed below), so mutations start from accepted tokens.
#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/crypto.h"
#include "auth/jwt.h"
#include "auth/keys.h"

using namespace quire;
using namespace quire::auth;

namespace {

// Must equal SEED and KID in tools/fuzz-seeds.mjs (kind jwt).
constexpr std::string_view kSeed = "quire-auth-jwt-fuzz-trusted-key!";
constexpr std::string_view kUntrustedSeed = "quire-auth-jwt-fuzz-untrusted-k!";
constexpr std::string_view kKid = "fuzz-key-1";
constexpr UnixSeconds kNow{std::chrono::seconds(1'700'000'000)};

void check(bool ok) {
  if (!ok) std::abort();
}

SigningKey key_from_seed(std::string_view seed) {
  require_crypto();
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  crypto_sign_seed_keypair(public_key.data(), secret.data(), reinterpret_cast<const unsigned char*>(seed.data()));
  auto key = SigningKey::from_secret(std::string(kKid), secret, kNow);
  check(key.ok());
  return std::move(*key);
}

struct Fixture {
  SigningKey trusted = key_from_seed(kSeed);
  SigningKey untrusted = key_from_seed(kUntrustedSeed);
  KeySet keys;
  KeySet empty;
  VerifyOptions options{"https://quire.test", "quire-api", kNow};

  Fixture() { check(keys.add(std::string(kKid), trusted.public_key()).ok()); }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// The independent oracle: does `token` carry the trusted key's signature?
bool signed_by_trusted(std::string_view token) {
  const std::size_t second = token.rfind('.');
  if (second == std::string_view::npos) return false;
  Bytes signature;
  if (!base64url_decode(token.substr(second + 1), crypto_sign_BYTES, signature) ||
      signature.size() != crypto_sign_BYTES) {
    return false;
  }
  const PublicKey key = fixture().trusted.public_key();
  return crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(token.data()), second,
                                     key.data()) == 0;
}

void check_claims(const AccessClaims& c) {
  const VerifyOptions& o = fixture().options;
  check(c.issuer == o.issuer && c.audience == o.audience);
  check(!c.subject.empty() && !c.session_id.empty() && !c.token_id.empty());
  check(c.subject.size() <= kMaxClaimBytes && c.session_id.size() <= kMaxClaimBytes);
  check(o.now < c.expires_at + kMaxLeeway);
  check(c.not_before <= o.now + kMaxLeeway && c.issued_at <= o.now + kMaxLeeway);
  check(c.expires_at > c.issued_at && c.expires_at - c.issued_at <= kMaxAccessLifetime);
  // What we accept, we can issue again, and it verifies to the same claims.
  auto again = sign(c, fixture().trusted);
  check(again.ok());
  auto back = verify(*again, fixture().keys, o);
  check(back.ok() && back->subject == c.subject && back->session_id == c.session_id &&
        back->expires_at == c.expires_at);
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Fixture& f = fixture();
  const int mode = data[0] & 3;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  if (mode == 0 || mode == 3) {
    auto result = verify(rest, mode == 0 ? f.keys : f.empty, f.options);
    if (!result) return 0;
    check(mode == 0);
    check(signed_by_trusted(rest));
    check_claims(*result);
    return 0;
  }
  const std::size_t split = rest.find('\0');
  const std::string_view header = rest.substr(0, split);
  const std::string_view payload = split == std::string_view::npos ? std::string_view() : rest.substr(split + 1);
  const std::string token = sign_segments(header, payload, mode == 1 ? f.trusted : f.untrusted);
  auto result = verify(token, f.keys, f.options);
  if (!result) return 0;
  check(mode == 1);
  check_claims(*result);
  return 0;
}
