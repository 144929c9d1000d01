// argon2id password hashes through libsodium's crypto_pwhash_str_* API.
#include "auth/password.h"

#include <sodium.h>

#include <array>
#include <charconv>

#include "auth/crypto.h"
#include "auth/error.h"

namespace quire::auth {

namespace {

constexpr std::string_view kPrefix = crypto_pwhash_argon2id_STRPREFIX;
// The most a stored hash may ask of us: libsodium's SENSITIVE memory (1 GiB)
// and a generous pass count; anything above was not written by this server.
constexpr unsigned long long kMaxStoredMemoryKiB = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE / 1024;
constexpr unsigned long long kMaxStoredPasses = 16;

// Reads `name=NUMBER` at the front of `text` and advances past it.
bool read_parameter(std::string_view& text, std::string_view name, unsigned long long& value) {
  if (text.substr(0, name.size()) != name) return false;
  text.remove_prefix(name.size());
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{}) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return true;
}

// Checks `stored` is "$argon2id$v=19$m=M,t=T,p=1$..." within our limits and
// copies it NUL-terminated into `out` for libsodium, which reads a C string.
Status parse_stored(std::string_view stored, std::array<char, crypto_pwhash_STRBYTES>& out) {
  if (stored.size() >= out.size() || stored.find('\0') != std::string_view::npos ||
      stored.substr(0, kPrefix.size()) != kPrefix) {
    return auth_error(kBadHash, "stored password hash is not an argon2id string");
  }
  std::string_view rest = stored.substr(kPrefix.size());
  unsigned long long version = 0, memory = 0, passes = 0, lanes = 0;
  if (!read_parameter(rest, "v=", version) || !read_parameter(rest, "$m=", memory) ||
      !read_parameter(rest, ",t=", passes) || !read_parameter(rest, ",p=", lanes) || rest.empty() ||
      rest.front() != '$') {
    return auth_error(kBadHash, "stored password hash has unreadable parameters");
  }
  if (version != 19 || lanes != 1 || memory > kMaxStoredMemoryKiB || passes > kMaxStoredPasses) {
    return auth_error(kBadHash, "stored password hash has parameters outside the accepted limits");
  }
  out.fill('\0');
  stored.copy(out.data(), stored.size());
  return {};
}

}  // namespace

static_assert(PasswordParams{}.ops_limit == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
static_assert(PasswordParams{}.memory_bytes == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);

PasswordParams PasswordParams::minimum() {
  PasswordParams params;
  params.ops_limit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
  params.memory_bytes = crypto_pwhash_argon2id_MEMLIMIT_MIN;
  return params;
}

Status check_password(std::string_view password) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return auth_error(kInvalidPassword, "a password has " + std::to_string(kMinPasswordBytes) + " to " +
                                            std::to_string(kMaxPasswordBytes) + " bytes");
  }
  // NUL would be the first thing a C string API truncates at; refuse it outright.
  if (password.find('\0') != std::string_view::npos) {
    return auth_error(kInvalidPassword, "a password may not contain NUL");
  }
  return {};
}

Result<std::string> hash_password(std::string_view password, const PasswordParams& params) {
  require_crypto();
  if (Status s = check_password(password); !s) return s.error();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), params.ops_limit, params.memory_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return auth_error(kHashFailed, "argon2id hashing failed (out of memory or parameters out of range)");
  }
  return std::string(out.data());
}

Result<bool> verify_password(std::string_view password, std::string_view stored) {
  require_crypto();
  std::array<char, crypto_pwhash_STRBYTES> hash{};
  if (Status s = parse_stored(stored, hash); !s) return s.error();
  if (!check_password(password)) return false;
  // The argon2id-specific verifier: a "$argon2i$" string never gets this far.
  return crypto_pwhash_argon2id_str_verify(hash.data(), password.data(), password.size()) == 0;
}

bool needs_rehash(std::string_view stored, const PasswordParams& params) {
  require_crypto();
  std::array<char, crypto_pwhash_STRBYTES> hash{};
  if (!parse_stored(stored, hash)) return true;
  return crypto_pwhash_argon2id_str_needs_rehash(hash.data(), params.ops_limit, params.memory_bytes) != 0;
}

}  // namespace quire::auth
