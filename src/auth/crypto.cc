// libsodium start-up and base64url helpers.
#include "auth/crypto.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "auth/error.h"

namespace quire::auth {

namespace {

// sodium_init() is itself thread-safe, but a magic static makes "once" explicit
// and keeps the check off the hot path.
int sodium_status() {
  static const int status = sodium_init();
  return status;
}

}  // namespace

Status init_crypto() {
  if (sodium_status() < 0) return auth_error(kHashFailed, "libsodium failed to initialise (no CSPRNG?)");
  return {};
}

void require_crypto() {
  if (sodium_status() < 0) {
    std::fputs("quire: libsodium failed to initialise; refusing to continue without a CSPRNG\n", stderr);
    std::abort();
  }
}

std::string base64url_encode(ByteView bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.pop_back();  // sodium writes a terminating NUL, counted in ENCODED_LEN
  return out;
}

bool base64url_decode(std::string_view text, std::size_t max_bytes, Bytes& out) {
  require_crypto();
  // A longer text cannot decode to at most max_bytes; refuse it before sizing a buffer.
  if (text.size() > (max_bytes * 4 + 2) / 3) return false;
  out.resize(text.size() * 3 / 4 + 1);
  std::size_t length = 0;
  // ignore = nullptr and b64_end = nullptr: any character outside the alphabet,
  // or trailing input, fails the whole decode.
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    out.clear();
    return false;
  }
  out.resize(length);
  return length <= max_bytes;
}

}  // namespace quire::auth
