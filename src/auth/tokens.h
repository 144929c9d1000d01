// Opaque secrets: refresh tokens and random identifiers, and how they are
// stored (only as SHA-256 hashes) and compared (in constant time).
// Thread-safety: free functions, callable from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace quire::auth {

// Bytes of entropy in a refresh token: 256 bits (SECURITY row 10 asks >= 128).
inline constexpr std::size_t kTokenBytes = 32;
// Length of random_token()'s text: base64url of kTokenBytes without padding.
inline constexpr std::size_t kTokenChars = 43;

// A new refresh token: kTokenBytes from libsodium's CSPRNG, base64url.
std::string random_token();

// `bytes` random bytes as base64url: key ids and JWT ids.
std::string random_id(std::size_t bytes);

// True if `text` has the exact shape random_token() produces. Lets a route
// refuse junk cookies before hashing or touching the database.
bool is_token(std::string_view text);

// SHA-256 of the token as 64 lower-case hex digits: what the database stores.
// A leaked table then grants nothing, and a fast hash is enough because the
// token has 256 bits of entropy (no dictionary to attack, unlike passwords).
std::string hash_token(std::string_view token);

// Equality whose running time depends only on the lengths, not on where the
// inputs differ. Lengths are not secret here (tokens and hashes are fixed-size).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace quire::auth
