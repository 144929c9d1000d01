// Password hashing with argon2id (libsodium), in the PHC string format
// ("$argon2id$v=19$m=...,t=...,p=1$salt$hash") that stores its own salt and
// parameters, so the parameters can be raised later and old hashes upgraded
// at the next login (needs_rehash).
// Thread-safety: free functions, callable from any thread; each hash takes
// PasswordParams::memory_bytes of memory and tens of milliseconds, so callers
// must run them off the I/O threads and bound how many run at once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace quire::auth {

// Accepted password lengths in bytes. The upper bound keeps anyone from making
// the server hash megabytes; the lower one is NIST SP 800-63B's minimum.
inline constexpr std::size_t kMinPasswordBytes = 8;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

struct PasswordParams {
  // libsodium's INTERACTIVE limits (2 passes over 64 MiB) by default;
  // password.cc asserts they still match libsodium's constants.
  unsigned long long ops_limit = 2;
  std::size_t memory_bytes = std::size_t{64} * 1024 * 1024;

  // libsodium's minimum (1 pass, 8 KiB): only for tests, never for real hashes.
  static PasswordParams minimum();
};

// Checks the length bounds and refuses NUL; kInvalidPassword if not met.
Status check_password(std::string_view password);

// A new argon2id hash of `password` with a fresh random salt.
// kInvalidPassword (see check_password), kHashFailed if out of memory.
Result<std::string> hash_password(std::string_view password, const PasswordParams& params = {});

// True if `password` matches `stored`. libsodium recomputes the hash and
// compares in constant time. A password outside the bounds is false without
// hashing (no hash was ever made of one). kBadHash if `stored` is not an
// argon2id hash or asks for more than the sensitive limits (1 GiB, 16 passes):
// a corrupt or planted row must not make one login cost minutes.
Result<bool> verify_password(std::string_view password, std::string_view stored);

// True if `stored` was made with parameters other than `params` (or is not an
// argon2id hash at all): re-hash the password after the next successful login.
bool needs_rehash(std::string_view stored, const PasswordParams& params = {});

}  // namespace quire::auth
