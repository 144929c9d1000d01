// libsodium initialisation, once per process, and the base64url encoding every
// auth file shares (JWT segments, key ids, refresh tokens).
// Thread-safety: every function may be called from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace quire::auth {

// Initialises libsodium (its CSPRNG and CPU dispatch). Call once at start-up to
// turn a broken environment into a clear error; calling it again is free.
Status init_crypto();

// Every auth entry point calls this before touching libsodium. It runs
// init_crypto() once (thread-safe) and aborts if libsodium cannot start: without
// a CSPRNG there is no safe way to continue, and app reports that case cleanly
// at start-up through init_crypto().
void require_crypto();

// base64url without padding (RFC 4648 §5), as JWT (RFC 7515) requires.
std::string base64url_encode(ByteView bytes);

// Strict decoding: only [A-Za-z0-9_-], no padding, no whitespace, no
// non-canonical trailing bits (libsodium checks all three), and at most
// `max_bytes` of output. False on anything else.
[[nodiscard]] bool base64url_decode(std::string_view text, std::size_t max_bytes, Bytes& out);

}  // namespace quire::auth
