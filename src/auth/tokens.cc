// Refresh tokens and random ids from libsodium's CSPRNG; SHA-256 for storage.
#include "auth/tokens.h"

#include <sodium.h>

#include <array>

#include "auth/crypto.h"
#include "base/bytes.h"

namespace quire::auth {

std::string random_id(std::size_t bytes) {
  require_crypto();
  Bytes buffer(bytes);
  randombytes_buf(buffer.data(), buffer.size());
  std::string text = base64url_encode(buffer);
  sodium_memzero(buffer.data(), buffer.size());
  return text;
}

std::string random_token() {
  return random_id(kTokenBytes);
}

bool is_token(std::string_view text) {
  Bytes decoded;
  return text.size() == kTokenChars && base64url_decode(text, kTokenBytes, decoded) && decoded.size() == kTokenBytes;
}

std::string hash_token(std::string_view token) {
  require_crypto();
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return to_hex(digest);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  require_crypto();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace quire::auth
