// Tests of the auth core: passwords, refresh-token primitives, access-token
// signing and verification, and the key store. The JWT and key tests are named
// after the SECURITY.md §1 row they cover (Row1_…, Row7_…); every rule in
// jwt.h has one.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "auth/crypto.h"
#include "auth/error.h"
#include "auth/jwt.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/tokens.h"

namespace quire::auth {
namespace {

using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr UnixSeconds kNow{seconds(1'700'000'000)};
constexpr std::string_view kIssuer = "https://quire.test";
constexpr std::string_view kAudience = "quire-api";

std::string str(std::int64_t v) {
  return std::to_string(v);
}
std::int64_t unix(UnixSeconds t) {
  return t.time_since_epoch().count();
}
std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '"').append(s).append(1, '"');
  return out;
}

// ---------------------------------------------------------------- passwords

TEST(Password, HashesWithArgon2idAndVerifies) {
  const auto hash = hash_password("correct horse battery", PasswordParams::minimum());
  ASSERT_TRUE(hash.ok()) << hash.error().message;
  EXPECT_EQ(hash->rfind("$argon2id$v=19$", 0), 0u) << *hash;
  auto good = verify_password("correct horse battery", *hash);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(*good);
  auto bad = verify_password("correct horse batterY", *hash);
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(*bad);
}

TEST(Password, EachHashHasItsOwnSalt) {
  const auto a = hash_password("same password", PasswordParams::minimum());
  const auto b = hash_password("same password", PasswordParams::minimum());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(*verify_password("same password", *b));
}

TEST(Password, DefaultParametersAreInteractive) {
  const PasswordParams params;
  EXPECT_EQ(params.ops_limit, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(params.memory_bytes, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
  const auto hash = hash_password("a real-cost hash");
  ASSERT_TRUE(hash.ok());
  EXPECT_NE(hash->find("$m=65536,t=2,p=1$"), std::string::npos) << *hash;
  EXPECT_TRUE(*verify_password("a real-cost hash", *hash));
  EXPECT_FALSE(needs_rehash(*hash));
}

TEST(Password, LengthBoundsAndNulRefused) {
  const auto min = PasswordParams::minimum();
  EXPECT_EQ(hash_password("1234567", min).error().code, kInvalidPassword);
  EXPECT_TRUE(hash_password("12345678", min).ok());
  EXPECT_TRUE(hash_password(std::string(kMaxPasswordBytes, 'x'), min).ok());
  EXPECT_EQ(hash_password(std::string(kMaxPasswordBytes + 1, 'x'), min).error().code, kInvalidPassword);
  EXPECT_EQ(hash_password(std::string(1 << 20, 'x'), min).error().code, kInvalidPassword);
  EXPECT_EQ(hash_password(std::string("abcd\0efgh", 9), min).error().code, kInvalidPassword);
}

TEST(Password, VerifyingAnOutOfBoundsPasswordIsFalseWithoutHashing) {
  const auto hash = hash_password("12345678", PasswordParams::minimum());
  ASSERT_TRUE(hash.ok());
  auto huge = verify_password(std::string(1 << 20, 'x'), *hash);
  ASSERT_TRUE(huge.ok());
  EXPECT_FALSE(*huge);
  auto with_nul = verify_password(std::string("12345678\0", 9), *hash);
  ASSERT_TRUE(with_nul.ok());
  EXPECT_FALSE(*with_nul);
}

TEST(Password, StoredHashMustBeArgon2idWithinLimits) {
  const std::string password = "12345678";
  EXPECT_EQ(verify_password(password, "").error().code, kBadHash);
  EXPECT_EQ(verify_password(password, "12345678").error().code, kBadHash);
  char argon2i[crypto_pwhash_argon2i_STRBYTES];
  ASSERT_EQ(crypto_pwhash_argon2i_str(argon2i, password.data(), password.size(), crypto_pwhash_argon2i_OPSLIMIT_MIN,
                                      crypto_pwhash_argon2i_MEMLIMIT_MIN),
            0);
  EXPECT_EQ(verify_password(password, argon2i).error().code, kBadHash);
  // A planted row asking for 4 GiB or 1000 passes must not make a login expensive.
  const std::string good = *hash_password(password, PasswordParams::minimum());
  const std::string tail = good.substr(good.find("p=1$"));
  EXPECT_EQ(verify_password(password, "$argon2id$v=19$m=4194304,t=2," + tail).error().code, kBadHash);
  EXPECT_EQ(verify_password(password, "$argon2id$v=19$m=8,t=1000," + tail).error().code, kBadHash);
  EXPECT_EQ(verify_password(password, good + std::string(1, '\0')).error().code, kBadHash);
  EXPECT_EQ(verify_password(password, std::string(200, '$')).error().code, kBadHash);
}

TEST(Password, NeedsRehashWhenParametersChange) {
  const std::string weak = *hash_password("12345678", PasswordParams::minimum());
  EXPECT_TRUE(needs_rehash(weak));
  EXPECT_FALSE(needs_rehash(weak, PasswordParams::minimum()));
  EXPECT_TRUE(needs_rehash("not a hash"));
}

// ---------------------------------------------------------------- tokens

TEST(Tokens, Row10_RandomTokensAre256BitAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const std::string token = random_token();
    ASSERT_EQ(token.size(), kTokenChars);
    ASSERT_TRUE(is_token(token));
    Bytes raw;
    ASSERT_TRUE(base64url_decode(token, 64, raw));
    ASSERT_EQ(raw.size(), 32u);
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(Tokens, Row10_StoredOnlyAsSha256Hex) {
  EXPECT_EQ(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string token = random_token();
  const std::string hash = hash_token(token);
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash.find(token), std::string::npos);
  EXPECT_EQ(hash_token(token), hash);
  EXPECT_NE(hash_token(random_token()), hash);
}

TEST(Tokens, IsTokenRefusesOtherShapes) {
  const std::string token = random_token();
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token(token + "="));
  EXPECT_FALSE(is_token(token.substr(1)));
  EXPECT_FALSE(is_token(token + "A"));
  EXPECT_FALSE(is_token(std::string(42, 'A') + "+"));
  EXPECT_FALSE(is_token(std::string(42, 'A') + "B"));  // non-canonical: trailing bits set
  EXPECT_TRUE(is_token(std::string(42, 'A') + "A"));
}

TEST(Tokens, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("Secret", "secret"));
}

TEST(Base64Url, StrictDecoding) {
  Bytes out;
  EXPECT_TRUE(base64url_decode("YQ", 8, out));
  EXPECT_EQ(as_chars(out), "a");
  EXPECT_TRUE(base64url_decode("", 8, out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(base64url_decode("YQ==", 8, out));  // padding
  EXPECT_FALSE(base64url_decode("YR", 8, out));    // non-canonical trailing bits
  EXPECT_FALSE(base64url_decode("Y", 8, out));     // impossible length
  EXPECT_FALSE(base64url_decode("Y Q", 8, out));   // whitespace
  EXPECT_FALSE(base64url_decode("+/8", 8, out));   // standard alphabet
  EXPECT_TRUE(base64url_decode("-_8", 8, out));
  EXPECT_FALSE(base64url_decode(std::string_view("YQ\0", 3), 8, out));
  EXPECT_FALSE(base64url_decode("YWJj", 2, out));  // over max_bytes
  EXPECT_EQ(base64url_encode(as_bytes("\xfb\xff")), "-_8");
}

// ---------------------------------------------------------------- JWT fixture

// Builds hostile tokens: header and claims as raw JSON text, signed with
// sign_segments (a correct Ed25519 signature over whatever we give it).
class Jwt : public ::testing::Test {
 protected:
  Jwt() : key_(SigningKey::generate(kNow)), attacker_(SigningKey::generate(kNow)) {
    EXPECT_TRUE(keys_.add(key_.kid(), key_.public_key()).ok());
  }

  [[nodiscard]] VerifyOptions options() const {
    return VerifyOptions{std::string(kIssuer), std::string(kAudience), kNow};
  }

  std::string header(std::string_view alg = "EdDSA", std::string_view typ = "at+jwt", std::string_view extra = "") {
    return R"({"alg":")" + std::string(alg) + R"(","typ":")" + std::string(typ) + R"(","kid":")" + key_.kid() + "\"" +
           std::string(extra) + "}";
  }

  // Claims as raw JSON values; tests edit the map, then payload() renders it.
  [[nodiscard]] std::map<std::string, std::string> claims() const {
    return {{"iss", json_string(kIssuer)}, {"aud", json_string(kAudience)},
            {"sub", "\"user-1\""},         {"sid", "\"family-1\""},
            {"jti", "\"jti-1\""},          {"iat", str(unix(kNow) - 60)},
            {"nbf", str(unix(kNow) - 60)}, {"exp", str(unix(kNow) + 600)}};
  }
  static std::string payload(const std::map<std::string, std::string>& claims) {
    std::string out = "{";
    for (const auto& [name, value] : claims) {
      if (out.size() > 1) out += ',';
      out.append(json_string(name)).append(1, ':').append(value);
    }
    return out + "}";
  }

  std::string token_of(const std::map<std::string, std::string>& c) { return token_of_payload(payload(c)); }
  std::string token_of_payload(std::string_view text) { return sign_segments(header(), text, key_); }
  std::string good_token() { return token_of(claims()); }

  [[nodiscard]] Result<AccessClaims> check(std::string_view token) const { return verify(token, keys_, options()); }
  [[nodiscard]] int code(std::string_view token) const {
    auto r = check(token);
    return r.ok() ? 0 : r.error().code;
  }

  static std::vector<std::string> split(std::string_view token) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t dot; (dot = token.find('.', start)) != std::string_view::npos; start = dot + 1) {
      parts.emplace_back(token.substr(start, dot - start));
    }
    parts.emplace_back(token.substr(start));
    return parts;
  }
  static std::string b64(std::string_view text) { return base64url_encode(as_bytes(text)); }

  SigningKey key_;
  SigningKey attacker_;
  KeySet keys_;
};

TEST_F(Jwt, SignAndVerifyRoundTrip) {
  const AccessClaims claims = new_access_claims(std::string(kIssuer), std::string(kAudience), "user-7", "fam-9", kNow,
                                                std::chrono::minutes(10));
  const auto token = sign(claims, key_);
  ASSERT_TRUE(token.ok()) << token.error().message;
  const auto parts = split(*token);
  ASSERT_EQ(parts.size(), 3u);
  Bytes header_bytes;
  ASSERT_TRUE(base64url_decode(parts[0], 1024, header_bytes));
  EXPECT_EQ(as_chars(header_bytes), R"({"alg":"EdDSA","typ":"at+jwt","kid":")" + key_.kid() + R"("})");

  const auto verified = check(*token);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->issuer, kIssuer);
  EXPECT_EQ(verified->audience, kAudience);
  EXPECT_EQ(verified->subject, "user-7");
  EXPECT_EQ(verified->session_id, "fam-9");
  EXPECT_EQ(verified->token_id, claims.token_id);
  EXPECT_EQ(verified->token_id.size(), 22u);
  EXPECT_EQ(verified->issued_at, kNow);
  EXPECT_EQ(verified->not_before, kNow);
  EXPECT_EQ(verified->expires_at, kNow + std::chrono::minutes(10));
}

TEST_F(Jwt, SignRefusesInvalidClaims) {
  auto claims = new_access_claims("iss", "aud", "sub", "sid", kNow, std::chrono::minutes(16));
  EXPECT_EQ(sign(claims, key_).error().code, kLifetimeTooLong);
  claims = new_access_claims("iss", "aud", "", "sid", kNow);
  EXPECT_EQ(sign(claims, key_).error().code, kInvalidClaim);
  claims = new_access_claims("iss", "aud", std::string(257, 'u'), "sid", kNow);
  EXPECT_EQ(sign(claims, key_).error().code, kInvalidClaim);
  claims = new_access_claims("iss", "aud", "sub", "sid", kNow, seconds(0));
  EXPECT_EQ(sign(claims, key_).error().code, kInvalidClaim);
}

TEST_F(Jwt, HandBuiltTokenVerifies) {
  // The fixture's own baseline: every test below changes one thing from this.
  const auto r = check(good_token());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->subject, "user-1");
}

// ---- Row 1: one pinned algorithm; alg never chooses the verifier.

TEST_F(Jwt, Row1_AlgNoneRefused) {
  const std::string body = b64(header("none")) + "." + b64(payload(claims()));
  EXPECT_EQ(code(body + "."), kBadAlgorithm);
  for (std::string_view alg : {"none", "None", "NONE", "nOnE"}) {
    EXPECT_EQ(code(sign_segments(header(alg), payload(claims()), key_)), kBadAlgorithm) << alg;
  }
  // Without a kid too: there is no fallback path for unsigned tokens.
  EXPECT_EQ(code(b64(R"({"alg":"none"})") + "." + b64(payload(claims())) + "."), kBadAlgorithm);
}

TEST_F(Jwt, Row1_Hs256SignedWithPublicKeyBytesRefused) {
  const PublicKey pub = key_.public_key();
  const std::string pub_b64 = base64url_encode(pub);
  // The classic confusion: an HMAC keyed with the public key, as raw bytes and as the text a JWKS would show.
  for (const std::string& secret : {std::string(as_chars(pub)), pub_b64}) {
    const std::string input = b64(header("HS256")) + "." + b64(payload(claims()));
    std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac{};
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    crypto_auth_hmacsha256_final(&state, mac.data());
    EXPECT_EQ(code(input + "." + base64url_encode(mac)), kBadAlgorithm);

    // And the same MAC under an honest-looking EdDSA header: not 64 bytes, not a signature.
    const std::string eddsa_input = b64(header()) + "." + b64(payload(claims()));
    crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(eddsa_input.data()),
                                  eddsa_input.size());
    crypto_auth_hmacsha256_final(&state, mac.data());
    EXPECT_EQ(code(eddsa_input + "." + base64url_encode(mac)), kBadSignature);
  }
}

TEST_F(Jwt, Row1_ValidSignatureWithAlgRewrittenRefused) {
  const auto parts = split(good_token());
  for (std::string_view alg : {"HS256", "RS256", "ES256", "Ed25519", "EdDSA ", "eddsa", "ES256K", ""}) {
    const std::string forged = b64(header(alg)) + "." + parts[1] + "." + parts[2];
    EXPECT_EQ(code(forged), kBadAlgorithm) << alg;
  }
  const std::string as_array = R"({"alg":["EdDSA"],"typ":"at+jwt","kid":")" + key_.kid() + "\"}";
  EXPECT_EQ(code(b64(as_array) + "." + parts[1] + "." + parts[2]), kBadAlgorithm);
  const std::string missing = R"({"typ":"at+jwt","kid":")" + key_.kid() + "\"}";
  EXPECT_EQ(code(b64(missing) + "." + parts[1] + "." + parts[2]), kBadAlgorithm);
  // Even re-signed by our own key, a header naming another algorithm is refused.
  EXPECT_EQ(code(sign_segments(header("HS256"), payload(claims()), key_)), kBadAlgorithm);
}

// ---- Row 2: signature checked before any claim is used.

TEST_F(Jwt, Row2_FlippedPayloadCharacterRefused) {
  const std::string token = good_token();
  const auto parts = split(token);
  const std::size_t start = parts[0].size() + 1;
  for (std::size_t i = start; i < start + parts[1].size(); ++i) {
    std::string forged = token;
    forged[i] = forged[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(check(forged).ok()) << "position " << i;
  }
  std::string forged = token;
  forged[start + parts[1].size() / 2] ^= 0x01;  // stays in the alphabet for letters
  EXPECT_EQ(code(forged), kBadSignature);
}

TEST_F(Jwt, Row2_TruncatedSignatureRefused) {
  const std::string token = good_token();
  EXPECT_EQ(code(token.substr(0, token.size() - 1)), kBadSignature);  // also non-canonical base64
  EXPECT_EQ(code(token.substr(0, token.size() - 2)), kBadSignature);
  EXPECT_EQ(code(token.substr(0, token.size() - 4)), kBadSignature);
  EXPECT_EQ(code(token.substr(0, token.rfind('.') + 1)), kBadSignature);  // empty signature
  // And a signature with extra bytes.
  const std::string longer = token.substr(0, token.rfind('.') + 1) + std::string(88, 'A');
  EXPECT_EQ(code(longer), kBadSignature);
}

TEST_F(Jwt, Row2_ExactlyThreeSegments) {
  const std::string token = good_token();
  const auto parts = split(token);
  EXPECT_EQ(code(token + ".x"), kMalformed);
  EXPECT_EQ(code(token + "."), kMalformed);
  EXPECT_EQ(code(parts[0] + "." + parts[1]), kMalformed);
  EXPECT_EQ(code(parts[0]), kMalformed);
  EXPECT_EQ(code(""), kMalformed);
  EXPECT_EQ(code(".."), kMalformed);
  EXPECT_EQ(code(parts[0] + ".." + parts[1] + "." + parts[2]), kMalformed);
}

TEST_F(Jwt, Row2_SignatureCheckedBeforeAnyClaim) {
  // Forged with the attacker's key under our kid: whatever the claims say —
  // expired, wrong issuer, not even JSON — the answer is "bad signature",
  // so no claim was looked at first.
  auto c = claims();
  c["exp"] = str(unix(kNow) - 3600);
  c["iss"] = "\"https://evil.test\"";
  EXPECT_EQ(code(sign_segments(header(), payload(c), attacker_)), kBadSignature);
  EXPECT_EQ(code(sign_segments(header(), "not json", attacker_)), kBadSignature);
  EXPECT_EQ(code(sign_segments(header("EdDSA", "JWT"), payload(c), attacker_)), kBadSignature);
  // Our key, same broken payload: now it is read, and refused as malformed.
  EXPECT_EQ(code(sign_segments(header(), "not json", key_)), kMalformed);
}

TEST_F(Jwt, StrictBase64UrlSegments) {
  const auto parts = split(good_token());
  EXPECT_EQ(code(parts[0] + "=." + parts[1] + "." + parts[2]), kMalformed);
  EXPECT_EQ(code(parts[0] + " ." + parts[1] + "." + parts[2]), kMalformed);
  EXPECT_EQ(code(parts[0] + "." + parts[1] + "=." + parts[2]), kBadSignature);  // signed bytes changed
  EXPECT_EQ(code(parts[0] + "." + parts[1] + "." + parts[2] + "=="), kBadSignature);
  std::string standard = parts[2];
  for (char& ch : standard) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
  if (standard != parts[2]) {
    EXPECT_EQ(code(parts[0] + "." + parts[1] + "." + standard), kBadSignature);
  }
  // Standard-alphabet header: not base64url.
  const std::string std_header = "eyJhbGciOiJFZERTQSJ9+";
  EXPECT_EQ(code(std_header + "." + parts[1] + "." + parts[2]), kMalformed);
}

TEST_F(Jwt, TokenAbove8KiBRefusedBeforeParsing) {
  // Grow a padding claim until the signed token is exactly 8 KiB: accepted; one more byte: refused.
  auto c = claims();
  std::size_t pad = 0;
  std::string token;
  do {
    c["pad"] = json_string(std::string(++pad, 'p'));
    token = token_of(c);
  } while (token.size() < kMaxTokenBytes);
  if (token.size() > kMaxTokenBytes) {  // base64 grows in steps of 4 per 3 bytes: step back
    c["pad"] = json_string(std::string(--pad, 'p'));
    token = token_of(c);
  }
  ASSERT_LE(token.size(), kMaxTokenBytes);
  EXPECT_TRUE(check(token).ok()) << token.size();
  EXPECT_EQ(code(token + std::string(kMaxTokenBytes + 1 - token.size(), 'A')), kTooLarge);
  EXPECT_EQ(code(std::string(1 << 20, 'A')), kTooLarge);
}

// ---- Row 3: keys only from the local key set; kid is a bounded lookup key.

TEST_F(Jwt, Row3_EmbeddedJwkIgnored) {
  const std::string jwk = R"(,"jwk":{"kty":"OKP","crv":"Ed25519","x":")" + base64url_encode(attacker_.public_key()) +
                          R"(","kid":")" + attacker_.kid() + R"("})";
  // The attacker's key, announced in the header: under our kid, the signature fails ...
  EXPECT_EQ(code(sign_segments(header("EdDSA", "at+jwt", jwk), payload(claims()), attacker_)), kBadSignature);
  // ... under its own kid, the key is unknown.
  const std::string own_kid = R"({"alg":"EdDSA","typ":"at+jwt","kid":")" + attacker_.kid() + "\"" + jwk + "}";
  EXPECT_EQ(code(sign_segments(own_kid, payload(claims()), attacker_)), kUnknownKey);
  // And a genuine token carrying the same jwk still verifies with our key: the header is simply ignored.
  EXPECT_TRUE(check(sign_segments(header("EdDSA", "at+jwt", jwk), payload(claims()), key_)).ok());
}

TEST_F(Jwt, Row3_JkuAndX5uToLoopbackNeverFetched) {
  // A listening socket on a loopback port: if the verifier fetched keys, a
  // connection would be waiting to be accepted. The verifier has no network
  // code; this keeps it that way.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/jwks.json";
  const std::string extra = R"(,"jku":")" + url + R"(","x5u":")" + url + R"(","x5c":["MIIBIjANBgkq"])";

  const std::string own_kid = R"({"alg":"EdDSA","typ":"at+jwt","kid":")" + attacker_.kid() + "\"" + extra + "}";
  EXPECT_EQ(code(sign_segments(own_kid, payload(claims()), attacker_)), kUnknownKey);
  EXPECT_EQ(code(sign_segments(header("EdDSA", "at+jwt", extra), payload(claims()), attacker_)), kBadSignature);
  EXPECT_TRUE(check(sign_segments(header("EdDSA", "at+jwt", extra), payload(claims()), key_)).ok());

  const int accepted = ::accept(listener, nullptr, nullptr);
  const int accept_errno = errno;
  EXPECT_EQ(accepted, -1) << "the verifier connected to the jku URL";
  EXPECT_TRUE(accept_errno == EAGAIN || accept_errno == EWOULDBLOCK);
  if (accepted >= 0) ::close(accepted);
  ::close(listener);
}

TEST_F(Jwt, Row3_HostileKidsNeverReachALookup) {
  const auto with_kid = [&](std::string_view kid) {
    return R"({"alg":"EdDSA","typ":"at+jwt","kid":")" + std::string(kid) + "\"}";
  };
  for (std::string_view kid :
       {"../../dev/null", "/etc/passwd", "' OR '1'='1'; DROP TABLE users; --", "key.pem", "a b", "%2e%2e%2f"}) {
    EXPECT_EQ(code(sign_segments(with_kid(kid), payload(claims()), key_)), kUnknownKey) << kid;
    EXPECT_EQ(keys_.find(kid), nullptr);
  }
  // 10 kB: refused by size before anything is parsed.
  EXPECT_EQ(code(sign_segments(with_kid(std::string(10'000, 'k')), payload(claims()), key_)), kTooLarge);
  // Long but within the token limit, and one over the kid limit in a valid alphabet.
  EXPECT_EQ(code(sign_segments(with_kid(std::string(5'000, 'k')), payload(claims()), key_)), kUnknownKey);
  EXPECT_EQ(code(sign_segments(with_kid(std::string(kMaxKidBytes + 1, 'k')), payload(claims()), key_)), kUnknownKey);
  EXPECT_EQ(keys_.find(std::string(kMaxKidBytes + 1, 'k')), nullptr);
  EXPECT_EQ(code(sign_segments(R"({"alg":"EdDSA","typ":"at+jwt"})", payload(claims()), key_)), kUnknownKey);
  EXPECT_EQ(code(sign_segments(R"({"alg":"EdDSA","typ":"at+jwt","kid":7})", payload(claims()), key_)), kUnknownKey);
  // Our kid with a NUL appended (escaped in JSON) is another, invalid, kid.
  EXPECT_EQ(code(sign_segments(with_kid(key_.kid() + "\\u0000"), payload(claims()), key_)), kUnknownKey);
}

TEST_F(Jwt, CritRefused) {
  EXPECT_EQ(code(sign_segments(header("EdDSA", "at+jwt", R"(,"crit":["exp"],"exp":1)"), payload(claims()), key_)),
            kUnsupportedHeader);
  EXPECT_EQ(code(sign_segments(header("EdDSA", "at+jwt", R"(,"crit":[])"), payload(claims()), key_)),
            kUnsupportedHeader);
}

// ---- Row 4: exp and nbf with at most 60 s leeway; exp required; at most 15 min.

TEST_F(Jwt, Row4_ExpiredBeyondLeewayRefused) {
  auto c = claims();
  c["iat"] = c["nbf"] = str(unix(kNow) - 600);
  c["exp"] = str(unix(kNow) - 61);
  EXPECT_EQ(code(token_of(c)), kExpired);
  c["exp"] = str(unix(kNow) - 60);
  EXPECT_EQ(code(token_of(c)), kExpired);
  c["exp"] = str(unix(kNow) - 59);
  EXPECT_TRUE(check(token_of(c)).ok());
}

TEST_F(Jwt, Row4_NotYetValidRefused) {
  auto c = claims();
  c["nbf"] = str(unix(kNow) + 120);
  EXPECT_EQ(code(token_of(c)), kNotYetValid);
  c["nbf"] = str(unix(kNow) + 59);
  EXPECT_TRUE(check(token_of(c)).ok());
  c = claims();
  c["iat"] = str(unix(kNow) + 120);
  c["exp"] = str(unix(kNow) + 600);
  EXPECT_EQ(code(token_of(c)), kNotYetValid);
  c = claims();
  c.erase("nbf");  // optional: iat stands in for it
  const auto r = check(token_of(c));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->not_before, r->issued_at);
}

TEST_F(Jwt, Row4_ExpAndIatRequired) {
  auto c = claims();
  c.erase("exp");
  EXPECT_EQ(code(token_of(c)), kMissingClaim);
  c = claims();
  c.erase("iat");
  EXPECT_EQ(code(token_of(c)), kMissingClaim);
}

TEST_F(Jwt, Row4_LifetimeAbove15MinutesRefused) {
  auto c = claims();
  c["iat"] = c["nbf"] = str(unix(kNow) - 60);
  c["exp"] = str(unix(kNow) - 60 + std::int64_t{16} * 60);
  EXPECT_EQ(code(token_of(c)), kLifetimeTooLong);
  c["exp"] = str(unix(kNow) - 60 + std::int64_t{15} * 60);
  EXPECT_TRUE(check(token_of(c)).ok());
  c["iat"] = c["nbf"] = c["exp"] = str(unix(kNow));
  EXPECT_EQ(code(token_of(c)), kInvalidClaim);  // exp not after iat
  c["iat"] = c["nbf"] = str(unix(kNow) - 60);
  // A stricter configured maximum applies too.
  VerifyOptions strict = options();
  strict.max_lifetime = std::chrono::minutes(5);
  c["exp"] = str(unix(kNow) - 60 + std::int64_t{10} * 60);
  EXPECT_EQ(verify(token_of(c), keys_, strict).error().code, kLifetimeTooLong);
}

TEST_F(Jwt, Row4_ConfiguredLeewayAndLifetimeAreCapped) {
  VerifyOptions loose = options();
  loose.leeway = std::chrono::hours(1);
  loose.max_lifetime = std::chrono::hours(24);
  auto c = claims();
  c["iat"] = c["nbf"] = str(unix(kNow) - 600);
  c["exp"] = str(unix(kNow) - 61);
  EXPECT_EQ(verify(token_of(c), keys_, loose).error().code, kExpired);
  c = claims();
  c["exp"] = str(unix(kNow) - 60 + 3600);
  EXPECT_EQ(verify(token_of(c), keys_, loose).error().code, kLifetimeTooLong);
}

TEST_F(Jwt, Row4_NumericDatesAreIntegers) {
  for (std::string bad : {"1700000600.5", "1.7000006e9", "\"1700000600\"", "-1", "null", "true", "[1700000600]",
                          "253402300800", "18446744073709551615", "-9223372036854775808"}) {
    auto c = claims();
    c["exp"] = bad;
    EXPECT_EQ(code(token_of(c)), kInvalidClaim) << bad;
  }
  auto c = claims();
  c["iat"] = "-9223372036854775807";
  EXPECT_EQ(code(token_of(c)), kInvalidClaim);
}

// ---- Row 5: exact iss, aud naming this service, explicit typ.

TEST_F(Jwt, Row5_IssuerMustMatchExactly) {
  for (std::string iss : {"https://quire.test/", "https://QUIRE.test", "https://evil.test", "", "https://quire.tes"}) {
    auto c = claims();
    c["iss"] = json_string(iss);
    EXPECT_NE(code(token_of(c)), 0) << iss;
    if (!iss.empty()) {
      EXPECT_EQ(code(token_of(c)), kWrongIssuer) << iss;
    }
  }
  auto c = claims();
  c["iss"] = "[\"https://quire.test\"]";
  EXPECT_EQ(code(token_of(c)), kInvalidClaim);
  c.erase("iss");
  EXPECT_EQ(code(token_of(c)), kMissingClaim);
}

TEST_F(Jwt, Row5_AudienceMustNameThisService) {
  auto c = claims();
  c["aud"] = "\"other-api\"";
  EXPECT_EQ(code(token_of(c)), kWrongAudience);
  c["aud"] = "\"quire-api \"";
  EXPECT_EQ(code(token_of(c)), kWrongAudience);
  c["aud"] = R"(["other-api","quire-api"])";
  EXPECT_TRUE(check(token_of(c)).ok());
  c["aud"] = R"(["other-api"])";
  EXPECT_EQ(code(token_of(c)), kWrongAudience);
  c["aud"] = "[]";
  EXPECT_EQ(code(token_of(c)), kWrongAudience);
  c["aud"] = R"(["quire-api",1])";
  EXPECT_EQ(code(token_of(c)), kInvalidClaim);
  c["aud"] = "{}";
  EXPECT_EQ(code(token_of(c)), kInvalidClaim);
  c.erase("aud");
  EXPECT_EQ(code(token_of(c)), kMissingClaim);
}

TEST_F(Jwt, Row5_TypeMustBeAtJwt) {
  for (std::string_view typ : {"JWT", "AT+JWT", "application/at+jwt", "at+jwt ", ""}) {
    EXPECT_EQ(code(sign_segments(header("EdDSA", typ), payload(claims()), key_)), kWrongType) << typ;
  }
  const std::string no_typ = R"({"alg":"EdDSA","kid":")" + key_.kid() + "\"}";
  EXPECT_EQ(code(sign_segments(no_typ, payload(claims()), key_)), kWrongType);
}

TEST_F(Jwt, IdentityClaimsRequired) {
  for (const char* name : {"sub", "sid", "jti"}) {
    auto c = claims();
    c.erase(name);
    EXPECT_EQ(code(token_of(c)), kMissingClaim) << name;
    c[name] = "\"\"";
    EXPECT_EQ(code(token_of(c)), kInvalidClaim) << name;
    c[name] = "42";
    EXPECT_EQ(code(token_of(c)), kInvalidClaim) << name;
    c[name] = json_string(std::string(kMaxClaimBytes + 1, 'x'));
    EXPECT_EQ(code(token_of(c)), kInvalidClaim) << name;
  }
}

TEST_F(Jwt, Row6_RoleClaimsAreIgnored) {
  // AccessClaims has no role field: authorisation comes from the database.
  // A token carrying role or admin claims verifies to exactly the same claims.
  auto c = claims();
  c["role"] = "\"owner\"";
  c["admin"] = "true";
  c["scope"] = "\"admin\"";
  const auto plain = check(good_token());
  const auto with_roles = check(token_of(c));
  ASSERT_TRUE(plain.ok() && with_roles.ok());
  EXPECT_EQ(with_roles->subject, plain->subject);
  EXPECT_EQ(with_roles->session_id, plain->session_id);
}

// ---- JSON parsing rules.

TEST_F(Jwt, DuplicateKeysRefused) {
  EXPECT_EQ(code(token_of_payload(R"({"sub":"user-1","sub":"admin"})")), kMalformed);
  std::string payload_text = payload(claims());
  payload_text.insert(payload_text.size() - 1, R"(,"sub":"admin")");
  EXPECT_EQ(code(sign_segments(header(), payload_text, key_)), kMalformed);
  // Header: a second alg would let two parsers disagree about the algorithm.
  EXPECT_EQ(code(sign_segments(header("EdDSA", "at+jwt", R"(,"alg":"none")"), payload(claims()), key_)), kMalformed);
  // Escapes are decoded before comparing: \u0061lg is alg.
  EXPECT_EQ(code(sign_segments(header("EdDSA", "at+jwt", R"(,"\u0061lg":"none")"), payload(claims()), key_)),
            kMalformed);
  // The same key in different objects is fine.
  auto c = claims();
  c["extra"] = R"({"sub":1,"inner":{"sub":2}})";
  EXPECT_TRUE(check(token_of(c)).ok());
}

TEST_F(Jwt, JsonDepthAndShapeLimited) {
  auto c = claims();
  c["deep"] = std::string(5, '[') + std::string(5, ']');
  EXPECT_TRUE(check(token_of(c)).ok());
  c["deep"] = std::string(20, '[') + std::string(20, ']');
  EXPECT_EQ(code(token_of(c)), kMalformed);
  std::string many = "[";
  for (int i = 0; i < 40; ++i) many += (i ? ",1" : "1");
  c["deep"] = many + "]";
  EXPECT_EQ(code(token_of(c)), kMalformed);  // more than 32 array elements

  EXPECT_EQ(code(token_of_payload("[]")), kMalformed);
  EXPECT_EQ(code(token_of_payload("null")), kMalformed);
  EXPECT_EQ(code(token_of_payload("\"x\"")), kMalformed);
  EXPECT_EQ(code(token_of_payload(payload(claims()) + " x")), kMalformed);
  EXPECT_EQ(code(token_of_payload(payload(claims()) + "{}")), kMalformed);
  EXPECT_EQ(code(token_of_payload("{\"sub\":\"\xff\xfe\"}")), kMalformed);  // invalid UTF-8
  EXPECT_EQ(code(token_of_payload(R"({/*c*/"sub":"x"})")), kMalformed);     // comments
  EXPECT_EQ(code(token_of_payload(R"({"sub":"x",})")), kMalformed);         // trailing comma
  EXPECT_EQ(code(sign_segments("[]", payload(claims()), key_)), kMalformed);
  EXPECT_EQ(code(sign_segments("", payload(claims()), key_)), kMalformed);
}

// ---------------------------------------------------------------- keys

// A fresh private directory under /tmp, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "quire-auth-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, ec);
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Writes a key file in the store's format, with the mode given.
void write_file(const fs::path& path, ByteView bytes, mode_t mode = 0600) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

Bytes key_file(ByteView secret, std::int64_t created = 1'700'000'000) {
  Bytes bytes(8);
  std::copy_n("QUIREK01", 8, bytes.begin());
  for (int i = 7; i >= 0; --i)
    bytes.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(created) >> (8 * i)));
  bytes.insert(bytes.end(), secret.begin(), secret.end());
  return bytes;
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

std::vector<fs::path> key_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  return files;
}

TEST(Keys, Row7_GeneratedKeysAreDistinctAndFullSize) {
  const SigningKey a = SigningKey::generate(kNow);
  const SigningKey b = SigningKey::generate(kNow);
  EXPECT_NE(a.kid(), b.kid());
  EXPECT_EQ(a.kid().size(), 22u);  // 128 random bits
  EXPECT_TRUE(is_valid_kid(a.kid()));
  EXPECT_NE(a.public_key(), b.public_key());
  EXPECT_FALSE(sodium_is_zero(a.secret().data(), a.secret().size()));
}

TEST(Keys, Row7_FromSecretRefusesWeakOrDamagedKeys) {
  const SigningKey good = SigningKey::generate(kNow);
  const Bytes secret(good.secret().begin(), good.secret().end());
  EXPECT_TRUE(SigningKey::from_secret("k1", secret, kNow).ok());
  EXPECT_EQ(SigningKey::from_secret("k1", ByteView(secret).first(32), kNow).error().code, kBadKey);
  EXPECT_EQ(SigningKey::from_secret("k1", Bytes(64, 0), kNow).error().code, kBadKey);
  Bytes spliced = secret;  // seed of one key, public half of another
  const SigningKey other = SigningKey::generate(kNow);
  std::copy(other.secret().begin() + 32, other.secret().end(), spliced.begin() + 32);
  EXPECT_EQ(SigningKey::from_secret("k1", spliced, kNow).error().code, kBadKey);
  EXPECT_EQ(SigningKey::from_secret("../k1", secret, kNow).error().code, kBadKey);
}

TEST(Keys, KeySetRefusesBadEntries) {
  KeySet set;
  const SigningKey key = SigningKey::generate(kNow);
  EXPECT_TRUE(set.add("a", key.public_key()).ok());
  EXPECT_EQ(set.add("a", key.public_key()).error().code, kBadKey);
  EXPECT_EQ(set.add("../a", key.public_key()).error().code, kBadKey);
  EXPECT_EQ(set.add(std::string(65, 'a'), key.public_key()).error().code, kBadKey);
  EXPECT_EQ(set.add("b", PublicKey{}).error().code, kBadKey);
  EXPECT_NE(set.find("a"), nullptr);
  EXPECT_EQ(set.find("b"), nullptr);
  EXPECT_EQ(set.size(), 1u);
}

TEST(Keys, Row7_FirstStartCreatesPrivateKeyFiles) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "data" / "keys";
  auto store = KeyStore::open(dir, {}, kNow);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(mode_of(dir), 0700u);
  const auto files = key_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(mode_of(files[0]), 0600u);
  EXPECT_EQ(fs::file_size(files[0]), 80u);
  const auto snapshot = (*store)->snapshot();
  ASSERT_NE(snapshot->signing, nullptr);
  EXPECT_EQ(files[0].filename().string(), snapshot->signing->kid() + ".key");
  EXPECT_EQ(snapshot->verification.size(), 1u);

  // Reopening loads the same key; a token signed before verifies after.
  const auto token = sign(new_access_claims("i", "a", "u", "s", kNow), *snapshot->signing);
  ASSERT_TRUE(token.ok());
  auto again = KeyStore::open(dir, {}, kNow + seconds(5));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->snapshot()->signing->kid(), snapshot->signing->kid());
  EXPECT_TRUE(verify(*token, (*again)->snapshot()->verification, {"i", "a", kNow + seconds(5)}).ok());
}

TEST(Keys, Row7_RotationLogsNobodyOutDuringTheOverlap) {
  TempDir tmp;
  KeyStoreOptions options;
  options.overlap = std::chrono::hours(1);
  auto opened = KeyStore::open(tmp.path() / "keys", options, kNow);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  KeyStore& store = **opened;
  const auto before = store.snapshot();
  const auto old_token = sign(new_access_claims("i", "a", "u", "s", kNow), *before->signing);
  ASSERT_TRUE(old_token.ok());

  const UnixSeconds rotated_at = kNow + std::chrono::minutes(5);
  ASSERT_TRUE(store.rotate(rotated_at).ok());
  const auto after = store.snapshot();
  EXPECT_NE(after->signing->kid(), before->signing->kid());
  EXPECT_EQ(after->verification.size(), 2u);
  EXPECT_EQ(before->verification.size(), 1u);  // snapshots are immutable
  // The token signed just before the rotation is still good until it expires.
  const VerifyOptions at{"i", "a", rotated_at + std::chrono::minutes(5)};
  EXPECT_TRUE(verify(*old_token, after->verification, at).ok());
  const auto new_token = sign(new_access_claims("i", "a", "u", "s", rotated_at), *after->signing);
  EXPECT_TRUE(verify(*new_token, after->verification, at).ok());
  EXPECT_EQ(verify(*new_token, before->verification, at).error().code, kUnknownKey);

  // After a restart the newest key still signs and both still verify.
  auto reopened = KeyStore::open(tmp.path() / "keys", options, rotated_at + seconds(1));
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ((*reopened)->snapshot()->signing->kid(), after->signing->kid());
  EXPECT_EQ((*reopened)->snapshot()->verification.size(), 2u);

  // One second before the overlap ends the old key stays; at the end it is dropped, file and all.
  ASSERT_TRUE(store.prune(rotated_at + options.overlap - seconds(1)).ok());
  EXPECT_EQ(store.snapshot()->verification.size(), 2u);
  ASSERT_TRUE(store.prune(rotated_at + options.overlap).ok());
  EXPECT_EQ(store.snapshot()->verification.size(), 1u);
  EXPECT_EQ(store.snapshot()->signing->kid(), after->signing->kid());
  EXPECT_EQ(key_files(tmp.path() / "keys").size(), 1u);
  EXPECT_FALSE(fs::exists(tmp.path() / "keys" / (before->signing->kid() + ".key")));
}

TEST(Keys, ExpiredKeysDroppedAtStartUp) {
  TempDir tmp;
  KeyStoreOptions options;
  options.overlap = std::chrono::hours(1);
  auto store = KeyStore::open(tmp.path() / "keys", options, kNow);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->rotate(kNow + seconds(10)).ok());
  ASSERT_TRUE((*store)->rotate(kNow + seconds(20)).ok());
  EXPECT_EQ(key_files(tmp.path() / "keys").size(), 3u);
  auto later = KeyStore::open(tmp.path() / "keys", options, kNow + std::chrono::hours(2));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ((*later)->snapshot()->verification.size(), 1u);
  EXPECT_EQ(key_files(tmp.path() / "keys").size(), 1u);
}

TEST(Keys, RotationWithinOneSecondStillMakesTheNewKeyActive) {
  TempDir tmp;
  auto store = KeyStore::open(tmp.path() / "keys", {}, kNow);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*store)->rotate(kNow).ok());
    const auto snapshot = (*store)->snapshot();
    EXPECT_EQ(snapshot->signing->created_at(), kNow + seconds(i + 1));
  }
  const std::string active = (*store)->snapshot()->signing->kid();
  auto reopened = KeyStore::open(tmp.path() / "keys", {}, kNow);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->snapshot()->signing->kid(), active);
}

TEST(Keys, OverlapShorterThanATokenRefused) {
  TempDir tmp;
  KeyStoreOptions options;
  options.overlap = std::chrono::minutes(15);
  EXPECT_EQ(KeyStore::open(tmp.path() / "keys", options, kNow).error().code, kBadOptions);
}

class KeyFiles : public ::testing::Test {
 protected:
  KeyFiles() : dir_(tmp_.path() / "keys") {
    EXPECT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    const SigningKey key = SigningKey::generate(kNow);
    secret_.assign(key.secret().begin(), key.secret().end());
  }
  Error open_error() {
    auto store = KeyStore::open(dir_, {}, kNow);
    EXPECT_FALSE(store.ok());
    return store.ok() ? Error{} : store.error();
  }

  TempDir tmp_;
  fs::path dir_;
  Bytes secret_;
};

TEST_F(KeyFiles, Row7_ShortKeyFileRefusedAtStartUp) {
  const Bytes file = key_file(secret_);
  write_file(dir_ / "short.key", ByteView(file).first(40));
  const Error error = open_error();
  EXPECT_EQ(error.code, kBadKey);
  EXPECT_NE(error.message.find("short.key"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("40 bytes"), std::string::npos) << error.message;
}

TEST_F(KeyFiles, Row7_LongKeyFileRefused) {
  Bytes file = key_file(secret_);
  file.push_back(0);
  write_file(dir_ / "long.key", file);
  EXPECT_EQ(open_error().code, kBadKey);
}

TEST_F(KeyFiles, Row7_GroupOrWorldReadableKeyFileRefused) {
  for (mode_t mode : {0640, 0604, 0620, 0660}) {
    write_file(dir_ / "k.key", key_file(secret_), mode);
    const Error error = open_error();
    EXPECT_EQ(error.code, kKeyStoreIo) << std::oct << mode;
    EXPECT_NE(error.message.find("group or others"), std::string::npos) << error.message;
  }
  write_file(dir_ / "k.key", key_file(secret_), 0600);
  EXPECT_TRUE(KeyStore::open(dir_, {}, kNow).ok());
  write_file(dir_ / "k.key", key_file(secret_), 0400);
  EXPECT_TRUE(KeyStore::open(dir_, {}, kNow).ok());
}

TEST_F(KeyFiles, Row7_OpenKeyDirectoryRefused) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  const Error error = open_error();
  EXPECT_EQ(error.code, kKeyStoreIo);
  EXPECT_NE(error.message.find("chmod 700"), std::string::npos) << error.message;
}

TEST_F(KeyFiles, Row7_AllZeroKeyRefused) {
  write_file(dir_ / "zero.key", key_file(Bytes(64, 0)));
  EXPECT_EQ(open_error().code, kBadKey);
}

TEST_F(KeyFiles, Row7_MismatchedPublicHalfRefused) {
  Bytes spliced = secret_;
  spliced[40] ^= 0x01;
  write_file(dir_ / "spliced.key", key_file(spliced));
  const Error error = open_error();
  EXPECT_EQ(error.code, kBadKey);
  EXPECT_NE(error.message.find("does not match"), std::string::npos) << error.message;
}

TEST_F(KeyFiles, BadMagicRefused) {
  Bytes file = key_file(secret_);
  file[0] = 'X';
  write_file(dir_ / "magic.key", file);
  EXPECT_EQ(open_error().code, kBadKey);
}

TEST_F(KeyFiles, SymlinkedKeyFileRefused) {
  write_file(tmp_.path() / "elsewhere", key_file(secret_));
  fs::create_symlink(tmp_.path() / "elsewhere", dir_ / "link.key");
  EXPECT_EQ(open_error().code, kKeyStoreIo);
}

TEST_F(KeyFiles, ValidFileLoadsWithItsKidAndTime) {
  write_file(dir_ / "my-kid_1.key", key_file(secret_, 1'600'000'000));
  write_file(dir_ / "leftover.key.tmp", Bytes(3, 1));  // from an interrupted write: removed
  write_file(dir_ / "README", Bytes(3, 1));            // unrelated: ignored
  auto store = KeyStore::open(dir_, {}, kNow);
  ASSERT_TRUE(store.ok()) << store.error().message;
  const auto snapshot = (*store)->snapshot();
  EXPECT_EQ(snapshot->signing->kid(), "my-kid_1");
  EXPECT_EQ(snapshot->signing->created_at(), UnixSeconds{seconds(1'600'000'000)});
  EXPECT_FALSE(fs::exists(dir_ / "leftover.key.tmp"));
  EXPECT_TRUE(fs::exists(dir_ / "README"));
}

}  // namespace
}  // namespace quire::auth
